package notaryserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/testnotary"
)

// targetsByName lists what a fresh client sees: target name → role.
func targetsByName(t *testing.T, e *testEnv, gun string) map[string]string {
	t.Helper()
	list, err := e.repo(gun, newClientCrypto()).ListTargets()
	if err != nil {
		t.Fatalf("list targets: %v", err)
	}
	out := map[string]string{}
	for _, tgt := range list {
		out[tgt.Name] = tgt.Role.String()
	}
	return out
}

func TestPublishIntoDelegations(t *testing.T) {
	e := newTestEnv(t)
	const gun = "registry.example.com:5000/team/app"

	admin, adminKeys := e.initRepo(gun)
	first := e.hooks.of("updated")
	if len(first) != 1 {
		t.Fatalf("updated hooks after init = %d, want 1", len(first))
	}
	if got := roles(first[0].Written); !slices.Equal(got, []string{"root", "targets", "snapshot", "timestamp"}) ||
		first[0].Actor != "alice" || first[0].Gun != gun {
		t.Errorf("first update = %+v, want root, targets, snapshot, timestamp by alice on %s", first[0], gun)
	}
	for _, rv := range first[0].Written {
		if rv.Role != "targets" && rv.Version != 1 { // the client signs targets twice on the first publish
			t.Errorf("first update wrote %s version %d", rv.Role, rv.Version)
		}
	}

	// releases is signed by the admin; jeff signs with his own key store,
	// which holds neither the root nor the targets key.
	jeffKeys := newClientCrypto()
	e.addDelegation(admin, "targets/releases", adminKeys)
	e.addDelegation(admin, "targets/jeff", jeffKeys)

	e.hooks.reset()
	e.addTarget(admin, "targets/releases", "v1", "image v1")
	updated := e.hooks.of("updated")
	if len(updated) != 1 {
		t.Fatalf("updated hooks = %d, want 1", len(updated))
	}
	if got := roles(updated[0].Written); !slices.Equal(got, []string{"targets/releases", "snapshot", "timestamp"}) {
		t.Errorf("publishing into targets/releases wrote %v", updated[0].Written)
	}

	jeff := e.repo(gun, jeffKeys)
	e.addTarget(jeff, "targets/jeff", "jeff-build", "jeff's build")
	e.addTarget(admin, "targets", "latest", "top level")

	got := targetsByName(t, e, gun)
	wantTargets := map[string]string{"v1": "targets/releases", "jeff-build": "targets/jeff", "latest": "targets"}
	if !reflect.DeepEqual(got, wantTargets) {
		t.Errorf("targets = %v, want %v", got, wantTargets)
	}

	// Every target of every role, as docker trust inspect reads them.
	all, err := e.repo(gun, newClientCrypto()).GetAllTargetMetadataByName("")
	if err != nil {
		t.Fatal(err)
	}
	var signers []string
	for _, s := range all {
		signers = append(signers, s.Role.Name.String())
	}
	sort.Strings(signers)
	if !slices.Equal(signers, []string{"targets", "targets/jeff", "targets/releases"}) {
		t.Errorf("roles with targets = %v", signers)
	}

	// The metadata is served by version and by checksum too.
	releases := e.current(gun, "targets/releases")
	sum := sha256.Sum256(releases)
	for _, path := range []string{
		"/v2/" + gun + "/_trust/tuf/targets/releases." + hex.EncodeToString(sum[:]) + ".json",
		fmt.Sprintf("/v2/%s/_trust/tuf/%d.targets/releases.json", gun, decode[data.SignedTargets](t, releases).Signed.Version),
	} {
		resp := e.do(http.MethodGet, path, nil)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || string(body) != string(releases) {
			t.Errorf("GET %s = %d %.60s", path, resp.StatusCode, body)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=2592000") {
			t.Errorf("GET %s: Cache-Control %q", path, cc)
		}
	}
	resp := e.do(http.MethodGet, "/v2/"+gun+"/_trust/tuf/targets.json", nil)
	readBody(t, resp)
	if cc := resp.Header.Get("Cache-Control"); resp.StatusCode != http.StatusOK || cc != "public, max-age=300, s-maxage=300, must-revalidate" {
		t.Errorf("GET targets.json = %d, Cache-Control %q", resp.StatusCode, cc)
	}
}

