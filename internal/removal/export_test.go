package removal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/testnotary"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// fakeCatalog lists fixed repositories and records the namespaces asked for.
type fakeCatalog struct {
	repos []catalog.Repository
	asked [][]string
}

func (f *fakeCatalog) Get(context.Context, string, string) (*catalog.Repository, error) {
	return nil, errors.New("not used")
}
func (f *fakeCatalog) Delete(context.Context, string, string) error { return errors.New("not used") }
func (f *fakeCatalog) Visible(_ context.Context, namespaces []string) ([]catalog.Repository, error) {
	f.asked = append(f.asked, namespaces)
	return f.repos, nil
}

// flushCounter is a buffer that counts Flush calls.
type flushCounter struct {
	bytes.Buffer
	flushes int
}

func (f *flushCounter) Flush() { f.flushes++ }

const host = "reg.test"

func repoOf(ns, name string) catalog.Repository {
	gun := host + "/" + ns + "/" + name
	if ns == names.Foreign {
		gun = name
	}
	return catalog.Repository{Namespace: ns, Name: name, GUN: gun, Foreign: ns == names.Foreign}
}

// extractLine is the README's line saying how to unpack the archive, the
// one line in which a repository's folder in an export and its own backup
// differ (they name different archives).
var extractLine = regexp.MustCompile(`(?m)^  tar -xzf .*$`)

func TestExport(t *testing.T) {
	e := newEnv(t)
	// One clock for the export and the single backups it is compared with.
	at := time.Now().UTC().Truncate(time.Second)
	e.svc.now = func() time.Time { return at }
	expiry := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	fixtures := map[string]testnotary.Fixture{
		"prod/app": {Delegations: []string{trust.RoleReleases, "targets/jeff"},
			Targets: map[string]map[string]string{trust.RoleReleases: {"1": "c1"}, "targets/jeff": {"1": "c1"}}},
		"prod/old": {Expires: map[string]time.Time{"targets": expiry}, Targets: map[string]map[string]string{"targets": {"v1": "c"}}},
		"prod/bad": {Targets: map[string]map[string]string{"targets": {"v1": "c"}}, Tamper: "targets"},
		"prod/skip": {Delegations: []string{trust.RoleReleases, "targets/ian"},
			Targets: map[string]map[string]string{trust.RoleReleases: {"1": "c1"}, "targets/ian": {"1": "c1"}}, Tamper: "targets/ian"},
		// Two GUNs with the same folder name.
		"prod/a_b": {Targets: map[string]map[string]string{"targets": {"1": "ab"}}},
		"prod_a/b": {Targets: map[string]map[string]string{"targets": {"1": "a-b"}}},
		// A foreign GUN (in front of an external server).
		"~/other.test:5000/team/app": {Targets: map[string]map[string]string{"targets": {"1": "x"}}},
	}
	cat := &fakeCatalog{}
	for _, full := range []string{"prod/a_b", "prod/app", "prod/bad", "prod/empty", "prod/old", "prod/skip", "prod_a/b", "~/other.test:5000/team/app"} {
		ns, name, _ := strings.Cut(full, "/")
		r := repoOf(ns, name)
		cat.repos = append(cat.repos, r)
		if f, ok := fixtures[full]; ok {
			f.GUN = r.GUN
			e.put(f)
		}
	}
	e.svc.catalog = cat

	ctx := context.Background()
	exp, err := e.svc.Export(ctx, []string{"prod", "prod_a"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.asked) != 1 || !slices.Equal(cat.asked[0], []string{"prod", "prod_a"}) {
		t.Errorf("the catalog was asked for %q, want the caller's namespaces once", cat.asked)
	}
	var out flushCounter
	m, err := exp.Write(ctx, &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.flushes != len(cat.repos) {
		t.Errorf("%d flushes for %d repositories, want one after each", out.flushes, len(cat.repos))
	}
	top, files := testnotary.Untar(t, out.Bytes())
	if want := "trust-backups-" + at.Format("20060102T150405Z"); top != want || exp.Filename != want+".tar.gz" {
		t.Errorf("top folder %q, file name %q; want %q and .tar.gz", top, exp.Filename, want)
	}

	// The manifest in the archive is the one returned.
	var inArchive ExportManifest
	if err := json.Unmarshal(files["manifest.json"], &inArchive); err != nil {
		t.Fatalf("manifest.json: %v\n%s", err, files["manifest.json"])
	}
	mj, _ := json.Marshal(m)
	aj, _ := json.Marshal(inArchive)
	if !bytes.Equal(mj, aj) {
		t.Errorf("manifest.json differs from what Write returned:\n%s\n%s", aj, mj)
	}
	if !inArchive.CreatedAt.Equal(at) || inArchive.CreatedBy != "alice" || inArchive.BackedUp != 6 ||
		inArchive.WithoutTrustData != 1 || inArchive.Failed != 1 {
		t.Errorf("manifest header %+v", inArchive)
	}

	type want struct {
		status, folder string
		files          int
		expired        []string
		skipped        []string
		errCode        string
	}
	wants := map[string]want{
		"prod/a_b":                 {status: ExportBackedUp, folder: "reg.test_prod_a_b", files: 4},
		"prod/app":                 {status: ExportBackedUp, folder: "reg.test_prod_app", files: 6},
		"prod/bad":                 {status: ExportFailed, errCode: "trust_data_invalid"},
		"prod/empty":               {status: ExportNoTrustData},
		"prod/old":                 {status: ExportBackedUp, folder: "reg.test_prod_old", files: 4, expired: []string{"targets"}},
		"prod/skip":                {status: ExportBackedUp, folder: "reg.test_prod_skip", files: 5, skipped: []string{"targets/ian"}},
		"prod_a/b":                 {status: ExportBackedUp, folder: "reg.test_prod_a_b-2", files: 4},
		"other.test:5000/team/app": {status: ExportBackedUp, folder: "other.test_5000_team_app", files: 4},
	}
	var order []string
	folders := map[string]bool{}
	for i, r := range inArchive.Repositories {
		order = append(order, r.Repository)
		w, ok := wants[r.Repository]
		if !ok {
			t.Errorf("unexpected repository %+v", r)
			continue
		}
		var expired []string
		for _, x := range r.Expired {
			expired = append(expired, x.Role)
		}
		code := ""
		if r.Error != nil {
			code = r.Error.Code
			if !strings.Contains(r.Error.Message, r.GUN) {
				t.Errorf("%s: error message %q does not name the GUN", r.Repository, r.Error.Message)
			}
		}
		if r.Status != w.status || r.Folder != w.folder || r.Files != w.files || !slices.Equal(expired, w.expired) ||
			!slices.Equal(r.Skipped, w.skipped) || code != w.errCode {
			t.Errorf("%s: %+v, want %+v", r.Repository, r, w)
		}
		if err := m.Repositories[i].Err; (err != nil) != (w.status == ExportFailed) || err != nil && !errors.Is(err, trust.ErrVerification) {
			t.Errorf("%s: Err %v", r.Repository, err)
		}
		if r.Folder != "" {
			folders[r.Folder] = true
		}
	}
	if wantOrder := []string{"prod/a_b", "prod/app", "prod/bad", "prod/empty", "prod/old", "prod/skip", "prod_a/b",
		"other.test:5000/team/app"}; !slices.Equal(order, wantOrder) {
		t.Errorf("manifest lists %q, want the catalog's order %q", order, wantOrder)
	}

	// Each folder is exactly the repository's own backup.
	for _, r := range inArchive.Repositories {
		if r.Status != ExportBackedUp {
			continue
		}
		name, archive, err := e.svc.Backup(ctx, r.GUN, "alice")
		if err != nil {
			t.Fatalf("backup of %s: %v", r.GUN, err)
		}
		single := unpack(t, name, archive)
		got := map[string][]byte{}
		for p, content := range files {
			if rest, ok := strings.CutPrefix(p, r.Folder+"/"); ok {
				got[rest] = content
			}
		}
		if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(single))) {
			t.Errorf("%s: files %v, its backup has %v", r.GUN, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(single)))
		}
		for f, content := range single {
			g := got[f]
			if f == "README.txt" {
				if !strings.Contains(string(g), "tar -xzf "+exp.Filename+" && cd "+top+"/"+r.Folder+"\n") {
					t.Errorf("%s: README.txt does not say how to reach its folder:\n%s", r.GUN, g)
				}
				g, content = extractLine.ReplaceAll(g, nil), extractLine.ReplaceAll(content, nil)
			}
			if !bytes.Equal(g, content) {
				t.Errorf("%s: %s differs from its backup's:\n%s\n---\n%s", r.GUN, f, g, content)
			}
		}
	}
	// Nothing else: the folders and the two top-level files.
	for p := range files {
		dir, _, nested := strings.Cut(p, "/")
		if !nested && p != "manifest.json" && p != "README.txt" || nested && !folders[dir] {
			t.Errorf("unexpected file %s", p)
		}
	}
	readme := string(files["README.txt"])
	for _, s := range []string{"Backed up: 6. Without trust data: 1. Could not be read: 1.",
		"NOT BACKED UP", "reg.test/prod/bad: The trust data of reg.test/prod/bad failed verification",
		"EXPIRED", "reg.test/prod/old: targets", "INCOMPLETE", "reg.test/prod/skip: targets/ian", "tar -xzf " + exp.Filename} {
		if !strings.Contains(readme, s) {
			t.Errorf("README.txt lacks %q:\n%s", s, readme)
		}
	}
}

