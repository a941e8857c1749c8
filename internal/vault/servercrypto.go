// Package vault keeps private keys that trustdeck holds on behalf of its
// users and of the embedded Notary server, encrypted at rest.
package vault

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/trustdeck/trustdeck/internal/store"
)

// Sealer encrypts and decrypts small secrets, binding each ciphertext to its
// additional data. *secrets.Secrets implements it.
type Sealer interface {
	Seal(plaintext, additional []byte) []byte
	Open(ciphertext, additional []byte) ([]byte, error)
}

// maxCachedKeys bounds the decrypted keys kept in memory. Each GUN needs two
// (timestamp and snapshot); beyond the bound, keys are decrypted again on use.
const maxCachedKeys = 1024

// ServerCrypto is the embedded Notary server's signing service for the keys
// it manages (timestamp and, when the client asks for it, snapshot). It
// implements notary's signed.CryptoService like notary-server's "local"
// signer, but keeps the keys in the database, the private part sealed with
// the data directory's encryption key and the key ID as additional data, so
// they survive restarts and never reach the disk in clear.
//
// Semantics follow notary-server: the server finds a GUN's key through the key
// IDs listed in the GUN's root.json (GetKey), Create always makes a new key
// (key rotation and first use), and GetPrivateKey answers
// trustmanager.ErrKeyNotFound for unknown keys so that signed.Sign reports
// missing keys as such. The GUN is recorded with each key but never needed to
// find it: key IDs are content addresses.
//
// All methods are safe for concurrent use.
type ServerCrypto struct {
	st     *store.Store
	sealer Sealer

	mu    sync.RWMutex
	cache map[string]cachedKey // decrypted keys by key ID
	gen   uint64               // bumped on every removal; see GetPrivateKey
}

type cachedKey struct {
	priv data.PrivateKey // ID() already computed: safe to share
	role data.RoleName
}

var _ signed.CryptoService = (*ServerCrypto)(nil)

// NewServerCrypto returns a signing service over the server_keys table.
func NewServerCrypto(st *store.Store, sealer Sealer) *ServerCrypto {
	return &ServerCrypto{st: st, sealer: sealer, cache: make(map[string]cachedKey)}
}

// Create generates a key of the given algorithm ("" means ECDSA P-256, the
// default of notary-server; ED25519 is the other choice) for role and gun,
// stores it and returns its public part.
func (c *ServerCrypto) Create(role data.RoleName, gun data.GUN, algorithm string) (data.PublicKey, error) {
	if algorithm == "" {
		algorithm = data.ECDSAKey
	}
	switch algorithm {
	case data.ECDSAKey, data.ED25519Key:
	default:
		return nil, fmt.Errorf("server keys: cannot create %q keys (use %s or %s)", algorithm, data.ECDSAKey, data.ED25519Key)
	}
	priv, err := utils.GenerateKey(algorithm)
	if err != nil {
		return nil, fmt.Errorf("server keys: generate %s key: %w", algorithm, err)
	}
	gen := c.generation()
	if err := c.AddKey(role, gun, priv); err != nil {
		return nil, err
	}
	c.remember(priv, role, gen)
	return publicOf(priv), nil
}

