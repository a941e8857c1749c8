package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL is the store's second dialect (--database postgres://…). The
// queries of this package are written once, in SQLite's SQL; the few
// differences are handled here, in one place, so that the query files stay
// dialect-free:
//
//   - placeholders: every statement's "?" becomes "$1", "$2", … as it is
//     prepared or run (pgConn below, a thin wrapper of pgx's database/sql
//     driver), and the one SQLite function without a PostgreSQL namesake,
//     instr(haystack, needle), becomes strpos;
//   - arguments: Go bools (stored in INTEGER columns, as SQLite stores them)
//     are sent as 0 and 1;
//   - schema: the migrations in migrations/ are translated mechanically as
//     they are applied (pgSchema): no statement needed a per-migration
//     override, so there is no override table;
//   - errors: unique violations (23505) are ErrConflict like SQLite's
//     "UNIQUE constraint failed" (isUniqueViolation);
//   - transactions run SERIALIZABLE, the isolation SQLite's single writer
//     gives, and are retried when PostgreSQL aborts one for a serialization
//     failure or a deadlock (Store.tx), as SQLite's busy timeout makes a
//     writer wait.

// dialect is the SQL database behind a Store.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// IsPostgresURL reports whether location names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgresURL(location string) bool {
	return strings.HasPrefix(location, "postgres://") || strings.HasPrefix(location, "postgresql://")
}

// openPostgres connects to the PostgreSQL database at url through pgx's
// database/sql driver, wrapped to speak the store's SQL. where is url
// without its password, for messages.
func openPostgres(ctx context.Context, url string) (db *sql.DB, where string, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message quotes the URL, password included: name the cause only.
		return nil, "", errors.New("open database: the --database URL is not a valid PostgreSQL connection URL")
	}
	where = fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	db = sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("open database %s: %w", where, err)
	}
	return db, where, nil
}

// pgConnector hands out pgConns.
type pgConnector struct{ inner driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{conn.(*stdlib.Conn)}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.inner.Driver() }

// pgConn is pgx's connection with the store's SQL rewritten (pgQuery) on
// the way in; every other method is pgx's own.
type pgConn struct{ *stdlib.Conn }

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(pgQuery(query))
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, pgQuery(query))
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, pgQuery(query), args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, pgQuery(query), args)
}

// CheckNamedValue sends bools as the integers the INTEGER columns hold.
func (c *pgConn) CheckNamedValue(v *driver.NamedValue) error {
	if b, ok := v.Value.(bool); ok {
		v.Value = int64(0)
		if b {
			v.Value = int64(1)
		}
	}
	return nil
}

// sqlSegments splits SQL text into code and the parts no rewrite may touch
// (string literals, quoted identifiers, comments) and calls code or keep
// for each, in order.
func sqlSegments(q string, code, keep func(string)) {
	start := 0
	for i := 0; i < len(q); {
		var end int
		switch {
		case q[i] == '\'' || q[i] == '"':
			end = strings.IndexByte(q[i+1:], q[i])
			if end < 0 {
				end = len(q)
			} else {
				end += i + 2
			}
		case strings.HasPrefix(q[i:], "--"):
			end = strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q)
			} else {
				end += i
			}
		case strings.HasPrefix(q[i:], "/*"):
			end = strings.Index(q[i:], "*/")
			if end < 0 {
				end = len(q)
			} else {
				end += i + 2
			}
		default:
			i++
			continue
		}
		code(q[start:i])
		keep(q[i:end])
		start, i = end, end
	}
	code(q[start:])
}

var instrRE = regexp.MustCompile(`(?i)\binstr\s*\(`)

// pgQuery rewrites one statement of the store's SQL for PostgreSQL:
// positional "?" placeholders become "$n" and instr( becomes strpos( (same
// arguments, same result).
func pgQuery(q string) string {
	var b strings.Builder
	n := 0
	sqlSegments(q, func(code string) {
		code = instrRE.ReplaceAllString(code, "strpos(")
		for {
			i := strings.IndexByte(code, '?')
			if i < 0 {
				break
			}
			n++
			b.WriteString(code[:i])
			b.WriteString("$" + strconv.Itoa(n))
			code = code[i+1:]
		}
		b.WriteString(code)
	}, func(kept string) { b.WriteString(kept) })
	return b.String()
}