func TestExportOfNothing(t *testing.T) {
	e := newEnv(t)
	e.svc.catalog = &fakeCatalog{}
	exp, err := e.svc.Export(context.Background(), []string{}, "bob")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := exp.Write(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	_, files := testnotary.Untar(t, out.Bytes())
	if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, []string{"README.txt", "manifest.json"}) {
		t.Errorf("files %v", got)
	}
	if !bytes.Contains(files["manifest.json"], []byte(`"repositories": []`)) {
		t.Errorf("manifest.json should list no repositories as []:\n%s", files["manifest.json"])
	}
}

// failingWriter fails once more than limit bytes were written.
type failingWriter struct{ n, limit int }

var errGone = errors.New("client went away")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		return 0, errGone
	}
	w.n += len(p)
	return len(p), nil
}

func TestExportStopsWhenWritingFailsOrIsCancelled(t *testing.T) {
	e := newEnv(t)
	cat := &fakeCatalog{}
	for _, name := range []string{"a", "b", "c"} {
		r := repoOf("prod", name)
		cat.repos = append(cat.repos, r)
		e.put(testnotary.Fixture{GUN: r.GUN, Targets: map[string]map[string]string{"targets": {"1": name}}})
	}
	e.svc.catalog = cat
	exp, err := e.svc.Export(context.Background(), nil, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exp.Write(context.Background(), &failingWriter{limit: 100}); !errors.Is(err, errGone) {
		t.Errorf("Write to a failing writer: %v, want its error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if _, err := exp.Write(ctx, &out); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context: %v, want context.Canceled", err)
	}
}
