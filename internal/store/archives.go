package store

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"
)

// Archive is an archived repository: trust data captured from a Notary
// server or imported from a backup archive, verified as of CapturedAt. Its
// files are read apart (ArchiveFiles).
type Archive struct {
	ID         int64
	GUN        string
	Source     string // "capture" or "import"
	NotaryURL  string
	CapturedAt time.Time
	CreatedAt  time.Time
	CreatedBy  string
	Valid      bool
	// TrustAnchor says what the root was checked against; RootKeyIDs are
	// root.json's root key IDs (docker's), RootCanonicalIDs the same keys'
	// canonical IDs.
	TrustAnchor      string
	RootKeyIDs       []string
	RootCanonicalIDs []string
	// PreviousID is the archive of the same GUN whose root this one's was
	// checked against (0: none, or deleted since); RootChain is "first",
	// "same", "rotated" or "broken", RootChainDetail says more.
	PreviousID      int64
	RootChain       string
	RootChainDetail string
	SignedTags      int
	Signers         int
}

const archiveCols = `id, gun, source, notary_url, captured_at, created_at, created_by, valid, trust_anchor,
	root_key_ids, root_canonical_key_ids, previous_id, root_chain, root_chain_detail, signed_tags, signers`

func scanArchive(row interface{ Scan(...any) error }) (*Archive, error) {
	var a Archive
	var captured, created, ids, canonical string
	var previous sql.NullInt64
	if err := row.Scan(&a.ID, &a.GUN, &a.Source, &a.NotaryURL, &captured, &created, &a.CreatedBy, &a.Valid,
		&a.TrustAnchor, &ids, &canonical, &previous, &a.RootChain, &a.RootChainDetail, &a.SignedTags, &a.Signers); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	a.CapturedAt, a.CreatedAt = parseTime(captured), parseTime(created)
	a.RootKeyIDs, a.RootCanonicalIDs, a.PreviousID = strings.Fields(ids), strings.Fields(canonical), previous.Int64
	return &a, nil
}

// InsertArchive stores an archive and its files (role name → signed JSON)
// in one transaction and returns its ID; ID and CreatedAt are set here.
func (s *Store) InsertArchive(ctx context.Context, a Archive, files map[string][]byte) (int64, error) {
	var id int64
	err := s.tx(ctx, func(t *sql.Tx) error {
		var previous any
		if a.PreviousID != 0 {
			previous = a.PreviousID
		}
		err := t.QueryRowContext(ctx, `INSERT INTO archives(gun, source, notary_url, captured_at, created_at, created_by,
			valid, trust_anchor, root_key_ids, root_canonical_key_ids, previous_id, root_chain, root_chain_detail,
			signed_tags, signers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			a.GUN, a.Source, a.NotaryURL, formatTime(a.CapturedAt), now(), a.CreatedBy, a.Valid, a.TrustAnchor,
			strings.Join(a.RootKeyIDs, " "), strings.Join(a.RootCanonicalIDs, " "), previous, a.RootChain,
			a.RootChainDetail, a.SignedTags, a.Signers).Scan(&id)
		if err != nil {
			return err
		}
		for _, role := range slices.Sorted(maps.Keys(files)) {
			if _, err := t.ExecContext(ctx, "INSERT INTO archive_files(archive_id, role, content) VALUES (?, ?, ?)",
				id, role, files[role]); err != nil {
				return err
			}
		}
		return nil
	})
	return id, err
}

// GetArchive returns one archive without its files, or ErrNotFound.
func (s *Store) GetArchive(ctx context.Context, id int64) (*Archive, error) {
	return scanArchive(s.db.QueryRowContext(ctx, "SELECT "+archiveCols+" FROM archives WHERE id = ?", id))
}

// ArchiveFiles returns an archive's files by role name (empty for an
// archive that does not exist).
func (s *Store) ArchiveFiles(ctx context.Context, id int64) (map[string][]byte, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT role, content FROM archive_files WHERE archive_id = ?", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	files := map[string][]byte{}
	for rows.Next() {
		var role string
		var content []byte
		if err := rows.Scan(&role, &content); err != nil {
			return nil, err
		}
		files[role] = content
	}
	return files, rows.Err()
}

// ListArchives returns the archives of gun ("" for every GUN), newest
// capture first, without their files.
func (s *Store) ListArchives(ctx context.Context, gun string) ([]Archive, error) {
	q, args := "SELECT "+archiveCols+" FROM archives", []any{}
	if gun != "" {
		q += " WHERE gun = ?"
		args = append(args, gun)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY captured_at DESC, id DESC", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Archive{}
	for rows.Next() {
		a, err := scanArchive(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// LatestArchive returns gun's archive captured last at or before at, or
// ErrNotFound.
func (s *Store) LatestArchive(ctx context.Context, gun string, at time.Time) (*Archive, error) {
	return scanArchive(s.db.QueryRowContext(ctx, "SELECT "+archiveCols+
		" FROM archives WHERE gun = ? AND captured_at <= ? ORDER BY captured_at DESC, id DESC LIMIT 1", gun, formatTime(at)))
}

// DeleteArchive removes an archive and its files; ErrNotFound if there is
// none. Later archives that named it as their previous one keep their root
// chain's result, without the link.
func (s *Store) DeleteArchive(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM archives WHERE id = ?", id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// PutArchiveJob stores a bulk capture's state (JSON), new or updated.
func (s *Store) PutArchiveJob(ctx context.Context, id, actor string, started time.Time, done bool, state []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO archive_jobs(id, actor, started_at, done, state) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET done = excluded.done, state = excluded.state`,
		id, actor, formatTime(started), done, string(state))
	return err
}

// ArchiveJob returns a bulk capture's actor and state, or ErrNotFound.
func (s *Store) ArchiveJob(ctx context.Context, id string) (actor string, state []byte, err error) {
	var st string
	err = s.db.QueryRowContext(ctx, "SELECT actor, state FROM archive_jobs WHERE id = ?", id).Scan(&actor, &st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, ErrNotFound
	}
	return actor, []byte(st), err
}

// CountArchiveJobs deletes the finished bulk captures started before
// before and counts the others.
func (s *Store) CountArchiveJobs(ctx context.Context, before time.Time) (int, error) {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM archive_jobs WHERE done = 1 AND started_at < ?", formatTime(before)); err != nil {
		return 0, err
	}
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM archive_jobs").Scan(&n)
	return n, err
}
