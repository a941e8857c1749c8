package accounts

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/lru"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/testpg"
)

const alicePassword = "alice-password-1"

// clock is a settable time for the limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testService opens a real store in a temporary file and returns the service
// on it with alice (write on prod) and a settable clock.
func testService(t *testing.T) (*Service, *clock, string) {
	t.Helper()
	path := testpg.Location(t, filepath.Join(t.TempDir(), "trustdeck.db"))
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := New(st)
	clk := &clock{t: time.Now()}
	s.logins.now = clk.now
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		if _, err := st.CreateUser(context.Background(), name, cheapHash(t, alicePassword), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetRole(context.Background(), "prod", "alice", "write"); err != nil {
		t.Fatal(err)
	}
	return s, clk, path
}

// cheapHash is an argon2id hash of password with the smallest parameters:
// CheckPassword takes them from the stored hash (as it would for hashes
// made with other parameters), so the limiter's tests run fast, under the
// race detector too. Tests of the cost itself use HashPassword.
func cheapHash(t *testing.T, password string) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", b64.EncodeToString(salt),
		b64.EncodeToString(idKey(password, salt, 1, 64, 1, 32)))
}

func wantKind(t *testing.T, what string, err error, kind errs.Kind) {
	t.Helper()
	if errs.KindOf(err) != kind {
		t.Fatalf("%s: %v (kind %d), want kind %d", what, err, errs.KindOf(err), kind)
	}
}

func TestLoginPolicyDelay(t *testing.T) {
	p := loginPolicy{free: 5, base: time.Second, max: time.Minute}
	for failures, want := range map[int]time.Duration{
		0: 0, 4: 0, 5: time.Second, 6: 2 * time.Second, 7: 4 * time.Second, 10: 32 * time.Second,
		11: time.Minute, 1000: time.Minute,
	} {
		if got := p.delay(failures); got != want {
			t.Errorf("delay(%d) = %v, want %v", failures, got, want)
		}
	}
}

// TestWrongPasswordsDelayNotLockOut: failures on one account from one
// address delay that pair, doubling each time, but never refuse the right
// password for good, and never touch the account from other addresses.
func TestWrongPasswordsDelayNotLockOut(t *testing.T) {
	s, clk, _ := testService(t)
	ctx := context.Background()
	const attacker, owner = "198.51.100.7", "203.0.113.9"
	for i := range 5 {
		_, err := s.Authenticate(ctx, "alice", fmt.Sprintf("guess-%d", i), attacker)
		wantKind(t, "wrong password", err, errs.Unauthenticated)
	}
	_, err := s.Authenticate(ctx, "alice", alicePassword, attacker)
	wantKind(t, "right password after 5 failures from the same address", err, errs.TooMany)
	if d := errs.RetryAfterOf(err); d != time.Second {
		t.Errorf("Retry-After %v, want 1s", d)
	}
	if _, err := s.Authenticate(ctx, "alice", alicePassword, owner); err != nil {
		t.Fatalf("right password from another address: %v", err)
	}
	// The delay doubles with each failure after it.
	clk.add(time.Second)
	_, err = s.Authenticate(ctx, "alice", "guess-5", attacker)
	wantKind(t, "wrong password after the delay", err, errs.Unauthenticated)
	_, err = s.Authenticate(ctx, "alice", alicePassword, attacker)
	if errs.KindOf(err) != errs.TooMany || errs.RetryAfterOf(err) != 2*time.Second {
		t.Fatalf("after 6 failures: %v (retry after %v), want too many, 2s", err, errs.RetryAfterOf(err))
	}
	clk.add(2 * time.Second)
	if _, err := s.Authenticate(ctx, "alice", alicePassword, attacker); err != nil {
		t.Fatalf("right password once the delay passed: %v", err)
	}
	// Success restarts the pair's count.
	for i := range 5 {
		_, err := s.Authenticate(ctx, "alice", fmt.Sprintf("typo-%d", i), attacker)
		wantKind(t, "wrong password after a success", err, errs.Unauthenticated)
	}
}

