package interop

// Acceptance of the issue "Repository removal workflow": back up the trust
// data, see the repository refused while trust data remains, delete the trust
// data (optionally with the vault's keys of the GUN), remove the catalog
// entry, keep the audit history, re-create and re-initialise the repository;
// a catalog failure after the trust data is gone resumes cleanly; read and
// write accounts can do none of it.
//
// Helpers of this file are prefixed with rm so that they never collide with
// those of other files of the package.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of the failure injection (PostgreSQL pass)
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	_ "modernc.org/sqlite" // the "sqlite" driver of the failure injection

	"github.com/trustdeck/trustdeck/internal/testnotary"
)

// TestRemovalWorkflow is the whole removal of a repository signed as in the
// seed (jeff initialises it with docker trust signer add and signs tag 1, ian
// joins and signs too): backup, refusal while trust data remains, trust-data
// deletion, docker trust inspect afterwards, catalog removal with the audit
// history kept, re-creation and a fresh re-initialisation by the docker CLI.
// Without docker the repository is signed and re-initialised with the notary
// CLI instead, and only the docker trust inspect checks are skipped.
func TestRemovalWorkflow(t *testing.T) {
	t.Parallel()
	withDocker := !dockerMissing(t, "the docker CLI steps of the removal workflow (docker trust signer add, docker trust inspect)",
		"the same workflow runs with the notary CLI, and every backup, API, page and audit check still runs")
	w := newWorld(t)
	const ns, name, full = "prod", "nginx", "prod/nginx"
	w.s.MustCreateRepo(t, ns, name)
	gun := w.gun(ns, name)
	repoPath := "/api/v1/repositories/" + full

	// The seed: jeff and ian sign tag 1.
	rmSeedJeffAndIan(t, w, gun, withDocker)
	before := w.versions(gun, allRoles...)
	wantRoles := []string{"root", "targets", "snapshot", "timestamp", "targets/releases", "targets/jeff", "targets/ian"}
	if got := slices.Sorted(maps.Keys(before)); !slices.Equal(got, slices.Sorted(slices.Values(wantRoles))) {
		t.Fatalf("after the seed, roles %v, want %v", got, wantRoles)
	}
	oldRoot, oldTargets := adminKeyIDs(t, w, gun)
	oldTimestampKey := w.serverKey(gun, "timestamp")

	// 1. The backup verifies against the root it contains.
	t.Run("backup", func(t *testing.T) {
		b := rmBackup(t, w, admin, full)
		rmCheckBackupNames(t, b, "targets/releases", "targets/jeff", "targets/ian")
		rmCheckManifest(t, b, gun, admin.name)
		rmVerifyTUF(t, gun, b)
		if !strings.Contains(string(b.files["README.txt"]), gun) || !strings.Contains(string(b.files["README.txt"]), b.top) {
			t.Errorf("README.txt should name the GUN %s and the folder %s:\n%s", gun, b.top, b.files["README.txt"])
		}
		// The files are what the Notary server stores and serves.
		st := w.s.App.Store.TUF()
		for _, role := range wantRoles {
			_, stored, err := st.GetCurrent(data.GUN(gun), data.RoleName(role))
			if err != nil || !bytes.Equal(stored, b.files[role+".json"]) {
				t.Errorf("%s.json of the backup differs from the stored current %s (err %v)", role, role, err)
			}
		}
	})

	// 2. The repository cannot be removed while trust data exists.
	admBrowser := w.s.NewBrowser(t)
	admBrowser.Login(admin.name, admin.pass)
	status, body := rmCall(t, w, admin, http.MethodDelete, repoPath, nil)
	rmExpectError(t, "DELETE of a repository with trust data", status, body, http.StatusConflict, "trust_data_exists",
		"delete the trust data first", repoPath+"/trust")
	resp, page := admBrowser.Get("/repositories/" + full + "/delete")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="step-backup"`) ||
		!strings.Contains(page, `action="/repositories/`+full+`/trust/delete"`) || !strings.Contains(page, "targets/ian") ||
		!strings.Contains(page, "Possible once no trust data remains.") || strings.Contains(page, `id="confirm-repo"`) {
		t.Errorf("the wizard with trust data should offer backup and trust deletion and block step 4: %d\n%s", resp.StatusCode, page)
	}
	resp, page = admBrowser.PostForm("/repositories/"+full+"/delete", url.Values{"confirm": {full}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "still has trust data") {
		t.Errorf("the wizard's step 4 with trust data: %d, want 409 with the reason:\n%s", resp.StatusCode, page)
	}
	rmExpectUnchanged(t, w, full, gun, before)

	// 3. Deleting the trust data: a wrong or missing confirmation changes
	// nothing; the right one deletes; repeating it is harmless.
	for _, confirm := range []string{"prod/nginx2", "nginx", "", gun} {
		status, body = rmCall(t, w, admin, http.MethodDelete, repoPath+"/trust",
			map[string]any{"confirm": confirm, "delete_keys": false})
		rmExpectError(t, fmt.Sprintf("DELETE trust with confirm %q", confirm), status, body,
			http.StatusBadRequest, "confirm_required", full)
	}
	resp, page = admBrowser.PostForm("/repositories/"+full+"/trust/delete", url.Values{"confirm": {"prod/other"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "to confirm") {
		t.Errorf("the wizard's step 3 with a wrong confirmation: %d, want 400 with the reason:\n%s", resp.StatusCode, page)
	}
	rmExpectUnchanged(t, w, full, gun, before)
	for i := range 2 {
		status, body = rmCall(t, w, admin, http.MethodDelete, repoPath+"/trust",
			map[string]any{"confirm": full, "delete_keys": false})
		if status != http.StatusNoContent {
			t.Fatalf("DELETE trust (attempt %d): %d %s, want 204", i+1, status, body)
		}
		if got := w.versions(gun, allRoles...); len(got) != 0 {
			t.Fatalf("trust data left after DELETE trust (attempt %d): %v", i+1, got)
		}
	}
	if status, body = rmCall(t, w, admin, http.MethodGet, repoPath+"/trust/backup", nil); status != http.StatusNotFound ||
		!strings.Contains(body, "no_trust_data") {
		t.Errorf("backup without trust data: %d %s, want 404 no_trust_data", status, body)
	}

	// docker trust inspect from a machine that never cached the repository.
	status, body = rmCall(t, w, admin, http.MethodGet, "/api/v1/trust/inspect?ref="+url.QueryEscape(gun), nil)
	if status != http.StatusNotFound || strings.TrimSpace(body) != "[]" {
		t.Errorf("API inspect after the trust deletion: %d %s, want 404 and []", status, body)
	}
	if withDocker {
		freshBox := w.newMachine("fresh-box")
		freshBox.dockerLogin(reader)
		r := freshBox.docker("trust", "inspect", "--pretty", gun)
		if r.err != nil || r.exit != 1 || strings.TrimSpace(r.stdout) != "" ||
			!strings.Contains(r.stderr, "no signatures or cannot access "+gun) {
			t.Errorf("after the trust deletion, docker trust inspect --pretty should answer no signatures (exit 1):\n%s", r)
		}
		r = freshBox.docker("trust", "inspect", gun+":1")
		if r.err != nil || r.exit != 1 || strings.TrimSpace(r.stdout) != "[]" ||
			!strings.Contains(r.stderr, "no signatures or cannot access "+gun+":1") {
			t.Errorf("after the trust deletion, docker trust inspect should print [] and exit 1:\n%s", r)
		}
	} else {
		r := w.newMachine("fresh-box").notary(reader, "list", gun)
		mustFail(t, r, "notary list after the trust deletion")
	}

	// The wizard now offers step 4.
	resp, page = admBrowser.Get("/repositories/" + full + "/delete")
	rmExpectWizardWithoutTrust(t, resp, page, full)

	// 4. The repository goes; its audit history stays.
	if status, body = rmCall(t, w, admin, http.MethodDelete, repoPath, nil); status != http.StatusNoContent {
		t.Fatalf("DELETE of the repository without trust data: %d %s, want 204", status, body)
	}
	if status, body = rmCall(t, w, admin, http.MethodGet, repoPath, nil); status != http.StatusNotFound {
		t.Errorf("GET of the deleted repository: %d %s, want 404", status, body)
	}
	if _, ok := rmListed(t, w, admin, full); ok {
		t.Errorf("the deleted repository is still listed")
	}
	if status, body = rmCall(t, w, admin, http.MethodDelete, repoPath, nil); status != http.StatusNotFound {
		t.Errorf("DELETE of the deleted repository again: %d %s, want 404", status, body)
	}
	events := w.audit(full)
	t.Logf("audit of %s after the removal:\n%s", full, eventList(events))
	expectEvent(t, events, "admin", "repository.create")
	expectEvent(t, events, "jeff", "trust.update", "root v1")
	expectEvent(t, events, "jeff", "trust.update", "targets/jeff")
	expectEvent(t, events, "ian", "trust.update", "targets/ian")
	expectEvent(t, events, "admin", "trust.delete", "all trust data deleted")
	expectEvent(t, events, "admin", "repository.delete")
	if n := len(events); n == 0 || events[n-1].Actor != "admin" || events[n-1].Action != "repository.delete" {
		t.Errorf("the last audit event should be admin's repository.delete:\n%s", eventList(events))
	}
	rmExpectOrder(t, events, "trust.delete", "repository.delete")
	expectNoEventBy(t, events, "reader", "outsider")
	// The repeated (no-op) trust deletion succeeds but is no event.
	var trustDeletes int
	for _, e := range events {
		if e.Action == "trust.delete" {
			trustDeletes++
		}
	}
	if trustDeletes != 1 {
		t.Errorf("%d trust.delete events for 2 DELETE .../trust calls (the second deleted nothing), want 1", trustDeletes)
	}

	// 5. Re-created, it is empty; re-initialised by the docker CLI, it is
	// fresh: only the new signer, new root, repository and server keys.
	status, body = rmCall(t, w, admin, http.MethodPost, "/api/v1/repositories", map[string]string{"namespace": ns, "name": name})
	if status != http.StatusCreated {
		t.Fatalf("re-creating %s: %d %s", full, status, body)
	}
	if got := w.versions(gun, allRoles...); len(got) != 0 {
		t.Fatalf("the re-created repository has trust data: %v", got)
	}
	resp, page = admBrowser.Get("/repositories/" + full + "/delete")
	rmExpectWizardWithoutTrust(t, resp, page, full)

	kimKey := w.newSignerKey("kim")
	laptop2 := w.newMachine("laptop-2")
	if withDocker {
		laptop2.dockerLogin(jeff)
		r := laptop2.mustDocker("trust", "signer", "add", "--key", kimKey.certFile, "kim", gun)
		for _, want := range []string{"Initializing signed repository for " + gun, "Successfully initialized \"" + gun + "\"",
			"Successfully added signer: kim to " + gun} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("docker trust signer add kim: no %q in:\n%s", want, r)
			}
		}
	} else {
		laptop2.mustNotary(jeff, "init", gun, "--publish")
		laptop2.mustNotary(jeff, "delegation", "add", gun, "targets/releases", kimKey.certFile, "--all-paths")
		laptop2.mustNotary(jeff, "delegation", "add", gun, "targets/kim", kimKey.certFile, "--all-paths", "--publish")
	}
	newRoot, newTargets := adminKeyIDs(t, w, gun)
	for _, id := range append(slices.Clone(newRoot), newTargets...) {
		if slices.Contains(oldRoot, id) || slices.Contains(oldTargets, id) {
			t.Errorf("re-initialised with an old key %s (old root %v, repository %v)", id, oldRoot, oldTargets)
		}
	}
	if w.serverKey(gun, "timestamp") == oldTimestampKey {
		t.Errorf("the re-initialised repository kept the old server timestamp key")
	}
	kimID := canonicalCertID(t, kimKey.certFile)
	status, body = rmCall(t, w, admin, http.MethodGet, "/api/v1/trust/inspect?ref="+url.QueryEscape(gun), nil)
	if status != http.StatusOK {
		t.Fatalf("API inspect of the re-initialised repository: %d %s", status, body)
	}
	rmExpectFresh(t, "API inspect", body, kimID, newRoot, newTargets)
	if withDocker {
		box := w.newMachine("fresh-box-2")
		box.dockerLogin(reader)
		r := box.mustDocker("trust", "inspect", gun)
		rmExpectFresh(t, "docker trust inspect", r.stdout, kimID, newRoot, newTargets)
		r = box.mustDocker("trust", "inspect", "--pretty", gun)
		if !strings.Contains(r.stdout, "No signatures for "+gun) || tableRow(r.stdout, "kim") == nil ||
			tableRow(r.stdout, "jeff") != nil || tableRow(r.stdout, "ian") != nil {
			t.Errorf("docker trust inspect --pretty of the re-initialised repository should list only kim:\n%s", r)
		}
	}
}

// rmSeedJeffAndIan replays the seed on jeff's laptop: jeff initialises the
// repository as a signer and signs tag 1 into targets/releases and
// targets/jeff, then ian joins and signs it too (docker trust signer add and
// key load with docker; the notary CLI signs, docker trust sign would need a
// daemon).
func rmSeedJeffAndIan(t *testing.T, w *world, gun string, withDocker bool) {
	t.Helper()
	jeffKey, ianKey := w.newSignerKey("jeff"), w.newSignerKey("ian")
	target := w.writeFile("manifest.json", manifest)
	laptop := w.newMachine("laptop")
	if withDocker {
		laptop.dockerLogin(jeff)
		laptop.mustDocker("trust", "key", "load", "--name", "jeff", jeffKey.keyFile)
		laptop.mustDocker("trust", "signer", "add", "--key", jeffKey.certFile, "jeff", gun)
	} else {
		laptop.mustNotary(jeff, "init", gun, "--publish")
		laptop.mustNotary(jeff, "key", "import", jeffKey.keyFile, "--role", "jeff")
		laptop.mustNotary(jeff, "delegation", "add", gun, "targets/releases", jeffKey.certFile, "--all-paths")
		laptop.mustNotary(jeff, "delegation", "add", gun, "targets/jeff", jeffKey.certFile, "--all-paths", "--publish")
	}
	laptop.mustNotary(jeff, "add", gun, "1", target, "--roles", "targets/releases", "--roles", "targets/jeff")
	laptop.mustNotary(jeff, "publish", gun)
	if withDocker {
		laptop.mustDocker("trust", "key", "load", "--name", "ian", ianKey.keyFile)
		laptop.mustDocker("trust", "signer", "add", "--key", ianKey.certFile, "ian", gun)
	} else {
		laptop.mustNotary(jeff, "key", "import", ianKey.keyFile, "--role", "ian")
		laptop.mustNotary(jeff, "delegation", "add", gun, "targets/releases", ianKey.certFile, "--all-paths")
		laptop.mustNotary(jeff, "delegation", "add", gun, "targets/ian", ianKey.certFile, "--all-paths", "--publish")
	}
	laptop.mustNotary(ian, "add", gun, "1", target, "--roles", "targets/releases", "--roles", "targets/ian")
	laptop.mustNotary(ian, "publish", gun)
	if withDocker {
		expectSigners(t, laptop, gun+":1", sha256Hex(manifest), "ian, jeff")
	} else {
		expectListed(t, laptop.mustNotary(reader, "list", gun, "--roles", "targets/ian"), "1", sha256Hex(manifest))
	}
}

// rmInspect is docker trust inspect's JSON for one argument, keys included.
type rmInspect struct {
	Name       string `json:"Name"`
	SignedTags []struct {
		SignedTag string   `json:"SignedTag"`
		Signers   []string `json:"Signers"`
	} `json:"SignedTags"`
	Signers            []rmInspectKeys `json:"Signers"`
	AdministrativeKeys []rmInspectKeys `json:"AdministrativeKeys"`
}

type rmInspectKeys struct {
	Name string `json:"Name"`
	Keys []struct {
		ID string `json:"ID"`
	} `json:"Keys"`
}

func (k rmInspectKeys) ids() []string {
	var out []string
	for _, id := range k.Keys {
		out = append(out, id.ID)
	}
	slices.Sort(out)
	return out
}

// rmExpectFresh checks an inspect JSON of a freshly initialised repository:
// no signed tag, kim alone with kimID, and the given administrative keys.
func rmExpectFresh(t *testing.T, what, out, kimID string, root, targets []string) {
	t.Helper()
	var got []rmInspect
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	r := got[0]
	if len(r.SignedTags) != 0 {
		t.Errorf("%s: the re-initialised repository has signed tags: %s", what, out)
	}
	if len(r.Signers) != 1 || r.Signers[0].Name != "kim" || !slices.Equal(r.Signers[0].ids(), []string{kimID}) {
		t.Errorf("%s: signers should be kim alone with key %s:\n%s", what, kimID, out)
	}
	admin := map[string][]string{}
	for _, k := range r.AdministrativeKeys {
		admin[k.Name] = k.ids()
	}
	if !slices.Equal(admin["Root"], slices.Sorted(slices.Values(root))) ||
		!slices.Equal(admin["Repository"], slices.Sorted(slices.Values(targets))) {
		t.Errorf("%s: administrative keys %v, want root %v and repository %v", what, admin, root, targets)
	}
}

// ---- the backup archive

// rmArchive is a downloaded backup: its top folder, its files by path
// below it, and its manifest.
type rmArchive struct {
	filename string
	top      string
	files    map[string][]byte
	manifest rmManifest
}

type rmManifest struct {
	GUN       string    `json:"gun"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	Files     []struct {
		Role    string    `json:"role"`
		File    string    `json:"file"`
		Version int       `json:"version"`
		Expires time.Time `json:"expires"`
		SHA256  string    `json:"sha256"`
		Size    int       `json:"size"`
	} `json:"files"`
}

