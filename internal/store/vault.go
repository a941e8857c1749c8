package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// VaultKey is one private key of the key vault. The store never sees the key
// in clear: SealedPEM is the passphrase-encrypted key file sealed once more by
// the vault, and is opaque here.
type VaultKey struct {
	KeyID     string
	Role      string
	GUN       string // "" for a global key
	Algorithm string
	SealedPEM []byte // empty in list results
	CreatedBy string
	CreatedAt time.Time
	// MadeFor is the GUN a global key (a root key) was made for; "" when
	// not known.
	MadeFor string
	// ExportedAt is when the key was first downloaded (zero: never).
	ExportedAt time.Time
}

// InsertVaultKey stores a new vault key; ErrConflict if the key ID exists.
func (s *Store) InsertVaultKey(ctx context.Context, k VaultKey) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO vault_keys(key_id, role, gun, algorithm, sealed_pem, created_by, created_at, made_for)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.KeyID, k.Role, k.GUN, k.Algorithm, k.SealedPEM, k.CreatedBy, now(), k.MadeFor)
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// GetVaultKey returns one vault key, sealed file included, or ErrNotFound.
func (s *Store) GetVaultKey(ctx context.Context, keyID string) (*VaultKey, error) {
	var k VaultKey
	var created string
	var exported sql.NullString
	err := s.db.QueryRowContext(ctx,
		`SELECT key_id, role, gun, algorithm, sealed_pem, created_by, created_at, made_for, exported_at
		 FROM vault_keys WHERE key_id = ?`, keyID).
		Scan(&k.KeyID, &k.Role, &k.GUN, &k.Algorithm, &k.SealedPEM, &k.CreatedBy, &created, &k.MadeFor, &exported)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	k.CreatedAt, k.ExportedAt = parseTime(created), parseTime(exported.String)
	return &k, nil
}

