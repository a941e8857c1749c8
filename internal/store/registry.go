package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"
)

// RegistryTag is a tag as the registry serves it.
type RegistryTag struct {
	Tag       string
	Digest    string // sha256:<hex>
	MediaType string
	Platforms []string // an index's os/arch[/variant]
	ETag      string   // the manifest's ETag, for conditional requests
}

// RegistryCounts are a repository's tag states, counted.
type RegistryCounts struct {
	Signed, Unsigned, Drifted, Missing int
}

// RegistryState is what the store holds of one repository in the registry.
type RegistryState struct {
	// Seen is false until the registry was read for the repository (or
	// failed to be): the other fields are then zero.
	Seen         bool
	CheckedAt    time.Time // last successful read; zero: never
	AttemptedAt  time.Time
	FailingSince time.Time // zero while reads succeed
	Error        string
	Absent       []string
	Tags         []RegistryTag // by tag name
	TagCount     int
	Counts       RegistryCounts
	Counted      bool
}

// RegistrySummary is the registry's part of a repository list row.
type RegistrySummary struct {
	Tags         int
	Counts       RegistryCounts
	Counted      bool
	CheckedAt    time.Time
	FailingSince time.Time
	Error        string
}

func repositoryID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, namespace, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, "SELECT id FROM repositories WHERE namespace = ? AND name = ?", namespace, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return id, err
}