// rmBackup downloads the backup of repo as a and unpacks it.
func rmBackup(t *testing.T, w *world, a account, repo string) rmArchive {
	t.Helper()
	resp, body := w.s.API(t, a.name, a.pass, http.MethodGet, "/api/v1/repositories/"+repo+"/trust/backup", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("backup of %s as %s: %d %s", repo, a.name, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/gzip" {
		t.Errorf("backup Content-Type %q, want application/gzip", ct)
	}
	var b rmArchive
	if _, after, ok := strings.Cut(resp.Header.Get("Content-Disposition"), `attachment; filename="`); ok {
		b.filename = strings.TrimSuffix(after, `"`)
	}
	b.top, b.files = testnotary.Untar(t, []byte(body))
	if b.filename != b.top+".tar.gz" {
		t.Errorf("backup file name %q (Content-Disposition %q), want the top folder %q + .tar.gz",
			b.filename, resp.Header.Get("Content-Disposition"), b.top)
	}
	if err := json.Unmarshal(b.files["manifest.json"], &b.manifest); err != nil {
		t.Fatalf("manifest.json: %v\n%s", err, b.files["manifest.json"])
	}
	return b
}

// rmCheckBackupNames checks the archive holds exactly the top-level roles,
// the given delegations, manifest.json and README.txt.
func rmCheckBackupNames(t *testing.T, b rmArchive, delegations ...string) {
	t.Helper()
	want := []string{"root.json", "targets.json", "snapshot.json", "timestamp.json", "manifest.json", "README.txt"}
	for _, d := range delegations {
		want = append(want, d+".json")
	}
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(b.files)); !slices.Equal(got, want) {
		t.Errorf("backup files %v, want %v", got, want)
	}
}

