package store_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"github.com/trustdeck/trustdeck/migrations"
)

// migrationFiles returns the embedded migration file names in order.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

var createTableRE = regexp.MustCompile(`(?i)CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)`)

// tablesCreatedBy lists the tables the given migrations create.
func tablesCreatedBy(t *testing.T, files []string) []string {
	t.Helper()
	var out []string
	for _, f := range files {
		body, err := fs.ReadFile(migrations.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range createTableRE.FindAllStringSubmatch(string(body), -1) {
			out = append(out, strings.ToLower(m[1]))
		}
	}
	return out
}

// locations maps the SQLite paths the tests name to their PostgreSQL
// databases when the tests run on PostgreSQL (testpg.Enabled): a test that
// opens one path twice opens one database twice.
var locations sync.Map // path → URL

// location is where the store the test names by path lives.
func location(t *testing.T, path string) string {
	t.Helper()
	if !testpg.Enabled() {
		return path
	}
	if url, ok := locations.Load(path); ok {
		return url.(string)
	}
	url, _ := locations.LoadOrStore(path, testpg.Database(t))
	return url.(string)
}

// rawDB opens the database directly, bypassing the store's migrations.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if loc := location(t, path); store.IsPostgresURL(loc) {
		db, err = sql.Open("pgx", loc)
	} else {
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func tablesIn(t *testing.T, db *sql.DB) []string {
	t.Helper()
	q := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if testpg.Enabled() {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.ToLower(n))
	}
	return out
}

type migrationRow struct {
	Version   int
	Name      string
	AppliedAt string
}

func appliedMigrations(t *testing.T, db *sql.DB) []migrationRow {
	t.Helper()
	rows, err := db.Query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var m migrationRow
		if err := rows.Scan(&m.Version, &m.Name, &m.AppliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func open(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), location(t, path))
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return st
}

func TestMigrationsNumberedWithoutGaps(t *testing.T) {
	files := migrationFiles(t)
	if len(files) == 0 {
		t.Fatal("no migrations embedded")
	}
	if store.LatestSchema() != len(files) {
		t.Fatalf("LatestSchema() = %d, want %d (one per file; a bad file name makes it 0)", store.LatestSchema(), len(files))
	}
}

func TestOpenEmptyDatabaseAppliesEveryMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trustdeck.db")
	st := open(t, path)
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != store.LatestSchema() {
		t.Errorf("schema version %d, want %d", v, store.LatestSchema())
	}
	db := rawDB(t, path)
	have := tablesIn(t, db)
	want := append(tablesCreatedBy(t, migrationFiles(t)), "schema_migrations")
	for _, tbl := range []string{"users", "namespace_members", "sessions", "repositories"} {
		if !slices.Contains(want, tbl) {
			t.Errorf("the migrations create no %s table", tbl)
		}
	}
	for _, tbl := range want {
		if !slices.Contains(have, tbl) {
			t.Errorf("table %s missing after migration (have %v)", tbl, have)
		}
	}
	applied := appliedMigrations(t, db)
	files := migrationFiles(t)
	if len(applied) != len(files) {
		t.Fatalf("schema_migrations has %d rows, want %d", len(applied), len(files))
	}
	for i, m := range applied {
		if m.Version != i+1 || m.Name != files[i] || m.AppliedAt == "" {
			t.Errorf("schema_migrations row %d = %+v, want version %d name %s", i, m, i+1, files[i])
		}
	}
	if testpg.Enabled() {
		return
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q (%v), want wal", mode, err)
	}
}

