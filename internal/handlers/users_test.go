package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// auditActions lists the audit's events as "actor action detail", newest first.
func auditActions(t *testing.T, s *testserver.Server) []string {
	t.Helper()
	resp, body := s.API(t, "admin", testserver.AdminPassword, "GET", "/api/v1/audit", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit: %d %s", resp.StatusCode, body)
	}
	var out struct {
		Events []struct{ Actor, Action, Detail string }
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range out.Events {
		lines = append(lines, e.Actor+" "+e.Action+" "+e.Detail)
	}
	return lines
}

// auditHas checks the audit has an event "actor action detail" starting
// with each of wants.
func auditHas(t *testing.T, s *testserver.Server, wants ...string) {
	t.Helper()
	events := strings.Join(auditActions(t, s), "\n")
	for _, want := range wants {
		if !strings.Contains(events, want) {
			t.Errorf("the audit misses %q:\n%s", want, events)
		}
	}
}

func TestDisablingAUserEndsTheirSessionsTokensAndLogins(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateRepo(t, "prod", "app")
	s.MustCreateUser(t, "carol", userPassword, "prod", "write")
	gun := s.Addr + "/prod/app"
	scope := "repository:" + gun + ":pull,push"
	pull := func(tok string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/v2/"+gun+"/_trust/tuf/root.json", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, _ := send(t, s.Client(), req)
		return resp.StatusCode
	}
	carol := s.NewBrowser(t)
	carol.Login("carol", userPassword)
	token := rawToken(t, s, "carol", userPassword, scope) // docker login, then a pull
	if got := pull(token); got == http.StatusUnauthorized {
		t.Fatalf("pull before: %d", got)
	}
	admin := s.NewBrowser(t)
	admin.Login("admin", testserver.AdminPassword)
	admin.Get("/admin/users/carol")
	resp, body := admin.PostForm("/admin/users/carol/disabled", url.Values{"disabled": {"true"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", resp.StatusCode, truncate(body))
	}
	if _, page := admin.Get("/admin/users/carol"); !strings.Contains(page, "is disabled") || !strings.Contains(page, "Enable carol") {
		t.Errorf("the user page should say carol is disabled and offer to enable her")
	}

	if resp, _ := carol.Get("/repositories"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("carol's live session: %d %s, want a redirect to the login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := pull(token); got != http.StatusUnauthorized {
		t.Errorf("carol's registry token: %d, want 401", got)
	}
	if resp, _ := s.API(t, "carol", userPassword, http.MethodGet, "/auth/token?scope="+url.QueryEscape(scope), nil); resp.StatusCode < 400 {
		t.Errorf("docker login as carol: %d, want refused", resp.StatusCode)
	}
	if resp, _ := s.API(t, "carol", userPassword, http.MethodGet, "/api/v1/repositories", nil); resp.StatusCode < 400 {
		t.Errorf("the API as carol: %d, want refused", resp.StatusCode)
	}
	again := s.NewBrowser(t)
	again.Get("/login")
	resp, body = again.PostForm("/login", url.Values{"username": {"carol"}, "password": {userPassword}})
	if alert, _ := alertText(body); resp.StatusCode != http.StatusForbidden || !strings.Contains(alert, "disabled") {
		t.Errorf("signing in as carol: %d %q, want 403 saying the account is disabled", resp.StatusCode, alert)
	}

	// Enabled again, she signs in; the audit has both changes.
	if resp, _ := admin.PostForm("/admin/users/carol/disabled", url.Values{"disabled": {"false"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", resp.StatusCode)
	}
	again.Login("carol", userPassword)
	if got := pull(rawToken(t, s, "carol", userPassword, scope)); got == http.StatusUnauthorized {
		t.Errorf("pull after enabling: %d", got)
	}
	auditHas(t, s, "admin user.disable user carol", "admin user.enable user carol")
	noServerErrors(t, s)
}

func TestAdministratorsCannotLockThemselvesOut(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateUser(t, "bob", userPassword, "", "")
	admin := s.NewBrowser(t)
	admin.Login("admin", testserver.AdminPassword)
	_, page := admin.Get("/admin/users/admin")
	if strings.Contains(page, "Disable admin") || strings.Contains(page, "Delete admin") {
		t.Error("an administrator's own page offers to disable or delete them")
	}
	for _, tc := range []struct {
		path string
		form url.Values
		says string
	}{
		{"/admin/users/admin/disabled", url.Values{"disabled": {"true"}}, "your own account"},
		{"/admin/users/admin/delete", url.Values{"confirm": {"admin"}}, "your own account"},
		{"/admin/users/admin/password", url.Values{"new_password": {"another-pass-1"}, "new_password_confirm": {"another-pass-1"}}, "My keys"},
	} {
		resp, body := admin.PostForm(tc.path, tc.form)
		if alert, _ := alertText(body); resp.StatusCode != http.StatusBadRequest || !strings.Contains(alert, tc.says) {
			t.Errorf("%s: %d %q, want 400 saying %q", tc.path, resp.StatusCode, alert, tc.says)
		}
	}
	// Nor through the API; another account, yes.
	resp, body := s.API(t, "admin", testserver.AdminPassword, "PATCH", "/api/v1/users/admin", map[string]any{"disabled": true})
	if code, _ := apiErr(t, body); resp.StatusCode != http.StatusBadRequest || code != "own_account" {
		t.Errorf("disable oneself through the API: %d %s", resp.StatusCode, body)
	}
	resp, body = s.API(t, "admin", testserver.AdminPassword, "PATCH", "/api/v1/users/bob", map[string]any{"disabled": true})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"disabled":true`) {
		t.Fatalf("disable bob: %d %s", resp.StatusCode, body)
	}
	noServerErrors(t, s)
}

func TestDeletedUsersKeepTheirNameInTheAudit(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateUser(t, "dave", userPassword, "team", "admin")
	dave := s.NewBrowser(t)
	dave.Login("dave", userPassword)
	if resp, _ := dave.PostForm("/repositories", url.Values{"namespace": {"team"}, "name": {"svc"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("dave creates a repository: %d", resp.StatusCode)
	}
	admin := s.NewBrowser(t)
	admin.Login("admin", testserver.AdminPassword)
	admin.Get("/admin/users/dave")
	unchanged(t, s, func() {
		resp, body := admin.PostForm("/admin/users/dave/delete", url.Values{"confirm": {"Dave"}})
		if tag := tagOf(body, "confirm"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(tag, `aria-invalid="true"`) {
			t.Errorf("a wrong confirmation: %d %s, want 400 at the field", resp.StatusCode, tag)
		}
	})
	if resp, _ := admin.PostForm("/admin/users/dave/delete", url.Values{"confirm": {"dave"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete dave: %d", resp.StatusCode)
	}
	if resp, _ := dave.Get("/repositories"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("dave's session outlived his account: %d", resp.StatusCode)
	}
	if resp, _ := admin.Get("/admin/users/dave"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("dave's page: %d, want 404", resp.StatusCode)
	}
	auditHas(t, s, "dave repository.create", "admin user.delete user dave")
	noServerErrors(t, s)
}

func TestNamespaceAdminRemovesARoleInTheirNamespace(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateUser(t, "nina", userPassword, "prod", "admin")
	s.MustCreateUser(t, "erin", userPassword, "prod", "write")
	if resp, body := s.API(t, "admin", testserver.AdminPassword, "PUT", "/api/v1/namespaces/other/members/erin",
		map[string]string{"role": "read"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("grant: %d %s", resp.StatusCode, body)
	}
	nina := s.NewBrowser(t)
	nina.Login("nina", userPassword)
	_, page := nina.Get("/admin/users/erin")
	if !strings.Contains(page, `aria-label="Remove the write role in prod"`) || strings.Contains(page, "other") {
		t.Errorf("nina should see and remove erin's role in prod only")
	}
	if resp, _ := nina.PostForm("/admin/members/delete", url.Values{"namespace": {"other"}, "username": {"erin"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("removing a role outside her namespaces: %d, want 403", resp.StatusCode)
	}
	resp, _ := nina.PostForm("/admin/members/delete", url.Values{"namespace": {"prod"}, "username": {"erin"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove erin's role: %d", resp.StatusCode)
	}
	if _, page = nina.Get("/admin/users/erin"); strings.Contains(page, "prod: write") {
		t.Error("erin still has her role in prod")
	}
	auditHas(t, s, "nina member.remove erin no longer has a role in prod")
	noServerErrors(t, s)
}

func TestUsersRemoveTheirOwnRegisteredKeysOnly(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateUser(t, "jeff", userPassword, "", "")
	s.MustCreateUser(t, "mallory", userPassword, "", "")
	resp, body := s.API(t, "jeff", userPassword, "POST", "/api/v1/users/jeff/keys", map[string]string{"public_key": publicKeyPEM(t)})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	var k struct{ ID string }
	if err := json.Unmarshal([]byte(body), &k); err != nil {
		t.Fatal(err)
	}
	mallory := s.NewBrowser(t)
	mallory.Login("mallory", userPassword)
	if resp, _ := mallory.PostForm("/profile/keys/"+k.ID+"/delete", url.Values{}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another user removes jeff's key: %d, want 404", resp.StatusCode)
	}
	jeff := s.NewBrowser(t)
	jeff.Login("jeff", userPassword)
	if _, page := jeff.Get("/profile/keys"); !strings.Contains(page, "docker trust key generate jeff") {
		t.Error("My keys should say how to make a key")
	}
	if resp, _ := jeff.PostForm("/profile/keys/"+k.ID+"/delete", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("jeff removes his key: %d", resp.StatusCode)
	}
	if _, body = s.API(t, "jeff", userPassword, "GET", "/api/v1/users/jeff/keys", nil); strings.Contains(body, k.ID) {
		t.Error("the key is still registered")
	}
	auditHas(t, s, "jeff user_key.delete public key "+k.ID+" of jeff")
	noServerErrors(t, s)
}