// rmCheckManifest checks manifest.json against the files: names, roles,
// versions, expiries, sizes and sha256.
func rmCheckManifest(t *testing.T, b rmArchive, gun, actor string) {
	t.Helper()
	m := b.manifest
	if m.GUN != gun || m.CreatedBy != actor || time.Since(m.CreatedAt) > 10*time.Minute || time.Until(m.CreatedAt) > time.Minute {
		t.Errorf("manifest gun %q, created by %q at %s; want %q by %q now", m.GUN, m.CreatedBy, m.CreatedAt, gun, actor)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.File] = true
		content, ok := b.files[f.File]
		if !ok {
			t.Errorf("manifest lists %s, which the archive lacks", f.File)
			continue
		}
		var meta struct {
			Signed struct {
				Type    string    `json:"_type"`
				Version int       `json:"version"`
				Expires time.Time `json:"expires"`
			} `json:"signed"`
		}
		if err := json.Unmarshal(content, &meta); err != nil {
			t.Errorf("%s: %v", f.File, err)
			continue
		}
		if f.File != f.Role+".json" || f.Version != meta.Signed.Version || f.Version < 1 ||
			!f.Expires.Equal(meta.Signed.Expires) || f.Size != len(content) || f.SHA256 != sha256Hex(content) {
			t.Errorf("manifest entry %+v does not match %s (version %d, expires %s, size %d, sha256 %s)",
				f, f.File, meta.Signed.Version, meta.Signed.Expires, len(content), sha256Hex(content))
		}
	}
	for name := range b.files {
		if name != "manifest.json" && name != "README.txt" && !listed[name] {
			t.Errorf("%s is in the archive but not in the manifest", name)
		}
	}
}

