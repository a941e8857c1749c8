package notaryserver

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	tests := []struct {
		method, path string
		want         route
	}{
		{"GET", "/v2/", route{endpoint: ping}},
		{"POST", "/v2/", route{}},
		{"GET", "/v2/_trust/changefeed", route{endpoint: globalChangefeed, actions: []string{"*"}}},
		{"GET", "/v2/a/b/c/_trust/changefeed", route{endpoint: changefeed, gun: "a/b/c", actions: []string{"pull"}}},
		{"POST", "/v2/host:5000/ns/app/_trust/tuf/", route{endpoint: update, gun: "host:5000/ns/app", actions: []string{"push", "pull"}, write: true}},
		{"DELETE", "/v2/app/_trust/tuf/", route{endpoint: deleteGUN, gun: "app", actions: []string{"*"}, write: true}},
		{"PUT", "/v2/app/_trust/tuf/", route{}},
		{"GET", "/v2/app/_trust/tuf/", route{}},
		{"GET", "/v2/app/_trust/tuf/root.json", route{endpoint: getMetadata, gun: "app", role: "root", actions: []string{"pull"}}},
		{"GET", "/v2/app/_trust/tuf/targets/releases.json", route{endpoint: getMetadata, gun: "app", role: "targets/releases", actions: []string{"pull"}}},
		{"GET", "/v2/app/_trust/tuf/targets/a/b.c.json", route{endpoint: getMetadata, gun: "app", role: "targets/a/b.c", actions: []string{"pull"}}},
		{"GET", "/v2/app/_trust/tuf/snapshot." + sum + ".json", route{endpoint: getMetadata, gun: "app", role: "snapshot", checksum: sum, actions: []string{"pull"}}},
		{"GET", "/v2/app/_trust/tuf/targets/x." + sum + ".json", route{endpoint: getMetadata, gun: "app", role: "targets/x", checksum: sum, actions: []string{"pull"}}},
		{"GET", "/v2/app/_trust/tuf/12.targets/x.json", route{endpoint: getMetadata, gun: "app", role: "targets/x", version: "12", actions: []string{"pull"}}},
		{"GET", "/v2/app/_trust/tuf/3.timestamp.json", route{endpoint: getMetadata, gun: "app", role: "timestamp", version: "3", actions: []string{"pull"}}},
		{"GET", "/v2/app/_trust/tuf/foo.json", route{}},
		{"GET", "/v2/app/_trust/tuf/targets/.json", route{}},
		{"GET", "/v2/app/_trust/tuf/root.abc.json", route{}},
		{"HEAD", "/v2/app/_trust/tuf/root.json", route{}},
		{"GET", "/v2/app/_trust/tuf/timestamp.key", route{endpoint: getKey, gun: "app", role: "timestamp", actions: []string{"push", "pull"}}},
		{"POST", "/v2/app/_trust/tuf/snapshot.key", route{endpoint: rotateKey, gun: "app", role: "snapshot", actions: []string{"*"}, write: true}},
		{"GET", "/v2/app/_trust/tuf/root.key", route{}},
		{"GET", "/v2/_trust/tuf/root.json", route{}},
		{"GET", "/v2/a*b/_trust/tuf/root.json", route{}},
		{"GET", "/v2/a//b/_trust/tuf/root.json", route{}},
		{"GET", "/v2/a/../b/_trust/tuf/root.json", route{}},
		{"GET", "/v2/app/_trust/other", route{}},
		{"GET", "/v2/app", route{}},
		{"GET", "/v1/app/_trust/tuf/root.json", route{}},
		{"GET", "/", route{}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			if got := match(tt.method, tt.path); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("match = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Every request is authorized first, with the scope notary-server asks for,
// and GUN-scoped requests are admitted; refusals stop them.
func TestAuthorizeAndAdmit(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/guarded"
	e.initRepo(gun)

	tests := []struct {
		method, path string
		gun          string
		actions      []string
		admit        string // "", "read" or "write"
		status       int    // with a permissive Authorizer
	}{
		{"GET", "/v2/", "", nil, "", http.StatusOK},
		{"GET", "/v2/nothing/here", "", nil, "", http.StatusNotFound},
		{"GET", "/v2/_trust/changefeed?records=1", "", []string{"*"}, "", http.StatusOK},
		{"GET", "/v2/" + gun + "/_trust/changefeed?records=1", gun, []string{"pull"}, "read", http.StatusOK},
		{"GET", "/v2/" + gun + "/_trust/tuf/root.json", gun, []string{"pull"}, "read", http.StatusOK},
		{"GET", "/v2/" + gun + "/_trust/tuf/timestamp.key", gun, []string{"push", "pull"}, "read", http.StatusOK},
		{"POST", "/v2/" + gun + "/_trust/tuf/", gun, []string{"push", "pull"}, "write", http.StatusBadRequest},
		{"POST", "/v2/" + gun + "/_trust/tuf/snapshot.key", gun, []string{"*"}, "write", http.StatusOK},
		{"DELETE", "/v2/example.com/other/_trust/tuf/", "example.com/other", []string{"*"}, "write", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			e.hooks.reset()
			e.auth.deny.Store(false)
			resp := e.do(tt.method, tt.path, nil)
			body := readBody(t, resp)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if got := e.auth.last(); got.Gun != tt.gun || !slices.Equal(got.Actions, tt.actions) {
				t.Errorf("authorized %+v, want gun %q actions %v", got, tt.gun, tt.actions)
			}
			admits := e.hooks.of("admit")
			switch {
			case tt.admit == "" && len(admits) != 0:
				t.Errorf("admitted %+v", admits)
			case tt.admit != "" && (len(admits) != 1 || admits[0].Gun != tt.gun || admits[0].Actor != "alice" || admits[0].Write != (tt.admit == "write")):
				t.Errorf("admitted %+v, want one %s of %s", admits, tt.admit, tt.gun)
			}

			// Refused by the Authorizer: its answer, nothing else.
			e.hooks.reset()
			e.auth.deny.Store(true)
			resp = e.do(tt.method, tt.path, nil)
			got := readError(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || got.Code != "UNAUTHORIZED" || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("denied: %d %s", resp.StatusCode, got.Code)
			}
			if n := e.hooks.count(); n != 0 {
				t.Errorf("%d hooks called after a refusal", n)
			}
		})
	}
	e.auth.deny.Store(false)

	resp := e.do("GET", "/v2/", nil)
	if body := readBody(t, resp); string(body) != "{}" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("ping = %q (%s)", body, resp.Header.Get("Content-Type"))
	}
	resp = e.do("GET", "/v2/nothing/here", nil)
	if got := readError(t, resp); got.Code != "METADATA_NOT_FOUND" {
		t.Errorf("unknown route: %s", got.Code)
	}
}

func TestAdmitRefusal(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/refused"
	e.initRepo(gun)
	before := e.state(gun)

	tests := []struct {
		name       string
		refuse     error
		status     int
		code, msgs string
	}{
		{"refusal", &Refusal{Status: http.StatusForbidden, Code: "DENIED", Message: "example.com/refused is not in the catalog"},
			http.StatusForbidden, "DENIED", "example.com/refused is not in the catalog"},
		{"wrapped refusal with defaults", errors.Join(errors.New("x"), &Refusal{Message: "no"}), http.StatusForbidden, "DENIED", "no"},
		{"not found", &Refusal{Status: http.StatusNotFound, Code: "NAME_UNKNOWN", Message: "unknown repository"},
			http.StatusNotFound, "NAME_UNKNOWN", "unknown repository"},
		{"failure", errors.New("database down"), http.StatusInternalServerError, "UNKNOWN", "unknown error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.hooks.setRefuse(tt.refuse)
			for _, req := range [][2]string{{"GET", "/v2/" + gun + "/_trust/tuf/root.json"}, {"DELETE", "/v2/" + gun + "/_trust/tuf/"}} {
				resp := e.do(req[0], req[1], nil)
				got := readError(t, resp)
				if resp.StatusCode != tt.status || got.Code != tt.code || got.Message != tt.msgs {
					t.Errorf("%s: %d %+v", req[0], resp.StatusCode, got)
				}
			}
		})
	}
	e.hooks.setRefuse(nil)
	if d := e.hooks.of("deleted"); len(d) != 0 {
		t.Errorf("deleted hooks: %+v", d)
	}
	if !reflect.DeepEqual(e.state(gun), before) {
		t.Error("the store changed")
	}
}