func roles(rvs []RoleVersion) []string {
	var out []string
	for _, rv := range rvs {
		out = append(out, rv.Role)
	}
	return out
}

func TestServerKeyRotation(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/rotate"
	admin, _ := e.initRepo(gun)
	e.addTarget(admin, "targets", "v1", "one")

	for _, role := range []data.RoleName{data.CanonicalTimestampRole, data.CanonicalSnapshotRole} {
		e.hooks.reset()
		if err := admin.RotateKey(role, true, nil); err != nil {
			t.Fatalf("rotate %s: %v", role, err)
		}
		rotated := e.hooks.of("rotated")
		if len(rotated) != 1 || rotated[0].Role != role.String() || rotated[0].Gun != gun || rotated[0].Actor != "alice" {
			t.Errorf("rotated hooks = %+v", rotated)
		}
		if admits := e.hooks.of("admit"); len(admits) == 0 || !admits[0].Write {
			t.Errorf("rotation admitted as %+v, want a write", admits)
		}

		// The new root lists the new key, and the server signs with it.
		var root data.SignedRoot
		if err := json.Unmarshal(e.current(gun, "root"), &root); err != nil {
			t.Fatal(err)
		}
		keyID := root.Signed.Roles[role].KeyIDs[0]
		var meta data.Signed
		if err := json.Unmarshal(e.current(gun, role.String()), &meta); err != nil {
			t.Fatal(err)
		}
		if len(meta.Signatures) != 1 || meta.Signatures[0].KeyID != keyID {
			t.Errorf("%s signed by %v, want the rotated key %s", role, meta.Signatures, keyID)
		}
	}

	e.addTarget(admin, "targets", "v2", "two")
	if got := targetsByName(t, e, gun); len(got) != 2 {
		t.Errorf("targets after rotation = %v", got)
	}
	var root data.SignedRoot
	if err := json.Unmarshal(e.current(gun, "root"), &root); err != nil {
		t.Fatal(err)
	}
	if root.Signed.Version != 3 {
		t.Errorf("root version after two rotations = %d, want 3", root.Signed.Version)
	}
}

func TestDeleteTrustData(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/delete-me"
	other := "example.com/keep"
	admin, _ := e.initRepo(gun)
	e.addTarget(admin, "targets", "v1", "one")
	e.initRepo(other)

	e.hooks.reset()
	if err := client.DeleteTrustData(t.TempDir(), data.GUN(gun), e.srv.URL, e.srv.Client().Transport, true); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := e.auth.last(); got.Gun != gun || !slices.Equal(got.Actions, []string{"*"}) {
		t.Errorf("delete authorized as %+v", got)
	}
	if d := e.hooks.of("deleted"); len(d) != 1 || d[0].Gun != gun || d[0].Actor != "alice" {
		t.Errorf("deleted hooks = %+v", d)
	}
	if a := e.hooks.of("admit"); len(a) != 1 || !a[0].Write {
		t.Errorf("admit hooks = %+v", a)
	}
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		resp := e.do(http.MethodGet, "/v2/"+gun+"/_trust/tuf/"+role+".json", nil)
		if got := readError(t, resp); resp.StatusCode != http.StatusNotFound || got.Code != "METADATA_NOT_FOUND" {
			t.Errorf("GET %s after delete = %d %s", role, resp.StatusCode, got.Code)
		}
	}
	if e.current(other, "root") == nil {
		t.Error("deleting one GUN removed another")
	}
}

