package store

import (
	"context"
	"database/sql"
	"time"
)

// SigningKey is one key of the signature formats that follow Docker Content
// Trust (cosign, Notation), for a namespace. The store never sees a key in
// clear: SealedKey is opaque here.
type SigningKey struct {
	Namespace  string
	Format     string // "cosign" or "notation"
	Role       string // "signer" or "ca"
	KeyID      string
	Algorithm  string
	PublicPEM  []byte // PUBLIC KEY or CERTIFICATE PEM
	SealedKey  []byte // nil when VaultKeyID names the key in vault_keys
	VaultKeyID string
	CreatedBy  string
	CreatedAt  time.Time
}

// InsertSigningKeys stores keys in one transaction; ErrConflict if one of
// them (namespace, format, role) exists already.
func (s *Store) InsertSigningKeys(ctx context.Context, keys ...SigningKey) error {
	err := s.tx(ctx, func(t *sql.Tx) error {
		for _, k := range keys {
			if _, err := t.ExecContext(ctx,
				`INSERT INTO signing_keys(namespace, format, role, key_id, algorithm, public_pem, sealed_key,
				 vault_key_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				k.Namespace, k.Format, k.Role, k.KeyID, k.Algorithm, k.PublicPEM, k.SealedKey, k.VaultKeyID,
				k.CreatedBy, now()); err != nil {
				return err
			}
		}
		return nil
	})
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

const signingKeySelect = `SELECT namespace, format, role, key_id, algorithm, public_pem, sealed_key, vault_key_id,
	created_by, created_at FROM signing_keys`

// GetSigningKey returns one key, sealed part included, or ErrNotFound.
func (s *Store) GetSigningKey(ctx context.Context, namespace, format, role string) (*SigningKey, error) {
	rows, err := s.querySigningKeys(ctx, signingKeySelect+" WHERE namespace = ? AND format = ? AND role = ?",
		namespace, format, role)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return &rows[0], nil
}

// ListSigningKeys returns a namespace's keys (every namespace's when
// namespace is ""), by namespace, format and role, without their sealed parts.
func (s *Store) ListSigningKeys(ctx context.Context, namespace string) ([]SigningKey, error) {
	q, args := signingKeySelect, []any{}
	if namespace != "" {
		q += " WHERE namespace = ?"
		args = append(args, namespace)
	}
	rows, err := s.querySigningKeys(ctx, q+" ORDER BY namespace, format, role", args...)
	for i := range rows {
		rows[i].SealedKey = nil
	}
	return rows, err
}

func (s *Store) querySigningKeys(ctx context.Context, q string, args ...any) ([]SigningKey, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SigningKey
	for rows.Next() {
		var k SigningKey
		var created string
		if err := rows.Scan(&k.Namespace, &k.Format, &k.Role, &k.KeyID, &k.Algorithm, &k.PublicPEM, &k.SealedKey,
			&k.VaultKeyID, &k.CreatedBy, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = parseTime(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteSigningKeys removes a namespace's keys of one format; ErrNotFound
// if it has none.
func (s *Store) DeleteSigningKeys(ctx context.Context, namespace, format string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM signing_keys WHERE namespace = ? AND format = ?", namespace, format)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
