package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// LoginFailureKey names one counter of failed sign-ins: Username's at
// Address, or (Username "") every account's at Address.
type LoginFailureKey struct {
	Username string
	Address  string
}

func (k LoginFailureKey) kind() string {
	if k.Username == "" {
		return "address"
	}
	return "account"
}

// LoginFailures returns a counter's failures and the time of the last one
// (zero values when there is none).
func (s *Store) LoginFailures(ctx context.Context, k LoginFailureKey) (int, time.Time, error) {
	var n int
	var last string
	err := s.db.QueryRowContext(ctx,
		"SELECT failures, last_failure FROM login_failures WHERE kind = ? AND username = ? AND address = ?",
		k.kind(), k.Username, k.Address).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return n, parseTime(last), nil
}

// SetLoginFailures records a counter's state, unless the database already
// holds a later one (writes of concurrent failures may arrive out of order).
func (s *Store) SetLoginFailures(ctx context.Context, k LoginFailureKey, failures int, last time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO login_failures(kind, username, address, failures, last_failure)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT(kind, username, address) DO UPDATE
		SET failures = excluded.failures, last_failure = excluded.last_failure
		WHERE excluded.last_failure >= login_failures.last_failure`,
		k.kind(), k.Username, k.Address, failures, formatTime(last))
	return err
}

// ClearLoginFailures forgets a counter's failures up to and including upTo.
func (s *Store) ClearLoginFailures(ctx context.Context, k LoginFailureKey, upTo time.Time) error {
	_, err := s.db.ExecContext(ctx,
		"DELETE FROM login_failures WHERE kind = ? AND username = ? AND address = ? AND last_failure <= ?",
		k.kind(), k.Username, k.Address, formatTime(upTo))
	return err
}

// DeleteLoginFailuresBefore forgets counters whose last failure is older
// than t.
func (s *Store) DeleteLoginFailuresBefore(ctx context.Context, t time.Time) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM login_failures WHERE last_failure < ?", formatTime(t))
	return err
}
