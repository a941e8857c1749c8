package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// User is a row of users.
type User struct {
	ID           int64
	Username     string
	PasswordHash string
	IsAdmin      bool
	CreatedAt    time.Time
	// DisabledAt is when an administrator disabled the account (zero:
	// enabled).
	DisabledAt time.Time
	// PasswordGenerated: the password is still the one trustdeck
	// generated on its first start (MarkPasswordGenerated).
	PasswordGenerated bool
}

// Member is a user's role in a namespace.
type Member struct {
	Namespace string
	Username  string
	UserID    int64
	Role      string
}

const userCols = "id, username, password_hash, is_admin, created_at, disabled_at, password_generated"

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var created string
	var disabled sql.NullString
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.IsAdmin, &created, &disabled, &u.PasswordGenerated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	u.CreatedAt, u.DisabledAt = parseTime(created), parseTime(disabled.String)
	return &u, nil
}

// CreateUser inserts a user; ErrConflict if the name is taken.
func (s *Store) CreateUser(ctx context.Context, username, passwordHash string, admin bool) (*User, error) {
	var id int64
	err := s.db.QueryRowContext(ctx,
		"INSERT INTO users(username, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?) RETURNING id",
		username, passwordHash, admin, now()).Scan(&id)
	if isUniqueViolation(err) {
		return nil, ErrConflict
	}
	if err != nil {
		return nil, err
	}
	return s.UserByID(ctx, id)
}

// UserByID returns one user or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	return scanUser(s.db.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
}

// UserByName returns one user or ErrNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (*User, error) {
	return scanUser(s.db.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE username = ?", username))
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n)
	return n, err
}

// ListUsers returns every user by name.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+userCols+" FROM users ORDER BY username")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// SetMemberRole grants role on namespace to the user (replacing any other).
func (s *Store) SetMemberRole(ctx context.Context, namespace string, userID int64, role string) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		if _, err := t.ExecContext(ctx, `INSERT INTO namespace_members(namespace, user_id, role, updated_at)
			VALUES (?, ?, ?, ?) ON CONFLICT(namespace, user_id) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at`,
			namespace, userID, role, now()); err != nil {
			return err
		}
		return s.userChanged(ctx, t, userID)
	})
}

// userChanged logs, in t, that what userID may do or how they sign in
// changed: the other replicas void the user's registry tokens (TopicUser,
// keyed by user name). Call it before deleting the user.
func (s *Store) userChanged(ctx context.Context, t *sql.Tx, userID int64) error {
	var username string
	err := t.QueryRowContext(ctx, "SELECT username FROM users WHERE id = ?", userID).Scan(&username)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return s.recordChange(ctx, t, TopicUser, username)
}

// MemberRole returns the user's role in namespace, "" if none.
func (s *Store) MemberRole(ctx context.Context, namespace string, userID int64) (string, error) {
	var role string
	err := s.db.QueryRowContext(ctx, "SELECT role FROM namespace_members WHERE namespace = ? AND user_id = ?",
		namespace, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return role, err
}

// ListMembers returns every grant, by namespace then user name.
func (s *Store) ListMembers(ctx context.Context) ([]Member, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.namespace, u.username, u.id, m.role
		FROM namespace_members m JOIN users u ON u.id = m.user_id ORDER BY m.namespace, u.username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.Namespace, &m.Username, &m.UserID, &m.Role); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UserNamespaces returns the namespaces where the user holds any role.
func (s *Store) UserNamespaces(ctx context.Context, userID int64) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT namespace, role FROM namespace_members WHERE user_id = ?", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var ns, role string
		if err := rows.Scan(&ns, &role); err != nil {
			return nil, err
		}
		out[ns] = role
	}
	return out, rows.Err()
}

// CreateSession records a session by the hash of its token.
func (s *Store) CreateSession(ctx context.Context, idHash string, userID int64, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO sessions(id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
		idHash, userID, now(), formatTime(expires))
	return err
}

// SessionUser returns the user of a live session, or ErrNotFound.
func (s *Store) SessionUser(ctx context.Context, idHash string) (*User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT u.id, u.username, u.password_hash, u.is_admin, u.created_at, u.disabled_at, u.password_generated
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id = ? AND s.expires_at > ? AND u.disabled_at IS NULL`,
		idHash, now()))
}

// DeleteSession revokes one session.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", idHash)
	return err
}

// DeleteExpiredSessions removes sessions past their expiry.
func (s *Store) DeleteExpiredSessions(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ?", now())
	return err
}

// MarkPasswordGenerated records that the user's password is the one
// trustdeck generated; SetPasswordHash clears the mark.
func (s *Store) MarkPasswordGenerated(ctx context.Context, userID int64) error {
	_, err := s.db.ExecContext(ctx, "UPDATE users SET password_generated = 1 WHERE id = ?", userID)
	return err
}

// PasswordGenerated reports whether the user still has the password
// trustdeck generated (false for an unknown user).
func (s *Store) PasswordGenerated(ctx context.Context, userID int64) (bool, error) {
	var generated bool
	err := s.db.QueryRowContext(ctx, "SELECT password_generated FROM users WHERE id = ?", userID).Scan(&generated)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return generated, err
}

// SetPasswordHash replaces a user's password hash (no longer a generated
// one) and ends all their sessions (other devices must sign in with the new
// password).
func (s *Store) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		res, err := t.ExecContext(ctx, "UPDATE users SET password_hash = ?, password_generated = 0 WHERE id = ?", hash, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if _, err = t.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID); err != nil {
			return err
		}
		return s.userChanged(ctx, t, userID)
	})
}

// SetUserDisabled disables (ending all their sessions) or enables a user;
// ErrNotFound if there is none.
func (s *Store) SetUserDisabled(ctx context.Context, userID int64, disabled bool) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		var at any // NULL: enabled
		if disabled {
			at = now()
		}
		res, err := t.ExecContext(ctx, "UPDATE users SET disabled_at = ? WHERE id = ?", at, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if disabled {
			if _, err = t.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID); err != nil {
				return err
			}
		}
		return s.userChanged(ctx, t, userID)
	})
}

// DeleteUser removes a user with their roles, sessions and registered keys
// (the audit keeps their name); ErrNotFound if there is none.
func (s *Store) DeleteUser(ctx context.Context, userID int64) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		if err := s.userChanged(ctx, t, userID); err != nil {
			return err
		}
		_, err := t.ExecContext(ctx, "DELETE FROM users WHERE id = ?", userID)
		return err
	})
}

// DeleteMember removes the user's role in namespace; ErrNotFound if there
// is none.
func (s *Store) DeleteMember(ctx context.Context, namespace string, userID int64) error {
	return s.tx(ctx, func(t *sql.Tx) error {
		res, err := t.ExecContext(ctx, "DELETE FROM namespace_members WHERE namespace = ? AND user_id = ?", namespace, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.userChanged(ctx, t, userID)
	})
}
