package vault

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
)

const (
	testGUN  = "registry.example.com:5000/team/app"
	testPass = "correct horse battery staple"
)

func newTestVault(t testing.TB) (*Vault, *scEnv) {
	t.Helper()
	env := newSCEnv(t)
	return New(env.st, env.sealer), env
}

// wantErr checks err is a domain error of kind and code whose message holds
// every one of want.
func wantErr(t *testing.T, err error, kind errs.Kind, code string, want ...string) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok {
		t.Fatalf("got %v (%T), want errs %q", err, err, code)
	}
	if e.Kind != kind || e.Code != code {
		t.Fatalf("got kind %d code %q (%s), want kind %d code %q", e.Kind, e.Code, e.Message, kind, code)
	}
	for _, w := range want {
		if !strings.Contains(e.Message, w) {
			t.Fatalf("message %q lacks %q", e.Message, w)
		}
	}
}

// dockerTrustDir creates keys the way the docker CLI does (notary's
// cryptoservice over a key file store in <dir>/private) and returns the
// directory and the public keys.
func dockerTrustDir(t *testing.T) (dir string, root, targets data.PublicKey, signer data.PrivateKey) {
	t.Helper()
	dir = t.TempDir()
	ks, err := trustmanager.NewKeyFileStore(dir, passphrase.ConstantRetriever(testPass))
	if err != nil {
		t.Fatal(err)
	}
	cs := cryptoservice.NewCryptoService(ks)
	if root, err = cs.Create(data.CanonicalRootRole, testGUN, data.ECDSAKey); err != nil {
		t.Fatal(err)
	}
	if targets, err = cs.Create(data.CanonicalTargetsRole, testGUN, data.ECDSAKey); err != nil {
		t.Fatal(err)
	}
	// `docker trust key generate alice` stores the key under the bare name.
	if signer, err = utils.GenerateECDSAKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if err := ks.AddKey(trustmanager.KeyInfo{Role: "alice"}, signer); err != nil {
		t.Fatal(err)
	}
	return dir, root, targets, signer
}