func TestChangefeed(t *testing.T) {
	e := newTestEnv(t)
	admin, _ := e.initRepo("example.com/a")
	e.addTarget(admin, "targets", "v1", "one")
	e.initRepo("example.com/b")
	if err := client.DeleteTrustData(t.TempDir(), "example.com/b", e.srv.URL, e.srv.Client().Transport, true); err != nil {
		t.Fatal(err)
	}

	type record struct {
		ID       string `json:"ID"`
		GUN      string `json:"GUN"`
		Version  int    `json:"Version"`
		Category string `json:"Category"`
	}
	type feed struct {
		Count   int      `json:"count"`
		Records []record `json:"records"`
	}
	summary := func(f feed) []string {
		var out []string
		for _, r := range f.Records {
			out = append(out, fmt.Sprintf("%s %s %d", r.GUN, r.Category, r.Version))
		}
		return out
	}

	tests := []struct {
		name    string
		path    string
		gun     string
		actions []string
		want    []string
	}{
		{"global", "/v2/_trust/changefeed?records=10", "", []string{"*"},
			[]string{"example.com/a update 1", "example.com/a update 2", "example.com/b update 1", "example.com/b deletion 0"}},
		{"one GUN", "/v2/example.com/a/_trust/changefeed?records=10", "example.com/a", []string{"pull"},
			[]string{"example.com/a update 1", "example.com/a update 2"}},
		{"newest first page backwards", "/v2/_trust/changefeed?records=-1&change_id=-1", "", []string{"*"},
			[]string{"example.com/b deletion 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(http.MethodGet, tt.path, nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var f feed
			if err := json.Unmarshal(body, &f); err != nil {
				t.Fatal(err)
			}
			if got := summary(f); !slices.Equal(got, tt.want) || f.Count != len(tt.want) {
				t.Errorf("feed = %d %v, want %v", f.Count, got, tt.want)
			}
			if got := e.auth.last(); got.Gun != tt.gun || !slices.Equal(got.Actions, tt.actions) {
				t.Errorf("authorized as %+v", got)
			}
		})
	}

	resp := e.do(http.MethodGet, "/v2/_trust/changefeed", nil)
	if got := readError(t, resp); resp.StatusCode != http.StatusBadRequest || got.Code != "INVALID_PARAMETERS" {
		t.Errorf("changefeed without records = %d %s", resp.StatusCode, got.Code)
	}
	resp = e.do(http.MethodGet, "/v2/_trust/changefeed?records=10&change_id=abc", nil)
	if got := readError(t, resp); resp.StatusCode != http.StatusBadRequest || got.Code != "INVALID_PARAMETERS" {
		t.Errorf("changefeed with a bad change_id = %d %s", resp.StatusCode, got.Code)
	}
}

// Two signers publishing into their own delegations at the same time both
// succeed, and nothing is lost.
func TestConcurrentPublishes(t *testing.T) {
	e := newTestEnv(t)
	const gun = "example.com/busy"
	admin, adminKeys := e.initRepo(gun)
	jeffKeys := newClientCrypto()
	e.addDelegation(admin, "targets/releases", adminKeys)
	e.addDelegation(admin, "targets/jeff", jeffKeys)
	jeff := e.repo(gun, jeffKeys)

	const rounds = 4
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	publish := func(r client.Repository, role, prefix string) {
		defer wg.Done()
		for i := range rounds {
			meta, err := data.NewFileMeta(strings.NewReader(fmt.Sprint(prefix, i)), notary.SHA256)
			if err == nil {
				err = r.AddTarget(&client.Target{Name: fmt.Sprint(prefix, i), Hashes: meta.Hashes, Length: meta.Length}, data.RoleName(role))
			}
			if err == nil {
				err = r.Publish()
			}
			if err != nil {
				errs <- fmt.Errorf("%s round %d: %w", role, i, err)
			}
		}
	}
	wg.Add(2)
	go publish(admin, "targets/releases", "r")
	go publish(jeff, "targets/jeff", "j")
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := targetsByName(t, e, gun); len(got) != 2*rounds {
		t.Errorf("targets = %v, want %d", got, 2*rounds)
	}
}

// The default key algorithm (ECDSA) with notary's own key store.
func TestDefaultKeyAlgorithm(t *testing.T) {
	cs := testnotary.Locked(cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("x"))))
	e := newTestEnv(t, func(c *Config) { c.Crypto = cs; c.KeyAlgorithm = "" })
	admin, _ := e.initRepo("example.com/ecdsa")
	e.addTarget(admin, "targets", "v1", "one")
	ids := cs.ListKeys(data.CanonicalTimestampRole)
	if len(ids) != 1 || cs.GetKey(ids[0]).Algorithm() != data.ECDSAKey {
		t.Errorf("server timestamp keys = %v", ids)
	}
}
