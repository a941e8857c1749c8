package handlers_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/handlers"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// The principals of the authorization matrix, in the order of want's fields.
const (
	pAnon     = "anon"     // no credentials
	pReader   = "reader"   // read on prod
	pWriter   = "writer"   // write on prod
	pNSAdmin  = "nsadmin"  // admin on prod
	pOutsider = "outsider" // admin on other, nothing on prod
	pGlobal   = "admin"    // global administrator
)

var principals = []string{pAnon, pReader, pWriter, pNSAdmin, pOutsider, pGlobal}

const userPassword = "user-password-123"

func passwordOf(p string) string {
	if p == pGlobal {
		return testserver.AdminPassword
	}
	return userPassword
}

// want is the expected status per principal.
type want struct{ Anon, Reader, Writer, NSAdmin, Outsider, Global int }

func (w want) of(p string) int {
	switch p {
	case pAnon:
		return w.Anon
	case pReader:
		return w.Reader
	case pWriter:
		return w.Writer
	case pNSAdmin:
		return w.NSAdmin
	case pOutsider:
		return w.Outsider
	}
	return w.Global
}

// effect reports whether a row's change is visible in the database; the
// matrix asserts it is visible exactly when the request was allowed. suffix
// is the row's per-principal, per-style name suffix.
type effect func(t *testing.T, s *testserver.Server, suffix string) bool

func repoExists(ns, namePrefix string) effect {
	return func(t *testing.T, s *testserver.Server, suffix string) bool {
		_, err := s.App.Store.Repository(context.Background(), ns, namePrefix+suffix)
		return err == nil
	}
}

func repoGone(ns, namePrefix string) effect {
	exists := repoExists(ns, namePrefix)
	return func(t *testing.T, s *testserver.Server, suffix string) bool { return !exists(t, s, suffix) }
}

func userExists(prefix string) effect {
	return func(t *testing.T, s *testserver.Server, suffix string) bool {
		_, err := s.App.Store.UserByName(context.Background(), prefix+suffix)
		return err == nil
	}
}

