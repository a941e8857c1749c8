package interop

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A client that signed before the trust data was deleted keeps its cache of
// the old repository: publishing again uploads the old root, which names
// server keys the server no longer holds. The notary CLI user must read why
// and how to fix it (clear the cache), and the fix must work. With notary's
// default the client holds the snapshot key and the timestamp key is the one
// missing; with a server-managed snapshot (as docker initialises
// repositories) it is the snapshot key: notary-server's "no snapshot was
// included in update and server does not hold current snapshot key".
func TestStaleCacheRefusalNamesCauseAndFix(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	target := w.writeFile("manifest.json", manifest)
	for _, tc := range []struct {
		name, missing  string
		serverSnapshot bool
	}{
		{"app", "no timestamp keys exist on the server", false},
		{"web", "server does not hold current snapshot key", true},
	} {
		w.s.MustCreateRepo(t, "prod", tc.name)
		gun := w.gun("prod", tc.name)
		laptop := w.newMachine("laptop-" + tc.name)
		laptop.mustNotary(admin, "init", gun, "-p")
		if tc.serverSnapshot {
			laptop.mustNotary(admin, "key", "rotate", gun, "snapshot", "-r")
		}
		laptop.mustNotary(admin, "add", gun, "1", target)
		laptop.mustNotary(admin, "publish", gun)

		status, body := rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/prod/"+tc.name+"/trust",
			map[string]any{"confirm": "prod/" + tc.name, "delete_keys": false})
		if status != http.StatusNoContent {
			t.Fatalf("delete trust of %s: %d %s", gun, status, body)
		}

		laptop.mustNotary(admin, "add", gun, "2", target)
		r := laptop.notary(admin, "publish", gun)
		mustFail(t, r, "publishing from the cache of deleted trust data")
		for _, says := range []string{tc.missing, "key this server does not hold", "cache", "notary delete " + gun,
			filepath.Join("~", ".docker", "trust", "tuf", gun)} {
			if !strings.Contains(r.stderr+r.stdout, says) {
				t.Errorf("%s: the notary CLI's message should say %q:\n%s", gun, says, r)
			}
		}

		// The fix it names: clear the local cache (not the remote), initialise
		// again and publish.
		laptop.mustNotary(admin, "delete", gun)
		if _, err := os.Stat(filepath.Join(laptop.trustDir(), "tuf", gun)); !os.IsNotExist(err) {
			t.Errorf("notary delete without --remote should remove the cache: %v", err)
		}
		laptop.mustNotary(admin, "init", gun, "-p")
		laptop.mustNotary(admin, "add", gun, "2", target)
		laptop.mustNotary(admin, "publish", gun)
		w.expectAPITag(gun, "2", sha256Hex(manifest), "Repo Admin")
	}
}

// docker trust signer add initialises a repository afresh when the server
// has no trust data, whatever its cache holds: the wizard says it is not
// affected by a stale cache.
func TestDockerSignerAddAfterDeletionInitialisesAfresh(t *testing.T) {
	t.Parallel()
	if dockerMissing(t, "docker trust signer add after a trust deletion", "the notary CLI's stale-cache test still runs") {
		return
	}
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "app")
	gun := w.gun("prod", "app")
	desk := w.newMachine("desk")
	desk.dockerLogin(admin)
	desk.mustDocker("trust", "signer", "add", "--key", w.newSignerKey("jeff").certFile, "jeff", gun)
	status, body := rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/prod/app/trust",
		map[string]any{"confirm": "prod/app", "delete_keys": false})
	if status != http.StatusNoContent {
		t.Fatalf("delete trust: %d %s", status, body)
	}
	r := desk.mustDocker("trust", "signer", "add", "--key", w.newSignerKey("ian").certFile, "ian", gun)
	if !strings.Contains(r.stdout, "Initializing signed repository") {
		t.Errorf("docker should initialise the repository afresh:\n%s", r)
	}
	if got := w.apiSignerKeys(gun); len(got) != 1 || got["ian"] == nil {
		t.Errorf("after the re-initialisation the signers are %v, want ian alone", got)
	}
}
