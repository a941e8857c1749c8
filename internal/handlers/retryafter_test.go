package handlers

import (
	"testing"
	"time"
)

// A Retry-After is whole seconds rounded up, never 0: a client told 0 comes
// straight back and is refused again.
func TestRetryAfterSecondsRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Millisecond:        "1",
		999 * time.Millisecond:  "1",
		time.Second:             "1",
		1001 * time.Millisecond: "2",
		59*time.Second + 1:      "60",
	} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%s) = %q, want %q", d, got, want)
		}
	}
}