// roleIs reports whether username holds role in ns (the matrix resets the
// role before each request so that a refused request is visible).
func roleIs(ns, username, role string) effect {
	return func(t *testing.T, s *testserver.Server, _ string) bool {
		u, err := s.App.Store.UserByName(context.Background(), username)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.App.Store.MemberRole(context.Background(), ns, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got == role
	}
}

// ensureCosignKey gives prod a cosign key (the admin generates one unless
// it has one).
func ensureCosignKey(t *testing.T, s *testserver.Server) {
	t.Helper()
	resp, body := s.API(t, pGlobal, testserver.AdminPassword, "POST", "/api/v1/namespaces/prod/signing-keys",
		map[string]string{"format": "cosign", "passphrase": "prod-cosign-passphrase"})
	if resp.StatusCode != s201 && resp.StatusCode != http.StatusConflict {
		t.Fatalf("generate prod's cosign key: %d %s", resp.StatusCode, body)
	}
}

// cosignKeyGone reports whether prod has no cosign key.
func cosignKeyGone(t *testing.T, s *testserver.Server, _ string) bool {
	_, err := s.App.Store.GetSigningKey(context.Background(), "prod", "cosign", "signer")
	return err != nil
}

// matrixRow is one request of the authorization matrix. In path, form and
// body, "{s}" is replaced by a suffix unique to the principal and auth style,
// so that allowed creations and deletions do not collide.
type matrixRow struct {
	method string
	route  string // the route pattern as registered in echo
	path   string
	form   url.Values // UI posts
	body   any        // API requests
	want   want
	// effect, when set, must hold after an allowed request and not after a
	// refused one.
	effect effect
	// before runs before each request (to reset state effect inspects).
	before func(t *testing.T, s *testserver.Server)
	// fresh runs the request in a newly signed-in browser (for /logout).
	fresh bool
	// target, when set, runs before each request; what it returns replaces
	// "{target}" in the path (an archive to delete, made for the request).
	target func(t *testing.T, s *testserver.Server) string
}

func (r matrixRow) api() bool { return strings.HasPrefix(r.route, "/api/") }

// Frequently used statuses.
const (
	s200 = http.StatusOK
	s201 = http.StatusCreated
	s204 = http.StatusNoContent
	s303 = http.StatusSeeOther
	s401 = http.StatusUnauthorized
	s403 = http.StatusForbidden
	s404 = http.StatusNotFound
)

func resetTargetRole(t *testing.T, s *testserver.Server) {
	t.Helper()
	for _, ns := range []string{"prod", "fresh-ns"} {
		resp, body := s.API(t, pGlobal, testserver.AdminPassword, "PUT", "/api/v1/namespaces/"+ns+"/members/target",
			map[string]string{"role": "read"})
		if resp.StatusCode != s200 {
			t.Fatalf("reset target role: %d %s", resp.StatusCode, body)
		}
	}
}

// matrix lists every page and API route with the status each principal
// gets. Rules: pages send anonymous GETs to the login form (303) and refuse
// anonymous posts (401); the API answers anonymous callers 401; a caller
// without read on a namespace gets 404 for its repositories (names do not
// leak); creating repositories and setting roles needs admin on the
// namespace; creating users needs a global admin.
var matrix = []matrixRow{
	// Pages.
	{method: "GET", route: "/", path: "/",
		want: want{s303, s303, s303, s303, s303, s303}},
	{method: "GET", route: "/login", path: "/login",
		want: want{s200, s303, s303, s303, s303, s303}},
	{method: "POST", route: "/login", path: "/login",
		want: want{s401, s303, s303, s303, s303, s303}},
	{method: "POST", route: "/logout", path: "/logout", fresh: true,
		want: want{s401, s303, s303, s303, s303, s303}},
	{method: "GET", route: "/repositories", path: "/repositories?q=app",
		want: want{s303, s200, s200, s200, s200, s200}},
	// Everyone signed in may export the trust backups of what they can read
	// (what they get is checked by internal/interop's TestBackupAll).
	{method: "GET", route: "/repositories/backup", path: "/repositories/backup",
		want: want{s303, s200, s200, s200, s200, s200}},
	{method: "GET", route: "/repositories/new", path: "/repositories/new",
		want: want{s303, s403, s403, s200, s200, s200}},
	{method: "POST", route: "/repositories", path: "/repositories",
		form:   url.Values{"namespace": {"prod"}, "name": {"ui-{s}"}},
		want:   want{s401, s403, s403, s303, s403, s303},
		effect: repoExists("prod", "ui-")},
	{method: "GET", route: "/repositories/:ns/:name", path: "/repositories/prod/app",
		want: want{s303, s200, s200, s200, s404, s200}},
	{method: "GET", route: "/repositories/:ns/:name", path: "/repositories/other/thing",
		want: want{s303, s404, s404, s404, s200, s200}},
	{method: "GET", route: "/repositories/:ns/:name", path: "/repositories/prod/missing",
		want: want{s303, s404, s404, s404, s404, s404}},
	// No tag 1 anywhere: 404 for everyone (readers learn that the tag does
	// not exist; the others that the repository does not, for them).
	{method: "GET", route: "/repositories/:ns/:name/tags", path: "/repositories/prod/app/tags?tag=1",
		want: want{s303, s404, s404, s404, s404, s404}},
	{method: "GET", route: "/repositories/:ns/:name/tags", path: "/repositories/other/thing/tags?tag=1",
		want: want{s303, s404, s404, s404, s404, s404}},
	// Trust management (issue: manage signers). prod/app has no trust data:
	// allowed callers reach validation (400) or the missing data (409);
	// the positive paths are covered by internal/interop's signer tests.
	{method: "GET", route: "/repositories/:ns/:name/trust/new", path: "/repositories/prod/app/trust/new",
		want: want{s303, s403, s403, s200, s404, s200}},
	{method: "POST", route: "/repositories/:ns/:name/trust", path: "/repositories/prod/app/trust",
		form: url.Values{"root_passphrase": {"one-passphrase"}, "root_passphrase_confirm": {"another-one"}},
		want: want{s401, s403, s403, 400, s404, 400}},
	{method: "GET", route: "/repositories/:ns/:name/signers/new", path: "/repositories/prod/app/signers/new",
		want: want{s303, s403, s403, s200, s404, s200}},
	{method: "POST", route: "/repositories/:ns/:name/signers", path: "/repositories/prod/app/signers",
		form: url.Values{"signer": {"jeff"}}, want: want{s401, s403, s403, 400, s404, 400}},
	{method: "GET", route: "/repositories/:ns/:name/signers/:signer/revoke", path: "/repositories/prod/app/signers/jeff/revoke",
		want: want{s303, s403, s403, 409, s404, 409}},
	{method: "POST", route: "/repositories/:ns/:name/signers/:signer/revoke", path: "/repositories/prod/app/signers/jeff/revoke",
		form: url.Values{"repository_passphrase": {"x"}}, want: want{s401, s403, s403, 409, s404, 409}},
	{method: "GET", route: "/repositories/:ns/:name/trust/renew", path: "/repositories/prod/app/trust/renew?role=targets",
		want: want{s303, s403, s403, 409, s404, 409}},
	{method: "POST", route: "/repositories/:ns/:name/trust/renew", path: "/repositories/prod/app/trust/renew",
		form: url.Values{"role": {"targets"}, "passphrase": {"x"}}, want: want{s401, s403, s403, 409, s404, 409}},
	{method: "GET", route: "/repositories/:ns/:name/trust/rotate-root", path: "/repositories/prod/app/trust/rotate-root",
		want: want{s303, s403, s403, 409, s404, 409}},
	{method: "POST", route: "/repositories/:ns/:name/trust/rotate-root", path: "/repositories/prod/app/trust/rotate-root",
		form: url.Values{"root_passphrase": {"x"}, "new_root_passphrase": {"new-passphrase"}, "new_root_passphrase_confirm": {"new-passphrase"}},
		want: want{s401, s403, s403, 409, s404, 409}},
	{method: "GET", route: "/repositories/:ns/:name/tags/revoke", path: "/repositories/prod/app/tags/revoke?tag=1",
		want: want{s303, s403, s403, 409, s404, 409}},
	{method: "POST", route: "/repositories/:ns/:name/tags/revoke", path: "/repositories/prod/app/tags/revoke",
		form: url.Values{"tag": {"1"}}, want: want{s401, s403, s403, 409, s404, 409}},
	{method: "GET", route: "/repositories/:ns/:name/delete", path: "/repositories/prod/app/delete",
		want: want{s303, s403, s403, s200, s404, s200}},
	{method: "POST", route: "/repositories/:ns/:name/delete", path: "/repositories/prod/app/delete",
		form: url.Values{"confirm": {"prod/wrong"}}, want: want{s401, s403, s403, 400, s404, 400}},
	{method: "POST", route: "/repositories/:ns/:name/trust/delete", path: "/repositories/prod/app/trust/delete",
		form: url.Values{"confirm": {"prod/wrong"}}, want: want{s401, s403, s403, 400, s404, 400}},
	{method: "GET", route: "/repositories/:ns/:name/trust/backup", path: "/repositories/prod/app/trust/backup",
		want: want{s303, s404, s404, s404, s404, s404}},
	{method: "GET", route: "/keys", path: "/keys", want: want{s303, s403, s403, s200, s200, s200}},
	{method: "POST", route: "/keys", path: "/keys", form: url.Values{"passphrase": {"x"}},
		want: want{s401, s403, s403, 400, 400, 400}},
	{method: "GET", route: "/keys/:id/download", path: "/keys/0123abcd/download",
		want: want{s303, s403, s403, s404, s404, s404}},
	{method: "POST", route: "/keys/:id/delete", path: "/keys/0123abcd/delete",
		want: want{s401, s403, s403, s404, s404, s404}},
	{method: "POST", route: "/profile/password", path: "/profile/password",
		form: url.Values{"current_password": {"x"}, "new_password": {"new-password-1"}, "new_password_confirm": {"new-password-2"}},
		want: want{s401, 400, 400, 400, 400, 400}},
	{method: "GET", route: "/profile/keys", path: "/profile/keys", want: want{s303, s200, s200, s200, s200, s200}},
	{method: "POST", route: "/profile/keys", path: "/profile/keys", form: url.Values{"public_key": {"not a key"}},
		want: want{s401, 400, 400, 400, 400, 400}},
	// Each account removes its own registered keys only (none here).
	{method: "POST", route: "/profile/keys/:id/delete", path: "/profile/keys/0123abcd/delete",
		want: want{s401, s404, s404, s404, s404, s404}},
	{method: "GET", route: "/admin/users", path: "/admin/users",
		want: want{s303, s403, s403, s200, s200, s200}},
	{method: "POST", route: "/admin/users", path: "/admin/users",
		form:   url.Values{"username": {"ui-{s}"}, "password": {"new-password-1"}},
		want:   want{s401, s403, s403, s403, s403, s303},
		effect: userExists("ui-")},
	// One account's page and what global administrators do to it; namespace
	// administrators remove roles in their namespaces. The allowed paths are
	// covered by users_test.go.
	{method: "GET", route: "/admin/users/:username", path: "/admin/users/target",
		want: want{s303, s403, s403, s200, s200, s200}},
	{method: "POST", route: "/admin/users/:username/disabled", path: "/admin/users/target/disabled",
		form: url.Values{"disabled": {"false"}}, want: want{s401, s403, s403, s403, s403, s303}},
	{method: "POST", route: "/admin/users/:username/password", path: "/admin/users/target/password",
		form: url.Values{"new_password": {"new-password-1"}, "new_password_confirm": {"new-password-2"}},
		want: want{s401, s403, s403, s403, s403, 400}},
	{method: "POST", route: "/admin/users/:username/delete", path: "/admin/users/target/delete",
		form: url.Values{"confirm": {"not-target"}}, want: want{s401, s403, s403, s403, s403, 400}},
	{method: "POST", route: "/admin/members/delete", path: "/admin/members/delete",
		form:   url.Values{"namespace": {"prod"}, "username": {"target"}},
		before: resetTargetRole,
		want:   want{s401, s403, s403, s303, s403, s303},
		effect: roleIs("prod", "target", "")},
	{method: "POST", route: "/admin/members", path: "/admin/members",
		form:   url.Values{"namespace": {"prod"}, "username": {"target"}, "role": {"write"}},
		before: resetTargetRole,
		want:   want{s401, s403, s403, s303, s403, s303},
		effect: roleIs("prod", "target", "write")},
	// The audit log is for global and namespace admins: with no filter a
	// namespace admin sees their namespaces, with one it needs admin on it.
	{method: "GET", route: "/audit", path: "/audit",
		want: want{s303, s403, s403, s200, s200, s200}},
	{method: "GET", route: "/audit", path: "/audit?repository=prod%2Fapp",
		want: want{s303, s403, s403, s200, s403, s200}},

	// JSON API.
	{method: "GET", route: "/api/v1/repositories", path: "/api/v1/repositories",
		want: want{s401, s200, s200, s200, s200, s200}},
	{method: "POST", route: "/api/v1/repositories", path: "/api/v1/repositories",
		body:   map[string]string{"namespace": "prod", "name": "api-{s}"},
		want:   want{s401, s403, s403, s201, s403, s201},
		effect: repoExists("prod", "api-")},
	{method: "GET", route: "/api/v1/repositories/:ns/:name", path: "/api/v1/repositories/prod/app",
		want: want{s401, s200, s200, s200, s404, s200}},
	{method: "GET", route: "/api/v1/repositories/:ns/:name", path: "/api/v1/repositories/other/thing",
		want: want{s401, s404, s404, s404, s200, s200}},
	{method: "GET", route: "/api/v1/repositories/:ns/:name", path: "/api/v1/repositories/prod/missing",
		want: want{s401, s404, s404, s404, s404, s404}},
	// Tags and their states read like the repository (without a registry:
	// the signed tags, state unknown).
	{method: "GET", route: "/api/v1/repositories/:ns/:name/tags", path: "/api/v1/repositories/prod/app/tags",
		want: want{s401, s200, s200, s200, s404, s200}},
	{method: "GET", route: "/api/v1/repositories/:ns/:name/tags", path: "/api/v1/repositories/other/thing/tags?state=unsigned",
		want: want{s401, s404, s404, s404, s200, s200}},
	// The registry's notifications take only the events token, never a
	// user's credentials or session; without --registry-events-token (as
	// here) the endpoint does not exist. With it: TestRegistryEventsAuth.
	{method: "POST", route: "/api/v1/registry/events", path: "/api/v1/registry/events",
		body: map[string]any{"events": []any{}}, want: want{s404, s404, s404, s404, s404, s404}},
	{method: "DELETE", route: "/api/v1/repositories/:ns/:name", path: "/api/v1/repositories/prod/del-{s}",
		want:   want{s401, s403, s403, s204, s404, s204},
		effect: repoGone("prod", "del-")},
	{method: "DELETE", route: "/api/v1/repositories/:ns/:name", path: "/api/v1/repositories/prod/missing",
		want: want{s401, s404, s404, s404, s404, s404}},
	{method: "POST", route: "/api/v1/users", path: "/api/v1/users",
		body:   map[string]any{"username": "api-{s}", "password": "new-password-1", "admin": false},
		want:   want{s401, s403, s403, s403, s403, s201},
		effect: userExists("api-")},
	{method: "PUT", route: "/api/v1/namespaces/:ns/members/:username", path: "/api/v1/namespaces/prod/members/target",
		body:   map[string]string{"role": "admin"},
		before: resetTargetRole,
		want:   want{s401, s403, s403, s200, s403, s200},
		effect: roleIs("prod", "target", "admin")},
	// A namespace exists implicitly: only global admins grant roles in one
	// nobody administers yet.
	{method: "PUT", route: "/api/v1/namespaces/:ns/members/:username", path: "/api/v1/namespaces/fresh-ns/members/target",
		body:   map[string]string{"role": "write"},
		before: resetTargetRole,
		want:   want{s401, s403, s403, s403, s403, s200},
		effect: roleIs("fresh-ns", "target", "write")},
	{method: "DELETE", route: "/api/v1/namespaces/:ns/members/:username", path: "/api/v1/namespaces/prod/members/target",
		before: resetTargetRole,
		want:   want{s401, s403, s403, s204, s403, s204},
		effect: roleIs("prod", "target", "")},
	{method: "PATCH", route: "/api/v1/users/:username", path: "/api/v1/users/target",
		body: map[string]any{"disabled": false}, want: want{s401, s403, s403, s403, s403, s200}},
	{method: "DELETE", route: "/api/v1/users/:username", path: "/api/v1/users/nobody",
		want: want{s401, s403, s403, s403, s403, s404}},
	{method: "GET", route: "/api/v1/audit", path: "/api/v1/audit",
		want: want{s401, s403, s403, s200, s200, s200}},
	{method: "GET", route: "/api/v1/audit", path: "/api/v1/audit?repository=prod/app",
		want: want{s401, s403, s403, s200, s403, s200}},
	{method: "POST", route: "/api/v1/repositories/:ns/:name/trust", path: "/api/v1/repositories/prod/app/trust",
		body: map[string]string{"root_passphrase": "short", "repository_passphrase": "short"},
		want: want{s401, s403, s403, 400, s404, 400}},
	{method: "POST", route: "/api/v1/repositories/:ns/:name/signers", path: "/api/v1/repositories/prod/app/signers",
		body: map[string]string{"name": "jeff", "public_key": ""}, want: want{s401, s403, s403, 400, s404, 400}},
	{method: "POST", route: "/api/v1/repositories/:ns/:name/signers/:signer/revoke", path: "/api/v1/repositories/prod/app/signers/jeff/revoke",
		body: map[string]string{"repository_passphrase": "x"}, want: want{s401, s403, s403, 409, s404, 409}},
	{method: "POST", route: "/api/v1/repositories/:ns/:name/trust/renew", path: "/api/v1/repositories/prod/app/trust/renew",
		body: map[string]string{"role": "targets", "repository_passphrase": "x"}, want: want{s401, s403, s403, 409, s404, 409}},
	{method: "POST", route: "/api/v1/repositories/:ns/:name/trust/rotate-root", path: "/api/v1/repositories/prod/app/trust/rotate-root",
		body: map[string]string{"root_passphrase": "x", "new_root_passphrase": "new-passphrase"}, want: want{s401, s403, s403, 409, s404, 409}},
	{method: "DELETE", route: "/api/v1/repositories/:ns/:name/trust", path: "/api/v1/repositories/prod/app/trust",
		body: map[string]any{"confirm": "prod/wrong", "delete_keys": false}, want: want{s401, s403, s403, 400, s404, 400}},
	{method: "GET", route: "/api/v1/repositories/:ns/:name/trust/backup", path: "/api/v1/repositories/prod/app/trust/backup",
		want: want{s401, s404, s404, s404, s404, s404}},
	{method: "POST", route: "/api/v1/repositories/:ns/:name/tags/revoke", path: "/api/v1/repositories/prod/app/tags/revoke",
		body: map[string]any{"tag": "1"}, want: want{s401, s403, s403, 409, s404, 409}},
	{method: "POST", route: "/api/v1/keys", path: "/api/v1/keys", body: map[string]string{"pem": "", "passphrase": ""},
		want: want{s401, s403, s403, 400, 400, 400}},
	{method: "GET", route: "/api/v1/keys", path: "/api/v1/keys", want: want{s401, s403, s403, s200, s200, s200}},
	{method: "GET", route: "/api/v1/keys/:id", path: "/api/v1/keys/0123abcd", want: want{s401, s403, s403, s404, s404, s404}},
	{method: "DELETE", route: "/api/v1/keys/:id", path: "/api/v1/keys/0123abcd", want: want{s401, s403, s403, s404, s404, s404}},
	{method: "POST", route: "/api/v1/users/:username/keys", path: "/api/v1/users/reader/keys",
		body: map[string]string{"public_key": "not a key"}, want: want{s401, 400, s403, s403, s403, 400}},
	{method: "GET", route: "/api/v1/users/:username/keys", path: "/api/v1/users/reader/keys",
		want: want{s401, s200, s403, s403, s403, s200}},
	// The migration off DCT (internal/migration). Without a registry (as
	// here) plans and runs are refused with 409 once authorised; members
	// read plans, keys and the verification exports, admins run and manage
	// keys. Runs and real plans: internal/interop's migration tests.
	{method: "GET", route: "/api/v1/repositories/:ns/:name/migration", path: "/api/v1/repositories/prod/app/migration",
		want: want{s401, 409, 409, 409, s404, 409}},
	{method: "GET", route: "/api/v1/namespaces/:ns/migration", path: "/api/v1/namespaces/prod/migration",
		want: want{s401, 409, 409, 409, s404, 409}},
	{method: "GET", route: "/api/v1/migration", path: "/api/v1/migration",
		want: want{s401, s403, s403, 409, 409, 409}},
	{method: "POST", route: "/api/v1/migrations", path: "/api/v1/migrations",
		body: map[string]any{"repositories": []string{"prod/app"}, "formats": []string{"cosign"}, "passphrase": "x"},
		want: want{s401, s403, s403, 409, s404, 409}},
	{method: "GET", route: "/api/v1/migrations", path: "/api/v1/migrations",
		want: want{s401, s403, s403, s200, s200, s200}},
	{method: "GET", route: "/api/v1/migrations/:id", path: "/api/v1/migrations/0123456789abcdef0123456789abcdef",
		want: want{s401, s404, s404, s404, s404, s404}},
	{method: "GET", route: "/api/v1/namespaces/:ns/signing-keys", path: "/api/v1/namespaces/prod/signing-keys",
		want: want{s401, s200, s200, s200, s404, s200}},
	{method: "POST", route: "/api/v1/namespaces/:ns/signing-keys", path: "/api/v1/namespaces/prod/signing-keys",
		body: map[string]string{"format": "cosign", "passphrase": "short"}, want: want{s401, s403, s403, 400, s404, 400}},
	{method: "DELETE", route: "/api/v1/namespaces/:ns/signing-keys/:format", path: "/api/v1/namespaces/prod/signing-keys/cosign",
		before: ensureCosignKey, want: want{s401, s403, s403, s204, s404, s204}, effect: cosignKeyGone},
	{method: "GET", route: "/api/v1/namespaces/:ns/verification/:file", path: "/api/v1/namespaces/prod/verification/cosign.pub",
		before: ensureCosignKey, want: want{s401, s200, s200, s200, s404, s200}},
	// The migration's pages: without a registry the plans say so on the
	// page; a run is refused (409) once authorised.
	{method: "GET", route: "/migration", path: "/migration",
		want: want{s303, s403, s403, s200, s200, s200}},
	{method: "GET", route: "/repositories/:ns/:name/migration", path: "/repositories/prod/app/migration",
		want: want{s303, s403, s403, s200, s404, s200}},
	{method: "POST", route: "/migrations", path: "/migrations",
		form: url.Values{"repository": {"prod/app"}, "format": {"cosign"}, "passphrase": {"x"}},
		want: want{s401, s403, s403, 409, s404, 409}},
	{method: "GET", route: "/migrations/:id", path: "/migrations/0123456789abcdef0123456789abcdef",
		want: want{s303, s404, s404, s404, s404, s404}},
	{method: "POST", route: "/namespaces/:ns/signing-keys", path: "/namespaces/prod/signing-keys",
		form: url.Values{"format": {"cosign"}, "passphrase": {"short"}}, want: want{s401, s403, s403, 400, s404, 400}},
	// No trust data in prod/app: docker's "no signatures or cannot access"
	// is a 404 for everyone; without a ref it is a 400 once authenticated.
	{method: "GET", route: "/api/v1/trust/inspect", path: "/api/v1/trust/inspect?ref={addr}/prod/app",
		want: want{s401, s404, s404, s404, s404, s404}},
	{method: "GET", route: "/api/v1/trust/inspect", path: "/api/v1/trust/inspect",
		want: want{s401, 400, 400, 400, 400, 400}},
	{method: "GET", route: "/api/v1/trust/backup", path: "/api/v1/trust/backup",
		want: want{s401, s200, s200, s200, s200, s200}},

	// Archived repositories (seeded by seedArchives: #1 of prod/app, #2 of
	// other/thing, #3 of a GUN outside the registry host). Reading follows
	// the GUN's namespace, global administrators otherwise; capturing and
	// importing need admin somewhere (the GUN's namespace: TestArchiveAccess);
	// deleting a global administrator.
	{method: "GET", route: "/archives", path: "/archives",
		want: want{s303, s200, s200, s200, s200, s200}},
	{method: "GET", route: "/archives/capture", path: "/archives/capture",
		want: want{s303, s403, s403, s200, s200, s200}},
	{method: "POST", route: "/archives/capture", path: "/archives/capture",
		form: url.Values{"notary_url": {"http://not-https.test"}, "guns": {"a/b"}},
		want: want{s401, s403, s403, 400, 400, 400}},
	{method: "GET", route: "/archives/captures/:job", path: "/archives/captures/0123abcd",
		want: want{s303, s404, s404, s404, s404, s404}},
	{method: "GET", route: "/archives/import", path: "/archives/import",
		want: want{s303, s403, s403, s200, s200, s200}},
	{method: "POST", route: "/archives/import", path: "/archives/import", form: url.Values{"x": {"not multipart"}},
		want: want{s401, s403, s403, 400, 400, 400}},
	{method: "GET", route: "/archives/:id", path: "/archives/1",
		want: want{s303, s200, s200, s200, s404, s200}},
	{method: "GET", route: "/archives/:id", path: "/archives/2",
		want: want{s303, s404, s404, s404, s200, s200}},
	{method: "GET", route: "/archives/:id", path: "/archives/3",
		want: want{s303, s404, s404, s404, s404, s200}},
	{method: "GET", route: "/archives/:id/download", path: "/archives/1/download",
		want: want{s303, s200, s200, s200, s404, s200}},
	{method: "GET", route: "/archives/:id/delete", path: "/archives/1/delete",
		want: want{s303, s403, s403, s403, s404, s200}},
	{method: "POST", route: "/archives/:id/delete", path: "/archives/{target}/delete", target: freshArchive,
		want: want{s401, s403, s403, s403, s404, s303}, effect: archiveGone},
	{method: "GET", route: "/api/v1/archives", path: "/api/v1/archives",
		want: want{s401, s200, s200, s200, s200, s200}},
	{method: "POST", route: "/api/v1/archives", path: "/api/v1/archives",
		body: map[string]string{"notary_url": "http://not-https.test", "gun": "a/b"},
		want: want{s401, s403, s403, 400, 400, 400}},
	{method: "POST", route: "/api/v1/archives/import", path: "/api/v1/archives/import", body: map[string]string{"not": "multipart"},
		want: want{s401, s403, s403, 400, 400, 400}},
	{method: "GET", route: "/api/v1/archives/:id", path: "/api/v1/archives/1",
		want: want{s401, s200, s200, s200, s404, s200}},
	{method: "GET", route: "/api/v1/archives/:id", path: "/api/v1/archives/3",
		want: want{s401, s404, s404, s404, s404, s200}},
	{method: "GET", route: "/api/v1/archives/:id/inspect", path: "/api/v1/archives/2/inspect?pretty=1",
		want: want{s401, s404, s404, s404, s200, s200}},
	{method: "GET", route: "/api/v1/archives/:id/download", path: "/api/v1/archives/1/download",
		want: want{s401, s200, s200, s200, s404, s200}},
	{method: "DELETE", route: "/api/v1/archives/:id", path: "/api/v1/archives/{target}", target: freshArchive,
		want: want{s401, s403, s403, s403, s404, s204}, effect: archiveGone},
	{method: "DELETE", route: "/api/v1/archives/:id", path: "/api/v1/archives/999",
		want: want{s401, s404, s404, s404, s404, s404}},
}

// matrixArchives are the backups seedArchives imports (prod/app's is
// imported again for each deletion).
var matrixArchives map[string][]byte

// lastTarget is the archive freshArchive made for the current request.
var lastTarget string

// seedArchives imports archives #1 (prod/app), #2 (other/thing) and #3 (a
// GUN outside the registry host).
func seedArchives(t *testing.T, s *testserver.Server) {
	t.Helper()
	at := time.Now().Add(-time.Hour)
	matrixArchives = map[string][]byte{}
	for i, gun := range []string{s.Addr + "/prod/app", s.Addr + "/other/thing", "docker.io/library/foreign"} {
		matrixArchives[gun] = backupOf(t, gun, signedFiles(t, gun), at)
		if id := mustImport(t, s, matrixArchives[gun]); id != int64(i+1) {
			t.Fatalf("archive of %s is #%d, want #%d", gun, id, i+1)
		}
	}
}

// freshArchive imports prod/app's backup once more, to be deleted.
func freshArchive(t *testing.T, s *testserver.Server) string {
	lastTarget = strconv.FormatInt(mustImport(t, s, matrixArchives[s.Addr+"/prod/app"]), 10)
	return lastTarget
}

// archiveGone reports whether the archive freshArchive made is gone.
func archiveGone(t *testing.T, s *testserver.Server, _ string) bool {
	id, _ := strconv.ParseInt(lastTarget, 10, 64)
	_, err := s.App.Store.GetArchive(context.Background(), id)
	return err != nil
}

// authStyles are the ways a principal calls the API: HTTP basic
// credentials, or the session cookie with the CSRF header.
var authStyles = []string{"basic", "session"}

func replaceSuffix(v any, suffix string) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "{s}", suffix)
	case map[string]string:
		out := map[string]string{}
		for k, s := range x {
			out[k] = strings.ReplaceAll(s, "{s}", suffix)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, s := range x {
			out[k] = replaceSuffix(s, suffix)
		}
		return out
	case url.Values:
		out := url.Values{}
		for k, vs := range x {
			for _, s := range vs {
				out.Add(k, strings.ReplaceAll(s, "{s}", suffix))
			}
		}
		return out
	}
	return v
}

