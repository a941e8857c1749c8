package resign

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// Verification policy exports: what a namespace's consumers need to verify
// its images with the CLIs and with Kyverno, without trustdeck.

// PublicKeysPEM encodes public keys as PEM "PUBLIC KEY" blocks (PKIX), as
// cosign.pub holds them.
func PublicKeysPEM(pubs ...crypto.PublicKey) ([]byte, error) {
	var b strings.Builder
	for _, p := range pubs {
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("resign: public key: %w", err)
		}
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	return []byte(b.String()), nil
}

// CertificatesPEM encodes certificates as PEM blocks: a Notation trust
// store file (`notation cert add --type ca --store <name> <file>`).
func CertificatesPEM(certs ...*x509.Certificate) []byte {
	var b strings.Builder
	for _, c := range certs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return []byte(b.String())
}

// PolicyScope is what a namespace's verification policies cover.
type PolicyScope struct {
	Registry     string   // registry host[:port]
	Namespace    string   // trustdeck namespace
	Repositories []string // repository names within the namespace
	// Identities are the Notation signing certificates' subjects the
	// policy pins (x509.subject); none: any certificate from the trust
	// store ("*").
	Identities []string
}

// TrustStoreName is the Notation trust store the exports name:
// trustdeck-<namespace>.
func (s PolicyScope) TrustStoreName() string { return "trustdeck-" + s.Namespace }

// PolicyName names the trust policy statement and the Kyverno policy.
func (s PolicyScope) PolicyName() string { return "trustdeck-" + s.Namespace }

var (
	nsRE   = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	repoRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	hostRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$`)
)

func (s PolicyScope) check() error {
	if !hostRE.MatchString(s.Registry) {
		return fmt.Errorf("resign: registry %q is not a host[:port]", s.Registry)
	}
	if !nsRE.MatchString(s.Namespace) {
		return fmt.Errorf("resign: namespace %q is not a namespace name", s.Namespace)
	}
	if len(s.Repositories) == 0 {
		return errs.Conflictf("no_repositories",
			"Namespace %s has no repositories yet: a policy scoped to its repositories would cover nothing.", s.Namespace)
	}
	for _, r := range s.Repositories {
		if !repoRE.MatchString(r) {
			return fmt.Errorf("resign: repository %q is not a repository name", r)
		}
	}
	return nil
}

// scopes are the repositories as registry scopes: <registry>/<ns>/<name>,
// sorted and without duplicates.
func (s PolicyScope) scopes() []string {
	out := make([]string, 0, len(s.Repositories))
	for _, r := range s.Repositories {
		out = append(out, s.Registry+"/"+s.Namespace+"/"+r)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// NotationTrustPolicy is a trustpolicy.json (Notation trust policy version
// 1.0) with one statement for the namespace's repositories: strict
// verification, the namespace's CA store, its signing identities.
func NotationTrustPolicy(s PolicyScope) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ids := []string{"*"}
	if len(s.Identities) > 0 {
		ids = nil
		for _, id := range s.Identities {
			ids = append(ids, "x509.subject: "+id)
		}
	}
	type verification struct {
		Level string `json:"level"`
	}
	type statement struct {
		Name                  string       `json:"name"`
		RegistryScopes        []string     `json:"registryScopes"`
		SignatureVerification verification `json:"signatureVerification"`
		TrustStores           []string     `json:"trustStores"`
		TrustedIdentities     []string     `json:"trustedIdentities"`
	}
	doc := struct {
		Version       string      `json:"version"`
		TrustPolicies []statement `json:"trustPolicies"`
	}{
		Version: "1.0",
		TrustPolicies: []statement{{
			Name:                  s.PolicyName(),
			RegistryScopes:        s.scopes(),
			SignatureVerification: verification{Level: "strict"},
			TrustStores:           []string{"ca:" + s.TrustStoreName()},
			TrustedIdentities:     ids,
		}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// KyvernoPolicy is a Kyverno ClusterPolicy that admits Pods using the
// namespace's images only when both a cosign signature by one of cosignPEM's
// keys (offline: no transparency log, no SCT) and a Notation signature
// chaining to caPEM verify.
func KyvernoPolicy(s PolicyScope, cosignPEM, caPEM []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if len(cosignPEM) == 0 || len(caPEM) == 0 {
		return nil, errs.Conflictf("no_keys",
			"Namespace %s needs both a cosign key and a Notation CA before a policy can require both.", s.Namespace)
	}
	var refs strings.Builder
	for _, sc := range s.scopes() {
		fmt.Fprintf(&refs, "            - %q\n            - %q\n", sc+":*", sc+"@*")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Kyverno ClusterPolicy written by trustdeck for namespace %[1]s:
# Pods may run images of its repositories only when they carry a cosign
# signature by the namespace's key and a Notation signature chaining to its CA.
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: %[2]s
  annotations:
    policies.kyverno.io/title: "Signed images of %[1]s (cosign and Notation)"
spec:
  validationFailureAction: Enforce
  background: false
  webhookTimeoutSeconds: 30
  rules:
    - name: cosign
      match:
        any:
          - resources:
              kinds:
                - Pod
      verifyImages:
        - imageReferences:
%[3]s          mutateDigest: true
          verifyDigest: true
          required: true
          attestors:
            - count: 1
              entries:
                - keys:
                    publicKeys: |-
%[4]s                    rekor:
                      ignoreTlog: true
                    ctlog:
                      ignoreSCT: true
    - name: notation
      match:
        any:
          - resources:
              kinds:
                - Pod
      verifyImages:
        - type: Notary
          imageReferences:
%[3]s          mutateDigest: true
          verifyDigest: true
          required: true
          attestors:
            - count: 1
              entries:
                - certificates:
                    cert: |-
%[5]s`, s.Namespace, s.PolicyName(), refs.String(), indent(cosignPEM, 22), indent(caPEM, 22))
	return []byte(b.String()), nil
}

// indent indents every non-empty line of a PEM text by n spaces.
func indent(text []byte, n int) string {
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(string(text), "\n"), "\n") {
		b.WriteString(pad + line + "\n")
	}
	return b.String()
}
