package interop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/tlsutil"
)

// listedRepo is a repository as GET /api/v1/repositories lists it.
type listedRepo struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	GUN       string `json:"gun"`
	Foreign   bool   `json:"foreign"`
	CreatedBy string `json:"created_by"`
	Trust     *struct {
		State      string `json:"state"`
		SignedTags int    `json:"signed_tags"`
		LastSigned string `json:"last_signed"`
	} `json:"trust"`
}

// listed returns the repositories a's search for q finds.
func (w *world) listed(a account, q string) []listedRepo {
	w.t.Helper()
	resp, body := w.s.API(w.t, a.name, a.pass, http.MethodGet, "/api/v1/repositories?q="+url.QueryEscape(q), nil)
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("list repositories as %s: %d %s", a.name, resp.StatusCode, body)
	}
	var list struct {
		Repositories []listedRepo `json:"repositories"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		w.t.Fatal(err)
	}
	return list.Repositories
}

func findRepo(list []listedRepo, gun string) (listedRepo, bool) {
	for _, r := range list {
		if r.GUN == gun {
			return r, true
		}
	}
	return listedRepo{}, false
}

// TestExternalForeignGUNs: in front of an external notary-server, GUNs
// outside --registry-host are discovered and listed under their full name,
// for global administrators only, and work like any other repository; a
// restarted memory backend (change IDs start again) is noticed; the list page
// says when the changefeed cannot be read.
func TestExternalForeignGUNs(t *testing.T) {
	requireNotaryServer(t)
	ns := startNotaryServer(t, map[string]any{"backend": "memory"})
	w := newWorld(t, "--notary-url", ns.URL, "--notary-ca", ns.CAFile,
		"--registry-host", extRegistry, "--notary-poll-interval", "200ms")
	s := w.s
	tina := account{"tina", "tina-password-123"} // admin of namespace "team" under the registry host
	s.MustCreateUser(t, tina.name, tina.pass, "team", "admin")
	alice := w.newExtMachine("alice", ns)

	const gun = "registry.other.example:5000/team/app"
	const path = "/repositories/~/registry.other.example:5000+team+app"
	alice.mustNotary("init", gun, "-p")
	alice.mustNotary("key", "rotate", gun, "snapshot", "-r")
	alice.mustNotary("add", gun, "v1", w.writeFile("foreign-v1", []byte("foreign artifact v1")))
	alice.mustNotary("publish", gun)
	// Not a docker repository name: skipped, with a log line.
	alice.mustNotary("init", "Upper/Case", "-p")
	// The same namespace/name under the registry host is another repository.
	alice.mustNotary("init", extRegistry+"/team/app", "-p")

	var repo listedRepo
	waitFor(t, gun+" to be discovered and summarised", 20*time.Second, func() (bool, string) {
		var ok bool
		repo, ok = findRepo(w.listed(admin, "registry.other.example"), gun)
		return ok && repo.Trust != nil && repo.Trust.State == "signed", repo.GUN
	})
	if !repo.Foreign || repo.Name != gun || repo.Namespace != "~" || repo.CreatedBy != "changefeed" || repo.Trust.SignedTags != 1 {
		t.Errorf("discovered repository %+v, want foreign, named by its GUN, created by the changefeed, 1 signed tag", repo)
	}
	waitFor(t, "the registry host's team/app and the skipped GUN's log line", 20*time.Second, func() (bool, string) {
		_, ok := findRepo(w.listed(admin, "team/app"), extRegistry+"/team/app")
		return ok && strings.Contains(s.Logs.String(), "Upper/Case"), ""
	})
	if _, ok := findRepo(w.listed(admin, "Upper"), "Upper/Case"); ok {
		t.Errorf("a GUN that is not a docker name was listed")
	}

	// Global administrators see it under its full name; the registry host's
	// namespace administrators do not, in the list or by its address.
	b := s.NewBrowser(t)
	b.Login(admin.name, admin.pass)
	resp, page := b.Get("/repositories?q=team")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `href="`+path+`"`) || !strings.Contains(page, ">"+gun+"<") {
		t.Errorf("list page: %d, lacks a link to %s named %s:\n%.3000s", resp.StatusCode, path, gun, page)
	}
	resp, page = b.Get(path)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, sha256Hex([]byte("foreign artifact v1"))) ||
		!strings.Contains(page, "<h1>"+gun+"</h1>") {
		t.Errorf("repository page %s: %d, lacks its heading or v1's digest:\n%.3000s", path, resp.StatusCode, page)
	}
	if list := w.listed(tina, ""); len(list) != 1 || list[0].GUN != extRegistry+"/team/app" {
		t.Errorf("tina (admin of team) lists %+v, want only %s/team/app", list, extRegistry)
	}
	bt := s.NewBrowser(t)
	bt.Login(tina.name, tina.pass)
	for _, p := range []string{path, path + "/delete", path + "/signers/new", path + "/trust/backup"} {
		if resp, _ := bt.Get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("tina GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	if resp, body := s.API(t, tina.name, tina.pass, http.MethodGet, "/api/v1/trust/inspect?ref="+url.QueryEscape(gun), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("tina inspects %s: %d %s, want 404", gun, resp.StatusCode, body)
	}

	// Inspection parity with docker, through the API.
	if !dockerMissing(t, "docker parity for a GUN outside the registry host", "the rest of the test still runs") {
		want := alice.mustDocker("trust", "inspect", gun).stdout
		resp, got := s.API(t, admin.name, admin.pass, http.MethodGet, "/api/v1/trust/inspect?ref="+url.QueryEscape(gun), nil)
		if resp.StatusCode != http.StatusOK || got != want {
			t.Errorf("inspect %s: trustdeck %d\n%s\ndocker:\n%s", gun, resp.StatusCode, got, want)
		}
	}

	// Added by hand with its whole GUN: global administrators only.
	const manual = "registry.third.example/ops/tool"
	if resp, body := s.API(t, tina.name, tina.pass, http.MethodPost, "/api/v1/repositories", map[string]string{"gun": manual}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("tina creates %s: %d %s, want 403", manual, resp.StatusCode, body)
	}
	resp, body := s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/repositories", map[string]string{"gun": manual})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"foreign":true`) {
		t.Errorf("admin creates %s: %d %s, want 201, foreign", manual, resp.StatusCode, body)
	}
	if resp, body := s.API(t, admin.name, admin.pass, http.MethodPost, "/api/v1/repositories", map[string]string{"gun": "Not A GUN"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("admin creates an invalid GUN: %d %s, want 400", resp.StatusCode, body)
	}
	// Its trust data is initialised from trustdeck on the external server,
	// and a signer added; docker sees both.
	const manualPath = "/api/v1/repositories/~/registry.third.example+ops+tool"
	if resp, body := s.API(t, admin.name, admin.pass, http.MethodPost, manualPath+"/trust",
		map[string]string{"root_passphrase": "root-pass-phrase-1", "repository_passphrase": trustPassphrase}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("initialise %s through trustdeck: %d %s", manual, resp.StatusCode, body)
	}
	if ns.status("/v2/"+manual+"/_trust/tuf/root.json") != http.StatusOK {
		t.Errorf("no root.json of %s on notary-server after trustdeck initialised it", manual)
	}
	dora := w.newSignerKey("dora")
	doraCert, _ := os.ReadFile(dora.certFile)
	if resp, body := s.API(t, admin.name, admin.pass, http.MethodPost, manualPath+"/signers",
		map[string]string{"name": "dora", "public_key": string(doraCert), "repository_passphrase": trustPassphrase}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("add signer dora to %s: %d %s", manual, resp.StatusCode, body)
	}
	if !dockerMissing(t, "docker's view of a repository trustdeck initialised on the external server", "trustdeck's own checks still run") {
		out := alice.mustDocker("trust", "inspect", "--pretty", manual).stdout
		if !strings.Contains(out, "dora") || !strings.Contains(out, "Administrative keys for "+manual) {
			t.Errorf("docker trust inspect --pretty %s lacks signer dora:\n%s", manual, out)
		}
	}
	if _, page := b.Get("/repositories/~/registry.third.example+ops+tool"); !strings.Contains(page, "dora") {
		t.Errorf("the page of %s does not list signer dora", manual)
	}

	// The audit of a foreign repository is asked for as ~/<GUN>.
	if _, ok := findEvent(w.audit("~/"+gun), "changefeed", "repository.create"); !ok {
		t.Errorf("no repository.create by the changefeed in the audit of ~/%s", gun)
	}
	if _, ok := findEvent(w.audit("~/"+manual), "admin", "signer.add", "dora"); !ok {
		t.Errorf("no signer.add of dora by admin in the audit of ~/%s: %v", manual, w.audit("~/"+manual))
	}

	// The list page says whether discovery works.
	if _, page := b.Get("/repositories"); !strings.Contains(page, "Repositories are discovered from the changefeed of") {
		t.Errorf("list page does not say where repositories are discovered:\n%.2000s", page)
	}
	ns.stop()
	waitFor(t, "the list page to say the changefeed cannot be read", 20*time.Second, func() (bool, string) {
		_, page := b.Get("/repositories")
		return strings.Contains(page, "cannot read the Notary server") && strings.Contains(page, "unreachable"), page
	})
	if _, page := bt.Get("/repositories"); !strings.Contains(page, "cannot read the Notary server") || strings.Contains(page, ns.URL) {
		t.Errorf("tina's list page: want the warning without the server's address:\n%.2000s", page)
	}

	// The memory backend starts empty, its change IDs from 1 again: the
	// poller notices and discovers what is pushed after the restart.
	ns.start()
	const after = "registry.other.example:5000/team/after-restart"
	alice.mustNotary("init", after, "-p")
	waitFor(t, after+" to be discovered after the server's restart", 20*time.Second, func() (bool, string) {
		_, ok := findRepo(w.listed(admin, "after-restart"), after)
		return ok, s.Logs.String()
	})
	if !strings.Contains(s.Logs.String(), "started again") {
		t.Errorf("no log line about the changefeed starting again")
	}
	// The restarted memory backend forgot every GUN: the summaries say so.
	waitFor(t, "the summary of "+gun+" to say it has no trust data any more", 20*time.Second, func() (bool, string) {
		r, ok := findRepo(w.listed(admin, "registry.other.example"), gun)
		return ok && r.Trust != nil && r.Trust.State == "none", fmt.Sprintf("%+v", r.Trust)
	})
	if _, page := b.Get("/repositories"); strings.Contains(page, "cannot read the Notary server") {
		t.Errorf("list page still warns after the server came back")
	}
}

