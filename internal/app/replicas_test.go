package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

// The liveness lease of a trustdeck killed on this host is given up at the
// next start (its migration runs then show interrupted at once); the
// leases of processes that run, and of other hosts, stay.
func TestReleaseDeadLocalReplicas(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "trustdeck.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	dead := fmt.Sprintf("%s/%d/0a0b0c0d", host, gone.Process.Pid)
	live := fmt.Sprintf("%s/%d/0a0b0c0d", host, os.Getppid())
	elsewhere := fmt.Sprintf("other-host.example/%d/0a0b0c0d", gone.Process.Pid)
	for _, id := range []string{dead, live, elsewhere, st.ReplicaID()} {
		if ok, err := st.TakeLease(ctx, store.ReplicaLease(id), id, time.Minute); !ok || err != nil {
			t.Fatalf("lease of %s: %v %v", id, ok, err)
		}
	}
	a := &App{Store: st}
	if err := a.releaseDeadLocalReplicas(ctx); err != nil {
		t.Fatal(err)
	}
	leases, err := st.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, l := range leases {
		held = append(held, l.Holder)
	}
	want := []string{live, elsewhere, st.ReplicaID()}
	slices.Sort(held)
	slices.Sort(want)
	if !slices.Equal(held, want) {
		t.Fatalf("leases held after the start:\n got %q\nwant %q", held, want)
	}
}
