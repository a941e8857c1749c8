// Package testpki makes certificate chains for tests: an admin's own
// Notation signing identity (root CA, intermediate, signing certificate)
// as an organisation's PKI would issue it, with knobs to break each of
// Notation's requirements.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// Options shape the signing certificate; the zero value is a valid
// Notation identity with an RSA 3072 key under an ECDSA P-384 root and
// intermediate.
type Options struct {
	Key           crypto.Signer // default RSA 3072
	KeyUsage      x509.KeyUsage // default digitalSignature
	ExtKeyUsage   []x509.ExtKeyUsage
	NoCodeSigning bool // leave the code-signing EKU out
	NotAfter      time.Time
	Subject       *pkix.Name
}

// Chain is an issued identity, as PEM.
type Chain struct {
	Leaf, Intermediate, Root []byte
	Key                      []byte // PKCS#8 "PRIVATE KEY"
	LeafCert                 *x509.Certificate
}

// New issues a chain.
func New(t testing.TB, o Options) Chain {
	t.Helper()
	now := time.Now()
	rootKey := ecKey(t, elliptic.P384())
	interKey := ecKey(t, elliptic.P384())
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{Country: []string{"DE"}, Organization: []string{"Example Corp"}, CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true}
	}
	rootT := ca("Example Corp Root CA")
	root := issue(t, rootT, rootT, rootKey.Public(), rootKey)
	interT := ca("Example Corp Code Signing CA")
	interT.MaxPathLenZero = true
	inter := issue(t, interT, root, interKey.Public(), rootKey)

	if o.Key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			t.Fatal(err)
		}
		o.Key = k
	}
	if o.KeyUsage == 0 {
		o.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if !o.NoCodeSigning {
		o.ExtKeyUsage = append(o.ExtKeyUsage, x509.ExtKeyUsageCodeSigning)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(365 * 24 * time.Hour)
	}
	subject := pkix.Name{Country: []string{"DE"}, Province: []string{"Berlin"}, Organization: []string{"Example Corp"},
		CommonName: "release signing"}
	if o.Subject != nil {
		subject = *o.Subject
	}
	leafT := &x509.Certificate{Subject: subject, NotBefore: now.Add(-2 * time.Hour), NotAfter: o.NotAfter,
		KeyUsage: o.KeyUsage, ExtKeyUsage: o.ExtKeyUsage, BasicConstraintsValid: true}
	leaf := issue(t, leafT, inter, o.Key.Public(), interKey)
	der, err := x509.MarshalPKCS8PrivateKey(o.Key)
	if err != nil {
		t.Fatal(err)
	}
	return Chain{Leaf: certPEM(leaf), Intermediate: certPEM(inter), Root: certPEM(root),
		Key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), LeafCert: leaf}
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issue(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// SignerKeyFile is a DCT signer's key as docker writes it: ECDSA P-256,
// encrypted PKCS#8 with a role header, for the vault's key import.
func SignerKeyFile(t testing.TB, role, passphrase string) []byte {
	t.Helper()
	priv, err := utils.ECDSAToPrivateKey(ecKey(t, elliptic.P256()))
	if err != nil {
		t.Fatal(err)
	}
	file, err := utils.ConvertPrivateKeyToPKCS8(priv, data.RoleName(role), "", passphrase)
	if err != nil {
		t.Fatal(err)
	}
	return file
}
