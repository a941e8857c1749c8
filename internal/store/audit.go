package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// AuditEvent is one row of the audit log.
type AuditEvent struct {
	ID        int64
	At        time.Time
	Actor     string
	Action    string
	GUN       string
	Namespace string
	Name      string
	Detail    string
	Source    string
}

// AuditQuery filters the audit log; zero fields match everything.
type AuditQuery struct {
	Namespace  string
	Name       string
	Namespaces []string // when non-nil, only these namespaces
	BeforeID   int64    // page backwards from this id (exclusive)
	Limit      int
	// Actor and Action, when set, keep the events of that account and of
	// that action ("trust.update"; a family "trust." ends with a dot).
	Actor, Action string
	// Since and Until, when set, keep the events from Since on and before
	// Until.
	Since, Until time.Time
}

// InsertAudit appends an event.
func (s *Store) InsertAudit(ctx context.Context, e AuditEvent) error {
	return insertAudit(ctx, s.db, e)
}

// execer is a database handle or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertAudit(ctx context.Context, db execer, e AuditEvent) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.Source == "" {
		e.Source = "trustdeck"
	}
	_, err := db.ExecContext(ctx, `INSERT INTO audit_events(at, actor, action, gun, namespace, name, detail, source)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, formatTime(e.At), e.Actor, e.Action, e.GUN,
		e.Namespace, e.Name, e.Detail, e.Source)
	return err
}

// ListAudit returns events newest first.
func (s *Store) ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	where := []string{"1=1"}
	var args []any
	if q.Namespace != "" {
		where = append(where, "namespace = ?")
		args = append(args, q.Namespace)
	}
	if q.Name != "" {
		where = append(where, "name = ?")
		args = append(args, q.Name)
	}
	if q.Namespaces != nil {
		if len(q.Namespaces) == 0 {
			return []AuditEvent{}, nil
		}
		where = append(where, "namespace IN (?"+strings.Repeat(",?", len(q.Namespaces)-1)+")")
		for _, ns := range q.Namespaces {
			args = append(args, ns)
		}
	}
	if q.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, q.BeforeID)
	}
	if q.Actor != "" {
		where = append(where, "actor = ?")
		args = append(args, q.Actor)
	}
	if family, ok := strings.CutSuffix(q.Action, "."); ok {
		where = append(where, "substr(action, 1, ?) = ?")
		args = append(args, len(family)+1, family+".")
	} else if q.Action != "" {
		where = append(where, "action = ?")
		args = append(args, q.Action)
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, formatTime(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, formatTime(q.Until))
	}
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, actor, action, gun, namespace, name, detail, source
		FROM audit_events WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AuditEvent{}
	for rows.Next() {
		var e AuditEvent
		var at string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.GUN, &e.Namespace, &e.Name, &e.Detail, &e.Source); err != nil {
			return nil, err
		}
		e.At = parseTime(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
