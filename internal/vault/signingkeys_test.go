package vault

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/resign"
)

func newTestSigningKeys(t *testing.T) (*SigningKeys, *Vault, *scEnv) {
	t.Helper()
	v, env := newTestVault(t)
	return NewSigningKeys(env.st, env.sealer, v), v, env
}

func TestCosignKeyGenerateAndUnlock(t *testing.T) {
	ctx := context.Background()
	sk, _, env := newTestSigningKeys(t)

	_, err := sk.GenerateCosign(ctx, "prod", "short", "alice")
	wantErr(t, err, errs.Invalid, "passphrase_too_short", "8")

	info, err := sk.GenerateCosign(ctx, "prod", testPass, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != resign.FormatCosign || info.Role != RoleSigner || info.Algorithm != "ECDSA P-256" ||
		info.CreatedBy != "alice" || !strings.HasPrefix(info.PEM, "-----BEGIN PUBLIC KEY-----") || info.VaultKeyID != "" {
		t.Errorf("generated %+v", info)
	}
	_, err = sk.GenerateCosign(ctx, "prod", testPass, "bob")
	wantErr(t, err, errs.Conflict, "signing_key_exists", "prod")

	key, err := sk.UnlockCosign(ctx, "prod", testPass)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := resign.PublicKeyID(key.Public()); id != info.KeyID {
		t.Errorf("unlocked key %s, want %s", id, info.KeyID)
	}
	_, err = sk.UnlockCosign(ctx, "prod", testPass+"!")
	wantErr(t, err, errs.Invalid, "wrong_passphrase", "cosign", "prod")
	_, err = sk.UnlockCosign(ctx, "prod", "")
	wantErr(t, err, errs.Invalid, "passphrase_required")
	_, err = sk.UnlockCosign(ctx, "dev", testPass)
	wantErr(t, err, errs.NotFound, "no_signing_key", "dev")

	// Stored as the vault stores DCT keys: an encrypted PKCS#8 file that
	// notary (and so docker) opens with the passphrase, sealed once more.
	row, err := env.st.GetSigningKey(ctx, "prod", resign.FormatCosign, RoleSigner)
	if err != nil {
		t.Fatal(err)
	}
	file, err := env.sealer.Open(row.SealedKey, sealAD(*row))
	if err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(file); blk == nil || blk.Type != "ENCRYPTED PRIVATE KEY" {
		t.Fatalf("sealed file is not an encrypted PKCS#8 key: %.60s", file)
	}
	if _, err := utils.ParsePEMPrivateKey(file, testPass); err != nil {
		t.Errorf("notary cannot open the stored key with its passphrase: %v", err)
	}

	// A sealed key copied onto another namespace's row does not open.
	moved := *row
	moved.Namespace = "dev"
	if err := env.st.InsertSigningKeys(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := sk.UnlockCosign(ctx, "dev", testPass); err == nil {
		t.Error("a sealed key moved to another namespace opened")
	}

	// Delete, then a new key can be made.
	if err := sk.Delete(ctx, "prod", resign.FormatCosign); err != nil {
		t.Fatal(err)
	}
	wantErr(t, sk.Delete(ctx, "prod", resign.FormatCosign), errs.NotFound, "no_signing_key")
	if again, err := sk.GenerateCosign(ctx, "prod", testPass, "alice"); err != nil || again.KeyID == info.KeyID {
		t.Errorf("after delete: %+v %v, want a new key", again, err)
	}
}

func TestNotationKeysMeetNotationsRequirements(t *testing.T) {
	ctx := context.Background()
	sk, _, _ := newTestSigningKeys(t)
	_, err := sk.GenerateNotation(ctx, "prod", "reg.example:5000", testPass, "alice", NotationNames{Country: "USA"})
	wantErr(t, err, errs.Invalid, "bad_country")

	infos, err := sk.GenerateNotation(ctx, "prod", "reg.example:5000", testPass, "alice", NotationNames{})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Role != RoleCA || infos[1].Role != RoleSigner {
		t.Fatalf("generated %+v", infos)
	}
	leafInfo := infos[1]
	for _, want := range []string{"CN=prod Notation signer", "OU=reg.example:5000", "O=trustdeck", "ST=trustdeck", "C=XX"} {
		if !strings.Contains(leafInfo.Subject, want) {
			t.Errorf("leaf subject %q lacks %s (Notation's trust policies need C, ST and O)", leafInfo.Subject, want)
		}
	}
	if d := time.Until(leafInfo.NotAfter); d < 4*365*24*time.Hour {
		t.Errorf("leaf expires in %s", d)
	}
	_, err = sk.GenerateNotation(ctx, "prod", "reg.example:5000", testPass, "alice", NotationNames{})
	wantErr(t, err, errs.Conflict, "signing_key_exists")

	key, chain, err := sk.UnlockNotation(ctx, "prod", testPass)
	if err != nil {
		t.Fatal(err)
	}
	if err := resign.ValidateNotationChain(chain, time.Now()); err != nil {
		t.Fatalf("generated chain: %v", err)
	}
	if !chain[0].PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Error("unlocked key is not the leaf's")
	}
	if chain[0].KeyUsage != x509.KeyUsageDigitalSignature || len(chain[0].ExtKeyUsage) != 1 ||
		chain[0].ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning {
		t.Errorf("leaf usages %v %v", chain[0].KeyUsage, chain[0].ExtKeyUsage)
	}
	// The Notation format takes them as they are.
	if _, err := resign.NewNotation(nil, resign.NotationOptions{Key: key, Chain: chain}); err != nil {
		t.Errorf("resign refuses the vault's Notation keys: %v", err)
	}
	_, _, err = sk.UnlockNotation(ctx, "prod", "wrong passphrase")
	wantErr(t, err, errs.Invalid, "wrong_passphrase", "notation")

	v, err := sk.Verification(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.CosignKeys) != 0 || len(v.NotationCAs) != 1 || !v.NotationCAs[0].Equal(chain[1]) ||
		len(v.NotationLeaf) != 1 || !v.NotationLeaf[0].Equal(chain[0]) {
		t.Errorf("verification material %+v", v)
	}
}

func TestCosignWithAnExistingSignersKey(t *testing.T) {
	ctx := context.Background()
	sk, vault, _ := newTestSigningKeys(t)
	const dctPass = "alice's own passphrase"
	priv, dct, err := vault.Generate(ctx, "alice", "", dctPass, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, err = sk.UseVaultKeyForCosign(ctx, "prod", dct.ID, "not it", "admin")
	wantErr(t, err, errs.Invalid, "wrong_passphrase")

	info, err := sk.UseVaultKeyForCosign(ctx, "prod", dct.ID, dctPass, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if info.VaultKeyID != dct.ID || info.Algorithm != "ECDSA P-256" {
		t.Errorf("info %+v", info)
	}
	key, err := sk.UnlockCosign(ctx, "prod", dctPass)
	if err != nil {
		t.Fatal(err)
	}
	if !mustECDSA(t, priv).PublicKey.Equal(key.Public()) {
		t.Error("the cosign key is not the signer's DCT key")
	}
	v, err := sk.Verification(ctx, "prod")
	if err != nil || len(v.CosignKeys) != 1 || !mustECDSA(t, priv).PublicKey.Equal(v.CosignKeys[0]) {
		t.Errorf("verification %+v %v", v, err)
	}

	// An RSA signer key: cosign signing is ECDSA P-256 here.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, err := utils.RSAToPrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	imported, err := vault.Import(ctx, pkcs8File(t, rsaPriv, "bob", "", dctPass), dctPass, "bob")
	if err != nil {
		t.Fatal(err)
	}
	_, err = sk.UseVaultKeyForCosign(ctx, "dev", imported.ID, dctPass, "admin")
	wantErr(t, err, errs.Invalid, "cosign_key_type", "RSA 2048", "ECDSA P-256")
	if keys, _ := sk.List(ctx, "dev"); len(keys) != 0 {
		t.Errorf("a refused key was recorded: %+v", keys)
	}
	_, err = sk.UseVaultKeyForCosign(ctx, "dev", strings.Repeat("0", 64), dctPass, "admin")
	wantErr(t, err, errs.Conflict, "key_not_in_vault")
}

func TestSigningKeysNoPlaintextOnDisk(t *testing.T) {
	ctx := context.Background()
	sk, _, env := newTestSigningKeys(t)
	if _, err := sk.GenerateCosign(ctx, "prod", testPass, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := sk.GenerateNotation(ctx, "prod", "reg.example", testPass, "alice", NotationNames{}); err != nil {
		t.Fatal(err)
	}
	cosignKey, err := sk.UnlockCosign(ctx, "prod", testPass)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, _, err := sk.UnlockNotation(ctx, "prod", testPass)
	if err != nil {
		t.Fatal(err)
	}
	secrets := [][]byte{[]byte(testPass), []byte("PRIVATE KEY"),
		cosignKey.(*ecdsa.PrivateKey).D.FillBytes(make([]byte, 32)), leafKey.(*ecdsa.PrivateKey).D.FillBytes(make([]byte, 32))}
	env.st.Close()
	files := env.dbFiles(t)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s contains secret #%d in clear", filepath.Base(f), i)
			}
		}
	}
}