// rmVerifyTUF loads the archive's metadata into notary's TUF builder with no
// keys and no pinning: root (trusted as the first root), timestamp, snapshot,
// targets, then each delegation in the manifest's order, expired metadata
// refused. A tampered targets.json must fail the same way.
func rmVerifyTUF(t *testing.T, gun string, b rmArchive) {
	t.Helper()
	order := []string{"root", "timestamp", "snapshot", "targets"}
	for _, f := range b.manifest.Files {
		if data.IsDelegation(data.RoleName(f.Role)) {
			order = append(order, f.Role)
		}
	}
	if len(order) != len(b.manifest.Files) {
		t.Errorf("manifest roles %+v: want root, targets, snapshot, timestamp and delegations", b.manifest.Files)
	}
	load := func(files map[string][]byte) error {
		builder := tuf.NewRepoBuilder(data.GUN(gun), cryptoservice.NewCryptoService(), trustpinning.TrustPinConfig{})
		for _, role := range order {
			if err := builder.Load(data.RoleName(role), files[role+".json"], 1, false); err != nil {
				return fmt.Errorf("load %s: %w", role, err)
			}
		}
		if _, _, err := builder.Finish(); err != nil {
			return fmt.Errorf("finish: %w", err)
		}
		return nil
	}
	if err := load(b.files); err != nil {
		t.Errorf("the backup does not verify against its root: %v", err)
	}
	// Negative controls: a root whose signed expiry was moved (its own
	// signatures no longer match), and a targets.json changed by one byte
	// (its checksum in snapshot.json no longer matches).
	for file, edit := range map[string][2]string{
		"root.json":    {`"expires":"2`, `"expires":"3`},
		"targets.json": {`"version":`, `"version": `},
	} {
		tampered := maps.Clone(b.files)
		tampered[file] = bytes.Replace(b.files[file], []byte(edit[0]), []byte(edit[1]), 1)
		if bytes.Equal(tampered[file], b.files[file]) {
			t.Fatalf("could not tamper with %s", file)
		}
		if err := load(tampered); err == nil {
			t.Errorf("a tampered %s verifies too: the verification proves nothing", file)
		} else {
			t.Logf("tampered %s refused as expected: %v", file, err)
		}
	}
}