// AddKey stores a private key for role and gun. Adding a key that is already
// stored for the same role does nothing; for another role it is an error.
func (c *ServerCrypto) AddKey(role data.RoleName, gun data.GUN, key data.PrivateKey) error {
	if key == nil {
		return errors.New("server keys: no key given")
	}
	if role == "" {
		return errors.New("server keys: no role given")
	}
	if len(key.Private()) == 0 {
		return errors.New("server keys: the key has no private part")
	}
	if err := checkPair(key); err != nil {
		return err
	}
	id := key.ID()
	ctx := context.Background()
	err := c.st.InsertServerKey(ctx, store.ServerKey{
		KeyID:         id,
		GUN:           gun.String(),
		Role:          role.String(),
		Algorithm:     key.Algorithm(),
		Public:        key.Public(),
		PrivateSealed: c.sealer.Seal(key.Private(), []byte(id)),
	})
	if errors.Is(err, store.ErrConflict) {
		existing, gerr := c.st.GetServerKey(ctx, id)
		if gerr != nil {
			return fmt.Errorf("server keys: add %s: %w", id, gerr)
		}
		if existing.Role != role.String() {
			return fmt.Errorf("server keys: key %s already exists for role %s", id, existing.Role)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("server keys: add %s: %w", id, err)
	}
	return nil
}

// GetKey returns the public key with this ID, or nil if there is none. It
// reads only the public part: a key whose private part cannot be decrypted
// (wrong data directory key) is still found, and signing with it fails with
// a clear error instead of the server silently creating a new key.
func (c *ServerCrypto) GetKey(keyID string) data.PublicKey {
	c.mu.RLock()
	e, ok := c.cache[keyID]
	c.mu.RUnlock()
	if ok {
		return publicOf(e.priv)
	}
	row, err := c.st.GetServerKey(context.Background(), keyID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			slog.Error("server keys: read key", "key_id", keyID, "err", err)
		}
		return nil
	}
	return newPublic(row.Algorithm, row.Public)
}

// GetPrivateKey returns the private key with this ID and its role, decrypting
// it on first use. Unknown keys give trustmanager.ErrKeyNotFound.
func (c *ServerCrypto) GetPrivateKey(keyID string) (data.PrivateKey, data.RoleName, error) {
	c.mu.RLock()
	e, ok := c.cache[keyID]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return e.priv, e.role, nil
	}
	row, err := c.st.GetServerKey(context.Background(), keyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", trustmanager.ErrKeyNotFound{KeyID: keyID}
	}
	if err != nil {
		return nil, "", fmt.Errorf("server keys: read key %s: %w", keyID, err)
	}
	priv, err := c.open(row)
	if err != nil {
		return nil, "", err
	}
	role := data.RoleName(row.Role)
	// A key removed while we were reading must not come back into the cache:
	// remember only if no removal happened since the cache was consulted.
	c.remember(priv, role, gen)
	return priv, role, nil
}

// RemoveKey deletes the key with this ID. Removing an unknown key is not an
// error.
func (c *ServerCrypto) RemoveKey(keyID string) error {
	err := c.st.DeleteServerKey(context.Background(), keyID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("server keys: remove %s: %w", keyID, err)
	}
	c.forget(keyID)
	return nil
}

// ListKeys returns the IDs of every key of the role (all GUNs), oldest first.
// A database error is logged and gives an empty list: the interface has no
// error result.
func (c *ServerCrypto) ListKeys(role data.RoleName) []string {
	rows, err := c.st.ListServerKeys(context.Background(), "", role.String())
	if err != nil {
		slog.Error("server keys: list keys", "role", role, "err", err)
		return nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.KeyID
	}
	return ids
}

// ListAllKeys returns every key ID with its role. A database error is logged
// and gives an empty map.
func (c *ServerCrypto) ListAllKeys() map[string]data.RoleName {
	out := make(map[string]data.RoleName)
	rows, err := c.st.ListServerKeys(context.Background(), "", "")
	if err != nil {
		slog.Error("server keys: list all keys", "err", err)
		return out
	}
	for _, r := range rows {
		out[r.KeyID] = data.RoleName(r.Role)
	}
	return out
}

// KeysOfGUN returns the public keys created for exactly this GUN and role
// (an empty role: every role), oldest first. notary-server itself never asks
// this (it goes through root.json); it is for the dashboard and for reusing a
// key handed out before the GUN's first publish.
func (c *ServerCrypto) KeysOfGUN(ctx context.Context, gun data.GUN, role data.RoleName) ([]data.PublicKey, error) {
	if gun == "" {
		return nil, errors.New("server keys: no GUN given")
	}
	rows, err := c.st.ListServerKeys(ctx, gun.String(), role.String())
	if err != nil {
		return nil, fmt.Errorf("server keys: list keys of %s: %w", gun, err)
	}
	out := make([]data.PublicKey, len(rows))
	for i, r := range rows {
		out[i] = newPublic(r.Algorithm, r.Public)
	}
	return out, nil
}

