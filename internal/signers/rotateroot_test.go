package signers

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
)

const newRootPass = "new-root-passphrase"

// setRootExpiry signs root of gun again, unchanged but for its expiry, with
// the root key, as a notary CLI holding it would: a root nearing its expiry.
func (e *env) setRootExpiry(gun string, rootKey data.PrivateKey, expires time.Time) {
	e.t.Helper()
	repo := e.load(gun)
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("")))
	if err := cs.AddKey(data.CanonicalRootRole, data.GUN(gun), rootKey); err != nil {
		e.t.Fatal(err)
	}
	b := tuf.NewRepoBuilder(data.GUN(gun), cs, trustpinning.TrustPinConfig{})
	for _, name := range []string{trust.RoleRoot, trust.RoleTimestamp, trust.RoleSnapshot, trust.RoleTargets} {
		if err := b.Load(data.RoleName(name), repo.Role(name).Raw, 1, false); err != nil {
			e.t.Fatalf("load %s: %v", name, err)
		}
	}
	tr, _, err := b.Finish()
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := tr.SignRoot(expires, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := canonicaljson.Marshal(s)
	if err != nil {
		e.t.Fatal(err)
	}
	remote, err := e.remote(gun)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := remote.SetMulti(map[string][]byte{trust.RoleRoot: raw}); err != nil {
		e.t.Fatalf("publish root with expiry %v: %v", expires, err)
	}
	e.reader.Invalidate(gun)
}

// rootFile parses a root.json.
func rootFile(t *testing.T, raw []byte) (*data.Signed, *data.SignedRoot) {
	t.Helper()
	var s data.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	root, err := data.RootFromSigned(&s)
	if err != nil {
		t.Fatal(err)
	}
	return &s, root
}

// signedBy checks that raw (root.json) carries a valid signature of key.
func signedBy(t *testing.T, raw []byte, key data.PublicKey) bool {
	t.Helper()
	s, _ := rootFile(t, raw)
	role := data.NewBaseRole(data.CanonicalRootRole, 1, key)
	return signed.VerifySignatures(s, role) == nil
}

func (e *env) changes(gun string) int {
	e.t.Helper()
	ch, err := e.st.TUF().GetChanges("0", 1000, gun)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(ch)
}

func (e *env) vaultKeys() []string {
	e.t.Helper()
	all, err := e.vault.List(e.ctx, "")
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]string, len(all))
	for i, k := range all {
		ids[i] = k.ID
	}
	return ids
}

