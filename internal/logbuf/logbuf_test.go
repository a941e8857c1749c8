package logbuf

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink counts the writes that reach the underlying writer.
type sink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.buf.Write(p)
}

func (s *sink) state() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String(), s.writes
}

func TestBatchesInfoLinesAndWritesWarningsAtOnce(t *testing.T) {
	out := &sink{}
	w := NewWriter(out)
	log := slog.New(Handler(slog.NewTextHandler(w, nil), w)).With("app", "trustdeck")
	for i := range 100 {
		log.Info("request", "n", i)
	}
	if got, n := out.state(); n != 0 || got != "" {
		t.Fatalf("info lines were written one by one (%d writes)", n)
	}
	log.Warn("something is off")
	got, n := out.state()
	if n != 1 || strings.Count(got, "\n") != 101 || !strings.HasSuffix(got, "msg=\"something is off\" app=trustdeck\n") {
		t.Fatalf("after a warning: %d writes, %d lines, ends %q", n, strings.Count(got, "\n"), got[max(0, len(got)-60):])
	}

	log.Info("later")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := out.state(); strings.Contains(got, "msg=later") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a lone line was not written within %s", FlushAfter)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWritesWhenTheBufferFills(t *testing.T) {
	out := &sink{}
	w := NewWriter(out)
	line := strings.Repeat("x", 1023) + "\n"
	for range MaxBuffered / len(line) {
		w.Write([]byte(line))
	}
	got, n := out.state()
	if n != 1 || len(got) != MaxBuffered {
		t.Fatalf("%d writes of %d bytes, want one of %d", n, len(got), MaxBuffered)
	}
	w.Write([]byte("tail\n"))
	w.Flush()
	if got, n := out.state(); n != 2 || !strings.HasSuffix(got, "tail\n") {
		t.Fatalf("Flush: %d writes", n)
	}
}