// setUpPrincipals creates the matrix's users, namespaces and repositories.
func setUpPrincipals(t *testing.T, s *testserver.Server) {
	t.Helper()
	s.MustCreateUser(t, pReader, userPassword, "prod", "read")
	s.MustCreateUser(t, pWriter, userPassword, "prod", "write")
	s.MustCreateUser(t, pNSAdmin, userPassword, "prod", "admin")
	s.MustCreateUser(t, pOutsider, userPassword, "other", "admin")
	s.MustCreateUser(t, "target", userPassword, "prod", "read")
	s.MustCreateRepo(t, "prod", "app")
	s.MustCreateRepo(t, "other", "thing")
}

func TestAuthorizationMatrix(t *testing.T) {
	s := testserver.Start(t)
	setUpPrincipals(t, s)
	seedArchives(t, s)
	for _, p := range principals {
		for _, style := range authStyles {
			s.MustCreateRepo(t, "prod", "del-"+p+"-"+style)
		}
	}
	browsers := map[string]*testserver.Browser{}
	for _, p := range principals {
		b := s.NewBrowser(t)
		if p == pAnon {
			b.Get("/login") // an anonymous browser still holds a CSRF token
		} else {
			b.Login(p, passwordOf(p))
		}
		browsers[p] = b
	}

	for _, row := range matrix {
		styles := []string{"ui"}
		if row.api() {
			styles = authStyles
		}
		for _, style := range styles {
			for _, p := range principals {
				name := row.method + " " + row.path + "/" + style + "/" + p
				t.Run(name, func(t *testing.T) {
					suffix := p + "-" + style
					if row.before != nil {
						row.before(t, s)
					}
					path := strings.ReplaceAll(replaceSuffix(row.path, suffix).(string), "{addr}", s.Addr)
					if row.target != nil {
						path = strings.ReplaceAll(path, "{target}", row.target(t, s))
					}
					var before bool
					if row.effect != nil {
						before = row.effect(t, s, suffix)
					}
					resp, body := doMatrixRequest(t, s, browsers, row, style, p, path, suffix)
					want := row.want.of(p)
					if resp.StatusCode != want {
						t.Fatalf("%s %s as %s (%s): status %d, want %d\n%s", row.method, path, p, style,
							resp.StatusCode, want, truncate(body))
					}
					checkMatrixResponse(t, row, p, path, resp, body)
					if row.effect != nil {
						allowed := want < 400
						after := row.effect(t, s, suffix)
						if allowed && !after {
							t.Errorf("allowed %s %s as %s: the change is not in the database", row.method, path, p)
						}
						if !allowed && after != before {
							t.Errorf("refused %s %s as %s: the database changed anyway", row.method, path, p)
						}
					}
				})
			}
		}
	}
	if strings.Contains(s.Logs.String(), "level=ERROR") {
		t.Errorf("the matrix logged server errors:\n%s", errorLines(s.Logs.String()))
	}
}

