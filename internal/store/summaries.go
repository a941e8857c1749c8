package store

import (
	"context"
	"database/sql"
	"time"
)

// TrustSummary is a repository's trust state as the list shows it.
type TrustSummary struct {
	State             string // none, unsigned, signed, error
	SignedTags        int
	Signers           int
	NearestExpiry     time.Time // zero without trust data
	NearestExpiryRole string
	LastSigned        time.Time
	Error             string
	RefreshedAt       time.Time
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

func fromNull(s sql.NullString) time.Time {
	if !s.Valid {
		return time.Time{}
	}
	return parseTime(s.String)
}

// PutTrustSummary stores the summary of namespace/name (ErrNotFound if the
// repository is not in the catalog).
func (s *Store) PutTrustSummary(ctx context.Context, namespace, name string, t TrustSummary) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO trust_summaries(repository_id, state, signed_tags, signers,
			nearest_expiry, nearest_expiry_role, last_signed, error, refreshed_at)
		SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM repositories WHERE namespace = ? AND name = ?
		ON CONFLICT(repository_id) DO UPDATE SET state = excluded.state, signed_tags = excluded.signed_tags,
			signers = excluded.signers, nearest_expiry = excluded.nearest_expiry,
			nearest_expiry_role = excluded.nearest_expiry_role, last_signed = excluded.last_signed,
			error = excluded.error, refreshed_at = excluded.refreshed_at`,
		t.State, t.SignedTags, t.Signers, nullTime(t.NearestExpiry), t.NearestExpiryRole, nullTime(t.LastSigned),
		t.Error, now(), namespace, name)
	if isForeignKeyViolation(err) {
		// Removed between the SELECT and the INSERT (PostgreSQL checks the
		// reference at the insert, after the SELECT's snapshot).
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ReposWithoutSummary lists catalog entries that have no summary yet.
func (s *Store) ReposWithoutSummary(ctx context.Context) ([]Repository, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+repoColsR+` FROM repositories r
		LEFT JOIN trust_summaries t ON t.repository_id = r.id WHERE t.repository_id IS NULL ORDER BY r.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Repository
	for rows.Next() {
		r, err := scanRepo(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// RepositoryNames returns the namespace and name of every catalog entry.
func (s *Store) RepositoryNames(ctx context.Context) ([][2]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT namespace, name FROM repositories ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var n [2]string
		if err := rows.Scan(&n[0], &n[1]); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// LastTargetsChange returns when any targets role of gun last changed.
func (s *Store) LastTargetsChange(ctx context.Context, gun string) (time.Time, error) {
	var at sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT MAX(created_at) FROM tuf_files
		WHERE gun = ? AND (role = 'targets' OR role LIKE 'targets/%')`, gun).Scan(&at)
	return fromNull(at), err
}