// The schema rewrites of pgSchema, in order.
var (
	// SQLite's rowid alias: an id the database assigns (AUTOINCREMENT: and
	// never reuses, as a PostgreSQL identity never does). A column that
	// REFERENCES another table's id is a plain key.
	integerKeyRE = regexp.MustCompile(`\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?(\s+REFERENCES\b)?`)
	integerRE    = regexp.MustCompile(`\bINTEGER\b`)
	blobRE       = regexp.MustCompile(`\bBLOB\b`)
	// SQLite compares and sorts text by its bytes; the "C" collation does
	// the same whatever the database's locale, so that every ORDER BY and
	// every comparison of stored times (text) gives the same answer.
	textRE       = regexp.MustCompile(`\bTEXT\b`)
	withoutRowid = regexp.MustCompile(`\)\s*WITHOUT\s+ROWID\b`)
)

// pgSchema translates a migration (DDL in SQLite's dialect, as the files in
// migrations/ are written) for PostgreSQL. The rewrite is mechanical and
// touches types and table options only, never comments or literals:
//
//	INTEGER PRIMARY KEY [AUTOINCREMENT]  → BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY
//	INTEGER PRIMARY KEY REFERENCES …     → BIGINT PRIMARY KEY REFERENCES …
//	INTEGER → BIGINT (SQLite's integers are 64-bit), BLOB → BYTEA,
//	TEXT → TEXT COLLATE "C" (byte order, as SQLite), ") WITHOUT ROWID" → ")",
//	a table SQLite gives a rowid of its own gets a rowid column (addRowid).
//
// Everything else the migrations use (CHECK, partial indexes, REFERENCES
// … ON DELETE, ALTER TABLE … ADD COLUMN, DEFAULT) means the same in both.
// A future migration PostgreSQL cannot take after these rewrites gets a
// per-dialect override keyed by its number (TestPostgresSchemaTranslation
// applies every migration to a real PostgreSQL, so the need shows).
func pgSchema(ddl string) string {
	ddl = addRowid(ddl)
	var b strings.Builder
	sqlSegments(ddl, func(code string) {
		code = integerKeyRE.ReplaceAllStringFunc(code, func(m string) string {
			if strings.HasSuffix(m, "REFERENCES") {
				return "BIGINT PRIMARY KEY REFERENCES"
			}
			return "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
		})
		code = integerRE.ReplaceAllString(code, "BIGINT")
		code = blobRE.ReplaceAllString(code, "BYTEA")
		code = textRE.ReplaceAllString(code, `TEXT COLLATE "C"`)
		code = withoutRowid.ReplaceAllString(code, ")")
		b.WriteString(code)
	}, func(kept string) { b.WriteString(kept) })
	return b.String()
}

var (
	createTableRE  = regexp.MustCompile(`(?i)\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\w+\s*\(`)
	rowidAliasRE   = regexp.MustCompile(`(?i)\bINTEGER\s+PRIMARY\s+KEY\b`)
	withoutRowidRE = regexp.MustCompile(`(?i)^\s*WITHOUT\s+ROWID\b`)
)

// addRowid adds a column "rowid" (an identity: insertion order) to every
// table of ddl that has one in SQLite of its own: not WITHOUT ROWID, and no
// INTEGER PRIMARY KEY column (which is the rowid, under its name). Queries
// that order by insertion (ORDER BY rowid) then read the same on both.
func addRowid(ddl string) string {
	// Find the tables in the code only: comments and literals blanked.
	var m strings.Builder
	sqlSegments(ddl, func(code string) { m.WriteString(code) },
		func(kept string) { m.WriteString(strings.Repeat(" ", len(kept))) })
	mask := m.String()
	var at []int // where to insert, after each table's "("
	for _, loc := range createTableRE.FindAllStringIndex(mask, -1) {
		open, depth, end := loc[1], 1, -1
		for i := open; i < len(mask) && end < 0; i++ {
			switch mask[i] {
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					end = i
				}
			}
		}
		if end < 0 || rowidAliasRE.MatchString(mask[open:end]) || withoutRowidRE.MatchString(mask[end+1:]) {
			continue
		}
		at = append(at, open)
	}
	for i := len(at) - 1; i >= 0; i-- {
		ddl = ddl[:at[i]] + "rowid BIGINT GENERATED BY DEFAULT AS IDENTITY, " + ddl[at[i]:]
	}
	return ddl
}

// PostgreSQL error codes the store tells apart.
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// retryable reports an error after which PostgreSQL asks for the whole
// transaction to be run again.
func retryable(err error) bool {
	c := pgCode(err)
	return c == pgSerializationFailure || c == pgDeadlockDetected
}
