package vault

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// keyFileSeeds are key files as docker and older notary versions write
// them, and the near misses people upload instead, each with the passphrase
// that opens it (or a wrong one).
func keyFileSeeds(tb testing.TB) []struct {
	file []byte
	pass string
} {
	tb.Helper()
	key := newECDSA(tb)
	ed, err := utils.GenerateED25519Key(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	targets := pkcs8File(tb, key, "targets", testGUN, testPass)
	der, err := x509.MarshalECPrivateKey(mustECDSA(tb, key))
	if err != nil {
		tb.Fatal(err)
	}
	return []struct {
		file []byte
		pass string
	}{
		{targets, testPass},
		{targets, "wrong"},
		{targets, ""},
		{pkcs8File(tb, key, "root", "", testPass), testPass},
		{pkcs8File(tb, key, "alice", "", testPass), testPass},
		{pkcs8File(tb, key, "targets/releases", "", testPass), testPass},
		{pkcs8File(tb, key, "snapshot", testGUN, testPass), testPass},
		{pkcs8File(tb, ed, "targets/bob", "", testPass), testPass},
		{legacyFile(tb, key, "targets", testGUN, testPass), testPass},
		{pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"role": "root"}, Bytes: der}), ""},
		{pkcs8File(tb, key, "targets", testGUN, ""), ""},
		{pkcs8File(tb, key, "", testGUN, testPass), testPass},
		{pkcs8File(tb, key, "targets", "", testPass), testPass},
		{pkcs8File(tb, key, "Not A Role", "", testPass), testPass},
		{withIterations(tb, targets, 1<<31-1), testPass},
		{append(append([]byte{}, targets...), targets...), testPass},
		{pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: data.PublicKeyFromPrivate(key).Public()}), ""},
		{[]byte("hello"), ""},
	}
}

// addKeyFileSeeds adds every seed file as it is, and its DER wrapped again
// (see fuzzKeyFile).
func addKeyFileSeeds(f *testing.F, withPass bool) {
	for _, s := range keyFileSeeds(f) {
		blk, _ := pem.Decode(s.file)
		if withPass {
			f.Add(s.file, s.pass, "")
			if blk != nil {
				f.Add(blk.Bytes, s.pass, blk.Type)
			}
		} else {
			f.Add(s.file, "")
			if blk != nil {
				f.Add(blk.Bytes, blk.Type)
			}
		}
	}
}

// fuzzKeyFile is the key file a fuzz input stands for: the input itself,
// or, when wrap names a PEM type, the input as the DER of such a block with
// the headers of a targets key. Fuzzing the DER reaches the ASN.1 and the
// decryption far better than mutating its base64.
func fuzzKeyFile(in []byte, wrap string) []byte {
	if wrap == "" {
		return in
	}
	return pem.EncodeToMemory(&pem.Block{Type: wrap, Headers: map[string]string{"role": "targets", "gun": testGUN}, Bytes: in})
}

// wantRefusal fails unless err is a 4xx domain error.
func wantRefusal(t *testing.T, err error, what string) *errs.Error {
	t.Helper()
	e, ok := errs.As(err)
	if !ok || (e.Kind != errs.Invalid && e.Kind != errs.TooLarge) {
		t.Fatalf("%s refused with %v (%T), want errs.Invalid or TooLarge", what, err, err)
	}
	return e
}

func FuzzPeekGUN(f *testing.F) {
	addKeyFileSeeds(f, false)
	f.Fuzz(func(t *testing.T, in []byte, wrap string) {
		file := fuzzKeyFile(in, wrap)
		gun, err := PeekGUN(file)
		if err != nil {
			wantRefusal(t, err, "PeekGUN")
			return
		}
		// One encrypted private key with a role, and the GUN of its header
		// when the role belongs to one repository.
		blk, rest := pem.Decode(file)
		if blk == nil {
			t.Fatalf("PeekGUN accepted %q", file)
		}
		if next, _ := pem.Decode(rest); next != nil {
			t.Fatalf("PeekGUN accepted a file of several blocks")
		}
		role := data.RoleName(blk.Headers["role"])
		if role == "" {
			t.Fatalf("PeekGUN accepted a key without a role")
		}
		switch role {
		case data.CanonicalTargetsRole, data.CanonicalSnapshotRole, data.CanonicalTimestampRole:
			if gun == "" || gun != blk.Headers["gun"] {
				t.Fatalf("PeekGUN = %q for a %s key of %q", gun, role, blk.Headers["gun"])
			}
		default:
			if gun != "" {
				t.Fatalf("PeekGUN = %q for the global %s key", gun, role)
			}
		}
		if n, ok := pbkdf2Iterations(blk.Bytes); blk.Type == "ENCRYPTED PRIVATE KEY" && ok && n > MaxKeyIterations {
			t.Fatalf("PeekGUN accepted %d iterations", n)
		}
		// Encrypted it is: without a passphrase nothing opens it.
		_, _, err = ParseOneOff(file, "")
		if e := wantRefusal(t, err, "ParseOneOff without a passphrase"); e.Code != "passphrase_required" {
			t.Fatalf("PeekGUN accepts the file, ParseOneOff without a passphrase answers %v", err)
		}
	})
}

// FuzzImport imports key files into a real vault. Import refuses whatever
// PeekGUN refuses, the same way; what it stores opens again with the same
// passphrase, to the same key, and leaves the vault as it was once deleted.
func FuzzImport(f *testing.F) {
	ctx := context.Background()
	v, _ := newTestVault(f)
	addKeyFileSeeds(f, true)
	f.Fuzz(func(t *testing.T, in []byte, passphrase, wrap string) {
		file := fuzzKeyFile(in, wrap)
		gun, perr := PeekGUN(file)
		info, err := v.Import(ctx, file, passphrase, "fuzz")
		if err != nil {
			e := wantRefusal(t, err, "Import")
			if perr != nil && wantRefusal(t, perr, "PeekGUN").Code != e.Code {
				t.Fatalf("PeekGUN refuses with %v, Import with %v", perr, err)
			}
			return
		}
		defer func() {
			if err := v.Delete(ctx, info.ID); err != nil {
				t.Fatal(err)
			}
		}()
		if perr != nil || gun != info.GUN {
			t.Fatalf("Import stored %+v; PeekGUN says %q, %v", info, gun, perr)
		}
		priv, role, err := ParseOneOff(file, passphrase)
		if err != nil || role != info.Role {
			t.Fatalf("Import stored %+v; ParseOneOff answers role %q, %v", info, role, err)
		}
		if id, err := canonicalID(priv); err != nil || id != info.ID {
			t.Fatalf("Import stored key %s; ParseOneOff reads %s, %v", info.ID, id, err)
		}
		unlocked, err := v.Unlock(ctx, info.ID, passphrase)
		if err != nil || unlocked.ID() != priv.ID() {
			t.Fatalf("stored key %s does not unlock with its passphrase: %v", info.ID, err)
		}
		_, exported, err := v.Export(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g, err := PeekGUN(exported); err != nil || g != info.GUN {
			t.Fatalf("the exported file is for %q (%v), the key for %q", g, err, info.GUN)
		}
		if blk, _ := pem.Decode(exported); blk == nil || blk.Type != "ENCRYPTED PRIVATE KEY" || blk.Headers["role"] != info.Role {
			t.Fatalf("exported %q", exported)
		}
	})
}