func readKeyFileFrom(t *testing.T, dir, id string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "private", id+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImportDockerKeys(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t)
	dir, root, targets, signer := dockerTrustDir(t)

	for _, tc := range []struct {
		name      string
		id        string
		role, gun string
	}{
		{"root", root.ID(), "root", ""},
		{"targets", targets.ID(), "targets", testGUN},
		{"signer", signer.ID(), "alice", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := readKeyFileFrom(t, dir, tc.id)
			info, err := v.Import(ctx, file, testPass, "alice")
			if err != nil {
				t.Fatal(err)
			}
			// The ID is docker's file name, the ID targets metadata lists.
			if info.ID != tc.id || info.Role != tc.role || info.GUN != tc.gun ||
				info.CreatedBy != "alice" || info.Algorithm != "ECDSA P-256" || info.CreatedAt.IsZero() {
				t.Fatalf("Import = %+v, want ID %s role %s gun %q", info, tc.id, tc.role, tc.gun)
			}
			if _, err := v.Import(ctx, file, testPass, "bob"); err == nil {
				t.Fatal("re-import accepted")
			} else {
				wantErr(t, err, errs.Conflict, "key_exists", tc.id)
			}

			name, exported, err := v.Export(ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if name != tc.id+".key" || !bytes.Equal(exported, file) {
				t.Fatalf("Export = %s, %q; want %s.key and the imported bytes %q", name, exported, tc.id, file)
			}
			priv, err := utils.ParsePEMPrivateKey(exported, testPass)
			if err != nil || priv.ID() != tc.id {
				t.Fatalf("exported file decrypts to %v, %v", priv, err)
			}

			unlocked, err := v.Unlock(ctx, tc.id, testPass)
			if err != nil {
				t.Fatal(err)
			}
			if unlocked.ID() != tc.id || !bytes.Equal(unlocked.Private(), priv.Private()) {
				t.Fatalf("Unlock gave key %s", unlocked.ID())
			}
			if err := checkPair(unlocked); err != nil {
				t.Fatal(err)
			}
		})
	}

	// root.json lists the root key as a certificate; its canonical ID is the
	// vault's ID, the certificate key's own ID is not.
	rootPriv, err := v.Unlock(ctx, root.ID(), testPass)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := cryptoservice.GenerateCertificate(rootPriv, testGUN, time.Now(), time.Now().AddDate(10, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	certKey := utils.CertToKey(cert)
	if id, _ := utils.CanonicalKeyID(certKey); id != root.ID() || certKey.ID() == root.ID() {
		t.Fatalf("root certificate key %s, canonical %s, vault %s", certKey.ID(), id, root.ID())
	}

	// An exported key, dropped into a fresh trust directory, is found by
	// notary's own key store with its role.
	fresh := t.TempDir()
	if err := os.MkdirAll(filepath.Join(fresh, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	name, file, err := v.Export(ctx, targets.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fresh, "private", name), file, 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := trustmanager.NewKeyFileStore(fresh, passphrase.ConstantRetriever(testPass))
	if err != nil {
		t.Fatal(err)
	}
	k, role, err := ks.GetKey(targets.ID())
	if err != nil || k.ID() != targets.ID() || role != data.CanonicalTargetsRole {
		t.Fatalf("notary reads the exported key as %v, %s, %v", k, role, err)
	}
	if info, err := ks.GetKeyInfo(targets.ID()); err != nil || info.Gun != testGUN {
		t.Fatalf("notary key info %+v, %v", info, err)
	}
}

// pkcs8File writes a key file with notary's ConvertPrivateKeyToPKCS8, as
// docker does.
func pkcs8File(t testing.TB, priv data.PrivateKey, role, gun, pass string) []byte {
	t.Helper()
	b, err := utils.ConvertPrivateKeyToPKCS8(priv, data.RoleName(role), data.GUN(gun), pass)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newECDSA(t testing.TB) data.PrivateKey {
	t.Helper()
	k, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestImportRefusals(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t)
	key := newECDSA(t)
	good := pkcs8File(t, key, "targets", testGUN, testPass)
	ecDER, err := x509.MarshalECPrivateKey(mustECDSA(t, key))
	if err != nil {
		t.Fatal(err)
	}
	rsa1k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallRSA, err := utils.RSAToPrivateKey(rsa1k)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: data.PublicKeyFromPrivate(key).Public()})
	// A file cut short (broken ASN.1), and one whose ciphertext is not a
	// whole number of AES blocks (CBC decryption panics on it).
	blk, _ := pem.Decode(good)
	truncated := pem.EncodeToMemory(&pem.Block{Type: blk.Type, Headers: blk.Headers, Bytes: blk.Bytes[:len(blk.Bytes)-5]})
	var info struct { // RFC 5208 EncryptedPrivateKeyInfo
		Algorithm asn1.RawValue
		Data      []byte
	}
	if _, err := asn1.Unmarshal(blk.Bytes, &info); err != nil {
		t.Fatal(err)
	}
	info.Data = info.Data[:len(info.Data)-5]
	partial, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	partialBlock := pem.EncodeToMemory(&pem.Block{Type: blk.Type, Headers: blk.Headers, Bytes: partial})

	for _, tc := range []struct {
		name string
		file []byte
		pass string
		kind errs.Kind
		code string
		want string
	}{
		{"wrong passphrase", good, "not the passphrase", errs.Invalid, "wrong_passphrase", "targets key of " + testGUN},
		{"no passphrase", good, "", errs.Invalid, "passphrase_required", "passphrase"},
		{"unencrypted pkcs8", pkcs8File(t, key, "targets", testGUN, ""), testPass, errs.Invalid, "key_not_encrypted", "not passphrase-protected"},
		{"unencrypted legacy", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"role": "root"}, Bytes: ecDER}),
			testPass, errs.Invalid, "key_not_encrypted", "not passphrase-protected"},
		{"no role header", pkcs8File(t, key, "", testGUN, testPass), testPass, errs.Invalid, "no_role", "role header"},
		{"targets key without gun", pkcs8File(t, key, "targets", "", testPass), testPass, errs.Invalid, "no_gun", "gun header"},
		{"unknown role", pkcs8File(t, key, "Not A Role", "", testPass), testPass, errs.Invalid, "bad_role", "Not A Role"},
		{"public key", pubPEM, testPass, errs.Invalid, "not_private_key", "public key"},
		{"garbage", []byte("hello"), testPass, errs.Invalid, "not_pem", "not a PEM"},
		{"empty", nil, testPass, errs.Invalid, "empty_key", "empty"},
		{"two keys", append(append([]byte{}, good...), good...), testPass, errs.Invalid, "several_pem_blocks", "2 PEM blocks"},
		{"cut short", truncated, testPass, errs.Invalid, "unreadable_key", "damaged"},
		{"partial cipher block", partialBlock, testPass, errs.Invalid, "damaged_key", "damaged"},
		{"RSA 1024", pkcs8File(t, smallRSA, "targets", testGUN, testPass), testPass, errs.Invalid, "rsa_too_short", "1024"},
		{"too large", append(append([]byte{}, good...), bytes.Repeat([]byte(" "), MaxKeyFileSize)...), testPass, errs.TooLarge, "key_too_large", "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := v.Import(ctx, tc.file, tc.pass, "alice")
			if err == nil {
				t.Fatalf("accepted: %+v", info)
			}
			wantErr(t, err, tc.kind, tc.code, tc.want)
		})
	}
	if list, err := v.List(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("refused imports stored keys: %v, %v", list, err)
	}
}

