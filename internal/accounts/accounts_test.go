package accounts

import (
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
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
