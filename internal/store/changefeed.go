package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ChangefeedCursor returns the last change ID read from server's changefeed
// ("" if none was read yet).
func (s *Store) ChangefeedCursor(ctx context.Context, server string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT last_change_id FROM notary_changefeed WHERE server = ?`, server).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// GUNChange is one changefeed record as trustdeck keeps it.
type GUNChange struct {
	GUN       string
	ChangeID  string
	ChangedAt time.Time
	Category  string // update or deletion
}

// SaveChangefeed records a batch of server's changes (the latest per GUN)
// and moves the cursor to cursor, in one transaction.
func (s *Store) SaveChangefeed(ctx context.Context, server, cursor string, changes []GUNChange) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		for _, c := range changes {
			if _, err := t.ExecContext(ctx, `INSERT INTO notary_gun_changes(server, gun, change_id, changed_at, category)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT(server, gun) DO UPDATE SET change_id = excluded.change_id,
				changed_at = excluded.changed_at, category = excluded.category`,
				server, c.GUN, c.ChangeID, formatTime(c.ChangedAt), c.Category); err != nil {
				return err
			}
		}
		_, err := t.ExecContext(ctx, `INSERT INTO notary_changefeed(server, last_change_id, updated_at) VALUES (?, ?, ?)
			ON CONFLICT(server) DO UPDATE SET last_change_id = excluded.last_change_id, updated_at = excluded.updated_at`,
			server, cursor, now())
		return err
	})
}

// LastGUNChange returns when server's changefeed last reported an update of
// gun (zero if never, or if the last change was a deletion).
func (s *Store) LastGUNChange(ctx context.Context, server, gun string) (time.Time, error) {
	var at, category string
	err := s.db.QueryRowContext(ctx, `SELECT changed_at, category FROM notary_gun_changes WHERE server = ? AND gun = ?`,
		server, gun).Scan(&at, &category)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && category != "update") {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return parseTime(at), nil
}
