package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// plant sets cookies in b's jar as an attacker who can write cookies for
// the server's host would (a sibling subdomain, or plain HTTP on the same
// host): under the old name and with the __Host- prefix.
func plant(t *testing.T, s *testserver.Server, b *testserver.Browser, value string) {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	b.C.Jar.SetCookies(u, []*http.Cookie{
		{Name: "trustdeck_csrf", Value: value, Path: "/"},
		{Name: "__Host-trustdeck_csrf", Value: value, Path: "/", Secure: true},
	})
}

const plantedToken = "planted-token-planted-token-1234"

// TestCSRFTokenBoundToSession: the CSRF token is the session's, not a cookie
// anyone may set: a planted cookie with a matching token is refused, with a
// session and without one; a token in the query string does not count; the
// token changes when the browser signs in.
func TestCSRFTokenBoundToSession(t *testing.T) {
	s := testserver.Start(t)
	badInputFixtures(t, s)
	b := s.NewBrowser(t)
	b.Get("/login")
	anonymousToken := b.CSRF
	b.Login("admin", testserver.AdminPassword)
	if b.CSRF == "" || b.CSRF == anonymousToken {
		t.Fatalf("the token did not change at sign-in: %q, before %q", b.CSRF, anonymousToken)
	}
	own := b.CSRF

	refused := func(t *testing.T, what string, do func() (*http.Response, string)) {
		t.Helper()
		var resp *http.Response
		var body string
		unchanged(t, s, func() { resp, body = do() })
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("%s: %d, want 403 naming CSRF: %s", what, resp.StatusCode, truncate(body))
		}
	}
	refused(t, "the session's own token in the query string", func() (*http.Response, string) {
		return b.PostForm("/repositories?_csrf="+url.QueryEscape(own),
			url.Values{"_csrf": nil, "namespace": {"prod"}, "name": {"query"}})
	})
	refused(t, "form with the anonymous token of the same browser", func() (*http.Response, string) {
		return b.PostForm("/repositories", url.Values{"_csrf": {anonymousToken}, "namespace": {"prod"}, "name": {"anonymous"}})
	})
	plant(t, s, b, plantedToken)
	refused(t, "form with the planted token", func() (*http.Response, string) {
		return b.PostForm("/repositories", url.Values{"_csrf": {plantedToken}, "namespace": {"prod"}, "name": {"planted"}})
	})
	refused(t, "API call with the planted token", func() (*http.Response, string) {
		req := testserver.NewJSONRequest(t, "POST", s.URL+"/api/v1/repositories",
			map[string]string{"namespace": "prod", "name": "planted"})
		req.Header.Set("X-CSRF-Token", plantedToken)
		return send(t, b.C, req)
	})

	// Without a session: a browser that never loaded a page, with a
	// planted cookie, cannot sign in (login CSRF).
	fresh := s.NewBrowser(t)
	plant(t, s, fresh, plantedToken)
	resp, body := fresh.PostForm("/login", url.Values{"_csrf": {plantedToken}, "username": {"alice"}, "password": {userPassword}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login with a planted cookie and no session: %d, want 403: %s", resp.StatusCode, truncate(body))
	}
	// An anonymous browser that loaded the form, with a planted cookie.
	anon := s.NewBrowser(t)
	anon.Get("/login")
	plant(t, s, anon, plantedToken)
	resp, body = anon.PostForm("/login", url.Values{"_csrf": {plantedToken}, "username": {"alice"}, "password": {userPassword}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login with a planted cookie: %d, want 403: %s", resp.StatusCode, truncate(body))
	}

	// The session's own token still works, in the form and in the header.
	if resp, body := b.PostForm("/repositories", url.Values{"namespace": {"prod"}, "name": {"own-token"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("form with the session's token: %d %s", resp.StatusCode, truncate(body))
	}
	if resp, body := b.JSON("POST", "/api/v1/repositories", map[string]string{"namespace": "prod", "name": "own-header"}); resp.StatusCode != http.StatusCreated {
		t.Errorf("API call with the session's token: %d %s", resp.StatusCode, body)
	}
	// Signing out ends the token with the session.
	if resp, _ := b.PostForm("/logout", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	b.Login("admin", testserver.AdminPassword)
	refused(t, "form with the token of the session that ended", func() (*http.Response, string) {
		return b.PostForm("/repositories", url.Values{"_csrf": {own}, "namespace": {"prod"}, "name": {"old-token"}})
	})
	noServerErrors(t, s)
}

// TestCookiesHostPrefixed: every cookie trustdeck sets carries the __Host-
// prefix, which browsers accept only from a secure origin, for the whole
// host (Path=/, no Domain) and Secure: no other host or plain-HTTP page can
// set or shadow them.
func TestCookiesHostPrefixed(t *testing.T) {
	s := testserver.Start(t)
	b := s.NewBrowser(t)
	resp, _ := b.Get("/login")
	cookies := resp.Cookies()
	resp, _ = b.PostForm("/login", url.Values{"username": {"admin"}, "password": {testserver.AdminPassword}})
	cookies = append(cookies, resp.Cookies()...)
	resp, _ = b.PostForm("/logout", url.Values{})
	cookies = append(cookies, resp.Cookies()...)
	if len(cookies) == 0 {
		t.Fatal("no cookies set by the login form, signing in and out")
	}
	for _, c := range cookies {
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly {
			t.Errorf("cookie %s: Secure %v, Path %q, Domain %q, HttpOnly %v; want __Host-, Secure, Path=/, no Domain, HttpOnly",
				c.Name, c.Secure, c.Path, c.Domain, c.HttpOnly)
		}
	}
}

// TestBasicCredentialsFromBrowsersNeedCSRF: a browser that holds HTTP
// basic credentials for trustdeck attaches them to any request to it, also
// to one a foreign page makes: such a request is refused (403, nothing
// changes) like one with the session cookie and no token. Scripts and CLIs
// (no Origin, no Sec-Fetch-*) and same-origin requests keep working with
// basic credentials alone.
func TestBasicCredentialsFromBrowsersNeedCSRF(t *testing.T) {
	s := testserver.Start(t)
	form := url.Values{"username": {"evil"}, "password": {"long-enough-1"}, "admin": {"true"}}.Encode()
	jsonBody := `{"username":"evil","password":"long-enough-1","admin":true}`
	// A text/plain form posts name=value: the name carries the JSON.
	textPlain := `{"username":"evil","password":"long-enough-1","admin":true,"x":"` + `="}`
	tests := []struct {
		name, ctype, body string
		headers           map[string]string
	}{
		{"cross-site form", "application/x-www-form-urlencoded", form,
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}},
		{"cross-site text/plain form", "text/plain", textPlain,
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}},
		{"cross-site no-cors fetch of a blob without type", "", jsonBody,
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}},
		{"cross-site JSON", "application/json", jsonBody,
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}},
		{"same-site JSON", "application/json", jsonBody,
			map[string]string{"Origin": "https://sibling." + "example", "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"}},
		{"foreign Origin only (a browser without Sec-Fetch-*)", "application/json", jsonBody,
			map[string]string{"Origin": "https://evil.example"}},
		{"opaque Origin", "application/json", jsonBody,
			map[string]string{"Origin": "null"}},
		{"cross-site without Origin", "application/json", jsonBody,
			map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			var body string
			unchanged(t, s, func() {
				req, err := http.NewRequest("POST", s.URL+"/api/v1/users", strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
				for k, v := range tc.headers {
					req.Header.Set(k, v)
				}
				req.SetBasicAuth("admin", testserver.AdminPassword)
				resp, body = send(t, s.Client(), req)
			})
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", resp.StatusCode, body)
			}
			if code, _ := apiErr(t, body); code != "csrf" {
				t.Errorf("code %q, want csrf", code)
			}
		})
	}
	if _, err := s.App.Store.UserByName(context.Background(), "evil"); err == nil {
		t.Fatal("a request from a foreign page created the account")
	}

	// Controls: a script (no browser headers) and our own origin.
	for i, headers := range []map[string]string{
		{},
		{"Origin": s.URL, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"},
		{"Sec-Fetch-Site": "none"},
	} {
		req := testserver.NewJSONRequest(t, "POST", s.URL+"/api/v1/users",
			map[string]any{"username": fmt.Sprintf("script-%d", i), "password": "long-enough-1", "admin": true})
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		req.SetBasicAuth("admin", testserver.AdminPassword)
		if resp, body := send(t, s.Client(), req); resp.StatusCode != http.StatusCreated {
			t.Errorf("basic credentials with %v: %d %s, want 201", headers, resp.StatusCode, body)
		}
	}
	noServerErrors(t, s)
}
