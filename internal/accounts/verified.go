package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"sync"
	"time"

	"github.com/trustdeck/trustdeck/internal/lru"
)

// verifiedCache remembers successful password checks for a short time, so
// that a docker or notary command, which asks /auth/token for a token
// several times with the same credentials, costs one argon2id hash rather
// than one per request. Failures are never remembered.
//
// An entry's key is an HMAC, under a random key of this process, of the user
// name, the password and the stored password hash: memory holds no password
// nor anything to test guesses against offline, and a changed password
// (here or by another process on the same database) misses at once, since
// the stored hash changed. Password changes also drop the user's entries.
type verifiedCache struct {
	key     [32]byte
	ttl     time.Duration
	now     func() time.Time
	entries *lru.Cache[[32]byte, verifiedEntry]
}

type verifiedEntry struct {
	userID  int64
	expires time.Time
}

// verifiedTTL equals the lifetime of registry tokens: a token already lets
// its holder act that long without the password being checked again.
const verifiedTTL = 5 * time.Minute

// verifiedMax bounds the entries; the least recently used go first.
const verifiedMax = 4096

func newVerifiedCache() *verifiedCache {
	v := &verifiedCache{ttl: verifiedTTL, now: time.Now, entries: lru.New[[32]byte, verifiedEntry](verifiedMax, nil)}
	if _, err := rand.Read(v.key[:]); err != nil {
		panic("accounts: no randomness for the verified-password cache: " + err.Error())
	}
	return v
}

func (v *verifiedCache) sum(username, password, storedHash string) [32]byte {
	m := hmac.New(sha256.New, v.key[:])
	for _, s := range []string{username, password, storedHash} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		m.Write(n[:])
		io.WriteString(m, s)
	}
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// has reports whether k was verified for userID and has not expired.
func (v *verifiedCache) has(k [32]byte, userID int64) bool {
	e, ok := v.entries.Get(k)
	if ok && !v.now().Before(e.expires) {
		v.entries.Remove(k)
		return false
	}
	return ok && e.userID == userID
}

// add remembers a successful check.
func (v *verifiedCache) add(k [32]byte, userID int64) {
	v.entries.Put(k, verifiedEntry{userID: userID, expires: v.now().Add(v.ttl)})
}

// forgetUser drops every entry of userID.
func (v *verifiedCache) forgetUser(userID int64) {
	v.entries.RemoveIf(func(_ [32]byte, e verifiedEntry) bool { return e.userID == userID })
}

// hashFlights runs one password hash for callers that check the same name
// and password (the same verifiedCache key) at the same time: the first
// computes, the others wait for its answer. Nothing outlives the check.
type hashFlights struct {
	mu sync.Mutex
	m  map[[32]byte]*hashFlight
}

type hashFlight struct {
	done chan struct{}
	ok   bool
	err  error
}

// do runs check for key unless a check of key is in progress, whose answer
// it then waits for (or for ctx to end).
func (h *hashFlights) do(ctx context.Context, key [32]byte, check func() (bool, error)) (bool, error) {
	h.mu.Lock()
	for f, ok := h.m[key]; ok; f, ok = h.m[key] {
		h.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return false, errHashBusy
		}
		if f.err == nil {
			return f.ok, nil
		}
		// The one that hashed gave up (its client left, or no slot in
		// time): check here, or wait for whoever checks now.
		h.mu.Lock()
	}
	if h.m == nil {
		h.m = make(map[[32]byte]*hashFlight)
	}
	f := &hashFlight{done: make(chan struct{})}
	h.m[key] = f
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.m, key)
		h.mu.Unlock()
		close(f.done)
	}()
	f.ok, f.err = check()
	return f.ok, f.err
}
