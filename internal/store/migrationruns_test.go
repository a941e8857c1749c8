package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestMigrationRuns: a run and its items, counted; an outcome recorded
// once; a run left running interrupted, resumed once.
func TestMigrationRuns(t *testing.T) {
	ctx := context.Background()
	st := openServerKeysTestStore(t)
	run := MigrationRun{ID: "r1", Formats: []string{"cosign", "notation"}, Repositories: []string{"prod/app"},
		Namespaces: []string{"prod"}, CreatedBy: "alice"}
	items := []MigrationItem{
		{Namespace: "prod", Name: "app", Tag: "v1", Digest: "sha256:1", Format: "cosign", Signers: []string{"alice", "bob"},
			TrustVersion: 3, Status: ItemPending, KeyID: "k1"},
		{Namespace: "prod", Name: "app", Tag: "v1", Digest: "sha256:1", Format: "notation", Status: ItemPending, KeyID: "k2"},
		{Namespace: "prod", Name: "app", Tag: "v2", Digest: "sha256:2", Status: ItemSkipped, Reason: "drifted", Message: "moved"},
	}
	if err := st.CreateMigrationRun(ctx, run, items); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateMigrationRun(ctx, run, nil); err == nil {
		t.Fatal("a second run with the same id was stored")
	}
	got, err := st.MigrationRun(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != MigrationRunning || !slices.Equal(got.Formats, run.Formats) || got.StartedBy != "alice" ||
		got.Counts != (MigrationCounts{Total: 3, Pending: 2, Skipped: 1}) || got.CreatedAt.IsZero() {
		t.Fatalf("stored run %+v", got)
	}
	pending, err := st.MigrationItems(ctx, "r1", ItemPending)
	if err != nil || len(pending) != 2 || pending[0].Seq != 1 || !slices.Equal(pending[0].Signers, []string{"alice", "bob"}) ||
		pending[0].TrustVersion != 3 || pending[1].Format != "notation" {
		t.Fatalf("pending items %+v %v", pending, err)
	}

	// Marked signing before its push: still pending, the mark kept.
	if err := st.MarkMigrationItemSigning(ctx, "r1", 1, "k1b"); err != nil {
		t.Fatal(err)
	}
	if p, _ := st.MigrationItems(ctx, "r1", ItemPending); len(p) != 2 || p[0].Reason != ItemSigning || p[0].KeyID != "k1b" {
		t.Fatalf("marked item %+v", p)
	}
	if err := st.MarkMigrationItemSigning(ctx, "r1", 3, "k1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("marking a skipped item: %v, want ErrNotFound", err)
	}
	if err := st.FinishMigrationItem(ctx, "r1", 1, ItemSigned, "", "signed", "k1"); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishMigrationItem(ctx, "r1", 1, ItemFailed, "", "again", "k1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second outcome of an item: %v, want ErrNotFound", err)
	}
	if err := st.FinishMigrationItem(ctx, "r1", 3, ItemSigned, "", "", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("outcome of a skipped item: %v", err)
	}

	// A restart: the running run is interrupted; it resumes once.
	if n, err := st.InterruptMigrationRuns(ctx, ""); err != nil || n != 1 {
		t.Fatalf("interrupt: %d %v", n, err)
	}
	if err := st.ResumeMigrationRun(ctx, "r1", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := st.ResumeMigrationRun(ctx, "r1", "carol"); !errors.Is(err, ErrConflict) {
		t.Fatalf("second resume: %v, want ErrConflict", err)
	}
	if err := st.ResumeMigrationRun(ctx, "nope", "carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("resume of no run: %v", err)
	}
	got, _ = st.MigrationRun(ctx, "r1")
	if got.State != MigrationRunning || got.StartedBy != "bob" || got.CreatedBy != "alice" ||
		got.Counts != (MigrationCounts{Total: 3, Pending: 1, Signed: 1, Skipped: 1}) {
		t.Fatalf("resumed run %+v", got)
	}
	if err := st.FinishMigrationRun(ctx, "r1", MigrationDone, ""); err != nil {
		t.Fatal(err)
	}
	runs, err := st.MigrationRuns(ctx, "", 10)
	if err != nil || len(runs) != 1 || runs[0].State != MigrationDone || runs[0].FinishedAt.IsZero() {
		t.Fatalf("runs %+v %v", runs, err)
	}
	if runs, _ := st.MigrationRuns(ctx, MigrationInterrupted, 10); len(runs) != 0 {
		t.Fatalf("interrupted runs %+v", runs)
	}
	if _, err := st.MigrationRun(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no run: %v", err)
	}
}
