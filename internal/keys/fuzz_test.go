package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// FuzzParsePublic feeds ParsePublic what users upload as a signer's key:
// certificates and public keys as docker and openssl write them, and the
// near misses people upload instead. When wrap names a PEM type, the input
// is the DER inside such a block (the fuzzer works better on the DER than
// on its base64).
func FuzzParsePublic(f *testing.F) {
	rsaBig, rsaSmall := rsaKeys(f)
	p256, p384, p224 := ecKey(f, elliptic.P256()), ecKey(f, elliptic.P384()), ecKey(f, elliptic.P224())
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	cert := selfSigned(f, p256, certOpts{cn: "alice"})
	encrypted, err := utils.ConvertPrivateKeyToPKCS8(mustTUFKey(f, p256), "targets/alice", "", "passphrase")
	if err != nil {
		f.Fatal(err)
	}
	withHeader := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"role": "alice"},
		Bytes: mustDER(f, pubPEM(f, &p256.PublicKey))})
	for _, seed := range [][]byte{
		cert,
		selfSigned(f, rsaBig, certOpts{cn: "bob"}),
		selfSigned(f, p384, certOpts{cn: "carol", notBefore: now.Add(12 * time.Hour)}),
		append(append([]byte("Certificate:\n    Data: ...\n"), cert...), "\n\n"...),
		bytes.ReplaceAll(cert, []byte("\n"), []byte("\r\n")),
		pubPEM(f, &p256.PublicKey),
		pubPEM(f, &rsaBig.PublicKey),
		withHeader,
		selfSigned(f, p256, certOpts{notBefore: now.AddDate(-2, 0, 0), notAfter: now.Add(-time.Minute)}),
		selfSigned(f, p256, certOpts{notBefore: now.Add(25 * time.Hour)}),
		selfSigned(f, p256, certOpts{sigAlg: x509.ECDSAWithSHA1}),
		selfSigned(f, rsaSmall, certOpts{}),
		pubPEM(f, &p224.PublicKey),
		pubPEM(f, edPub),
		pkcs8PEM(f, p256),
		encrypted,
		append(append([]byte{}, cert...), cert...),
		bytes.Replace(cert, []byte("MII"), []byte("AAA"), 1),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1, 2, 3}}),
		[]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"),
		nil,
	} {
		f.Add(seed, "")
		if blk, _ := pem.Decode(seed); blk != nil {
			f.Add(blk.Bytes, blk.Type)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, wrap string) {
		if wrap != "" {
			in = pem.EncodeToMemory(&pem.Block{Type: wrap, Bytes: in})
		}
		p, err := ParsePublic(in, now)
		if err != nil {
			if e, ok := errs.As(err); !ok || (e.Kind != errs.Invalid && e.Kind != errs.TooLarge) {
				t.Fatalf("refused with %v (%T), want errs.Invalid or TooLarge", err, err)
			}
			return
		}
		// The normalised PEM is one block without headers of the key's
		// type, and it parses to the same key.
		blk, rest := pem.Decode(p.PEM)
		if blk == nil || len(rest) != 0 || len(blk.Headers) != 0 {
			t.Fatalf("normalised PEM %q", p.PEM)
		}
		again, err := ParsePublic(p.PEM, now)
		if err != nil || again.Key.ID() != p.Key.ID() || again.CanonicalID != p.CanonicalID || again.Type != p.Type ||
			again.Algorithm != p.Algorithm || again.Subject != p.Subject || !again.NotAfter.Equal(p.NotAfter) {
			t.Fatalf("normalised PEM parses to %+v, %v; first %+v", again, err, p)
		}
		if id, err := utils.CanonicalKeyID(p.Key); err != nil || id != p.CanonicalID || len(id) != 64 {
			t.Fatalf("CanonicalID %q, recomputed %q, %v", p.CanonicalID, id, err)
		}
		if got := DescribeTUF(p.Key); got != p.Algorithm {
			t.Fatalf("DescribeTUF = %q, Algorithm %q", got, p.Algorithm)
		}
		if !strings.HasPrefix(p.Algorithm, "ECDSA P-") && !strings.HasPrefix(p.Algorithm, "RSA ") {
			t.Fatalf("accepted a %s key", p.Algorithm)
		}
		// The TUF key is the one docker would put in the delegation.
		switch p.Type {
		case TypeCertificate:
			c, err := utils.LoadCertFromPEM(in)
			if blk.Type != "CERTIFICATE" || err != nil || utils.CertToKey(c).ID() != p.Key.ID() {
				t.Fatalf("certificate key %s, notary reads %v", p.Key.ID(), err)
			}
			if now.After(p.NotAfter) || p.NotBefore.After(now.Add(notBeforeLeeway)) || p.NotBefore.After(p.NotAfter) {
				t.Fatalf("accepted a certificate valid from %v to %v", p.NotBefore, p.NotAfter)
			}
			if k := p.Key.Algorithm(); k != data.ECDSAx509Key && k != data.RSAx509Key {
				t.Fatalf("certificate key of algorithm %s", k)
			}
		case TypePublicKey:
			dk, err := utils.ParsePEMPublicKey(in)
			if blk.Type != "PUBLIC KEY" || err != nil || dk.ID() != p.Key.ID() || dk.Algorithm() != p.Key.Algorithm() {
				t.Fatalf("public key %s (%s), notary reads %v, %v", p.Key.ID(), p.Key.Algorithm(), dk, err)
			}
			if p.CanonicalID != p.Key.ID() || !p.NotAfter.IsZero() || p.Subject != "" {
				t.Fatalf("public key %+v", p)
			}
		default:
			t.Fatalf("type %q", p.Type)
		}
	})
}

// FuzzDescribeTUF names keys read from TUF metadata, which anyone who can
// push writes: any algorithm string with any bytes.
func FuzzDescribeTUF(f *testing.F) {
	p256 := ecKey(f, elliptic.P256())
	rsaBig, _ := rsaKeys(f)
	cert, err := ParsePublic(selfSigned(f, rsaBig, certOpts{}), now)
	if err != nil {
		f.Fatal(err)
	}
	edKey, err := utils.GenerateED25519Key(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	for _, k := range []data.PublicKey{data.PublicKeyFromPrivate(mustTUFKey(f, p256)), cert.Key, data.PublicKeyFromPrivate(edKey)} {
		f.Add(k.Algorithm(), k.Public())
	}
	f.Add(data.RSAKey, data.PublicKeyFromPrivate(mustTUFKey(f, p256)).Public())
	f.Add(data.ECDSAx509Key, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add("weird", []byte("x"))
	f.Fuzz(func(t *testing.T, algorithm string, public []byte) {
		got := DescribeTUF(data.NewPublicKey(algorithm, public))
		switch algorithm {
		case data.ECDSAKey, data.RSAKey, data.ECDSAx509Key, data.RSAx509Key:
			if got == "" {
				t.Fatalf("DescribeTUF(%s key) is empty", algorithm)
			}
		default:
			if want := algorithm; algorithm == data.ED25519Key {
				if got != "Ed25519" {
					t.Fatalf("DescribeTUF(ed25519 key) = %q", got)
				}
			} else if got != want {
				t.Fatalf("DescribeTUF(%q key) = %q", algorithm, got)
			}
		}
	})
}
