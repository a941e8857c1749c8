package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Rate is a request rate limit: N requests per Per, N at once at most
// (a bucket of N tokens that refills N per Per). The zero Rate is no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.N <= 0 || r.Per <= 0 }

// Set parses s (ParseRate): flag.Value.
func (r *Rate) Set(s string) error {
	v, err := ParseRate(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

func (r *Rate) String() string {
	if r == nil {
		return ""
	}
	if r.Off() {
		return "off"
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

// ParseRate reads "N/DURATION" (60/1m, 10/1s), or "0" / "off" for none.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "0" || s == "off" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q: want N/DURATION (60/1m) or off", s)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 0 {
		return Rate{}, fmt.Errorf("%q: %q is not a count of requests", s, n)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("%q: %q is not a positive duration (1s, 1m, 1h)", s, per)
	}
	return Rate{N: count, Per: d}, nil
}

// Defaults of the rate limits. Each applies per client address and, once
// the account is known, per account. A CI runner that publishes from 20
// jobs at once asks for a few tokens and one write per publish: far below.
const (
	DefaultRateLogin       = "300/1m"
	DefaultRateToken       = "1200/1m"
	DefaultRateNotaryWrite = "300/1m"
	DefaultRateNotaryRead  = "off"
)

// notary-server's Cache-Control defaults (caching.max_age), and its bound.
const (
	DefaultCurrentMaxAge    = 5 * time.Minute
	DefaultConsistentMaxAge = 30 * 24 * time.Hour
	MaxCacheMaxAge          = 365 * 24 * time.Hour
)

func (c *Config) opsOptions() []option {
	return []option{
		{flag: "metrics-addr", env: "TRUSTDECK_METRICS_ADDR", str: &c.MetricsAddr,
			help: "serve Prometheus metrics at http://<host:port>/metrics (plain HTTP, its own listener, no authentication); off when empty"},
		{flag: "rate-login", env: "TRUSTDECK_RATE_LOGIN", def: DefaultRateLogin, rate: &c.RateLogin,
			help: "sign-ins (POST /login) allowed per client address and per account: N/DURATION, or off"},
		{flag: "rate-token", env: "TRUSTDECK_RATE_TOKEN", def: DefaultRateToken, rate: &c.RateToken,
			help: "token requests (/auth/token) allowed per client address and per account: N/DURATION, or off"},
		{flag: "rate-notary-write", env: "TRUSTDECK_RATE_NOTARY_WRITE", def: DefaultRateNotaryWrite, rate: &c.RateNotaryWrite,
			help: "embedded Notary API writes (publish, delete, key rotation) allowed per client address and per account: N/DURATION, or off"},
		{flag: "rate-notary-read", env: "TRUSTDECK_RATE_NOTARY_READ", def: DefaultRateNotaryRead, rate: &c.RateNotaryRead,
			help: "embedded Notary API reads allowed per client address and per account: N/DURATION, or off"},
		{flag: "notary-cache-current-max-age", env: "TRUSTDECK_NOTARY_CACHE_CURRENT_MAX_AGE", def: DefaultCurrentMaxAge.String(), dur: &c.CurrentMaxAge,
			help: "Cache-Control max-age of current metadata (root.json, timestamp.json, …) on the embedded Notary API, revalidated after it (notary-server's caching.max_age.current_metadata); 0 forbids caching"},
		{flag: "notary-cache-consistent-max-age", env: "TRUSTDECK_NOTARY_CACHE_CONSISTENT_MAX_AGE", def: DefaultConsistentMaxAge.String(), dur: &c.ConsistentMaxAge,
			help: "Cache-Control max-age of metadata by checksum or version, which never changes (notary-server's caching.max_age.consistent_metadata); 0 forbids caching"},
	}
}

func (c *Config) completeOps() error {
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			return fmt.Errorf("--metrics-addr %q: want host:port (:9090, 127.0.0.1:9090)", c.MetricsAddr)
		}
	}
	for flag, d := range map[string]time.Duration{
		"--notary-cache-current-max-age": c.CurrentMaxAge, "--notary-cache-consistent-max-age": c.ConsistentMaxAge,
	} {
		if d < 0 || d > MaxCacheMaxAge || d%time.Second != 0 {
			return fmt.Errorf("%s %s: want whole seconds from 0 to %s (one year), as notary-server", flag, d, MaxCacheMaxAge)
		}
	}
	return nil
}
