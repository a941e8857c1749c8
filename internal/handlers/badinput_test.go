package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// dbSnapshot renders the users, roles and repositories in the database, to
// prove a refused request changed nothing.
func dbSnapshot(t *testing.T, s *testserver.Server) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	users, err := s.App.Store.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		fmt.Fprintf(&b, "user %s admin=%v hash=%s\n", u.Username, u.IsAdmin, u.PasswordHash)
	}
	members, err := s.App.Store.ListMembers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		fmt.Fprintf(&b, "role %s %s %s\n", m.Namespace, m.Username, m.Role)
	}
	repos, _, err := s.App.Store.ListRepositories(ctx, store.RepositoryQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range repos {
		fmt.Fprintf(&b, "repository %s/%s\n", r.Namespace, r.Name)
	}
	return b.String()
}

// unchanged runs fn and fails the test if the database differs afterwards.
func unchanged(t *testing.T, s *testserver.Server, fn func()) {
	t.Helper()
	before := dbSnapshot(t, s)
	fn()
	if after := dbSnapshot(t, s); after != before {
		t.Errorf("the database changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func noServerErrors(t *testing.T, s *testserver.Server) {
	t.Helper()
	if lines := errorLines(s.Logs.String()); lines != "" {
		t.Errorf("bad input was logged as a server error:\n%s", lines)
	}
}

// apiErr decodes a JSON error body.
func apiErr(t *testing.T, body string) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not a JSON error body: %v: %s", err, truncate(body))
	}
	return e.Error.Code, e.Error.Message
}

// alertText returns the text of the page's role="alert" element.
func alertText(body string) (string, bool) {
	_, rest, ok := strings.Cut(body, `role="alert"`)
	if !ok {
		return "", false
	}
	_, rest, _ = strings.Cut(rest, ">")
	text, _, _ := strings.Cut(rest, "</")
	return text, true
}

// nameCase is an invalid namespace/name and a word the message must hold.
type nameCase struct {
	name, ns, repo, msg string
}

var invalidNames = []nameCase{
	{"uppercase namespace", "Prod", "app", "not valid"},
	{"uppercase name", "prod", "App", "not valid"},
	{"double period", "prod", "a..b", "not valid"},
	{"empty namespace", "", "app", "empty"},
	{"empty name", "prod", "", "empty"},
	{"empty path component", "prod", "a//b", "not valid"},
	{"extra path component", "prod", "a/b", "not valid"},
	{"leading dash", "prod", "-app", "not valid"},
	{"leading underscore", "prod", "_app", "not valid"},
	{"leading period", "prod", ".app", "not valid"},
	{"leading separator in namespace", "-prod", "app", "not valid"},
	{"trailing separator", "prod", "app_", "not valid"},
	{"three underscores", "prod", "a___b", "not valid"},
	{"space inside", "prod", "my app", "not valid"},
	{"non-ASCII", "prod", "äpp", "not valid"},
	{"300-character name", "prod", strings.Repeat("a", 300), "longer than 255"},
	{"300-character namespace", strings.Repeat("n", 300), "app", "longer than 255"},
	{"300 characters in all", strings.Repeat("n", 150), strings.Repeat("a", 149), "longer than 255"},
}

// badInputFixtures creates what the bad-input cases collide with.
func badInputFixtures(t *testing.T, s *testserver.Server) {
	t.Helper()
	s.MustCreateUser(t, "alice", userPassword, "prod", "read")
	s.MustCreateUser(t, pNSAdmin, userPassword, "prod", "admin")
	s.MustCreateRepo(t, "prod", "app")
}

