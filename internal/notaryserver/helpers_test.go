package notaryserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	"github.com/theupdateframework/notary/server/storage"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"

	"github.com/trustdeck/trustdeck/internal/testnotary"
)

func TestMain(m *testing.M) {
	// notary's client and handlers log every step through logrus.
	logrus.SetLevel(logrus.ErrorLevel)
	os.Exit(m.Run())
}

// authCall is one call of the test Authorizer.
type authCall struct {
	Gun     string
	Actions []string
}

// testAuth lets everything through as "alice", or nothing if deny is set,
// and records what it was asked.
type testAuth struct {
	deny  atomic.Bool
	mu    sync.Mutex
	calls []authCall
}

func (a *testAuth) Authorize(w http.ResponseWriter, r *http.Request, gun string, actions ...string) (string, bool) {
	a.mu.Lock()
	a.calls = append(a.calls, authCall{Gun: gun, Actions: slices.Clone(actions)})
	a.mu.Unlock()
	if a.deny.Load() {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://example.test/auth/token"`)
		writeJSONError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required", nil)
		return "", false
	}
	return "alice", true
}

func (a *testAuth) last() authCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) == 0 {
		return authCall{}
	}
	return a.calls[len(a.calls)-1]
}

// hookEvent is one call of the recording Hooks.
type hookEvent struct {
	Kind    string // admit, updated, deleted, rotated
	Actor   string
	Gun     string
	Write   bool
	Role    string
	Written []RoleVersion
}

type testHooks struct {
	refuse error // returned by Admit when set
	mu     sync.Mutex
	events []hookEvent
}

func (h *testHooks) record(e hookEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

func (h *testHooks) Admit(_ context.Context, actor, gun string, write bool) error {
	h.record(hookEvent{Kind: "admit", Actor: actor, Gun: gun, Write: write})
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refuse
}

func (h *testHooks) Updated(_ context.Context, actor, gun string, written []RoleVersion) {
	h.record(hookEvent{Kind: "updated", Actor: actor, Gun: gun, Written: written})
}

func (h *testHooks) Deleted(_ context.Context, actor, gun string) {
	h.record(hookEvent{Kind: "deleted", Actor: actor, Gun: gun})
}

func (h *testHooks) Rotated(_ context.Context, actor, gun, role string) {
	h.record(hookEvent{Kind: "rotated", Actor: actor, Gun: gun, Role: role})
}

// of returns the recorded events of one kind.
func (h *testHooks) of(kind string) []hookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookEvent
	for _, e := range h.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (h *testHooks) setRefuse(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refuse = err
}

func (h *testHooks) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

func (h *testHooks) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = nil
}

// testEnv is a notary server on httptest with an in-memory store.
type testEnv struct {
	t      testing.TB
	srv    *httptest.Server
	store  *storage.MemStorage
	crypto signed.CryptoService
	auth   *testAuth
	hooks  *testHooks
}

func newTestEnv(t testing.TB, adjust ...func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{
		t:      t,
		store:  storage.NewMemStorage(),
		crypto: testnotary.Locked(signed.NewEd25519()),
		auth:   &testAuth{},
		hooks:  &testHooks{},
	}
	cfg := Config{Store: e.store, Crypto: e.crypto, KeyAlgorithm: data.ED25519Key, Auth: e.auth, Hooks: e.hooks}
	for _, f := range adjust {
		f(&cfg)
	}
	e.crypto = cfg.Crypto
	e.srv = httptest.NewServer(New(cfg))
	t.Cleanup(e.srv.Close)
	return e
}

// newClientCrypto is a client's key store, in memory.
func newClientCrypto() signed.CryptoService {
	return cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("passphrase")))
}

