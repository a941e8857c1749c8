package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/store"
)

// twoReplicas opens one database twice: two pools of connections, as two
// trustdeck processes on one data directory have.
func twoReplicas(t *testing.T) (a, b *store.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trustdeck.db")
	a, b = open(t, path), open(t, path)
	t.Cleanup(func() { a.Close(); b.Close() })
	if a.ReplicaID() == b.ReplicaID() {
		t.Fatalf("two Stores share the replica ID %s", a.ReplicaID())
	}
	return a, b
}

// A GUN transaction's read and its write are one step for every replica:
// writers that each read the newest version, wait, and write the next one
// through two Stores never both read the same version (with a transaction
// that did not take the write lock at its start, both would read it and
// one would fail or write a duplicate).
func TestGUNTxSerialisesReadThenWriteAcrossStores(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	const gun = "example.com/ns/app"
	const writers = 6
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Go(func() {
			errs <- st.GUNTx(ctx, gun, func(tx *store.Tx) error {
				tuf := tx.TUF()
				v := 0
				if _, body, err := tuf.GetCurrent(data.GUN(gun), data.CanonicalTargetsRole); err == nil {
					fmt.Sscanf(string(body), "v%d", &v)
				} else if !errors.As(err, new(storage.ErrNotFound)) {
					return err
				}
				time.Sleep(20 * time.Millisecond)
				return tuf.UpdateMany(data.GUN(gun), []storage.MetaUpdate{
					{Role: data.CanonicalTargetsRole, Version: v + 1, Data: fmt.Appendf(nil, "v%d", v+1)}})
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("writer: %v", err)
		}
	}
	_, body, err := b.TUF().GetCurrent(data.GUN(gun), data.CanonicalTargetsRole)
	if err != nil || string(body) != fmt.Sprintf("v%d", writers) {
		t.Fatalf("current targets: %q, %v; want v%d (every writer saw the one before)", body, err, writers)
	}
}

// Writes of trust data, catalog entries and registry states are logged,
// numbered densely in commit order, with the replica that wrote them.
func TestChangeLog(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	start, err := b.ChangeSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateRepository(ctx, "ns", "app", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := b.TUF().UpdateMany("example.com/ns/app", []storage.MetaUpdate{
		{Role: data.CanonicalRootRole, Version: 1, Data: []byte("{}")}}); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordChange(ctx, store.TopicUser, "jeff"); err != nil {
		t.Fatal(err)
	}
	seq, err := b.ChangeSeq(ctx)
	if err != nil || seq != start+3 {
		t.Fatalf("ChangeSeq = %d, %v; want %d", seq, err, start+3)
	}
	got, err := b.Changes(ctx, start, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Change{
		{Seq: start + 1, Topic: store.TopicCatalog, Key: "ns/app", Origin: a.ReplicaID()},
		{Seq: start + 2, Topic: store.TopicTUF, Key: "example.com/ns/app", Origin: b.ReplicaID()},
		{Seq: start + 3, Topic: store.TopicUser, Key: "jeff", Origin: a.ReplicaID()},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Changes:\n got %v\nwant %v", got, want)
	}
	// A refused write logs nothing.
	if err := b.TUF().UpdateMany("example.com/ns/app", []storage.MetaUpdate{
		{Role: data.CanonicalRootRole, Version: 1, Data: []byte("{}")}}); err == nil {
		t.Fatal("the same version twice was stored")
	}
	if seq, _ := a.ChangeSeq(ctx); seq != start+3 {
		t.Fatalf("a refused write moved the log to %d", seq)
	}
	if n, err := a.PruneChanges(ctx, time.Now().Add(time.Minute)); err != nil || n != 3 {
		t.Fatalf("PruneChanges = %d, %v", n, err)
	}
	if got, _ := b.Changes(ctx, start, 10); len(got) != 0 {
		t.Fatalf("after pruning: %v", got)
	}
}

// A removal's check-and-delete and a write of trust data are ordered by the
// GUN's lock: the catalog entry goes only while the GUN has no trust data.
func TestDeleteRepositoryRefusedOnceTrustDataExists(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	if _, err := a.CreateRepository(ctx, "ns", "app", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := b.TUF().UpdateMany("example.com/ns/app", []storage.MetaUpdate{
		{Role: data.CanonicalRootRole, Version: 1, Data: []byte("{}")}}); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteRepository(ctx, "ns", "app", "example.com/ns/app"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("DeleteRepository with trust data: %v, want ErrConflict", err)
	}
	if err := b.TUF().Delete("example.com/ns/app"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteRepository(ctx, "ns", "app", "example.com/ns/app"); err != nil {
		t.Fatalf("DeleteRepository without trust data: %v", err)
	}
	// Inside a GUN transaction, the catalog entry is seen gone.
	err := b.GUNTx(ctx, "example.com/ns/app", func(tx *store.Tx) error {
		ok, err := tx.RepositoryExists("ns", "app")
		if err == nil && ok {
			err = errors.New("the removed entry still exists")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLeases(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	take := func(st *store.Store, ttl time.Duration) bool {
		t.Helper()
		ok, err := st.TakeLease(ctx, "work", st.ReplicaID(), ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take(a, time.Minute) {
		t.Fatal("a free lease was refused")
	}
	if take(b, time.Minute) {
		t.Fatal("b took a's lease")
	}
	if !take(a, 50*time.Millisecond) {
		t.Fatal("a could not renew its lease")
	}
	time.Sleep(100 * time.Millisecond)
	if !take(b, time.Minute) {
		t.Fatal("b could not take the lease a let expire")
	}
	if take(a, time.Minute) {
		t.Fatal("a took back b's lease")
	}
	if err := a.ReleaseLease(ctx, "work", a.ReplicaID()); err != nil {
		t.Fatal(err)
	}
	if take(a, time.Minute) {
		t.Fatal("a's release of a lease it does not hold released b's")
	}
	if err := b.ReleaseLease(ctx, "work", b.ReplicaID()); err != nil {
		t.Fatal(err)
	}
	if !take(a, time.Minute) {
		t.Fatal("a released lease was refused")
	}
	ls, err := b.Leases(ctx)
	if err != nil || len(ls) != 1 || ls[0].Holder != a.ReplicaID() {
		t.Fatalf("Leases = %+v, %v", ls, err)
	}
}

// A replica recovering migration runs marks interrupted only those whose
// runner's liveness lease expired, not the runs of a live replica.
func TestInterruptMigrationRunsLeavesLiveReplicasRuns(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	if ok, err := a.TakeLease(ctx, store.ReplicaLease(a.ReplicaID()), a.ReplicaID(), 100*time.Millisecond); !ok || err != nil {
		t.Fatalf("liveness lease: %v %v", ok, err)
	}
	if err := a.CreateMigrationRun(ctx, store.MigrationRun{ID: "r1", Formats: []string{"cosign"},
		Repositories: []string{"prod/app"}, Namespaces: []string{"prod"}, CreatedBy: "alice"}, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := b.InterruptMigrationRuns(ctx, ""); err != nil || n != 0 {
		t.Fatalf("b interrupted %d runs of live replica a (%v)", n, err)
	}
	time.Sleep(200 * time.Millisecond) // a died: its lease expires
	if n, err := b.InterruptMigrationRuns(ctx, ""); err != nil || n != 1 {
		t.Fatalf("b interrupted %d runs of dead replica a (%v), want 1", n, err)
	}
	if err := b.ResumeMigrationRun(ctx, "r1", "bob"); err != nil {
		t.Fatal(err)
	}
	if n, err := a.InterruptMigrationRuns(ctx, ""); err != nil || n != 1 {
		t.Fatalf("the run resumed by b (no liveness lease) was not interrupted: %d %v", n, err)
	}
}

// A bulk capture's state, written by the replica that runs it, is read by
// another; finished captures older than the bound go.
func TestArchiveJobsShared(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	started := time.Now().Add(-2 * time.Hour)
	if err := a.PutArchiveJob(ctx, "j1", "alice", started, false, []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.PutArchiveJob(ctx, "j1", "alice", started, false, []byte(`{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	if actor, state, err := b.ArchiveJob(ctx, "j1"); err != nil || actor != "alice" || string(state) != `{"n":2}` {
		t.Fatalf("ArchiveJob = %q %s %v", actor, state, err)
	}
	if _, _, err := b.ArchiveJob(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
	if n, err := b.CountArchiveJobs(ctx, time.Now().Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("a running job, old: counted %d (%v), want 1", n, err)
	}
	if err := a.PutArchiveJob(ctx, "j1", "alice", started, true, []byte(`{"n":3}`)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.CountArchiveJobs(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("a finished job, old: counted %d (%v), want 0 (deleted)", n, err)
	}
	if _, _, err := a.ArchiveJob(ctx, "j1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the old finished job is still there: %v", err)
	}
}

// Every change of what an account may do or how it signs in is logged, in
// its own transaction, by the account's name.
func TestUserChangesLogged(t *testing.T) {
	a, b := twoReplicas(t)
	ctx := context.Background()
	u, err := a.CreateUser(ctx, "jeff", "hash", false)
	if err != nil {
		t.Fatal(err)
	}
	start, _ := b.ChangeSeq(ctx)
	steps := []func() error{
		func() error { return a.SetMemberRole(ctx, "prod", u.ID, "write") },
		func() error { return a.SetPasswordHash(ctx, u.ID, "hash2") },
		func() error { return a.SetUserDisabled(ctx, u.ID, true) },
		func() error { return a.SetUserDisabled(ctx, u.ID, false) },
		func() error { return a.DeleteMember(ctx, "prod", u.ID) },
		func() error { return a.DeleteUser(ctx, u.ID) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	got, err := b.Changes(ctx, start, 10)
	if err != nil || len(got) != len(steps) {
		t.Fatalf("changes %v (%v), want %d", got, err, len(steps))
	}
	for _, c := range got {
		if c.Topic != store.TopicUser || c.Key != "jeff" {
			t.Errorf("change %+v, want user jeff", c)
		}
	}
	if err := a.DeleteUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a deleted user: %v", err)
	}
	if seq, _ := b.ChangeSeq(ctx); seq != start+int64(len(steps)) {
		t.Fatalf("a refused change was logged: %d", seq)
	}
}
