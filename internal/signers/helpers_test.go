package signers

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/passphrase"
	notarystorage "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/keys"
	"github.com/trustdeck/trustdeck/internal/notaryserver"
	"github.com/trustdeck/trustdeck/internal/secrets"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
)

func TestMain(m *testing.M) {
	// notary's client logs every step through logrus.
	logrus.SetLevel(logrus.ErrorLevel)
	os.Exit(m.Run())
}

const (
	rootPass = "root-passphrase"
	repoPass = "repository-passphrase"
)

// env is trustdeck's signer service over a real embedded Notary server,
// reached in-process, with a real store, vault and trust reader.
type env struct {
	t       *testing.T
	ctx     context.Context
	st      *store.Store
	vault   *vault.Vault
	remote  trust.Remote
	reader  *trust.Reader
	journal *audit.Log
	svc     *Service
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, nil) }

// newEnvWith is newEnv with the server's hooks.
func newEnvWith(t *testing.T, hooks notaryserver.Hooks) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, testpg.Location(t, filepath.Join(dir, "trustdeck.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sec, err := secrets.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer = io.Discard
	if os.Getenv("SIGNERS_DEBUG") != "" {
		w = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt := notaryserver.InProcess(notaryserver.New(notaryserver.Config{
		Store:  st.TUF(),
		Crypto: vault.NewServerCrypto(st, sec),
		Auth:   inProcessAuth{},
		Logger: log,
		Hooks:  hooks,
	}))
	remote := func(gun string) (notarystorage.RemoteStore, error) {
		return notarystorage.NewNotaryServerStore("https://trustdeck.internal", data.GUN(gun), rt)
	}
	// As the app wires it: the service's publishes name their actor.
	publish := func(gun, actor string) (notarystorage.RemoteStore, error) {
		return notarystorage.NewNotaryServerStore("https://trustdeck.internal", data.GUN(gun), notaryserver.ActingAs(rt, actor))
	}
	e := &env{t: t, ctx: ctx, st: st, vault: vault.New(st, sec), remote: remote, reader: trust.NewReader(remote),
		journal: audit.New(st, log)}
	e.svc = New(publish, e.reader, e.vault, e.journal, log)
	return e
}

// inProcessAuth lets every request through, naming the actor its context
// carries (as trustdeck's Authorizer does for in-process requests).
type inProcessAuth struct{}

func (inProcessAuth) Authorize(_ http.ResponseWriter, r *http.Request, _ string, _ ...string) (string, bool) {
	return notaryserver.InProcessActor(r.Context()), true
}

// load reads gun through a fresh reader (nothing cached).
func (e *env) load(gun string) *trust.Repo {
	e.t.Helper()
	repo, err := trust.NewReader(e.remote).Load(e.ctx, gun)
	if err != nil {
		e.t.Fatalf("load %s: %v", gun, err)
	}
	return repo
}

// versions is every loaded role's version, plus the skipped roles.
func (e *env) versions(gun string) map[string]int {
	e.t.Helper()
	repo := e.load(gun)
	out := map[string]int{}
	for _, r := range repo.Roles {
		out[r.Role] = r.Version
	}
	for _, r := range repo.SkippedRoles {
		out["skipped:"+r] = 0
	}
	return out
}

func (e *env) initialise(gun string) *InitResult {
	e.t.Helper()
	res, err := e.svc.Initialise(e.ctx, gun, rootPass, repoPass, "admin")
	if err != nil {
		e.t.Fatalf("initialise %s: %v", gun, err)
	}
	return res
}

// signer is a person with a private key and a certificate for it, as
// `docker trust key generate` plus a CA would give them.
type signer struct {
	name string
	priv data.PrivateKey
	pub  *keys.Public
}

func newSigner(t *testing.T, name string, cert bool) *signer {
	t.Helper()
	priv, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var pemBytes []byte
	if cert {
		start := time.Now().Add(-time.Hour)
		c, err := cryptoservice.GenerateCertificate(priv, data.GUN(name), start, start.Add(365*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		pemBytes = utils.CertToPEM(c)
	} else {
		// notary's ECDSA public keys are PKIX DER already.
		pemBytes = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: data.PublicKeyFromPrivate(priv).Public()})
	}
	pub, err := keys.ParsePublic(pemBytes, time.Now())
	if err != nil {
		t.Fatalf("parse %s's key: %v", name, err)
	}
	return &signer{name: name, priv: priv, pub: pub}
}

// client is notary's client library with the keys it is given, publishing
// to the embedded server: a docker or notary CLI user.
func (e *env) client(gun string, privs map[data.RoleName][]data.PrivateKey) (client.Repository, *cryptoservice.CryptoService) {
	e.t.Helper()
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(passphrase.ConstantRetriever("pass")))
	for role, ks := range privs {
		for _, k := range ks {
			if err := cs.AddKey(role, data.GUN(gun), k); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	remote, err := e.remote(gun)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := client.NewRepository(data.GUN(gun), remote.Location(), remote, notarystorage.NewMemoryStore(nil),
		trustpinning.TrustPinConfig{}, cs, changelist.NewMemChangelist())
	if err != nil {
		e.t.Fatal(err)
	}
	return r, cs
}

// sign publishes tag (with content) as s would with `docker trust sign`:
// into targets/releases and targets/<name>.
func (e *env) sign(gun string, s *signer, tag, content string) error {
	e.t.Helper()
	role := data.RoleName("targets/" + s.name)
	r, _ := e.client(gun, map[data.RoleName][]data.PrivateKey{role: {s.priv}})
	if err := r.AddTarget(target(e.t, tag, content), data.RoleName(trust.RoleReleases), role); err != nil {
		return err
	}
	return r.Publish()
}

// target is a target named tag whose content is content.
func target(t *testing.T, tag, content string) *client.Target {
	t.Helper()
	meta, err := data.NewFileMeta(strings.NewReader(content), notary.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &client.Target{Name: tag, Hashes: meta.Hashes, Length: meta.Length}
}

func (e *env) mustSign(gun string, s *signer, tag, content string) {
	e.t.Helper()
	if err := e.sign(gun, s, tag, content); err != nil {
		e.t.Fatalf("%s signs %s:%s: %v", s.name, gun, tag, err)
	}
}

func (e *env) addSigner(gun string, s *signer) {
	e.t.Helper()
	if _, err := e.svc.AddSigner(e.ctx, gun, s.name, s.pub, RepoKey{Passphrase: repoPass}, "admin"); err != nil {
		e.t.Fatalf("add signer %s to %s: %v", s.name, gun, err)
	}
}

// wantErr checks err's kind and code.
func wantErr(t *testing.T, err error, kind errs.Kind, code string) *errs.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v %q", kind, code)
	}
	de, ok := errs.As(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a domain error", err, err)
	}
	if de.Kind != kind || de.Code != code {
		t.Fatalf("error %v: kind %v code %q, want %v %q", err, de.Kind, de.Code, kind, code)
	}
	return de
}

// signerKeys is the canonical key IDs of signer name, or nil.
func signerKeys(repo *trust.Repo, name string) []string {
	for _, s := range repo.Signers() {
		if s.Name == name {
			ids := make([]string, len(s.Keys))
			for i, k := range s.Keys {
				ids[i] = k.ID
			}
			return ids
		}
	}
	return nil
}

func delegation(repo *trust.Repo, role string) *trust.Delegation {
	for i := range repo.Delegations {
		if repo.Delegations[i].Role == role {
			return &repo.Delegations[i]
		}
	}
	return nil
}

func tags(repo *trust.Repo) []string {
	out := []string{}
	for _, row := range repo.Inspect(repo.GUN, "").SignedTags {
		out = append(out, row.SignedTag+"="+strings.Join(row.Signers, ","))
	}
	return out
}

// refuseWrites is server hooks refusing every write to one GUN.
type refuseWrites struct{ gun string }

func (h refuseWrites) Admit(_ context.Context, _, gun string, write bool) error {
	if write && gun == h.gun {
		return &notaryserver.Refusal{Status: 403, Code: "DENIED", Message: "read-only"}
	}
	return nil
}
func (refuseWrites) Updated(context.Context, string, string, []notaryserver.RoleVersion) {}
func (refuseWrites) Deleted(context.Context, string, string)                             {}
func (refuseWrites) Rotated(context.Context, string, string, string)                     {}

// update is one change the server's hooks saw: who made it and the roles
// it wrote.
type update struct {
	actor, gun string
	roles      []string
}

// recordUpdates is server hooks recording every update.
type recordUpdates struct {
	mu      sync.Mutex
	updates []update
}

func (h *recordUpdates) Admit(context.Context, string, string, bool) error { return nil }
func (h *recordUpdates) Updated(_ context.Context, actor, gun string, written []notaryserver.RoleVersion) {
	u := update{actor: actor, gun: gun}
	for _, w := range written {
		u.roles = append(u.roles, w.Role)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.updates = append(h.updates, u)
}
func (h *recordUpdates) Deleted(context.Context, string, string)         {}
func (h *recordUpdates) Rotated(context.Context, string, string, string) {}

// count is how many updates were recorded since the last take.
func (h *recordUpdates) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.updates)
}

// take returns the updates recorded since the last take.
func (h *recordUpdates) take() []update {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.updates
	h.updates = nil
	return out
}
