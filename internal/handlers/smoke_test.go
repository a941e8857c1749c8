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
