package migration

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/vault"
)

// Export names: the files of a namespace's verification policy.
const (
	ExportCosignPub   = "cosign.pub"
	ExportTrustStore  = "notation-truststore.pem"
	ExportTrustPolicy = "trustpolicy.json"
	ExportKyverno     = "kyverno.yaml"
)

// Exports lists the export names.
var Exports = []string{ExportCosignPub, ExportTrustStore, ExportTrustPolicy, ExportKyverno}

// Export returns one file of a namespace's verification policy: public
// material only (the cosign public key, the Notation CA certificates, a
// trustpolicy.json scoped to the namespace's repositories and pinning its
// signing certificate, a Kyverno ClusterPolicy requiring both formats).
// errs.NotFound for an unknown name or a namespace without the keys the
// file needs; errs.Conflict for a policy of a namespace without
// repositories.
func (s *Service) Export(ctx context.Context, namespace, file string) ([]byte, error) {
	v, err := s.cfg.Keys.Verification(ctx, namespace)
	if err != nil {
		return nil, err
	}
	noKey := func(format string) error {
		return errs.NotFoundf("no_signing_key", "Namespace %s has no %s key yet: generate one first.", namespace, format)
	}
	cosignPEM, err := resign.PublicKeysPEM(v.CosignKeys...)
	if err != nil {
		return nil, err
	}
	caPEM := resign.CertificatesPEM(v.NotationCAs...)
	switch file {
	case ExportCosignPub:
		if len(v.CosignKeys) == 0 {
			return nil, noKey(resign.FormatCosign)
		}
		return cosignPEM, nil
	case ExportTrustStore:
		if len(v.NotationCAs) == 0 {
			return nil, noKey(resign.FormatNotation)
		}
		return caPEM, nil
	case ExportTrustPolicy, ExportKyverno:
		scope, err := s.policyScope(ctx, namespace, v)
		if err != nil {
			return nil, err
		}
		if file == ExportTrustPolicy {
			if len(v.NotationCAs) == 0 {
				return nil, noKey(resign.FormatNotation)
			}
			return resign.NotationTrustPolicy(scope)
		}
		return resign.KyvernoPolicy(scope, cosignPEM, caPEM)
	}
	return nil, errs.NotFoundf("no_such_export", "There is no export %q: there are %v.", file, Exports)
}

// TrustStoreName is the Notation trust store the exports name for a
// namespace (`notation cert add --type ca --store <it> notation-truststore.pem`).
func TrustStoreName(namespace string) string {
	return resign.PolicyScope{Namespace: namespace}.TrustStoreName()
}

// policyScope is what a namespace's policies cover: its repositories in the
// registry, its Notation signing certificates' subjects.
func (s *Service) policyScope(ctx context.Context, namespace string, v *vault.Verification) (resign.PolicyScope, error) {
	repos, err := s.cfg.Catalog.Visible(ctx, []string{namespace})
	if err != nil {
		return resign.PolicyScope{}, err
	}
	scope := resign.PolicyScope{Registry: s.imageHost(), Namespace: namespace}
	for _, r := range repos {
		scope.Repositories = append(scope.Repositories, r.Name)
	}
	for _, leaf := range v.NotationLeaf {
		scope.Identities = append(scope.Identities, leaf.Subject.String())
	}
	return scope, nil
}

// imageHost is the registry host of image names (and of the signatures'
// references): the catalog's registry host.
func (s *Service) imageHost() string { return s.cfg.Catalog.RegistryHost() }

// hostRewrite sends requests for the image host to the registry's address
// (--registry-url) when they differ: signatures name images as people pull
// them, trustdeck reaches the registry where it is told to.
type hostRewrite struct {
	from, to string
	rt       http.RoundTripper
}

func (h hostRewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != h.from {
		return h.rt.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.URL.Host, r.Host = h.to, h.to
	return h.rt.RoundTrip(r)
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