// withIterations rewrites the PBKDF2 iteration count of an encrypted PKCS#8
// key file, keeping everything else.
func withIterations(t testing.TB, file []byte, iterations int) []byte {
	t.Helper()
	var info encryptedKeyInfo
	blk, _ := pem.Decode(file)
	if _, err := asn1.Unmarshal(blk.Bytes, &info); err != nil {
		t.Fatal(err)
	}
	info.Algorithm.Params.KDF.Params.Iterations = iterations
	der, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blk.Type, Headers: blk.Headers, Bytes: der})
}

// A key file names its own PBKDF2 iteration count: one asking for billions
// would keep a core busy for hours on every import or unlock attempt.
func TestImportRefusesCostlyKeyDerivation(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t)
	key := newECDSA(t)
	good := pkcs8File(t, key, "targets", testGUN, testPass)
	// 20 million rounds of HMAC-SHA1: several seconds of CPU per attempt.
	costly := withIterations(t, good, 20_000_000)

	_, err := PeekGUN(costly)
	wantErr(t, err, errs.Invalid, "key_iterations", "20000000")
	start := time.Now()
	_, err = v.Import(ctx, costly, testPass, "alice")
	wantErr(t, err, errs.Invalid, "key_iterations", "20000000", "docker trust key load")
	_, _, err = ParseOneOff(costly, testPass)
	wantErr(t, err, errs.Invalid, "key_iterations")
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing took %v", d)
	}

	// At the limit the file is read: the count is the file's own.
	bounded := withIterations(t, good, MaxKeyIterations)
	if _, err := PeekGUN(bounded); err != nil {
		t.Fatalf("PeekGUN at the limit: %v", err)
	}
	_, err = v.Import(ctx, bounded, testPass, "alice")
	wantErr(t, err, errs.Invalid, "wrong_passphrase") // derived with 2048 rounds, read with more
	if _, err := v.Import(ctx, good, testPass, "alice"); err != nil {
		t.Fatalf("docker's own file: %v", err)
	}
}

