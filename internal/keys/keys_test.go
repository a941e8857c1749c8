package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// A fixed "now" keeps the validity cases independent of the clock.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	rsaOnce        sync.Once
	rsa2048, rsa1k *rsa.PrivateKey
)

// rsaKeys generates the RSA keys once: they are slow to make under -race.
func rsaKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		if rsa2048, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsa1k, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
			panic(err)
		}
	})
	return rsa2048, rsa1k
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type certOpts struct {
	cn        string
	notBefore time.Time
	notAfter  time.Time
	sigAlg    x509.SignatureAlgorithm
}

// selfSigned makes a certificate for signer (self-signed, as
// `docker trust key generate` users make them with openssl).
func selfSigned(t testing.TB, signer crypto.Signer, o certOpts) []byte {
	t.Helper()
	if o.cn == "" {
		o.cn = "alice"
	}
	if o.notBefore.IsZero() {
		o.notBefore = now.Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = now.AddDate(1, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(42),
		Subject:            pkix.Name{CommonName: o.cn},
		NotBefore:          o.notBefore,
		NotAfter:           o.notAfter,
		SignatureAlgorithm: o.sigAlg,
		KeyUsage:           x509.KeyUsageDigitalSignature,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pubPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func pkcs8PEM(t testing.TB, priv any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestParsePublicAccepts(t *testing.T) {
	rsaBig, _ := rsaKeys(t)
	p256 := ecKey(t, elliptic.P256())
	p384 := ecKey(t, elliptic.P384())
	p521 := ecKey(t, elliptic.P521())
	ecCert := selfSigned(t, p256, certOpts{cn: "alice"})

	for _, tc := range []struct {
		name      string
		pem       []byte
		typ       string
		tufAlg    string
		alg       string
		subject   string
		checkCert bool // docker (notary's ParsePEMPublicKey) must agree on the key
	}{
		{"ecdsa certificate", ecCert, TypeCertificate, data.ECDSAx509Key, "ECDSA P-256", "alice", true},
		{"rsa certificate", selfSigned(t, rsaBig, certOpts{cn: "bob"}), TypeCertificate, data.RSAx509Key, "RSA 2048", "bob", true},
		{"p384 certificate", selfSigned(t, p384, certOpts{cn: "carol"}), TypeCertificate, data.ECDSAx509Key, "ECDSA P-384", "carol", true},
		{"certificate with openssl text around it",
			append(append([]byte("Certificate:\n    Data: ...\n"), ecCert...), "\n\n"...),
			TypeCertificate, data.ECDSAx509Key, "ECDSA P-256", "alice", true},
		{"certificate starting within the day of leeway",
			selfSigned(t, p256, certOpts{notBefore: now.Add(12 * time.Hour)}),
			TypeCertificate, data.ECDSAx509Key, "ECDSA P-256", "alice", false},
		{"ecdsa public key", pubPEM(t, &p256.PublicKey), TypePublicKey, data.ECDSAKey, "ECDSA P-256", "", true},
		{"p521 public key", pubPEM(t, &p521.PublicKey), TypePublicKey, data.ECDSAKey, "ECDSA P-521", "", true},
		{"rsa public key", pubPEM(t, &rsaBig.PublicKey), TypePublicKey, data.RSAKey, "RSA 2048", "", true},
		{"crlf line endings", bytes.ReplaceAll(pubPEM(t, &p256.PublicKey), []byte("\n"), []byte("\r\n")),
			TypePublicKey, data.ECDSAKey, "ECDSA P-256", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePublic(tc.pem, now)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tc.typ || p.Key.Algorithm() != tc.tufAlg || p.Algorithm != tc.alg || p.Subject != tc.subject {
				t.Fatalf("got type %q, TUF algorithm %q, algorithm %q, subject %q", p.Type, p.Key.Algorithm(), p.Algorithm, p.Subject)
			}
			id, err := utils.CanonicalKeyID(p.Key)
			if err != nil || id != p.CanonicalID || len(id) != 64 {
				t.Fatalf("CanonicalID %q, recomputed %q, %v", p.CanonicalID, id, err)
			}
			if tc.typ == TypeCertificate {
				if p.CanonicalID == p.Key.ID() {
					t.Error("a certificate's canonical ID must be the ID of its bare public key, not of the certificate key")
				}
				if p.NotAfter.IsZero() || p.NotBefore.IsZero() {
					t.Error("certificate validity missing")
				}
			} else if p.CanonicalID != p.Key.ID() || !p.NotAfter.IsZero() {
				t.Errorf("public key: canonical %s, key ID %s, not after %v", p.CanonicalID, p.Key.ID(), p.NotAfter)
			}
			// The normalised PEM is one block without headers, and parses to the same key.
			blk, rest := pem.Decode(p.PEM)
			if blk == nil || len(bytes.TrimSpace(rest)) != 0 || len(blk.Headers) != 0 {
				t.Fatalf("normalised PEM %q", p.PEM)
			}
			again, err := ParsePublic(p.PEM, now)
			if err != nil || again.Key.ID() != p.Key.ID() {
				t.Fatalf("normalised PEM parses to %v, %v", again, err)
			}
			if tc.checkCert {
				// What docker would put in the delegation is the same TUF key.
				dk, err := utils.ParsePEMPublicKey(tc.pem)
				if err != nil {
					t.Fatalf("notary refuses a key we accept: %v", err)
				}
				if dk.ID() != p.Key.ID() || dk.Algorithm() != p.Key.Algorithm() {
					t.Fatalf("docker's key %s (%s), ours %s (%s)", dk.ID(), dk.Algorithm(), p.Key.ID(), p.Key.Algorithm())
				}
			}
		})
	}
}

func TestParsePublicRefuses(t *testing.T) {
	rsaBig, rsaSmall := rsaKeys(t)
	p256 := ecKey(t, elliptic.P256())
	p224 := ecKey(t, elliptic.P224())
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := selfSigned(t, p256, certOpts{})
	encrypted, err := utils.ConvertPrivateKeyToPKCS8(mustTUFKey(t, p256), "targets/alice", "", "s3cret-passphrase")
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Replace(good, []byte("MII"), []byte("AAA"), 1)

	for _, tc := range []struct {
		name string
		pem  []byte
		code string
		want string // in the message
	}{
		{"empty", nil, "empty_key", "empty"},
		{"only whitespace", []byte(" \n\t\n"), "empty_key", "empty"},
		{"garbage", []byte("this is not a key"), "not_pem", "not a PEM"},
		{"binary DER", mustDER(t, good), "not_pem", "not a PEM"},
		{"pkcs8 private key", pkcs8PEM(t, p256), "private_key", "never the private key"},
		{"ec private key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), "private_key", "private key"},
		{"rsa private key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaSmall)}), "private_key", "private key"},
		{"docker's encrypted key file", encrypted, "private_key", "upload the public key or certificate (cert.pem)"},
		{"certificate bundled with its private key", append(append([]byte{}, good...), pkcs8PEM(t, p256)...), "private_key", "private key"},
		{"two certificates", append(append([]byte{}, good...), good...), "several_pem_blocks", "2 PEM blocks"},
		{"certificate and public key", append(append([]byte{}, good...), pubPEM(t, &p256.PublicKey)...), "several_pem_blocks", "exactly one"},
		{"certificate request", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1, 2, 3}}), "unsupported_pem_type", "CERTIFICATE REQUEST"},
		{"damaged certificate", damaged, "bad_certificate", "cannot be parsed"},
		{"damaged public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("nope")}), "bad_public_key", "cannot be parsed"},
		{"expired certificate", selfSigned(t, p256, certOpts{cn: "old", notBefore: now.AddDate(-2, 0, 0), notAfter: now.Add(-time.Minute)}),
			"certificate_expired", `"old" expired on`},
		{"certificate not yet valid", selfSigned(t, p256, certOpts{cn: "future", notBefore: now.Add(25 * time.Hour), notAfter: now.AddDate(1, 0, 0)}),
			"certificate_not_yet_valid", `"future" is not valid before`},
		{"certificate ending before it starts", selfSigned(t, p256, certOpts{notBefore: now.Add(-time.Hour), notAfter: now.Add(-2 * time.Hour)}),
			"invalid_validity", "never valid"},
		{"SHA1WithRSA certificate", selfSigned(t, rsaBig, certOpts{sigAlg: x509.SHA1WithRSA}), "sha1_signature", "SHA-1"},
		{"ECDSAWithSHA1 certificate", selfSigned(t, p256, certOpts{sigAlg: x509.ECDSAWithSHA1}), "sha1_signature", "SHA-1"},
		{"RSA 1024 certificate", selfSigned(t, rsaSmall, certOpts{}), "rsa_too_short", "1024 bits"},
		{"RSA 1024 public key", pubPEM(t, &rsaSmall.PublicKey), "rsa_too_short", "at least 2048"},
		{"ed25519 public key", pubPEM(t, edPub), "unsupported_algorithm", "Ed25519"},
		{"ed25519 certificate", selfSigned(t, edPriv, certOpts{}), "unsupported_algorithm", "Ed25519"},
		{"P-224 public key", pubPEM(t, &p224.PublicKey), "unsupported_algorithm", "P-224"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePublic(tc.pem, now)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("got %T %v, want an errs.Invalid", err, err)
			}
			if e.Code != tc.code || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("got code %q message %q; want code %q, message with %q", e.Code, e.Message, tc.code, tc.want)
			}
		})
	}
}