// TestExternalNotaryServerTLSFailure: with a CA bundle that does not trust
// the server, every page renders and names the certificate as the cause.
func TestExternalNotaryServerTLSFailure(t *testing.T) {
	requireNotaryServer(t)
	ns := startNotaryServer(t, map[string]any{"backend": "memory"})
	other, err := tlsutil.Ensure(t.TempDir(), []string{"127.0.0.1"}) // another CA
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, "--notary-url", ns.URL, "--notary-ca", other.CACert,
		"--registry-host", extRegistry, "--notary-poll-interval", "200ms")
	s := w.s
	s.MustCreateRepo(t, "prod", "app")
	b := s.NewBrowser(t)
	b.Login(admin.name, admin.pass)
	const cause = "not signed by a trusted CA (check --notary-ca)"
	waitFor(t, "the list page to name the certificate", 20*time.Second, func() (bool, string) {
		resp, page := b.Get("/repositories")
		return resp.StatusCode == http.StatusOK && strings.Contains(page, cause), page
	})
	for _, p := range []string{"/repositories/prod/app", "/repositories/prod/app/delete"} {
		resp, page := b.Get(p)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, cause) {
			t.Errorf("GET %s: %d, want 200 naming the certificate:\n%.3000s", p, resp.StatusCode, page)
		}
	}
	resp, body := s.API(t, admin.name, admin.pass, http.MethodDelete, "/api/v1/repositories/prod/app/trust",
		map[string]string{"confirm": "prod/app"})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "trusted CA") {
		t.Errorf("delete trust data: %d %s, want 503 naming the certificate", resp.StatusCode, body)
	}
}
