package accounts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/store"
)

// loginPolicy slows password guessing on one counter: free failures pass
// without delay; after them each attempt waits for the previous failure's
// delay, which doubles with every failure up to max. Once past the free
// failures, one attempt at a time is checked. Nothing is ever refused for
// good: the owner's right password works once the delay has passed.
type loginPolicy struct {
	free int
	base time.Duration
	max  time.Duration
}

// delay is the wait after the failures-th failure.
func (p loginPolicy) delay(failures int) time.Duration {
	if failures < p.free {
		return 0
	}
	d := p.base
	for i := p.free; i < failures && d < p.max; i++ {
		d *= 2
	}
	return min(d, p.max)
}

// wait is how long a new attempt on c must wait at now (0: go ahead).
// Attempts being checked count as failures until they are settled, so that
// simultaneous guesses cannot all start before the first one fails.
func (p loginPolicy) wait(c *loginCounter, now time.Time) time.Duration {
	if c.failures+c.inflight < p.free {
		return 0
	}
	if c.inflight > 0 {
		return max(p.delay(c.failures+c.inflight), time.Second)
	}
	if ready := c.last.Add(p.delay(c.failures)); now.Before(ready) {
		return ready.Sub(now)
	}
	return 0
}

type loginCounter struct {
	failures int
	last     time.Time // of the last failure
	inflight int       // attempts reserved and not settled yet
}

// loginLimiter counts failed sign-ins per (account, address) and per address
// across accounts, in memory and in the store: memory decides (it also
// counts attempts in flight), the store lets counters survive a restart.
// Memory holds at most maxKeys idle counters; an evicted counter is read
// back from the store when its key returns.
type loginLimiter struct {
	st      *store.Store
	account loginPolicy   // per (account, address)
	address loginPolicy   // per address: counts only failures
	forget  time.Duration // a counter restarts after this long without failure
	maxKeys int
	now     func() time.Time

	mu       sync.Mutex
	counters map[store.LoginFailureKey]*loginCounter
	pruned   time.Time // when the store's old counters were last deleted
	// settled is closed (and replaced) whenever an attempt is settled:
	// attempts queued behind attempts in flight wait for it.
	settled chan struct{}
}

// maxQueue bounds how long an attempt waits for the attempts in flight
// before it (queue).
const maxQueue = 30 * time.Second

func newLoginLimiter(st *store.Store) *loginLimiter {
	return &loginLimiter{
		st:       st,
		account:  loginPolicy{free: 5, base: time.Second, max: 15 * time.Minute},
		address:  loginPolicy{free: 100, base: time.Second, max: 15 * time.Minute},
		forget:   time.Hour,
		maxKeys:  10000,
		now:      time.Now,
		counters: map[store.LoginFailureKey]*loginCounter{},
		settled:  make(chan struct{}),
	}
}

// loginLease is a reserved attempt: exactly one of its methods settles it.
type loginLease struct {
	l    *loginLimiter
	keys [2]store.LoginFailureKey // (account, address), then (address)
}

// reserve admits one password check of username from addr, or refuses it
// with a TooMany error that says when to try again.
//
// An attempt that would pass but for the attempts in flight (the free
// failures are not used up by failures) waits for them to settle, up to
// maxQueue, rather than being refused: simultaneous sign-ins of one account
// from one address (twenty CI jobs asking for tokens at once) are checked
// a few at a time, and the right password lets the others through (most
// without a hash: verifiedCache), while simultaneous guesses still start no
// sooner than the failures before them are counted.
func (l *loginLimiter) reserve(ctx context.Context, username, addr string) (*loginLease, error) {
	deadline := l.now().Add(maxQueue)
	for {
		lease, settled, err := l.tryReserve(ctx, username, addr)
		if settled == nil || !l.now().Before(deadline) {
			return lease, err
		}
		timer := time.NewTimer(deadline.Sub(l.now()))
		select {
		case <-settled:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, err
		}
		timer.Stop()
	}
}