func TestBadInputPages(t *testing.T) {
	s := testserver.Start(t)
	badInputFixtures(t, s)
	admin := s.NewBrowser(t)
	admin.Login("admin", testserver.AdminPassword)
	nsadmin := s.NewBrowser(t)
	nsadmin.Login(pNSAdmin, userPassword)

	type pageCase struct {
		name   string
		b      *testserver.Browser // nil: a fresh anonymous browser
		method string
		path   string
		form   url.Values
		status int
		msg    string // in the page's alert
	}
	var cases []pageCase
	for _, n := range invalidNames {
		cases = append(cases, pageCase{"create repository: " + n.name, admin, "POST", "/repositories",
			url.Values{"namespace": {n.ns}, "name": {n.repo}}, http.StatusBadRequest, n.msg})
	}
	cases = append(cases,
		pageCase{"create repository: duplicate", admin, "POST", "/repositories",
			url.Values{"namespace": {"prod"}, "name": {"app"}}, http.StatusConflict, "already exists"},
		pageCase{"create repository: duplicate as namespace admin", nsadmin, "POST", "/repositories",
			url.Values{"namespace": {"prod"}, "name": {"app"}}, http.StatusConflict, "already exists"},
		pageCase{"create repository: body over 1 MiB", admin, "POST", "/repositories",
			url.Values{"namespace": {"prod"}, "name": {strings.Repeat("a", 1<<20)}}, http.StatusRequestEntityTooLarge, "1 MiB"},
		pageCase{"login: wrong password", nil, "POST", "/login",
			url.Values{"username": {"alice"}, "password": {"wrong-password"}}, http.StatusUnauthorized, "Invalid username or password"},
		pageCase{"login: unknown user", nil, "POST", "/login",
			url.Values{"username": {"nobody"}, "password": {userPassword}}, http.StatusUnauthorized, "Invalid username or password"},
		pageCase{"login: empty form", nil, "POST", "/login",
			url.Values{}, http.StatusUnauthorized, "Invalid username or password"},
		pageCase{"create user: invalid username", admin, "POST", "/admin/users",
			url.Values{"username": {"Bad Name"}, "password": {"long-enough-1"}}, http.StatusBadRequest, "not valid"},
		pageCase{"create user: empty username", admin, "POST", "/admin/users",
			url.Values{"username": {""}, "password": {"long-enough-1"}}, http.StatusBadRequest, "not valid"},
		pageCase{"create user: short password", admin, "POST", "/admin/users",
			url.Values{"username": {"carol"}, "password": {"short"}}, http.StatusBadRequest, "at least 8"},
		pageCase{"create user: duplicate", admin, "POST", "/admin/users",
			url.Values{"username": {"alice"}, "password": {"long-enough-1"}}, http.StatusConflict, "already exists"},
		pageCase{"set role: unknown user", admin, "POST", "/admin/members",
			url.Values{"namespace": {"prod"}, "username": {"nobody"}, "role": {"read"}}, http.StatusNotFound, "no user named"},
		pageCase{"set role: unknown user as namespace admin", nsadmin, "POST", "/admin/members",
			url.Values{"namespace": {"prod"}, "username": {"nobody"}, "role": {"read"}}, http.StatusNotFound, "no user named"},
		pageCase{"set role: invalid namespace", admin, "POST", "/admin/members",
			url.Values{"namespace": {"Bad NS"}, "username": {"alice"}, "role": {"read"}}, http.StatusBadRequest, "not valid"},
		pageCase{"set role: 300-character namespace", admin, "POST", "/admin/members",
			url.Values{"namespace": {strings.Repeat("n", 300)}, "username": {"alice"}, "role": {"read"}}, http.StatusBadRequest, "longer than 255"},
		pageCase{"set role: unknown role", admin, "POST", "/admin/members",
			url.Values{"namespace": {"prod"}, "username": {"alice"}, "role": {"owner"}}, http.StatusBadRequest, "Unknown role"},
		pageCase{"set role: empty role", nsadmin, "POST", "/admin/members",
			url.Values{"namespace": {"prod"}, "username": {"alice"}, "role": {""}}, http.StatusBadRequest, "Unknown role"},
		pageCase{"renew: root", admin, "GET", "/repositories/prod/app/trust/renew?role=root", nil, http.StatusBadRequest, "root key"},
		pageCase{"renew: timestamp", nsadmin, "POST", "/repositories/prod/app/trust/renew",
			url.Values{"role": {"timestamp"}, "passphrase": {"x"}}, http.StatusBadRequest, "renews it itself"},
		pageCase{"renew: no trust data", admin, "POST", "/repositories/prod/app/trust/renew",
			url.Values{"role": {"targets"}, "passphrase": {"x"}}, http.StatusConflict, "no trust data"},
		pageCase{"rotate root: no trust data", admin, "POST", "/repositories/prod/app/trust/rotate-root",
			url.Values{"root_passphrase": {"x"}, "new_root_passphrase": {"new-passphrase"}, "new_root_passphrase_confirm": {"new-passphrase"}},
			http.StatusConflict, "no trust data"},
		pageCase{"rotate root form: no trust data", nsadmin, "GET", "/repositories/prod/app/trust/rotate-root", nil, http.StatusConflict, "no trust data"},
		pageCase{"migration run: unknown id", admin, "GET", "/migrations/0123456789abcdef0123456789abcdef", nil, http.StatusNotFound, "no migration run"},
		pageCase{"migration: unknown format", nsadmin, "POST", "/migrations",
			url.Values{"repository": {"prod/app"}, "format": {"cosign", "pgp"}, "passphrase": {"x"}}, http.StatusBadRequest, "Unknown format"},
		pageCase{"migration: no format", nsadmin, "POST", "/migrations",
			url.Values{"repository": {"prod/app"}, "passphrase": {"x"}}, http.StatusBadRequest, "at least one format"},
		pageCase{"migration: invalid repository", admin, "POST", "/migrations",
			url.Values{"repository": {"no-slash"}, "format": {"cosign"}, "passphrase": {"x"}}, http.StatusBadRequest, ""},
		pageCase{"signing key: unknown format", nsadmin, "POST", "/namespaces/prod/signing-keys",
			url.Values{"format": {"pgp"}, "passphrase": {"long-enough-passphrase"}}, http.StatusBadRequest, "Unknown format"},
		pageCase{"unknown page", admin, "GET", "/nope", nil, http.StatusNotFound, "nothing at this address"},
		pageCase{"unknown page, anonymous", nil, "GET", "/nope", nil, http.StatusNotFound, "nothing at this address"},
		pageCase{"repository path with one component", admin, "GET", "/repositories/prod", nil, http.StatusNotFound, "nothing at this address"},
		pageCase{"repository path with three components", admin, "GET", "/repositories/prod/app/x", nil, http.StatusNotFound, ""},
		pageCase{"unknown repository", admin, "GET", "/repositories/prod/nope", nil, http.StatusNotFound, "no repository prod/nope"},
		pageCase{"invalid repository name in the address", admin, "GET", "/repositories/Prod/App", nil, http.StatusNotFound, "no repository"},
		pageCase{"page is not a number", admin, "GET", "/repositories?page=abc", nil, http.StatusBadRequest, "positive number"},
		pageCase{"page zero", admin, "GET", "/repositories?page=0", nil, http.StatusBadRequest, "positive number"},
		pageCase{"search over 300 characters", admin, "GET", "/repositories?q=" + strings.Repeat("a", 301), nil, http.StatusBadRequest, "too long"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			if b == nil {
				b = s.NewBrowser(t)
				b.Get("/login")
			}
			var resp *http.Response
			var body string
			unchanged(t, s, func() {
				if tc.method == "GET" {
					resp, body = b.Get(tc.path)
				} else {
					resp, body = b.PostForm(tc.path, tc.form)
				}
			})
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, truncate(body))
			}
			alert, ok := alertText(body)
			if !ok || !strings.Contains(alert, tc.msg) {
				t.Errorf("alert %q (found %v), want it to say %q", alert, ok, tc.msg)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want an HTML page", ct)
			}
		})
	}
	noServerErrors(t, s)
}