func doMatrixRequest(t *testing.T, s *testserver.Server, browsers map[string]*testserver.Browser,
	row matrixRow, style, p, path, suffix string) (*http.Response, string) {
	t.Helper()
	if style == "basic" {
		user, pass := "", ""
		if p != pAnon {
			user, pass = p, passwordOf(p)
		}
		return s.API(t, user, pass, row.method, path, replaceSuffix(row.body, suffix))
	}
	b := browsers[p]
	if row.fresh {
		b = s.NewBrowser(t)
		if p == pAnon {
			b.Get("/login")
		} else {
			b.Login(p, passwordOf(p))
		}
	}
	if style == "session" {
		return b.JSON(row.method, path, replaceSuffix(row.body, suffix))
	}
	switch row.method {
	case "GET":
		return b.Get(path)
	case "POST":
		form := url.Values{}
		if row.form != nil {
			form = replaceSuffix(row.form, suffix).(url.Values)
		}
		if row.route == "/login" {
			form = url.Values{"username": {p}, "password": {passwordOf(p)}}
			if p == pAnon {
				form = url.Values{"username": {"nobody"}, "password": {"wrong-password"}}
			}
		}
		return b.PostForm(path, form)
	}
	t.Fatalf("no UI request for method %s", row.method)
	return nil, ""
}