// ---- vault keys

// TestRemovalVaultKeys checks the delete_keys option on repositories
// initialised through trustdeck (root and repository keys in the vault): the
// repository key stays with delete_keys false and goes with delete_keys true;
// root keys (global) always stay; a neighbour whose name extends this one's
// keeps its trust data and keys.
func TestRemovalVaultKeys(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const full = "prod/vaulted"
	gun := w.gun("prod", "vaulted")
	w.s.MustCreateRepo(t, "prod", "vaulted")
	w.s.MustCreateRepo(t, "prod", "vaulted2") // its GUN has this one's as a prefix
	first := rmInitTrust(t, w, "prod/vaulted")
	neighbour := rmInitTrust(t, w, "prod/vaulted2")
	neighbourVersions := w.versions(w.gun("prod", "vaulted2"), allRoles...)

	keys := rmVaultKeys(t, w)
	for _, id := range []string{first.root, first.targets, neighbour.root, neighbour.targets} {
		if _, ok := keys[id]; !ok {
			t.Fatalf("key %s not in the vault after initialisation: %v", id, keys)
		}
	}
	if keys[first.root].GUN != "" || keys[first.targets].GUN != gun || keys[first.targets].Role != "targets" {
		t.Fatalf("vault keys: root %+v should be global, repository %+v should belong to %s", keys[first.root], keys[first.targets], gun)
	}

	// The wizard lists the vault key and offers to delete it; the form
	// without the box keeps it.
	b := w.s.NewBrowser(t)
	b.Login(admin.name, admin.pass)
	resp, page := b.Get("/repositories/" + full + "/delete")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="delete_keys"`) || !strings.Contains(page, first.targets[:7]) {
		t.Errorf("the wizard should list the repository key and offer to delete it: %d\n%s", resp.StatusCode, page)
	}
	resp, page = b.PostForm("/repositories/"+full+"/trust/delete", url.Values{"confirm": {full}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/repositories/"+full+"/delete" {
		t.Fatalf("wizard step 3: %d %s, want 303 back to the wizard", resp.StatusCode, page)
	}
	if got := w.versions(gun, allRoles...); len(got) != 0 {
		t.Fatalf("trust data left after step 3: %v", got)
	}
	keys = rmVaultKeys(t, w)
	if _, ok := keys[first.targets]; !ok {
		t.Errorf("delete_keys unset deleted the repository key %s", first.targets)
	}
	if _, ok := keys[first.root]; !ok {
		t.Errorf("the trust deletion deleted the root key %s", first.root)
	}

	// Initialised again (new keys), then deleted with delete_keys true:
	// every repository key of the GUN goes, the root keys stay.
	second := rmInitTrust(t, w, full)
	status, body := rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/"+full+"/trust",
		map[string]any{"confirm": full, "delete_keys": true})
	if status != http.StatusNoContent {
		t.Fatalf("DELETE trust with delete_keys: %d %s", status, body)
	}
	keys = rmVaultKeys(t, w)
	for _, id := range []string{first.targets, second.targets} {
		if _, ok := keys[id]; ok {
			t.Errorf("delete_keys true kept the repository key %s", id)
		}
	}
	for _, id := range []string{first.root, second.root, neighbour.root, neighbour.targets} {
		if _, ok := keys[id]; !ok {
			t.Errorf("delete_keys true deleted key %s, which is a root key or another repository's", id)
		}
	}
	for _, k := range keys {
		if k.GUN == gun {
			t.Errorf("a key of %s is left after delete_keys: %+v", gun, k)
		}
	}
	if got := w.versions(w.gun("prod", "vaulted2"), allRoles...); !maps.Equal(got, neighbourVersions) {
		t.Errorf("deleting %s changed prod/vaulted2's trust data: %v → %v", gun, neighbourVersions, got)
	}
	events := w.audit(full)
	for _, id := range []string{first.targets, second.targets} {
		expectEvent(t, events, "admin", "key.delete", id)
	}
	for _, id := range []string{first.root, second.root} {
		if _, ok := findEvent(events, "admin", "key.delete", id); ok {
			t.Errorf("the audit shows the root key %s deleted:\n%s", id, eventList(events))
		}
	}

	// The repository goes; the neighbour stays.
	if status, body := rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/"+full, nil); status != http.StatusNoContent {
		t.Fatalf("DELETE of the repository: %d %s", status, body)
	}
	if status, body := rmCall(t, w, admin, http.MethodGet, "/api/v1/repositories/prod/vaulted2", nil); status != http.StatusOK {
		t.Errorf("prod/vaulted2 after removing prod/vaulted: %d %s", status, body)
	}
}

// rmKeys are the key IDs of one initialisation.
type rmKeys struct{ root, targets string }

// rmInitTrust initialises repo's trust data through trustdeck's API (root
// and repository keys generated into the vault).
func rmInitTrust(t *testing.T, w *world, repo string) rmKeys {
	t.Helper()
	status, body := rmCall(t, w, admin, http.MethodPost, "/api/v1/repositories/"+repo+"/trust",
		map[string]string{"root_passphrase": trustPassphrase, "repository_passphrase": trustPassphrase})
	var reply struct {
		Root    string `json:"root_key_id"`
		Targets string `json:"repository_key_id"`
	}
	if status != http.StatusCreated || json.Unmarshal([]byte(body), &reply) != nil || reply.Root == "" || reply.Targets == "" {
		t.Fatalf("initialising %s through the API: %d %s", repo, status, body)
	}
	return rmKeys{reply.Root, reply.Targets}
}

type rmVaultKey struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	GUN  string `json:"gun"`
}

// rmVaultKeys lists the vault (GET /api/v1/keys as admin) by key ID.
func rmVaultKeys(t *testing.T, w *world) map[string]rmVaultKey {
	t.Helper()
	status, body := rmCall(t, w, admin, http.MethodGet, "/api/v1/keys", nil)
	var reply struct {
		Keys []rmVaultKey `json:"keys"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil {
		t.Fatalf("GET /api/v1/keys: %d %s", status, body)
	}
	out := map[string]rmVaultKey{}
	for _, k := range reply.Keys {
		out[k.ID] = k
	}
	return out
}

