package store

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"path/filepath"
	"testing"
)

// BenchmarkListWithRegistryCounts is the repository list's query over
// 10,000 repositories that all have trust summaries and registry counts:
// the first page, and the first page of those with unsigned or drifted tags
// (every 7th).
func BenchmarkListWithRegistryCounts(b *testing.B) {
	ctx := context.Background()
	st, err := Open(ctx, testpg.Location(b, filepath.Join(b.TempDir(), "trustdeck.db")))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const repos = 10_000
	err = st.tx(ctx, func(tx *sql.Tx) error {
		for i := range repos {
			res, err := tx.ExecContext(ctx, "INSERT INTO repositories(namespace, name, created_at, created_by) VALUES (?, ?, ?, 'bench')",
				fmt.Sprintf("ns%02d", i%50), fmt.Sprintf("app%05d", i), now())
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			if _, err := tx.ExecContext(ctx, `INSERT INTO trust_summaries(repository_id, state, signed_tags, signers, refreshed_at)
				VALUES (?, 'signed', 3, 1, ?)`, id, now()); err != nil {
				return err
			}
			unsigned := 0
			if i%7 == 0 {
				unsigned = 2
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO registry_states(repository_id, checked_at, attempted_at, tags,
				signed, unsigned, counted_at) VALUES (?, ?, ?, ?, 3, ?, ?)`, id, now(), now(), 3+unsigned, unsigned, now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, filter := range []string{"", "unsigned-or-drifted"} {
		b.Run("filter="+filter, func(b *testing.B) {
			for b.Loop() {
				rows, total, err := st.ListRepositories(ctx, RepositoryQuery{Filter: filter, Limit: 25})
				if err != nil || len(rows) != 25 || rows[0].Registry == nil {
					b.Fatal(total, err)
				}
			}
		})
	}
}