// checkMatrixResponse asserts what every response of its kind must show
// beyond the status.
func checkMatrixResponse(t *testing.T, row matrixRow, p, path string, resp *http.Response, body string) {
	t.Helper()
	status := resp.StatusCode
	loc := resp.Header.Get("Location")
	switch {
	case status == s303 && p == pAnon && row.method == "GET" && path != "/":
		if want := "/login?next=" + url.QueryEscape(path); loc != want {
			t.Errorf("anonymous %s: redirect to %q, want %q", path, loc, want)
		}
	case status == s303 && loc == "":
		t.Errorf("%s %s: 303 without Location", row.method, path)
	case status == s404 && row.route == "/api/v1/trust/inspect":
		// docker's stdout for refs it cannot access, and its stderr message.
		if body != "[]\n" || !strings.HasPrefix(resp.Header.Get("Trustdeck-Inspect-Error"), "no signatures or cannot access ") {
			t.Errorf("%s %s: 404 body %q, error header %q", row.method, path, body, resp.Header.Get("Trustdeck-Inspect-Error"))
		}
	case status >= 400 && row.api():
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("%s %s: %d without a JSON error body: %s", row.method, path, status, truncate(body))
		}
	case status >= 400:
		if !strings.Contains(body, `role="alert"`) {
			t.Errorf("%s %s: %d page without an alert: %s", row.method, path, status, truncate(body))
		}
	}
}

