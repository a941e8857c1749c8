package handlers_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/app"
	"github.com/trustdeck/trustdeck/internal/testserver"
	"github.com/trustdeck/trustdeck/internal/tokens"
)

// tokenAccess asks s's token service for scopes as user (anonymous when
// user is "") and returns the access claim of the token.
func tokenAccess(t *testing.T, s *testserver.Server, user, pass string, scopes ...string) []tokens.Access {
	t.Helper()
	q := url.Values{"service": {app.TokenService}}
	for _, sc := range scopes {
		q.Add("scope", sc)
	}
	resp, body := s.API(t, user, pass, http.MethodGet, "/auth/token?"+q.Encode(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token for %s %v: %d %s", user, scopes, resp.StatusCode, body)
	}
	var reply struct{ Token string }
	if err := json.Unmarshal([]byte(body), &reply); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(reply.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %s", body)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Access []tokens.Access }
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Access
}

// TestTokenServiceInExternalMode: in front of an external Notary server,
// trustdeck serves no Notary API but keeps its token service, so that the
// external server can use it as its realm: namespace roles apply to GUNs
// under the registry host, GUNs outside it and the global changefeed are
// for global administrators.
func TestTokenServiceInExternalMode(t *testing.T) {
	const registry = "registry.test:5000"
	// Nothing listens on port 1: the changefeed just fails.
	s := testserver.Start(t, "--notary-url", "https://127.0.0.1:1", "--registry-host", registry,
		"--notary-poll-interval", "1h")
	s.MustCreateUser(t, "writer", userPassword, "prod", "write")
	s.MustCreateUser(t, "nsadmin", userPassword, "prod", "admin")

	if resp, _ := s.API(t, "", "", http.MethodGet, "/v2/", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /v2/ in external mode: %d, want 404 (no embedded Notary API)", resp.StatusCode)
	}

	prod, dev, foreign := registry+"/prod/app", registry+"/dev/app", "elsewhere.example/x/y"
	repo := func(gun string, actions ...string) tokens.Access {
		return tokens.Access{Type: "repository", Name: gun, Actions: actions}
	}
	tests := []tokenCase{
		{"writer on prod", "writer", []string{"repository:" + prod + ":pull,push,*"}, []tokens.Access{repo(prod, "pull", "push")}},
		{"writer on a new GUN of prod", "writer", []string{"repository:" + registry + "/prod/new:pull,push"}, []tokens.Access{repo(registry+"/prod/new", "pull", "push")}},
		{"writer on dev", "writer", []string{"repository:" + dev + ":pull,push"}, nil},
		{"writer on a foreign GUN", "writer", []string{"repository:" + foreign + ":pull"}, nil},
		{"writer on a GUN of another shape", "writer", []string{"repository:" + prod + "/extra:pull"}, nil},
		{"writer on the changefeed", "writer", []string{"registry:catalog:*"}, nil},
		{"namespace admin on prod", "nsadmin", []string{"repository:" + prod + ":pull,push,*"}, []tokens.Access{repo(prod, "pull", "push", "*")}},
		{"namespace admin on a foreign GUN", "nsadmin", []string{"repository:" + foreign + ":pull,push,*"}, nil},
		{"namespace admin on the changefeed", "nsadmin", []string{"registry:catalog:*"}, nil},
		{"global admin on a foreign GUN", "admin", []string{"repository:" + foreign + ":pull,push,*"}, []tokens.Access{repo(foreign, "pull", "push", "*")}},
		{"global admin on another shape", "admin", []string{"repository:" + prod + "/extra:*"}, []tokens.Access{repo(prod+"/extra", "*")}},
		{"global admin on the changefeed", "admin", []string{"registry:catalog:*"}, []tokens.Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
		{"anonymous on prod", "", []string{"repository:" + prod + ":pull"}, nil},
		{"anonymous on a foreign GUN", "", []string{"repository:" + foreign + ":pull"}, nil},
	}
	checkTokens(t, s, tests)

	// With --allow-anonymous-pull, anonymous clients may pull under the
	// registry host, and nothing more.
	anon := testserver.Start(t, "--notary-url", "https://127.0.0.1:1", "--registry-host", registry,
		"--allow-anonymous-pull")
	checkTokens(t, anon, []tokenCase{
		{"anonymous pull on prod", "", []string{"repository:" + prod + ":pull"}, []tokens.Access{repo(prod, "pull")}},
		{"anonymous push on prod", "", []string{"repository:" + prod + ":pull,push"}, []tokens.Access{repo(prod, "pull")}},
		{"anonymous on a foreign GUN", "", []string{"repository:" + foreign + ":pull"}, nil},
		{"anonymous on the changefeed", "", []string{"registry:catalog:*"}, nil},
	})
}

// tokenCase is what one token request should be granted.
type tokenCase struct {
	name   string
	user   string
	scopes []string
	want   []tokens.Access
}

func checkTokens(t *testing.T, s *testserver.Server, tests []tokenCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pass := userPassword
			if tc.user == "admin" {
				pass = testserver.AdminPassword
			}
			if tc.user == "" {
				pass = ""
			}
			got, _ := json.Marshal(tokenAccess(t, s, tc.user, pass, tc.scopes...))
			want, _ := json.Marshal(tc.want)
			if tc.want == nil {
				want = []byte("[]")
			}
			if !bytes.Equal(got, want) {
				t.Errorf("access %s, want %s", got, want)
			}
		})
	}
}

