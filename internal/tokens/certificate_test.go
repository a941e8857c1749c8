package tokens

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	dcontext "github.com/docker/distribution/context"
	"github.com/docker/distribution/registry/auth"
	_ "github.com/docker/distribution/registry/auth/token" // registers the "token" access controller
)

func parseCertPEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("not one PEM certificate:\n%s", b)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestNewCertificateCertifiesTheKey(t *testing.T) {
	key := newKey(t, elliptic.P256())
	iss := NewIssuer(key, testIssuer, testService, 0)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	der, err := NewCertificate(key, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("the certificate's public key is not the signing key's")
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("not self-signed by the key: %v", err)
	}
	if cert.IsCA || cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("IsCA %v, key usage %v: want a plain signing certificate", cert.IsCA, cert.KeyUsage)
	}
	if !cert.NotBefore.Before(now) || cert.NotAfter.Before(now.Add(19*365*24*time.Hour)) {
		t.Errorf("validity %v to %v: want from before %v for about 20 years", cert.NotBefore, cert.NotAfter, now)
	}
	if len(cert.Subject.OrganizationalUnit) != 1 || cert.Subject.OrganizationalUnit[0] != iss.KeyID() {
		t.Errorf("subject %v should name the key ID %s", cert.Subject, iss.KeyID())
	}
	// (TestCertificateAsRootCertBundle checks that docker/distribution
	// derives the tokens' kid from the certificate.)
	if kid, err := CertificateKeyID(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil || kid != iss.KeyID() {
		t.Errorf("CertificateKeyID = %q, %v; want %s", kid, err, iss.KeyID())
	}
	if _, err := NewCertificate(nil, now); err == nil {
		t.Error("NewCertificate(nil) succeeded")
	}
}

func TestEnsureCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls") // created by EnsureCertificate
	path := filepath.Join(dir, "token-signing.crt")
	key := newKey(t, elliptic.P256())
	now := time.Now()

	// Missing: written, mode 0644, of the key.
	first, change, err := EnsureCertificate(path, key, now)
	if err != nil || change != CertificateCreated {
		t.Fatalf("first EnsureCertificate: %v, %v; want created", change, err)
	}
	if onDisk, _ := os.ReadFile(path); !bytes.Equal(onDisk, first) {
		t.Error("the returned PEM is not the file's content")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("file mode: %v %v, want 0644", fi.Mode(), err)
	}
	if !key.PublicKey.Equal(parseCertPEM(t, first).PublicKey) {
		t.Fatal("the written certificate is not of the key")
	}

	// Present and valid: kept as it is.
	again, change, err := EnsureCertificate(path, key, now.Add(24*time.Hour))
	if err != nil || change != CertificateKept || !bytes.Equal(again, first) {
		t.Errorf("second EnsureCertificate: %v, %v, same content %v; want the file kept", change, err, bytes.Equal(again, first))
	}

	// Deleted: written again.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	recreated, change, err := EnsureCertificate(path, key, now)
	if err != nil || change != CertificateCreated || !key.PublicKey.Equal(parseCertPEM(t, recreated).PublicKey) {
		t.Errorf("after deletion: %v, %v; want a new certificate of the key", change, err)
	}

	// The key changed (a new token-signing.pem): replaced.
	other := newKey(t, elliptic.P256())
	replaced, change, err := EnsureCertificate(path, other, now)
	if err != nil || change != CertificateReplaced {
		t.Fatalf("other key: %v, %v; want replaced", change, err)
	}
	if !other.PublicKey.Equal(parseCertPEM(t, replaced).PublicKey) {
		t.Error("the replacement does not certify the new key")
	}

	// About to expire: renewed for the same key.
	cert := parseCertPEM(t, replaced)
	renewed, change, err := EnsureCertificate(path, other, cert.NotAfter.Add(-24*time.Hour))
	if err != nil || change != CertificateRenewed {
		t.Fatalf("near expiry: %v, %v; want renewed", change, err)
	}
	if c := parseCertPEM(t, renewed); !other.PublicKey.Equal(c.PublicKey) || !c.NotAfter.After(cert.NotAfter) {
		t.Errorf("renewed certificate: same key %v, NotAfter %v (was %v)", other.PublicKey.Equal(c.PublicKey), c.NotAfter, cert.NotAfter)
	}

	// Not a certificate: replaced.
	if err := os.WriteFile(path, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, change, err := EnsureCertificate(path, other, now); err != nil || change != CertificateReplaced {
		t.Errorf("garbage file: %v, %v; want replaced", change, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

// TestCertificateAsRootCertBundle gives the certificate to docker/
// distribution's token access controller, which notary-server runs with
// `"auth": {"type": "token"}`: it accepts the issuer's tokens, with exactly
// the access they grant, and refuses those of another key.
func TestCertificateAsRootCertBundle(t *testing.T) {
	key := newKey(t, elliptic.P256())
	path := filepath.Join(t.TempDir(), "token-signing.crt")
	if _, _, err := EnsureCertificate(path, key, time.Now()); err != nil {
		t.Fatal(err)
	}
	ac, err := auth.GetAccessController("token", map[string]any{
		"realm": "https://trustdeck.example/auth/token", "issuer": "trustdeck", "service": "trustdeck",
		"rootcertbundle": path,
	})
	if err != nil {
		t.Fatal(err)
	}
	gun := "registry.example.com/prod/app"
	authorized := func(token string, action string) error {
		req, _ := http.NewRequest(http.MethodGet, "https://notary.example/v2/", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		_, err := ac.Authorized(dcontext.WithRequest(context.Background(), req),
			auth.Access{Resource: auth.Resource{Type: "repository", Name: gun}, Action: action})
		return err
	}
	tok, _, _, err := NewIssuer(key, "trustdeck", "trustdeck", 0).Issue("alice",
		[]Access{{Type: "repository", Name: gun, Actions: []string{"pull", "push"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := authorized(tok, "push"); err != nil {
		t.Errorf("push with a pull,push token: %v", err)
	}
	var challenge auth.Challenge
	if err := authorized(tok, "*"); !errors.As(err, &challenge) {
		t.Errorf("* with a pull,push token: %v, want a challenge (insufficient scope)", err)
	}
	forged, _, _, err := NewIssuer(newKey(t, elliptic.P256()), "trustdeck", "trustdeck", 0).Issue("alice",
		[]Access{{Type: "repository", Name: gun, Actions: []string{"pull", "push"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := authorized(forged, "pull"); !errors.As(err, &challenge) {
		t.Errorf("token of another key: %v, want a challenge (invalid token)", err)
	}
}
