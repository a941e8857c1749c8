package interop

// Acceptance of "Renew expiry": a repository initialised through trustdeck
// (repository key in the vault) whose targets metadata nears its expiry, or
// has passed it, is signed again from trustdeck, unchanged; docker trust
// inspect and the notary CLI show the same tags and signers afterwards, and
// docker reads an expired repository again. A signer's role is renewed
// with the signer's key file, uploaded once.
//
// The short expiries are made the way a client would: targets is signed
// again, unchanged but for its expiry, with the repository key exported
// from the vault, and published through the Notary API (the server signs
// the snapshot and timestamp). testnotary's fixtures are not used: their
// snapshot and timestamp keys are the test's, so the server could never
// sign the snapshot and timestamp a renewal needs.
//
// Helpers of this file are prefixed with rn.

import (
	"bytes"
	"encoding/json"
	"html"
	"maps"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/testserver"
	"github.com/trustdeck/trustdeck/internal/views"
)

// renewValidity is what a renewal gives: notary's three years.
const renewValidity = 3 * 365 * 24 * time.Hour

// TestRenewTargetsExpiry: prod/nginx is initialised through the API, jeff
// becomes a signer and signs tag 1 with the notary CLI; targets is then made
// to expire in ten days. The repository page offers "Renew…" on the targets
// row; the form says what will happen; a wrong passphrase is refused and
// publishes nothing; the right one signs targets again: version + 1, expiry
// three years from now, the same signed content, no other role signed again;
// docker trust inspect (on fresh machines) prints exactly what it printed
// before. Then targets/releases is renewed with jeff's key file, uploaded
// once through the form. Without docker the docker parts are skipped,
// loudly.
func TestRenewTargetsExpiry(t *testing.T) {
	t.Parallel()
	live := !dockerMissing(t, "the docker trust inspect comparisons of the expiry renewal",
		"the renewal, notary list and the inspect API are still checked")
	w := newWorld(t)
	w.s.MustCreateRepo(t, "prod", "nginx")
	gun := w.gun("prod", "nginx")
	repoID, laptop := rnInitWithJeff(t, w, live, "prod/nginx", gun)
	digest := sha256Hex(manifest)
	signed := map[string]revokeTagWant{"1": {digest, "jeff"}}

	// targets now expires in ten days.
	soon := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	w.rnSetTargetsExpiry(t, gun, w.mustExportKey(admin, repoID), repoPass, soon)
	old := w.rnTargets(t, gun)
	if !old.expires.Equal(soon) {
		t.Fatalf("targets expires %v, want %v", old.expires, soon)
	}
	w.revokeTagExpect(t, live, gun, "before renewal", signed)
	dockerBefore := rnDockerInspect(t, w, live, gun, "docker-before")

	// The repository page: the targets row is expiring and offers renewal.
	b := w.s.NewBrowser(t)
	b.Login(admin.name, admin.pass)
	resp, page := b.Get("/repositories/prod/nginx")
	row := rnExpiryRow(page, "targets")
	if resp.StatusCode != http.StatusOK || !strings.Contains(row, "expiring") ||
		!strings.Contains(row, `<a class="button primary" href="/repositories/prod/nginx/trust/renew?role=targets"`) {
		t.Fatalf("the targets row of the expiry table should be expiring and offer renewal (%d):\n%s", resp.StatusCode, row)
	}
	if r := rnExpiryRow(page, "root"); r == "" || strings.Contains(r, "/trust/renew") {
		t.Errorf("the root row should not offer renewal:\n%s", r)
	}
	rb := w.s.NewBrowser(t)
	rb.Login(reader.name, reader.pass)
	if _, page := rb.Get("/repositories/prod/nginx"); strings.Contains(page, "/trust/renew") {
		t.Errorf("a reader is offered renewal:\n%s", rnExpiryRow(page, "targets"))
	}
	if resp, _ := rb.Get("/repositories/prod/nginx/trust/renew?role=targets"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the renew form as a reader: %d, want 403", resp.StatusCode)
	}

	// The confirmation form says what will happen.
	formPath := "/repositories/prod/nginx/trust/renew"
	from := time.Now()
	resp, page = b.Get(formPath + "?role=targets")
	to := time.Now()
	text := html.UnescapeString(page)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the renew form: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{"is signed again with the repository key", "Tags and signers do not change",
		"Its version becomes " + strconv.Itoa(old.version+1), views.FormatTime(soon), repoID[:12], `name="passphrase"`, `name="_csrf"`} {
		if !strings.Contains(text, want) {
			t.Errorf("the renew form should say %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, views.FormatTime(from.Add(renewValidity))) && !strings.Contains(text, views.FormatTime(to.Add(renewValidity))) {
		t.Errorf("the renew form should give the new expiry %s:\n%s", views.FormatTime(from.Add(renewValidity)), text)
	}

	// A wrong passphrase: refused on the form, nothing published.
	before := w.trustMeta(gun)
	resp, page = rnPostForm(t, w, b, formPath, map[string]string{"role": "targets", "passphrase": "not-the-passphrase"}, "")
	if alert, _ := rnAlert(page); resp.StatusCode != http.StatusBadRequest || !strings.Contains(alert, "Wrong passphrase") {
		t.Errorf("renew with a wrong passphrase: %d, alert %q; want 400 and Wrong passphrase", resp.StatusCode, alert)
	}
	w.expectUnchanged(t, gun, before, "a refused renewal")

	// The right passphrase.
	from = time.Now()
	resp, page = rnPostForm(t, w, b, formPath, map[string]string{"role": "targets", "passphrase": repoPass}, "")
	to = time.Now()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/repositories/prod/nginx#notice" {
		t.Fatalf("renew targets: %d to %q, want 303 to the notice (in the expiry section):\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	renewed := w.rnTargets(t, gun)
	rnExpectRenewal(t, "targets", old, renewed, from, to)
	after := w.trustMeta(gun)
	rnExpectOnly(t, before, after, "targets")
	if _, page := b.Get("/repositories/prod/nginx"); !strings.Contains(page, "targets renewed: version "+strconv.Itoa(renewed.version)+
		", expires "+views.FormatTime(renewed.expires)) || !strings.Contains(rnExpiryRow(page, "targets"), "valid") {
		t.Errorf("the repository page should confirm the renewal and show targets valid:\n%s", rnExpiryRow(page, "targets"))
	}
	w.revokeTagExpect(t, live, gun, "after renewal", signed)
	if got := rnDockerInspect(t, w, live, gun, "docker-after"); got != dockerBefore {
		t.Errorf("docker trust inspect changed with the renewal:\n%s", lineDiff(got, dockerBefore))
	}

	// targets/releases with jeff's key file, uploaded once through the form.
	_, jeffPEM := revokeTagKeyFile(t, laptop, "jeff")
	relOld := w.rnRole(t, gun, "targets/releases")
	resp, page = b.Get(formPath + "?role=targets/releases")
	if text := html.UnescapeString(page); resp.StatusCode != http.StatusOK || !strings.Contains(text, "is signed again with one of its own keys") ||
		!strings.Contains(text, "The vault holds none of the keys") {
		t.Errorf("the renew form of targets/releases (%d) should ask for one of its keys:\n%s", resp.StatusCode, text)
	}
	before = w.trustMeta(gun)
	from = time.Now()
	resp, page = rnPostForm(t, w, b, formPath, map[string]string{"role": "targets/releases", "passphrase": trustPassphrase}, jeffPEM)
	to = time.Now()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("renew targets/releases with jeff's key file: %d\n%s", resp.StatusCode, page)
	}
	rnExpectRenewal(t, "targets/releases", relOld, w.rnRole(t, gun, "targets/releases"), from, to)
	rnExpectOnly(t, before, w.trustMeta(gun), "targets/releases")
	w.revokeTagExpect(t, live, gun, "after renewing releases", signed)
	if got := rnDockerInspect(t, w, live, gun, "docker-after-releases"); got != dockerBefore {
		t.Errorf("docker trust inspect changed with the renewal of targets/releases:\n%s", lineDiff(got, dockerBefore))
	}

	// jeff can still sign.
	laptop.mustNotary(jeff, "add", gun, "2", w.writeFile("manifest-2.json", revokeTagManifest2), "--roles", "targets/releases", "--roles", "targets/jeff")
	laptop.mustNotary(jeff, "publish", gun)
	signed["2"] = revokeTagWant{sha256Hex(revokeTagManifest2), "jeff"}
	w.revokeTagExpect(t, live, gun, "after jeff signed tag 2", signed)

	events := w.audit("prod/nginx")
	t.Logf("audit of prod/nginx:\n%s", eventList(events))
	rnExpectAudited(t, events, "admin", "targets", old.version, renewed.version, renewed.expires)
	if n := countEvents(events, "trust.renew"); n != 2 {
		t.Errorf("%d trust.renew events, want 2 (the refusal is not a renewal):\n%s", n, eventList(events))
	}
}

// TestRenewExpiredTargets: targets of prod/old expires while nobody looks;
// docker refuses the repository. The repository page says so and offers
// renewal; the repository key, exported and removed from the vault, is
// missing (409) until it is imported again through the API; a namespace
// administrator then renews targets through the API, and docker reads the
// repository again, with the same tags.
func TestRenewExpiredTargets(t *testing.T) {
	t.Parallel()
	live := !dockerMissing(t, "docker trust inspect of the expired and renewed repository",
		"the renewal, notary list and the inspect API are still checked")
	w := newWorld(t)
	w.s.MustCreateUser(t, nsAdmin.name, nsAdmin.pass, "prod", "admin")
	w.s.MustCreateRepo(t, "prod", "old")
	gun := w.gun("prod", "old")
	repoID, _ := rnInitWithJeff(t, w, live, "prod/old", gun)
	signed := map[string]revokeTagWant{"1": {sha256Hex(manifest), "jeff"}}
	dockerBefore := rnDockerInspect(t, w, live, gun, "docker-before")

	keyPEM := w.mustExportKey(admin, repoID)
	expiry := time.Now().Add(3 * time.Second)
	w.rnSetTargetsExpiry(t, gun, keyPEM, repoPass, expiry)
	old := w.rnTargets(t, gun)
	time.Sleep(time.Until(expiry) + 500*time.Millisecond)

	// docker refuses it now, and so does the inspect API.
	if status, body := w.call(reader, http.MethodGet, "/api/v1/trust/inspect?ref="+gun, nil); status != http.StatusNotFound {
		t.Errorf("inspect of expired targets: %d %s, want 404 as docker", status, body)
	}
	if live {
		box := w.newMachine("docker-expired")
		box.dockerLogin(reader)
		if r := box.docker("trust", "inspect", gun); r.ok() {
			t.Errorf("docker trust inspect of expired targets succeeded:\n%s", r)
		}
	}

	// The page explains, and offers renewal to administrators.
	b := w.s.NewBrowser(t)
	b.Login(nsAdmin.name, nsAdmin.pass)
	resp, page := b.Get("/repositories/prod/old")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "has expired") ||
		!strings.Contains(page, `id="expired-renew"`) || !strings.Contains(page, `href="/repositories/prod/old/trust/renew?role=targets"`) {
		t.Errorf("the repository page of expired targets should offer renewal (%d):\n%s", resp.StatusCode, page)
	}
	resp, page = b.Get("/repositories/prod/old/trust/renew?role=targets")
	if text := html.UnescapeString(page); resp.StatusCode != http.StatusOK || !strings.Contains(text, "It has expired") ||
		!strings.Contains(text, views.FormatTime(old.expires)) {
		t.Errorf("the renew form of expired targets (%d) should say it has expired:\n%s", resp.StatusCode, text)
	}

	api := "/api/v1/repositories/prod/old/trust/renew"
	before := w.trustMeta(gun)
	status, body := w.call(nsAdmin, http.MethodPost, api, map[string]string{"role": "targets", "repository_passphrase": "not-the-passphrase"})
	expectAPIError(t, "renew with a wrong passphrase", status, body, http.StatusBadRequest, "wrong_passphrase")
	w.expectUnchanged(t, gun, before, "a renewal with a wrong passphrase")

	// Without the key in the vault: 409 naming it, until it is imported.
	if status, body := w.call(admin, http.MethodDelete, "/api/v1/keys/"+repoID, nil); status != http.StatusNoContent {
		t.Fatalf("delete the repository key from the vault: %d %s", status, body)
	}
	status, body = w.call(nsAdmin, http.MethodPost, api, map[string]string{"repository_passphrase": repoPass})
	expectAPIError(t, "renew without the key in the vault", status, body, http.StatusConflict, "key_not_in_vault", repoID)
	w.expectUnchanged(t, gun, before, "a renewal without the key")
	status, body = w.call(nsAdmin, http.MethodPost, "/api/v1/keys", map[string]string{"pem": keyPEM, "passphrase": repoPass})
	if status != http.StatusCreated || !strings.Contains(body, repoID) {
		t.Fatalf("import the repository key again: %d %s", status, body)
	}

	from := time.Now()
	status, body = w.call(nsAdmin, http.MethodPost, api, map[string]string{"role": "targets", "repository_passphrase": repoPass})
	to := time.Now()
	var reply struct {
		GUN             string    `json:"gun"`
		Role            string    `json:"role"`
		Version         int       `json:"version"`
		Expires         time.Time `json:"expires"`
		PreviousVersion int       `json:"previous_version"`
		PreviousExpires time.Time `json:"previous_expires"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil || reply.GUN != gun || reply.Role != "targets" ||
		reply.PreviousVersion != old.version || !reply.PreviousExpires.Equal(old.expires.Truncate(time.Second)) {
		t.Fatalf("renew expired targets through the API: %d %s", status, body)
	}
	renewed := w.rnTargets(t, gun)
	rnExpectRenewal(t, "targets", old, renewed, from, to)
	if reply.Version != renewed.version || !reply.Expires.Equal(renewed.expires.Truncate(time.Second)) {
		t.Errorf("the API answered version %d expiring %v; targets.json says %d, %v", reply.Version, reply.Expires, renewed.version, renewed.expires)
	}
	rnExpectOnly(t, before, w.trustMeta(gun), "targets")

	// docker reads it again, as before it expired.
	w.revokeTagExpect(t, live, gun, "after renewing expired targets", signed)
	if got := rnDockerInspect(t, w, live, gun, "docker-after"); got != dockerBefore {
		t.Errorf("docker trust inspect after the renewal differs from before the expiry:\n%s", lineDiff(got, dockerBefore))
	}
	events := w.audit("prod/old")
	t.Logf("audit of prod/old:\n%s", eventList(events))
	rnExpectAudited(t, events, nsAdmin.name, "targets", old.version, renewed.version, renewed.expires)
}

// ---- helpers

// rnInitWithJeff initialises repo through the API as admin, adds signer
// jeff, and has jeff sign tag 1 on his laptop (machine "laptop") into
// targets/releases and targets/jeff with the notary CLI, his key loaded by
// docker (or imported by the notary CLI). It returns the repository key's
// ID and jeff's laptop.
func rnInitWithJeff(t *testing.T, w *world, live bool, repo, gun string) (string, *machine) {
	t.Helper()
	status, body := w.call(admin, http.MethodPost, "/api/v1/repositories/"+repo+"/trust",
		map[string]string{"root_passphrase": rootPass, "repository_passphrase": repoPass})
	if status != http.StatusCreated {
		t.Fatalf("initialise trust: %d %s", status, body)
	}
	var initGUN, rootID, repoID string
	decodeInit(t, body, &initGUN, &rootID, &repoID)
	jeffKey := w.newSignerKey("jeff")
	status, body = w.call(admin, http.MethodPost, "/api/v1/repositories/"+repo+"/signers", map[string]string{
		"name": "jeff", "public_key": readString(t, jeffKey.certFile), "repository_passphrase": repoPass})
	if status != http.StatusCreated {
		t.Fatalf("add signer jeff: %d %s", status, body)
	}
	laptop := w.newMachine("laptop")
	if live {
		laptop.dockerLogin(jeff)
		laptop.mustDocker("trust", "key", "load", "--name", "jeff", jeffKey.keyFile)
	} else {
		laptop.mustNotary(jeff, "key", "import", jeffKey.keyFile, "--role", "jeff")
	}
	laptop.mustNotary(jeff, "add", gun, "1", w.writeFile("manifest.json", manifest), "--roles", "targets/releases", "--roles", "targets/jeff")
	laptop.mustNotary(jeff, "publish", gun)
	return repoID, laptop
}

// rnSetTargetsExpiry signs targets of gun again, unchanged but for its
// expiry, with the repository key (an exported vault file and its
// passphrase), and publishes it through the Notary API as a client would:
// the server validates it and signs the snapshot and timestamp.
func (w *world) rnSetTargetsExpiry(t *testing.T, gun, keyPEM, pass string, expires time.Time) {
	t.Helper()
	key, err := utils.ParsePEMPrivateKey([]byte(keyPEM), pass)
	if err != nil {
		t.Fatal(err)
	}
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("")))
	if err := cs.AddKey(data.CanonicalTargetsRole, data.GUN(gun), key); err != nil {
		t.Fatal(err)
	}
	b := tuf.NewRepoBuilder(data.GUN(gun), cs, trustpinning.TrustPinConfig{})
	for _, role := range []data.RoleName{data.CanonicalRootRole, data.CanonicalTimestampRole, data.CanonicalSnapshotRole, data.CanonicalTargetsRole} {
		_, raw, err := w.s.App.Store.TUF().GetCurrent(data.GUN(gun), role)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Load(role, raw, 1, true); err != nil {
			t.Fatalf("load %s: %v", role, err)
		}
	}
	repo, _, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	s, err := repo.SignTargets(data.CanonicalTargetsRole, expires)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := canonicaljson.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreateFormFile("files", "targets")
	if err != nil {
		t.Fatal(err)
	}
	part.Write(raw)
	mw.Close()
	tok := w.token(admin, "repository:"+gun+":pull,push").token
	if status, body := w.notaryAPI(http.MethodPost, "/v2/"+gun+"/_trust/tuf/", tok, &buf, mw.FormDataContentType()); status != http.StatusOK {
		t.Fatalf("publish targets expiring %v: %d %s", expires, status, body)
	}
}

// rnMeta is one role's current metadata.
type rnMeta struct {
	version int
	expires time.Time
	content string // the signed part without version and expiry
}

// rnTargets reads targets.json of gun.
func (w *world) rnTargets(t *testing.T, gun string) rnMeta {
	t.Helper()
	return w.rnRole(t, gun, "targets")
}

// rnRole reads role's current metadata through the Notary API.
func (w *world) rnRole(t *testing.T, gun, role string) rnMeta {
	t.Helper()
	status, body := w.notaryAPI(http.MethodGet, "/v2/"+gun+"/_trust/tuf/"+role+".json", w.adminToken(gun), nil, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s.json of %s: %d %s", role, gun, status, body)
	}
	var f struct {
		Signed map[string]json.RawMessage `json:"signed"`
	}
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		t.Fatal(err)
	}
	var m rnMeta
	if err := json.Unmarshal(f.Signed["version"], &m.version); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(f.Signed["expires"], &m.expires); err != nil {
		t.Fatal(err)
	}
	delete(f.Signed, "version")
	delete(f.Signed, "expires")
	content, err := json.Marshal(f.Signed)
	if err != nil {
		t.Fatal(err)
	}
	m.content = string(content)
	return m
}

// rnExpectRenewal checks a renewal made between from and to: the next
// version, the same content, an expiry three years on.
func rnExpectRenewal(t *testing.T, role string, old, now rnMeta, from, to time.Time) {
	t.Helper()
	if now.version != old.version+1 {
		t.Errorf("%s: version %d → %d, want one more", role, old.version, now.version)
	}
	if now.content != old.content {
		t.Errorf("%s: the signed content changed:\n%s\n→\n%s", role, old.content, now.content)
	}
	if now.expires.Before(from.Add(renewValidity).Truncate(time.Second)) || now.expires.After(to.Add(renewValidity).Add(time.Second)) {
		t.Errorf("%s: expires %v, want three years from the renewal (%v)", role, now.expires, from.Add(renewValidity))
	}
}

// rnExpectOnly checks that role, snapshot and timestamp were published
// once and every other role is byte for byte as before.
func rnExpectOnly(t *testing.T, before, after trustState, role string) {
	t.Helper()
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s disappeared", name)
		case name == role || name == "snapshot" || name == "timestamp":
			if a.version != b.version+1 {
				t.Errorf("%s: version %d → %d, want one publish", name, b.version, a.version)
			}
		case a != b:
			t.Errorf("%s changed (v%d → v%d): renewing %s signs no other role", name, b.version, a.version, role)
		}
	}
	if len(after) != len(before) {
		t.Errorf("roles %s → %s", before, after)
	}
}

// rnExpectAudited checks the trust.renew event of role by actor, and that
// the Notary server recorded its publish under the same actor, writing
// role alone (and the server's snapshot and timestamp).
func rnExpectAudited(t *testing.T, events []auditEvent, actor, role string, from, to int, expires time.Time) {
	t.Helper()
	detail := role + " re-signed unchanged: version " + strconv.Itoa(from) + " → " + strconv.Itoa(to) + ", expires " + views.FormatTime(expires)
	for i, e := range events {
		if e.Action != "trust.renew" || !strings.Contains(e.Detail, detail) {
			continue
		}
		if e.Actor != actor {
			t.Errorf("%s is audited as made by %s, want %s", e, e.Actor, actor)
		}
		for j := i - 1; j >= 0; j-- {
			if u := events[j]; u.Action == "trust.update" {
				if u.Actor != actor || !strings.HasPrefix(u.Detail, role+" v"+strconv.Itoa(to)+", snapshot v") {
					t.Errorf("the publish of %s was recorded as %s, want by %s writing %s v%d", e, u, actor, role, to)
				}
				return
			}
		}
		t.Errorf("no trust.update before %s:\n%s", e, eventList(events))
		return
	}
	t.Errorf("no trust.renew event by %s saying %q:\n%s", actor, detail, eventList(events))
}

// rnDockerInspect is docker trust inspect's JSON for gun, on a fresh
// machine ("" without docker).
func rnDockerInspect(t *testing.T, w *world, live bool, gun, box string) string {
	t.Helper()
	if !live {
		return ""
	}
	c := w.newMachine(box)
	c.dockerLogin(reader)
	return c.mustDocker("trust", "inspect", gun).stdout
}

// rnExpiryRow is the row of role in the repository page's expiry table.
func rnExpiryRow(page, role string) string {
	section := exBetween(page, `<section id="expiry">`, "</section>")
	for _, row := range strings.Split(section, "<tr") {
		if strings.Contains(row, "<td><code>"+role+"</code>") { // then, after an action, a "changed" badge
			return row
		}
	}
	return ""
}

// rnAlert is the text of the page's alert.
func rnAlert(page string) (string, bool) {
	_, rest, ok := strings.Cut(page, `role="alert"`)
	if !ok {
		return "", false
	}
	_, rest, _ = strings.Cut(rest, ">")
	text, _, _ := strings.Cut(rest, "</")
	return html.UnescapeString(text), true
}

// rnPostForm submits the renew form as a browser does (multipart, the file
// input sent empty unless keyFile is given).
func rnPostForm(t *testing.T, w *world, b *testserver.Browser, path string, fields map[string]string, keyFile string) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields["_csrf"] = b.CSRF
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if err := mw.WriteField(k, fields[k]); err != nil {
			t.Fatal(err)
		}
	}
	name := ""
	if keyFile != "" {
		name = "jeff.key"
	}
	fw, err := mw.CreateFormFile("key_file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(keyFile))
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := b.C.Post(w.s.URL+path, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp, out.String()
}
