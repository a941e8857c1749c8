package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// Migration run states.
const (
	MigrationRunning     = "running"
	MigrationInterrupted = "interrupted"
	MigrationDone        = "done"
	MigrationFailed      = "failed"
)

// Migration item statuses.
const (
	ItemPending = "pending"
	ItemSigned  = "signed"
	ItemSkipped = "skipped"
	ItemFailed  = "failed"
)

// ItemSigning is the reason of a pending item whose signature is being
// pushed (MarkMigrationItemSigning): a restart finds it so and knows a
// signature found in the registry may be this run's, not yet audited.
const ItemSigning = "signing"

// MigrationRun is one run of the migration to cosign and Notation.
type MigrationRun struct {
	ID           string
	State        string
	Formats      []string
	Repositories []string // namespace/name, sorted
	Namespaces   []string // sorted
	CreatedBy    string
	CreatedAt    time.Time
	StartedBy    string
	StartedAt    time.Time
	FinishedAt   time.Time // zero until finished
	Error        string
	Counts       MigrationCounts
}

// MigrationCounts count a run's items by status.
type MigrationCounts struct {
	Total, Pending, Signed, Skipped, Failed int
}

// MigrationItem is one item of a run (see migration 012).
type MigrationItem struct {
	Seq          int
	Namespace    string
	Name         string
	Tag          string
	Digest       string
	Format       string
	Signers      []string
	TrustVersion int
	Status       string
	Reason       string
	Message      string
	KeyID        string
	UpdatedAt    time.Time
}