func truncate(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

func errorLines(logs string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAuthorizationMatrixIsComplete fails when a route is registered that
// the matrix does not cover: add a row for every new page or API route.
func TestAuthorizationMatrixIsComplete(t *testing.T) {
	s := testserver.Start(t)
	e, ok := s.App.Handler.(*echo.Echo)
	if !ok {
		e = (&handlers.Server{}).Routes()
	}
	covered := map[string]bool{}
	for _, r := range matrix {
		covered[r.method+" "+r.route] = true
	}
	var missing []string
	seen := map[string]bool{}
	for _, r := range e.Routes() {
		key := r.Method + " " + r.Path
		if seen[key] || exemptFromMatrix(r) {
			continue
		}
		seen[key] = true
		if !covered[key] {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes without a row in the authorization matrix (authz_test.go):\n  %s",
			strings.Join(missing, "\n  "))
	}
	// Rows for routes that no longer exist are stale.
	for key := range covered {
		if !seen[key] {
			t.Errorf("matrix row %q matches no registered route", key)
		}
	}
}

func exemptFromMatrix(r *echo.Route) bool {
	if r.Method == echo.RouteNotFound || !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}, r.Method) {
		return true
	}
	switch r.Path {
	case "/static/*", "/healthz", "/readyz", "/*":
		return true
	}
	// Docker's token service and the Notary API are tested by their owners.
	return strings.HasPrefix(r.Path, "/v2") || strings.HasPrefix(r.Path, "/auth/")
}

