package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/store"
)

// An attempt's audit event is recorded exactly once, by whichever learns
// first that its change took effect: the reply, the server's record of the
// change (match), or a retry finding it in place (settle).
func TestAttemptAuditedOnce(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "t.db"))
	defer st.Close()
	const gun = "reg/prod/app"
	since := time.Now().Add(-time.Hour)
	begin := func(action, subject string, deletion bool) int64 {
		t.Helper()
		id, err := st.InsertAttempt(ctx, store.WriteAttempt{Actor: "alice", Action: action, GUN: gun, Namespace: "prod",
			Name: "app", Subject: subject, Detail: action + " " + subject, Deletion: deletion,
			Files: []store.AttemptFile{{Role: "targets", Version: 2, SHA256: "ab"}}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	events := func() int {
		t.Helper()
		ev, err := st.ListAudit(ctx, store.AuditQuery{Namespace: "prod", Name: "app"})
		if err != nil {
			t.Fatal(err)
		}
		return len(ev)
	}
	step := func(what string, a *store.WriteAttempt, err error, recorded bool, want int) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if (a != nil) != recorded || events() != want {
			t.Fatalf("%s: recorded %v (%d events), want %v (%d)", what, a != nil, events(), recorded, want)
		}
	}

	// Answered: recorded by the reply; the server's record adds nothing.
	ok := begin("signer.add", "dave", false)
	a, err := st.ResolveAttempt(ctx, ok, store.AttemptApplied)
	step("applied", a, err, true, 1)
	a, err = st.MatchAttempt(ctx, ok)
	step("applied, then matched", a, err, false, 1)

	// Reply lost: recorded when the server's record is matched, once.
	lost := begin("signer.revoke", "carol", false)
	a, err = st.ResolveAttempt(ctx, lost, store.AttemptUnknown)
	step("unknown", a, err, false, 1)
	if open, _ := st.OpenAttempts(ctx, gun, false, since); len(open) != 1 || open[0].ID != lost {
		t.Fatalf("open updates %+v, want the unknown one (the answered one is matched)", open)
	}
	a, err = st.MatchAttempt(ctx, lost)
	step("unknown, then matched", a, err, true, 2)
	a, err = st.MatchAttempt(ctx, lost)
	step("matched twice", a, err, false, 2)
	if open, _ := st.OpenAttempts(ctx, gun, false, since); len(open) != 0 {
		t.Fatalf("open updates %+v, want none", open)
	}

	// Matched while the sender waits (the embedded server's hook), then the
	// reply is lost: applied all the same.
	inflight := begin("tag.revoke", "v1", false)
	a, err = st.MatchAttempt(ctx, inflight)
	step("pending, matched", a, err, false, 2)
	a, err = st.ResolveAttempt(ctx, inflight, store.AttemptUnknown)
	step("matched, then unknown", a, err, true, 3)

	// A retry settles a lost deletion, once; answered attempts are no
	// retries' business.
	del := begin("trust.delete", "", true)
	a, err = st.ResolveAttempt(ctx, del, store.AttemptUnknown)
	step("deletion unknown", a, err, false, 3)
	for i, want := range []int{1, 0} {
		found, recorded, err := st.SettleAttempts(ctx, gun, "trust.delete", "", since)
		if err != nil || !found || len(recorded) != want || events() != 4 {
			t.Fatalf("settle #%d: found %v, recorded %d (%d events), %v; want found, %d recorded, 4 events",
				i+1, found, len(recorded), events(), err, want)
		}
	}
	if found, _, _ := st.SettleAttempts(ctx, gun, "signer.add", "dave", since); found {
		t.Errorf("an answered addition settled as a retry")
	}
	if found, _, _ := st.SettleAttempts(ctx, gun, "signer.revoke", "carol", since); !found {
		t.Errorf("a revocation whose reply was lost does not settle a retry")
	}

	// Refused: never matched, never recorded.
	no := begin("signer.add", "erin", false)
	a, err = st.ResolveAttempt(ctx, no, store.AttemptRefused)
	step("refused", a, err, false, 4)
	if open, _ := st.OpenAttempts(ctx, gun, false, since); len(open) != 0 {
		t.Errorf("a refused attempt is open: %+v", open)
	}
	// No action: a part of an operation audited already.
	part := begin("", "", false)
	a, err = st.ResolveAttempt(ctx, part, store.AttemptApplied)
	step("no action", a, err, false, 4)
}
