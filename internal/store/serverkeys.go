package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// ServerKey is one signing key of the embedded Notary server (timestamp or
// snapshot). The store never sees the private key in clear: PrivateSealed is
// what the vault sealed, and is opaque here.
type ServerKey struct {
	KeyID         string
	GUN           string
	Role          string
	Algorithm     string
	Public        []byte
	PrivateSealed []byte // empty in ListServerKeys results
	CreatedAt     time.Time
}

// InsertServerKey stores a new server key; ErrConflict if the key ID exists.
func (s *Store) InsertServerKey(ctx context.Context, k ServerKey) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO server_keys(key_id, gun, role, algorithm, public, private_sealed, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.KeyID, k.GUN, k.Role, k.Algorithm, k.Public, k.PrivateSealed, now())
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// GetServerKey returns one server key, sealed private part included, or
// ErrNotFound.
func (s *Store) GetServerKey(ctx context.Context, keyID string) (*ServerKey, error) {
	var k ServerKey
	var created string
	err := s.db.QueryRowContext(ctx,
		`SELECT key_id, gun, role, algorithm, public, private_sealed, created_at
		 FROM server_keys WHERE key_id = ?`, keyID).
		Scan(&k.KeyID, &k.GUN, &k.Role, &k.Algorithm, &k.Public, &k.PrivateSealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	k.CreatedAt = parseTime(created)
	return &k, nil
}

// ListServerKeys returns the server keys of a GUN and role, oldest first
// (insertion order). An empty gun or role matches every value. The sealed
// private parts are not read.
func (s *Store) ListServerKeys(ctx context.Context, gun, role string) ([]ServerKey, error) {
	var where []string
	var args []any
	if gun != "" {
		where = append(where, "gun = ?")
		args = append(args, gun)
	}
	if role != "" {
		where = append(where, "role = ?")
		args = append(args, role)
	}
	q := "SELECT key_id, gun, role, algorithm, public, created_at FROM server_keys"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	// rowid is the insertion order; created_at strings (RFC 3339 with trimmed
	// fractions) do not sort reliably as text.
	q += " ORDER BY rowid"
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ServerKey
	for rows.Next() {
		var k ServerKey
		var created string
		if err := rows.Scan(&k.KeyID, &k.GUN, &k.Role, &k.Algorithm, &k.Public, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = parseTime(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteServerKey removes one server key; ErrNotFound if absent.
func (s *Store) DeleteServerKey(ctx context.Context, keyID string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM server_keys WHERE key_id = ?", keyID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteServerKeysOfGUN removes every server key created for exactly this GUN
// (no prefix matching) and returns the IDs of the removed keys.
func (s *Store) DeleteServerKeysOfGUN(ctx context.Context, gun string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "DELETE FROM server_keys WHERE gun = ? RETURNING key_id", gun)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
