package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/tuf/data"
)

// Change categories of notary's changefeed.
const (
	changeUpdate   = "update"
	changeDeletion = "deletion"
)

// TUFStore keeps the embedded Notary server's TUF metadata in the tables
// tuf_files and tuf_changes. It implements notary's storage.MetaStore with
// the semantics of notary's own SQL store, and returns notary's error values
// (storage.ErrOldVersion{}, storage.ErrNotFound{}, storage.ErrBadQuery{})
// unwrapped, because notary's handlers type-assert them.
//
// Writers run in the store's transactions (BEGIN IMMEDIATE on SQLite,
// SERIALIZABLE and retried on PostgreSQL), so version checks and inserts of
// concurrent publishers are serialised. It is safe for
// concurrent use.
type TUFStore struct {
	st *Store
	// in, when set, is the transaction (holding the GUN's lock) this
	// store reads and writes in (Tx.TUF).
	in *Tx
}

var _ storage.MetaStore = (*TUFStore)(nil)

// TUF returns the TUF metadata store backed by this database.
func (s *Store) TUF() *TUFStore {
	return &TUFStore{st: s}
}

// write runs fn in a transaction holding gun's write lock, and records the
// change of gun's trust data in it: in the transaction the store is bound
// to, if any, else in one of its own.
func (t *TUFStore) write(ctx context.Context, gun, topic string, fn func(*sql.Tx) error) error {
	run := func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return t.st.recordChange(ctx, tx, topic, gun)
	}
	if t.in != nil {
		if t.in.gun != gun {
			return fmt.Errorf("store: a transaction locking %s cannot write %s", t.in.gun, gun)
		}
		return run(t.in.tx)
	}
	return t.st.GUNTx(ctx, gun, func(x *Tx) error { return run(x.tx) })
}

// storage.MetaStore carries no context; its methods run under this one.
func bg() context.Context { return context.Background() }

func checksum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// UpdateCurrent stores a new version of one role if it is higher than every
// stored version of that role, else it returns storage.ErrOldVersion{}.
func (t *TUFStore) UpdateCurrent(gun data.GUN, update storage.MetaUpdate) error {
	return t.UpdateMany(gun, []storage.MetaUpdate{update})
}

// UpdateMany stores all updates or none, in one transaction. Each update's
// version must be higher than every version of its role stored before the
// call; several versions of one role may come in one batch, in any order,
// but the same role and version twice is refused. Refusals are
// storage.ErrOldVersion{}. Each timestamp stored records an "update" change.
func (t *TUFStore) UpdateMany(gun data.GUN, updates []storage.MetaUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	type roleVersion struct {
		role    string
		version int
	}
	seen := make(map[roleVersion]bool, len(updates))
	for _, u := range updates {
		k := roleVersion{u.Role.String(), u.Version}
		if seen[k] {
			return storage.ErrOldVersion{}
		}
		seen[k] = true
	}
	ctx := bg()
	return t.write(ctx, gun.String(), TopicTUF, func(tx *sql.Tx) error {
		latest, err := latestVersions(ctx, tx, gun.String())
		if err != nil {
			return err
		}
		for _, u := range updates {
			if v, ok := latest[u.Role.String()]; ok && v >= u.Version {
				return storage.ErrOldVersion{}
			}
		}
		created := now()
		for _, u := range updates {
			body := u.Data
			if body == nil {
				body = []byte{}
			}
			sum := checksum(body)
			_, err := tx.ExecContext(ctx,
				`INSERT INTO tuf_files(gun, role, version, sha256, data, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				gun.String(), u.Role.String(), u.Version, sum, body, created)
			if isUniqueViolation(err) {
				return storage.ErrOldVersion{}
			}
			if err != nil {
				return fmt.Errorf("store tuf file %s %s v%d: %w", gun, u.Role, u.Version, err)
			}
			if u.Role == data.CanonicalTimestampRole {
				if err := addChange(ctx, tx, gun.String(), u.Version, sum, changeUpdate, created); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// latestVersions maps each role of gun to its highest stored version.
func latestVersions(ctx context.Context, tx *sql.Tx, gun string) (map[string]int, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT role, MAX(version) FROM tuf_files WHERE gun = ? GROUP BY role`, gun)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var role string
		var v int
		if err := rows.Scan(&role, &v); err != nil {
			return nil, err
		}
		out[role] = v
	}
	return out, rows.Err()
}

func addChange(ctx context.Context, tx *sql.Tx, gun string, version int, sum, category, created string) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO tuf_changes(gun, version, sha256, category, created_at) VALUES (?, ?, ?, ?, ?)`,
		gun, version, sum, category, created)
	if err != nil {
		return fmt.Errorf("record tuf change: %w", err)
	}
	return nil
}

// getOne runs a query returning (created_at, data) and maps no row to
// storage.ErrNotFound{}.
func (t *TUFStore) getOne(query string, args ...any) (*time.Time, []byte, error) {
	var created string
	var body []byte
	var row *sql.Row
	if t.in != nil {
		row = t.in.tx.QueryRowContext(t.in.ctx, query, args...)
	} else {
		row = t.st.prepared(bg(), query).QueryRowContext(bg(), args...)
	}
	err := row.Scan(&created, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, storage.ErrNotFound{}
	}
	if err != nil {
		return nil, nil, err
	}
	ts := parseTime(created)
	if body == nil {
		body = []byte{}
	}
	return &ts, body, nil
}

// GetCurrent returns the highest version of a role, or storage.ErrNotFound{}.
func (t *TUFStore) GetCurrent(gun data.GUN, role data.RoleName) (*time.Time, []byte, error) {
	return t.getOne(`SELECT created_at, data FROM tuf_files WHERE gun = ? AND role = ?
		ORDER BY version DESC LIMIT 1`, gun.String(), role.String())
}

// GetChecksum returns the file of a role whose sha256 (hex, either case) is
// checksum, or storage.ErrNotFound{}.
func (t *TUFStore) GetChecksum(gun data.GUN, role data.RoleName, sum string) (*time.Time, []byte, error) {
	return t.getOne(`SELECT created_at, data FROM tuf_files WHERE gun = ? AND role = ? AND sha256 = ?
		ORDER BY version DESC LIMIT 1`, gun.String(), role.String(), strings.ToLower(sum))
}

// GetVersion returns one version of a role, or storage.ErrNotFound{}.
func (t *TUFStore) GetVersion(gun data.GUN, role data.RoleName, version int) (*time.Time, []byte, error) {
	return t.getOne(`SELECT created_at, data FROM tuf_files WHERE gun = ? AND role = ? AND version = ?`,
		gun.String(), role.String(), version)
}

// Delete removes every file of exactly this GUN (not GUNs it prefixes) and
// records a "deletion" change if anything was removed. Deleting an unknown
// GUN is not an error.
func (t *TUFStore) Delete(gun data.GUN) error {
	ctx := bg()
	return t.write(ctx, gun.String(), TopicTUFDeleted, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tuf_files WHERE gun = ?`, gun.String())
		if err != nil {
			return fmt.Errorf("delete tuf files of %s: %w", gun, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		return addChange(ctx, tx, gun.String(), 0, "", changeDeletion, now())
	})
}