// legacyFile writes an ECDSA key file as older notary versions did: "EC
// PRIVATE KEY" encrypted with PEM's own scheme, with role and gun headers.
func legacyFile(t testing.TB, key data.PrivateKey, role, gun, pass string) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(mustECDSA(t, key))
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 older notary versions wrote such files
	blk, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", der, []byte(pass), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	blk.Headers["role"] = role
	blk.Headers["gun"] = gun
	return pem.EncodeToMemory(blk)
}

func TestImportLegacyEncrypted(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t)
	key := newECDSA(t)
	file := legacyFile(t, key, "targets", testGUN, testPass)

	if _, err := v.Import(ctx, file, "wrong", "alice"); err == nil {
		t.Fatal("wrong passphrase accepted")
	} else {
		wantErr(t, err, errs.Invalid, "wrong_passphrase")
	}
	info, err := v.Import(ctx, file, testPass, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != key.ID() || info.Role != "targets" || info.GUN != testGUN {
		t.Fatalf("Import = %+v", info)
	}
	_, exported, err := v.Export(ctx, key.ID())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(exported)
	if b == nil || b.Type != "ENCRYPTED PRIVATE KEY" || b.Headers["role"] != "targets" || b.Headers["gun"] != testGUN {
		t.Fatalf("exported %q", exported)
	}
	if priv, err := utils.ParsePEMPrivateKey(exported, testPass); err != nil || priv.ID() != key.ID() {
		t.Fatalf("exported legacy key decrypts to %v, %v", priv, err)
	}
}

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t)

	if _, _, err := v.Generate(ctx, "targets", testGUN, "short", "alice"); err == nil {
		t.Fatal("short passphrase accepted")
	} else {
		wantErr(t, err, errs.Invalid, "passphrase_too_short", "8")
	}
	if _, _, err := v.Generate(ctx, "targets", "", testPass, "alice"); err == nil {
		t.Fatal("targets key without GUN accepted")
	} else {
		wantErr(t, err, errs.Invalid, "no_gun")
	}

	for _, tc := range []struct{ role, gun, wantGUN string }{
		{"root", testGUN, ""}, // root keys are global, as in notary's key store
		{"targets", testGUN, testGUN},
		{"targets/releases", testGUN, ""},
	} {
		priv, info, err := v.Generate(ctx, tc.role, tc.gun, testPass, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if info.ID != priv.ID() || info.Role != tc.role || info.GUN != tc.wantGUN || info.Algorithm != "ECDSA P-256" {
			t.Fatalf("Generate(%s) = %+v (key %s)", tc.role, info, priv.ID())
		}
		if err := checkPair(priv); err != nil {
			t.Fatal(err)
		}
		name, file, err := v.Export(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(file)
		if name != info.ID+".key" || b.Type != "ENCRYPTED PRIVATE KEY" || b.Headers["role"] != tc.role || b.Headers["gun"] != tc.wantGUN {
			t.Fatalf("exported %s: %q", name, file)
		}
		if k, err := utils.ParsePEMPrivateKey(file, testPass); err != nil || k.ID() != priv.ID() {
			t.Fatalf("exported file decrypts to %v, %v", k, err)
		}
		if k, err := v.Unlock(ctx, info.ID, testPass); err != nil || k.ID() != priv.ID() {
			t.Fatalf("Unlock = %v, %v", k, err)
		}
	}
}

func TestUnlock(t *testing.T) {
	ctx := context.Background()
	v, env := newTestVault(t)
	key := newECDSA(t)
	if _, err := v.Import(ctx, pkcs8File(t, key, "targets", testGUN, testPass), testPass, "alice"); err != nil {
		t.Fatal(err)
	}

	missing := strings.Repeat("ab", 32)
	_, err := v.Unlock(ctx, missing, testPass)
	wantErr(t, err, errs.Conflict, "key_not_in_vault", missing, missing+".key")

	_, err = v.Unlock(ctx, key.ID(), "nope")
	wantErr(t, err, errs.Invalid, "wrong_passphrase", key.ID())
	_, err = v.Unlock(ctx, key.ID(), "")
	wantErr(t, err, errs.Invalid, "passphrase_required", key.ID())

	// A sealed file moved to another key's row does not open.
	row, err := env.st.GetVaultKey(ctx, key.ID())
	if err != nil {
		t.Fatal(err)
	}
	row.KeyID = missing
	if err := env.st.InsertVaultKey(ctx, *row); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Unlock(ctx, missing, testPass); err == nil || errs.KindOf(err) != errs.Internal {
		t.Fatalf("moved key: got %v, want an internal error", err)
	}
	if _, _, err := v.Export(ctx, missing); err == nil {
		t.Fatal("moved key exported")
	}

	// Unlocking concurrently is safe and gives independent keys.
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			k, err := v.Unlock(ctx, key.ID(), testPass)
			if err == nil {
				err = checkPair(k)
			}
			errc <- err
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestListGetDeleteFind(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t)
	other := "registry.example.com:5000/team/other"
	imp := func(role, gun string) string {
		t.Helper()
		k := newECDSA(t)
		if _, err := v.Import(ctx, pkcs8File(t, k, role, gun, testPass), testPass, "alice"); err != nil {
			t.Fatal(err)
		}
		return k.ID()
	}
	root := imp("root", "")
	targets := imp("targets", testGUN)
	otherTargets := imp("targets", other)
	signer := imp("alice", "")
	nested := imp("targets/bob", "")

	all, err := v.List(ctx, "")
	if err != nil || len(all) != 5 {
		t.Fatalf("List(all) = %v, %v", all, err)
	}
	mine, err := v.List(ctx, testGUN)
	if err != nil || len(mine) != 1 || mine[0].ID != targets {
		t.Fatalf("List(gun) = %+v, %v", mine, err)
	}
	if info, err := v.Get(ctx, signer); err != nil || info.Role != "alice" || !info.Global() {
		t.Fatalf("Get = %+v, %v", info, err)
	}
	_, err = v.Get(ctx, "nope")
	wantErr(t, err, errs.NotFound, "key_not_found", "nope")

	unknown := strings.Repeat("cd", 32)
	for _, tc := range []struct {
		name, role string
		ids        []string
		want       string
	}{
		{"root is global", "root", []string{unknown, root}, root},
		{"targets of this GUN first", "targets", []string{otherTargets, targets}, targets},
		{"a listed key of another GUN still signs", "targets", []string{unknown, otherTargets}, otherTargets},
		{"bare signer name matches its delegation", "targets/alice", []string{signer}, signer},
		{"role match preferred", "targets/bob", []string{signer, nested}, nested},
		{"first listed among equals", "targets/releases", []string{nested, signer}, nested},
	} {
		info, err := v.FindForRole(ctx, testGUN, tc.role, tc.ids)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if info.ID != tc.want {
			t.Errorf("%s: FindForRole = %s, want %s", tc.name, info.ID, tc.want)
		}
	}
	_, err = v.FindForRole(ctx, testGUN, "targets", []string{unknown})
	wantErr(t, err, errs.Conflict, "key_not_in_vault", unknown)
	other2 := strings.Repeat("ef", 32)
	_, err = v.FindForRole(ctx, testGUN, "targets", []string{unknown, other2})
	wantErr(t, err, errs.Conflict, "key_not_in_vault", unknown, other2, testGUN)
	_, err = v.FindForRole(ctx, testGUN, "targets", nil)
	wantErr(t, err, errs.Conflict, "key_not_in_vault")

	if err := v.Delete(ctx, targets); err != nil {
		t.Fatal(err)
	}
	wantErr(t, v.Delete(ctx, targets), errs.NotFound, "key_not_found", targets)
	_, err = v.Unlock(ctx, targets, testPass)
	wantErr(t, err, errs.Conflict, "key_not_in_vault", targets)
	_, _, err = v.Export(ctx, targets)
	wantErr(t, err, errs.NotFound, "key_not_found")
}

func TestPeekGUN(t *testing.T) {
	key := newECDSA(t)
	for _, tc := range []struct {
		name string
		file []byte
		gun  string
		code string
	}{
		{"targets", pkcs8File(t, key, "targets", testGUN, testPass), testGUN, ""},
		{"root is global", pkcs8File(t, key, "root", testGUN, testPass), "", ""},
		{"signer is global", pkcs8File(t, key, "alice", "", testPass), "", ""},
		{"unencrypted", pkcs8File(t, key, "targets", testGUN, ""), "", "key_not_encrypted"},
		{"no role", pkcs8File(t, key, "", testGUN, testPass), "", "no_role"},
		{"targets without gun", pkcs8File(t, key, "targets", "", testPass), "", "no_gun"},
		{"garbage", []byte("x"), "", "not_pem"},
	} {
		gun, err := PeekGUN(tc.file)
		if tc.code != "" {
			wantErr(t, err, errs.Invalid, tc.code)
			continue
		}
		if err != nil || gun != tc.gun {
			t.Errorf("%s: PeekGUN = %q, %v; want %q", tc.name, gun, err, tc.gun)
		}
	}
}

func TestParseOneOff(t *testing.T) {
	key := newECDSA(t)
	enc := pkcs8File(t, key, "targets/alice", "", testPass)

	priv, role, err := ParseOneOff(enc, testPass)
	if err != nil || priv.ID() != key.ID() || role != "targets/alice" {
		t.Fatalf("ParseOneOff = %v, %q, %v", priv, role, err)
	}
	priv, role, err = ParseOneOff(pkcs8File(t, key, "", "", ""), "")
	if err != nil || priv.ID() != key.ID() || role != "" {
		t.Fatalf("unencrypted: %v, %q, %v", priv, role, err)
	}
	_, _, err = ParseOneOff(enc, "wrong")
	wantErr(t, err, errs.Invalid, "wrong_passphrase")
	_, _, err = ParseOneOff(enc, "")
	wantErr(t, err, errs.Invalid, "passphrase_required")
	_, _, err = ParseOneOff([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "")
	wantErr(t, err, errs.Invalid, "not_private_key")
}

func TestVaultNoPlaintextOnDisk(t *testing.T) {
	ctx := context.Background()
	v, env := newTestVault(t)
	var secretsInClear [][]byte
	for i := range 3 {
		key := newECDSA(t)
		pass := testPass + string(rune('a'+i))
		file := pkcs8File(t, key, "targets", testGUN, pass)
		if _, err := v.Import(ctx, file, pass, "alice"); err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(file)
		secretsInClear = append(secretsInClear,
			[]byte(pass),
			file,          // the key file itself, although encrypted
			blk.Bytes,     // its encrypted DER
			file[40:100],  // a line of its base64 body
			key.Private(), // the decrypted key
			mustECDSA(t, key).D.FillBytes(make([]byte, 32)), // the private scalar
		)
	}
	priv, _, err := v.Generate(ctx, "root", "", testPass, "alice")
	if err != nil {
		t.Fatal(err)
	}
	secretsInClear = append(secretsInClear, priv.Private(), mustECDSA(t, priv).D.FillBytes(make([]byte, 32)),
		[]byte("PRIVATE KEY"), []byte(testPass))

	check := func(when string) {
		files := env.dbFiles(t)
		if len(files) == 0 {
			t.Fatal("no database files")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range secretsInClear {
				if bytes.Contains(b, s) {
					t.Errorf("%s: %s contains secret #%d in clear", when, filepath.Base(f), i)
				}
			}
		}
	}
	check("while open")
	env.st.Close()
	check("after close")
}

func mustECDSA(t testing.TB, k data.PrivateKey) *ecdsa.PrivateKey {
	t.Helper()
	ec, err := x509.ParseECPrivateKey(k.Private())
	if err != nil {
		t.Fatal(err)
	}
	if ec.Curve != elliptic.P256() {
		t.Fatal("not P-256")
	}
	return ec
}
