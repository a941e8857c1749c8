// Package logbuf batches log output: a line per request written straight
// to stderr is a system call per request, which on the Notary API's hot path
// costs more than answering. Lines are kept in memory and written together
// at most FlushAfter after the first of them, or once MaxBuffered bytes are
// waiting; a record at warning level or above is written at once, with
// everything before it, and so is everything when the program ends (Flush).
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

const (
	// FlushAfter bounds how long a line waits in memory.
	FlushAfter = 100 * time.Millisecond
	// MaxBuffered is how many bytes wait at most before they are written.
	MaxBuffered = 64 << 10
)

// Writer batches writes to an underlying writer. It is safe for concurrent
// use; each Write (one log record) is kept whole.
type Writer struct {
	mu    sync.Mutex
	out   io.Writer
	buf   []byte
	timer *time.Timer // armed while buf holds lines
}

// NewWriter returns a Writer in front of out.
func NewWriter(out io.Writer) *Writer {
	return &Writer{out: out}
}

// Write keeps p to be written with the next batch.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) >= MaxBuffered {
		return len(p), w.flushLocked()
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(FlushAfter, func() { w.Flush() })
	}
	return len(p), nil
}

// Flush writes everything kept so far.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	if cap(w.buf) > 4*MaxBuffered {
		w.buf = nil // do not keep a burst's memory
	} else {
		w.buf = w.buf[:0]
	}
	return err
}

// Handler wraps h, which writes to w, so that records at warning level and
// above are written at once.
func Handler(h slog.Handler, w *Writer) slog.Handler {
	return handler{h, w}
}

type handler struct {
	slog.Handler
	w *Writer
}

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(attrs), h.w}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{h.Handler.WithGroup(name), h.w}
}
