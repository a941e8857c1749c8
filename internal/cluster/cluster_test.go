package cluster_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/cluster"
	"github.com/trustdeck/trustdeck/internal/store"
)

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A replica hears of the other replicas' changes, not of its own, in
// order; when its position was pruned it forgets everything.
func TestFollowerAppliesOtherReplicasChanges(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "trustdeck.db")
	a, b := openStore(t, path), openStore(t, path)
	if err := b.RecordChange(ctx, store.TopicUser, "before"); err != nil {
		t.Fatal(err)
	}
	f, err := cluster.NewFollower(ctx, b, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var heard []string
	resets := 0
	f.On(store.TopicUser, func(k string) { heard = append(heard, "user "+k) })
	f.On(store.TopicCatalog, func(k string) { heard = append(heard, "catalog "+k) })
	f.OnReset(func() { resets++ })

	if err := a.RecordChange(ctx, store.TopicUser, "jeff"); err != nil {
		t.Fatal(err)
	}
	if err := b.RecordChange(ctx, store.TopicUser, "own"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateRepository(ctx, "ns", "app", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if want := []string{"user jeff", "catalog ns/app"}; !slices.Equal(heard, want) {
		t.Fatalf("heard %q, want %q", heard, want)
	}
	if err := f.Sync(ctx); err != nil || len(heard) != 2 {
		t.Fatalf("a second Sync heard %q (%v)", heard, err)
	}

	// Away longer than the log is kept.
	if err := a.RecordChange(ctx, store.TopicUser, "lost"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PruneChanges(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordChange(ctx, store.TopicUser, "after"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if resets != 1 || len(heard) != 2 {
		t.Fatalf("after pruning: %d resets, heard %q", resets, heard)
	}
	if err := a.RecordChange(ctx, store.TopicUser, "next"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(ctx); err != nil || heard[len(heard)-1] != "user next" {
		t.Fatalf("after the reset: heard %q (%v)", heard, err)
	}
}
