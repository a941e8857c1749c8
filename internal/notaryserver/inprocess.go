package notaryserver

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

type inProcessKey struct{}

type actorKey struct{}

// WithActor names the trustdeck account on whose behalf an in-process
// request is made, so hooks record the real actor.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// InProcessActor returns the actor WithActor set ("trustdeck" if none).
func InProcessActor(ctx context.Context) string {
	if a, _ := ctx.Value(actorKey{}).(string); a != "" {
		return a
	}
	return "trustdeck"
}

// ActingAs returns a round tripper that sends every request through rt with
// actor set on its context (WithActor). trustdeck publishes to its embedded
// server through notary's client, whose requests carry no context of the
// caller's: an operation made for a user builds its remote store over
// ActingAs(InProcess(…), user), so the server's hooks name that user. Over a
// network transport the actor goes nowhere.
func ActingAs(rt http.RoundTripper, actor string) http.RoundTripper {
	return actingAs{rt: rt, actor: actor}
}

type actingAs struct {
	rt    http.RoundTripper
	actor string
}

func (t actingAs) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.rt.RoundTrip(r.WithContext(WithActor(r.Context(), t.actor)))
}

// IsInProcess reports whether r came through InProcess: trustdeck itself
// reading its embedded server. No network client can set this.
func IsInProcess(ctx context.Context) bool {
	v, _ := ctx.Value(inProcessKey{}).(bool)
	return v
}

// InProcess returns an http.RoundTripper that serves requests with h in the
// same process, without a socket or TLS. trustdeck's own trust reader uses it
// to read the embedded server exactly as a Notary client would, through the
// same handlers (so stale timestamps are re-signed the same way). Requests
// are marked (IsInProcess) so the Authorizer can let them through:
// authorization is left to the caller of the reader.
func InProcess(h http.Handler) http.RoundTripper {
	return inProcess{h}
}

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	w := &recorder{header: http.Header{}, status: http.StatusOK}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	t.h.ServeHTTP(w, r.Clone(context.WithValue(r.Context(), inProcessKey{}, true)))
	return &http.Response{
		Status:        http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(&w.body),
		ContentLength: int64(w.body.Len()),
		Request:       r,
	}, nil
}

// recorder is the minimal http.ResponseWriter InProcess needs.
type recorder struct {
	header      http.Header
	body        bytes.Buffer
	status      int
	wroteHeader bool
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// replay writes what w recorded to another response.
func (w *recorder) replay(to http.ResponseWriter) {
	h := to.Header()
	for k, v := range w.header {
		h[k] = v
	}
	to.WriteHeader(w.status)
	to.Write(w.body.Bytes())
}
