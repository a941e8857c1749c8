package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

func TestLoginCreateSearchLogout(t *testing.T) {
	s := testserver.Start(t)
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	resp, body := b.PostForm("/repositories", url.Values{"namespace": {"prod"}, "name": {"nginx"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/repositories/prod/nginx") {
		t.Fatalf("create: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = b.Get("/repositories?q=ngi")
	if resp.StatusCode != 200 || !strings.Contains(body, ">prod</a>") && !strings.Contains(body, "prod/nginx") {
		t.Fatalf("search: %d %s", resp.StatusCode, body)
	}
	resp, body = b.Get("/repositories/prod/nginx")
	if resp.StatusCode != 200 || !strings.Contains(body, "127.0.0.1") {
		t.Fatalf("show: %d %s", resp.StatusCode, body)
	}
	resp, _ = b.PostForm("/logout", url.Values{})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp, _ = b.Get("/repositories")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("after logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestNoticeIsAFlashNotAQueryParameter(t *testing.T) {
	s := testserver.Start(t)
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	if _, body := b.Get("/repositories?notice=Call+us+now"); strings.Contains(body, "Call us now") {
		t.Fatal("a notice from the query string was shown")
	}
	b.PostForm("/repositories", url.Values{"namespace": {"prod"}, "name": {"web"}})
	if _, body := b.Get("/repositories/prod/web"); !strings.Contains(body, "Repository prod/web created.") {
		t.Fatal("the flash notice was not shown after creating")
	}
	if _, body := b.Get("/repositories/prod/web"); strings.Contains(body, "Repository prod/web created.") {
		t.Fatal("the flash notice was shown twice")
	}
}

func TestChangePasswordEndsOtherSessions(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateUser(t, "carol", "first-password", "", "")
	here, elsewhere := s.NewBrowser(t), s.NewBrowser(t)
	here.Login("carol", "first-password")
	elsewhere.Login("carol", "first-password")
	here.Get("/profile/keys")
	for _, tc := range []struct {
		form   url.Values
		status int
		alert  string
	}{
		{url.Values{"current_password": {"wrong-password"}, "new_password": {"second-password"}, "new_password_confirm": {"second-password"}}, 400, "current password is wrong"},
		{url.Values{"current_password": {"first-password"}, "new_password": {"second-password"}, "new_password_confirm": {"other-password"}}, 400, "differ"},
		{url.Values{"current_password": {"first-password"}, "new_password": {"short"}, "new_password_confirm": {"short"}}, 400, "at least 8"},
	} {
		resp, body := here.PostForm("/profile/password", tc.form)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.alert) {
			t.Fatalf("%v: %d, want %d with %q", tc.form, resp.StatusCode, tc.status, tc.alert)
		}
	}
	resp, _ := here.PostForm("/profile/password", url.Values{"current_password": {"first-password"},
		"new_password": {"second-password"}, "new_password_confirm": {"second-password"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", resp.StatusCode)
	}
	if resp, body := here.Get("/profile/keys"); resp.StatusCode != 200 || !strings.Contains(body, "Password changed") {
		t.Fatalf("this browser after the change: %d", resp.StatusCode)
	}
	if resp, _ := elsewhere.Get("/repositories"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the other session survived the password change: %d", resp.StatusCode)
	}
	if resp, _ := s.API(t, "carol", "first-password", "GET", "/api/v1/repositories", nil); resp.StatusCode != 401 {
		t.Fatalf("old password still works: %d", resp.StatusCode)
	}
	if resp, _ := s.API(t, "carol", "second-password", "GET", "/api/v1/repositories", nil); resp.StatusCode != 200 {
		t.Fatalf("new password refused: %d", resp.StatusCode)
	}
}