// TestTokenCertificate: the certificate of the token signing key is written
// into the data directory, served without authentication, kept across
// restarts and written again when deleted.
func TestTokenCertificate(t *testing.T) {
	s := testserver.Start(t)
	path := filepath.Join(s.DataDir, app.TokenCertFile)
	if s.App.TokenCert != path {
		t.Errorf("App.TokenCert %q, want %q", s.App.TokenCert, path)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	get := func() []byte {
		t.Helper()
		resp, body := s.API(t, "", "", http.MethodGet, "/auth/token/certificate", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-pem-file" {
			t.Fatalf("GET /auth/token/certificate: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		kid, err := tokens.KeyID(&s.App.Secrets.TokenKey.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Trustdeck-Token-Key-Id"); got != kid {
			t.Errorf("Trustdeck-Token-Key-Id %q, want %q", got, kid)
		}
		return []byte(body)
	}
	served := get()
	if !bytes.Equal(served, onDisk) {
		t.Errorf("the served certificate is not %s", path)
	}
	blk, _ := pem.Decode(served)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %s", served)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !s.App.Secrets.TokenKey.PublicKey.Equal(cert.PublicKey) {
		t.Error("the certificate is not of the token signing key (<data>/secrets/token-signing.pem)")
	}

	s.Restart()
	if again := get(); !bytes.Equal(again, served) {
		t.Error("the certificate changed across a restart with the same key")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	rewritten, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the certificate was not written again: %v", err)
	}
	if blk, _ := pem.Decode(rewritten); blk == nil {
		t.Fatal("the rewritten certificate is not PEM")
	} else if c, err := x509.ParseCertificate(blk.Bytes); err != nil || !s.App.Secrets.TokenKey.PublicKey.Equal(c.PublicKey) {
		t.Errorf("the rewritten certificate is not of the token signing key: %v", err)
	}
	if served := get(); !bytes.Equal(served, rewritten) {
		t.Error("the served certificate is not the rewritten file")
	}
}

// TestTokenServiceSendsNoBasicChallenge: /auth/token refuses wrong
// credentials without `WWW-Authenticate: Basic`, so that no browser is
// ever prompted for (and then keeps) trustdeck credentials; docker and
// notary send theirs without being asked.
func TestTokenServiceSendsNoBasicChallenge(t *testing.T) {
	s := testserver.Start(t)
	q := url.Values{"service": {app.TokenService}, "scope": {"repository:" + s.Addr + "/prod/app:pull"}}
	for _, browser := range []bool{false, true} {
		req := testserver.NewJSONRequest(t, http.MethodGet, s.URL+"/auth/token?"+q.Encode(), nil)
		req.SetBasicAuth("admin", "wrong-password")
		if browser {
			req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
			req.Header.Set("Sec-Fetch-Site", "none")
			req.Header.Set("Sec-Fetch-Mode", "navigate")
		}
		resp, body := send(t, s.Client(), req)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Invalid username or password") {
			t.Errorf("wrong password (browser %v): %d %s, want 401 saying so", browser, resp.StatusCode, body)
		}
		if h := resp.Header.Values("WWW-Authenticate"); len(h) > 0 {
			t.Errorf("wrong password (browser %v): WWW-Authenticate %q, want none", browser, h)
		}
	}
}

