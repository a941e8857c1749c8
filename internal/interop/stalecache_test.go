package interop

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A client that signed before the trust data was deleted keeps its cache of
// the old repository: publishing again uploads the old root, whose snapshot
// key the server no longer holds. The notary CLI user must read why and how
// to fix it (clear the cache), and the fix must work.
func TestStaleCacheRefusalNamesCauseAndFix(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "app")
	gun := w.gun("prod", "app")
	target := w.writeFile("manifest.json", manifest)
	laptop := w.newMachine("laptop")
	laptop.mustNotary(admin, "init", gun, "-p")
	laptop.mustNotary(admin, "add", gun, "1", target)
	laptop.mustNotary(admin, "publish", gun)

	status, body := rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/prod/app/trust",
		map[string]any{"confirm": "prod/app", "delete_keys": false})
	if status != http.StatusNoContent {
		t.Fatalf("delete trust: %d %s", status, body)
	}

	laptop.mustNotary(admin, "add", gun, "2", target)
	r := laptop.notary(admin, "publish", gun)
	mustFail(t, r, "publishing from the cache of deleted trust data")
	for _, says := range []string{"key this server does not hold", "cache", "notary delete " + gun,
		filepath.Join("~", ".docker", "trust", "tuf", gun)} {
		if !strings.Contains(r.stderr+r.stdout, says) {
			t.Errorf("the notary CLI's message should say %q:\n%s", says, r)
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
