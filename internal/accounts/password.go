package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// argon2id parameters (OWASP's minimum recommendation: 19 MiB, 2 passes).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// Password rules for passwords set through trustdeck. MaxPasswordBytes also
// bounds what a login hashes: a longer password fails without a hash.
const (
	MinPasswordLength = 8
	MaxPasswordBytes  = 1024
)

// PasswordRule is the rule in words, for the forms that set a password.
var PasswordRule = fmt.Sprintf("At least %d characters and at most %d bytes, and not one of the most common passwords"+
	" (attackers try those first).", MinPasswordLength, MaxPasswordBytes)

// checkNewPassword applies the password rules to a password about to be set
// for username.
func checkNewPassword(username, password string) error {
	switch {
	case len(password) < MinPasswordLength:
		return errs.Invalidf("weak_password", "The password must have at least %d characters.", MinPasswordLength)
	case len(password) > MaxPasswordBytes:
		return errs.Invalidf("password_too_long", "The password must have at most %d bytes.", MaxPasswordBytes)
	case commonPasswords[strings.ToLower(password)] || strings.EqualFold(password, username):
		return errs.Invalidf("common_password",
			"This password is one of the most common passwords (or the user name), which attackers try first. Choose another.")
	}
	return nil
}

// hashSlots bounds the argon2id computations running at once in the whole
// process: each holds 19 MiB, and more of them than cores only queue for CPU
// while holding their memory.
var hashSlots = make(chan struct{}, runtime.NumCPU())

// hashSlotWait is how long a password check waits for a free slot before
// the server answers that it is busy.
var hashSlotWait = 2 * time.Second

var errHashBusy = &errs.Error{Kind: errs.Unavailable, Code: "busy", RetryAfter: 2 * time.Second,
	Message: "The server is busy checking other passwords. Try again in a few seconds."}

// withHashSlot runs fn, an argon2id computation, once a slot is free; it
// waits at most hashSlotWait, or until ctx ends, then answers errHashBusy.
func withHashSlot(ctx context.Context, fn func()) error {
	t := time.NewTimer(hashSlotWait)
	defer t.Stop()
	select {
	case hashSlots <- struct{}{}:
	case <-t.C:
		return errHashBusy
	case <-ctx.Done(): // the client left: nobody reads the answer
		return errHashBusy
	}
	defer func() { <-hashSlots }()
	fn()
	return nil
}

// argonRuns counts argon2id computations since the process started.
var argonRuns atomic.Int64

// PasswordHashes returns how many argon2id hashes this process has computed
// (hashing new passwords and checking given ones): what a password guessing
// attack costs the server.
func PasswordHashes() int64 { return argonRuns.Load() }

func idKey(password string, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	argonRuns.Add(1)
	return argon2.IDKey([]byte(password), salt, t, m, p, n)
}

// HashPassword returns a PHC-style argon2id hash of password.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := idKey(password, salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime,
		argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// hashNewPassword hashes a password being set, in a hash slot.
func hashNewPassword(ctx context.Context, password string) (string, error) {
	var hash string
	var err error
	if slotErr := withHashSlot(ctx, func() { hash, err = HashPassword(password) }); slotErr != nil {
		return "", slotErr
	}
	return hash, err
}

// CheckPassword reports whether password matches hash.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := idKey(password, salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is compared against when the user does not exist, so that a
// missing account takes as long as a wrong password.
var dummyHash, _ = HashPassword("trustdeck-timing-equaliser")
