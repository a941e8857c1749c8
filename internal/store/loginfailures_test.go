package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

// TestLoginFailures: counters are kept per (account, address) and per
// address, a late write of an older state does not undo a newer one, and a
// success clears only the failures it saw.
func TestLoginFailures(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "t.db"))
	defer st.Close()
	ctx := context.Background()
	pair := store.LoginFailureKey{Username: "alice", Address: "192.0.2.1"}
	addr := store.LoginFailureKey{Address: "192.0.2.1"}
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	want := func(k store.LoginFailureKey, n int, last time.Time) {
		t.Helper()
		gotN, gotLast, err := st.LoginFailures(ctx, k)
		if err != nil || gotN != n || !gotLast.Equal(last) {
			t.Fatalf("%+v: %d %v %v, want %d %v", k, gotN, gotLast, err, n, last)
		}
	}
	want(pair, 0, time.Time{})
	for _, w := range []struct {
		k    store.LoginFailureKey
		n    int
		last time.Time
	}{{pair, 2, t0.Add(time.Second)}, {pair, 1, t0}, {addr, 7, t0}} {
		if err := st.SetLoginFailures(ctx, w.k, w.n, w.last); err != nil {
			t.Fatal(err)
		}
	}
	want(pair, 2, t0.Add(time.Second)) // the older write came late and lost
	want(addr, 7, t0)
	if err := st.ClearLoginFailures(ctx, pair, t0); err != nil {
		t.Fatal(err)
	}
	want(pair, 2, t0.Add(time.Second)) // a failure after the success stays
	if err := st.ClearLoginFailures(ctx, pair, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	want(pair, 0, time.Time{})
	want(addr, 7, t0)
	if err := st.DeleteLoginFailuresBefore(ctx, t0.Add(time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	want(addr, 0, time.Time{})
}