// tryReserve is one try of reserve: a lease, or an error, with the channel
// to wait on when the attempt may be queued (nil when the error stands).
func (l *loginLimiter) tryReserve(ctx context.Context, username, addr string) (*loginLease, <-chan struct{}, error) {
	keys := [2]store.LoginFailureKey{{Username: username, Address: addr}, {Address: addr}}
	policies := [2]loginPolicy{l.account, l.address}
	for {
		if err := l.load(ctx, keys); err != nil {
			return nil, nil, err
		}
		l.mu.Lock()
		if l.counters[keys[0]] != nil && l.counters[keys[1]] != nil {
			break
		}
		l.mu.Unlock() // evicted meanwhile: read it again
	}
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	queue := true // every wait is for attempts in flight only
	for i, k := range keys {
		c := l.counter(k, now)
		if w := policies[i].wait(c, now); w > 0 {
			wait = max(wait, w)
			queue = queue && c.inflight > 0 && c.failures < policies[i].free
		}
	}
	if wait > 0 {
		wait = (wait + time.Second - 1).Truncate(time.Second) // whole seconds, never early
		err := &errs.Error{Kind: errs.TooMany, Code: "too_many_attempts", RetryAfter: wait,
			Message: fmt.Sprintf("Too many failed sign-ins from your address. Try again in %s.", humanWait(wait))}
		if queue {
			return nil, l.settled, err
		}
		return nil, nil, err
	}
	for _, k := range keys {
		l.counters[k].inflight++
	}
	l.evictLocked()
	return &loginLease{l: l, keys: keys}, nil, nil
}

// load reads the counters of keys that memory does not hold from the store.
func (l *loginLimiter) load(ctx context.Context, keys [2]store.LoginFailureKey) error {
	for _, k := range keys {
		l.mu.Lock()
		_, ok := l.counters[k]
		l.mu.Unlock()
		if ok {
			continue
		}
		n, last, err := l.st.LoginFailures(ctx, k)
		if err != nil {
			return err
		}
		l.mu.Lock()
		if _, ok := l.counters[k]; !ok { // else a concurrent request loaded it first
			l.counters[k] = &loginCounter{failures: n, last: last}
		}
		l.mu.Unlock()
	}
	return nil
}

// counter returns k's counter, restarted when its last failure is old. The
// caller holds mu, and k's counter is in memory (loaded, or held by a lease).
func (l *loginLimiter) counter(k store.LoginFailureKey, now time.Time) *loginCounter {
	c := l.counters[k]
	if c.failures > 0 && now.Sub(c.last) >= l.forget {
		c.failures = 0
	}
	return c
}

// evictLocked drops idle counters beyond maxKeys (they are in the store).
func (l *loginLimiter) evictLocked() {
	if len(l.counters) <= l.maxKeys {
		return
	}
	for k, c := range l.counters {
		if c.inflight == 0 {
			delete(l.counters, k)
		}
		if len(l.counters) <= l.maxKeys*9/10 {
			return
		}
	}
}

func humanWait(d time.Duration) string {
	if d < 2*time.Minute {
		return fmt.Sprintf("%d seconds", int(d/time.Second))
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}

// failed settles the attempt as a wrong password: both counters grow, in
// memory and in the store. The store is written even when the client has
// gone away, so that hanging up does not erase a guess.
func (ls *loginLease) failed(ctx context.Context) error {
	l := ls.l
	l.mu.Lock()
	now := l.now()
	var counts [2]int
	for i, k := range ls.keys {
		c := l.counter(k, now)
		c.failures++
		c.last = now
		counts[i] = c.failures
	}
	prune := now.Sub(l.pruned) >= time.Minute
	if prune {
		l.pruned = now
	}
	l.mu.Unlock()
	defer ls.release()
	ctx = context.WithoutCancel(ctx)
	var errList []error
	for i, k := range ls.keys {
		errList = append(errList, l.st.SetLoginFailures(ctx, k, counts[i], now))
	}
	if prune {
		errList = append(errList, l.st.DeleteLoginFailuresBefore(ctx, now.Add(-l.forget)))
	}
	return errors.Join(errList...)
}

// succeeded settles the attempt as the right password: the (account,
// address) counter restarts; the address's counts only failures and stays.
func (ls *loginLease) succeeded(ctx context.Context) error {
	l := ls.l
	l.mu.Lock()
	c := l.counters[ls.keys[0]]
	upTo := c.last
	c.failures, c.last = 0, time.Time{}
	l.mu.Unlock()
	defer ls.release()
	if upTo.IsZero() {
		return nil
	}
	return l.st.ClearLoginFailures(context.WithoutCancel(ctx), ls.keys[0], upTo)
}

// release settles the attempt without an outcome (no password was checked).
func (ls *loginLease) release() {
	ls.l.mu.Lock()
	defer ls.l.mu.Unlock()
	for _, k := range ls.keys {
		ls.l.counters[k].inflight--
	}
	close(ls.l.settled)
	ls.l.settled = make(chan struct{})
}