// TestAddressCeilingCountsOnlyFailures: many failures from one address,
// spread so that no account reaches its own limit, slow that address down
// (for every account), but lock no account anywhere else; successes from
// the address do not count.
func TestAddressCeilingCountsOnlyFailures(t *testing.T) {
	s, clk, _ := testService(t)
	s.logins.address.free = 12
	ctx := context.Background()
	const nat, elsewhere = "192.0.2.1", "192.0.2.2"
	for i := range 12 {
		if i%4 == 0 { // successes in between do not count
			if _, err := s.Authenticate(ctx, "alice", alicePassword, nat); err != nil {
				t.Fatalf("alice from the address after %d failures: %v", i, err)
			}
		}
		_, err := s.Authenticate(ctx, []string{"bob", "carol", "dave"}[i/4], "guess", nat)
		wantKind(t, "wrong password", err, errs.Unauthenticated)
	}
	_, err := s.Authenticate(ctx, "alice", alicePassword, nat)
	wantKind(t, "alice from an address past its ceiling", err, errs.TooMany)
	if _, err := s.Authenticate(ctx, "alice", alicePassword, elsewhere); err != nil {
		t.Fatalf("alice from another address: %v", err)
	}
	_, err = s.Authenticate(ctx, "bob", "guess", elsewhere)
	wantKind(t, "bob from another address", err, errs.Unauthenticated)
	clk.add(time.Second)
	if _, err := s.Authenticate(ctx, "alice", alicePassword, nat); err != nil {
		t.Fatalf("alice from the address once the delay passed: %v", err)
	}
}

// TestLoginCountersSurviveRestart: a new process on the same database
// still delays the attacked pair.
func TestLoginCountersSurviveRestart(t *testing.T) {
	s, clk, path := testService(t)
	ctx := context.Background()
	for i := range 7 {
		_, err := s.Authenticate(ctx, "alice", fmt.Sprintf("guess-%d", i), "198.51.100.7")
		wantKind(t, "wrong password", err, errs.Unauthenticated)
		clk.add(time.Minute) // past each delay
	}
	s.st.Close()

	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	restarted := New(st)
	restarted.logins.now = clk.now
	clk.add(-time.Minute + time.Second) // 1s after the 7th failure: its 4s delay runs
	_, err = restarted.Authenticate(ctx, "alice", alicePassword, "198.51.100.7")
	wantKind(t, "after a restart", err, errs.TooMany)
	if d := errs.RetryAfterOf(err); d != 3*time.Second {
		t.Errorf("Retry-After %v, want the rest of the 4s delay of the 7th failure", d)
	}
	if _, err := restarted.Authenticate(ctx, "alice", alicePassword, "198.51.100.8"); err != nil {
		t.Fatalf("another address after a restart: %v", err)
	}
	// Counters are forgotten an hour after their last failure.
	clk.add(time.Hour)
	if _, err := restarted.Authenticate(ctx, "alice", alicePassword, "198.51.100.7"); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
}

// TestSimultaneousGuessesReserveFirst: guesses that start together count
// as soon as they start, so at most the free failures are hashed.
func TestSimultaneousGuessesReserveFirst(t *testing.T) {
	s, _, _ := testService(t)
	if _, err := s.CreateUser(context.Background(), "erin", alicePassword, false); err != nil { // a real hash: slow
		t.Fatal(err)
	}
	before := PasswordHashes()
	var wg sync.WaitGroup
	var mu sync.Mutex
	kinds := map[errs.Kind]int{}
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Authenticate(context.Background(), "erin", fmt.Sprintf("guess-%d", i), "198.51.100.7")
			mu.Lock()
			kinds[errs.KindOf(err)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if n := PasswordHashes() - before; n > 5 {
		t.Errorf("%d hashes for 40 simultaneous guesses, want at most 5", n)
	}
	if kinds[errs.Unauthenticated] > 5 || kinds[errs.Unauthenticated]+kinds[errs.TooMany]+kinds[errs.Unavailable] != 40 {
		t.Errorf("outcomes %v", kinds)
	}
}

// TestHashSlotsAreBounded: when every hash slot stays busy, a password
// check waits briefly and answers Unavailable with a Retry-After; it counts
// as no failure.
func TestHashSlotsAreBounded(t *testing.T) {
	s, _, _ := testService(t)
	defer func(d time.Duration) { hashSlotWait = d }(hashSlotWait)
	hashSlotWait = 50 * time.Millisecond
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	before := PasswordHashes()
	start := time.Now()
	_, err := s.Authenticate(context.Background(), "alice", "guess", "198.51.100.7")
	for range cap(hashSlots) {
		<-hashSlots
	}
	wantKind(t, "all slots busy", err, errs.Unavailable)
	if errs.RetryAfterOf(err) <= 0 || time.Since(start) < hashSlotWait || PasswordHashes() != before {
		t.Errorf("retry after %v, waited %v, %d hashes", errs.RetryAfterOf(err), time.Since(start), PasswordHashes()-before)
	}
	for i := range 5 {
		_, err := s.Authenticate(context.Background(), "alice", fmt.Sprintf("guess-%d", i), "198.51.100.7")
		wantKind(t, "wrong password once slots are free", err, errs.Unauthenticated)
	}
}

// TestOverlongPasswordsFailWithoutHashing: a login with a password over
// MaxPasswordBytes fails at once and costs no hash.
func TestOverlongPasswordsFailWithoutHashing(t *testing.T) {
	s, _, _ := testService(t)
	before := PasswordHashes()
	_, err := s.Authenticate(context.Background(), "alice", strings.Repeat("x", MaxPasswordBytes+1), "198.51.100.7")
	wantKind(t, "overlong password", err, errs.Unauthenticated)
	if n := PasswordHashes() - before; n != 0 {
		t.Errorf("%d hashes for an overlong password", n)
	}
}

// TestVerifiedPasswordsAreRemembered: a right password checked once is not
// hashed again for a while; wrong ones always are; a password change drops
// what was remembered at once.
func TestVerifiedPasswordsAreRemembered(t *testing.T) {
	s, _, _ := testService(t)
	ctx := context.Background()
	const addr = "198.51.100.7"
	hashes := func(fn func()) int64 {
		before := PasswordHashes()
		fn()
		return PasswordHashes() - before
	}
	if n := hashes(func() { s.Authenticate(ctx, "alice", alicePassword, addr) }); n != 1 {
		t.Fatalf("first check: %d hashes", n)
	}
	if n := hashes(func() {
		if _, err := s.Authenticate(ctx, "alice", alicePassword, addr); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("second check of the right password: %d hashes, want 0", n)
	}
	if n := hashes(func() {
		s.Authenticate(ctx, "alice", "wrong-one", addr)
		s.Authenticate(ctx, "alice", "wrong-one", addr)
	}); n != 2 {
		t.Errorf("two checks of a wrong password: %d hashes, want 2", n)
	}
	u, _ := s.UserByName(ctx, "alice")
	if err := s.ChangePassword(ctx, u, alicePassword, "alice-password-2", addr); err != nil {
		t.Fatal(err)
	}
	_, err := s.Authenticate(ctx, "alice", alicePassword, addr)
	wantKind(t, "the old password after a change", err, errs.Unauthenticated)
	if _, err := s.Authenticate(ctx, "alice", "alice-password-2", addr); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	// The cache key is keyed per process: another service (process) does not
	// derive the same entry.
	if other := New(s.st); other.verified.sum("alice", "x", "h") == s.verified.sum("alice", "x", "h") {
		t.Error("two processes derive the same cache key")
	}
}

func TestVerifiedCacheExpiresAndIsBounded(t *testing.T) {
	v := newVerifiedCache()
	clk := &clock{t: time.Now()}
	v.now, v.entries = clk.now, lru.New[[32]byte, verifiedEntry](3, nil)
	k := v.sum("alice", "pw", "hash")
	v.add(k, 1)
	if !v.has(k, 1) || v.has(k, 2) {
		t.Fatal("a remembered check is not found, or found for another user")
	}
	clk.add(verifiedTTL)
	if v.has(k, 1) {
		t.Error("a remembered check outlived its TTL")
	}
	for i := range 10 {
		v.add(v.sum("u", fmt.Sprint(i), "h"), int64(i))
	}
	if v.entries.Len() > 3 {
		t.Errorf("%d entries, want at most 3", v.entries.Len())
	}
}

// TestLoginLimiterMemoryIsBounded: idle counters beyond maxKeys leave
// memory, and come back from the store with their counts.
func TestLoginLimiterMemoryIsBounded(t *testing.T) {
	s, _, _ := testService(t)
	s.logins.maxKeys = 10
	ctx := context.Background()
	for i := range 30 {
		_, err := s.Authenticate(ctx, "alice", "guess", fmt.Sprintf("198.51.100.%d", i))
		wantKind(t, "wrong password", err, errs.Unauthenticated)
	}
	if n := len(s.logins.counters); n > 10 {
		t.Errorf("%d counters in memory, want at most 10", n)
	}
	for range 4 {
		_, err := s.Authenticate(ctx, "alice", "guess", "198.51.100.0")
		wantKind(t, "wrong password", err, errs.Unauthenticated)
	}
	_, err := s.Authenticate(ctx, "alice", alicePassword, "198.51.100.0")
	wantKind(t, "sixth attempt of an evicted pair", err, errs.TooMany)
}

func TestNewPasswordRules(t *testing.T) {
	for _, tc := range []struct {
		user, pw, code string
	}{
		{"alice", "short", "weak_password"},
		{"alice", strings.Repeat("x", MaxPasswordBytes+1), "password_too_long"},
		{"alice", "Password123", "common_password"},
		{"alice", "QWERTYUIOP", "common_password"},
		{"alice", "iloveyou", "common_password"},
		{"alice.smith", "Alice.Smith", "common_password"},
		{"alice", strings.Repeat("x", MaxPasswordBytes), ""},
		{"alice", "correct horse battery", ""},
	} {
		err := checkNewPassword(tc.user, tc.pw)
		code := ""
		if e, ok := errs.As(err); ok {
			code = e.Code
		}
		if code != tc.code {
			t.Errorf("%s %.20q: %v, want code %q", tc.user, tc.pw, err, tc.code)
		}
	}
	for pw := range commonPasswords {
		if pw != strings.ToLower(pw) {
			t.Errorf("common password %q is not lower case: it can never match", pw)
		}
	}
}

// TestRoleAndPasswordChangesVoidTokens: SetRole and ChangePassword void the
// user's registry tokens issued up to the end of the current second.
func TestRoleAndPasswordChangesVoidTokens(t *testing.T) {
	s, _, _ := testService(t)
	ctx := context.Background()
	if !s.TokensValidFrom("bob").IsZero() {
		t.Fatal("tokens of an unchanged user are void")
	}
	check := func(what string) {
		t.Helper()
		from := s.TokensValidFrom("alice")
		if now := time.Now(); !from.After(now) || from.Sub(now) > time.Second || from.Nanosecond() != 0 {
			t.Errorf("%s: tokens valid from %v (now %v), want the next whole second", what, from, now)
		}
	}
	if err := s.SetRole(ctx, "prod", "alice", "read"); err != nil {
		t.Fatal(err)
	}
	check("after a role change")
	time.Sleep(time.Until(s.TokensValidFrom("alice")))
	u, _ := s.UserByName(ctx, "alice")
	if err := s.ChangePassword(ctx, u, alicePassword, "alice-password-2", "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	check("after a password change")
}

// TestSimultaneousRightPasswordsQueue: twenty sign-ins of one account from
// one address at once with the right password (twenty CI jobs asking for
// tokens) all succeed: those beyond the free failures wait for the ones in
// flight instead of being refused, and one hash serves them all.
func TestSimultaneousRightPasswordsQueue(t *testing.T) {
	s, _, _ := testService(t)
	if _, err := s.CreateUser(context.Background(), "erin", alicePassword, false); err != nil { // a real hash: slow
		t.Fatal(err)
	}
	before := PasswordHashes()
	var wg sync.WaitGroup
	errList := make([]error, 20)
	for i := range errList {
		wg.Go(func() { _, errList[i] = s.Authenticate(context.Background(), "erin", alicePassword, "198.51.100.7") })
	}
	wg.Wait()
	for i, err := range errList {
		if err != nil {
			t.Errorf("sign-in %d: %v", i, err)
		}
	}
	// One hash: the others wait for its answer rather than each queueing
	// for a hash slot (on a busy machine, past hashSlotWait: 503).
	if n := PasswordHashes() - before; n != 1 {
		t.Errorf("%d hashes for 20 simultaneous right passwords, want 1", n)
	}
}