// ---- failure injection

// TestRemovalCatalogFailure injects a failure of the catalog removal for
// real: a trigger, created through a second connection to trustdeck's
// database, aborts every DELETE on repositories. The trust-data deletion
// succeeds, the catalog removal fails without leaking its cause, the pages
// and the API show the repository without trust data, and once the trigger
// is gone a retry finishes cleanly.
func TestRemovalCatalogFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const full = "prod/failing"
	gun := w.gun("prod", "failing")
	w.s.MustCreateRepo(t, "prod", "failing")
	rmInitTrust(t, w, full)
	rmWaitTrustState(t, w, full, "unsigned")

	driver, dsn := "sqlite", "file:"+filepath.Join(w.s.DataDir, "trustdeck.db")+"?_pragma=busy_timeout(10000)"
	createTrigger := `CREATE TRIGGER interop_fail_repository_delete BEFORE DELETE ON repositories
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END`
	dropTrigger := "DROP TRIGGER interop_fail_repository_delete"
	if w.s.Database != "" { // the same trigger in PostgreSQL's words
		driver, dsn = "pgx", w.s.Database
		createTrigger = `CREATE FUNCTION interop_fail() RETURNS trigger LANGUAGE plpgsql
			AS $$BEGIN RAISE EXCEPTION 'injected failure'; END$$;
		CREATE TRIGGER interop_fail_repository_delete BEFORE DELETE ON repositories
			FOR EACH ROW EXECUTE FUNCTION interop_fail()`
		dropTrigger += " ON repositories"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, createTrigger); err != nil {
		t.Fatalf("create the trigger: %v", err)
	}

	status, body := rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/"+full+"/trust",
		map[string]any{"confirm": full, "delete_keys": false})
	if status != http.StatusNoContent {
		t.Fatalf("DELETE trust: %d %s", status, body)
	}
	if got := w.versions(gun, allRoles...); len(got) != 0 {
		t.Fatalf("trust data left: %v", got)
	}

	// The catalog removal fails: a generic 500, the cause only in the log.
	status, body = rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/"+full, nil)
	t.Logf("DELETE of the repository with the injected failure answered %d %s", status, body)
	rmExpectError(t, "DELETE of the repository with the injected failure", status, body,
		http.StatusInternalServerError, "internal", "Something went wrong on our side")
	rmExpectNoLeak(t, "the API's answer", body)
	if logs := w.s.Logs.String(); !strings.Contains(logs, "request failed") || !strings.Contains(logs, "injected failure") ||
		!strings.Contains(logs, "/api/v1/repositories/"+full) {
		t.Errorf("the log should show the failed request and its cause:\n%s", logs)
	}
	b := w.s.NewBrowser(t)
	b.Login(admin.name, admin.pass)
	b.Get("/repositories/" + full + "/delete")
	resp, page := b.PostForm("/repositories/"+full+"/delete", url.Values{"confirm": {full}})
	t.Logf("the wizard's step 4 with the injected failure answered %d", resp.StatusCode)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(page, "Something went wrong on our side") {
		t.Errorf("the wizard's step 4 with the injected failure: %d, want 500 with the generic message:\n%s", resp.StatusCode, page)
	}
	rmExpectNoLeak(t, "the wizard's error page", page)
	if _, ok := findEvent(w.audit(full), "admin", "repository.delete"); ok {
		t.Errorf("a failed removal was audited as done:\n%s", eventList(w.audit(full)))
	}

	// The repository is there, without trust data, and step 4 is offered.
	resp, page = b.Get("/repositories/" + full + "/delete")
	rmExpectWizardWithoutTrust(t, resp, page, full)
	if status, body = rmCall(t, w, admin, http.MethodGet, "/api/v1/repositories/"+full, nil); status != http.StatusOK {
		t.Errorf("GET of the repository after the failed removal: %d %s, want 200", status, body)
	}
	rmWaitTrustState(t, w, full, "none")
	if resp, page = b.Get("/repositories/" + full); resp.StatusCode != http.StatusOK || !strings.Contains(page, "No trust data") {
		t.Errorf("the repository page after the failed removal should say there is no trust data: %d\n%s", resp.StatusCode, page)
	}

	// Without the trigger, a retry finishes.
	if _, err := db.ExecContext(ctx, dropTrigger); err != nil {
		t.Fatalf("drop the trigger: %v", err)
	}
	if status, body = rmCall(t, w, admin, http.MethodDelete, "/api/v1/repositories/"+full, nil); status != http.StatusNoContent {
		t.Fatalf("retried DELETE of the repository: %d %s, want 204", status, body)
	}
	if status, body = rmCall(t, w, admin, http.MethodGet, "/api/v1/repositories/"+full, nil); status != http.StatusNotFound {
		t.Errorf("GET after the retried removal: %d %s, want 404", status, body)
	}
	if _, ok := rmListed(t, w, admin, full); ok {
		t.Error("the removed repository is still listed")
	}
	events := w.audit(full)
	var deletes int
	for _, e := range events {
		if e.Action == "repository.delete" {
			deletes++
		}
	}
	if deletes != 1 {
		t.Errorf("want exactly one repository.delete event:\n%s", eventList(events))
	}
	rmExpectOrder(t, events, "trust.delete", "repository.delete")
}

