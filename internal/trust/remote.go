package trust

import (
	"context"
	"errors"

	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"
)

// errReadOnly answers every write: a Reader never changes trust data.
var errReadOnly = errors.New("trust: the reader's remote store is read-only")

// readOnlyRemote wraps the caller's remote store for one load: it stops
// waiting when the context ends, refuses writes, and remembers how the last
// timestamp download went (notary's client would silently fall back to a
// cached timestamp; Load does not). It is used by one goroutine at a time.
type readOnlyRemote struct {
	ctx    context.Context
	remote store.RemoteStore
	// prefetched, if set, answers the next timestamp request.
	prefetched []byte
	// timestamp and timestampErr are the result of the last timestamp
	// request.
	timestamp    []byte
	timestampErr error
}

var _ store.RemoteStore = (*readOnlyRemote)(nil)

func (s *readOnlyRemote) GetSized(name string, size int64) ([]byte, error) {
	if name != data.CanonicalTimestampRole.String() {
		return s.get(name, size)
	}
	b, err := s.prefetched, error(nil)
	s.prefetched = nil
	if b == nil {
		b, err = s.get(name, size)
	}
	s.timestamp, s.timestampErr = b, err
	return b, err
}

func (s *readOnlyRemote) get(name string, size int64) ([]byte, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, store.NetworkError{Wrapped: err}
	}
	if s.ctx.Done() == nil {
		return s.remote.GetSized(name, size)
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := s.remote.GetSized(name, size)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-s.ctx.Done():
		return nil, store.NetworkError{Wrapped: s.ctx.Err()}
	}
}

func (s *readOnlyRemote) Location() string { return s.remote.Location() }

func (s *readOnlyRemote) Set(string, []byte) error                { return errReadOnly }
func (s *readOnlyRemote) SetMulti(map[string][]byte) error        { return errReadOnly }
func (s *readOnlyRemote) RemoveAll() error                        { return errReadOnly }
func (s *readOnlyRemote) Remove(string) error                     { return errReadOnly }
func (s *readOnlyRemote) GetKey(data.RoleName) ([]byte, error)    { return nil, errReadOnly }
func (s *readOnlyRemote) RotateKey(data.RoleName) ([]byte, error) { return nil, errReadOnly }
