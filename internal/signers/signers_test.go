package signers

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/trust"
)

func TestInitialiseThenInspect(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/app"
	res := e.initialise(gun)

	repo := e.load(gun)
	if len(repo.RootKeys) != 1 || len(repo.TargetsKeys) != 1 {
		t.Fatalf("root keys %v, targets keys %v", repo.RootKeys, repo.TargetsKeys)
	}
	if k := repo.RootKeys[0]; k.ID != res.RootKeyID || k.TUFID != res.RootCertificateID || !k.Certificate || k.Subject != gun {
		t.Fatalf("root key %+v, result %+v", k, res)
	}
	if k := repo.TargetsKeys[0]; k.ID != res.RepositoryKeyID {
		t.Fatalf("targets key %+v, result %+v", k, res)
	}
	got := repo.Inspect(gun, "")
	want := []trust.InspectSigner{
		{Name: "Root", Keys: []trust.InspectKey{{ID: res.RootCertificateID}}},
		{Name: "Repository", Keys: []trust.InspectKey{{ID: res.RepositoryKeyID}}},
	}
	if fmt.Sprint(got.AdministrativeKeys) != fmt.Sprint(want) || len(got.SignedTags) != 0 || len(got.Signers) != 0 {
		t.Fatalf("inspect %+v", got)
	}
	// The snapshot and timestamp are the server's (notary's client signs
	// targets twice on a first publish: version 2).
	for _, r := range []string{trust.RoleRoot, trust.RoleTargets, trust.RoleSnapshot, trust.RoleTimestamp} {
		if m := repo.Role(r); m == nil {
			t.Fatalf("role %s missing", r)
		}
	}
	if v := repo.Role(trust.RoleRoot).Version; v != 1 {
		t.Fatalf("root version %d", v)
	}

	// Both keys are in the vault, under the admin's passphrases.
	for id, pass := range map[string]string{res.RootKeyID: rootPass, res.RepositoryKeyID: repoPass} {
		if _, err := e.vault.Unlock(e.ctx, id, pass); err != nil {
			t.Fatalf("unlock %s: %v", id, err)
		}
	}
	info, err := e.vault.Get(e.ctx, res.RepositoryKeyID)
	if err != nil || info.Role != "targets" || info.GUN != gun || info.CreatedBy != "admin" {
		t.Fatalf("vault info %+v, %v", info, err)
	}

	// Once only.
	before := e.versions(gun)
	_, err = e.svc.Initialise(e.ctx, gun, rootPass, repoPass, "admin")
	wantErr(t, err, errs.Conflict, "trust_data_exists")
	if after := e.versions(gun); !maps.Equal(before, after) {
		t.Fatalf("versions changed: %v → %v", before, after)
	}
	keysBefore, _ := e.vault.List(e.ctx, "")
	_, err = e.svc.Initialise(e.ctx, "reg.test/team/other", "short", repoPass, "admin")
	wantErr(t, err, errs.Invalid, "passphrase_too_short")
	if keysAfter, _ := e.vault.List(e.ctx, ""); len(keysAfter) != len(keysBefore) {
		t.Fatalf("a refused initialisation left keys: %d → %d", len(keysBefore), len(keysAfter))
	}
}