// rmExpectNoLeak fails if an answer shows an internal cause or a stack trace.
func rmExpectNoLeak(t *testing.T, what, body string) {
	t.Helper()
	for _, s := range []string{"injected failure", "sqlite", "SQL", "goroutine", ".go:", "panic"} {
		if strings.Contains(body, s) {
			t.Errorf("%s leaks %q:\n%s", what, s, body)
		}
	}
}

// ---- permissions

// TestRemovalPermissions checks that read and write accounts of the
// namespace may neither delete the trust data nor remove the repository,
// through the API or the pages, and that nothing changes when they try; an
// account without role does not even see the repository. Reading the backup
// is allowed to anyone who may read the trust data.
func TestRemovalPermissions(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const full = "prod/guarded"
	gun := w.gun("prod", "guarded")
	w.s.MustCreateRepo(t, "prod", "guarded")
	keys := rmInitTrust(t, w, full)
	before := w.versions(gun, allRoles...)
	vaultBefore := rmVaultKeys(t, w)

	for _, tc := range []struct {
		who    account
		status int
	}{{reader, http.StatusForbidden}, {jeff, http.StatusForbidden}, {outsider, http.StatusNotFound}} {
		t.Run(tc.who.name, func(t *testing.T) {
			confirm := map[string]any{"confirm": full, "delete_keys": true}
			status, body := rmCall(t, w, tc.who, http.MethodDelete, "/api/v1/repositories/"+full+"/trust", confirm)
			rmExpectStatus(t, "API DELETE trust", status, body, tc.status)
			status, body = rmCall(t, w, tc.who, http.MethodDelete, "/api/v1/repositories/"+full, nil)
			rmExpectStatus(t, "API DELETE repository", status, body, tc.status)

			b := w.s.NewBrowser(t)
			b.Login(tc.who.name, tc.who.pass)
			if b.CSRF == "" {
				t.Fatal("no CSRF token after login")
			}
			resp, page := b.Get("/repositories/" + full + "/delete")
			rmExpectStatus(t, "GET the wizard", resp.StatusCode, page, tc.status)
			resp, page = b.PostForm("/repositories/"+full+"/trust/delete", url.Values{"confirm": {full}, "delete_keys": {"true"}})
			rmExpectStatus(t, "POST the wizard's step 3", resp.StatusCode, page, tc.status)
			resp, page = b.PostForm("/repositories/"+full+"/delete", url.Values{"confirm": {full}})
			rmExpectStatus(t, "POST the wizard's step 4", resp.StatusCode, page, tc.status)
			resp, page = b.JSON(http.MethodDelete, "/api/v1/repositories/"+full+"/trust", confirm)
			rmExpectStatus(t, "API DELETE trust with a session", resp.StatusCode, page, tc.status)

			backup := http.StatusOK
			if tc.status == http.StatusNotFound {
				backup = http.StatusNotFound
			}
			status, body = rmCall(t, w, tc.who, http.MethodGet, "/api/v1/repositories/"+full+"/trust/backup", nil)
			if status != backup {
				t.Errorf("backup as %s: %d, want %d", tc.who.name, status, backup)
			}
			if backup == http.StatusOK {
				rmCheckBackupNames(t, rmBackup(t, w, tc.who, full))
			}
		})
	}

	rmExpectUnchanged(t, w, full, gun, before)
	if got := rmVaultKeys(t, w); !maps.Equal(got, vaultBefore) || got[keys.targets].GUN != gun {
		t.Errorf("the vault changed: %v → %v", vaultBefore, got)
	}
	events := w.audit(full)
	expectNoEventBy(t, events, "reader", "jeff", "outsider")
	for _, action := range []string{"trust.delete", "repository.delete", "key.delete"} {
		if _, ok := findEvent(events, "admin", action); ok {
			t.Errorf("a refused attempt was audited as %s:\n%s", action, eventList(events))
		}
	}
}

