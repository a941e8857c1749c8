// Package keys validates the public signing keys users hand to trustdeck (a
// signer's certificate or public key) the way `docker trust signer add` does,
// and turns them into the TUF keys that go into delegations.
package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// Key types, as Public.Type reports them.
const (
	TypeCertificate = "x509 certificate"
	TypePublicKey   = "public key"
)

const (
	// MaxPEMSize is the largest key file read, docker's own limit.
	MaxPEMSize = 1 << 20
	// MinRSABits is notary's minimum RSA modulus: shorter keys' signatures
	// never verify.
	MinRSABits = 2048
	// notBeforeLeeway is how far in the future a certificate may start and
	// still be accepted (notary gives one day for clock skew).
	notBeforeLeeway = 24 * time.Hour
)

// Public is a validated public signing key.
type Public struct {
	// Key is the TUF key to list in a delegation: ecdsa-x509/rsa-x509 for a
	// certificate (the certificate's PEM, as notary's utils.CertToKey makes
	// it), ecdsa/rsa for a bare public key (its PKIX DER). Its ID() is
	// already computed, so it may be shared between goroutines.
	Key data.PublicKey
	// CanonicalID is the ID docker shows (`docker trust inspect`): for a
	// certificate, the ID of its bare public key.
	CanonicalID string
	Type        string // TypeCertificate or TypePublicKey
	Algorithm   string // e.g. "ECDSA P-256", "RSA 4096"
	Subject     string // certificate subject common name; "" for a bare key
	NotBefore   time.Time
	NotAfter    time.Time // zero for a bare public key
	PEM         []byte    // one PEM block, no headers
}

// ParsePublic validates a signer key file as `docker trust signer add`
// accepts it, at time now: exactly one PEM block, either a CERTIFICATE (not
// expired, not starting more than a day after now, not SHA-1 signed, RSA of at
// least 2048 bits or ECDSA) or a PUBLIC KEY (ECDSA or RSA). Each refusal is an
// errs.Invalid with a message fit for the user.
//
// Two refusals are stricter than docker, which would accept the key and then
// never verify a signature made with it or offer little security: RSA public
// keys under 2048 bits (notary's verifiers reject them) and ECDSA on P-224.
// Ed25519 keys are refused as docker refuses them.
func ParsePublic(pemBytes []byte, now time.Time) (*Public, error) {
	if len(bytes.TrimSpace(pemBytes)) == 0 {
		return nil, errs.Invalidf("empty_key", "The key file is empty: upload the signer's certificate (cert.pem) or public key (PEM).")
	}
	if len(pemBytes) > MaxPEMSize {
		return nil, &errs.Error{Kind: errs.TooLarge, Code: "key_too_large",
			Message: fmt.Sprintf("The key file is larger than %d bytes: a certificate or public key is a few kilobytes.", MaxPEMSize)}
	}
	var blocks []*pem.Block
	for rest := pemBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	for _, b := range blocks {
		if strings.Contains(b.Type, "PRIVATE KEY") {
			return nil, errs.Invalidf("private_key",
				"This is a private key; upload the public key or certificate (cert.pem), never the private key.")
		}
	}
	switch {
	case len(blocks) == 0:
		return nil, errs.Invalidf("not_pem",
			"The file is not a PEM key file: upload a certificate (-----BEGIN CERTIFICATE-----) or public key (-----BEGIN PUBLIC KEY-----).")
	case len(blocks) > 1:
		return nil, errs.Invalidf("several_pem_blocks",
			"The file holds %d PEM blocks: upload exactly one certificate or public key.", len(blocks))
	}
	b := blocks[0]
	switch b.Type {
	case "CERTIFICATE":
		return parseCertificate(b.Bytes, now)
	case "PUBLIC KEY":
		return parsePublicKey(b.Bytes)
	default:
		return nil, errs.Invalidf("unsupported_pem_type",
			"Unsupported PEM block %q: upload a CERTIFICATE or a PUBLIC KEY.", b.Type)
	}
}