func TestAddSignerFromCertificate(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/app"
	e.initialise(gun)
	jeff := newSigner(t, "jeff", true)
	e.addSigner(gun, jeff)

	repo := e.load(gun)
	signers := repo.Signers()
	if len(signers) != 1 || signers[0].Name != "jeff" || len(signers[0].Keys) != 1 {
		t.Fatalf("signers %+v", signers)
	}
	k := signers[0].Keys[0]
	if k.ID != jeff.pub.CanonicalID || k.ID != jeff.priv.ID() || !k.Certificate || k.Subject != "jeff" || !signers[0].CanRelease {
		t.Fatalf("jeff's key %+v (want canonical %s)", k, jeff.pub.CanonicalID)
	}
	if d := delegation(repo, trust.RoleReleases); d == nil || !slices.Equal(d.KeyIDs(), []string{jeff.pub.CanonicalID}) || !slices.Equal(d.Paths, []string{""}) {
		t.Fatalf("releases %+v", d)
	}
	if d := delegation(repo, "targets/jeff"); d == nil || !slices.Equal(d.Paths, []string{""}) || d.Threshold != 1 {
		t.Fatalf("targets/jeff %+v", d)
	}
	// docker's inspect lists jeff with the canonical ID.
	if got := repo.Inspect(gun, "").Signers; fmt.Sprint(got) != fmt.Sprint([]trust.InspectSigner{{Name: "jeff", Keys: []trust.InspectKey{{ID: jeff.pub.CanonicalID}}}}) {
		t.Fatalf("inspect signers %+v", got)
	}
	// The root key was not needed: root is unchanged.
	if v := repo.Role(trust.RoleRoot).Version; v != 1 {
		t.Fatalf("root version %d", v)
	}

	// jeff can release.
	e.mustSign(gun, jeff, "v1", "image-1")
	if got := tags(e.load(gun)); !slices.Equal(got, []string{"v1=jeff"}) {
		t.Fatalf("tags %v", got)
	}

	// A second key for jeff (a bare public key) is added to both roles.
	jeff2 := newSigner(t, "jeff", false)
	e.addSigner(gun, jeff2)
	repo = e.load(gun)
	want := []string{jeff.pub.CanonicalID, jeff2.pub.CanonicalID}
	slices.Sort(want)
	if got := signerKeys(repo, "jeff"); !slices.Equal(got, want) {
		t.Fatalf("jeff's keys %v, want %v", got, want)
	}
	rel := delegation(repo, trust.RoleReleases).KeyIDs()
	slices.Sort(rel)
	if !slices.Equal(rel, want) {
		t.Fatalf("releases keys %v, want %v", rel, want)
	}
	e.mustSign(gun, jeff2, "v2", "image-2")
	if got := tags(e.load(gun)); !slices.Equal(got, []string{"v1=jeff", "v2=jeff"}) {
		t.Fatalf("tags %v", got)
	}
}

