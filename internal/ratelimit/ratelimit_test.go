package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestBucket: n requests pass at once, the next is refused with the time
// until one more token, keys are independent, and the bucket refills.
func TestBucket(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	l := New(3, time.Minute)
	l.now = clk.now
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 20*time.Second {
		t.Errorf("4th request: ok %v, retry after %v, want refused for 20s (3 per minute)", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another key is refused")
	}
	clk.t = clk.t.Add(20 * time.Second)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("refused after a token came back")
	}
	if ok, wait := l.Allow("a"); ok || wait < time.Second {
		t.Errorf("no token left: ok %v wait %v", ok, wait)
	}
}

// TestOffAndSweep: a zero limit allows everything; idle keys are forgotten
// once a shard is full, without changing any answer, and many active keys
// cost no sweep per key.
func TestOffAndSweep(t *testing.T) {
	var off *Limiter = New(0, time.Minute)
	if ok, _ := off.Allow("x"); !ok || off != nil {
		t.Error("a zero limit refuses")
	}
	clk := &clock{t: time.Unix(1e9, 0)}
	l := New(1, time.Second)
	l.now = clk.now
	for i := range 40 * maxPerShard {
		l.Allow(fmt.Sprint(i))
	}
	clk.t = clk.t.Add(time.Second)
	for i := range 40 * maxPerShard {
		if ok, _ := l.Allow(fmt.Sprint("new", i)); !ok {
			t.Fatalf("new key %d refused", i)
		}
	}
	n := 0
	for i := range l.shards {
		n += len(l.shards[i].buckets)
	}
	if n >= 80*maxPerShard {
		t.Errorf("%d buckets kept: idle ones were not swept", n)
	}
}
