package interop

// "Back up everything": one download with the trust backup of every
// repository the caller may read. Repositories get their trust data from
// trustdeck's own initialisation (server-signed snapshot and timestamp) and
// from metadata signed offline (expired, tampered); the export is downloaded
// through the API and the page by a global administrator, a namespace reader
// and an account without any role, and each repository's folder is compared
// with that repository's own backup.
//
// Helpers of this file are prefixed with ba.

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testnotary"
)

// baExport is a downloaded export: its file name, top folder, files by path
// below the top folder, and its manifest.
type baExport struct {
	filename string
	top      string
	files    map[string][]byte
	manifest baManifest
}

type baManifest struct {
	CreatedAt        time.Time `json:"created_at"`
	CreatedBy        string    `json:"created_by"`
	BackedUp         int       `json:"backed_up"`
	WithoutTrustData int       `json:"without_trust_data"`
	Failed           int       `json:"failed"`
	Repositories     []baRepo  `json:"repositories"`
}

type baRepo struct {
	Repository string `json:"repository"`
	GUN        string `json:"gun"`
	Status     string `json:"status"`
	Folder     string `json:"folder"`
	Files      int    `json:"files"`
	Expired    []struct {
		Role string `json:"role"`
	} `json:"expired_roles"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// baUnpack checks the response of an export and unpacks it.
func baUnpack(t *testing.T, what string, resp *http.Response, body string) baExport {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", what, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/gzip" {
		t.Errorf("%s: Content-Type %q, want application/gzip", what, ct)
	}
	var x baExport
	if _, after, ok := strings.Cut(resp.Header.Get("Content-Disposition"), `attachment; filename="`); ok {
		x.filename = strings.TrimSuffix(after, `"`)
	}
	x.top, x.files = testnotary.Untar(t, []byte(body))
	if x.filename != x.top+".tar.gz" || !strings.HasPrefix(x.top, "trust-backups-") {
		t.Errorf("%s: file name %q (Content-Disposition %q), top folder %q", what, x.filename,
			resp.Header.Get("Content-Disposition"), x.top)
	}
	if err := json.Unmarshal(x.files["manifest.json"], &x.manifest); err != nil {
		t.Fatalf("%s: manifest.json: %v\n%s", what, err, x.files["manifest.json"])
	}
	return x
}

// baExportAs downloads the export through the API as a.
func baExportAs(t *testing.T, w *world, a account) baExport {
	t.Helper()
	resp, body := w.s.API(t, a.name, a.pass, http.MethodGet, "/api/v1/trust/backup", nil)
	return baUnpack(t, "export as "+a.name, resp, body)
}

// baStatuses is the manifest's repositories as "namespace/name status".
func baStatuses(x baExport) []string {
	var out []string
	for _, r := range x.manifest.Repositories {
		out = append(out, r.Repository+" "+r.Status)
	}
	return out
}

var (
	baCreatedAt = regexp.MustCompile(`"created_at": "[^"]*"`)
	baExtract   = regexp.MustCompile(`(?m)^  tar -xzf .*$`)
	baMadeAt    = regexp.MustCompile(`when this backup was made \([^)]*\)`)
)

// baSameAsBackup checks that folder of the export x holds exactly what the
// repository's own backup b holds: the same files, the role files byte for
// byte, manifest.json apart from its time, README.txt apart from its time
// and the line that says which archive to unpack.
func baSameAsBackup(t *testing.T, x baExport, folder string, b rmArchive) {
	t.Helper()
	got := map[string][]byte{}
	for p, content := range x.files {
		if rest, ok := strings.CutPrefix(p, folder+"/"); ok {
			got[rest] = content
		}
	}
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(b.files)); !slices.Equal(g, w) {
		t.Errorf("folder %s holds %v, the repository's backup %v", folder, g, w)
	}
	for name, want := range b.files {
		have := got[name]
		switch name {
		case "manifest.json":
			have, want = baCreatedAt.ReplaceAll(have, nil), baCreatedAt.ReplaceAll(want, nil)
		case "README.txt":
			if !bytes.Contains(have, []byte("tar -xzf "+x.filename+" && cd "+x.top+"/"+folder+"\n")) {
				t.Errorf("%s/README.txt does not say how to reach the folder:\n%s", folder, have)
			}
			for _, re := range []*regexp.Regexp{baExtract, baMadeAt} {
				have, want = re.ReplaceAll(have, nil), re.ReplaceAll(want, nil)
			}
		}
		if !bytes.Equal(have, want) {
			t.Errorf("%s/%s differs from the repository's backup:\n%s\n--- backup:\n%s", folder, name, have, want)
		}
	}
}

