package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/resign"
	"github.com/trustdeck/trustdeck/internal/testpki"
)

// TestImportNotationChain: an admin's own chain (RSA 3072 signing
// certificate, intermediate, root given apart) becomes the namespace's
// Notation identity: unlocked as a chain up to the root, the trust store
// holds the root, the key is encrypted with the passphrase.
func TestImportNotationChain(t *testing.T) {
	ctx := context.Background()
	sk, _, env := newTestSigningKeys(t)
	c := testpki.New(t, testpki.Options{})
	in := NotationImport{Chain: append(slices.Clone(c.Intermediate), c.Leaf...), Root: c.Root, PrivateKey: c.Key, Passphrase: testPass}
	infos, err := sk.ImportNotation(ctx, "prod", in, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[1].Role != RoleSigner || infos[1].Algorithm != "RSA 3072" ||
		!strings.Contains(infos[1].Subject, "CN=release signing") || infos[0].Role != RoleCA {
		t.Fatalf("imported %+v", infos)
	}
	_, err = sk.ImportNotation(ctx, "prod", in, "alice")
	wantErr(t, err, errs.Conflict, "signing_key_exists")

	key, chain, err := sk.UnlockNotation(ctx, "prod", testPass)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 || !chain[0].Equal(c.LeafCert) || !key.Public().(*rsa.PublicKey).Equal(c.LeafCert.PublicKey) {
		t.Fatalf("unlocked chain of %d, key %T", len(chain), key)
	}
	if _, err := resign.NewNotation(nil, resign.NotationOptions{Key: key, Chain: chain}); err != nil {
		t.Errorf("resign refuses the imported identity: %v", err)
	}
	_, _, err = sk.UnlockNotation(ctx, "prod", "wrong passphrase")
	wantErr(t, err, errs.Invalid, "wrong_passphrase", "notation", infos[1].KeyID)
	v, err := sk.Verification(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.NotationCAs) != 1 || !v.NotationCAs[0].Equal(chain[2]) || len(v.NotationLeaf) != 1 {
		t.Errorf("trust store %d certificates, leaves %d", len(v.NotationCAs), len(v.NotationLeaf))
	}
	rows, err := env.st.ListSigningKeys(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(c.Key)
	for _, r := range rows {
		if strings.Contains(string(r.SealedKey), string(block.Bytes)) {
			t.Error("the imported key is stored in the clear")
		}
	}
}

// TestImportNotationRefusals: each of Notation's requirements, refused with
// its own code, and nothing stored.
func TestImportNotationRefusals(t *testing.T) {
	ctx := context.Background()
	sk, _, _ := newTestSigningKeys(t)
	good := testpki.New(t, testpki.Options{})
	full := func(c testpki.Chain) NotationImport {
		return NotationImport{Chain: append(append(slices.Clone(c.Leaf), c.Intermediate...), c.Root...), PrivateKey: c.Key, Passphrase: testPass}
	}
	ec521, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	short, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	other := testpki.New(t, testpki.Options{Key: mustEC(t)})
	for _, tc := range []struct {
		name, code, want string
		in               NotationImport
	}{
		{"no code-signing EKU", "code_signing_eku", "code-signing", full(testpki.New(t, testpki.Options{Key: mustEC(t), NoCodeSigning: true}))},
		{"no digitalSignature", "key_usage", "digitalSignature", full(testpki.New(t, testpki.Options{Key: mustEC(t), KeyUsage: x509.KeyUsageKeyEncipherment}))},
		{"keyEncipherment too", "invalid_chain", "keyEncipherment", full(testpki.New(t, testpki.Options{Key: mustEC(t),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}))},
		{"short RSA", "notation_key_type", "RSA 1024", full(testpki.New(t, testpki.Options{Key: short}))},
		{"P-224", "notation_key_type", "P-224", full(testpki.New(t, testpki.Options{Key: ec521}))},
		{"Ed25519", "notation_key_type", "Ed25519", NotationImport{Chain: good.Leaf,
			PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}), Passphrase: testPass}},
		{"key of another certificate", "key_mismatch", "does not belong", NotationImport{Chain: full(good).Chain, PrivateKey: other.Key, Passphrase: testPass}},
		{"root missing", "invalid_chain", "Example Corp Root CA", NotationImport{Chain: append(slices.Clone(good.Leaf), good.Intermediate...),
			PrivateKey: good.Key, Passphrase: testPass}},
		{"expired", "certificate_expired", "release signing", full(testpki.New(t, testpki.Options{Key: mustEC(t), NotAfter: time.Now().Add(-time.Minute)}))},
		{"subject without ST", "subject_incomplete", "C, ST and O", full(testpki.New(t, testpki.Options{Key: mustEC(t),
			Subject: &pkix.Name{Country: []string{"DE"}, Organization: []string{"Example"}, CommonName: "x"}}))},
		{"not PEM", "invalid_private_key", "not PEM", NotationImport{Chain: good.Leaf, PrivateKey: []byte("key"), Passphrase: testPass}},
		{"no certificate", "invalid_certificate", "no PEM certificate", NotationImport{Chain: []byte("x"), PrivateKey: good.Key, Passphrase: testPass}},
		{"short passphrase", "passphrase_too_short", "at least", NotationImport{Chain: full(good).Chain, PrivateKey: good.Key, Passphrase: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sk.ImportNotation(ctx, "prod", tc.in, "alice")
			wantErr(t, err, errs.Invalid, tc.code, tc.want)
		})
	}
	if infos, err := sk.List(ctx, "prod"); err != nil || len(infos) != 0 {
		t.Errorf("after refusals: %+v %v", infos, err)
	}
}

func mustEC(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