// ---- helpers

// rmCall sends a JSON API request with a's basic credentials.
func rmCall(t *testing.T, w *world, a account, method, path string, body any) (int, string) {
	t.Helper()
	resp, out := w.s.API(t, a.name, a.pass, method, path, body)
	return resp.StatusCode, out
}

// rmExpectStatus checks a refusal's status.
func rmExpectStatus(t *testing.T, what string, status int, body string, want int) {
	t.Helper()
	if status != want {
		t.Errorf("%s: %d, want %d:\n%s", what, status, want, body)
	}
}

// rmExpectError checks a JSON API error: status, code, and a message
// containing each of msgHas.
func rmExpectError(t *testing.T, what string, status int, body string, want int, code string, msgHas ...string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if status != want || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != code {
		t.Errorf("%s: %d %s, want %d with code %s", what, status, body, want, code)
		return
	}
	for _, s := range msgHas {
		if !strings.Contains(e.Error.Message, s) {
			t.Errorf("%s: the message %q should contain %q", what, e.Error.Message, s)
		}
	}
}

// rmExpectUnchanged checks repo is still in the catalog with the same trust
// data.
func rmExpectUnchanged(t *testing.T, w *world, repo, gun string, versions map[string]int) {
	t.Helper()
	if got := w.versions(gun, allRoles...); !maps.Equal(got, versions) {
		t.Errorf("trust data of %s changed: %v → %v", gun, versions, got)
	}
	if status, body := rmCall(t, w, admin, http.MethodGet, "/api/v1/repositories/"+repo, nil); status != http.StatusOK {
		t.Errorf("%s should still exist: %d %s", repo, status, body)
	}
}

// rmExpectWizardWithoutTrust checks the wizard shows the "no trust data"
// state: nothing to back up, step 3 done, step 4's form offered.
func rmExpectWizardWithoutTrust(t *testing.T, resp *http.Response, page, repo string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "No trust data") ||
		!strings.Contains(page, "Done: no trust data remains.") || strings.Contains(page, `id="step-backup"`) ||
		!strings.Contains(page, `action="/repositories/`+repo+`/delete"`) || !strings.Contains(page, `id="confirm-repo"`) ||
		strings.Contains(page, "Possible once no trust data remains.") {
		t.Errorf("the wizard should show no trust data and offer step 4: %d\n%s", resp.StatusCode, page)
	}
}

// rmExpectOrder checks that the last event with action first comes before
// the last event with action then.
func rmExpectOrder(t *testing.T, events []auditEvent, first, then string) {
	t.Helper()
	i := rmLastIndex(events, first)
	j := rmLastIndex(events, then)
	if i < 0 || j < 0 || i > j {
		t.Errorf("want %s before %s:\n%s", first, then, eventList(events))
	}
}

func rmLastIndex(events []auditEvent, action string) int {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Action == action {
			return i
		}
	}
	return -1
}

// rmRepoJSON is a repository as the list API shows it.
type rmRepoJSON struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Trust     *struct {
		State string `json:"state"`
	} `json:"trust"`
}

// rmListed returns repo as GET /api/v1/repositories shows it to a.
func rmListed(t *testing.T, w *world, a account, repo string) (rmRepoJSON, bool) {
	t.Helper()
	status, body := rmCall(t, w, a, http.MethodGet, "/api/v1/repositories?q="+url.QueryEscape(repo), nil)
	var reply struct {
		Repositories []rmRepoJSON `json:"repositories"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil {
		t.Fatalf("GET /api/v1/repositories: %d %s", status, body)
	}
	for _, r := range reply.Repositories {
		if r.Namespace+"/"+r.Name == repo {
			return r, true
		}
	}
	return rmRepoJSON{}, false
}

// rmWaitTrustState waits until the list shows repo's trust summary in state
// (summaries are computed in the background).
func rmWaitTrustState(t *testing.T, w *world, repo, state string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, ok := rmListed(t, w, admin, repo)
		if !ok {
			t.Fatalf("%s is not listed", repo)
		}
		if r.Trust != nil && r.Trust.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the list shows %s with trust %+v, want state %s", repo, r.Trust, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
