package store

import (
	"context"
	"database/sql"
	"time"
)

// TrustStateCounts counts the catalog's repositories by trust state
// ("unknown" for those without a summary yet), and those whose nearest
// expiry is before soon by the role that expires then: expired (before now)
// and expiring. For the metrics (internal/metrics.TrustStates).
func (s *Store) TrustStateCounts(ctx context.Context, now, soon time.Time) (states, expired, expiring map[string]int, err error) {
	// Counted in SQL, one row per (state, role, bucket): bucket 1 is
	// expired, 2 expiring, 0 neither (stored times compare as text).
	rows, err := s.db.QueryContext(ctx, `SELECT t.state, COALESCE(t.nearest_expiry_role, ''),
			CASE WHEN t.nearest_expiry IS NULL OR t.nearest_expiry >= ? THEN 0 WHEN t.nearest_expiry < ? THEN 1 ELSE 2 END,
			COUNT(*)
		FROM repositories r LEFT JOIN trust_summaries t ON t.repository_id = r.id
		GROUP BY 1, 2, 3`, formatTime(soon), formatTime(now))
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	states, expired, expiring = map[string]int{}, map[string]int{}, map[string]int{}
	for rows.Next() {
		var state sql.NullString
		var role string
		var bucket, n int
		if err := rows.Scan(&state, &role, &bucket, &n); err != nil {
			return nil, nil, nil, err
		}
		if !state.Valid {
			states["unknown"] += n
			continue
		}
		states[state.String] += n
		switch bucket {
		case 1:
			expired[role] += n
		case 2:
			expiring[role] += n
		}
	}
	return states, expired, expiring, rows.Err()
}