func TestAddSignerRefusalsChangeNothing(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/app"
	res := e.initialise(gun)
	alice := newSigner(t, "alice", true)
	e.addSigner(gun, alice)
	jeff := newSigner(t, "jeff", true)

	// A one-off key that is not the repository key.
	stranger, _, err := e.vault.Generate(e.ctx, "targets", "reg.test/team/elsewhere", repoPass, "admin")
	if err != nil {
		t.Fatal(err)
	}
	strangerPEM, err := utils.ConvertPrivateKeyToPKCS8(stranger, "targets", "reg.test/team/elsewhere", repoPass)
	if err != nil {
		t.Fatal(err)
	}
	// The real repository key as a one-off file, wrong passphrase.
	targetsKey, err := e.vault.Unlock(e.ctx, res.RepositoryKeyID, repoPass)
	if err != nil {
		t.Fatal(err)
	}
	targetsPEM, err := utils.ConvertPrivateKeyToPKCS8(targetsKey, "targets", data.GUN(gun), "file-passphrase")
	if err != nil {
		t.Fatal(err)
	}

	rootPub := newSigner(t, "x", false)
	rootPub.pub.Key = data.PublicKeyFromPrivate(targetsKey) // the repository key as a signer key
	rootPub.pub.CanonicalID = targetsKey.ID()

	cases := []struct {
		name, signer string
		gun          string
		key          func() *signer
		rk           RepoKey
		kind         errs.Kind
		code         string
		mentions     string
	}{
		{name: "uppercase", signer: "Jeff", kind: errs.Invalid, code: "invalid_name"},
		{name: "leading dash", signer: "-jeff", kind: errs.Invalid, code: "invalid_name"},
		{name: "nested", signer: "jeff/ci", kind: errs.Invalid, code: "invalid_name"},
		{name: "empty", signer: "", kind: errs.Invalid, code: "invalid_name"},
		{name: "dot", signer: "j.eff", kind: errs.Invalid, code: "invalid_name"},
		{name: "reserved", signer: "releases", kind: errs.Invalid, code: "reserved_name"},
		{name: "no trust data", signer: "jeff", gun: "reg.test/team/empty", kind: errs.Conflict, code: "no_trust_data", mentions: "Initialise"},
		{name: "key of another signer", signer: "jeff", key: func() *signer { return alice }, kind: errs.Conflict, code: "key_in_use", mentions: "alice"},
		{name: "repository key as signer key", signer: "jeff", key: func() *signer { return rootPub }, kind: errs.Conflict, code: "key_in_use"},
		{name: "wrong passphrase", signer: "jeff", rk: RepoKey{Passphrase: "wrong-passphrase"}, kind: errs.Invalid, code: "wrong_passphrase"},
		{name: "no passphrase", signer: "jeff", rk: RepoKey{}, kind: errs.Invalid, code: "passphrase_required"},
		{name: "one-off key not the repository key", signer: "jeff", rk: RepoKey{Passphrase: repoPass, OneOffPEM: strangerPEM},
			kind: errs.Invalid, code: "not_repository_key", mentions: stranger.ID()},
		{name: "one-off wrong passphrase", signer: "jeff", rk: RepoKey{Passphrase: repoPass, OneOffPEM: targetsPEM},
			kind: errs.Invalid, code: "wrong_passphrase"},
	}
	before := e.versions(gun)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := gun
			if c.gun != "" {
				g = c.gun
			}
			s := jeff
			if c.key != nil {
				s = c.key()
			}
			rk := c.rk
			if rk.Passphrase == "" && rk.OneOffPEM == nil && c.code != "passphrase_required" {
				rk.Passphrase = repoPass
			}
			_, err := e.svc.AddSigner(e.ctx, g, c.signer, s.pub, rk, "admin")
			de := wantErr(t, err, c.kind, c.code)
			if c.mentions != "" && !strings.Contains(de.Message, c.mentions) {
				t.Fatalf("message %q does not mention %q", de.Message, c.mentions)
			}
			if after := e.versions(gun); !maps.Equal(before, after) {
				t.Fatalf("versions changed: %v → %v", before, after)
			}
		})
	}
	if _, err := trust.NewReader(e.remote).Load(e.ctx, "reg.test/team/empty"); !errors.Is(err, trust.ErrNoTrustData) {
		t.Fatalf("the empty GUN was written: %v", err)
	}

	// A key the signer has already (a retry whose answer was lost, or a
	// repeated request) is no refusal: nothing is published.
	already, err := e.svc.AddSigner(e.ctx, gun, "alice", alice.pub, RepoKey{Passphrase: repoPass}, "admin")
	if err != nil || !already {
		t.Fatalf("adding alice's key to alice again: already %v, %v; want already, no error", already, err)
	}
	if after := e.versions(gun); !maps.Equal(before, after) {
		t.Fatalf("adding a key the signer has changed versions: %v → %v", before, after)
	}

	// The right one-off file works and is not stored.
	keysBefore, _ := e.vault.List(e.ctx, "")
	if _, err := e.svc.AddSigner(e.ctx, gun, "jeff", jeff.pub, RepoKey{Passphrase: "file-passphrase", OneOffPEM: targetsPEM}, "admin"); err != nil {
		t.Fatal(err)
	}
	if keysAfter, _ := e.vault.List(e.ctx, ""); len(keysAfter) != len(keysBefore) {
		t.Fatalf("the one-off key was stored")
	}
	if got := signerKeys(e.load(gun), "jeff"); !slices.Equal(got, []string{jeff.pub.CanonicalID}) {
		t.Fatalf("jeff's keys %v", got)
	}
}

