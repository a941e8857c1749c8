package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// get sends a request with basic credentials (none when user is "") and
// returns the answer and its body.
func send(t *testing.T, s *testserver.Server, method, path, user, pass, bearer string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// wantRetryAfter fails unless resp is a 429 with a Retry-After of whole
// seconds from 1 to max.
func wantRetryAfter(t *testing.T, what string, resp *http.Response, body string, max int) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d, want 429: %.300s", what, resp.StatusCode, body)
	}
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n < 1 || n > max {
		t.Errorf("%s: Retry-After %q, want 1..%d seconds", what, resp.Header.Get("Retry-After"), max)
	}
}

// TestRateLimits: over its limit, a client address is refused sign-ins
// (the login page, 429), tokens (the token service's JSON error) and
// Notary writes (notary's JSON error), each with Retry-After; Notary reads
// stay unlimited by default; another address is not affected.
func TestRateLimits(t *testing.T) {
	s := testserver.Start(t, "--rate-login", "3/1m", "--rate-token", "4/1m", "--rate-notary-write", "2/1m")

	signIn := func() (*http.Response, string) {
		b := s.NewBrowser(t)
		b.Get("/login")
		return b.PostForm("/login", url.Values{"username": {"admin"}, "password": {testserver.AdminPassword}})
	}
	for i := range 3 {
		if resp, body := signIn(); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in %d within the limit: %d %.300s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := signIn()
	wantRetryAfter(t, "4th sign-in in a minute", resp, body, 60)
	if !strings.Contains(body, "Too many requests from your address") || !strings.Contains(body, `name="username"`) {
		t.Errorf("the refused sign-in does not show the login form with the reason: %.600s", body)
	}
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "session") && c.MaxAge >= 0 && c.Value != "" {
			t.Errorf("a refused sign-in set a session cookie %s", c.Name)
		}
	}

	gun := s.Addr + "/prod/app"
	scope := url.QueryEscape("repository:" + gun + ":pull,push,*")
	var token string
	for i := range 4 {
		resp, body := send(t, s, "GET", "/auth/token?service=trustdeck&scope="+scope, "admin", testserver.AdminPassword, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token %d within the limit: %d %s", i+1, resp.StatusCode, body)
		}
		var reply struct{ Token string }
		json.Unmarshal([]byte(body), &reply)
		token = reply.Token
	}
	resp, body = send(t, s, "GET", "/auth/token?service=trustdeck&scope="+scope, "admin", testserver.AdminPassword, "")
	wantRetryAfter(t, "5th token in a minute", resp, body, 60)
	var tokErr struct {
		Errors []struct{ Code, Message string }
	}
	if json.Unmarshal([]byte(body), &tokErr) != nil || len(tokErr.Errors) != 1 || tokErr.Errors[0].Code != "TOO_MANY_REQUESTS" {
		t.Errorf("token refusal body: %s", body)
	}

	// Reads: unlimited by default.
	for i := range 30 {
		if resp, body := send(t, s, "GET", "/v2/"+gun+"/_trust/tuf/root.json", "", "", token); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("read %d refused: reads are unlimited by default: %s", i+1, body)
		}
	}
	// Writes: refused once over the limit, before the request is looked at.
	for i := range 2 {
		if resp, body := send(t, s, "DELETE", "/v2/"+gun+"/_trust/tuf/", "", "", token); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("write %d within the limit refused: %s", i+1, body)
		}
	}
	resp, body = send(t, s, "POST", "/v2/"+gun+"/_trust/tuf/", "", "", token)
	wantRetryAfter(t, "3rd Notary write in a minute", resp, body, 60)
	var notaryErr struct {
		Errors []struct{ Code, Message string }
	}
	if json.Unmarshal([]byte(body), &notaryErr) != nil || len(notaryErr.Errors) != 1 || notaryErr.Errors[0].Code != "TOOMANYREQUESTS" {
		t.Errorf("Notary write refusal body: %s", body)
	}
}