// CreateMigrationRun stores a new run (state running) and its items in one
// transaction; items are numbered in the order given.
func (s *Store) CreateMigrationRun(ctx context.Context, run MigrationRun, items []MigrationItem) error {
	at := now()
	return s.tx(ctx, func(t *sql.Tx) error {
		if _, err := t.ExecContext(ctx, `INSERT INTO migration_runs(id, state, formats, repositories, namespaces,
			created_by, created_at, started_by, started_at, runner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			run.ID, MigrationRunning, strings.Join(run.Formats, " "), strings.Join(run.Repositories, " "),
			strings.Join(run.Namespaces, " "), run.CreatedBy, at, run.CreatedBy, at, s.ReplicaID()); err != nil {
			return err
		}
		stmt, err := t.PrepareContext(ctx, `INSERT INTO migration_items(run_id, seq, namespace, name, tag, digest,
			format, signers, trust_version, status, reason, message, key_id, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, it := range items {
			if _, err := stmt.ExecContext(ctx, run.ID, i+1, it.Namespace, it.Name, it.Tag, it.Digest, it.Format,
				strings.Join(it.Signers, ","), it.TrustVersion, it.Status, it.Reason, it.Message, it.KeyID, at); err != nil {
				return err
			}
		}
		return nil
	})
}

const migrationRunSelect = `SELECT r.id, r.state, r.formats, r.repositories, r.namespaces, r.created_by, r.created_at,
	r.started_by, r.started_at, COALESCE(r.finished_at, ''), r.error,
	COUNT(i.seq), COUNT(CASE WHEN i.status = 'pending' THEN 1 END), COUNT(CASE WHEN i.status = 'signed' THEN 1 END),
	COUNT(CASE WHEN i.status = 'skipped' THEN 1 END), COUNT(CASE WHEN i.status = 'failed' THEN 1 END)
	FROM migration_runs r LEFT JOIN migration_items i ON i.run_id = r.id`

// MigrationRun returns a run with its counts, or ErrNotFound.
func (s *Store) MigrationRun(ctx context.Context, id string) (*MigrationRun, error) {
	runs, err := s.queryMigrationRuns(ctx, migrationRunSelect+" WHERE r.id = ? GROUP BY r.id", id)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, ErrNotFound
	}
	return &runs[0], nil
}

// MigrationRuns returns the newest runs first, at most limit, with their
// counts; state "" is any state.
func (s *Store) MigrationRuns(ctx context.Context, state string, limit int) ([]MigrationRun, error) {
	q, args := migrationRunSelect, []any{}
	if state != "" {
		q += " WHERE r.state = ?"
		args = append(args, state)
	}
	return s.queryMigrationRuns(ctx, q+" GROUP BY r.id ORDER BY r.created_at DESC, r.id LIMIT ?", append(args, limit)...)
}

func (s *Store) queryMigrationRuns(ctx context.Context, q string, args ...any) ([]MigrationRun, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MigrationRun
	for rows.Next() {
		var r MigrationRun
		var formats, repos, nss, created, started, finished string
		c := &r.Counts
		if err := rows.Scan(&r.ID, &r.State, &formats, &repos, &nss, &r.CreatedBy, &created, &r.StartedBy, &started,
			&finished, &r.Error, &c.Total, &c.Pending, &c.Signed, &c.Skipped, &c.Failed); err != nil {
			return nil, err
		}
		r.Formats, r.Repositories, r.Namespaces = strings.Fields(formats), strings.Fields(repos), strings.Fields(nss)
		r.CreatedAt, r.StartedAt = parseTime(created), parseTime(started)
		if finished != "" {
			r.FinishedAt = parseTime(finished)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// MigrationItems returns a run's items in order; status "" is any status.
func (s *Store) MigrationItems(ctx context.Context, runID, status string) ([]MigrationItem, error) {
	q := `SELECT seq, namespace, name, tag, digest, format, signers, trust_version, status, reason, message, key_id,
		updated_at FROM migration_items WHERE run_id = ?`
	args := []any{runID}
	if status != "" {
		q += " AND status = ?"
		args = append(args, status)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY seq", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MigrationItem
	for rows.Next() {
		var it MigrationItem
		var signers, updated string
		if err := rows.Scan(&it.Seq, &it.Namespace, &it.Name, &it.Tag, &it.Digest, &it.Format, &signers,
			&it.TrustVersion, &it.Status, &it.Reason, &it.Message, &it.KeyID, &updated); err != nil {
			return nil, err
		}
		if signers != "" {
			it.Signers = strings.Split(signers, ",")
		}
		it.UpdatedAt = parseTime(updated)
		out = append(out, it)
	}
	return out, rows.Err()
}

// FinishMigrationItem records the outcome of a pending item. It changes
// nothing (ErrNotFound) when the item is not pending any more: an outcome
// is recorded once.
func (s *Store) FinishMigrationItem(ctx context.Context, runID string, seq int, status, reason, message, keyID string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE migration_items SET status = ?, reason = ?, message = ?, key_id = ?,
		updated_at = ? WHERE run_id = ? AND seq = ? AND status = 'pending'`,
		status, reason, message, keyID, now(), runID, seq)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// MarkMigrationItemSigning records, before its signature is pushed, that a
// pending item is being signed with keyID (reason ItemSigning). ErrNotFound
// when the item is not pending.
func (s *Store) MarkMigrationItemSigning(ctx context.Context, runID string, seq int, keyID string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE migration_items SET reason = ?, key_id = ?, updated_at = ?
		WHERE run_id = ? AND seq = ? AND status = 'pending'`, ItemSigning, keyID, now(), runID, seq)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// FinishMigrationRun ends a running run: done or failed, with the reason it
// stopped for ("" when every item was done).
func (s *Store) FinishMigrationRun(ctx context.Context, id, state, cause string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE migration_runs SET state = ?, error = ?, finished_at = ?
		WHERE id = ? AND state = 'running'`, state, cause, now(), id)
	return err
}

// InterruptMigrationRuns marks running runs interrupted: with id, that run
// (at shutdown, a run this process gives up); without, every run whose
// runner no longer lives (its ReplicaLease expired: the process stopped or
// died), leaving the runs of live replicas sharing the database alone. It
// returns how many it marked.
func (s *Store) InterruptMigrationRuns(ctx context.Context, id string) (int, error) {
	q, args := "UPDATE migration_runs SET state = 'interrupted' WHERE state = 'running'", []any{}
	if id != "" {
		q += " AND id = ?"
		args = append(args, id)
	} else {
		q += ` AND NOT EXISTS (SELECT 1 FROM leases
			WHERE leases.name = ? || migration_runs.runner AND leases.expires_at >= ?)`
		args = append(args, replicaLeasePrefix, now())
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ResumeMigrationRun marks an interrupted run running again, started by
// actor now. ErrConflict when it is not interrupted (another request
// resumed it, or it ended); ErrNotFound when there is no such run.
func (s *Store) ResumeMigrationRun(ctx context.Context, id, actor string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE migration_runs SET state = 'running', started_by = ?, started_at = ?,
		error = '', runner = ? WHERE id = ? AND state = 'interrupted'`, actor, now(), s.ReplicaID(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var state string
	err = s.db.QueryRowContext(ctx, "SELECT state FROM migration_runs WHERE id = ?", id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return ErrConflict
}
