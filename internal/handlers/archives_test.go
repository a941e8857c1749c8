package handlers_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/removal"
	"github.com/trustdeck/trustdeck/internal/testnotary"
	"github.com/trustdeck/trustdeck/internal/testserver"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// signedFiles signs trust data of gun offline (a released tag and a
// signer's), as a Notary server would serve it.
func signedFiles(t testing.TB, gun string) map[string][]byte {
	t.Helper()
	b, err := testnotary.Fixture{GUN: gun, Delegations: []string{"targets/releases", "targets/jeff"},
		Targets: map[string]map[string]string{"targets/releases": {"v1": "image v1"}, "targets/jeff": {"v1": "image v1", "dev": "image dev"}}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	return b.Files
}

// backupOf is the backup archive trustdeck writes for files (gun's trust
// data), made at at.
func backupOf(t testing.TB, gun string, files map[string][]byte, at time.Time) []byte {
	t.Helper()
	v := trust.Verify(gun, files, trust.VerifyOptions{At: at})
	if v.Repo == nil {
		t.Fatalf("fixture of %s does not verify: %v", gun, v.Problems)
	}
	_, archive, err := removal.Archive(gun, v.Repo, at, "admin", "https://notary.test")
	if err != nil {
		t.Fatal(err)
	}
	return archive
}

// repack unpacks archive, applies changes (nil removes a file; paths below
// the top folder) and packs it again.
func repack(t testing.TB, archive []byte, changes map[string][]byte) []byte {
	t.Helper()
	top, files := testnotary.Untar(t, archive)
	for p, c := range changes {
		if c == nil {
			delete(files, p)
		} else {
			files[p] = c
		}
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		tw.WriteHeader(&tar.Header{Name: top + "/" + p, Mode: 0o644, Size: int64(len(files[p])), Typeflag: tar.TypeReg})
		tw.Write(files[p])
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// postMultipart posts a multipart form (fields, then the file field if
// not "") with client, and returns the answer.
func postMultipart(t testing.TB, client *http.Client, url string, fields map[string]string, field string, file []byte,
	prepare func(*http.Request)) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if field != "" {
		w, _ := mw.CreateFormFile(field, "backup.tar.gz")
		w.Write(file)
	}
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, url, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if prepare != nil {
		prepare(req)
	}
	return send(t, client, req)
}

// upload posts body as the multipart field "archive" (field "" sends the
// body as it is, as application/gzip) as user, to the API.
func upload(t testing.TB, s *testserver.Server, user, pass, field string, body []byte) (*http.Response, string) {
	t.Helper()
	return postMultipart(t, s.Client(), s.URL+"/api/v1/archives/import", nil, field, body, func(req *http.Request) {
		req.SetBasicAuth(user, pass)
		if field == "" {
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
			req.Header.Set("Content-Type", "application/gzip")
		}
	})
}

type archiveJSON struct {
	ID           int64  `json:"id"`
	GUN          string `json:"gun"`
	Source       string `json:"source"`
	Verification struct {
		Valid       bool     `json:"valid"`
		TrustAnchor string   `json:"trust_anchor"`
		RootKeyIDs  []string `json:"root_key_ids"`
	} `json:"verification"`
	RootChain struct {
		Status     string `json:"status"`
		PreviousID *int64 `json:"previous_id"`
	} `json:"root_chain"`
	SignedTags int    `json:"signed_tags"`
	Warning    string `json:"warning"`
}

// mustImport imports archive as admin and returns its ID.
func mustImport(t testing.TB, s *testserver.Server, archive []byte) int64 {
	t.Helper()
	resp, body := upload(t, s, "admin", testserver.AdminPassword, "archive", archive)
	var a archiveJSON
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &a) != nil || a.ID == 0 {
		t.Fatalf("import: %d %s", resp.StatusCode, body)
	}
	return a.ID
}

// Who may import, read and delete archives, and what each sees.
func TestArchiveAccess(t *testing.T) {
	s := testserver.Start(t)
	setUpPrincipals(t, s)
	at := time.Now().Add(-time.Hour).UTC()
	prodGUN, otherGUN, foreignGUN := s.Addr+"/prod/app", s.Addr+"/other/thing", "docker.io/library/foreign"
	prod := backupOf(t, prodGUN, signedFiles(t, prodGUN), at)
	other := backupOf(t, otherGUN, signedFiles(t, otherGUN), at)
	foreign := backupOf(t, foreignGUN, signedFiles(t, foreignGUN), at)

	// Importing needs admin on the GUN's namespace; outside the registry
	// host, a global administrator.
	for _, tt := range []struct {
		who     string
		archive []byte
		want    int
	}{
		{pReader, prod, s403}, {pWriter, prod, s403}, {pOutsider, prod, s403}, {pNSAdmin, foreign, s403},
		{pNSAdmin, prod, s201}, {pOutsider, other, s201}, {pGlobal, foreign, s201},
	} {
		resp, body := upload(t, s, tt.who, passwordOf(tt.who), "archive", tt.archive)
		if resp.StatusCode != tt.want {
			t.Errorf("import as %s: %d %s, want %d", tt.who, resp.StatusCode, body, tt.want)
		}
	}
	list := func(who string) []string {
		resp, body := s.API(t, who, passwordOf(who), "GET", "/api/v1/archives", nil)
		var l struct{ Archives []archiveJSON }
		if resp.StatusCode != s200 || json.Unmarshal([]byte(body), &l) != nil {
			t.Fatalf("list as %s: %d %s", who, resp.StatusCode, body)
		}
		var out []string
		for _, a := range l.Archives {
			out = append(out, a.GUN)
		}
		slices.Sort(out)
		return out
	}
	for who, want := range map[string][]string{
		pReader: {prodGUN}, pNSAdmin: {prodGUN}, pOutsider: {otherGUN},
		pGlobal: slices.Sorted(slices.Values([]string{prodGUN, otherGUN, foreignGUN})),
	} {
		if got := list(who); !slices.Equal(got, want) {
			t.Errorf("archives %s sees: %v, want %v", who, got, want)
		}
	}
	// The repository list shows them too, with their badge.
	b := s.NewBrowser(t)
	b.Login(pReader, userPassword)
	if _, page := b.Get("/repositories"); !strings.Contains(page, `id="archived"`) || !strings.Contains(page, prodGUN) ||
		strings.Contains(page, otherGUN) || !strings.Contains(page, `class="badge archived"`) {
		t.Errorf("the repository list of reader lacks prod's archive, or shows other's:\n%s", truncate(page))
	}
	// Deleting is for global administrators, and audited.
	resp, _ := s.API(t, pNSAdmin, userPassword, "DELETE", "/api/v1/archives/1", nil)
	if resp.StatusCode != s403 {
		t.Errorf("a namespace admin deletes an archive: %d", resp.StatusCode)
	}
	if resp, body := s.API(t, pGlobal, testserver.AdminPassword, "DELETE", "/api/v1/archives/1", nil); resp.StatusCode != s204 {
		t.Errorf("a global admin deletes an archive: %d %s", resp.StatusCode, body)
	}
	if got := list(pReader); len(got) != 0 {
		t.Errorf("after deletion reader sees %v", got)
	}
	_, body := s.API(t, pGlobal, testserver.AdminPassword, "GET", "/api/v1/audit?repository=prod/app", nil)
	for _, action := range []string{`"action":"archive.import","gun":"` + prodGUN, `"action":"archive.delete","gun":"` + prodGUN} {
		if !strings.Contains(body, action) {
			t.Errorf("audit of prod/app lacks %s:\n%s", action, body)
		}
	}
}

// Bad uploads are refused with a 4xx naming what is wrong, and change
// nothing; an archive that fails verification is a 422 naming the role
// and the check.
func TestArchiveImportRefusals(t *testing.T) {
	s := testserver.Start(t)
	gun := s.Addr + "/prod/app"
	at := time.Now().Add(-time.Hour).UTC()
	files := signedFiles(t, gun)
	good := backupOf(t, gun, files, at)
	tampered := bytes.Replace(files["targets/jeff"], []byte(`"dev"`), []byte(`"dew"`), 1)
	// A timestamp that expires two hours from now, in an archive that says
	// it was made three hours from now.
	brief, err := testnotary.Fixture{GUN: gun, Expires: map[string]time.Time{"timestamp": time.Now().Add(2 * time.Hour)},
		Targets: map[string]map[string]string{"targets": {"v1": "image v1"}}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	briefArchive := backupOf(t, gun, brief.Files, at)
	var m map[string]any
	_, briefFiles := testnotary.Untar(t, briefArchive)
	json.Unmarshal(briefFiles["manifest.json"], &m)
	m["created_at"] = time.Now().Add(3 * time.Hour).UTC()
	lateManifest, _ := json.Marshal(m)
	delete(m, "created_at")
	undatedManifest, _ := json.Marshal(m)
	huge := make([]byte, 33<<20)

	tests := []struct {
		name       string
		field      string
		body       []byte
		status     int
		code       string
		role, chec string
	}{
		{"not gzip", "archive", []byte("hello"), 400, "unreadable_archive", "", ""},
		{"no manifest", "archive", repack(t, good, map[string][]byte{"manifest.json": nil}), 400, "unreadable_archive", "", ""},
		{"undated", "archive", repack(t, good, map[string][]byte{"manifest.json": undatedManifest}), 400, "unreadable_archive", "", ""},
		{"no file field", "other", good, 400, "missing_archive", "", ""},
		{"not multipart", "", good, 400, "missing_archive", "", ""},
		{"too large", "archive", huge, 413, "archive_too_large", "", ""},
		{"a changed byte in a signed role", "archive", repack(t, good, map[string][]byte{"targets/jeff.json": tampered}), 422, "verification_failed", "targets/jeff", "hash"},
		{"a removed delegation", "archive", repack(t, good, map[string][]byte{"targets/jeff.json": nil}), 422, "verification_failed", "targets/jeff", "missing"},
		{"expired when it was made", "archive", repack(t, briefArchive, map[string][]byte{"manifest.json": lateManifest}), 422, "verification_failed", "timestamp", "expiry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := upload(t, s, "admin", testserver.AdminPassword, tt.field, tt.body)
			var e struct {
				Error struct {
					Code, Message string
					Problems      []struct{ Role, Check, Message string }
				}
			}
			json.Unmarshal([]byte(body), &e)
			if resp.StatusCode != tt.status || (tt.code != "" && e.Error.Code != tt.code) || e.Error.Message == "" {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if tt.role != "" && (len(e.Error.Problems) == 0 || e.Error.Problems[0].Role != tt.role || e.Error.Problems[0].Check != tt.chec ||
				!strings.Contains(e.Error.Message, tt.role+": "+tt.chec)) {
				t.Errorf("the refusal should name %s and %s first: %s", tt.role, tt.chec, body)
			}
		})
	}
	if resp, body := s.API(t, "admin", testserver.AdminPassword, "GET", "/api/v1/archives", nil); resp.StatusCode != s200 || body != `{"archives":[]}`+"\n" {
		t.Errorf("refused imports stored something: %s", body)
	}
	// The same archive imported, downloaded and imported again: both kept,
	// the second checked against the first's root.
	first := mustImport(t, s, good)
	resp, download := s.API(t, "admin", testserver.AdminPassword, "GET", fmt.Sprintf("/api/v1/archives/%d/download", first), nil)
	if resp.StatusCode != s200 || resp.Header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("download: %d %s", resp.StatusCode, resp.Header)
	}
	second := mustImport(t, s, []byte(download))
	_, body := s.API(t, "admin", testserver.AdminPassword, "GET", fmt.Sprintf("/api/v1/archives/%d", second), nil)
	var a archiveJSON
	json.Unmarshal([]byte(body), &a)
	if a.RootChain.Status != "same" || a.RootChain.PreviousID == nil || *a.RootChain.PreviousID != first || !a.Verification.Valid {
		t.Errorf("the second import: %s", body)
	}
	// Another root for the same GUN: stored, with a loud warning.
	replaced := backupOf(t, gun, signedFiles(t, gun), at.Add(time.Minute))
	resp, body = upload(t, s, "admin", testserver.AdminPassword, "archive", replaced)
	json.Unmarshal([]byte(body), &a)
	if resp.StatusCode != s201 || a.RootChain.Status != "broken" || !strings.Contains(a.Warning, "does not chain") {
		t.Errorf("an archive with another root: %d %s", resp.StatusCode, body)
	}
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	if _, page := b.Get(fmt.Sprintf("/archives/%d", a.ID)); !strings.Contains(page, `id="root-chain"`) ||
		!strings.Contains(page, "Warning: this root does not chain") {
		t.Errorf("the page of an archive whose root does not chain has no warning:\n%s", truncate(page))
	}
	if strings.Contains(s.Logs.String(), "level=ERROR") {
		t.Errorf("server errors:\n%s", errorLines(s.Logs.String()))
	}
}

// Every archive form needs the session's CSRF token: without it the
// import (multipart), the capture and the deletion are refused and change
// nothing; with it they work.
func TestArchiveFormsNeedCSRF(t *testing.T) {
	s := testserver.Start(t)
	gun := s.Addr + "/prod/app"
	archive := backupOf(t, gun, signedFiles(t, gun), time.Now().Add(-time.Hour))
	id := mustImport(t, s, archive)
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	importForm := func(token string) (*http.Response, string) {
		fields := map[string]string{}
		if token != "" {
			fields["_csrf"] = token
		}
		return postMultipart(t, b.C, s.URL+"/archives/import", fields, "archive", archive, nil)
	}
	count := func() int {
		_, body := s.API(t, "admin", testserver.AdminPassword, "GET", "/api/v1/archives", nil)
		return strings.Count(body, `"id":`)
	}
	for _, tok := range []string{"", "not-the-token-not-the-token-1234"} {
		if resp, body := importForm(tok); resp.StatusCode != s403 || !strings.Contains(body, "CSRF") {
			t.Errorf("import with token %q: %d %s", tok, resp.StatusCode, truncate(body))
		}
		form := url.Values{"_csrf": {tok}}
		if resp, _ := b.C.PostForm(s.URL+fmt.Sprintf("/archives/%d/delete", id), form); resp.StatusCode != s403 {
			t.Errorf("delete with token %q: %d", tok, resp.StatusCode)
		}
		form = url.Values{"_csrf": {tok}, "notary_url": {s.URL}, "guns": {gun}, "username": {"admin"}, "password": {testserver.AdminPassword}}
		if resp, _ := b.C.PostForm(s.URL+"/archives/capture", form); resp.StatusCode != s403 {
			t.Errorf("capture with token %q: %d", tok, resp.StatusCode)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("refused forms changed the archives: %d", n)
	}
	b.Get("/archives/import")
	if resp, body := importForm(b.CSRF); resp.StatusCode != s303 || !strings.HasPrefix(resp.Header.Get("Location"), "/archives/") {
		t.Errorf("import with the token: %d %s", resp.StatusCode, truncate(body))
	}
	if resp, body := b.PostForm(fmt.Sprintf("/archives/%d/delete", id), url.Values{}); resp.StatusCode != s303 {
		t.Errorf("delete with the token: %d %s", resp.StatusCode, truncate(body))
	}
	if n := count(); n != 1 {
		t.Fatalf("after one import and one deletion with the token: %d archives", n)
	}
}

// Capturing from trustdeck's own Notary API, with credentials over its
// token service: one GUN, again (history), several at once with per-GUN
// results, and the refusals of a capture that cannot read.
func TestArchiveCaptureFromTrustdeck(t *testing.T) {
	s := testserver.Start(t)
	setUpPrincipals(t, s)
	s.MustCreateRepo(t, "prod", "web")
	gun, other := s.Addr+"/prod/app", s.Addr+"/prod/web"
	for _, g := range []string{gun, other} {
		b, err := testnotary.Fixture{GUN: g, Delegations: []string{"targets/releases"},
			Targets: map[string]map[string]string{"targets/releases": {"v1": "image v1"}}}.Build()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.App.Store.TUF().UpdateMany(data.GUN(g), b.Updates()); err != nil {
			t.Fatal(err)
		}
	}
	capture := func(who string, body map[string]any) (*http.Response, archiveJSON, string) {
		t.Helper()
		resp, out := s.API(t, who, passwordOf(who), "POST", "/api/v1/archives", body)
		var a archiveJSON
		json.Unmarshal([]byte(out), &a)
		return resp, a, out
	}
	src := func(extra map[string]any) map[string]any {
		m := map[string]any{"notary_url": s.URL, "username": pNSAdmin, "password": userPassword}
		maps.Copy(m, extra)
		return m
	}
	resp, first, body := capture(pNSAdmin, src(map[string]any{"gun": gun}))
	if resp.StatusCode != s201 || first.GUN != gun || first.Source != "capture" || !first.Verification.Valid ||
		first.RootChain.Status != "first" || first.SignedTags != 1 {
		t.Fatalf("capture: %d %s", resp.StatusCode, body)
	}
	resp, second, body := capture(pNSAdmin, src(map[string]any{"gun": gun}))
	if resp.StatusCode != s201 || second.RootChain.Status != "same" || second.RootChain.PreviousID == nil || *second.RootChain.PreviousID != first.ID {
		t.Fatalf("capture again: %d %s", resp.StatusCode, body)
	}
	_, liveJSON := s.API(t, "admin", testserver.AdminPassword, "GET", "/api/v1/trust/inspect?ref="+gun, nil)
	if _, got := s.API(t, pReader, userPassword, "GET", fmt.Sprintf("/api/v1/archives/%d/inspect", second.ID), nil); got != liveJSON {
		t.Errorf("the capture's inspection differs from the live one:\n%s\n--- live:\n%s", got, liveJSON)
	}

	for _, tt := range []struct {
		name   string
		who    string
		body   map[string]any
		status int
		code   string
	}{
		{"an outsider's capture of prod", pOutsider, src(map[string]any{"gun": gun, "username": pOutsider}), s403, "forbidden"},
		{"anonymous, where the server wants credentials", pNSAdmin, map[string]any{"notary_url": s.URL, "gun": gun}, 400, "notary_refused"},
		{"a wrong password", pNSAdmin, src(map[string]any{"gun": gun, "password": "wrong-password-1"}), 400, "notary_refused"},
		{"no trust data", pNSAdmin, src(map[string]any{"gun": s.Addr + "/prod/none"}), s404, "no_trust_data"},
		{"nothing listening", pNSAdmin, src(map[string]any{"gun": gun, "notary_url": "https://127.0.0.1:1"}), 503, "notary_unavailable"},
		{"plain http", pNSAdmin, src(map[string]any{"gun": gun, "notary_url": "http://" + s.Addr}), 400, "invalid_notary_url"},
		{"a CA that is no PEM", pNSAdmin, src(map[string]any{"gun": gun, "ca_pem": "junk"}), 400, "invalid_ca_pem"},
		{"gun and guns", pNSAdmin, src(map[string]any{"gun": gun, "guns": []string{gun}}), 400, "missing_gun"},
		{"not a GUN", pNSAdmin, src(map[string]any{"gun": "Not A GUN"}), 400, "invalid_gun"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, body := capture(tt.who, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, `"code":"`+tt.code+`"`) {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
		})
	}

	// Several at once: each GUN's result, in order.
	resp, body = s.API(t, pNSAdmin, userPassword, "POST", "/api/v1/archives",
		src(map[string]any{"guns": []string{other, s.Addr + "/prod/none", "docker.io/library/x"}}))
	var bulk struct {
		Results []struct {
			GUN, Status string
			Archive     *archiveJSON
			Error       *struct{ Code, Message string }
		}
		Captured, Failed int
	}
	json.Unmarshal([]byte(body), &bulk)
	if resp.StatusCode != s200 || bulk.Captured != 1 || bulk.Failed != 2 || len(bulk.Results) != 3 ||
		bulk.Results[0].Status != "captured" || bulk.Results[0].Archive == nil ||
		bulk.Results[1].Error == nil || bulk.Results[1].Error.Code != "no_trust_data" ||
		bulk.Results[2].Error == nil || bulk.Results[2].Error.Code != "forbidden" {
		t.Fatalf("bulk capture: %d %s", resp.StatusCode, body)
	}

	// The page: a list of GUNs runs in the background and shows each
	// result; one GUN leads to its archive.
	b := s.NewBrowser(t)
	b.Login(pNSAdmin, userPassword)
	b.Get("/archives/capture")
	form := url.Values{"notary_url": {s.URL}, "guns": {gun + "\n" + other + "\n" + gun}, "username": {pNSAdmin}, "password": {userPassword}}
	resp, page := b.PostForm("/archives/capture", form)
	job := resp.Header.Get("Location")
	if resp.StatusCode != s303 || !strings.HasPrefix(job, "/archives/captures/") {
		t.Fatalf("bulk capture form: %d %s", resp.StatusCode, truncate(page))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, page = b.Get(job)
		if strings.Contains(page, "Done: 2 captured, 0 failed.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bulk capture did not finish:\n%s", truncate(page))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if other := s.NewBrowser(t); true {
		other.Login(pGlobal, testserver.AdminPassword)
		if resp, _ := other.Get(job); resp.StatusCode != s404 {
			t.Errorf("another user's capture page: %d", resp.StatusCode)
		}
	}
	resp, _ = b.PostForm("/archives/capture", url.Values{"notary_url": {s.URL}, "guns": {other}, "username": {pNSAdmin}, "password": {userPassword}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != s303 || !strings.HasPrefix(loc, "/archives/") {
		t.Fatalf("one GUN: %d %s", resp.StatusCode, loc)
	} else if _, page := b.Get(loc); !strings.Contains(page, "Captured "+other) || !strings.Contains(page, `id="history"`) ||
		!strings.Contains(page, "Signed tags") || !strings.Contains(page, "v1") {
		t.Errorf("the archive page after capturing one GUN:\n%s", truncate(page))
	}
	resp, page = b.PostForm("/archives/capture", url.Values{"notary_url": {s.URL}, "guns": {gun}, "username": {pNSAdmin}, "password": {"wrong-password-1"}})
	if resp.StatusCode != 400 || !strings.Contains(page, `role="alert"`) || !strings.Contains(page, "refused") ||
		strings.Contains(page, "wrong-password-1") || !strings.Contains(page, `value="`+s.URL+`"`) {
		t.Errorf("a refused capture on the page: %d %s", resp.StatusCode, truncate(page))
	}
	// The one 503 (nothing listening) is logged as every 503 is; nothing
	// else, and never a password.
	if errs := errorLines(s.Logs.String()); strings.Count(errs, "level=ERROR") != 2 || strings.Count(errs, "https://127.0.0.1:1") != 1 ||
		strings.Contains(s.Logs.String(), userPassword) || strings.Contains(s.Logs.String(), "wrong-password-1") {
		t.Errorf("server errors, or a password in the log:\n%s", errs)
	}
}