func TestRevokeLastReleaseSignerNeedsConfirmation(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/app"
	e.initialise(gun)
	alice, jeff := newSigner(t, "alice", true), newSigner(t, "jeff", true)
	e.addSigner(gun, alice)
	e.addSigner(gun, jeff)
	e.mustSign(gun, jeff, "v1", "image-1") // releases.json is now signed by jeff's key only

	im, err := e.svc.Impact(e.ctx, gun, "jeff")
	if err != nil {
		t.Fatal(err)
	}
	if !im.RequiresConfirm || !im.ReleasesInvalid || !im.ReleasesReset ||
		!slices.Equal(im.Unpullable, []string{"v1"}) || len(im.LosesLastSigner) != 0 ||
		!slices.Equal(im.Keys, []string{jeff.pub.CanonicalID}) || !slices.Equal(im.ReleaseKeys, []string{jeff.pub.CanonicalID}) {
		t.Fatalf("impact %+v", im)
	}

	before := e.versions(gun)
	for _, confirm := range []string{"", "JEFF", "alice"} {
		got, err := e.svc.Revoke(e.ctx, gun, "jeff", RepoKey{Passphrase: repoPass}, confirm, "admin")
		de := wantErr(t, err, errs.Invalid, "confirm_required")
		if got == nil || !slices.Equal(got.Unpullable, []string{"v1"}) || !strings.Contains(de.Message, "v1") || !strings.Contains(de.Message, "unpullable") {
			t.Fatalf("impact %+v, message %q", got, de.Message)
		}
	}
	_, err = e.svc.Revoke(e.ctx, gun, "jeff", RepoKey{Passphrase: "wrong-passphrase"}, "jeff", "admin")
	wantErr(t, err, errs.Invalid, "wrong_passphrase")
	if after := e.versions(gun); !maps.Equal(before, after) {
		t.Fatalf("versions changed: %v → %v", before, after)
	}

	got, err := e.svc.Revoke(e.ctx, gun, "jeff", RepoKey{Passphrase: repoPass}, "jeff", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Unpullable, []string{"v1"}) {
		t.Fatalf("impact %+v", got)
	}
	repo := e.load(gun)
	if signerKeys(repo, "jeff") != nil || delegation(repo, "targets/jeff") != nil {
		t.Fatalf("jeff is still there: %+v", repo.Delegations)
	}
	// releases keeps alice's key and gains a retired one, which signed its
	// next version, empty.
	rel := delegation(repo, trust.RoleReleases)
	if rel == nil || len(rel.Keys) != 2 || rel.Keys[0].ID != alice.pub.CanonicalID || !IsRetiredKey(rel.Keys[1]) {
		t.Fatalf("releases %+v", rel)
	}
	if got := tags(repo); len(got) != 0 {
		t.Fatalf("v1 is still released: %v", got)
	}
	if slices.Contains(repo.SkippedRoles, trust.RoleReleases) {
		t.Fatalf("releases does not verify")
	}
	if v := repo.Role(trust.RoleRoot).Version; v != 1 {
		t.Fatalf("root version %d: the root key was used", v)
	}
	// The reader the service shares sees it at once.
	if r, err := e.reader.Load(e.ctx, gun); err != nil || delegation(r, "targets/jeff") != nil {
		t.Fatalf("shared reader: %v", err)
	}
	_, err = e.svc.Impact(e.ctx, gun, "jeff")
	wantErr(t, err, errs.NotFound, "signer_not_found")

	// alice can release again (docker's client would be refused: it would
	// start the unverifiable role afresh at version 1).
	e.mustSign(gun, alice, "v2", "image-2")
	if got := tags(e.load(gun)); !slices.Equal(got, []string{"v2=alice"}) {
		t.Fatalf("tags %v", got)
	}
	// The next signer change drops the retired key, no longer needed.
	bob := newSigner(t, "bob", false)
	e.addSigner(gun, bob)
	rel = delegation(e.load(gun), trust.RoleReleases)
	if ids := rel.KeyIDs(); !slices.Equal(ids, []string{alice.pub.CanonicalID, bob.pub.CanonicalID}) {
		t.Fatalf("releases keys %v", ids)
	}
	e.mustSign(gun, bob, "v3", "image-3")
	// A signer re-added under a removed name could not sign: refused.
	_, err = e.svc.AddSigner(e.ctx, gun, "jeff", newSigner(t, "jeff", true).pub, RepoKey{Passphrase: repoPass}, "admin")
	wantErr(t, err, errs.Conflict, "stale_signer_metadata")
}