// TestTokenServiceRegistryScopes: trustdeck is the token realm of the
// registry and of Notary at once. The registry names a repository without
// its host (repository:prod/app:pull,push), Notary names the GUN with it
// (repository:<registry host>/prod/app:…); both get the actions of the
// same namespace role, whichever of them the client asks for: read pulls,
// write pushes, admin also deletes (the registry's "delete", Notary's "*").
func TestTokenServiceRegistryScopes(t *testing.T) {
	const registry = "registry.test:5000"
	s := testserver.Start(t, "--registry-host", registry)
	s.MustCreateUser(t, "reader", userPassword, "prod", "read")
	s.MustCreateUser(t, "writer", userPassword, "prod", "write")
	s.MustCreateUser(t, "nsadmin", userPassword, "prod", "admin")
	s.MustCreateUser(t, "outsider", userPassword, "dev", "admin")
	anon := testserver.Start(t, "--registry-host", registry, "--allow-anonymous-pull")

	// What each account may do on prod/app, in either form.
	allowed := map[string][]string{
		"reader":   {"pull"},
		"writer":   {"pull", "push"},
		"nsadmin":  {"pull", "push", "delete", "*"},
		"admin":    {"pull", "push", "delete", "*"},
		"outsider": nil,
		"":         nil,
	}
	// What clients ask for: docker pull, docker push, crane delete
	// (push,pull,delete), notary delete --remote (*), and everything.
	requests := [][]string{{"pull"}, {"push"}, {"delete"}, {"*"}, {"pull", "push"},
		{"push", "pull", "delete"}, {"pull", "push", "delete", "*"}}
	forms := map[string]string{"hostless (registry)": "prod/app", "with the host (Notary)": registry + "/prod/app"}

	var cases, anonCases []tokenCase
	for formName, name := range forms {
		for user, may := range allowed {
			for _, req := range requests {
				var want []tokens.Access
				if acts := intersect(req, may); len(acts) > 0 {
					want = []tokens.Access{{Type: "repository", Name: name, Actions: acts}}
				}
				tc := tokenCase{fmt.Sprintf("%s %s %s", formName, userLabel(user), strings.Join(req, ",")),
					user, []string{"repository:" + name + ":" + strings.Join(req, ",")}, want}
				cases = append(cases, tc)
				if user == "" {
					tc.name = "with --allow-anonymous-pull " + tc.name
					tc.want = nil
					if slices.Contains(req, "pull") {
						tc.want = []tokens.Access{{Type: "repository", Name: name, Actions: []string{"pull"}}}
					}
					anonCases = append(anonCases, tc)
				}
			}
		}
	}
	repo := func(name string, actions ...string) tokens.Access {
		return tokens.Access{Type: "repository", Name: name, Actions: actions}
	}
	cases = append(cases,
		// One request naming the registry's repository and Notary's GUN,
		// as a client that pushes and signs would.
		tokenCase{"both forms in one request", "writer",
			[]string{"repository:prod/app:pull,push", "repository:" + registry + "/prod/app:pull,push"},
			[]tokens.Access{repo("prod/app", "pull", "push"), repo(registry+"/prod/app", "pull", "push")}},
		tokenCase{"hostless, another namespace", "writer", []string{"repository:dev/app:pull"}, nil},
		tokenCase{"hostless, another shape", "writer", []string{"repository:prod/app/extra:pull"}, nil},
		tokenCase{"hostless, one component", "writer", []string{"repository:app:pull"}, nil},
		tokenCase{"another registry host", "writer", []string{"repository:elsewhere.example/prod/app:pull"}, nil},
		tokenCase{"the catalog, global admin", "admin", []string{"registry:catalog:*"},
			[]tokens.Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
		tokenCase{"the catalog, namespace admin", "nsadmin", []string{"registry:catalog:*"}, nil},
		tokenCase{"the catalog, anonymous", "", []string{"registry:catalog:*"}, nil},
	)
	checkTokens(t, s, cases)
	anonCases = append(anonCases,
		tokenCase{"anonymous, hostless, another shape", "", []string{"repository:prod/app/extra:pull"}, nil},
		tokenCase{"anonymous, the catalog", "", []string{"registry:catalog:*"}, nil})
	checkTokens(t, anon, anonCases)
}

// intersect returns the actions of req that may holds, in req's order.
func intersect(req, may []string) []string {
	var out []string
	for _, a := range req {
		if slices.Contains(may, a) {
			out = append(out, a)
		}
	}
	return out
}

func userLabel(user string) string {
	if user == "" {
		return "anonymous"
	}
	return user
}