// TestNotaryServerHealth: /_notary_server/health answers as notary-server's
// does: 200 and {} (JSON) for GET, 404 for other methods.
func TestNotaryServerHealth(t *testing.T) {
	s := testserver.Start(t)
	resp, body := send(t, s, "GET", "/_notary_server/health", "", "", "")
	if resp.StatusCode != http.StatusOK || body != "{}" || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("GET health: %d %q %q, want 200 {} application/json; charset=utf-8", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	if resp, body := send(t, s, "POST", "/_notary_server/health", "", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST health: %d %s, want 404", resp.StatusCode, body)
	}
}

// TestReadyz: /readyz says "ready" (text) or, with ?verbose, reports each
// check in JSON; an external Notary server and a registry that do not
// answer are reported separately (degraded) without making trustdeck
// unready: its database answers.
func TestReadyz(t *testing.T) {
	s := testserver.Start(t)
	resp, body := send(t, s, "GET", "/readyz", "", "", "")
	if resp.StatusCode != http.StatusOK || body != "ready\n" {
		t.Errorf("readyz: %d %q", resp.StatusCode, body)
	}
	var ready struct {
		Status string
		Checks map[string]struct {
			Status, Error string
		}
	}
	resp, body = send(t, s, "GET", "/readyz?verbose", "", "", "")
	if err := json.Unmarshal([]byte(body), &ready); err != nil || resp.StatusCode != http.StatusOK ||
		ready.Status != "ready" || ready.Checks["database"].Status != "ok" || len(ready.Checks) != 1 {
		t.Errorf("readyz?verbose: %d %s", resp.StatusCode, body)
	}

	// Nothing listens on port 1.
	ext := testserver.Start(t, "--notary-url", "https://127.0.0.1:1", "--registry-url", "https://127.0.0.1:1")
	resp, body = send(t, ext, "GET", "/readyz", "", "", "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "ready\n") ||
		!strings.Contains(body, "notary: unreachable") || !strings.Contains(body, "registry: unreachable") {
		t.Errorf("readyz with unreachable dependencies: %d %q", resp.StatusCode, body)
	}
	resp, body = send(t, ext, "GET", "/readyz?verbose", "", "", "")
	ready.Checks = nil
	if err := json.Unmarshal([]byte(body), &ready); err != nil || resp.StatusCode != http.StatusOK || ready.Status != "degraded" ||
		ready.Checks["database"].Status != "ok" || ready.Checks["notary"].Status != "error" ||
		ready.Checks["registry"].Status != "error" || !strings.HasPrefix(ready.Checks["notary"].Error, "unreachable") {
		t.Errorf("readyz?verbose with unreachable dependencies: %d %s", resp.StatusCode, body)
	}
	// The embedded Notary API is off: so is its health check.
	if resp, _ := send(t, ext, "GET", "/_notary_server/health", "", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("notary health with an external Notary server: %d, want 404", resp.StatusCode)
	}
}

// TestOwnServiceAccountTokensUnlimited: the account trustdeck itself sends
// to its token service (--registry-username, when the registry's realm is
// trustdeck: a token per repository it reads) is not held to the token
// limit; everyone else is.
func TestOwnServiceAccountTokensUnlimited(t *testing.T) {
	t.Setenv("TRUSTDECK_REGISTRY_PASSWORD", "svc-password-123")
	s := testserver.Start(t, "--rate-token", "2/1m", "--registry-url", "https://127.0.0.1:1", "--registry-username", "svc")
	s.MustCreateUser(t, "svc", "svc-password-123", "", "")
	for i := range 6 {
		if resp, body := send(t, s, "GET", "/auth/token?service=trustdeck", "svc", "svc-password-123", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("token %d of trustdeck's own account: %d %s", i+1, resp.StatusCode, body)
		}
	}
	for i := range 2 {
		if resp, body := send(t, s, "GET", "/auth/token?service=trustdeck", "admin", testserver.AdminPassword, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("admin token %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := send(t, s, "GET", "/auth/token?service=trustdeck", "admin", testserver.AdminPassword, "")
	wantRetryAfter(t, "admin's 3rd token", resp, body, 60)
}