func TestRevokeSignerWhoseTagsLoseTheirLastSigner(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/app"
	e.initialise(gun)
	alice, jeff := newSigner(t, "alice", true), newSigner(t, "jeff", false)
	e.addSigner(gun, alice)
	e.addSigner(gun, jeff)
	e.mustSign(gun, jeff, "v1", "image-1")
	e.mustSign(gun, jeff, "v3", "image-3")
	e.mustSign(gun, alice, "v3", "image-3") // v3 signed by both; releases unchanged
	e.mustSign(gun, alice, "v2", "image-2") // re-signs releases with alice's key alone
	if got := tags(e.load(gun)); !slices.Equal(got, []string{"v1=jeff", "v2=alice", "v3=alice,jeff"}) && !slices.Equal(got, []string{"v1=jeff", "v2=alice", "v3=jeff,alice"}) {
		t.Fatalf("tags %v", got)
	}

	im, err := e.svc.Impact(e.ctx, gun, "jeff")
	if err != nil {
		t.Fatal(err)
	}
	if !im.RequiresConfirm || im.ReleasesInvalid || im.ReleasesReset || len(im.Unpullable) != 0 ||
		!slices.Equal(im.LosesLastSigner, []string{"v1"}) {
		t.Fatalf("impact %+v", im)
	}
	_, err = e.svc.Revoke(e.ctx, gun, "jeff", RepoKey{Passphrase: repoPass}, "", "admin")
	wantErr(t, err, errs.Invalid, "confirm_required")
	if _, err := e.svc.Revoke(e.ctx, gun, "jeff", RepoKey{Passphrase: repoPass}, "jeff", "admin"); err != nil {
		t.Fatal(err)
	}
	repo := e.load(gun)
	if got := tags(repo); !slices.Equal(got, []string{"v1=" + trust.RepoAdmin, "v2=alice", "v3=alice"}) {
		t.Fatalf("tags %v", got)
	}
	if delegation(repo, "targets/jeff") != nil || !slices.Equal(delegation(repo, trust.RoleReleases).KeyIDs(), []string{alice.pub.CanonicalID}) {
		t.Fatalf("delegations %+v", repo.Delegations)
	}
	// alice still releases.
	e.mustSign(gun, alice, "v4", "image-4")
	if got := tags(e.load(gun)); !slices.Contains(got, "v4=alice") {
		t.Fatalf("tags %v", got)
	}
}

func TestRevokeLastSignerRemovesReleases(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/app"
	e.initialise(gun)
	jeff := newSigner(t, "jeff", true)
	e.addSigner(gun, jeff)

	// No tags: nothing to confirm.
	im, err := e.svc.Impact(e.ctx, gun, "jeff")
	if err != nil {
		t.Fatal(err)
	}
	if im.RequiresConfirm || im.ReleasesInvalid || im.ReleasesReset || len(im.Unpullable)+len(im.LosesLastSigner)+len(im.RevertsToTargets) != 0 {
		t.Fatalf("impact %+v", im)
	}
	if _, err := e.svc.Revoke(e.ctx, gun, "jeff", RepoKey{Passphrase: repoPass}, "", "admin"); err != nil {
		t.Fatal(err)
	}
	repo := e.load(gun)
	if len(repo.Delegations) != 0 || len(repo.Signers()) != 0 {
		t.Fatalf("delegations left: %+v", repo.Delegations)
	}

	// A new signer starts releases afresh.
	alice := newSigner(t, "alice", true)
	e.addSigner(gun, alice)
	e.mustSign(gun, alice, "v1", "image-1")
	if got := tags(e.load(gun)); !slices.Equal(got, []string{"v1=alice"}) {
		t.Fatalf("tags %v", got)
	}

	// Unknown and reserved names.
	_, err = e.svc.Impact(e.ctx, gun, "bob")
	wantErr(t, err, errs.NotFound, "signer_not_found")
	_, err = e.svc.Revoke(e.ctx, gun, "bob", RepoKey{Passphrase: repoPass}, "bob", "admin")
	wantErr(t, err, errs.NotFound, "signer_not_found")
	_, err = e.svc.Revoke(e.ctx, gun, "releases", RepoKey{Passphrase: repoPass}, "releases", "admin")
	wantErr(t, err, errs.Invalid, "reserved_name")
	_, err = e.svc.Impact(e.ctx, "reg.test/team/none", "alice")
	wantErr(t, err, errs.Conflict, "no_trust_data")
}

