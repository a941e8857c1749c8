package accounts

import (
	"sync"
	"time"
)

// throttle counts failures per key (wrong key passphrases per account) in a
// sliding window and refuses further attempts once a key reaches its limit.
type throttle struct {
	mu     sync.Mutex
	window time.Duration
	limit  int
	fails  map[string][]time.Time
	now    func() time.Time
}

func newThrottle(limit int, window time.Duration) *throttle {
	return &throttle{window: window, limit: limit, fails: map[string][]time.Time{}, now: time.Now}
}

// blocked reports whether key is locked out and for how long.
func (t *throttle) blocked(key string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recent := t.prune(key)
	if len(recent) < t.limit {
		return false, 0
	}
	return true, recent[0].Add(t.window).Sub(t.now())
}

func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fails[key] = append(t.prune(key), t.now())
	if len(t.fails) > 100000 { // bound memory under a spray of distinct keys
		for k := range t.fails {
			delete(t.fails, k)
			if len(t.fails) <= 50000 {
				break
			}
		}
	}
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}

// prune drops failures older than the window; the caller holds mu.
func (t *throttle) prune(key string) []time.Time {
	cut := t.now().Add(-t.window)
	list := t.fails[key]
	i := 0
	for i < len(list) && list[i].Before(cut) {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(t.fails, key)
		return nil
	}
	t.fails[key] = list
	return list
}