func TestBackupAll(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	past := time.Now().Add(-72 * time.Hour).UTC().Truncate(time.Second)
	for _, r := range [][2]string{{"prod", "app"}, {"prod", "expired"}, {"prod", "empty"}, {"prod", "tampered"}, {"other", "thing"}} {
		w.s.MustCreateRepo(t, r[0], r[1])
	}
	rmInitTrust(t, w, "prod/app") // trustdeck's own initialisation
	exStore(t, w, testnotary.Fixture{GUN: w.gun("prod", "expired"), Expires: map[string]time.Time{"targets": past},
		Delegations: []string{"targets/releases", "targets/jeff"},
		Targets:     map[string]map[string]string{"targets/releases": {"1": "c1"}, "targets/jeff": {"1": "c1"}}})
	exStore(t, w, testnotary.Fixture{GUN: w.gun("prod", "tampered"), Targets: map[string]map[string]string{"targets": {"1": "c1"}},
		Tamper: "targets"})
	exStore(t, w, testnotary.Fixture{GUN: w.gun("other", "thing"), Targets: map[string]map[string]string{"targets": {"v2": "c2"}}})
	folder := func(ns, name string) string { return strings.NewReplacer("/", "_", ":", "_").Replace(w.gun(ns, name)) }
	auditBefore := baNewestEvent(t, w)

	tests := []struct {
		who  account
		want []string // the manifest's repositories and statuses, in order
	}{
		{admin, []string{"other/thing backed_up", "prod/app backed_up", "prod/empty no_trust_data",
			"prod/expired backed_up", "prod/tampered failed"}},
		{reader, []string{"prod/app backed_up", "prod/empty no_trust_data", "prod/expired backed_up", "prod/tampered failed"}},
		{outsider, nil},
	}
	for _, tt := range tests {
		t.Run(tt.who.name, func(t *testing.T) {
			x := baExportAs(t, w, tt.who)
			m := x.manifest
			if got := baStatuses(x); !slices.Equal(got, tt.want) {
				t.Errorf("manifest lists %q, want %q\n%s", got, tt.want, x.files["manifest.json"])
			}
			if m.CreatedBy != tt.who.name || time.Since(m.CreatedAt) > 10*time.Minute {
				t.Errorf("manifest created by %q at %s, want %q now", m.CreatedBy, m.CreatedAt, tt.who.name)
			}
			folders := map[string]bool{}
			for _, r := range m.Repositories {
				ns, name, _ := strings.Cut(r.Repository, "/")
				if r.GUN != w.gun(ns, name) {
					t.Errorf("%s: GUN %q", r.Repository, r.GUN)
				}
				switch r.Status {
				case "backed_up":
					if r.Folder != folder(ns, name) || r.Error != nil {
						t.Errorf("%s: folder %q error %v, want folder %q", r.Repository, r.Folder, r.Error, folder(ns, name))
					}
					folders[r.Folder] = true
					b := rmBackup(t, w, tt.who, r.Repository)
					baSameAsBackup(t, x, r.Folder, b)
					if r.Files != len(b.manifest.Files) {
						t.Errorf("%s: manifest says %d files, its backup has %d", r.Repository, r.Files, len(b.manifest.Files))
					}
				case "no_trust_data", "failed":
					if r.Folder != "" || r.Files != 0 {
						t.Errorf("%s (%s) has a folder %q with %d files", r.Repository, r.Status, r.Folder, r.Files)
					}
					// Its own backup is refused, for the reason the export gives.
					status, body := rmCall(t, w, tt.who, http.MethodGet, "/api/v1/repositories/"+r.Repository+"/trust/backup", nil)
					wantStatus, wantCode := http.StatusNotFound, "no_trust_data"
					if r.Status == "failed" {
						wantStatus, wantCode = http.StatusServiceUnavailable, "trust_data_invalid"
						if r.Error == nil || r.Error.Code != wantCode || !strings.Contains(r.Error.Message, "failed verification") ||
							!strings.Contains(r.Error.Message, r.GUN) {
							t.Errorf("%s: error %+v, want %s naming the GUN", r.Repository, r.Error, wantCode)
						}
					} else if r.Error != nil {
						t.Errorf("%s without trust data has an error %+v", r.Repository, r.Error)
					}
					rmExpectError(t, "the backup of "+r.Repository, status, body, wantStatus, wantCode)
				}
			}
			if r := baFind(m, "prod/expired"); r != nil && (len(r.Expired) != 1 || r.Expired[0].Role != "targets") {
				t.Errorf("prod/expired: expired roles %+v, want targets", r.Expired)
			}
			// Nothing but the folders listed and the two top-level files.
			for p := range x.files {
				dir, _, nested := strings.Cut(p, "/")
				if nested && !folders[dir] || !nested && p != "manifest.json" && p != "README.txt" {
					t.Errorf("unexpected file %s in the export", p)
				}
			}
			readme := string(x.files["README.txt"])
			for _, s := range []string{tt.who.name, "tar -xzf " + x.filename} {
				if !strings.Contains(readme, s) {
					t.Errorf("README.txt lacks %q:\n%s", s, readme)
				}
			}
			if r := baFind(m, "prod/tampered"); r != nil && !strings.Contains(readme, r.GUN+": "+r.Error.Message) {
				t.Errorf("README.txt does not list the unreadable %s with its error:\n%s", r.GUN, readme)
			}
			count := map[string]int{}
			for _, r := range m.Repositories {
				count[r.Status]++
			}
			if m.BackedUp != count["backed_up"] || m.WithoutTrustData != count["no_trust_data"] || m.Failed != count["failed"] {
				t.Errorf("manifest counts %d/%d/%d, its list %v", m.BackedUp, m.WithoutTrustData, m.Failed, count)
			}
		})
	}

	// The page: the button on the list for anyone with repositories, the
	// same export through the UI route.
	t.Run("page", func(t *testing.T) {
		b := w.s.NewBrowser(t)
		b.Login(reader.name, reader.pass)
		resp, page := b.Get("/repositories")
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `href="/repositories/backup"`) ||
			!strings.Contains(page, "Download all trust backups") {
			t.Errorf("the reader's list page should offer the export: %d\n%s", resp.StatusCode, page)
		}
		resp, body := b.Get("/repositories/backup")
		x := baUnpack(t, "export through the page", resp, body)
		if got, want := baStatuses(x), tests[1].want; !slices.Equal(got, want) {
			t.Errorf("page export lists %q, want %q", got, want)
		}
		o := w.s.NewBrowser(t)
		o.Login(outsider.name, outsider.pass)
		if _, page := o.Get("/repositories"); strings.Contains(page, `href="/repositories/backup"`) {
			t.Errorf("the list page of an account without repositories offers the export")
		}
	})

	// Like a single backup, an export changes nothing and is not audited;
	// an unreadable repository in it is no server error (its own backup's
	// 503 is logged as such, as before).
	if after := baNewestEvent(t, w); after != auditBefore {
		t.Errorf("the exports were audited: newest event %d, was %d", after, auditBefore)
	}
	for _, l := range strings.Split(w.s.Logs.String(), "\n") {
		if strings.Contains(l, "level=ERROR") && !strings.Contains(l, "/prod/tampered/trust/backup") ||
			strings.Contains(l, "export") {
			t.Errorf("the exports logged: %s", l)
		}
	}
}

func baFind(m baManifest, repo string) *baRepo {
	for i := range m.Repositories {
		if m.Repositories[i].Repository == repo {
			return &m.Repositories[i]
		}
	}
	return nil
}

// baNewestEvent is the ID of the newest audit event.
func baNewestEvent(t *testing.T, w *world) int64 {
	t.Helper()
	status, body := rmCall(t, w, admin, http.MethodGet, "/api/v1/audit", nil)
	var reply struct {
		Events []auditEvent `json:"events"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil {
		t.Fatalf("GET /api/v1/audit: %d %s", status, body)
	}
	if len(reply.Events) == 0 {
		return 0
	}
	return reply.Events[0].ID
}
