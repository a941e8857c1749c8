package tokens

// The certificate of the token signing key. A Notary server (or registry)
// that uses the token authentication of docker/distribution 2.x -
// notary-server's `"auth": {"type": "token", ...}` - is configured with a
// "rootcertbundle": PEM certificates whose public keys it trusts, indexed by
// their libtrust key ID. It looks a token's "kid" header up there and checks
// the signature with that key; it uses the certificate for nothing else. So
// a self-signed certificate of the signing key is all such a server needs to
// accept trustdeck's tokens.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/trustdeck/trustdeck/internal/tlsutil"
)

const (
	// CertificateValidity is the lifetime of a token signing certificate.
	// Servers look the key up by its ID and ignore the dates, so it is long:
	// the certificate changes only when the key does.
	CertificateValidity = 20 * 365 * 24 * time.Hour
	// certificateRenewBefore: a certificate that expires sooner is reissued
	// (for the same key: servers that hold the old one keep working).
	certificateRenewBefore = 30 * 24 * time.Hour
	certificateBackdate    = time.Hour
	certificateName        = "trustdeck registry token signing"
)

// NewCertificate returns a self-signed X.509 certificate (DER) of key, valid
// from an hour before now for CertificateValidity. Its subject names the
// key's libtrust key ID (the "kid" of the tokens it signs).
func NewCertificate(key *ecdsa.PrivateKey, now time.Time) ([]byte, error) {
	if key == nil {
		return nil, errors.New("tokens: no key to certify")
	}
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)), // positive, never zero
		Subject: pkix.Name{
			CommonName:         certificateName,
			OrganizationalUnit: []string{kid},
		},
		NotBefore:             now.Add(-certificateBackdate),
		NotAfter:              now.Add(CertificateValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tokens: create certificate: %w", err)
	}
	return der, nil
}

// CertificateChange says what EnsureCertificate did to the file.
type CertificateChange int

const (
	// CertificateKept: the file already certified the key.
	CertificateKept CertificateChange = iota
	// CertificateCreated: there was no file.
	CertificateCreated
	// CertificateRenewed: the file certified the key but was about to
	// expire; servers holding the old certificate are not affected.
	CertificateRenewed
	// CertificateReplaced: the file certified another key (or was no
	// certificate): servers trusting the old file refuse the new tokens
	// until they are given the new one.
	CertificateReplaced
)

func (c CertificateChange) String() string {
	switch c {
	case CertificateKept:
		return "kept"
	case CertificateCreated:
		return "created"
	case CertificateRenewed:
		return "renewed"
	case CertificateReplaced:
		return "replaced"
	}
	return fmt.Sprintf("CertificateChange(%d)", int(c))
}

// EnsureCertificate makes sure path holds a PEM certificate of key (see
// NewCertificate) and returns the file's content. An existing file is kept
// when its first certificate is of key and does not expire within 30 days;
// otherwise it is (re)written atomically with mode 0644 (the directory is
// created with mode 0700 if missing). The change reports which case it was.
func EnsureCertificate(path string, key *ecdsa.PrivateKey, now time.Time) ([]byte, CertificateChange, error) {
	change := CertificateCreated
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		cert, perr := parseFirstCertificate(old)
		switch {
		case perr != nil || !key.PublicKey.Equal(cert.PublicKey):
			change = CertificateReplaced
		case now.Add(certificateRenewBefore).After(cert.NotAfter):
			change = CertificateRenewed
		default:
			return old, CertificateKept, nil
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, 0, fmt.Errorf("tokens: read certificate: %w", err)
	}
	der, err := NewCertificate(key, now)
	if err != nil {
		return nil, 0, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, 0, fmt.Errorf("tokens: %w", err)
	}
	if err := tlsutil.WriteFile(path, out, 0o644); err != nil {
		return nil, 0, err
	}
	return out, change, nil
}

// CertificateKeyID returns the libtrust key ID of the public key of the first
// certificate in a PEM bundle: the "kid" a server that trusts the bundle
// accepts.
func CertificateKeyID(pemBytes []byte) (string, error) {
	cert, err := parseFirstCertificate(pemBytes)
	if err != nil {
		return "", err
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("tokens: the certificate's key is a %T, not ECDSA", cert.PublicKey)
	}
	return KeyID(pub)
}

func parseFirstCertificate(pemBytes []byte) (*x509.Certificate, error) {
	rest := bytes.TrimSpace(pemBytes)
	for len(rest) > 0 {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
	return nil, errors.New("tokens: no PEM certificate")
}
