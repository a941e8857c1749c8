// Package ratelimit limits request rates per key (a client address, an
// account) with token buckets held in memory.
//
// It limits volume: how many requests of a kind one address or one account
// sends. It is not the sign-in failure limiter (internal/accounts, stored in
// login_attempts), which slows password guessing by counting wrong passwords
// and survives restarts. The two count different things: a flood of requests
// is refused here before any password is checked; a slow guesser stays under
// these limits and meets the failure limiter's delays.
//
// Buckets live in each replica's memory: behind N replicas, a client that
// spreads its requests over all of them gets up to N times the limit.
package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"
)

// Limiter is one limit (N requests per period, N at once) over many keys.
// A nil *Limiter allows everything.
type Limiter struct {
	capacity float64
	perSec   float64 // refill
	full     time.Duration
	seed     maphash.Seed
	shards   [32]shard
	now      func() time.Time
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	sweepAt int // sweep when this many buckets are kept
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// maxPerShard is how many buckets a shard keeps before the full ones (of
// keys idle for a period) are swept away. Buckets of keys still active are
// kept: the next sweep then waits until the shard has doubled, so that
// sweeping costs O(1) per new key however many keys are active.
const maxPerShard = 4096

// New returns a limiter of n requests per period per key, or nil (no limit)
// when n or period is not positive.
func New(n int, period time.Duration) *Limiter {
	if n <= 0 || period <= 0 {
		return nil
	}
	l := &Limiter{capacity: float64(n), perSec: float64(n) / period.Seconds(), full: period,
		seed: maphash.MakeSeed(), now: time.Now}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
		l.shards[i].sweepAt = maxPerShard
	}
	return l
}

// Allow takes one request of key: ok, or refused with how long until a
// request of key is allowed again (at least a second).
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	sh := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[key]
	if b == nil {
		if len(sh.buckets) >= sh.sweepAt {
			l.sweep(sh, now)
			sh.sweepAt = max(maxPerShard, 2*len(sh.buckets))
		}
		b = &bucket{tokens: l.capacity, at: now}
		sh.buckets[key] = b
	}
	b.tokens = min(l.capacity, b.tokens+now.Sub(b.at).Seconds()*l.perSec)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.perSec * float64(time.Second))
	return false, max((wait + time.Second - 1).Truncate(time.Second), time.Second)
}

// sweep forgets the buckets that have refilled (their keys were idle for a
// whole period): forgetting them changes nothing.
func (l *Limiter) sweep(sh *shard, now time.Time) {
	for k, b := range sh.buckets {
		if now.Sub(b.at) >= l.full {
			delete(sh.buckets, k)
		}
	}
}