func TestParsePublicTooLarge(t *testing.T) {
	p256 := ecKey(t, elliptic.P256())
	huge := append(pubPEM(t, &p256.PublicKey), bytes.Repeat([]byte("\n"), MaxPEMSize)...)
	_, err := ParsePublic(huge, now)
	if errs.KindOf(err) != errs.TooLarge {
		t.Fatalf("got %v, want TooLarge", err)
	}
}

func TestDescribeTUF(t *testing.T) {
	rsaBig, _ := rsaKeys(t)
	p384 := ecKey(t, elliptic.P384())
	priv := mustTUFKey(t, p384)
	edKey, err := utils.GenerateED25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParsePublic(selfSigned(t, rsaBig, certOpts{}), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  data.PublicKey
		want string
	}{
		{data.PublicKeyFromPrivate(priv), "ECDSA P-384"},
		{cert.Key, "RSA 2048"},
		{data.PublicKeyFromPrivate(edKey), "Ed25519"},
		{data.NewPublicKey("weird", []byte("x")), "weird"},
	} {
		if got := DescribeTUF(tc.key); got != tc.want {
			t.Errorf("DescribeTUF(%s) = %q, want %q", tc.key.Algorithm(), got, tc.want)
		}
	}
}

func mustTUFKey(t testing.TB, k *ecdsa.PrivateKey) data.PrivateKey {
	t.Helper()
	priv, err := utils.ECDSAToPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func mustDER(t testing.TB, pemBytes []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		t.Fatal("not PEM")
	}
	return b.Bytes
}