func parseCertificate(der []byte, now time.Time) (*Public, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, &errs.Error{Kind: errs.Invalid, Code: "bad_certificate",
			Message: "The certificate cannot be parsed: it is damaged or not an X.509 certificate.", Err: err}
	}
	cn := cert.Subject.CommonName
	alg, err := checkAlgorithm(cert.PublicKey, true)
	if err != nil {
		return nil, err
	}
	if cert.NotBefore.After(cert.NotAfter) {
		return nil, errs.Invalidf("invalid_validity",
			"The certificate for %q is never valid: it starts (%s) after it ends (%s).", cn, day(cert.NotBefore), day(cert.NotAfter))
	}
	switch cert.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		return nil, errs.Invalidf("sha1_signature",
			"The certificate for %q is signed with SHA-1 (%s), which notary refuses: issue it again with SHA-256.", cn, cert.SignatureAlgorithm)
	}
	if now.After(cert.NotAfter) {
		return nil, errs.Invalidf("certificate_expired",
			"The certificate for %q expired on %s: upload a current certificate.", cn, day(cert.NotAfter))
	}
	if cert.NotBefore.After(now.Add(notBeforeLeeway)) {
		return nil, errs.Invalidf("certificate_not_yet_valid",
			"The certificate for %q is not valid before %s: upload a certificate that is valid now.", cn, day(cert.NotBefore))
	}
	key := utils.CertToKey(cert) // ecdsa-x509 or rsa-x509: checkAlgorithm allowed only those
	id, err := utils.CanonicalKeyID(key)
	if err != nil {
		return nil, fmt.Errorf("canonical ID of certificate key: %w", err)
	}
	key.ID()
	return &Public{
		Key:         key,
		CanonicalID: id,
		Type:        TypeCertificate,
		Algorithm:   alg,
		Subject:     cn,
		NotBefore:   cert.NotBefore,
		NotAfter:    cert.NotAfter,
		PEM:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
	}, nil
}

func parsePublicKey(der []byte) (*Public, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, &errs.Error{Kind: errs.Invalid, Code: "bad_public_key",
			Message: "The public key cannot be parsed: it is damaged or of an unknown type.", Err: err}
	}
	alg, err := checkAlgorithm(pub, false)
	if err != nil {
		return nil, err
	}
	var key data.PublicKey
	switch pub.(type) {
	case *ecdsa.PublicKey:
		key = data.NewECDSAPublicKey(der)
	case *rsa.PublicKey:
		key = data.NewRSAPublicKey(der)
	}
	id, err := utils.CanonicalKeyID(key)
	if err != nil {
		return nil, fmt.Errorf("canonical ID of public key: %w", err)
	}
	return &Public{
		Key:         key,
		CanonicalID: id,
		Type:        TypePublicKey,
		Algorithm:   alg,
		PEM:         pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
	}, nil
}

// checkAlgorithm accepts ECDSA on P-256, P-384 or P-521 and RSA of at least
// MinRSABits, and describes the key.
func checkAlgorithm(pub any, inCert bool) (string, error) {
	what := "public key"
	if inCert {
		what = "certificate's key"
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		alg := Describe(k)
		switch k.Curve.Params().Name {
		case "P-256", "P-384", "P-521":
			return alg, nil
		}
		return "", errs.Invalidf("unsupported_algorithm",
			"The %s uses %s, which is too weak: use ECDSA P-256 (what `docker trust key generate` makes), P-384 or P-521.", what, alg)
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return "", errs.Invalidf("rsa_too_short",
				"The %s is RSA with %d bits; notary needs at least %d bits.", what, k.N.BitLen(), MinRSABits)
		}
		return Describe(k), nil
	case ed25519.PublicKey:
		return "", errs.Invalidf("unsupported_algorithm",
			"The %s is Ed25519, which `docker trust signer add` does not accept: use an ECDSA P-256 key (`docker trust key generate`) or RSA.", what)
	default:
		return "", errs.Invalidf("unsupported_algorithm",
			"The %s uses an unsupported algorithm (%s): use ECDSA P-256 (`docker trust key generate`) or RSA of at least %d bits.",
			what, Describe(pub), MinRSABits)
	}
}

// Describe names a public key's algorithm and size for people: "ECDSA P-256",
// "RSA 4096", "Ed25519".
func Describe(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}

// DescribeTUF names the algorithm of a TUF key for people, like Describe;
// keys it cannot parse are named by their TUF algorithm.
func DescribeTUF(k data.PublicKey) string {
	switch k.Algorithm() {
	case data.ECDSAKey, data.RSAKey:
		if pub, err := x509.ParsePKIXPublicKey(k.Public()); err == nil {
			return Describe(pub)
		}
	case data.ECDSAx509Key, data.RSAx509Key:
		if c, err := utils.LoadCertFromPEM(k.Public()); err == nil {
			return Describe(c.PublicKey)
		}
	case data.ED25519Key:
		return "Ed25519"
	}
	return k.Algorithm()
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }
