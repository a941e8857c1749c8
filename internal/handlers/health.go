package handlers

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Dependency is a server trustdeck depends on besides its database (the
// external Notary server, the registry), reported by /readyz.
type Dependency struct {
	Name string // "notary", "registry"
	// Check returns nil when the server answers, else an error whose text
	// says briefly why (it is shown without authentication: no secrets).
	Check func(ctx context.Context) error
}

// readyTimeout bounds each readiness check.
const readyTimeout = 3 * time.Second

// check is one result of /readyz?verbose.
type check struct {
	Status     string `json:"status"` // ok, error
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// readyz reports whether this trustdeck can serve: its database answers.
// The external Notary server and the registry, where configured, are
// checked and reported too, but do not make trustdeck unready: every
// replica shares them, and the pages explain their outages. Plain text by
// default ("ready" or "database unavailable", then a line per failed
// dependency); JSON with ?verbose.
func (s *Server) readyz(c echo.Context) error {
	ctx := c.Request().Context()
	names, checks := []string{"database"}, []func(context.Context) error{s.DB.Ping}
	for _, d := range s.Dependencies {
		names, checks = append(names, d.Name), append(checks, d.Check)
	}
	results := make([]check, len(checks))
	var wg sync.WaitGroup
	for i, run := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			start := time.Now()
			err := run(cctx)
			results[i] = check{Status: "ok", DurationMS: time.Since(start).Milliseconds()}
			if err != nil {
				results[i].Status, results[i].Error = "error", err.Error()
			}
		})
	}
	wg.Wait()

	status, overall := http.StatusOK, "ready"
	if results[0].Status != "ok" {
		s.Log.Error("readiness check failed", "check", "database", "err", results[0].Error)
		results[0].Error = "the database does not answer"
		status, overall = http.StatusServiceUnavailable, "unavailable"
	} else {
		for _, r := range results[1:] {
			if r.Status != "ok" {
				overall = "degraded"
			}
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if _, verbose := c.QueryParams()["verbose"]; verbose {
		body := struct {
			Status string           `json:"status"`
			Checks map[string]check `json:"checks"`
		}{overall, map[string]check{}}
		for i, r := range results {
			body.Checks[names[i]] = r
		}
		return c.JSON(status, body)
	}
	var b strings.Builder
	if status == http.StatusOK {
		b.WriteString("ready\n")
	} else {
		b.WriteString("database unavailable\n")
	}
	for i, r := range results[1:] {
		if r.Status != "ok" {
			b.WriteString(names[1+i] + ": " + r.Error + "\n")
		}
	}
	return c.String(status, b.String())
}

// NotaryHealthPath is where notary-server answers its health check; the
// embedded Notary API answers it the same way, for existing monitors.
const NotaryHealthPath = "/_notary_server/health"

const notaryJSON = "application/json; charset=utf-8"

// notaryHealth answers like notary-server's health check: GET gives 200 and
// {} when healthy, 503 and {"<check>": "<error>"} when not (notary-server's
// check of its database is named "DB operational"); other methods 404.
func (s *Server) notaryHealth(c echo.Context) error {
	if c.Request().Method != http.MethodGet {
		return c.Blob(http.StatusNotFound, notaryJSON,
			[]byte(`{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist."}]}`))
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		s.Log.Error("health check failed", "check", "DB operational", "err", err)
		return c.Blob(http.StatusServiceUnavailable, notaryJSON, []byte(`{"DB operational":"the database does not answer"}`))
	}
	return c.Blob(http.StatusOK, notaryJSON, []byte(`{}`))
}