// RepositoryStamp tells one catalog entry of namespace/name from another
// (ErrNotFound if there is none): a repository deleted and created again has
// another stamp (IDs are reused; the stamp holds the creation time too).
func (s *Store) RepositoryStamp(ctx context.Context, namespace, name string) (string, error) {
	var id int64
	var created string
	err := s.prepared(ctx, "SELECT id, created_at FROM repositories WHERE namespace = ? AND name = ?").
		QueryRowContext(ctx, namespace, name).Scan(&id, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return strconv.FormatInt(id, 10) + "@" + created, err
}

func splitWords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// RegistryState returns what is stored of namespace/name in the registry
// (ErrNotFound if the repository is not in the catalog; Seen false if it was
// never read).
func (s *Store) RegistryState(ctx context.Context, namespace, name string) (*RegistryState, error) {
	id, err := repositoryID(ctx, s.db, namespace, name)
	if err != nil {
		return nil, err
	}
	st := &RegistryState{}
	var checked, failing, counted sql.NullString
	var attempted, absent string
	err = s.db.QueryRowContext(ctx, `SELECT checked_at, attempted_at, failing_since, error, absent, tags,
			signed, unsigned, drifted, missing, counted_at FROM registry_states WHERE repository_id = ?`, id).
		Scan(&checked, &attempted, &failing, &st.Error, &absent, &st.TagCount,
			&st.Counts.Signed, &st.Counts.Unsigned, &st.Counts.Drifted, &st.Counts.Missing, &counted)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	st.Seen, st.CheckedAt, st.AttemptedAt, st.FailingSince = true, fromNull(checked), parseTime(attempted), fromNull(failing)
	st.Absent, st.Counted = splitWords(absent), counted.Valid
	rows, err := s.db.QueryContext(ctx, `SELECT tag, digest, media_type, platforms, etag FROM registry_tags
		WHERE repository_id = ? ORDER BY tag`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var t RegistryTag
		var platforms string
		if err := rows.Scan(&t.Tag, &t.Digest, &t.MediaType, &platforms, &t.ETag); err != nil {
			return nil, err
		}
		t.Platforms = splitWords(platforms)
		st.Tags = append(st.Tags, t)
	}
	return st, rows.Err()
}

// SaveRegistryTags records a successful read of namespace/name's tags at
// at: the tags become exactly tags (rows that did not change are not
// written), absent the signed digests the registry does not hold, and the
// repository's failure, if any, is over. ErrNotFound if the repository is not
// in the catalog (removed meanwhile).
func (s *Store) SaveRegistryTags(ctx context.Context, namespace, name string, tags []RegistryTag, absent []string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := repositoryID(ctx, tx, namespace, name)
		if err != nil {
			return err
		}
		keep := make(map[string]bool, len(tags))
		for _, t := range tags {
			keep[t.Tag] = true
		}
		old, err := tx.QueryContext(ctx, "SELECT tag FROM registry_tags WHERE repository_id = ?", id)
		if err != nil {
			return err
		}
		var gone []string
		for old.Next() {
			var tag string
			if err := old.Scan(&tag); err != nil {
				old.Close()
				return err
			}
			if !keep[tag] {
				gone = append(gone, tag)
			}
		}
		old.Close()
		if err := old.Err(); err != nil {
			return err
		}
		if err := deleteTags(ctx, tx, id, "tag", gone); err != nil {
			return err
		}
		if err := upsertTags(ctx, tx, id, tags); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO registry_states(repository_id, checked_at, attempted_at, failing_since, error, absent, tags)
			VALUES (?, ?, ?, NULL, '', ?, ?)
			ON CONFLICT(repository_id) DO UPDATE SET checked_at = excluded.checked_at, attempted_at = excluded.attempted_at,
				failing_since = NULL, error = '', absent = excluded.absent, tags = excluded.tags`,
			id, formatTime(at), formatTime(at), strings.Join(absent, " "), len(tags))
		if err != nil {
			return err
		}
		return s.recordChange(ctx, tx, TopicRegistry, namespace+"/"+name)
	})
}

// deleteTags removes repository id's tags whose column (tag or digest) is
// one of values.
func deleteTags(ctx context.Context, tx *sql.Tx, id int64, column string, values []string) error {
	if column != "tag" && column != "digest" {
		return errors.New("store: deleteTags by " + column)
	}
	for _, v := range values {
		if _, err := tx.ExecContext(ctx, "DELETE FROM registry_tags WHERE repository_id = ? AND "+column+" = ?", id, v); err != nil {
			return err
		}
	}
	return nil
}

// upsertTags writes tags of repository id, leaving rows that hold the same
// values untouched.
func upsertTags(ctx context.Context, tx *sql.Tx, id int64, tags []RegistryTag) error {
	if len(tags) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO registry_tags(repository_id, tag, digest, media_type, platforms, etag)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(repository_id, tag) DO UPDATE SET digest = excluded.digest, media_type = excluded.media_type,
			platforms = excluded.platforms, etag = excluded.etag
		WHERE registry_tags.digest != excluded.digest OR registry_tags.media_type != excluded.media_type
			OR registry_tags.platforms != excluded.platforms OR registry_tags.etag != excluded.etag`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, t := range tags {
		if _, err := stmt.ExecContext(ctx, id, t.Tag, t.Digest, t.MediaType, strings.Join(t.Platforms, " "), t.ETag); err != nil {
			return err
		}
	}
	return nil
}

// ChangeRegistryTags applies what the registry notified for namespace/name:
// put are tags pushed (written as given), deleted tags removed, and every
// tag on a digest of deletedDigests removed (deleting a manifest removes
// every tag on it). The time of the last full read stays. ErrNotFound if
// the repository is not in the catalog.
func (s *Store) ChangeRegistryTags(ctx context.Context, namespace, name string, put []RegistryTag, deleted, deletedDigests []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := repositoryID(ctx, tx, namespace, name)
		if err != nil {
			return err
		}
		if err := deleteTags(ctx, tx, id, "tag", deleted); err != nil {
			return err
		}
		if err := deleteTags(ctx, tx, id, "digest", deletedDigests); err != nil {
			return err
		}
		if err := upsertTags(ctx, tx, id, put); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO registry_states(repository_id, attempted_at, tags)
			VALUES (?, ?, (SELECT COUNT(*) FROM registry_tags WHERE repository_id = ?))
			ON CONFLICT(repository_id) DO UPDATE SET tags = excluded.tags`, id, now(), id)
		if err != nil {
			return err
		}
		return s.recordChange(ctx, tx, TopicRegistry, namespace+"/"+name)
	})
}

// RegistryFailed records a failed read of namespace/name at at, with its
// cause: the tags stored stay (the last known), failing_since keeps the
// first failure since the last success.
func (s *Store) RegistryFailed(ctx context.Context, namespace, name, cause string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO registry_states(repository_id, attempted_at, failing_since, error)
			SELECT id, ?, ?, ? FROM repositories WHERE namespace = ? AND name = ?
			ON CONFLICT(repository_id) DO UPDATE SET attempted_at = excluded.attempted_at, error = excluded.error,
				failing_since = COALESCE(registry_states.failing_since, excluded.failing_since)`,
			formatTime(at), formatTime(at), cause, namespace, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.recordChange(ctx, tx, TopicRegistry, namespace+"/"+name)
	})
}

// PutRegistryCounts stores namespace/name's tag states counted; a
// repository the registry was never read for is left alone (nothing to
// count yet).
func (s *Store) PutRegistryCounts(ctx context.Context, namespace, name string, c RegistryCounts) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE registry_states SET signed = ?, unsigned = ?, drifted = ?, missing = ?,
				counted_at = ?
			WHERE repository_id = (SELECT id FROM repositories WHERE namespace = ? AND name = ?)`,
			c.Signed, c.Unsigned, c.Drifted, c.Missing, now(), namespace, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return s.recordChange(ctx, tx, TopicRegistry, namespace+"/"+name)
	})
}
