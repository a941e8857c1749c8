package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// Handler is trustdeck's HTTP interface as served: Routes, with the
// embedded Notary API's requests taken before echo. They are most of the
// traffic (every docker and notary command reads several metadata files)
// and need nothing of what pages need (sessions, CSRF, a CSP nonce): they
// get hardening headers (apiHeaders), a request ID, panic recovery and the
// request log, as every other request does.
func (s *Server) Handler() http.Handler {
	e := s.Routes()
	if s.Notary == nil {
		return e
	}
	notary := s.NotaryHandler()
	hardening := s.apiHeaders()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != "/v2" && !strings.HasPrefix(p, "/v2/") {
			e.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		h := w.Header()
		for k, v := range hardening {
			h[k] = v
		}
		id := r.Header.Get(echo.HeaderXRequestID)
		if id == "" {
			id = newRequestID()
		}
		h[echo.HeaderXRequestID] = []string{id}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Log.Error("notary API request panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					writeJSONError(sw, http.StatusInternalServerError, "internal", "Internal server error.")
				}
			}
			s.logRequest(r, sw.status, time.Since(start), id, "", false)
		}()
		s.catchUp(r)
		notary.ServeHTTP(sw, r)
	})
}

// apiHeaders are the hardening headers of the Notary API's JSON: a CSP that
// lets a browser that opens it run, load or frame nothing, and no content
// sniffing. What pages need beyond that (X-Frame-Options, Referrer-Policy,
// COOP, Permissions-Policy) protects documents that run script or link
// elsewhere, which JSON under this CSP cannot; every header more is work on
// every one of the API's many small responses.
func (s *Server) apiHeaders() http.Header {
	h := http.Header{}
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	if s.HSTS {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	return h
}

// writeJSONError answers the API's error body without echo.
func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`+"\n", code, message)
}

// Request IDs of the Notary API: a random prefix per process and a counter.
var (
	requestIDPrefix = func() string {
		b := make([]byte, 8)
		rand.Read(b)
		return hex.EncodeToString(b)
	}()
	requestIDs atomic.Uint64
)

func newRequestID() string {
	return requestIDPrefix + strconv.FormatUint(requestIDs.Add(1), 36)
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequest writes the request's line in the log; only 5xx are errors, and
// not those that shed load on purpose (shed: the answer has a Retry-After).
func (s *Server) logRequest(r *http.Request, status int, took time.Duration, requestID, user string, shed bool) {
	if status == 0 {
		status = http.StatusOK // nothing written: net/http answers 200
	}
	level := slog.LevelInfo
	switch {
	case status >= 500 && shed:
		level = slog.LevelWarn
	case status >= 500:
		level = slog.LevelError
	}
	method := r.Method
	if r.Context().Value(servedAsGet{}) != nil {
		method = http.MethodHead // answered as GET without the body
	}
	ctx := r.Context()
	h := s.Log.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	// A record without a caller: Logger.LogAttrs would look it up
	// (runtime.Callers), which costs more than the rest of the line.
	rec := slog.NewRecord(time.Now(), level, "request", 0)
	rec.AddAttrs(slog.String("method", method), slog.String("path", r.URL.Path), slog.Int("status", status),
		slog.Duration("duration", took.Round(time.Microsecond)), slog.String("remote", remoteIP(r)),
		slog.String("request_id", requestID))
	if user != "" {
		rec.AddAttrs(slog.String("user", user))
	}
	h.Handle(ctx, rec)
}

// remoteIP is the client's address without the port.
func remoteIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