// apiCase is one bad API request.
type apiCase struct {
	name   string
	method string
	path   string
	body   any    // JSON-encoded unless a string or a reader
	ctype  string // Content-Type; default application/json when there is a body, "-" for none
	user   string // basic credentials; default admin
	pass   string
	status int
	code   string
	msg    string // in the message
}

func (c apiCase) do(t *testing.T, s *testserver.Server) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	switch v := c.body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	case io.Reader:
		r = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(c.method, s.URL+c.path, r)
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch c.ctype {
	case "":
	case "-":
		req.Header.Del("Content-Type")
	default:
		req.Header.Set("Content-Type", c.ctype)
	}
	user, pass := c.user, c.pass
	if user == "" {
		user, pass = "admin", testserver.AdminPassword
	}
	if user != "-" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// chunked hides a reader's length so the request is sent without
// Content-Length and the body limit must stop it while reading.
type chunked struct{ io.Reader }

func TestBadInputAPI(t *testing.T) {
	s := testserver.Start(t)
	badInputFixtures(t, s)
	huge := `{"namespace":"prod","name":"` + strings.Repeat("a", 1<<20) + `"}`

	var cases []apiCase
	for _, n := range invalidNames {
		cases = append(cases, apiCase{name: "create repository: " + n.name, method: "POST", path: "/api/v1/repositories",
			body: map[string]string{"namespace": n.ns, "name": n.repo}, status: 400, code: "invalid_name", msg: n.msg})
	}
	for _, target := range []struct{ method, path string }{
		{"POST", "/api/v1/repositories"},
		{"POST", "/api/v1/users"},
		{"PUT", "/api/v1/namespaces/prod/members/alice"},
	} {
		valid := validBodyFor(target.path)
		for _, m := range []struct{ name, body string }{
			{"truncated", valid[:len(valid)/2]},
			{"empty body", ``},
			{"null", `null`},
			{"not an object", `["prod","x"]`},
			{"unknown field", strings.TrimSuffix(valid, "}") + `,"extra":1}`},
			{"wrong type", `{"namespace":1,"name":2,"username":3,"password":4,"role":5}`},
			// A valid body followed by more must not take effect.
			{"two values", valid + ` {}`},
			{"trailing brace", valid + `}`},
			{"trailing bracket", valid + `]`},
			{"trailing garbage", valid + ` garbage`},
		} {
			cases = append(cases, apiCase{name: target.method + " " + target.path + ": malformed JSON, " + m.name,
				method: target.method, path: target.path, body: m.body, status: 400, code: "malformed_json"})
		}
		cases = append(cases,
			apiCase{name: target.method + " " + target.path + ": body over 1 MiB", method: target.method, path: target.path,
				body: huge, status: 413, code: "too_large", msg: "1 MiB"},
			apiCase{name: target.method + " " + target.path + ": chunked body over 1 MiB", method: target.method, path: target.path,
				body: chunked{strings.NewReader(huge)}, status: 413, code: "too_large", msg: "1 MiB"},
			apiCase{name: target.method + " " + target.path + ": not JSON", method: target.method, path: target.path,
				body: valid, ctype: "text/plain", status: 415, code: "unsupported_media_type"},
			apiCase{name: target.method + " " + target.path + ": form encoded", method: target.method, path: target.path,
				body: "namespace=prod&name=x", ctype: "application/x-www-form-urlencoded", status: 415, code: "unsupported_media_type"},
		)
		// Only application/json is JSON: not a type that starts like it,
		// not a body without a type, not another charset than UTF-8.
		for _, ctype := range []string{"application/jsonx", "application/json-seq", "application/json+x", "application/jsonp; charset=utf-8",
			"application/json;charset=iso-8859-1", "application/json ; charset=utf-16", "application/json; charset", "-"} {
			cases = append(cases, apiCase{name: target.method + " " + target.path + ": Content-Type " + ctype,
				method: target.method, path: target.path, body: valid, ctype: ctype, status: 415, code: "unsupported_media_type", msg: "application/json"})
		}
		// A key named twice is refused, at any depth, also when the two
		// spellings differ only in case or escapes (encoding/json would take
		// the last one silently).
		first, _, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(valid, "{"), "}"), ",")
		key, _, _ := strings.Cut(first, ":")
		for _, m := range []struct{ name, body string }{
			{"same value", strings.TrimSuffix(valid, "}") + "," + first + "}"},
			{"other value", strings.TrimSuffix(valid, "}") + "," + key + `:"other"}`},
			{"first", "{" + key + `:"other",` + strings.TrimPrefix(valid, "{")},
			{"other case", strings.TrimSuffix(valid, "}") + "," + strings.ToUpper(key) + `:"other"}`},
			{"escaped", strings.TrimSuffix(valid, "}") + "," + `"\u00` + fmt.Sprintf("%x", key[1]) + key[2:] + `:"other"}`},
			{"nested", strings.TrimSuffix(valid, "}") + `,"extra":{"a":[{"b":1,"b":2}]}}`},
		} {
			cases = append(cases, apiCase{name: target.method + " " + target.path + ": duplicate key, " + m.name,
				method: target.method, path: target.path, body: m.body, status: 400, code: "duplicate_key", msg: "twice"})
		}
	}
	cases = append(cases,
		apiCase{name: "duplicate repository", method: "POST", path: "/api/v1/repositories",
			body: map[string]string{"namespace": "prod", "name": "app"}, status: 409, code: "repository_exists", msg: "already exists"},
		apiCase{name: "wrong password", method: "POST", path: "/api/v1/repositories", user: "alice", pass: "wrong-password",
			body: map[string]string{"namespace": "prod", "name": "x"}, status: 401, code: "invalid_credentials", msg: "Invalid username or password"},
		apiCase{name: "unknown user", method: "GET", path: "/api/v1/repositories", user: "nobody", pass: userPassword,
			status: 401, code: "invalid_credentials", msg: "Invalid username or password"},
		apiCase{name: "no credentials", method: "POST", path: "/api/v1/repositories", user: "-",
			body: map[string]string{"namespace": "prod", "name": "x"}, status: 401, code: "unauthenticated"},
		apiCase{name: "get unknown repository", method: "GET", path: "/api/v1/repositories/prod/nope",
			status: 404, code: "repository_not_found", msg: "prod/nope"},
		apiCase{name: "get invalid repository name", method: "GET", path: "/api/v1/repositories/Prod/a..b",
			status: 404, code: "repository_not_found"},
		apiCase{name: "delete unknown repository", method: "DELETE", path: "/api/v1/repositories/prod/nope",
			status: 404, code: "repository_not_found"},
		apiCase{name: "list: page not a number", method: "GET", path: "/api/v1/repositories?page=abc",
			status: 400, code: "invalid_page", msg: "positive number"},
		apiCase{name: "list: negative page", method: "GET", path: "/api/v1/repositories?page=-1",
			status: 400, code: "invalid_page"},
		apiCase{name: "list: search over 300 characters", method: "GET", path: "/api/v1/repositories?q=" + strings.Repeat("a", 301),
			status: 400, code: "invalid_query"},
		apiCase{name: "create user: invalid username", method: "POST", path: "/api/v1/users",
			body: map[string]any{"username": "Bad Name", "password": "long-enough-1"}, status: 400, code: "invalid_username", msg: "not valid"},
		apiCase{name: "create user: username over 64 characters", method: "POST", path: "/api/v1/users",
			body: map[string]any{"username": strings.Repeat("u", 65), "password": "long-enough-1"}, status: 400, code: "invalid_username"},
		apiCase{name: "create user: short password", method: "POST", path: "/api/v1/users",
			body: map[string]any{"username": "carol", "password": "short"}, status: 400, code: "weak_password", msg: "at least 8"},
		apiCase{name: "create user: duplicate", method: "POST", path: "/api/v1/users",
			body: map[string]any{"username": "alice", "password": "long-enough-1"}, status: 409, code: "user_exists", msg: "already exists"},
		apiCase{name: "create user: admin not a boolean", method: "POST", path: "/api/v1/users",
			body: map[string]any{"username": "carol", "password": "long-enough-1", "admin": "yes"}, status: 400, code: "malformed_json"},
		apiCase{name: "set role: unknown user", method: "PUT", path: "/api/v1/namespaces/prod/members/nobody",
			body: map[string]string{"role": "read"}, status: 404, code: "user_not_found", msg: "nobody"},
		apiCase{name: "set role: uppercase namespace", method: "PUT", path: "/api/v1/namespaces/Prod/members/alice",
			body: map[string]string{"role": "read"}, status: 400, code: "invalid_name", msg: "not valid"},
		apiCase{name: "set role: namespace with double period", method: "PUT", path: "/api/v1/namespaces/a..b/members/alice",
			body: map[string]string{"role": "read"}, status: 400, code: "invalid_name"},
		apiCase{name: "set role: 300-character namespace", method: "PUT", path: "/api/v1/namespaces/" + strings.Repeat("n", 300) + "/members/alice",
			body: map[string]string{"role": "read"}, status: 400, code: "invalid_name", msg: "longer than 255"},
		apiCase{name: "set role: unknown role", method: "PUT", path: "/api/v1/namespaces/prod/members/alice",
			body: map[string]string{"role": "owner"}, status: 400, code: "invalid_role", msg: "Unknown role"},
		apiCase{name: "set role: missing role", method: "PUT", path: "/api/v1/namespaces/prod/members/alice",
			body: map[string]string{}, status: 400, code: "invalid_role"},
		apiCase{name: "set role: uppercase role", method: "PUT", path: "/api/v1/namespaces/prod/members/alice",
			body: map[string]string{"role": "Admin"}, status: 400, code: "invalid_role"},
		apiCase{name: "renew: root", method: "POST", path: "/api/v1/repositories/prod/app/trust/renew",
			body: map[string]string{"role": "root", "repository_passphrase": "x"}, status: 400, code: "role_not_renewable", msg: "root key"},
		apiCase{name: "renew: snapshot", method: "POST", path: "/api/v1/repositories/prod/app/trust/renew",
			body: map[string]string{"role": "snapshot", "repository_passphrase": "x"}, status: 400, code: "server_managed", msg: "snapshot"},
		apiCase{name: "renew: not a role", method: "POST", path: "/api/v1/repositories/prod/app/trust/renew",
			body: map[string]string{"role": "releases", "repository_passphrase": "x"}, status: 400, code: "invalid_role", msg: "releases"},
		apiCase{name: "renew: two passphrases", method: "POST", path: "/api/v1/repositories/prod/app/trust/renew",
			body: map[string]string{"repository_passphrase": "x", "passphrase": "y"}, status: 400, code: "ambiguous_key"},
		apiCase{name: "renew: unknown field", method: "POST", path: "/api/v1/repositories/prod/app/trust/renew",
			body: map[string]string{"role": "targets", "root_passphrase": "x"}, status: 400, code: "malformed_json"},
		apiCase{name: "renew: no trust data", method: "POST", path: "/api/v1/repositories/prod/app/trust/renew",
			body: map[string]string{"role": "targets", "repository_passphrase": "x"}, status: 409, code: "no_trust_data", msg: "Initialise"},
		apiCase{name: "renew: unknown repository", method: "POST", path: "/api/v1/repositories/prod/nope/trust/renew",
			body: map[string]string{"role": "targets", "repository_passphrase": "x"}, status: 404, code: "repository_not_found"},
		apiCase{name: "rotate root: weak new passphrase", method: "POST", path: "/api/v1/repositories/prod/app/trust/rotate-root",
			body: map[string]string{"root_passphrase": "x", "new_root_passphrase": "short"}, status: 400, code: "passphrase_too_short", msg: "8 characters"},
		apiCase{name: "rotate root: unknown field", method: "POST", path: "/api/v1/repositories/prod/app/trust/rotate-root",
			body: map[string]string{"repository_passphrase": "x", "new_root_passphrase": "new-passphrase"}, status: 400, code: "malformed_json"},
		apiCase{name: "rotate root: no trust data", method: "POST", path: "/api/v1/repositories/prod/app/trust/rotate-root",
			body: map[string]string{"root_passphrase": "x", "new_root_passphrase": "new-passphrase"}, status: 409, code: "no_trust_data", msg: "Initialise"},
		apiCase{name: "rotate root: unknown repository", method: "POST", path: "/api/v1/repositories/prod/nope/trust/rotate-root",
			body: map[string]string{"root_passphrase": "x", "new_root_passphrase": "new-passphrase"}, status: 404, code: "repository_not_found"},
		apiCase{name: "revoke tag: a role named twice", method: "POST", path: "/api/v1/repositories/prod/app/tags/revoke",
			body: `{"tag":"1","keys":{"targets":{"passphrase":"a"},"targets":{"passphrase":"b"}}}`, status: 400, code: "duplicate_key", msg: `"targets" twice`},
		apiCase{name: "revoke tag: a passphrase named twice", method: "POST", path: "/api/v1/repositories/prod/app/tags/revoke",
			body: `{"tag":"1","keys":{"targets":{"passphrase":"a","PassPhrase":"b"}}}`, status: 400, code: "duplicate_key", msg: `"PassPhrase" twice`},
		apiCase{name: "unknown route", method: "GET", path: "/api/v1/nope", status: 404, code: "not_found"},
		apiCase{name: "unknown route outside v1", method: "GET", path: "/api/v2/repositories", status: 404, code: "not_found"},
		apiCase{name: "unknown method on a route", method: "PATCH", path: "/api/v1/repositories",
			body: map[string]string{"namespace": "prod", "name": "x"}, status: 405, code: "method_not_allowed"},
		apiCase{name: "unknown method on a route with parameters", method: "PUT", path: "/api/v1/repositories/prod/app/trust",
			body: map[string]string{}, status: 405, code: "method_not_allowed"},
		apiCase{name: "namespace path with no member", method: "PUT", path: "/api/v1/namespaces/prod/members/",
			body: map[string]string{"role": "read"}, status: 404, code: "not_found"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			var body string
			unchanged(t, s, func() { resp, body = tc.do(t, s) })
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, truncate(body))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			code, msg := apiErr(t, body)
			if code != tc.code || msg == "" || !strings.Contains(msg, tc.msg) {
				t.Errorf("error {%q, %q}, want code %q and a message saying %q", code, msg, tc.code, tc.msg)
			}
		})
	}
	// application/json with its parameters is JSON.
	for i, ctype := range []string{"application/json; charset=utf-8", "Application/JSON;Charset=\"UTF-8\"", "application/json ;foo=bar"} {
		body := fmt.Sprintf(`{"namespace":"prod","name":"typed-%d"}`, i)
		if resp, out := (apiCase{method: "POST", path: "/api/v1/repositories", body: body, ctype: ctype}).do(t, s); resp.StatusCode != http.StatusCreated {
			t.Errorf("Content-Type %s: %d %s, want 201", ctype, resp.StatusCode, out)
		}
	}
	// 405 says which methods the address takes; anonymous callers get it too
	// (the routes are documented), pages as HTML.
	for _, c := range []struct{ user, method, path, allow, ctype string }{
		{"alice", "PATCH", "/api/v1/repositories", "GET, HEAD, POST", "application/json"},
		{"-", "PUT", "/api/v1/repositories/prod/app/trust", "POST, DELETE", "application/json"},
		{"alice", "DELETE", "/repositories/prod/app", "GET, HEAD", "text/html"},
		{"alice", "PUT", "/login", "GET, HEAD, POST", "text/html"},
	} {
		resp, _ := apiCase{method: c.method, path: c.path, user: c.user, body: map[string]string{}}.do(t, s)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != c.allow ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("%s %s: %d, Allow %q, %s; want 405, Allow %q, %s", c.method, c.path, resp.StatusCode,
				resp.Header.Get("Allow"), resp.Header.Get("Content-Type"), c.allow, c.ctype)
		}
	}
	noServerErrors(t, s)
}

