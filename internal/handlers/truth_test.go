package handlers_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// The removal wizard tells the truth about client caches: clients that
// pulled keep resolving until their cached timestamp expires, clients that
// signed must clear their cache before they can initialise again.
func TestRemovalWizardTellsTheTruthAboutClientCaches(t *testing.T) {
	s, b := initialised(t)
	gun := s.Addr + "/prod/app"
	resp, page := b.Get("/repositories/prod/app/delete")
	caches := html.UnescapeString(sectionBetween(page, `id="client-caches"`, "</div>"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("wizard: %d", resp.StatusCode)
	}
	for _, says := range []string{"keeps resolving the old signed digests from its cached timestamp", "14 days by default",
		"the current one expires 20", "<code>notary delete " + gun + "</code> (without <code>--remote</code>)",
		"<code>~/.docker/trust/tuf/" + gun + "</code>"} {
		if !strings.Contains(caches, says) {
			t.Errorf("the wizard should say %q: %s", says, caches)
		}
	}
	if strings.Contains(page, "can no longer pull") {
		t.Error("the wizard still claims docker clients can no longer pull the tags")
	}
	noServerErrors(t, s)
}

// My keys says where the user is a signer: the repositories and roles
// whose delegation holds a key the user registered, among those the user
// may read.
func TestMyKeysSaysWhereTheUserIsASigner(t *testing.T) {
	s, admin := initialised(t)
	s.MustCreateUser(t, "jeff", userPassword, "prod", "read")
	pub := publicKeyPEM(t)
	resp, body := s.API(t, "jeff", userPassword, "POST", "/api/v1/users/jeff/keys", map[string]string{"public_key": pub})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	var k struct{ ID string }
	if err := json.Unmarshal([]byte(body), &k); err != nil {
		t.Fatal(err)
	}
	jeff := s.NewBrowser(t)
	jeff.Login("jeff", userPassword)
	_, page := jeff.Get("/profile/keys")
	if sec := sectionOf(page, "signer-in"); !strings.Contains(sec, "No delegation of a repository you can see holds one of your keys") {
		t.Errorf("before being added: %s", sec)
	}

	resp, body = admin.PostForm("/repositories/prod/app/signers", url.Values{"signer": {"jeff"}, "public_key": {pub},
		"repository_passphrase": {formRepoPass}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add signer: %d %s", resp.StatusCode, truncate(body))
	}
	_, page = jeff.Get("/profile/keys")
	sec := sectionOf(page, "signer-in")
	for _, role := range []string{"targets/jeff", "targets/releases"} {
		row := sectionBetween(sec, "<code>"+role+"</code>", "</tr>")
		if !strings.Contains(sec, `<a href="/repositories/prod/app#signers">prod/app</a></td><td><code>`+role+`</code>`) ||
			!strings.Contains(row, k.ID[:12]) {
			t.Errorf("jeff's keys page should list prod/app's %s with his key %s: %s", role, k.ID[:12], sec)
		}
	}
	noServerErrors(t, s)
}

// While the admin signs in with the generated password, every page reminds
// them to change it; changing it dismisses the reminder.
func TestGeneratedPasswordReminderUntilChanged(t *testing.T) {
	s := testserver.Start(t)
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	if _, page := b.Get("/repositories"); strings.Contains(page, "change-password-reminder") {
		t.Fatal("a password the operator chose needs no reminder")
	}
	// As EnsureAdmin leaves it when it generated the password.
	admin, err := s.App.Store.UserByName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.App.Store.MarkPasswordGenerated(context.Background(), admin.ID); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/repositories", "/profile/keys", "/admin/users"} {
		_, page := b.Get(path)
		if tag := tagOf(page, "change-password-reminder"); tag == "" || !strings.Contains(page, `<a href="/profile/keys#password">Change your password</a>`) {
			t.Errorf("%s: no reminder to change the generated password", path)
		}
	}
	resp, _ := b.PostForm("/profile/password", url.Values{"current_password": {testserver.AdminPassword},
		"new_password": {"a-new-password-2"}, "new_password_confirm": {"a-new-password-2"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change password: %d", resp.StatusCode)
	}
	if _, page := b.Get("/repositories"); strings.Contains(page, "change-password-reminder") {
		t.Error("the reminder stays after the password was changed")
	}
	noServerErrors(t, s)
}

// The new-repository form names the registry host images are named with.
func TestNewRepositoryFormShowsTheRegistryHost(t *testing.T) {
	s := testserver.Start(t)
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	_, page := b.Get("/repositories/new")
	if !strings.Contains(page, "The image is <code>"+s.Addr+"/namespace/name</code>") {
		t.Errorf("the form does not name the registry host %s: %s", s.Addr, sectionBetween(page, `id="name-rules"`, "</p>"))
	}
}