// repo is a notary client repository talking to the test server, with its
// own empty cache.
func (e *testEnv) repo(gun string, cs signed.CryptoService) client.Repository {
	e.t.Helper()
	remote, err := store.NewNotaryServerStore(e.srv.URL, data.GUN(gun), e.srv.Client().Transport)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := client.NewRepository(data.GUN(gun), e.srv.URL, remote, store.NewMemoryStore(nil),
		trustpinning.TrustPinConfig{}, cs, changelist.NewMemChangelist())
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// initRepo initialises gun with a new root key, the snapshot and timestamp
// managed by the server (as docker does), and publishes it. It returns the
// repository and the admin's key store.
func (e *testEnv) initRepo(gun string) (client.Repository, signed.CryptoService) {
	e.t.Helper()
	return e.initRepoManaged(gun, data.CanonicalSnapshotRole)
}

// initRepoManaged is initRepo with the server managing the given roles
// besides the timestamp: none leaves the snapshot key with the client
// (notary's default).
func (e *testEnv) initRepoManaged(gun string, serverManaged ...data.RoleName) (client.Repository, signed.CryptoService) {
	e.t.Helper()
	cs := newClientCrypto()
	rootKey, err := cs.Create(data.CanonicalRootRole, data.GUN(gun), data.ECDSAKey)
	if err != nil {
		e.t.Fatal(err)
	}
	r := e.repo(gun, cs)
	if err := r.Initialize([]string{rootKey.ID()}, serverManaged...); err != nil {
		e.t.Fatalf("initialize: %v", err)
	}
	if err := r.Publish(); err != nil {
		e.t.Fatalf("first publish: %v", err)
	}
	return r, cs
}

// addDelegation adds role to the repository with a new key made in keys
// (which may be another signer's key store), readable for all paths, and
// publishes.
func (e *testEnv) addDelegation(r client.Repository, role string, keys signed.CryptoService) data.PublicKey {
	e.t.Helper()
	return e.addDelegationPaths(r, role, keys, "")
}

// addDelegationPaths is addDelegation limited to the given path prefixes.
func (e *testEnv) addDelegationPaths(r client.Repository, role string, keys signed.CryptoService, paths ...string) data.PublicKey {
	e.t.Helper()
	key, err := keys.Create(data.RoleName(role), r.GetGUN(), data.ECDSAKey)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.AddDelegationRoleAndKeys(data.RoleName(role), []data.PublicKey{key}); err != nil {
		e.t.Fatal(err)
	}
	if err := r.AddDelegationPaths(data.RoleName(role), paths); err != nil {
		e.t.Fatal(err)
	}
	if err := r.Publish(); err != nil {
		e.t.Fatalf("publish delegation %s: %v", role, err)
	}
	return key
}

// addTarget adds a target made from content to role and publishes.
func (e *testEnv) addTarget(r client.Repository, role, name, content string) {
	e.t.Helper()
	meta, err := data.NewFileMeta(bytes.NewBufferString(content), notary.SHA256)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.AddTarget(&client.Target{Name: name, Hashes: meta.Hashes, Length: meta.Length}, data.RoleName(role)); err != nil {
		e.t.Fatal(err)
	}
	if err := r.Publish(); err != nil {
		e.t.Fatalf("publish %s into %s: %v", name, role, err)
	}
}

// current is the stored current metadata of a role ("" if none).
func (e *testEnv) current(gun, role string) []byte {
	_, b, err := e.store.GetCurrent(data.GUN(gun), data.RoleName(role))
	if err != nil {
		if _, ok := err.(storage.ErrNotFound); ok {
			return nil
		}
		e.t.Fatal(err)
	}
	return b
}

// state summarises everything stored about gun, to compare before and after.
func (e *testEnv) state(gun string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, role := range []string{"root", "targets", "snapshot", "timestamp", "targets/releases", "targets/jeff"} {
		out[role] = string(e.current(gun, role))
	}
	changes, err := e.store.GetChanges("0", 1000, gun)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(changes)
	out["changes"] = string(b)
	return out
}

// do sends a request to the test server.
func (e *testEnv) do(method, path string, body io.Reader, header ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// upload posts a hand-made update of gun.
func (e *testEnv) upload(gun string, parts ...part) *http.Response {
	e.t.Helper()
	b, ct := multipartBody(e.t, parts...)
	return e.do(http.MethodPost, "/v2/"+gun+"/_trust/tuf/", b, "Content-Type", ct)
}

// part is one part of a hand-made update.
type part struct {
	disposition string // whole Content-Disposition; default from filename
	filename    string
	body        []byte
}

// multipartBody builds an update like notary's client does.
func multipartBody(t testing.TB, parts ...part) (body *bytes.Buffer, contentType string) {
	t.Helper()
	body = &bytes.Buffer{}
	w := multipart.NewWriter(body)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		d := p.disposition
		if d == "" {
			d = `form-data; name="files"; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", d)
		h.Set("Content-Type", "application/octet-stream")
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return body, w.FormDataContentType()
}

// apiError is the first error of a notary error response.
type apiError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail"`
}

func readError(t *testing.T, resp *http.Response) apiError {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		Errors []apiError `json:"errors"`
	}
	if err := json.Unmarshal(b, &body); err != nil || len(body.Errors) != 1 {
		t.Fatalf("not a notary error response (%v): %s", err, b)
	}
	return body.Errors[0]
}

func readBody(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
