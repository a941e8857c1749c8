package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/trustdeck/trustdeck/internal/config"
	"github.com/trustdeck/trustdeck/internal/handlers"
	"github.com/trustdeck/trustdeck/internal/metrics"
	"github.com/trustdeck/trustdeck/internal/notaryclient"
)

// The operational surface (issue 14): metrics, rate limits, the embedded
// Notary API's Cache-Control, and what /readyz checks.

// rateLimits builds the handlers' rate limits from the configuration.
func rateLimits(cfg *config.Config, m *metrics.Metrics) *handlers.RateLimits {
	l := &handlers.RateLimits{
		Login:       handlers.NewRateLimit(cfg.RateLogin.N, cfg.RateLogin.Per),
		Token:       handlers.NewRateLimit(cfg.RateToken.N, cfg.RateToken.Per),
		NotaryWrite: handlers.NewRateLimit(cfg.RateNotaryWrite.N, cfg.RateNotaryWrite.Per),
		NotaryRead:  handlers.NewRateLimit(cfg.RateNotaryRead.N, cfg.RateNotaryRead.Per),
		// trustdeck's own accounts at the external servers; an unset one
		// ("") is never looked up (the limits check a known account only).
		TokenExempt: map[string]bool{cfg.NotaryUsername: true, cfg.RegistryUsername: true},
	}
	if m != nil {
		l.Refused = m.RateLimited
	}
	return l
}

// cacheMaxAge is a notaryserver.Config max-age from a flag: 0 forbids
// caching (notaryserver's negative).
func cacheMaxAge(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// clientErrorCause names the cause of a failed request to server f
// configures, for the metrics.
func clientErrorCause(f notaryclient.Flags) func(error) string {
	return func(err error) string {
		if kind, _ := f.Cause(err); kind != "" {
			return kind
		}
		var gw *notaryclient.GatewayError
		if errors.As(err, &gw) {
			return "gateway"
		}
		return ""
	}
}

// pingDependency is a /readyz check of the server at base through rt: it
// answers (any status below 500 at path, a ping that may need a token) or
// it does not (a brief cause, without secrets).
func pingDependency(name, base string, rt http.RoundTripper, f notaryclient.Flags, paths ...string) handlers.Dependency {
	client := &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base = strings.TrimSuffix(base, "/")
	return handlers.Dependency{Name: name, Check: func(ctx context.Context) error {
		var last error
		for _, p := range paths {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				if kind, why := f.Cause(err); kind != "" {
					return fmt.Errorf("%s: %s", kind, why)
				}
				return errors.New("the request failed")
			}
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusNotFound:
				last = fmt.Errorf("%s answered 404", p)
				continue // try the next path
			case resp.StatusCode >= 500:
				return fmt.Errorf("%s answered %d %s", p, resp.StatusCode, http.StatusText(resp.StatusCode))
			}
			return nil
		}
		return last
	}}
}

// listenMetrics opens --metrics-addr.
func (a *App) listenMetrics() (net.Listener, error) {
	ln, err := net.Listen("tcp", a.Config.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	return ln, nil
}

// serveMetrics serves /metrics on ln (plain HTTP) until ctx ends.
func (a *App) serveMetrics(ctx context.Context, ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	a.Log.Info("metrics: Prometheus metrics on their own listener (--metrics-addr)", "url", "http://"+ln.Addr().String()+"/metrics")
	serveUntil(ctx, ln, mux)
}
