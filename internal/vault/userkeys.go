package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/keys"
	"github.com/trustdeck/trustdeck/internal/store"
)

// UserKey is a public signing key a user registered: the certificate or
// public key they would hand to `docker trust signer add`.
type UserKey struct {
	ID        string    `json:"id"`        // canonical key ID, as docker shows it
	Username  string    `json:"username"`  // who registered it
	Type      string    `json:"type"`      // keys.TypeCertificate or keys.TypePublicKey
	Algorithm string    `json:"algorithm"` // e.g. "ECDSA P-256"
	Subject   string    `json:"subject,omitempty"`
	NotAfter  time.Time `json:"not_after,omitzero"` // zero for a bare public key
	PEM       string    `json:"pem"`                // normalised: one block, no headers
	CreatedAt time.Time `json:"created_at"`
}

// Public parses the registered key again, for putting it into a delegation.
// A certificate that has expired since it was registered is refused.
func (k UserKey) Public(now time.Time) (*keys.Public, error) {
	return keys.ParsePublic([]byte(k.PEM), now)
}

// UserKeys keeps the public signing keys users register, so that trustdeck
// can add them as signers and show whose key a delegation lists. Callers
// authorise: a user manages their own keys, an administrator anyone's.
type UserKeys struct {
	st  *store.Store
	now func() time.Time
}

// NewUserKeys returns the user keys service.
func NewUserKeys(st *store.Store) *UserKeys {
	return &UserKeys{st: st, now: time.Now}
}

// Register validates pemBytes with keys.ParsePublic and records it for the
// user. Registering the same key twice for one user is an errs.Conflict;
// other users may register the same (public) key too.
func (u *UserKeys) Register(ctx context.Context, userID int64, username string, pemBytes []byte) (*UserKey, error) {
	pub, err := keys.ParsePublic(pemBytes, u.now())
	if err != nil {
		return nil, err
	}
	err = u.st.InsertUserKey(ctx, store.UserKey{
		UserID:    userID,
		KeyID:     pub.CanonicalID,
		KeyType:   pub.Type,
		Algorithm: pub.Algorithm,
		Subject:   pub.Subject,
		NotAfter:  pub.NotAfter,
		PEM:       pub.PEM,
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, errs.Conflictf("key_registered", "%s has already registered key %s.", username, pub.CanonicalID)
	case errors.Is(err, store.ErrNotFound):
		return nil, errs.NotFoundf("user_not_found", "There is no user %s.", username)
	case err != nil:
		return nil, fmt.Errorf("user keys: register %s for %s: %w", pub.CanonicalID, username, err)
	}
	return u.Get(ctx, userID, pub.CanonicalID)
}

// List returns a user's keys in registration order.
func (u *UserKeys) List(ctx context.Context, userID int64) ([]UserKey, error) {
	rows, err := u.st.ListUserKeys(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("user keys: list: %w", err)
	}
	out := make([]UserKey, len(rows))
	for i, r := range rows {
		out[i] = userKey(r)
	}
	return out, nil
}

// All returns every user's keys, by username, then in registration order
// (for choosing a registered key as a signer).
func (u *UserKeys) All(ctx context.Context) ([]UserKey, error) {
	rows, err := u.st.ListAllUserKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("user keys: list all: %w", err)
	}
	out := make([]UserKey, len(rows))
	for i, r := range rows {
		out[i] = userKey(r)
	}
	return out, nil
}

// Find returns the key keyID registered by the user called username;
// errs.NotFound if that user did not register it (or does not exist).
func (u *UserKeys) Find(ctx context.Context, username, keyID string) (*UserKey, error) {
	row, err := u.st.GetUserKeyByUsername(ctx, username, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.NotFoundf("key_not_found", "%s has registered no key %s.", username, keyID)
	}
	if err != nil {
		return nil, fmt.Errorf("user keys: find %s of %s: %w", keyID, username, err)
	}
	k := userKey(*row)
	return &k, nil
}

// Get returns one of a user's keys; errs.NotFound if they did not register it.
func (u *UserKeys) Get(ctx context.Context, userID int64, keyID string) (*UserKey, error) {
	row, err := u.st.GetUserKey(ctx, userID, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.NotFoundf("key_not_found", "No registered key %s.", keyID)
	}
	if err != nil {
		return nil, fmt.Errorf("user keys: get %s: %w", keyID, err)
	}
	k := userKey(*row)
	return &k, nil
}

// RegisteredBy maps each of keyIDs (canonical IDs) that users registered to
// their usernames, comma-separated in registration order ("alice" or
// "alice, bob"). IDs nobody registered are absent.
func (u *UserKeys) RegisteredBy(ctx context.Context, keyIDs []string) (map[string]string, error) {
	owners, err := u.st.UserKeyOwners(ctx, keyIDs)
	if err != nil {
		return nil, fmt.Errorf("user keys: owners: %w", err)
	}
	out := make(map[string]string, len(owners))
	for id, names := range owners {
		out[id] = strings.Join(names, ", ")
	}
	return out, nil
}

// Delete removes one of a user's keys; errs.NotFound if absent. Delegations
// that list the key are not changed.
func (u *UserKeys) Delete(ctx context.Context, userID int64, keyID string) error {
	err := u.st.DeleteUserKey(ctx, userID, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return errs.NotFoundf("key_not_found", "No registered key %s.", keyID)
	}
	if err != nil {
		return fmt.Errorf("user keys: delete %s: %w", keyID, err)
	}
	return nil
}

func userKey(r store.UserKey) UserKey {
	return UserKey{ID: r.KeyID, Username: r.Username, Type: r.KeyType, Algorithm: r.Algorithm, Subject: r.Subject,
		NotAfter: r.NotAfter, PEM: string(r.PEM), CreatedAt: r.CreatedAt}
}
