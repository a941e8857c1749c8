package signers

import (
	"slices"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/trust"
)

// Every publish a signer operation makes reaches the server on behalf of the
// operation's actor, so the server's own record of the change (trustdeck's
// trust.update event) names the same user as the operation's audit event.
func TestPublishesNameTheActor(t *testing.T) {
	hooks := &recordUpdates{}
	e := newEnvWith(t, hooks)
	gun := "reg.test/team/app"

	// want checks that step made at least one update, every one by actor,
	// and that together they wrote the roles in roles.
	want := func(step, actor string, roles ...string) {
		t.Helper()
		got := hooks.take()
		if len(got) == 0 {
			t.Fatalf("%s: no update reached the server", step)
		}
		var written []string
		for _, u := range got {
			if u.actor != actor || u.gun != gun {
				t.Errorf("%s: update of %v on %s by %q, want %q", step, u.roles, u.gun, u.actor, actor)
			}
			written = append(written, u.roles...)
		}
		for _, r := range roles {
			if !slices.Contains(written, r) {
				t.Errorf("%s: roles written %v, want %s among them", step, written, r)
			}
		}
	}

	res, err := e.svc.Initialise(e.ctx, gun, rootPass, repoPass, "ann")
	if err != nil {
		t.Fatal(err)
	}
	want("initialise", "ann", "root", "targets")

	alice, bob := newSigner(t, "alice", true), newSigner(t, "bob", false)
	for _, s := range []*signer{alice, bob} {
		if _, err := e.svc.AddSigner(e.ctx, gun, s.name, s.pub, RepoKey{Passphrase: repoPass}, "ben"); err != nil {
			t.Fatal(err)
		}
		want("add signer "+s.name, "ben", "targets")
	}

	// A client outside the service (no actor): the in-process default.
	e.mustSign(gun, alice, "v1", "image-1")
	want("client sign", "trustdeck", "targets/releases", "targets/alice")

	alicePEM, err := utils.ConvertPrivateKeyToPKCS8(alice.priv, "alice", "", "alice-passphrase")
	if err != nil {
		t.Fatal(err)
	}
	rk := RepoKey{Passphrase: "alice-passphrase", OneOffPEM: alicePEM}
	if _, err := e.svc.RevokeTag(e.ctx, gun, "v1", map[string]RepoKey{trust.RoleReleases: rk, "targets/alice": rk}, "cat"); err != nil {
		t.Fatal(err)
	}
	want("revoke tag", "cat", "targets/releases", "targets/alice")

	// Revoking the signer who released last resets targets/releases: the
	// operation also reads the stored role through its remote.
	e.mustSign(gun, bob, "v2", "image-2")
	hooks.take()
	im, err := e.svc.Revoke(e.ctx, gun, "bob", RepoKey{Passphrase: repoPass}, "bob", "dan")
	if err != nil {
		t.Fatal(err)
	}
	if !im.ReleasesReset {
		t.Fatalf("releases not reset: %+v", im)
	}
	want("revoke signer", "dan", "targets", "targets/releases")

	// targets/releases left unverifiable and undelegated (as docker's
	// `signer remove` can leave it): adding a signer publishes twice, the
	// second time to reset the role; both name the actor.
	e.mustSign(gun, alice, "v3", "image-3")
	targetsKey, err := e.vault.Unlock(e.ctx, res.RepositoryKeyID, repoPass)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := e.client(gun, map[data.RoleName][]data.PrivateKey{data.CanonicalTargetsRole: {targetsKey}})
	if err := admin.RemoveDelegationRole(data.RoleName(trust.RoleReleases)); err != nil {
		t.Fatal(err)
	}
	if err := admin.Publish(); err != nil {
		t.Fatal(err)
	}
	hooks.take()
	carl := newSigner(t, "carl", true)
	if _, err := e.svc.AddSigner(e.ctx, gun, "carl", carl.pub, RepoKey{Passphrase: repoPass}, "eve"); err != nil {
		t.Fatal(err)
	}
	if repo := e.load(gun); slices.Contains(repo.SkippedRoles, trust.RoleReleases) {
		t.Fatalf("releases still skipped: %v", repo.SkippedRoles)
	}
	if n := hooks.count(); n != 2 {
		t.Errorf("add signer with a releases reset: %d updates, want 2", n)
	}
	want("add signer with a releases reset", "eve", "targets", "targets/releases")
}