func TestRevokeWithTargetsFallback(t *testing.T) {
	// A tag the repository key also signed (docker trust sign as admin, or
	// the notary CLI) stays pullable from targets when releases stops
	// counting; with another digest there, the digest changes.
	e := newEnv(t)
	gun := "reg.test/team/app"
	res := e.initialise(gun)
	jeff := newSigner(t, "jeff", true)
	e.addSigner(gun, jeff)
	targetsKey, err := e.vault.Unlock(e.ctx, res.RepositoryKeyID, repoPass)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := e.client(gun, map[data.RoleName][]data.PrivateKey{data.CanonicalTargetsRole: {targetsKey}})
	for tag, content := range map[string]string{"same": "s", "other": "admin-version"} {
		if err := admin.AddTarget(target(t, tag, content), data.CanonicalTargetsRole); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.Publish(); err != nil {
		t.Fatal(err)
	}
	e.mustSign(gun, jeff, "same", "s")
	e.mustSign(gun, jeff, "other", "jeff-version")
	e.mustSign(gun, jeff, "only", "o")

	im, err := e.svc.Impact(e.ctx, gun, "jeff")
	if err != nil {
		t.Fatal(err)
	}
	if !im.ReleasesInvalid || !im.ReleasesReset || !slices.Equal(im.Unpullable, []string{"only"}) ||
		!slices.Equal(im.RevertsToTargets, []string{"other"}) || !slices.Equal(im.LosesLastSigner, []string{"same"}) || !im.RequiresConfirm {
		t.Fatalf("impact %+v", im)
	}
	if _, err := e.svc.Revoke(e.ctx, gun, "jeff", RepoKey{Passphrase: repoPass}, "jeff", "admin"); err != nil {
		t.Fatal(err)
	}
	if got := tags(e.load(gun)); !slices.Equal(got, []string{"other=" + trust.RepoAdmin, "same=" + trust.RepoAdmin}) {
		t.Fatalf("tags %v", got)
	}
}

// A repository initialised with the notary client library (docker or the
// notary CLI) whose keys live outside trustdeck: signers can be managed once
// the repository key alone is imported, or given once.
func TestRepositoryInitialisedElsewhere(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/cli"
	cli, cs := e.client(gun, nil)
	rootPub, err := cs.Create(data.CanonicalRootRole, data.GUN(gun), data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Initialize([]string{rootPub.ID()}, data.CanonicalSnapshotRole); err != nil {
		t.Fatal(err)
	}
	if err := cli.Publish(); err != nil {
		t.Fatal(err)
	}
	targetsIDs := cs.ListKeys(data.CanonicalTargetsRole)
	if len(targetsIDs) != 1 {
		t.Fatalf("targets keys %v", targetsIDs)
	}
	targetsKey, _, err := cs.GetPrivateKey(targetsIDs[0])
	if err != nil {
		t.Fatal(err)
	}

	jeff := newSigner(t, "jeff", true)
	before := e.versions(gun)
	_, err = e.svc.AddSigner(e.ctx, gun, "jeff", jeff.pub, RepoKey{Passphrase: repoPass}, "admin")
	de := wantErr(t, err, errs.Conflict, "key_not_in_vault")
	if !strings.Contains(de.Message, targetsKey.ID()) {
		t.Fatalf("message %q does not name the repository key %s", de.Message, targetsKey.ID())
	}
	if after := e.versions(gun); !maps.Equal(before, after) {
		t.Fatalf("versions changed: %v → %v", before, after)
	}

	// The key file as docker keeps it (~/.docker/trust/private/<id>.key).
	file, err := utils.ConvertPrivateKeyToPKCS8(targetsKey, data.CanonicalTargetsRole, data.GUN(gun), "cli-passphrase")
	if err != nil {
		t.Fatal(err)
	}
	// Given once: works, nothing stored.
	if _, err := e.svc.AddSigner(e.ctx, gun, "jeff", jeff.pub, RepoKey{Passphrase: "cli-passphrase", OneOffPEM: file}, "admin"); err != nil {
		t.Fatal(err)
	}
	if l, _ := e.vault.List(e.ctx, ""); len(l) != 0 {
		t.Fatalf("vault holds %v", l)
	}
	before = e.versions(gun)
	_, err = e.svc.Revoke(e.ctx, gun, "jeff", RepoKey{Passphrase: "cli-passphrase"}, "jeff", "admin")
	if de := wantErr(t, err, errs.Conflict, "key_not_in_vault"); !strings.Contains(de.Message, targetsKey.ID()) {
		t.Fatalf("message %q does not name the repository key", de.Message)
	}
	if after := e.versions(gun); !maps.Equal(before, after) {
		t.Fatalf("versions changed: %v → %v", before, after)
	}
	// Imported: works from the vault.
	if _, err := e.vault.Import(e.ctx, file, "cli-passphrase", "admin"); err != nil {
		t.Fatal(err)
	}
	alice := newSigner(t, "alice", false)
	if _, err := e.svc.AddSigner(e.ctx, gun, "alice", alice.pub, RepoKey{Passphrase: "cli-passphrase"}, "admin"); err != nil {
		t.Fatal(err)
	}
	e.mustSign(gun, alice, "v1", "image-1")
	repo := e.load(gun)
	if got := repo.Signers(); len(got) != 2 || got[0].Name != "alice" || got[1].Name != "jeff" {
		t.Fatalf("signers %+v", got)
	}
	if v := repo.Role(trust.RoleRoot).Version; v != 1 {
		t.Fatalf("root version %d", v)
	}
	if _, err := e.svc.Revoke(e.ctx, gun, "jeff", RepoKey{Passphrase: "cli-passphrase"}, "", "admin"); err != nil {
		t.Fatal(err)
	}
	// The CLI user, holding the other keys, still publishes.
	if got := signerKeys(e.load(gun), "jeff"); got != nil {
		t.Fatalf("jeff remains: %v", got)
	}
}

func TestConcurrentAddSigners(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/app"
	e.initialise(gun)
	names := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	errc := make(chan error, len(names))
	for _, n := range names {
		s := newSigner(t, n, true)
		wg.Go(func() {
			_, err := e.svc.AddSigner(e.ctx, gun, n, s.pub, RepoKey{Passphrase: repoPass}, "admin")
			errc <- err
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, s := range e.load(gun).Signers() {
		got = append(got, s.Name)
	}
	if !slices.Equal(got, names) {
		t.Fatalf("signers %v", got)
	}
}

// A repository whose targets/releases docker's `signer remove` left
// unverifiable (or the notary CLI removed after it was signed): adding a
// signer repairs it, so signers can release again.
func TestAddSignerRepairsReleases(t *testing.T) {
	for _, removeRole := range []bool{false, true} {
		t.Run(fmt.Sprintf("releases role removed=%v", removeRole), func(t *testing.T) {
			e := newEnv(t)
			gun := "reg.test/team/app"
			res := e.initialise(gun)
			alice, jeff := newSigner(t, "alice", true), newSigner(t, "jeff", true)
			e.addSigner(gun, alice)
			e.addSigner(gun, jeff)
			e.mustSign(gun, alice, "v1", "image-1")
			e.mustSign(gun, jeff, "v2", "image-2") // releases now signed by jeff only

			// The admin removes jeff with notary's client, as docker does.
			targetsKey, err := e.vault.Unlock(e.ctx, res.RepositoryKeyID, repoPass)
			if err != nil {
				t.Fatal(err)
			}
			admin, _ := e.client(gun, map[data.RoleName][]data.PrivateKey{data.CanonicalTargetsRole: {targetsKey}})
			releases := data.RoleName(trust.RoleReleases)
			if removeRole {
				err = admin.RemoveDelegationRole(releases)
			} else {
				err = admin.RemoveDelegationKeys(releases, []string{jeff.pub.CanonicalID})
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := admin.RemoveDelegationRole("targets/jeff"); err != nil {
				t.Fatal(err)
			}
			if err := admin.Publish(); err != nil {
				t.Fatal(err)
			}
			if repo := e.load(gun); !slices.Contains(repo.SkippedRoles, trust.RoleReleases) {
				t.Fatalf("releases verifies: %v", repo.SkippedRoles)
			}
			// Docker's trap: alice cannot release any more.
			if err := e.sign(gun, alice, "v3", "image-3"); err == nil {
				t.Fatal("alice signed into an unverifiable releases role")
			}

			bob := newSigner(t, "bob", false)
			e.addSigner(gun, bob)
			repo := e.load(gun)
			if slices.Contains(repo.SkippedRoles, trust.RoleReleases) {
				t.Fatalf("releases still does not verify")
			}
			// Nothing the broken role held is released again.
			if got := tags(repo); len(got) != 0 {
				t.Fatalf("tags %v", got)
			}
			e.mustSign(gun, bob, "v4", "image-4")
			if !removeRole {
				e.mustSign(gun, alice, "v3", "image-3")
			}
			want := []string{"v4=bob"}
			if !removeRole {
				want = []string{"v3=alice", "v4=bob"}
			}
			if got := tags(e.load(gun)); !slices.Equal(got, want) {
				t.Fatalf("tags %v, want %v", got, want)
			}
		})
	}
}

func TestInitialiseFailureLeavesNoKeys(t *testing.T) {
	gun := "reg.test/team/readonly"
	e := newEnvWith(t, refuseWrites{gun})
	_, err := e.svc.Initialise(e.ctx, gun, rootPass, repoPass, "admin")
	wantErr(t, err, errs.Unavailable, "trust_server_unavailable")
	if l, _ := e.vault.List(e.ctx, ""); len(l) != 0 {
		t.Fatalf("vault keeps %d keys of a failed initialisation", len(l))
	}
	if _, err := trust.NewReader(e.remote).Load(e.ctx, gun); !errors.Is(err, trust.ErrNoTrustData) {
		t.Fatalf("load: %v", err)
	}
}

// A key two signers share (possible with the notary CLI) stays in
// targets/releases when one of them is revoked.
func TestRevokeKeepsSharedReleaseKey(t *testing.T) {
	e := newEnv(t)
	gun := "reg.test/team/app"
	res := e.initialise(gun)
	shared := newSigner(t, "ci", true)
	targetsKey, err := e.vault.Unlock(e.ctx, res.RepositoryKeyID, repoPass)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := e.client(gun, map[data.RoleName][]data.PrivateKey{data.CanonicalTargetsRole: {targetsKey}})
	for _, role := range []data.RoleName{"targets/ci", "targets/ci-old", data.RoleName(trust.RoleReleases)} {
		if err := admin.AddDelegation(role, []data.PublicKey{shared.pub.Key}, []string{""}); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.Publish(); err != nil {
		t.Fatal(err)
	}
	e.mustSign(gun, shared, "v1", "image-1")

	im, err := e.svc.Impact(e.ctx, gun, "ci-old")
	if err != nil {
		t.Fatal(err)
	}
	if len(im.ReleaseKeys) != 0 || im.ReleasesInvalid || im.RequiresConfirm {
		t.Fatalf("impact %+v", im)
	}
	if _, err := e.svc.Revoke(e.ctx, gun, "ci-old", RepoKey{Passphrase: repoPass}, "", "admin"); err != nil {
		t.Fatal(err)
	}
	repo := e.load(gun)
	if delegation(repo, "targets/ci-old") != nil || !slices.Equal(delegation(repo, trust.RoleReleases).KeyIDs(), []string{shared.pub.CanonicalID}) {
		t.Fatalf("delegations %+v", repo.Delegations)
	}
	if got := tags(repo); !slices.Equal(got, []string{"v1=ci"}) {
		t.Fatalf("tags %v", got)
	}
}
