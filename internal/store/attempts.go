package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// Outcomes of a write attempt.
const (
	AttemptPending = "pending" // sent, or about to be; no reply yet
	AttemptApplied = "applied" // the server took the change
	AttemptRefused = "refused" // the server answered and refused it: nothing changed
	AttemptUnknown = "unknown" // no reply: the server may or may not have taken it
)

// attemptRetention is how long attempts are kept.
const attemptRetention = 30 * 24 * time.Hour

// WriteAttempt is a change of trust data trustdeck sends to the Notary
// server, with the audit event it stands for.
type WriteAttempt struct {
	ID        int64
	CreatedAt time.Time
	Actor     string
	Action    string
	GUN       string
	Namespace string
	Name      string
	Subject   string
	Detail    string
	Deletion  bool          // DELETE of all trust data; else an update
	Files     []AttemptFile // what an update uploaded
	Outcome   string
	Replied   bool // the server answered (applied or refused)
	Matched   bool
	Audited   bool
}

// AttemptFile is one metadata file an update uploaded.
type AttemptFile struct {
	Role    string `json:"role"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"` // lowercase hex
}

func (a *WriteAttempt) kind() string {
	if a.Deletion {
		return "deletion"
	}
	return "update"
}

// InsertAttempt records an attempt (outcome pending) and returns its ID.
// Attempts older than 30 days are dropped on the way.
func (s *Store) InsertAttempt(ctx context.Context, a WriteAttempt) (int64, error) {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	if a.Files == nil {
		a.Files = []AttemptFile{}
	}
	files, err := json.Marshal(a.Files)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.tx(ctx, func(t *sql.Tx) error {
		if _, err := t.ExecContext(ctx, `DELETE FROM write_attempts WHERE created_at < ?`,
			formatTime(time.Now().Add(-attemptRetention))); err != nil {
			return err
		}
		return t.QueryRowContext(ctx, `INSERT INTO write_attempts(created_at, actor, action, gun, namespace, name,
			subject, detail, kind, files, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			formatTime(a.CreatedAt), a.Actor, a.Action, a.GUN, a.Namespace, a.Name, a.Subject, a.Detail,
			a.kind(), string(files), AttemptPending).Scan(&id)
	})
	return id, err
}

// ResolveAttempt records the outcome of sending attempt id: applied, refused
// or unknown. An attempt whose change the server was already seen to record
// (MatchAttempt) is applied, whatever the reply. Once applied, its audit
// event is recorded, exactly once (in the same transaction); the attempt is
// returned when this call recorded it.
func (s *Store) ResolveAttempt(ctx context.Context, id int64, outcome string) (*WriteAttempt, error) {
	return s.settleAttempt(ctx, id, func(a *WriteAttempt) string {
		a.Replied = outcome != AttemptUnknown
		if a.Matched {
			return AttemptApplied
		}
		return outcome
	}, false)
}

// MatchAttempt marks attempt id as seen in the server's own record of
// changes. An attempt whose reply was lost (unknown) is then applied and its
// audit event recorded (the attempt is returned); a pending one is resolved
// by its sender (ResolveAttempt).
func (s *Store) MatchAttempt(ctx context.Context, id int64) (*WriteAttempt, error) {
	return s.settleAttempt(ctx, id, func(a *WriteAttempt) string {
		if a.Outcome == AttemptPending {
			return AttemptPending
		}
		return AttemptApplied
	}, true)
}

// settleAttempt sets attempt id's outcome to next(attempt) (and matched if
// match), and records its audit event if it is now applied and was not
// audited yet; it returns the attempt then.
func (s *Store) settleAttempt(ctx context.Context, id int64, next func(*WriteAttempt) string, match bool) (*WriteAttempt, error) {
	var recorded *WriteAttempt
	err := s.tx(ctx, func(t *sql.Tx) error {
		recorded = nil // from scratch when the transaction is run again
		a, err := scanAttempt(t.QueryRowContext(ctx, `SELECT `+attemptColumns+` FROM write_attempts WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		a.Matched = a.Matched || match
		a.Outcome = next(a)
		record := a.Outcome == AttemptApplied && !a.Audited && a.Action != ""
		a.Audited = a.Audited || record
		resolved := any(nil)
		if a.Outcome != AttemptPending {
			resolved = now()
		}
		if _, err := t.ExecContext(ctx, `UPDATE write_attempts SET outcome = ?, replied = ?, matched = ?, audited = ?,
			resolved_at = COALESCE(resolved_at, ?) WHERE id = ?`, a.Outcome, a.Replied, a.Matched, a.Audited, resolved, id); err != nil {
			return err
		}
		if record {
			recorded = a
			return insertAudit(ctx, t, AuditEvent{At: a.CreatedAt, Actor: a.Actor, Action: a.Action, GUN: a.GUN,
				Namespace: a.Namespace, Name: a.Name, Detail: a.Detail})
		}
		return nil
	})
	return recorded, err
}

// OpenAttempts lists gun's attempts of one kind since since that the
// server's record of changes has not been matched to yet and that were not
// refused, oldest first.
func (s *Store) OpenAttempts(ctx context.Context, gun string, deletion bool, since time.Time) ([]WriteAttempt, error) {
	kind := (&WriteAttempt{Deletion: deletion}).kind()
	rows, err := s.db.QueryContext(ctx, `SELECT `+attemptColumns+` FROM write_attempts
		WHERE gun = ? AND kind = ? AND matched = 0 AND outcome != ? AND created_at >= ? ORDER BY id`,
		gun, kind, AttemptRefused, formatTime(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WriteAttempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// SettleAttempts is a retry finding its change already in place: gun's
// attempts of action on subject since since that the server did not answer
// are applied, and their audit events recorded (unless recorded already).
// It reports whether there was any such attempt (the change is then the
// retry's), and returns the attempts whose events it recorded.
func (s *Store) SettleAttempts(ctx context.Context, gun, action, subject string, since time.Time) (bool, []WriteAttempt, error) {
	found := false
	var recorded []WriteAttempt
	err := s.tx(ctx, func(t *sql.Tx) error {
		found, recorded = false, nil // from scratch when the transaction is run again
		rows, err := t.QueryContext(ctx, `SELECT `+attemptColumns+` FROM write_attempts
			WHERE gun = ? AND action = ? AND subject = ? AND replied = 0 AND created_at >= ? ORDER BY id`,
			gun, action, subject, formatTime(since))
		if err != nil {
			return err
		}
		var open []*WriteAttempt
		for rows.Next() {
			a, err := scanAttempt(rows)
			if err != nil {
				rows.Close()
				return err
			}
			found = true
			if a.Outcome != AttemptApplied || (!a.Audited && a.Action != "") {
				open = append(open, a)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, a := range open {
			if _, err := t.ExecContext(ctx, `UPDATE write_attempts SET outcome = ?, audited = 1,
				resolved_at = COALESCE(resolved_at, ?) WHERE id = ?`, AttemptApplied, now(), a.ID); err != nil {
				return err
			}
			if a.Audited || a.Action == "" {
				continue
			}
			if err := insertAudit(ctx, t, AuditEvent{At: a.CreatedAt, Actor: a.Actor, Action: a.Action, GUN: a.GUN,
				Namespace: a.Namespace, Name: a.Name, Detail: a.Detail}); err != nil {
				return err
			}
			recorded = append(recorded, *a)
		}
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	return found, recorded, nil
}

const attemptColumns = `id, created_at, actor, action, gun, namespace, name, subject, detail, kind, files,
	outcome, replied, matched, audited`

type rowScanner interface{ Scan(dest ...any) error }

func scanAttempt(r rowScanner) (*WriteAttempt, error) {
	var (
		a           WriteAttempt
		at, kind, f string
	)
	if err := r.Scan(&a.ID, &at, &a.Actor, &a.Action, &a.GUN, &a.Namespace, &a.Name, &a.Subject, &a.Detail,
		&kind, &f, &a.Outcome, &a.Replied, &a.Matched, &a.Audited); err != nil {
		return nil, err
	}
	a.CreatedAt, a.Deletion = parseTime(at), kind == "deletion"
	if err := json.Unmarshal([]byte(f), &a.Files); err != nil {
		return nil, err
	}
	return &a, nil
}
