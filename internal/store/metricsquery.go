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
	rows, err := s.db.QueryContext(ctx, `SELECT t.state, t.nearest_expiry, t.nearest_expiry_role
		FROM repositories r LEFT JOIN trust_summaries t ON t.repository_id = r.id`)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	states, expired, expiring = map[string]int{}, map[string]int{}, map[string]int{}
	for rows.Next() {
		var state, expiry, role sql.NullString
		if err := rows.Scan(&state, &expiry, &role); err != nil {
			return nil, nil, nil, err
		}
		if !state.Valid {
			states["unknown"]++
			continue
		}
		states[state.String]++
		t := fromNull(expiry)
		switch {
		case t.IsZero() || !t.Before(soon):
		case t.Before(now):
			expired[role.String]++
		default:
			expiring[role.String]++
		}
	}
	return states, expired, expiring, rows.Err()
}
