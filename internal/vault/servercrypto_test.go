package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/secrets"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
)

// scEnv is a data directory with its database and secrets, reopenable to
// simulate a restart.
type scEnv struct {
	dir    string
	db     string // the store's location
	st     *store.Store
	sealer *secrets.Secrets
}

func newSCEnv(t testing.TB) *scEnv {
	t.Helper()
	e := &scEnv{dir: t.TempDir()}
	e.db = testpg.Location(t, filepath.Join(e.dir, "trustdeck.db"))
	e.reopen(t)
	return e
}

// dbFiles are the files that hold the database: the SQLite file, its WAL
// and shared memory, or every file of the PostgreSQL cluster.
func (e *scEnv) dbFiles(t testing.TB) []string {
	if testpg.Enabled() {
		return testpg.ClusterFiles(t)
	}
	files, _ := filepath.Glob(e.db + "*")
	return files
}

// reopen closes the store (if open) and opens store and secrets again.
func (e *scEnv) reopen(t testing.TB) *ServerCrypto {
	t.Helper()
	if e.st != nil {
		e.st.Close()
	}
	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sec, err := secrets.Load(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.st, e.sealer = st, sec
	return NewServerCrypto(st, sec)
}

// signAndVerify signs a small canonical payload through the crypto service,
// as notary's server does, and verifies the signature with pub alone.
func signAndVerify(t *testing.T, cs signed.CryptoService, pub data.PublicKey) {
	t.Helper()
	if err := trySignAndVerify(cs, pub); err != nil {
		t.Fatal(err)
	}
}

func trySignAndVerify(cs signed.CryptoService, pub data.PublicKey) error {
	raw := json.RawMessage(`{"_type":"timestamp","version":1}`)
	s := &data.Signed{Signed: &raw}
	if err := signed.Sign(cs, s, []data.PublicKey{pub}, 1, nil); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if len(s.Signatures) != 1 || s.Signatures[0].KeyID != pub.ID() {
		return fmt.Errorf("signatures = %+v, want one by %s", s.Signatures, pub.ID())
	}
	role := data.NewBaseRole(data.CanonicalTimestampRole, 1, pub)
	if err := signed.VerifySignatures(s, role); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}

func TestServerCryptoCreateAndSign(t *testing.T) {
	for _, tc := range []struct{ algorithm, want string }{
		{"", data.ECDSAKey},
		{data.ECDSAKey, data.ECDSAKey},
		{data.ED25519Key, data.ED25519Key},
	} {
		t.Run(tc.want+"/"+tc.algorithm, func(t *testing.T) {
			cs := newSCEnv(t).reopen(t)
			pub, err := cs.Create(data.CanonicalTimestampRole, "example.com/a/app", tc.algorithm)
			if err != nil {
				t.Fatal(err)
			}
			if pub.Algorithm() != tc.want {
				t.Fatalf("algorithm %q, want %q", pub.Algorithm(), tc.want)
			}
			if got := cs.GetKey(pub.ID()); got == nil || got.ID() != pub.ID() || !bytes.Equal(got.Public(), pub.Public()) {
				t.Fatalf("GetKey = %v", got)
			}
			priv, role, err := cs.GetPrivateKey(pub.ID())
			if err != nil || role != data.CanonicalTimestampRole || priv.ID() != pub.ID() {
				t.Fatalf("GetPrivateKey = %v, %q, %v", priv, role, err)
			}
			signAndVerify(t, cs, pub)
		})
	}
}

func TestServerCryptoRejectsOtherAlgorithms(t *testing.T) {
	cs := newSCEnv(t).reopen(t)
	for _, alg := range []string{data.RSAKey, data.ECDSAx509Key, "dsa"} {
		if _, err := cs.Create(data.CanonicalTimestampRole, "g", alg); err == nil {
			t.Errorf("Create(%q) succeeded", alg)
		}
	}
	if n := len(cs.ListAllKeys()); n != 0 {
		t.Fatalf("%d keys stored after failed creates", n)
	}
}

func TestServerCryptoListAndRemove(t *testing.T) {
	cs := newSCEnv(t).reopen(t)
	ts1, _ := cs.Create(data.CanonicalTimestampRole, "example.com/a/app", "")
	sn1, _ := cs.Create(data.CanonicalSnapshotRole, "example.com/a/app", "")
	ts2, err := cs.Create(data.CanonicalTimestampRole, "example.com/a/app2", data.ED25519Key)
	if err != nil {
		t.Fatal(err)
	}

	if got, want := cs.ListKeys(data.CanonicalTimestampRole), []string{ts1.ID(), ts2.ID()}; !slices.Equal(got, want) {
		t.Fatalf("ListKeys(timestamp) = %v, want %v", got, want)
	}
	if got, want := cs.ListKeys(data.CanonicalSnapshotRole), []string{sn1.ID()}; !slices.Equal(got, want) {
		t.Fatalf("ListKeys(snapshot) = %v, want %v", got, want)
	}
	if got := cs.ListKeys(data.CanonicalRootRole); len(got) != 0 {
		t.Fatalf("ListKeys(root) = %v", got)
	}
	all := cs.ListAllKeys()
	want := map[string]data.RoleName{
		ts1.ID(): data.CanonicalTimestampRole, sn1.ID(): data.CanonicalSnapshotRole, ts2.ID(): data.CanonicalTimestampRole,
	}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("ListAllKeys = %v, want %v", all, want)
	}

	keys, err := cs.KeysOfGUN(context.Background(), "example.com/a/app", data.CanonicalTimestampRole)
	if err != nil || len(keys) != 1 || keys[0].ID() != ts1.ID() {
		t.Fatalf("KeysOfGUN = %v, %v", keys, err)
	}

	// Remove a cached key: it must be gone from the cache too.
	if _, _, err := cs.GetPrivateKey(ts1.ID()); err != nil {
		t.Fatal(err)
	}
	if err := cs.RemoveKey(ts1.ID()); err != nil {
		t.Fatal(err)
	}
	if err := cs.RemoveKey(ts1.ID()); err != nil {
		t.Fatalf("removing an absent key: %v", err)
	}
	if cs.GetKey(ts1.ID()) != nil {
		t.Fatal("GetKey finds a removed key")
	}
	_, _, err = cs.GetPrivateKey(ts1.ID())
	var nf trustmanager.ErrKeyNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("GetPrivateKey(removed) = %v, want trustmanager.ErrKeyNotFound", err)
	}
	// signed.Sign relies on the unwrapped value type to report missing keys.
	if _, ok := err.(trustmanager.ErrKeyNotFound); !ok {
		t.Fatalf("error %T is not trustmanager.ErrKeyNotFound itself", err)
	}
	raw := json.RawMessage(`{}`)
	var insufficient signed.ErrInsufficientSignatures
	if err := signed.Sign(cs, &data.Signed{Signed: &raw}, []data.PublicKey{ts1}, 1, nil); !errors.As(err, &insufficient) {
		t.Fatalf("Sign with a removed key: %v, want ErrInsufficientSignatures", err)
	}

	// Removing by GUN is exact: a/app leaves a/app2 alone.
	n, err := cs.RemoveKeysOfGUN(context.Background(), "example.com/a/app")
	if err != nil || n != 1 {
		t.Fatalf("RemoveKeysOfGUN = %d, %v", n, err)
	}
	if got := cs.ListAllKeys(); len(got) != 1 || got[ts2.ID()] != data.CanonicalTimestampRole {
		t.Fatalf("after RemoveKeysOfGUN: %v", got)
	}
}

