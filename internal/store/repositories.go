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
	// Trust is the stored trust summary (nil when none was computed yet);
	// filled by ListRepositories.
	Trust *TrustSummary
	// Registry is the stored registry state (nil when the registry was
	// never read for it); filled by ListRepositories.
	Registry *RegistrySummary
}

// RepositoryQuery selects a page of the catalog.
type RepositoryQuery struct {
	Search     string    // substring of "namespace/name"
	Namespaces []string  // when non-nil, only these namespaces
	Sort       string    // "name" (default), "signed" (last signed first), "expiry" (nearest first)
	Filter     string    // "", "signed", "unsigned", "expiring", "unsigned-or-drifted"
	ExpiringBy time.Time // with Filter "expiring": nearest expiry before this
	Limit      int
	Offset     int
}

const (
	repoCols  = "id, namespace, name, created_at, created_by"
	repoColsR = "r.id, r.namespace, r.name, r.created_at, r.created_by"
)

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
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO repositories(namespace, name, created_at, created_by) VALUES (?, ?, ?, ?)",
			namespace, name, now(), createdBy); err != nil {
			return err
		}
		return s.recordChange(ctx, tx, TopicCatalog, namespace+"/"+name)
	})
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
	return scanRepo(s.prepared(ctx, "SELECT "+repoCols+" FROM repositories WHERE namespace = ? AND name = ?").
		QueryRowContext(ctx, namespace, name))
}

// DeleteRepository removes a catalog entry whose GUN has no trust data in
// the embedded server's tables: ErrNotFound if absent, ErrConflict if the
// GUN has trust data.
func (s *Store) DeleteRepository(ctx context.Context, namespace, name, gun string) error {
	// Under gun's lock and in one statement with the check, so that trust
	// data the embedded Notary server stored after the caller looked
	// (through any replica) keeps its repository (ErrConflict); the
	// external server's data is not in tuf_files.
	deleted := false
	err := s.GUNTx(ctx, gun, func(t *Tx) error {
		deleted = false
		res, err := t.tx.ExecContext(ctx, `DELETE FROM repositories WHERE namespace = ? AND name = ?
			AND NOT EXISTS (SELECT 1 FROM tuf_files WHERE gun = ?)`, namespace, name, gun)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		deleted = true
		return s.recordChange(ctx, t.tx, TopicCatalog, namespace+"/"+name)
	})
	if err != nil || deleted {
		return err
	}
	if _, err := s.Repository(ctx, namespace, name); err != nil {
		return err // ErrNotFound
	}
	return ErrConflict
}

// CountExpiring counts the repositories (of namespaces, when non-nil) whose
// nearest expiry has passed at now, and those whose nearest expiry falls
// between now and by.
func (s *Store) CountExpiring(ctx context.Context, namespaces []string, now, by time.Time) (expired, expiring int, err error) {
	if namespaces != nil && len(namespaces) == 0 {
		return 0, 0, nil
	}
	q := `SELECT COUNT(CASE WHEN t.nearest_expiry < ? THEN 1 END), COUNT(CASE WHEN t.nearest_expiry >= ? THEN 1 END)
		FROM trust_summaries t JOIN repositories r ON r.id = t.repository_id
		WHERE t.nearest_expiry IS NOT NULL AND t.nearest_expiry < ?`
	args := []any{formatTime(now), formatTime(now), formatTime(by)}
	if namespaces != nil {
		q += " AND r.namespace IN (?" + strings.Repeat(",?", len(namespaces)-1) + ")"
		for _, ns := range namespaces {
			args = append(args, ns)
		}
	}
	err = s.db.QueryRowContext(ctx, q, args...).Scan(&expired, &expiring)
	return expired, expiring, err
}