// GetChanges pages through the changefeed, oldest first. changeID "" or "0"
// starts before the first change, "-1" (any negative) after the newest;
// the change named is never included. records > 0 takes the changes after
// changeID, records < 0 the changes before it. filterGUN, when not empty,
// keeps only that GUN's changes. A changeID that is no 32-bit integer gives
// storage.ErrBadQuery{}.
func (t *TUFStore) GetChanges(changeID string, records int, filterGUN string) ([]storage.Change, error) {
	var id int64
	if changeID != "" {
		var err error
		id, err = strconv.ParseInt(changeID, 10, 32)
		if err != nil {
			return nil, storage.ErrBadQuery{}
		}
	}
	backwards := id < 0
	if records < 0 {
		backwards = true
		records = -records
	}

	var (
		where []string
		args  []any
	)
	if filterGUN != "" {
		where = append(where, "gun = ?")
		args = append(args, filterGUN)
	}
	order := "ASC"
	if backwards {
		order = "DESC"
		if id > 0 {
			where = append(where, "id < ?")
			args = append(args, id)
		}
	} else {
		where = append(where, "id > ?")
		args = append(args, id)
	}
	q := "SELECT id, gun, version, sha256, category, created_at FROM tuf_changes"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id " + order + " LIMIT ?"
	args = append(args, records)

	rows, err := t.st.db.QueryContext(bg(), q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []storage.Change{}
	for rows.Next() {
		var (
			c       storage.Change
			cid     int64
			created string
		)
		if err := rows.Scan(&cid, &c.GUN, &c.Version, &c.SHA256, &c.Category, &created); err != nil {
			return nil, err
		}
		c.ID = strconv.FormatInt(cid, 10)
		c.CreatedAt = parseTime(created)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if backwards {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// ListGUNsWithData returns, sorted, every GUN that has TUF files.
func (t *TUFStore) ListGUNsWithData(ctx context.Context) ([]string, error) {
	rows, err := t.st.db.QueryContext(ctx, `SELECT DISTINCT gun FROM tuf_files ORDER BY gun`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// CurrentAll returns the current (highest version) file of every role of
// gun, keyed by role name. A GUN without data gives an empty map.
func (t *TUFStore) CurrentAll(ctx context.Context, gun string) (map[string][]byte, error) {
	rows, err := t.st.db.QueryContext(ctx, `SELECT f.role, f.data FROM tuf_files f
		WHERE f.gun = ? AND f.version = (
			SELECT MAX(version) FROM tuf_files WHERE gun = f.gun AND role = f.role)`, gun)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string][]byte)
	for rows.Next() {
		var role string
		var body []byte
		if err := rows.Scan(&role, &body); err != nil {
			return nil, err
		}
		out[role] = body
	}
	return out, rows.Err()
}