// validBodyFor is a body each target would accept and act on.
func validBodyFor(path string) string {
	switch {
	case strings.HasSuffix(path, "/repositories"):
		return `{"namespace":"prod","name":"sneaky"}`
	case strings.HasSuffix(path, "/users"):
		return `{"username":"sneaky","password":"long-enough-1"}`
	}
	return `{"role":"admin"}`
}

// TestCSRF: a form or API call made with the session cookie is refused
// without the right token, and changes nothing; HTTP basic calls need none.
func TestCSRF(t *testing.T) {
	s := testserver.Start(t)
	badInputFixtures(t, s)
	b := s.NewBrowser(t)
	b.Login("admin", testserver.AdminPassword)
	if b.CSRF == "" {
		t.Fatal("no CSRF token on the pages")
	}

	forms := []struct {
		path string
		form url.Values
	}{
		{"/repositories", url.Values{"namespace": {"prod"}, "name": {"csrf"}}},
		{"/admin/users", url.Values{"username": {"csrf"}, "password": {"long-enough-1"}}},
		{"/admin/members", url.Values{"namespace": {"prod"}, "username": {"alice"}, "role": {"admin"}}},
		{"/logout", url.Values{}},
		{"/login", url.Values{"username": {"alice"}, "password": {userPassword}}},
	}
	tokens := []struct {
		name  string
		token *string // nil: no _csrf field at all
	}{
		{"missing", nil},
		{"empty", ptr("")},
		{"wrong", ptr("not-the-token-not-the-token-1234")},
		{"another session's", nil}, // filled below
	}
	other := s.NewBrowser(t)
	other.Get("/login")
	tokens[3].token = &other.CSRF

	for _, f := range forms {
		for _, tok := range tokens {
			t.Run("form "+f.path+" "+tok.name, func(t *testing.T) {
				form := url.Values{}
				for k, v := range f.form {
					form[k] = v
				}
				if tok.token != nil {
					form.Set("_csrf", *tok.token)
				}
				var resp *http.Response
				var body string
				unchanged(t, s, func() {
					var err error
					resp, err = b.C.PostForm(s.URL+f.path, form)
					if err != nil {
						t.Fatal(err)
					}
					bb, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					body = string(bb)
				})
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("status %d, want 403: %s", resp.StatusCode, truncate(body))
				}
				if alert, _ := alertText(body); !strings.Contains(alert, "CSRF") {
					t.Errorf("alert %q does not name CSRF", alert)
				}
			})
		}
	}
	// The refused /logout did not sign the browser out.
	if resp, _ := b.Get("/repositories"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after refused logouts: %d, want still signed in", resp.StatusCode)
	}

	apiCalls := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/repositories", map[string]string{"namespace": "prod", "name": "csrf"}},
		{"DELETE", "/api/v1/repositories/prod/app", nil},
		{"POST", "/api/v1/users", map[string]any{"username": "csrf", "password": "long-enough-1"}},
		{"PUT", "/api/v1/namespaces/prod/members/alice", map[string]string{"role": "admin"}},
	}
	headers := []struct {
		name  string
		token *string
	}{
		{"missing", nil},
		{"wrong", ptr("not-the-token-not-the-token-1234")},
		{"another session's", &other.CSRF},
	}
	for _, c := range apiCalls {
		for _, h := range headers {
			t.Run("api "+c.method+" "+c.path+" "+h.name, func(t *testing.T) {
				var resp *http.Response
				var body string
				unchanged(t, s, func() {
					req := testserver.NewJSONRequest(t, c.method, s.URL+c.path, c.body)
					if h.token != nil {
						req.Header.Set("X-CSRF-Token", *h.token)
					}
					resp, body = send(t, b.C, req)
				})
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("status %d, want 403: %s", resp.StatusCode, body)
				}
				if code, _ := apiErr(t, body); code != "csrf" {
					t.Errorf("code %q, want csrf", code)
				}
			})
		}
		// An Authorization header that is not HTTP basic must not fall back
		// to the session cookie without the CSRF check.
		t.Run("api "+c.method+" "+c.path+" bearer header with session cookie", func(t *testing.T) {
			var resp *http.Response
			var body string
			unchanged(t, s, func() {
				req := testserver.NewJSONRequest(t, c.method, s.URL+c.path, c.body)
				req.Header.Set("Authorization", "Bearer whatever")
				resp, body = send(t, b.C, req)
			})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", resp.StatusCode, body)
			}
		})
	}

	// With the token, the same session calls work; with basic credentials
	// no token is needed.
	resp, body := b.PostForm("/repositories", url.Values{"namespace": {"prod"}, "name": {"with-token"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("form with the token: %d %s", resp.StatusCode, truncate(body))
	}
	resp, body = b.JSON("POST", "/api/v1/repositories", map[string]string{"namespace": "prod", "name": "session-api"})
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("session API call with the token: %d %s", resp.StatusCode, body)
	}
	resp, body = s.API(t, "admin", testserver.AdminPassword, "POST", "/api/v1/repositories",
		map[string]string{"namespace": "prod", "name": "basic-api"})
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("basic API call without a token: %d %s", resp.StatusCode, body)
	}
	resp, body = s.API(t, "admin", testserver.AdminPassword, "PUT", "/api/v1/namespaces/prod/members/alice",
		map[string]string{"role": "write"})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("basic API call without a token: %d %s", resp.StatusCode, body)
	}
	noServerErrors(t, s)
}

func ptr(s string) *string { return &s }

func send(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}