// ListRepositories returns a page with trust summaries, and the total matching.
func (s *Store) ListRepositories(ctx context.Context, q RepositoryQuery) ([]Repository, int, error) {
	where := []string{"1=1"}
	var args []any
	if q.Search != "" {
		where = append(where, "instr(r.namespace || '/' || r.name, ?) > 0")
		args = append(args, q.Search)
	}
	if q.Namespaces != nil {
		if len(q.Namespaces) == 0 {
			return nil, 0, nil
		}
		where = append(where, "r.namespace IN (?"+strings.Repeat(",?", len(q.Namespaces)-1)+")")
		for _, ns := range q.Namespaces {
			args = append(args, ns)
		}
	}
	switch q.Filter {
	case "signed":
		where = append(where, "t.state = 'signed'")
	case "unsigned":
		where = append(where, "(t.state IS NULL OR t.state IN ('none', 'unsigned'))")
	case "expiring":
		where = append(where, "t.nearest_expiry IS NOT NULL AND t.nearest_expiry < ?")
		args = append(args, formatTime(q.ExpiringBy))
	case "unsigned-or-drifted":
		where = append(where, "(g.unsigned > 0 OR g.drifted > 0)")
	}
	order := "r.namespace, r.name"
	switch q.Sort {
	case "signed":
		order = "t.last_signed IS NULL, t.last_signed DESC, " + order
	case "expiry":
		order = "t.nearest_expiry IS NULL, t.nearest_expiry, " + order
	}
	const (
		joinTrust    = " LEFT JOIN trust_summaries t ON t.repository_id = r.id"
		joinRegistry = " LEFT JOIN registry_states g ON g.repository_id = r.id"
	)
	cond := " WHERE " + strings.Join(where, " AND ")
	from := " FROM repositories r" + joinTrust + joinRegistry + cond
	// The count joins only what the filter reads: SQLite joins every row
	// of a LEFT JOIN it is given, and the list counts every repository.
	countFrom := " FROM repositories r"
	switch q.Filter {
	case "signed", "unsigned", "expiring":
		countFrom += joinTrust
	case "unsigned-or-drifted":
		countFrom += joinRegistry
	}
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*)"+countFrom+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+repoColsR+`, t.state, t.signed_tags, t.signers, t.nearest_expiry,
		t.nearest_expiry_role, t.last_signed, t.error, t.refreshed_at, g.attempted_at, g.tags, g.signed, g.unsigned,
		g.drifted, g.missing, g.counted_at, g.checked_at, g.failing_since, g.error`+from+" ORDER BY "+order+" LIMIT ? OFFSET ?",
		append(args, limit, q.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Repository
	for rows.Next() {
		var r Repository
		var created string
		var state, role, errText, refreshed, expiry, signed sql.NullString
		var tags, signers sql.NullInt64
		var regAttempted, regCounted, regChecked, regFailing, regErr sql.NullString
		var reg RegistrySummary
		var regTags, regSigned, regUnsigned, regDrifted, regMissing sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Namespace, &r.Name, &created, &r.CreatedBy, &state, &tags, &signers,
			&expiry, &role, &signed, &errText, &refreshed, &regAttempted, &regTags, &regSigned, &regUnsigned,
			&regDrifted, &regMissing, &regCounted, &regChecked, &regFailing, &regErr); err != nil {
			return nil, 0, err
		}
		if regAttempted.Valid {
			reg.Tags, reg.Counted = int(regTags.Int64), regCounted.Valid
			reg.Counts = RegistryCounts{Signed: int(regSigned.Int64), Unsigned: int(regUnsigned.Int64),
				Drifted: int(regDrifted.Int64), Missing: int(regMissing.Int64)}
			reg.CheckedAt, reg.FailingSince, reg.Error = fromNull(regChecked), fromNull(regFailing), regErr.String
			r.Registry = &reg
		}
		r.CreatedAt = parseTime(created)
		if state.Valid {
			r.Trust = &TrustSummary{State: state.String, SignedTags: int(tags.Int64), Signers: int(signers.Int64),
				NearestExpiry: fromNull(expiry), NearestExpiryRole: role.String, LastSigned: fromNull(signed),
				Error: errText.String, RefreshedAt: fromNull(refreshed)}
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}
