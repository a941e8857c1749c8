package interop

// Archived repositories: trust data captured from Debian's notary-server
// (memory backend) of repositories made with the docker and notary CLIs,
// then browsed in trustdeck after that server has stopped: docker's output
// byte for byte, the pages, the history of a repository captured again
// after a root rotation, the download that `trustdeck verify` accepts, and
// the import of an archive (refused when tampered with).
//
// Helpers of this file are prefixed with ar.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testnotary"
)

// arArchive is the part of an archive's JSON the test reads.
type arArchive struct {
	ID           int64  `json:"id"`
	GUN          string `json:"gun"`
	NotaryURL    string `json:"notary_url"`
	Verification struct {
		Valid bool `json:"valid"`
	} `json:"verification"`
	RootChain struct {
		Status     string `json:"status"`
		PreviousID *int64 `json:"previous_id"`
		Detail     string `json:"detail"`
	} `json:"root_chain"`
	SignedTags int `json:"signed_tags"`
}

// arImport uploads an archive to POST /api/v1/archives/import as admin.
func arImport(t *testing.T, w *world, archive []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, _ := mw.CreateFormFile("archive", "backup.tar.gz")
	part.Write(archive)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, w.s.URL+"/api/v1/archives/import", &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.SetBasicAuth(admin.name, admin.pass)
	resp, err := w.s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.String()
}

// arDocker is what `docker trust inspect [--pretty] GUN` printed.
type arDocker struct{ json, pretty string }