// TestRepositoryVisibility checks that lists show exactly the namespaces a
// principal may read, through the page and the API.
func TestRepositoryVisibility(t *testing.T) {
	s := testserver.Start(t)
	setUpPrincipals(t, s)
	s.MustCreateRepo(t, "prod", "web")
	s.MustCreateRepo(t, "third", "hidden")
	tests := []struct {
		principal string
		want      []string
	}{
		{pReader, []string{"prod/app", "prod/web"}},
		{pWriter, []string{"prod/app", "prod/web"}},
		{pNSAdmin, []string{"prod/app", "prod/web"}},
		{pOutsider, []string{"other/thing"}},
		{pGlobal, []string{"other/thing", "prod/app", "prod/web", "third/hidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.principal, func(t *testing.T) {
			resp, body := s.API(t, tt.principal, passwordOf(tt.principal), "GET", "/api/v1/repositories", nil)
			if resp.StatusCode != s200 {
				t.Fatalf("list: %d %s", resp.StatusCode, body)
			}
			var l struct {
				Repositories []struct{ Namespace, Name, GUN string }
				Total        int
			}
			if err := json.Unmarshal([]byte(body), &l); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range l.Repositories {
				got = append(got, r.Namespace+"/"+r.Name)
			}
			if !slices.Equal(got, tt.want) || l.Total != len(tt.want) {
				t.Errorf("API list = %v (total %d), want %v", got, l.Total, tt.want)
			}
			b := s.NewBrowser(t)
			b.Login(tt.principal, passwordOf(tt.principal))
			_, page := b.Get("/repositories")
			for _, r := range []string{"prod/app", "prod/web", "other/thing", "third/hidden"} {
				link := `href="/repositories/` + r + `"`
				if strings.Contains(page, link) != slices.Contains(tt.want, r) {
					t.Errorf("page lists %s: %v, want %v", r, strings.Contains(page, link), slices.Contains(tt.want, r))
				}
			}
		})
	}
}

// TestNamespaceAdminSeesOnlyOwnRoles: the users page shows a namespace
// admin the roles in the namespaces they administer, not other namespaces'
// (whose names they may not read).
func TestNamespaceAdminSeesOnlyOwnRoles(t *testing.T) {
	s := testserver.Start(t)
	setUpPrincipals(t, s)
	b := s.NewBrowser(t)
	b.Login(pNSAdmin, userPassword)
	resp, body := b.Get("/admin/users")
	if resp.StatusCode != s200 {
		t.Fatalf("users page: %d", resp.StatusCode)
	}
	if !strings.Contains(body, "prod: read") {
		t.Errorf("users page does not show roles in prod:\n%s", truncate(body))
	}
	if strings.Contains(body, "other:") {
		t.Errorf("users page shows a namespace admin of prod the roles in other:\n%s", body)
	}
	if strings.Contains(body, `action="/admin/users"`) {
		t.Errorf("users page offers a namespace admin the create-user form")
	}
	g := s.NewBrowser(t)
	g.Login(pGlobal, testserver.AdminPassword)
	_, body = g.Get("/admin/users")
	if !strings.Contains(body, "other: admin") || !strings.Contains(body, `action="/admin/users"`) {
		t.Errorf("users page of a global admin lacks other roles or the create form:\n%s", truncate(body))
	}
}

// TestRoleOnNamespaceWithoutRepositories: a namespace exists implicitly, so
// its admin can be named before it holds a repository and then create one.
func TestRoleOnNamespaceWithoutRepositories(t *testing.T) {
	s := testserver.Start(t)
	s.MustCreateUser(t, "bob", userPassword, "", "")
	resp, body := s.API(t, pGlobal, testserver.AdminPassword, "PUT", "/api/v1/namespaces/brand-new/members/bob",
		map[string]string{"role": "admin"})
	if resp.StatusCode != s200 || !strings.Contains(body, `"role":"admin"`) {
		t.Fatalf("grant on an empty namespace: %d %s", resp.StatusCode, body)
	}
	b := s.NewBrowser(t)
	b.Login("bob", userPassword)
	if resp, _ := b.Get("/repositories/new"); resp.StatusCode != s200 {
		t.Fatalf("new-repository form for the namespace admin: %d", resp.StatusCode)
	}
	resp, body = b.PostForm("/repositories", url.Values{"namespace": {"brand-new"}, "name": {"first"}})
	if resp.StatusCode != s303 || resp.Header.Get("Location") != "/repositories/brand-new/first" {
		t.Fatalf("create in the empty namespace: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), truncate(body))
	}
	resp, body = b.PostForm("/repositories", url.Values{"namespace": {"elsewhere"}, "name": {"first"}})
	if resp.StatusCode != s403 {
		t.Fatalf("create in a namespace bob does not administer: %d %s", resp.StatusCode, truncate(body))
	}
	resp, body = s.API(t, "bob", userPassword, "GET", "/api/v1/repositories/brand-new/first", nil)
	if resp.StatusCode != s200 || !strings.Contains(body, `"gun":"`+s.Addr+`/brand-new/first"`) {
		t.Fatalf("get: %d %s", resp.StatusCode, body)
	}
}

// TestLoginRedirectStaysOnSite: the login form's next parameter only ever
// leads to a path of this site, through the form (POST) and for a visitor
// already signed in (GET); anything else leads to /.
func TestLoginRedirectStaysOnSite(t *testing.T) {
	s := testserver.Start(t)
	tests := []struct{ next, want string }{
		{"/repositories/prod/app", "/repositories/prod/app"},
		{"/admin/users?x=1", "/admin/users?x=1"},
		{"/repositories?q=prod%2Fapp&page=2", "/repositories?q=prod%2Fapp&page=2"},
		{"/", "/"},
		{"", "/"},
		{"evil.example", "/"},
		{"https://evil.example/", "/"},
		{"HTTPS://evil.example/", "/"},
		{"http:/evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"//evil.example/", "/"},
		{"///evil.example/", "/"},
		{"/\\evil.example/", "/"},
		{"/\\/evil.example/", "/"},
		{"\\/evil.example/", "/"},
		{"\\\\evil.example/", "/"},
		{"/ok/\\..\\evil", "/"},
		// Browsers drop TAB, CR and LF from URLs: "/\t/x" is "//x".
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{" /evil.example", "/"},
		{"\t//evil.example", "/"},
		{"/ok\r\nSet-Cookie: x=y", "/"},
		{"/\x00/evil.example", "/"},
		// The same, percent-encoded.
		{"/%09/evil.example", "/"},
		{"/%0a/evil.example", "/"},
		{"/%0D%0A/evil.example", "/"},
		{"/%20/evil.example", "/"},
		{"/%e2%80%a8/evil.example", "/"}, // U+2028
		{"/%2F/evil.example", "/"},
		{"/%2f%2fevil.example", "/"},
		{"%2F%2Fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"/%5c%5cevil.example", "/"},
		{"%5C%5Cevil.example", "/"},
		{"/%zz", "/"},
		{"/user@evil.example", "/user@evil.example"}, // a path: no authority after one slash
		{"/" + strings.Repeat("a", 2000), "/"},
	}
	signedIn := s.NewBrowser(t)
	signedIn.Login("admin", testserver.AdminPassword)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.80q", tt.next), func(t *testing.T) {
			b := s.NewBrowser(t)
			b.Get("/login")
			resp, body := b.PostForm("/login", url.Values{"username": {"admin"},
				"password": {testserver.AdminPassword}, "next": {tt.next}})
			if resp.StatusCode != s303 || resp.Header.Get("Location") != tt.want {
				t.Errorf("POST /login next=%q: %d Location %q, want %q: %s", tt.next, resp.StatusCode,
					resp.Header.Get("Location"), tt.want, truncate(body))
			}
			resp, body = signedIn.Get("/login?" + url.Values{"next": {tt.next}}.Encode())
			if resp.StatusCode != s303 || resp.Header.Get("Location") != tt.want {
				t.Errorf("GET /login?next=%q signed in: %d Location %q, want %q: %s", tt.next, resp.StatusCode,
					resp.Header.Get("Location"), tt.want, truncate(body))
			}
		})
	}
	// The payload of the report, sent exactly as reported.
	resp, _ := signedIn.Get("/login?next=/%09/evil.example")
	if loc := resp.Header.Get("Location"); resp.StatusCode != s303 || loc != "/" {
		t.Errorf("GET /login?next=/%%09/evil.example: %d Location %q, want /", resp.StatusCode, loc)
	}
	// An anonymous page visit comes back to the page after signing in.
	b := s.NewBrowser(t)
	resp, _ = b.Get("/admin/users")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != s303 || loc != "/login?next=%2Fadmin%2Fusers" {
		t.Fatalf("anonymous visit: %d %q", resp.StatusCode, loc)
	}
	_, page := b.Get(loc)
	if !strings.Contains(page, `name="next" value="/admin/users"`) {
		t.Fatalf("login form does not carry next:\n%s", truncate(page))
	}
	resp, _ = b.PostForm("/login", url.Values{"username": {"admin"}, "password": {testserver.AdminPassword},
		"next": {"/admin/users"}})
	if resp.Header.Get("Location") != "/admin/users" {
		t.Errorf("after login: Location %q, want /admin/users", resp.Header.Get("Location"))
	}
}

