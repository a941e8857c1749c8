package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testpg"
)

// TestReplicasMigrateAtOnce: replicas started at the same moment on one
// new database all open it (one applies the migrations, the others find
// them applied), and the schema is complete once.
func TestReplicasMigrateAtOnce(t *testing.T) {
	ctx := context.Background()
	loc := testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db"))
	const replicas = 4
	stores := make([]*Store, replicas)
	errc := make(chan error, replicas)
	var start sync.WaitGroup
	start.Add(1)
	for i := range replicas {
		go func() {
			start.Wait()
			st, err := Open(ctx, loc)
			stores[i] = st
			errc <- err
		}()
	}
	start.Done()
	for range replicas {
		if err := <-errc; err != nil {
			t.Errorf("a replica could not open the new database: %v", err)
		}
	}
	for _, st := range stores {
		if st != nil {
			defer st.Close()
		}
	}
	if t.Failed() {
		return
	}
	v, err := stores[0].SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := stores[0].db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if v != len(ms) || rows != len(ms) {
		t.Errorf("schema version %d with %d rows, want %d applied once each", v, rows, len(ms))
	}
}
