package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// Repository is a catalog entry.
type Repository struct {
	ID        int64
	Namespace string
	Name      string
	CreatedAt time.Time
	CreatedBy string
}

// RepositoryQuery selects a page of the catalog.
type RepositoryQuery struct {
	Search     string   // substring of "namespace/name"
	Namespaces []string // when non-nil, only these namespaces
	Limit      int
	Offset     int
}

const repoCols = "id, namespace, name, created_at, created_by"

func scanRepo(row interface{ Scan(...any) error }) (*Repository, error) {
	var r Repository
	var created string
	if err := row.Scan(&r.ID, &r.Namespace, &r.Name, &created, &r.CreatedBy); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	r.CreatedAt = parseTime(created)
	return &r, nil
}

// CreateRepository inserts a catalog entry; ErrConflict if it exists.
func (s *Store) CreateRepository(ctx context.Context, namespace, name, createdBy string) (*Repository, error) {
	_, err := s.db.ExecContext(ctx,
		"INSERT INTO repositories(namespace, name, created_at, created_by) VALUES (?, ?, ?, ?)",
		namespace, name, now(), createdBy)
	if isUniqueViolation(err) {
		return nil, ErrConflict
	}
	if err != nil {
		return nil, err
	}
	return s.Repository(ctx, namespace, name)
}

// Repository returns one catalog entry or ErrNotFound.
func (s *Store) Repository(ctx context.Context, namespace, name string) (*Repository, error) {
	return scanRepo(s.db.QueryRowContext(ctx,
		"SELECT "+repoCols+" FROM repositories WHERE namespace = ? AND name = ?", namespace, name))
}

// DeleteRepository removes a catalog entry; ErrNotFound if absent.
func (s *Store) DeleteRepository(ctx context.Context, namespace, name string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM repositories WHERE namespace = ? AND name = ?", namespace, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ListRepositories returns a page sorted by name, and the total matching.
func (s *Store) ListRepositories(ctx context.Context, q RepositoryQuery) ([]Repository, int, error) {
	where := []string{"1=1"}
	var args []any
	if q.Search != "" {
		where = append(where, "instr(namespace || '/' || name, ?) > 0")
		args = append(args, q.Search)
	}
	if q.Namespaces != nil {
		if len(q.Namespaces) == 0 {
			return nil, 0, nil
		}
		where = append(where, "namespace IN (?"+strings.Repeat(",?", len(q.Namespaces)-1)+")")
		for _, ns := range q.Namespaces {
			args = append(args, ns)
		}
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM repositories WHERE "+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+repoCols+" FROM repositories WHERE "+cond+
		" ORDER BY namespace, name LIMIT ? OFFSET ?", append(args, limit, q.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Repository
	for rows.Next() {
		r, err := scanRepo(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *r)
	}
	return out, total, rows.Err()
}
