package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/notaryserver"
	"github.com/trustdeck/trustdeck/internal/ratelimit"
)

// RateLimits bound how many requests of a kind one client address and one
// account send (internal/ratelimit): sign-ins, token requests, and the
// embedded Notary API's writes and reads. A refused request is answered 429
// with Retry-After, before any password is checked. Wrong passwords are
// the accounts service's business (its failure limiter), not these limits'.
type RateLimits struct {
	Login, Token, NotaryWrite, NotaryRead RateLimit
	// TokenExempt are the accounts trustdeck itself sends to its token
	// service (--notary-username, --registry-username, when the external
	// Notary server's or the registry's realm is trustdeck): a token per
	// repository it reads, thousands after a start. Their token requests
	// are not limited (wrong passwords still are, by the failure limiter).
	TokenExempt map[string]bool
	// Refused, when set, is told of every refusal (metrics): the endpoint
	// ("login", "token", "notary_write", "notary_read") and what was over
	// its limit ("address", "account").
	Refused func(endpoint, key string)
}

// RateLimit is one kind's limit per client address and per account (nil
// limiters: no limit).
type RateLimit struct {
	Address, Account *ratelimit.Limiter
}

// NewRateLimit is a limit of n requests per period, per address and per
// account (none when n is 0).
func NewRateLimit(n int, period time.Duration) RateLimit {
	return RateLimit{Address: ratelimit.New(n, period), Account: ratelimit.New(n, period)}
}

// of is the limit of kind.
func (l *RateLimits) of(kind string) RateLimit {
	switch kind {
	case "login":
		return l.Login
	case "token":
		return l.Token
	case "notary_write":
		return l.NotaryWrite
	case "notary_read":
		return l.NotaryRead
	}
	return RateLimit{} // off
}

// off reports whether the limit limits nothing (nothing to look up).
func (r RateLimit) off() bool { return r.Address == nil && r.Account == nil }

// allow takes one request of kind from addr, by account ("" when unknown):
// nil, or a TooMany error that says when to try again.
func (l *RateLimits) allow(kind string, addr, account string) error {
	if l == nil {
		return nil
	}
	if kind == "token" && account != "" && l.TokenExempt[account] {
		return nil
	}
	lim := l.of(kind)
	if lim.off() {
		return nil
	}
	key, who := "address", "your address"
	ok, wait := lim.Address.Allow(addr)
	if ok && account != "" {
		key, who = "account", "your account"
		ok, wait = lim.Account.Allow(account)
	}
	if ok {
		return nil
	}
	if l.Refused != nil {
		l.Refused(kind, key)
	}
	return &errs.Error{Kind: errs.TooMany, Code: "too_many_requests", RetryAfter: wait,
		Message: fmt.Sprintf("Too many requests from %s. Try again in %s.", who, seconds(wait))}
}

func seconds(d time.Duration) string {
	n := int((d + time.Second - 1) / time.Second)
	if n == 1 {
		return "1 second"
	}
	return strconv.Itoa(n) + " seconds"
}

// allowNotary applies the Notary API's limits to r from actor ("anonymous"
// counts per address only); trustdeck's own in-process requests are not
// limited. A refusal is answered as notary-server's errors are, with
// Retry-After; allowNotary then returns false.
func (s *Server) allowNotary(w http.ResponseWriter, r *http.Request, actor string) bool {
	if s.Limits == nil || notaryserver.IsInProcess(r.Context()) {
		return true
	}
	kind := "notary_write"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		kind = "notary_read"
	}
	if s.Limits.of(kind).off() {
		return true // reads, by default: nothing to look up
	}
	if actor == "anonymous" {
		actor = ""
	}
	err := s.Limits.allow(kind, echo.ExtractIPDirect()(r), actor) // as c.RealIP() in the other handlers (Server.Routes)
	if err == nil {
		return true
	}
	e, _ := errs.As(err)
	w.Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintf(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":%q}]}`+"\n", e.Message)
	return false
}
