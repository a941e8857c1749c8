package interop

// `trustdeck verify`: backups downloaded from the real server (trust data
// published with the notary CLI, and signed offline for a short-lived
// timestamp) are verified by the real binary after the server has stopped,
// with no network and no data directory: the output is what the live
// inspect API returned when the backup was made; tampered archives fail
// naming the role and the check; pins, expiry as of a time, the
// all-repositories archive and the exit codes.
//
// Helpers of this file are prefixed with vf.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"

	"github.com/trustdeck/trustdeck/internal/testnotary"
)

var (
	vfBuildOnce sync.Once
	vfBin       string
	vfBuildErr  error
)

// vfBinary builds trustdeck (cmd/web) once into the package's bin folder.
func vfBinary(t *testing.T) string {
	t.Helper()
	vfBuildOnce.Do(func() {
		vfBin = filepath.Join(binDir, "trustdeck")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", vfBin, "github.com/trustdeck/trustdeck/cmd/web")
		if out, err := cmd.CombinedOutput(); err != nil {
			vfBuildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if vfBuildErr != nil {
		t.Fatal(vfBuildErr)
	}
	return vfBin
}

// vfRun runs `trustdeck verify args…` in an empty folder with an empty
// environment: no proxy, no HOME with state, nothing to reach.
func vfRun(t *testing.T, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, vfBinary(t), append([]string{"verify"}, args...)...)
	cmd.Dir, cmd.Env = dir, []string{"HOME=" + dir, "PATH=/nonexistent"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{cmd: "trustdeck verify " + strings.Join(args, " "), stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.exit = ee.ExitCode()
	} else if err != nil {
		r.err = err
	}
	return r
}

// vfReport is the JSON of `trustdeck verify --json` for one repository.
type vfReport struct {
	GUN          string          `json:"gun"`
	Folder       string          `json:"folder"`
	Valid        bool            `json:"valid"`
	At           time.Time       `json:"at"`
	TrustAnchor  string          `json:"trust_anchor"`
	RootKeyIDs   []string        `json:"root_key_ids"`
	CanonicalIDs []string        `json:"root_canonical_key_ids"`
	Errors       []vfProblem     `json:"errors"`
	Inspect      json.RawMessage `json:"inspect"`
}

type vfProblem struct {
	Role    string `json:"role"`
	Check   string `json:"check"`
	Message string `json:"message"`
}

// vfArchive is a downloaded backup: its raw bytes and its files by path.
type vfArchive struct {
	raw   []byte
	top   string
	files map[string][]byte
}

// vfDownload downloads a backup (path: an API route) as admin.
func vfDownload(t *testing.T, w *world, path string) vfArchive {
	t.Helper()
	resp, body := w.s.API(t, admin.name, admin.pass, http.MethodGet, path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	top, files := testnotary.Untar(t, []byte(body))
	return vfArchive{raw: []byte(body), top: top, files: files}
}

// vfInspect is what the live inspect API answers for gun (JSON or pretty).
func vfInspect(t *testing.T, w *world, gun string, pretty bool) string {
	t.Helper()
	q := url.Values{"ref": {gun}}
	if pretty {
		q.Set("pretty", "1")
	}
	resp, body := w.s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/trust/inspect?"+q.Encode(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("inspect %s: %d %s", gun, resp.StatusCode, body)
	}
	return body
}

// write packs files (with changes: nil content removes a file) into a new
// archive under dir and returns its path.
func (a vfArchive) write(t *testing.T, dir, name string, changes map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	files := maps.Clone(a.files)
	for p, c := range changes {
		if c == nil {
			if _, ok := files[p]; !ok {
				t.Fatalf("%s: no file %s to remove", name, p)
			}
			delete(files, p)
		} else {
			files[p] = c
		}
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		hdr := &tar.Header{Name: a.top + "/" + p, Mode: 0o644, Size: int64(len(files[p])), ModTime: time.Now(), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[p])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	gz.Close()
	path := filepath.Join(dir, name+".tar.gz")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// vfJSON runs verify --json and decodes its report.
func vfJSON(t *testing.T, args ...string) (result, vfReport) {
	t.Helper()
	r := vfRun(t, append([]string{"--json"}, args...)...)
	var rep vfReport
	if r.err != nil || json.Unmarshal([]byte(r.stdout), &rep) != nil {
		t.Fatalf("no JSON report:\n%s", r)
	}
	return r, rep
}

// vfExpectFailure checks that verifying archive (with flags) exits 1 and
// names role and check (one of "a|b"), first, in JSON and in the text on
// stderr.
func vfExpectFailure(t *testing.T, what, role, check string, args ...string) {
	t.Helper()
	r, rep := vfJSON(t, args...)
	if r.exit != 1 || rep.Valid || len(rep.Errors) == 0 || rep.Errors[0].Role != role ||
		!slices.Contains(strings.Split(check, "|"), rep.Errors[0].Check) {
		t.Errorf("%s: exit %d valid %v errors %+v, want exit 1 naming %s (%s) first", what, r.exit, rep.Valid, rep.Errors, role, check)
		return
	}
	t.Logf("%s: %+v", what, rep.Errors)
	text := vfRun(t, args...)
	if text.exit != 1 || !strings.Contains(text.stderr, "  "+role+": "+rep.Errors[0].Check+": ") || !strings.Contains(text.stderr, "INVALID") {
		t.Errorf("%s: the text output should name %s: %s:\n%s", what, role, check, text)
	}
}

// vfRootKeyLine finds the root key's canonical ID in `notary key list`.
var vfRootKeyLine = regexp.MustCompile(`(?m)^\s*root\s+(?:\S+\s+)?([0-9a-f]{64})\s`)

func TestVerifyBackupOffline(t *testing.T) {
	t.Parallel()
	vfBinary(t) // build while nothing else runs in this test
	w := newWorld(t)
	dir := t.TempDir()
	w.s.MustCreateRepo(t, "prod", "app")
	w.s.MustCreateRepo(t, "prod", "other")
	w.s.MustCreateRepo(t, "prod", "brief")
	gun, otherGUN, briefGUN := w.gun("prod", "app"), w.gun("prod", "other"), w.gun("prod", "brief")

	// Published with the notary CLI: jeff and ian sign tag 1; the root's
	// canonical ID as notary key list shows it on the laptop that made it.
	rmSeedJeffAndIan(t, w, gun, false)
	laptop := w.newMachine("laptop") // the seed's laptop: same files
	m := vfRootKeyLine.FindStringSubmatch(laptop.mustNotary(jeff, "key", "list").stdout)
	if m == nil {
		t.Fatalf("no root key in notary key list:\n%s", laptop.mustNotary(jeff, "key", "list"))
	}
	canonicalRoot := m[1]
	// Another repository, with a root key of its own (another machine).
	w.newMachine("desk").mustNotary(jeff, "init", otherGUN, "--publish")

	// The first backup, with what docker trust inspect showed then.
	liveJSON, livePretty := vfInspect(t, w, gun, false), vfInspect(t, w, gun, true)
	first := vfDownload(t, w, "/api/v1/repositories/prod/app/trust/backup")
	other := vfDownload(t, w, "/api/v1/repositories/prod/other/trust/backup")
	all := vfDownload(t, w, "/api/v1/trust/backup")
	var dockerRoot []string
	var inspected []struct {
		AdministrativeKeys []struct {
			Name string
			Keys []struct{ ID string }
		}
	}
	if err := json.Unmarshal([]byte(liveJSON), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("live inspect: %v\n%s", err, liveJSON)
	}
	for _, k := range inspected[0].AdministrativeKeys {
		for _, id := range k.Keys {
			if k.Name == "Root" {
				dockerRoot = append(dockerRoot, id.ID)
			}
		}
	}
	if len(dockerRoot) != 1 || dockerRoot[0] == canonicalRoot {
		t.Fatalf("docker's root key %v should be the certificate's ID, not the canonical %s", dockerRoot, canonicalRoot)
	}
	var manifest struct {
		CreatedAt time.Time `json:"created_at"`
		NotaryURL string    `json:"notary_url"`
		RootKeys  []struct {
			ID          string `json:"id"`
			CanonicalID string `json:"canonical_id"`
		} `json:"root_keys"`
	}
	if err := json.Unmarshal(first.files["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.NotaryURL != "https://"+w.host || len(manifest.RootKeys) != 1 ||
		manifest.RootKeys[0].ID != dockerRoot[0] || manifest.RootKeys[0].CanonicalID != canonicalRoot {
		t.Errorf("manifest: notary_url %q root_keys %+v, want https://%s and %s (canonical %s)", manifest.NotaryURL,
			manifest.RootKeys, w.host, dockerRoot[0], canonicalRoot)
	}

	// A later publish changes targets.json (tag 2 by the repository key).
	laptop.mustNotary(jeff, "add", gun, "2", w.writeFile("manifest2.json", []byte(`{"schemaVersion":2}`)))
	laptop.mustNotary(jeff, "publish", gun)
	second := vfDownload(t, w, "/api/v1/repositories/prod/app/trust/backup")
	if bytes.Equal(first.files["targets.json"], second.files["targets.json"]) {
		t.Fatal("the second publish did not change targets.json")
	}

	// Signed offline with a timestamp that expires seconds after the backup.
	briefExpiry := time.Now().Add(4 * time.Second).UTC().Truncate(time.Second)
	exStore(t, w, testnotary.Fixture{GUN: briefGUN, Expires: map[string]time.Time{"timestamp": briefExpiry},
		Targets: map[string]map[string]string{"targets": {"v1": "content v1"}}})
	brief := vfDownload(t, w, "/api/v1/repositories/prod/brief/trust/backup")

	// Everything from now on is offline.
	w.s.Stop()
	path := first.write(t, dir, "first", nil)
	if err := os.WriteFile(filepath.Join(dir, "downloaded.tar.gz"), first.raw, 0o600); err != nil {
		t.Fatal(err)
	}
	downloaded := filepath.Join(dir, "downloaded.tar.gz")

	t.Run("valid", func(t *testing.T) {
		r, rep := vfJSON(t, downloaded)
		if r.exit != 0 || !rep.Valid || len(rep.Errors) != 0 || rep.GUN != gun {
			t.Fatalf("the downloaded backup should verify:\n%s", r)
		}
		if string(rep.Inspect)+"\n" != liveJSON {
			t.Errorf("inspect differs from what the live API returned when the backup was made:\n%s\n--- live:\n%s", rep.Inspect, liveJSON)
		}
		if !rep.At.Equal(manifest.CreatedAt) || !slices.Equal(rep.RootKeyIDs, dockerRoot) ||
			!slices.Equal(rep.CanonicalIDs, []string{canonicalRoot}) || !strings.Contains(rep.TrustAnchor, "trust on first use (TOFU)") {
			t.Errorf("at %s (created %s), root keys %v %v, anchor %q", rep.At, manifest.CreatedAt, rep.RootKeyIDs, rep.CanonicalIDs, rep.TrustAnchor)
		}
		text := vfRun(t, downloaded)
		if text.exit != 0 || text.stdout != livePretty || !strings.Contains(text.stderr, "trust on first use (TOFU)") ||
			!strings.Contains(text.stderr, gun+": valid") {
			t.Errorf("pretty output should be the live one, the verification on stderr:\n%s\n--- live:\n%s", text, livePretty)
		}
		// The same archive repacked (other times in the tar headers).
		if r := vfRun(t, path); r.exit != 0 {
			t.Errorf("repacked:\n%s", r)
		}
		// As archives were made before manifests named the server and the
		// root keys; and without a creation time, which --at then gives.
		var old map[string]any
		json.Unmarshal(first.files["manifest.json"], &old)
		delete(old, "notary_url")
		delete(old, "root_keys")
		oldManifest, _ := json.MarshalIndent(old, "", "  ")
		if r := vfRun(t, first.write(t, dir, "older", map[string][]byte{"manifest.json": oldManifest})); r.exit != 0 {
			t.Errorf("an archive without notary_url and root_keys:\n%s", r)
		}
		delete(old, "created_at")
		undated, _ := json.MarshalIndent(old, "", "  ")
		undatedPath := first.write(t, dir, "undated", map[string][]byte{"manifest.json": undated})
		if r := vfRun(t, undatedPath); r.exit != 2 || !strings.Contains(r.stderr, "--at") {
			t.Errorf("an archive that does not say when it was made, without --at:\n%s", r)
		}
		if r := vfRun(t, "--at", manifest.CreatedAt.Format(time.RFC3339), undatedPath); r.exit != 0 || r.stdout != livePretty {
			t.Errorf("an archive that does not say when it was made, with --at:\n%s", r)
		}
	})

	t.Run("pinned", func(t *testing.T) {
		var root data.Signed
		if err := json.Unmarshal(first.files["root.json"], &root); err != nil {
			t.Fatal(err)
		}
		sr, err := data.RootFromSigned(&root)
		if err != nil {
			t.Fatal(err)
		}
		cert := filepath.Join(dir, "root.crt")
		if err := os.WriteFile(cert, sr.Signed.Keys[dockerRoot[0]].Public(), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"--root-key-id", dockerRoot[0]}, {"--root-key-id", canonicalRoot}, {"--root-cert", cert}} {
			r, rep := vfJSON(t, append(args, downloaded)...)
			if r.exit != 0 || !rep.Valid || !strings.Contains(rep.TrustAnchor, "pinned") || string(rep.Inspect)+"\n" != liveJSON {
				t.Errorf("pinned with %v: should verify:\n%s", args, r)
			}
		}
		var otherRoot struct {
			RootKeys []struct {
				ID          string `json:"id"`
				CanonicalID string `json:"canonical_id"`
			} `json:"root_keys"`
		}
		if err := json.Unmarshal(other.files["manifest.json"], &otherRoot); err != nil || len(otherRoot.RootKeys) != 1 {
			t.Fatalf("other's manifest: %v %s", err, other.files["manifest.json"])
		}
		for _, id := range []string{otherRoot.RootKeys[0].ID, otherRoot.RootKeys[0].CanonicalID} {
			vfExpectFailure(t, "pinned to another repository's root key", "root", "pin", "--root-key-id", id, downloaded)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		// A signature by another key over the timestamp's very content.
		var ts data.Signed
		if err := json.Unmarshal(first.files["timestamp.json"], &ts); err != nil {
			t.Fatal(err)
		}
		cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("x")))
		key, err := cs.Create(data.CanonicalTimestampRole, data.GUN(gun), data.ECDSAKey)
		if err != nil {
			t.Fatal(err)
		}
		ts.Signatures = nil
		if err := signed.Sign(cs, &ts, []data.PublicKey{key}, 1, nil); err != nil {
			t.Fatal(err)
		}
		resigned, err := canonicaljson.MarshalCanonical(ts)
		if err != nil {
			t.Fatal(err)
		}
		// A byte changed in jeff's signature: same length, another hash.
		jeffFile := bytes.Clone(first.files["targets/jeff.json"])
		i := bytes.Index(jeffFile, []byte(`"sig":"`)) + len(`"sig":"`)
		jeffFile[i] ^= 1 // still valid JSON
		sameGUN, err := testnotary.Fixture{GUN: gun}.Build()
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, role, check string
			changes           map[string][]byte
		}{
			{"a changed byte in a signed role", "root", "signature",
				map[string][]byte{"root.json": bytes.Replace(first.files["root.json"], []byte(`"expires":"2`), []byte(`"expires":"3`), 1)}},
			{"a signature from another key", "timestamp", "signature", map[string][]byte{"timestamp.json": resigned}},
			{"a removed delegation", "targets/ian", "missing", map[string][]byte{"targets/ian.json": nil}},
			{"a swapped root (another repository's)", "root", "certificate", map[string][]byte{"root.json": other.files["root.json"]}},
			{"a swapped root (the same GUN, another key)", "root", "hash", map[string][]byte{"root.json": sameGUN.Files["root"]}},
			{"a snapshot that does not match targets", "targets", "hash|length",
				map[string][]byte{"targets.json": second.files["targets.json"]}},
			{"a length mismatch", "targets/releases", "length",
				map[string][]byte{"targets/releases.json": append(bytes.Clone(first.files["targets/releases.json"]), '\n')}},
			{"a hash mismatch", "targets/jeff", "hash", map[string][]byte{"targets/jeff.json": jeffFile}},
			{"a timestamp and snapshot that do not match", "snapshot", "hash|length",
				map[string][]byte{"timestamp.json": second.files["timestamp.json"]}},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for p, c := range tt.changes {
					if c != nil && bytes.Equal(c, first.files[p]) {
						t.Fatalf("%s is unchanged", p)
					}
				}
				vfExpectFailure(t, tt.name, tt.role, tt.check, first.write(t, dir, fmt.Sprintf("tampered-%d", i), tt.changes))
			})
		}
	})

	t.Run("as of a time", func(t *testing.T) {
		if d := time.Until(briefExpiry.Add(time.Second)); d > 0 {
			time.Sleep(d) // until the brief timestamp has expired
		}
		briefPath := brief.write(t, dir, "brief", nil)
		r, rep := vfJSON(t, briefPath)
		if r.exit != 0 || !rep.Valid || !rep.At.Before(briefExpiry) {
			t.Errorf("an archive whose timestamp has expired since should verify as of its making (%s):\n%s", briefExpiry, r)
		}
		after := briefExpiry.Add(time.Second).Format(time.RFC3339)
		vfExpectFailure(t, "after the timestamp's expiry", "timestamp", "expiry", "--at", after, briefPath)
		// The published repository: its server-signed timestamp lives 14 days.
		var tsMeta struct {
			Signed struct {
				Expires time.Time `json:"expires"`
			} `json:"signed"`
		}
		json.Unmarshal(first.files["timestamp.json"], &tsMeta)
		if r := vfRun(t, "--at", tsMeta.Signed.Expires.Add(-time.Minute).Format(time.RFC3339), downloaded); r.exit != 0 {
			t.Errorf("a minute before the timestamp expires:\n%s", r)
		}
		vfExpectFailure(t, "after the server's timestamp expired", "timestamp", "expiry",
			"--at", tsMeta.Signed.Expires.Add(time.Second).Format(time.RFC3339), downloaded)
	})

	t.Run("all repositories", func(t *testing.T) {
		allPath := all.write(t, dir, "all", nil)
		text := vfRun(t, allPath)
		if text.exit != 0 || !strings.Contains(text.stdout, livePretty) || !strings.Contains(text.stdout, "Signatures for "+gun) ||
			!strings.Contains(text.stdout, "Administrative keys for "+otherGUN) || !strings.Contains(text.stderr, "Valid: 2 of 2") {
			t.Errorf("the all-repositories archive should verify both repositories:\n%s", text)
		}
		var rep struct {
			Valid        bool       `json:"valid"`
			Repositories []vfReport `json:"repositories"`
		}
		r := vfRun(t, "--json", allPath)
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.exit != 0 || !rep.Valid || len(rep.Repositories) != 2 {
			t.Fatalf("JSON of the all-repositories archive: %v\n%s", err, r)
		}
		for _, x := range rep.Repositories {
			if x.GUN == gun && string(x.Inspect)+"\n" != liveJSON {
				t.Errorf("%s in the all-repositories archive: inspect %s, want %s", gun, x.Inspect, liveJSON)
			}
		}
		folder := strings.NewReplacer("/", "_", ":", "_").Replace(gun)
		broken := all.write(t, dir, "all-broken", map[string][]byte{folder + "/targets/ian.json": nil})
		text = vfRun(t, broken)
		if text.exit != 1 || !strings.Contains(text.stderr, gun+": INVALID\n  targets/ian: missing: ") ||
			!strings.Contains(text.stderr, otherGUN+": valid") || !strings.Contains(text.stderr, "1 of 2 repositories failed verification: "+gun) {
			t.Errorf("one tampered repository of the all-repositories archive should fail by name:\n%s", text)
		}
	})

	t.Run("exit codes", func(t *testing.T) {
		notGzip := filepath.Join(dir, "not-an-archive.tar.gz")
		os.WriteFile(notGzip, []byte("hello"), 0o600)
		for _, tt := range []struct {
			args []string
			exit int
			says string
		}{
			{nil, 2, "no archive given"},
			{[]string{"--bogus", downloaded}, 2, "flag provided but not defined"},
			{[]string{"--at", "yesterday", downloaded}, 2, "--at"},
			{[]string{"--at", "2026-13-01T00:00:00Z", downloaded}, 2, "RFC 3339"},
			{[]string{filepath.Join(dir, "missing.tar.gz")}, 2, "no such file"},
			{[]string{downloaded, "--json"}, 2, "flags go before it"},
			{[]string{"--root-cert", filepath.Join(dir, "missing.crt"), downloaded}, 2, "--root-cert"},
			{[]string{"--root-cert", notGzip, downloaded}, 2, "no PEM certificate"},
			{[]string{"--root-key-id", canonicalRoot, "--root-cert", notGzip, downloaded}, 2, "not both"},
			{[]string{dir}, 2, "directory"},
			{[]string{notGzip}, 1, "not a gzip"},
			{[]string{"--help"}, 0, ""},
		} {
			r := vfRun(t, tt.args...)
			if r.err != nil || r.exit != tt.exit || !strings.Contains(r.stderr, tt.says) {
				t.Errorf("verify %q: exit %d, want %d saying %q:\n%s", tt.args, r.exit, tt.exit, tt.says, r)
			}
		}
		r, rep := vfJSON(t, notGzip)
		if r.exit != 1 || rep.Valid || len(rep.Errors) != 1 || rep.Errors[0].Check != "archive" ||
			!strings.Contains(rep.Errors[0].Message, "not a gzip") || string(rep.Inspect) != "[]" {
			t.Errorf("--json of an unreadable archive should be an invalid report:\n%s", r)
		}
	})
}