func TestRotateRoot(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/rotate"
	init := e.initialise(gun)
	alice := newSigner(t, "alice", true)
	e.addSigner(gun, alice)
	e.mustSign(gun, alice, "v1", "content v1")

	// A root made long ago: it expires within six months, so trustdeck's
	// changes (repository key only) are refused.
	oldRoot, err := e.vault.Unlock(e.ctx, init.RootKeyID, rootPass)
	if err != nil {
		t.Fatal(err)
	}
	e.setRootExpiry(gun, oldRoot, time.Now().Add(90*24*time.Hour))
	_, err = e.svc.AddSigner(e.ctx, gun, "bob", newSigner(t, "bob", false).pub, RepoKey{Passphrase: repoPass}, "admin")
	wantErr(t, err, errs.Conflict, "root_expiring")

	// Clients that trusted the old root: trustdeck's reader and a notary
	// client (its TOFU cache holds the old root).
	oldReader := trust.NewReader(e.remote)
	before, err := oldReader.Load(e.ctx, gun)
	if err != nil {
		t.Fatal(err)
	}
	pinned, _ := e.client(gun, nil)
	if ts, err := pinned.ListTargets(); err != nil || len(ts) != 1 {
		t.Fatalf("notary client before rotation: %d targets, %v", len(ts), err)
	}
	oldRaw := before.Role(trust.RoleRoot).Raw
	_, oldRootFile := rootFile(t, oldRaw)
	oldCert := oldRootFile.Signed.Keys[init.RootCertificateID]
	if oldCert == nil {
		t.Fatalf("root.json lists no key %s", init.RootCertificateID)
	}

	plan, err := e.svc.PlanRotateRoot(e.ctx, gun)
	if err != nil {
		t.Fatal(err)
	}
	if plan.VaultKeyID != init.RootKeyID || !slices.Equal(plan.KeyIDs, []string{init.RootKeyID}) ||
		!slices.Equal(plan.CertificateIDs, []string{init.RootCertificateID}) {
		t.Errorf("plan %+v, want the vault's root key %s (certificate %s)", plan, init.RootKeyID, init.RootCertificateID)
	}

	start := time.Now()
	rot, err := e.svc.RotateRoot(e.ctx, gun, RootKey{Passphrase: rootPass}, newRootPass, "admin")
	if err != nil {
		t.Fatalf("rotate root: %v", err)
	}
	end := time.Now()

	if rot.Version != before.Role(trust.RoleRoot).Version+1 || rot.PreviousVersion != before.Role(trust.RoleRoot).Version {
		t.Errorf("root version %d → %d, want %d → %d", rot.PreviousVersion, rot.Version,
			before.Role(trust.RoleRoot).Version, before.Role(trust.RoleRoot).Version+1)
	}
	if rot.KeyID == "" || rot.KeyID == init.RootKeyID || rot.CertificateID == "" || rot.CertificateID == init.RootCertificateID {
		t.Errorf("new root key %s (certificate %s), old %s (%s)", rot.KeyID, rot.CertificateID, init.RootKeyID, init.RootCertificateID)
	}
	if !slices.Equal(rot.PreviousKeyIDs, []string{init.RootKeyID}) || !slices.Equal(rot.PreviousCertificateIDs, []string{init.RootCertificateID}) {
		t.Errorf("previous keys %v / %v", rot.PreviousKeyIDs, rot.PreviousCertificateIDs)
	}
	within(t, "root expiry", rot.Expires, start.Add(RootValidity).Add(-time.Minute), end.Add(RootValidity).Add(time.Minute))
	within(t, "certificate expiry", rot.CertificateExpires, start.Add(RootValidity).Add(-time.Minute), end.Add(RootValidity).Add(time.Minute))

	// What a fresh reader sees.
	after := e.load(gun)
	if len(after.RootKeys) != 1 || after.RootKeys[0].ID != rot.KeyID || after.RootKeys[0].TUFID != rot.CertificateID ||
		!after.RootKeys[0].Certificate || after.RootKeys[0].Subject != gun {
		t.Errorf("root keys after rotation: %+v, want only certificate %s of key %s for %s", after.RootKeys, rot.CertificateID, rot.KeyID, gun)
	}
	if after.RootReplaced {
		t.Error("a fresh reader reports the root replaced")
	}
	newRaw := after.Role(trust.RoleRoot).Raw
	_, newRootFile := rootFile(t, newRaw)
	newCert := newRootFile.Signed.Keys[rot.CertificateID]
	if newCert == nil {
		t.Fatalf("new root.json lists no key %s", rot.CertificateID)
	}
	if !signedBy(t, newRaw, oldCert) || !signedBy(t, newRaw, newCert) {
		t.Errorf("new root.json signed by old key: %v, by new key: %v; want both",
			signedBy(t, newRaw, oldCert), signedBy(t, newRaw, newCert))
	}

	// Unchanged: targets and the delegations, byte for byte.
	for _, role := range []string{trust.RoleTargets, trust.RoleReleases, "targets/alice"} {
		if !bytes.Equal(before.Role(role).Raw, after.Role(role).Raw) {
			t.Errorf("%s changed by the root rotation", role)
		}
	}
	if got := signerKeys(after, "alice"); !slices.Equal(got, signerKeys(before, "alice")) {
		t.Errorf("alice's keys %v, were %v", got, signerKeys(before, "alice"))
	}

	// The reader that trusted the old root accepts the new one (it is
	// cross-signed), and so does notary's client with the old root cached.
	oldReader.Invalidate(gun)
	reloaded, err := oldReader.Load(e.ctx, gun)
	if err != nil {
		t.Fatalf("reader that trusted the old root: %v", err)
	}
	if reloaded.RootReplaced || reloaded.Role(trust.RoleRoot).Version != rot.Version {
		t.Errorf("reader that trusted the old root: replaced %v, root version %d", reloaded.RootReplaced, reloaded.Role(trust.RoleRoot).Version)
	}
	ts, err := pinned.ListTargets()
	if err != nil || len(ts) != 1 || ts[0].Name != "v1" {
		t.Fatalf("notary client that trusted the old root: %v, %v", ts, err)
	}

	// The vault: the new key, global, under the new passphrase; the old kept.
	info, err := e.vault.Get(e.ctx, rot.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Global() || info.Role != "root" {
		t.Errorf("new key in the vault: %+v, want a global root key", info)
	}
	if _, err := e.vault.Unlock(e.ctx, rot.KeyID, newRootPass); err != nil {
		t.Errorf("unlock the new root key: %v", err)
	}
	if _, err := e.vault.Get(e.ctx, init.RootKeyID); err != nil {
		t.Errorf("old root key: %v", err)
	}

	// trustdeck's changes work again, and signers still sign.
	bob := newSigner(t, "bob", false)
	e.addSigner(gun, bob)
	e.mustSign(gun, alice, "v2", "content v2")
	if ts, err := pinned.ListTargets(); err != nil || len(ts) != 2 {
		t.Errorf("notary client after new changes: %d targets, %v", len(ts), err)
	}

	// And the new root key can rotate again.
	rot2, err := e.svc.RotateRoot(e.ctx, gun, RootKey{Passphrase: newRootPass}, "third-root-passphrase", "admin")
	if err != nil {
		t.Fatalf("rotate again: %v", err)
	}
	if rot2.Version != rot.Version+1 || !slices.Equal(rot2.PreviousKeyIDs, []string{rot.KeyID}) {
		t.Errorf("second rotation %+v", rot2)
	}
	if ts, err := pinned.ListTargets(); err != nil || len(ts) != 2 {
		t.Errorf("notary client after the second rotation: %d targets, %v", len(ts), err)
	}
}

func TestRotateRootRefusalsChangeNothing(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/rotaterefuse"

	_, err := e.svc.RotateRoot(e.ctx, gun, RootKey{Passphrase: rootPass}, newRootPass, "admin")
	wantErr(t, err, errs.Conflict, "no_trust_data")

	init := e.initialise(gun)
	changes, keys := e.changes(gun), e.vaultKeys()
	unchanged := func(what string) {
		t.Helper()
		if got := e.changes(gun); got != changes {
			t.Errorf("%s: %d changes, want %d", what, got, changes)
		}
		if got := e.vaultKeys(); !slices.Equal(got, keys) {
			t.Errorf("%s: vault keys %v, want %v", what, got, keys)
		}
	}

	_, err = e.svc.RotateRoot(e.ctx, gun, RootKey{Passphrase: rootPass}, "short", "admin")
	wantErr(t, err, errs.Invalid, "passphrase_too_short")
	unchanged("weak new passphrase")

	_, err = e.svc.RotateRoot(e.ctx, gun, RootKey{Passphrase: "not-the-root-passphrase"}, newRootPass, "admin")
	wantErr(t, err, errs.Invalid, "wrong_passphrase")
	unchanged("wrong passphrase")

	_, err = e.svc.RotateRoot(e.ctx, gun, RootKey{Passphrase: repoPass}, newRootPass, "admin")
	wantErr(t, err, errs.Invalid, "wrong_passphrase")
	unchanged("repository passphrase")

	// A one-off key that is not the root key.
	_, targetsPEM, err := e.vault.Export(e.ctx, init.RepositoryKeyID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.RotateRoot(e.ctx, gun, RootKey{Passphrase: repoPass, OneOffPEM: targetsPEM}, newRootPass, "admin")
	wantErr(t, err, errs.Invalid, "not_root_key")
	unchanged("not the root key")

	// The root key not in the vault.
	_, rootPEM, err := e.vault.Export(e.ctx, init.RootKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.vault.Delete(e.ctx, init.RootKeyID); err != nil {
		t.Fatal(err)
	}
	keys = e.vaultKeys()
	plan, err := e.svc.PlanRotateRoot(e.ctx, gun)
	if err != nil || plan.VaultKeyID != "" {
		t.Errorf("plan without the root key: %+v, %v", plan, err)
	}
	_, err = e.svc.RotateRoot(e.ctx, gun, RootKey{Passphrase: rootPass}, newRootPass, "admin")
	de := wantErr(t, err, errs.Conflict, "key_not_in_vault")
	if !strings.Contains(de.Message, init.RootKeyID) {
		t.Errorf("message %q should name the root key %s", de.Message, init.RootKeyID)
	}
	unchanged("root key not in the vault")

	// Given once, it rotates (and the new key goes into the vault).
	rot, err := e.svc.RotateRoot(e.ctx, gun, RootKey{Passphrase: rootPass, OneOffPEM: rootPEM}, newRootPass, "admin")
	if err != nil {
		t.Fatalf("rotate with a one-off root key: %v", err)
	}
	if _, err := e.vault.Get(e.ctx, rot.KeyID); err != nil {
		t.Errorf("new root key: %v", err)
	}
	if _, err := e.vault.Get(e.ctx, init.RootKeyID); err == nil {
		t.Error("the one-off root key was stored")
	}
}
