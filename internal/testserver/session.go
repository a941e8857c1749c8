package testserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser is a cookie-keeping client that behaves like a browser session:
// it reads CSRF tokens from forms and posts them back.
type Browser struct {
	t    testing.TB
	s    *Server
	C    *http.Client
	CSRF string
}

// NewBrowser returns an anonymous browser session.
func (s *Server) NewBrowser(t testing.TB) *Browser {
	return &Browser{t: t, s: s, C: s.Client()}
}

// On is the same browser session (cookies, CSRF token) sending its
// requests to s: another replica behind the same address.
func (b *Browser) On(s *Server) *Browser {
	return &Browser{t: b.t, s: s, C: b.C, CSRF: b.CSRF}
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// Get fetches a path and remembers the page's CSRF token.
func (b *Browser) Get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.C.Get(b.s.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	body := readAll(b.t, resp)
	if m := csrfRE.FindStringSubmatch(body); m != nil {
		b.CSRF = m[1]
	}
	return resp, body
}

// PostForm posts a form with the current CSRF token (unless form sets _csrf).
func (b *Browser) PostForm(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", b.CSRF)
	}
	resp, err := b.C.PostForm(b.s.URL+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, readAll(b.t, resp)
}

// Login signs in through the login form and fails the test if it cannot.
func (b *Browser) Login(username, password string) {
	b.t.Helper()
	b.Get("/login")
	resp, body := b.PostForm("/login", url.Values{"username": {username}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login %s: status %d: %s", username, resp.StatusCode, body)
	}
	b.Get("/repositories")
}

// JSON sends a JSON request with the session cookie and CSRF header.
func (b *Browser) JSON(method, path string, body any) (*http.Response, string) {
	b.t.Helper()
	req := NewJSONRequest(b.t, method, b.s.URL+path, body)
	req.Header.Set("X-CSRF-Token", b.CSRF)
	resp, err := b.C.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, readAll(b.t, resp)
}

// API sends a JSON request with HTTP basic credentials (no session).
func (s *Server) API(t testing.TB, user, pass, method, path string, body any) (*http.Response, string) {
	t.Helper()
	req := NewJSONRequest(t, method, s.URL+path, body)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

// NewJSONRequest builds a request; a string body is sent as is.
func NewJSONRequest(t testing.TB, method, url string, body any) *http.Request {
	t.Helper()
	var r io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	case []byte:
		r = bytes.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// MustCreateUser creates an account through the API as admin, optionally
// with a role in a namespace.
func (s *Server) MustCreateUser(t testing.TB, username, password, namespace, role string) {
	t.Helper()
	resp, body := s.API(t, "admin", AdminPassword, "POST", "/api/v1/users",
		map[string]any{"username": username, "password": password, "admin": false})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create user %s: %d %s", username, resp.StatusCode, body)
	}
	if namespace != "" {
		resp, body = s.API(t, "admin", AdminPassword, "PUT", "/api/v1/namespaces/"+namespace+"/members/"+username,
			map[string]string{"role": role})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("set role %s: %d %s", username, resp.StatusCode, body)
		}
	}
}

// MustCreateRepo creates namespace/name as admin.
func (s *Server) MustCreateRepo(t testing.TB, namespace, name string) {
	t.Helper()
	resp, body := s.API(t, "admin", AdminPassword, "POST", "/api/v1/repositories",
		map[string]string{"namespace": namespace, "name": name})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create repository %s/%s: %d %s", namespace, name, resp.StatusCode, body)
	}
}
