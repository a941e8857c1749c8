package accounts

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/store"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hash, pw string
		want     bool
	}{
		{h, "correct horse", true},
		{h, "correct horsf", false},
		{h, "", false},
		{"$argon2id$garbage", "correct horse", false},
		{"plain", "plain", false},
	} {
		if got := CheckPassword(tc.hash, tc.pw); got != tc.want {
			t.Errorf("CheckPassword(%q, %q) = %v, want %v", tc.hash, tc.pw, got, tc.want)
		}
	}
	if h2, _ := HashPassword("correct horse"); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
}

func TestThrottleWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	th := newThrottle(3, time.Minute)
	th.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if blocked, _ := th.blocked("k"); blocked {
			t.Fatalf("blocked after %d failures", i)
		}
		th.fail("k")
	}
	if blocked, wait := th.blocked("k"); !blocked || wait != time.Minute {
		t.Fatalf("after 3 failures: blocked=%v wait=%v", blocked, wait)
	}
	now = now.Add(61 * time.Second)
	if blocked, _ := th.blocked("k"); blocked {
		t.Fatal("still blocked after the window")
	}
	th.fail("k")
	th.reset("k")
	if blocked, _ := th.blocked("k"); blocked {
		t.Fatal("blocked after reset")
	}
}

func TestGuardKeyPassphrase(t *testing.T) {
	s := New(nil)
	u := &User{Username: "alice"}
	wrong := errs.Invalidf("wrong_passphrase", "Wrong passphrase.")
	other := errs.Invalidf("invalid_name", "Bad name.")
	calls := 0
	for i := 0; i < 10; i++ {
		if err := s.GuardKeyPassphrase(u, "wrong_passphrase", func() error { calls++; return wrong }); err != wrong {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	err := s.GuardKeyPassphrase(u, "wrong_passphrase", func() error { calls++; return nil })
	if errs.KindOf(err) != errs.TooMany || calls != 10 {
		t.Fatalf("11th attempt: err=%v calls=%d, want too many and no call", err, calls)
	}
	// Other users and other errors are not affected.
	if err := s.GuardKeyPassphrase(&User{Username: "bob"}, "wrong_passphrase", func() error { return other }); err != other {
		t.Fatalf("bob: %v", err)
	}
}

// TestEnsureAdminAppliesPasswordRules: a TRUSTDECK_ADMIN_PASSWORD that any
// other password form would refuse stops the first start, creating nothing;
// a good one makes the admin account.
func TestEnsureAdminAppliesPasswordRules(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "trustdeck.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := New(st)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, weak := range []string{"short", "password123", "ADMIN"} {
		err := s.EnsureAdmin(ctx, weak, log)
		if err == nil || !strings.Contains(err.Error(), "TRUSTDECK_ADMIN_PASSWORD") || errs.KindOf(err) != errs.Invalid {
			t.Errorf("EnsureAdmin(%q) = %v, want an Invalid error naming TRUSTDECK_ADMIN_PASSWORD", weak, err)
		}
		if n, _ := st.CountUsers(ctx); n != 0 {
			t.Fatalf("EnsureAdmin(%q) created %d users", weak, n)
		}
	}
	if err := s.EnsureAdmin(ctx, "a-good-admin-passphrase", log); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.CountUsers(ctx); n != 1 {
		t.Fatalf("users after EnsureAdmin: %d, want 1", n)
	}
}