func TestServerCryptoAddKey(t *testing.T) {
	cs := newSCEnv(t).reopen(t)
	priv, err := utils.GenerateKey(data.ECDSAKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.AddKey(data.CanonicalSnapshotRole, "g", priv); err != nil {
		t.Fatal(err)
	}
	if err := cs.AddKey(data.CanonicalSnapshotRole, "g", priv); err != nil {
		t.Fatalf("adding the same key again: %v", err)
	}
	if err := cs.AddKey(data.CanonicalTimestampRole, "g", priv); err == nil {
		t.Fatal("adding the key for another role succeeded")
	}
	if _, role, err := cs.GetPrivateKey(priv.ID()); err != nil || role != data.CanonicalSnapshotRole {
		t.Fatalf("GetPrivateKey = %q, %v", role, err)
	}
	signAndVerify(t, cs, data.PublicKeyFromPrivate(priv))

	// A key whose private part does not belong to its public part is refused.
	other, _ := utils.GenerateKey(data.ECDSAKey)
	mixed, err := data.NewPrivateKey(data.PublicKeyFromPrivate(priv), other.Private())
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.AddKey(data.CanonicalSnapshotRole, "g", mixed); err == nil {
		t.Fatal("adding a mismatched key pair succeeded")
	}
	if err := cs.AddKey(data.CanonicalSnapshotRole, "g", nil); err == nil {
		t.Fatal("adding nil succeeded")
	}
}

func TestServerCryptoSurvivesRestart(t *testing.T) {
	env := newSCEnv(t)
	cs := env.reopen(t)
	ts, err := cs.Create(data.CanonicalTimestampRole, "example.com/a/app", "")
	if err != nil {
		t.Fatal(err)
	}
	sn, err := cs.Create(data.CanonicalSnapshotRole, "example.com/a/app", data.ED25519Key)
	if err != nil {
		t.Fatal(err)
	}

	cs2 := env.reopen(t) // new store handle, secrets loaded from the same directory
	for _, pub := range []data.PublicKey{ts, sn} {
		if got := cs2.GetKey(pub.ID()); got == nil || !bytes.Equal(got.Public(), pub.Public()) {
			t.Fatalf("after restart GetKey(%s) = %v", pub.ID(), got)
		}
		signAndVerify(t, cs2, pub)
	}
	if got := cs2.ListKeys(data.CanonicalTimestampRole); !slices.Equal(got, []string{ts.ID()}) {
		t.Fatalf("after restart ListKeys = %v", got)
	}
}

func TestServerCryptoWrongEncryptionKey(t *testing.T) {
	env := newSCEnv(t)
	cs := env.reopen(t)
	pub, err := cs.Create(data.CanonicalTimestampRole, "g", "")
	if err != nil {
		t.Fatal(err)
	}
	otherSecrets, err := secrets.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wrong := NewServerCrypto(env.st, otherSecrets)

	// The key is still found (the server must not quietly make a new one)...
	if wrong.GetKey(pub.ID()) == nil {
		t.Fatal("GetKey hides a key that cannot be decrypted")
	}
	// ...but using it fails loudly, not as "key not found".
	_, _, err = wrong.GetPrivateKey(pub.ID())
	if err == nil || !strings.Contains(err.Error(), "cannot decrypt") {
		t.Fatalf("GetPrivateKey with another encryption key: %v", err)
	}
	if _, ok := err.(trustmanager.ErrKeyNotFound); ok {
		t.Fatal("undecryptable key reported as not found")
	}
	if err := trySignAndVerify(wrong, pub); err == nil || !strings.Contains(err.Error(), "cannot decrypt") {
		t.Fatalf("Sign with another encryption key: %v", err)
	}
	// The right key still works.
	signAndVerify(t, NewServerCrypto(env.st, env.sealer), pub)
}

func TestServerCryptoSealedToKeyID(t *testing.T) {
	// A sealed private key copied to another row (another key ID) does not open.
	env := newSCEnv(t)
	cs := env.reopen(t)
	ctx := context.Background()
	a, _ := cs.Create(data.CanonicalTimestampRole, "g", "")
	rowA, err := env.st.GetServerKey(ctx, a.ID())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := utils.GenerateKey(data.ECDSAKey)
	err = env.st.InsertServerKey(ctx, store.ServerKey{
		KeyID: b.ID(), GUN: "g", Role: "timestamp", Algorithm: b.Algorithm(),
		Public: b.Public(), PrivateSealed: rowA.PrivateSealed,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewServerCrypto(env.st, env.sealer).GetPrivateKey(b.ID()); err == nil {
		t.Fatal("a sealed key moved to another key ID opened")
	}
}

func TestServerCryptoNoPlaintextOnDisk(t *testing.T) {
	env := newSCEnv(t)
	cs := env.reopen(t)
	var secretsInClear [][]byte
	for i, alg := range []string{data.ECDSAKey, data.ED25519Key, data.ECDSAKey, data.ED25519Key} {
		role := data.CanonicalTimestampRole
		if i%2 == 1 {
			role = data.CanonicalSnapshotRole
		}
		pub, err := cs.Create(role, "example.com/a/app", alg)
		if err != nil {
			t.Fatal(err)
		}
		priv, _, err := cs.GetPrivateKey(pub.ID())
		if err != nil {
			t.Fatal(err)
		}
		secretsInClear = append(secretsInClear, priv.Private())
		switch alg {
		case data.ECDSAKey: // the private scalar itself
			k, err := x509.ParseECPrivateKey(priv.Private())
			if err != nil {
				t.Fatal(err)
			}
			secretsInClear = append(secretsInClear, k.D.FillBytes(make([]byte, 32)))
		case data.ED25519Key: // notary's layout: public, then seed and public again
			seed := priv.Private()[ed25519.PublicKeySize : ed25519.PublicKeySize+ed25519.SeedSize]
			secretsInClear = append(secretsInClear, seed)
		}
	}
	check := func(when string) {
		files := env.dbFiles(t)
		if len(files) == 0 {
			t.Fatal("no database files")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range secretsInClear {
				if bytes.Contains(b, s) {
					t.Errorf("%s: %s contains private key material #%d in clear", when, filepath.Base(f), i)
				}
			}
		}
	}
	check("while open")
	env.st.Close() // checkpoints the WAL into the main file
	check("after close")
}

func TestServerCryptoConcurrent(t *testing.T) {
	env := newSCEnv(t)
	cs := env.reopen(t)
	shared, err := cs.Create(data.CanonicalTimestampRole, "example.com/shared", "")
	if err != nil {
		t.Fatal(err)
	}
	// A second instance over the same data starts with a cold cache, so the
	// goroutines race to decrypt and cache the same key.
	cold := NewServerCrypto(env.st, env.sealer)

	const workers = 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Go(func() {
			errs <- func() error {
				role := data.CanonicalTimestampRole
				alg := data.ECDSAKey
				if i%2 == 1 {
					role, alg = data.CanonicalSnapshotRole, data.ED25519Key
				}
				gun := data.GUN(fmt.Sprintf("example.com/ns/app%d", i))
				pub, err := cs.Create(role, gun, alg)
				if err != nil {
					return err
				}
				for _, c := range []*ServerCrypto{cs, cold} {
					if _, r, err := c.GetPrivateKey(pub.ID()); err != nil || r != role {
						return fmt.Errorf("GetPrivateKey: %q, %v", r, err)
					}
					if err := trySignAndVerify(c, pub); err != nil {
						return err
					}
					if err := trySignAndVerify(c, shared); err != nil {
						return err
					}
					if !slices.Contains(c.ListKeys(role), pub.ID()) {
						return fmt.Errorf("ListKeys(%s) lacks %s", role, pub.ID())
					}
					if c.GetKey(shared.ID()) == nil {
						return errors.New("GetKey(shared) = nil")
					}
					_ = c.ListAllKeys()
				}
				if i%5 == 0 {
					if err := cs.RemoveKey(pub.ID()); err != nil {
						return err
					}
					if _, _, err := cs.GetPrivateKey(pub.ID()); !errors.As(err, new(trustmanager.ErrKeyNotFound)) {
						return fmt.Errorf("removed key still served: %v", err)
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n, want := len(cs.ListAllKeys()), 1+workers-workers/5; n != want {
		t.Fatalf("%d keys stored, want %d", n, want)
	}
}
