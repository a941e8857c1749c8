// Package store is trustdeck's only door to its database, SQLite (a file in
// the data directory, the default) or PostgreSQL (--database; postgres.go
// holds every difference): it opens the database, applies the embedded
// migrations and offers typed queries. It knows nothing of HTTP or of the
// services above it.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/trustdeck/trustdeck/migrations"
)

// Errors every query reports in the same words; services map them to their
// domain errors.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: already exists")
)

// Store wraps the database handle. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect dialect
	where   string // for logs: the SQLite file, or the PostgreSQL server and database without password
	// stmts holds the statements of the hot queries, prepared once (see
	// prepared).
	stmts sync.Map // query text → *sql.Stmt
	// replica names this process's Store among the replicas sharing the
	// database (cluster.go).
	replica     string
	replicaOnce sync.Once
}

// maxConns bounds the database connections. As many stay open when idle
// (for up to connMaxIdle): a pool that closes connections under load opens
// them again, each with its own prepared statements and settings.
const (
	maxConns    = 8
	connMaxIdle = 5 * time.Minute
)

// Open opens the database at location and migrates it to the newest
// schema. It refuses a database whose schema is newer than this binary
// knows. location is a PostgreSQL URL (postgres://…, IsPostgresURL) or the
// path of a SQLite file, created if needed and opened in WAL mode with a
// busy timeout; the file and its -wal and -shm files are readable and
// writable by their owner only.
func Open(ctx context.Context, location string) (*Store, error) {
	if IsPostgresURL(location) {
		db, where, err := openPostgres(ctx, location)
		if err != nil {
			return nil, err
		}
		return opened(ctx, db, dialectPostgres, "PostgreSQL "+where)
	}
	path := location
	if err := restrictFiles(path); err != nil {
		return nil, err
	}
	// Per-connection settings; WAL, a property of the database file, is set
	// once below.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if _, err := db.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return opened(ctx, db, dialectSQLite, "SQLite "+path)
}

// opened is the Store on db, migrated.
func opened(ctx context.Context, db *sql.DB, d dialect, where string) (*Store, error) {
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(connMaxIdle)
	s := &Store{db: db, dialect: d, where: where}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// restrictFiles creates the database file with mode 0600 if it is missing,
// and takes group and other permissions away from it and from its -wal and
// -shm files if they exist. SQLite creates a database with mode 0644 less the
// umask, and its -wal and -shm files with the database's mode, so they stay
// 0600 from then on.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("create database %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create database %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			err = os.Chmod(p, fi.Mode().Perm()&0o700)
		}
		if err != nil {
			return fmt.Errorf("restrict database file: %w", err)
		}
	}
	return nil
}

// String says which database the store is, for logs (no password).
func (s *Store) String() string { return s.where }

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	return s.db.Close()
}

// querier runs a query: a prepared statement, or its text on the database.
type querier interface {
	QueryRowContext(ctx context.Context, args ...any) *sql.Row
}

// prepared returns query as a statement prepared once (on each connection
// the first time it runs there) instead of on every call. Use it for the
// queries of hot paths only: every query text kept here stays prepared.
func (s *Store) prepared(ctx context.Context, query string) querier {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return unprepared{s.db, query} // the query reports the error
	}
	if old, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return old.(*sql.Stmt)
	}
	return st
}

// unprepared runs a query text on the database.
type unprepared struct {
	db    *sql.DB
	query string
}

func (u unprepared) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return u.db.QueryRowContext(ctx, u.query, args...)
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// tx runs fn in one transaction and commits if fn returns nil. On SQLite
// it begins IMMEDIATE: writers queue on the busy timeout instead of failing
// on lock upgrade. On PostgreSQL it is SERIALIZABLE, and run again (fn
// must leave nothing behind but its writes) when PostgreSQL aborts it for a
// conflict with a concurrent transaction.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.dialect != dialectPostgres {
		return s.tx1(ctx, nil, fn)
	}
	opts := &sql.TxOptions{Isolation: sql.LevelSerializable}
	for attempt := 1; ; attempt++ {
		err := s.tx1(ctx, opts, fn)
		if !retryable(err) || attempt == maxTxAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * time.Duration(rand.IntN(10)+1) * time.Millisecond):
		}
	}
}

// maxTxAttempts bounds the runs of one PostgreSQL transaction.
const maxTxAttempts = 50

func (s *Store) tx1(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	t, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(t); err != nil {
		t.Rollback()
		return err
	}
	return t.Commit()
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must be NNN_description.sql", name)
		}
		body, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := range out {
		if out[i].version != i+1 {
			return nil, fmt.Errorf("migrations are not numbered 1..n without gaps (found %s)", out[i].name)
		}
	}
	return out, nil
}

// LatestSchema is the newest schema version this binary knows.
func LatestSchema() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// SchemaVersion reports the version recorded in the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v)
	return int(v.Int64), err
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	// Replicas starting at once on one database migrate one at a time: on
	// PostgreSQL under a session advisory lock (taken before the schema is
	// read), on SQLite by re-reading, inside each migration's immediate
	// transaction, whether another process applied it meanwhile.
	if s.dialect == dialectPostgres {
		unlock, err := s.pgSessionLock(ctx, migrationLockKey)
		if err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		defer unlock()
	}
	if _, err := s.db.ExecContext(ctx, s.schema(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`)); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this trustdeck knows (%d): upgrade trustdeck", current, len(ms))
	}
	for _, m := range ms[current:] {
		err := s.tx(ctx, func(t *sql.Tx) error {
			var applied int
			if err := t.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?",
				m.version).Scan(&applied); err != nil {
				return err
			}
			if applied > 0 {
				return nil // another replica applied it meanwhile
			}
			if _, err := t.ExecContext(ctx, s.schema(m.sql)); err != nil {
				return err
			}
			_, err := t.ExecContext(ctx, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, now())
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
	}
	return nil
}

// migrationLockKey is the PostgreSQL advisory lock key that serialises
// migrations between replicas (any constant no other lock of ours uses).
const migrationLockKey = 0x7472757374646b01 // "trustdk" 1

// pgSessionLock takes a session-level advisory lock on a connection of its
// own, waiting for it; unlock releases it and returns the connection.
func (s *Store) pgSessionLock(ctx context.Context, key int64) (unlock func(), err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", key); err != nil {
		conn.Close()
		return nil, err
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(?)", key)
		conn.Close()
	}, nil
}

// schema is ddl in the store's dialect.
func (s *Store) schema(ddl string) string {
	if s.dialect == dialectPostgres {
		return pgSchema(ddl)
	}
	return ddl
}

// timeFormat is how every TEXT time column stores a time: UTC with a
// fixed-width fraction, so that text order is time order (SQL compares and
// sorts these columns as text). RFC 3339 parsing reads it back.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime renders t for storage.
func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// now is the current time as stored.
func now() string { return formatTime(time.Now()) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// isUniqueViolation reports a UNIQUE/PRIMARY KEY constraint failure.
func isUniqueViolation(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") || pgCode(err) == pgUniqueViolation)
}

// isForeignKeyViolation reports a row that references a missing one.
func isForeignKeyViolation(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "FOREIGN KEY constraint failed") || pgCode(err) == pgForeignKeyViolation)
}