// TestRepositoryListSearchAndPages: the list is sorted by name, searched by
// a case-insensitive substring of namespace/name, and paged 25 at a time.
func TestRepositoryListSearchAndPages(t *testing.T) {
	s := testserver.Start(t)
	b := s.NewBrowser(t)
	b.Login(pGlobal, testserver.AdminPassword)
	var all []string
	for i := 29; i >= 0; i-- { // created out of order
		ns, name := "prod", fmt.Sprintf("svc-%02d", i)
		if i%10 == 0 {
			ns = "alpha"
		}
		if resp, body := b.JSON("POST", "/api/v1/repositories", map[string]string{"namespace": ns, "name": name}); resp.StatusCode != s201 {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
		all = append(all, ns+"/"+name)
	}
	slices.SortFunc(all, func(a, b string) int {
		an, ar, _ := strings.Cut(a, "/")
		bn, br, _ := strings.Cut(b, "/")
		return cmp.Or(cmp.Compare(an, bn), cmp.Compare(ar, br))
	})
	type listJSON struct {
		Repositories []struct{ Namespace, Name, GUN string }
		Total        int
		Page         int
		Pages        int
		PerPage      int `json:"per_page"`
	}
	list := func(query string) listJSON {
		t.Helper()
		resp, body := b.JSON("GET", "/api/v1/repositories"+query, nil)
		if resp.StatusCode != s200 {
			t.Fatalf("list%s: %d %s", query, resp.StatusCode, body)
		}
		var l listJSON
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	names := func(l listJSON) []string {
		out := []string{}
		for _, r := range l.Repositories {
			out = append(out, r.Namespace+"/"+r.Name)
			if r.GUN != s.Addr+"/"+r.Namespace+"/"+r.Name {
				t.Errorf("GUN of %s/%s = %q", r.Namespace, r.Name, r.GUN)
			}
		}
		return out
	}
	tests := []struct {
		query              string
		want               []string
		total, page, pages int
	}{
		{"", all[:25], 30, 1, 2},
		{"?page=1", all[:25], 30, 1, 2},
		{"?page=2", all[25:], 30, 2, 2},
		{"?page=3", []string{}, 30, 3, 2},
		{"?q=alpha", []string{"alpha/svc-00", "alpha/svc-10", "alpha/svc-20"}, 3, 1, 1},
		{"?q=SVC-1", []string{"alpha/svc-10", "prod/svc-11", "prod/svc-12", "prod/svc-13", "prod/svc-14",
			"prod/svc-15", "prod/svc-16", "prod/svc-17", "prod/svc-18", "prod/svc-19"}, 10, 1, 1},
		{"?q=prod/svc-0", []string{"prod/svc-01", "prod/svc-02", "prod/svc-03", "prod/svc-04", "prod/svc-05",
			"prod/svc-06", "prod/svc-07", "prod/svc-08", "prod/svc-09"}, 9, 1, 1},
		{"?q=nothing-matches", []string{}, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			l := list(tt.query)
			if got := names(l); !slices.Equal(got, tt.want) {
				t.Errorf("repositories %v, want %v", got, tt.want)
			}
			if l.Total != tt.total || l.Page != tt.page || l.Pages != tt.pages || l.PerPage != 25 {
				t.Errorf("total %d page %d pages %d per_page %d, want %d %d %d 25", l.Total, l.Page, l.Pages, l.PerPage,
					tt.total, tt.page, tt.pages)
			}
		})
	}
	// The page shows the same order and links to the next page.
	_, page := b.Get("/repositories")
	last := -1
	for _, r := range all[:25] {
		i := strings.Index(page, `href="/repositories/`+r+`"`)
		if i < last {
			t.Errorf("page lists %s out of order", r)
		}
		last = i
	}
	if strings.Contains(page, `href="/repositories/`+all[25]+`"`) {
		t.Errorf("page 1 lists %s, which belongs on page 2", all[25])
	}
	if !strings.Contains(page, `href="/repositories?page=2"`) {
		t.Errorf("page 1 has no link to page 2:\n%s", truncate(page))
	}
	_, page = b.Get("/repositories?q=alpha")
	for _, r := range all {
		if strings.Contains(page, `href="/repositories/`+r+`"`) != strings.HasPrefix(r, "alpha/") {
			t.Errorf("search page for alpha and %s disagree", r)
		}
	}
}