// RemoveKeysOfGUN deletes every key created for exactly this GUN (not GUNs
// it is a prefix of), for use once the GUN's trust data is deleted, and
// reports how many were removed.
func (c *ServerCrypto) RemoveKeysOfGUN(ctx context.Context, gun data.GUN) (int, error) {
	if gun == "" {
		return 0, errors.New("server keys: no GUN given")
	}
	ids, err := c.st.DeleteServerKeysOfGUN(ctx, gun.String())
	if err != nil {
		return 0, fmt.Errorf("server keys: remove keys of %s: %w", gun, err)
	}
	c.forget(ids...)
	return len(ids), nil
}

// notary's keys compute their ID lazily and cache it in the key without a
// lock, so a key shared between goroutines before its first ID() call races
// (signed.Sign asks for it). Every key ServerCrypto hands out has its ID
// computed already, so callers may share it freely.
func newPublic(algorithm string, public []byte) data.PublicKey {
	k := data.NewPublicKey(algorithm, public)
	k.ID()
	return k
}

func publicOf(priv data.PrivateKey) data.PublicKey {
	k := data.PublicKeyFromPrivate(priv)
	k.ID()
	return k
}

// open decrypts a stored key and checks it is whole: the public part hashes
// to the key ID and the private part signs what the public part verifies.
func (c *ServerCrypto) open(row *store.ServerKey) (data.PrivateKey, error) {
	pub := newPublic(row.Algorithm, row.Public)
	if pub.ID() != row.KeyID {
		return nil, fmt.Errorf("server keys: stored public key of %s does not match its ID", row.KeyID)
	}
	plain, err := c.sealer.Open(row.PrivateSealed, []byte(row.KeyID))
	if err != nil {
		return nil, fmt.Errorf("server keys: key %s: %w", row.KeyID, err)
	}
	priv, err := data.NewPrivateKey(pub, plain)
	if err != nil {
		return nil, fmt.Errorf("server keys: key %s: parse private key: %w", row.KeyID, err)
	}
	if err := checkPair(priv); err != nil {
		return nil, err
	}
	priv.ID() // see newPublic
	return priv, nil
}

// checkPair signs a test message with the private key and verifies it with
// the key's public part.
func checkPair(priv data.PrivateKey) (err error) {
	defer func() {
		if r := recover(); r != nil { // malformed key material panics in some key types
			err = fmt.Errorf("server keys: key %s is malformed: %v", priv.ID(), r)
		}
	}()
	verifier, ok := signed.Verifiers[priv.SignatureAlgorithm()]
	if !ok {
		return fmt.Errorf("server keys: key %s: unsupported key type %q", priv.ID(), priv.Algorithm())
	}
	msg := []byte("trustdeck server key check")
	sig, err := priv.Sign(rand.Reader, msg, nil)
	if err != nil {
		return fmt.Errorf("server keys: key %s cannot sign: %w", priv.ID(), err)
	}
	if err := verifier.Verify(data.PublicKeyFromPrivate(priv), sig, msg); err != nil {
		return fmt.Errorf("server keys: private and public parts of key %s do not match", priv.ID())
	}
	return nil
}

func (c *ServerCrypto) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// remember caches a decrypted key unless a removal happened after gen was read.
func (c *ServerCrypto) remember(priv data.PrivateKey, role data.RoleName, gen uint64) {
	id := priv.ID()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.cache[id]; !ok && len(c.cache) >= maxCachedKeys {
		for k := range c.cache { // evict an arbitrary entry
			delete(c.cache, k)
			break
		}
	}
	c.cache[id] = cachedKey{priv: priv, role: role}
}

func (c *ServerCrypto) forget(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.cache, id)
	}
	c.gen++
}