func TestReopenExistingDatabaseKeepsDataAndAppliesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trustdeck.db")
	st := open(t, path)
	u, err := st.CreateUser(ctx, "alice", "hash", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetMemberRole(ctx, "prod", u.ID, "write"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRepository(ctx, "prod", "app", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before := appliedMigrations(t, rawDB(t, path))

	st = open(t, path)
	defer st.Close()
	after := appliedMigrations(t, rawDB(t, path))
	if !slices.Equal(before, after) {
		t.Errorf("reopening changed schema_migrations:\nbefore %v\nafter  %v", before, after)
	}
	if v, _ := st.SchemaVersion(ctx); v != store.LatestSchema() {
		t.Errorf("schema version %d, want %d", v, store.LatestSchema())
	}
	got, err := st.UserByName(ctx, "alice")
	if err != nil || got.ID != u.ID {
		t.Fatalf("user after reopen: %+v, %v", got, err)
	}
	if role, err := st.MemberRole(ctx, "prod", u.ID); err != nil || role != "write" {
		t.Errorf("role after reopen: %q, %v", role, err)
	}
	if _, err := st.Repository(ctx, "prod", "app"); err != nil {
		t.Errorf("repository after reopen: %v", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trustdeck.db")
	st := open(t, path)
	st.Close()
	db := rawDB(t, path)
	future := store.LatestSchema() + 1
	if _, err := db.Exec("INSERT INTO schema_migrations(version, name, applied_at) VALUES (" +
		strconv.Itoa(future) + ", '999_from_the_future.sql', '2099-01-01T00:00:00Z')"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st, err := store.Open(context.Background(), location(t, path))
	if err == nil {
		st.Close()
		t.Fatal("Open accepted a database with a newer schema")
	}
	for _, want := range []string{"newer", "upgrade"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestUpgradeFromFirstSchema simulates a database written by a trustdeck
// that knew only migration 1: opening it applies the rest and keeps data.
func TestUpgradeFromFirstSchema(t *testing.T) {
	ctx := context.Background()
	files := migrationFiles(t)
	if len(files) < 2 {
		t.Skip("only one migration: there is no upgrade path to test yet")
	}
	path := filepath.Join(t.TempDir(), "trustdeck.db")
	db := rawDB(t, path)
	first, err := fs.ReadFile(migrations.FS, files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		store.Schema(location(t, path), "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"),
		store.Schema(location(t, path), string(first)),
		"INSERT INTO schema_migrations(version, name, applied_at) VALUES (1, '" + files[0] + "', '2020-01-01T00:00:00Z')",
		"INSERT INTO users(username, password_hash, is_admin, created_at) VALUES ('old', 'hash', 1, '2020-01-01T00:00:00Z')",
		"INSERT INTO repositories(namespace, name, created_at, created_by) VALUES ('prod', 'app', '2020-01-01T00:00:00Z', 'old')",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	db.Close()
	later := tablesCreatedBy(t, files[1:])
	for _, tbl := range later {
		if slices.Contains(tablesIn(t, rawDB(t, path)), tbl) {
			t.Fatalf("table %s exists before the upgrade: the simulation is wrong", tbl)
		}
	}

	st := open(t, path)
	defer st.Close()
	if v, _ := st.SchemaVersion(ctx); v != store.LatestSchema() {
		t.Errorf("schema version after upgrade %d, want %d", v, store.LatestSchema())
	}
	have := tablesIn(t, rawDB(t, path))
	for _, tbl := range later {
		if !slices.Contains(have, tbl) {
			t.Errorf("table %s missing after upgrade", tbl)
		}
	}
	applied := appliedMigrations(t, rawDB(t, path))
	if len(applied) != len(files) || applied[0].AppliedAt != "2020-01-01T00:00:00Z" {
		t.Errorf("schema_migrations after upgrade: %v", applied)
	}
	if u, err := st.UserByName(ctx, "old"); err != nil || !u.IsAdmin {
		t.Errorf("user from schema 1: %+v, %v", u, err)
	}
	if _, err := st.Repository(ctx, "prod", "app"); err != nil {
		t.Errorf("repository from schema 1: %v", err)
	}
}

// TestStoreErrors checks the store's shared error values on the queries the
// services map to domain errors.
func TestStoreErrors(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "trustdeck.db"))
	defer st.Close()
	if _, err := st.CreateUser(ctx, "alice", "hash", false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRepository(ctx, "prod", "app", "alice"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"duplicate user", func() error { _, err := st.CreateUser(ctx, "alice", "h", false); return err }(), store.ErrConflict},
		{"duplicate repository", func() error { _, err := st.CreateRepository(ctx, "prod", "app", "x"); return err }(), store.ErrConflict},
		{"unknown user", func() error { _, err := st.UserByName(ctx, "bob"); return err }(), store.ErrNotFound},
		{"unknown repository", func() error { _, err := st.Repository(ctx, "prod", "nope"); return err }(), store.ErrNotFound},
		{"delete unknown repository", st.DeleteRepository(ctx, "prod", "nope", "reg/prod/nope"), store.ErrNotFound},
		{"unknown session", func() error { _, err := st.SessionUser(ctx, "nope"); return err }(), store.ErrNotFound},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}

// The database and its WAL files are the owner's alone, whatever the umask
// and the mode of the data directory, and files an older trustdeck left
// readable to others are tightened when the store opens them.
func TestOpenFileModes(t *testing.T) {
	if testpg.Enabled() {
		t.Skip("SQLite's database files: PostgreSQL keeps none in the data directory (the SQLite pass runs this test)")
	}
	defer syscall.Umask(syscall.Umask(0o022)) // the usual umask, which gave 0644
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "trustdeck.db")
	files := []string{path, path + "-wal", path + "-shm"}
	wantPrivate := func(t *testing.T) {
		t.Helper()
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err) // all three exist while the database is open in WAL mode
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("%s has mode %o, want 600", filepath.Base(f), got)
			}
		}
	}

	t.Run("new database in an existing directory", func(t *testing.T) {
		st := open(t, path)
		defer st.Close()
		wantPrivate(t)
	})

	t.Run("files left readable to others", func(t *testing.T) {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		// an older trustdeck still has the database open: its WAL files
		// exist, with the database's mode
		db := rawDB(t, path)
		if _, err := db.Exec("PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t (x)"); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o644 {
				t.Fatalf("%s before: %v %v", f, fi.Mode(), err)
			}
		}
		st := open(t, path)
		defer st.Close()
		wantPrivate(t)
	})
}
