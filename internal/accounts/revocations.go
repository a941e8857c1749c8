package accounts

import (
	"sync"
	"time"
)

// revocations remembers, per user name, since when the user's registry
// tokens are valid: a role change or a password change voids the tokens
// issued before it, which would otherwise keep their rights until they
// expire. Tokens carry their issue time in whole seconds, so a change voids
// every token issued up to the end of its second; the token service waits
// for the next second before issuing that user a new one.
//
// It lives in this process's memory: a restart forgets it, and tokens issued
// before the restart keep their rights until they expire (tokens.DefaultTTL).
// Other replicas on the same database learn of a change from the store's
// change log (Service.UserChangedElsewhere) and void the tokens too.
type revocations struct {
	retain time.Duration // longer than any token lives
	now    func() time.Time

	mu   sync.Mutex
	from map[string]time.Time
	all  time.Time // every user's tokens issued before it are void
}

func newRevocations() *revocations {
	return &revocations{retain: time.Hour, now: time.Now, from: map[string]time.Time{}}
}

// revoke voids username's tokens issued until now.
func (r *revocations) revoke(username string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for u, t := range r.from { // forget what no live token can predate
		if now.Sub(t) > r.retain {
			delete(r.from, u)
		}
	}
	r.from[username] = now.Truncate(time.Second).Add(time.Second)
}

// validFrom returns the earliest issue time of username's valid tokens
// (zero: all are valid).
func (r *revocations) validFrom(username string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.from[username]; t.After(r.all) {
		return t
	}
	return r.all
}

// revokeAll voids every user's tokens issued until now.
func (r *revocations) revokeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = r.now().Truncate(time.Second).Add(time.Second)
}