func TestArchiveCaptureFromNotaryServer(t *testing.T) {
	t.Parallel()
	requireNotaryServer(t)
	if dockerMissing(t, "the capture of archived repositories (compared with docker trust inspect)",
		"internal/handlers' TestArchiveCaptureFromTrustdeck still captures from trustdeck itself") {
		t.SkipNow()
	}
	vfBinary(t)
	ns := startNotaryServer(t, map[string]any{"backend": "memory"})
	w := newWorld(t)
	alice := w.newExtMachine("alice", ns)
	dockerGUN, notaryGUN := w.gun("prod", "docker-made"), w.gun("prod", "notary-made")
	file := func(label string) string {
		return w.writeFile(filepath.Join("targets", label+".json"), []byte(`{"schemaVersion":2,"archived":"`+label+`"}`))
	}
	jeffKey, ianKey := w.newSignerKey("jeff"), w.newSignerKey("ian")

	// Made with docker: two signers (docker initialises the repository);
	// v1 released by both, v2 by jeff, dev only in ian's role.
	alice.mustDocker("trust", "key", "load", "--name", "jeff", jeffKey.keyFile)
	alice.mustDocker("trust", "signer", "add", "--key", jeffKey.certFile, "jeff", dockerGUN)
	alice.mustDocker("trust", "key", "load", "--name", "ian", ianKey.keyFile)
	alice.mustDocker("trust", "signer", "add", "--key", ianKey.certFile, "ian", dockerGUN)
	alice.mustNotary("add", dockerGUN, "v1", file("docker-v1"), "--roles", "targets/releases", "--roles", "targets/jeff", "--roles", "targets/ian")
	alice.mustNotary("add", dockerGUN, "v2", file("docker-v2"), "--roles", "targets/releases", "--roles", "targets/jeff")
	alice.mustNotary("add", dockerGUN, "dev", file("docker-dev"), "--roles", "targets/ian")
	alice.mustNotary("publish", dockerGUN)

	// Made with the notary CLI: latest signed with the repository key,
	// 1.0 released by jeff and ian, 1.1-rc only in ian's role.
	alice.mustNotary("init", notaryGUN)
	alice.mustNotary("delegation", "add", notaryGUN, "targets/releases", jeffKey.certFile, ianKey.certFile, "--all-paths")
	alice.mustNotary("delegation", "add", notaryGUN, "targets/jeff", jeffKey.certFile, "--all-paths")
	alice.mustNotary("delegation", "add", notaryGUN, "targets/ian", ianKey.certFile, "--all-paths")
	alice.mustNotary("add", notaryGUN, "latest", file("notary-latest"))
	alice.mustNotary("add", notaryGUN, "1.0", file("notary-1.0"), "--roles", "targets/releases", "--roles", "targets/jeff", "--roles", "targets/ian")
	alice.mustNotary("add", notaryGUN, "1.1-rc", file("notary-rc"), "--roles", "targets/ian")
	alice.mustNotary("publish", notaryGUN)

	inspect := func(gun string) arDocker {
		return arDocker{json: alice.mustDocker("trust", "inspect", gun).stdout, pretty: alice.mustDocker("trust", "inspect", "--pretty", gun).stdout}
	}
	printed := map[string]arDocker{dockerGUN: inspect(dockerGUN), notaryGUN: inspect(notaryGUN)}
	for gun, d := range printed {
		if !strings.Contains(d.pretty, "jeff") || !strings.Contains(d.pretty, "ian") {
			t.Fatalf("docker trust inspect --pretty %s shows no signers:\n%s", gun, d.pretty)
		}
	}
	ca, err := os.ReadFile(ns.CAFile)
	if err != nil {
		t.Fatal(err)
	}

	// Both at once, anonymously (notary-server has no authentication), with
	// the server's CA.
	resp, body := w.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/archives",
		map[string]any{"notary_url": ns.URL, "ca_pem": string(ca), "guns": []string{dockerGUN, notaryGUN}})
	var bulk struct {
		Results []struct {
			GUN     string     `json:"gun"`
			Status  string     `json:"status"`
			Archive *arArchive `json:"archive"`
		} `json:"results"`
		Captured int `json:"captured"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &bulk) != nil || bulk.Captured != 2 {
		t.Fatalf("bulk capture: %d %s", resp.StatusCode, body)
	}
	first := map[string]arArchive{}
	for _, r := range bulk.Results {
		if r.Archive == nil || !r.Archive.Verification.Valid || r.Archive.RootChain.Status != "first" || r.Archive.NotaryURL != ns.URL {
			t.Fatalf("capture of %s: %s", r.GUN, body)
		}
		first[r.GUN] = *r.Archive
	}

	// The root key of notary-made is rotated (cross-signed, as notary
	// does), and it is captured again: a history of two, the second
	// checked against the first's root.
	full := []string{"-s", ns.URL, "-d", alice.trustDir(), "--tlscacert", ns.CAFile, "key", "rotate", notaryGUN, "root"}
	if r := alice.run("yes\n", alice.extEnv(), notaryBin, full...); !r.ok() || !strings.Contains(r.stdout, "Successfully rotated") {
		t.Fatalf("root rotation:\n%s", r)
	}
	rotated := inspect(notaryGUN)
	if rotated.json == printed[notaryGUN].json {
		t.Fatal("the root rotation did not change docker's administrative keys")
	}
	resp, body = w.s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/archives",
		map[string]any{"notary_url": ns.URL, "ca_pem": string(ca), "gun": notaryGUN})
	var second arArchive
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &second) != nil || second.RootChain.Status != "rotated" ||
		second.RootChain.PreviousID == nil || *second.RootChain.PreviousID != first[notaryGUN].ID {
		t.Fatalf("capture after the root rotation: %d %s", resp.StatusCode, body)
	}
	t.Logf("root chain: %s", second.RootChain.Detail)

	// From here on the Notary server is gone.
	ns.stop()

	get := func(who account, path string) (int, string) {
		t.Helper()
		resp, body := w.s.API(t, who.name, who.pass, http.MethodGet, path, nil)
		return resp.StatusCode, body
	}
	for _, c := range []struct {
		what   string
		id     int64
		docker arDocker
	}{
		{"docker-made", first[dockerGUN].ID, printed[dockerGUN]},
		{"notary-made", first[notaryGUN].ID, printed[notaryGUN]},
		{"notary-made after the rotation", second.ID, rotated},
	} {
		if status, got := get(reader, fmt.Sprintf("/api/v1/archives/%d/inspect", c.id)); status != http.StatusOK || got != c.docker.json {
			t.Errorf("%s: inspect %d:\n%s\n--- docker printed:\n%s", c.what, status, got, c.docker.json)
		}
		if status, got := get(reader, fmt.Sprintf("/api/v1/archives/%d/inspect?pretty=1", c.id)); status != http.StatusOK || got != c.docker.pretty {
			t.Errorf("%s: inspect --pretty %d:\n%s\n--- docker printed:\n%s", c.what, status, got, c.docker.pretty)
		}
	}

	// The pages render: the archive's, as of its capture, and the list's
	// archived section; the history of notary-made has two captures.
	b := w.s.NewBrowser(t)
	b.Login(reader.name, reader.pass)
	for _, c := range []struct {
		id   int64
		want []string
	}{
		{first[dockerGUN].ID, []string{"v1", "v2", "Signed but not released", "dev", "jeff", "ian", "trust on first use", "as of"}},
		{second.ID, []string{"1.0", "latest", "1.1-rc", `id="history"`, "rotated", "the root of archive #"}},
	} {
		resp, page := b.Get(fmt.Sprintf("/archives/%d", c.id))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("archive page #%d: %d", c.id, resp.StatusCode)
		}
		for _, s := range c.want {
			if !strings.Contains(page, s) {
				t.Errorf("archive page #%d lacks %q", c.id, s)
			}
		}
	}
	if _, page := b.Get("/repositories"); !strings.Contains(page, `id="archived"`) || !strings.Contains(page, notaryGUN) || !strings.Contains(page, dockerGUN) {
		t.Errorf("the repository list has no archived section with both:\n%s", page)
	}
	_, list := get(reader, "/api/v1/archives")
	if n := strings.Count(list, `"gun":"`+notaryGUN+`"`); n != 2 {
		t.Errorf("%d captures of %s listed, want 2:\n%s", n, notaryGUN, list)
	}

	// The download is a backup `trustdeck verify` accepts, offline.
	status, download := get(reader, fmt.Sprintf("/api/v1/archives/%d/download", second.ID))
	if status != http.StatusOK {
		t.Fatalf("download: %d %s", status, download)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "notary-made.tar.gz")
	if err := os.WriteFile(path, []byte(download), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := vfRun(t, path); r.exit != 0 || r.stdout != rotated.pretty || !strings.Contains(r.stderr, notaryGUN+": valid") {
		t.Errorf("trustdeck verify of the download:\n%s\n--- docker printed:\n%s", r, rotated.pretty)
	}
	r, rep := vfJSON(t, path)
	if r.exit != 0 || string(rep.Inspect)+"\n" != rotated.json {
		t.Errorf("trustdeck verify --json of the download:\n%s", r)
	}

	// Imported again: accepted (its repository's capture is still here);
	// tampered with, refused naming the role.
	if status, body := arImport(t, w, []byte(download)); status != http.StatusCreated || !strings.Contains(body, `"status":"same"`) {
		t.Errorf("import of the download: %d %s", status, body)
	}
	top, files := testnotary.Untar(t, []byte(download))
	jeffFile := bytes.Clone(files["targets/jeff.json"])
	i := bytes.Index(jeffFile, []byte(`"sig":"`)) + len(`"sig":"`)
	jeffFile[i] ^= 1
	tampered := vfArchive{top: top, files: files}.write(t, dir, "tampered", map[string][]byte{"targets/jeff.json": jeffFile})
	raw, err := os.ReadFile(tampered)
	if err != nil {
		t.Fatal(err)
	}
	status, body = arImport(t, w, raw)
	var refusal struct {
		Error struct {
			Code     string `json:"code"`
			Message  string `json:"message"`
			Problems []struct {
				Role  string `json:"role"`
				Check string `json:"check"`
			} `json:"problems"`
		} `json:"error"`
	}
	json.Unmarshal([]byte(body), &refusal)
	if status != http.StatusUnprocessableEntity || refusal.Error.Code != "verification_failed" || len(refusal.Error.Problems) == 0 ||
		refusal.Error.Problems[0].Role != "targets/jeff" || !strings.Contains(refusal.Error.Message, "targets/jeff") {
		t.Errorf("import of a tampered archive: %d %s", status, body)
	}
	if n := strings.Count(func() string { _, l := get(admin, "/api/v1/archives"); return l }(), `"gun":"`+notaryGUN+`"`); n != 3 {
		t.Errorf("%d archives of %s after one accepted and one refused import, want 3", n, notaryGUN)
	}
}