// MarkVaultKeyExported records that a vault key was downloaded (the first
// time counts); ErrNotFound if absent.
func (s *Store) MarkVaultKeyExported(ctx context.Context, keyID string) error {
	res, err := s.db.ExecContext(ctx,
		"UPDATE vault_keys SET exported_at = COALESCE(exported_at, ?) WHERE key_id = ?", now(), keyID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ListVaultKeys returns the vault keys recorded for exactly this GUN (an
// empty gun: every key, global ones included), ordered by GUN, role and
// insertion. The sealed files are not read.
func (s *Store) ListVaultKeys(ctx context.Context, gun string) ([]VaultKey, error) {
	q := "SELECT " + vaultKeyColumns + " FROM vault_keys"
	var args []any
	if gun != "" {
		q += " WHERE gun = ?"
		args = append(args, gun)
	}
	q += " ORDER BY gun, role, rowid"
	return s.queryVaultKeys(ctx, q, args...)
}

// VaultKeysByID returns the vault keys among keyIDs, in no particular order
// (unknown IDs are skipped). The sealed files are not read.
func (s *Store) VaultKeysByID(ctx context.Context, keyIDs []string) ([]VaultKey, error) {
	if len(keyIDs) == 0 {
		return nil, nil
	}
	q := "SELECT " + vaultKeyColumns + " FROM vault_keys WHERE key_id IN (" +
		vaultPlaceholders(len(keyIDs)) + ")"
	return s.queryVaultKeys(ctx, q, vaultStringArgs(keyIDs)...)
}

// vaultKeyColumns are what lists read of a vault key (not the sealed file).
const vaultKeyColumns = "key_id, role, gun, algorithm, created_by, created_at, made_for, exported_at"

func (s *Store) queryVaultKeys(ctx context.Context, q string, args ...any) ([]VaultKey, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []VaultKey
	for rows.Next() {
		var k VaultKey
		var created string
		var exported sql.NullString
		if err := rows.Scan(&k.KeyID, &k.Role, &k.GUN, &k.Algorithm, &k.CreatedBy, &created, &k.MadeFor, &exported); err != nil {
			return nil, err
		}
		k.CreatedAt, k.ExportedAt = parseTime(created), parseTime(exported.String)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteVaultKey removes one vault key; ErrNotFound if absent.
func (s *Store) DeleteVaultKey(ctx context.Context, keyID string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM vault_keys WHERE key_id = ?", keyID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// UserKey is a public signing key a user registered.
type UserKey struct {
	UserID    int64
	Username  string // read from users; ignored by InsertUserKey
	KeyID     string
	KeyType   string
	Algorithm string
	Subject   string
	NotAfter  time.Time // zero when the key has no expiry (a bare public key)
	PEM       []byte
	CreatedAt time.Time
}

// InsertUserKey records a user's public key: ErrConflict if this user
// already registered the key ID, ErrNotFound if the user does not exist.
func (s *Store) InsertUserKey(ctx context.Context, k UserKey) error {
	var notAfter any
	if !k.NotAfter.IsZero() {
		notAfter = formatTime(k.NotAfter)
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO user_keys(user_id, key_id, key_type, algorithm, subject, not_after, pem, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.UserID, k.KeyID, k.KeyType, k.Algorithm, k.Subject, notAfter, k.PEM, now())
	switch {
	case isUniqueViolation(err):
		return ErrConflict
	case isForeignKeyViolation(err):
		return ErrNotFound
	}
	return err
}

const userKeySelect = `SELECT k.user_id, u.username, k.key_id, k.key_type, k.algorithm, k.subject, k.not_after,
	k.pem, k.created_at FROM user_keys k JOIN users u ON u.id = k.user_id`

func scanUserKey(row interface{ Scan(...any) error }) (*UserKey, error) {
	var k UserKey
	var notAfter sql.NullString
	var created string
	if err := row.Scan(&k.UserID, &k.Username, &k.KeyID, &k.KeyType, &k.Algorithm, &k.Subject, &notAfter, &k.PEM, &created); err != nil {
		return nil, err
	}
	if notAfter.Valid {
		k.NotAfter = parseTime(notAfter.String)
	}
	k.CreatedAt = parseTime(created)
	return &k, nil
}

// GetUserKey returns one of a user's keys, or ErrNotFound.
func (s *Store) GetUserKey(ctx context.Context, userID int64, keyID string) (*UserKey, error) {
	k, err := scanUserKey(s.db.QueryRowContext(ctx, userKeySelect+" WHERE k.user_id = ? AND k.key_id = ?", userID, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return k, err
}

// GetUserKeyByUsername returns one of a user's keys, the user given by name,
// or ErrNotFound.
func (s *Store) GetUserKeyByUsername(ctx context.Context, username, keyID string) (*UserKey, error) {
	k, err := scanUserKey(s.db.QueryRowContext(ctx, userKeySelect+" WHERE u.username = ? AND k.key_id = ?", username, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return k, err
}

// ListUserKeys returns a user's keys in registration order.
func (s *Store) ListUserKeys(ctx context.Context, userID int64) ([]UserKey, error) {
	return s.queryUserKeys(ctx, userKeySelect+" WHERE k.user_id = ? ORDER BY k.rowid", userID)
}

// ListAllUserKeys returns every user's keys, by username, then in
// registration order.
func (s *Store) ListAllUserKeys(ctx context.Context) ([]UserKey, error) {
	return s.queryUserKeys(ctx, userKeySelect+" ORDER BY u.username, k.rowid")
}

func (s *Store) queryUserKeys(ctx context.Context, q string, args ...any) ([]UserKey, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []UserKey
	for rows.Next() {
		k, err := scanUserKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *k)
	}
	return out, rows.Err()
}

// DeleteUserKey removes one of a user's keys; ErrNotFound if absent.
func (s *Store) DeleteUserKey(ctx context.Context, userID int64, keyID string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM user_keys WHERE user_id = ? AND key_id = ?", userID, keyID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// UserKeyOwners returns, for each of keyIDs that some user registered, the
// usernames of those users in registration order. Unregistered IDs are absent.
func (s *Store) UserKeyOwners(ctx context.Context, keyIDs []string) (map[string][]string, error) {
	out := make(map[string][]string)
	if len(keyIDs) == 0 {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT k.key_id, u.username FROM user_keys k JOIN users u ON u.id = k.user_id
		 WHERE k.key_id IN (`+vaultPlaceholders(len(keyIDs))+`) ORDER BY k.rowid`, vaultStringArgs(keyIDs)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, username string
		if err := rows.Scan(&id, &username); err != nil {
			return nil, err
		}
		out[id] = append(out[id], username)
	}
	return out, rows.Err()
}

// vaultPlaceholders returns "?, ?, ..." with n question marks.
func vaultPlaceholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func vaultStringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
