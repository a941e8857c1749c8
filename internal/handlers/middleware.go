package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/errs"
)

// sessionCookie is trustdeck's one cookie. The __Host- prefix makes
// browsers accept it only Secure, for Path=/ and without Domain, so no
// other host and no plain-HTTP page can set or shadow it.
const (
	ctxUser        = "trustdeck.user"
	ctxNonce       = "trustdeck.nonce"
	ctxCSRF        = "csrf"
	ctxBasic       = "trustdeck.basic"     // the user came from HTTP basic credentials
	ctxSessionID   = "trustdeck.sessionid" // the user came from this session
	sessionCookie  = "__Host-trustdeck_session"
	sessionIDValue = "sid"
)

// securityHeaders sets a strict Content-Security-Policy with a per-request
// nonce (no inline script runs without it) and the usual hardening headers.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := make([]byte, 16)
		rand.Read(b)
		nonce := base64.StdEncoding.EncodeToString(b)
		c.Set(ctxNonce, nonce)
		r := c.Request()
		c.SetRequest(r.WithContext(templ.WithNonce(r.Context(), nonce)))
		h := c.Response().Header()
		h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; script-src 'self' 'nonce-%s'; "+
			"style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; "+
			"form-action 'self'; base-uri 'none'; frame-ancestors 'none'", nonce))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if s.HSTS {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// authenticate resolves the caller from HTTP basic credentials or the
// session cookie. Without credentials it lets the request through
// (requireUser refuses where a user is needed); wrong credentials, or an
// Authorization header that is not HTTP basic, are refused here, so that
// such a header never falls back to the session cookie (and its CSRF check).
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		if user, pass, ok := c.Request().BasicAuth(); ok {
			u, err := s.Accounts.Authenticate(ctx, user, pass, c.RealIP())
			if err != nil {
				return err
			}
			c.Set(ctxUser, u)
			c.Set(ctxBasic, true)
			return next(c)
		}
		if c.Request().Header.Get(echo.HeaderAuthorization) != "" {
			return errs.Unauthenticatedf("unsupported_authorization",
				"Use HTTP basic credentials or the session cookie: this Authorization header is not accepted here.")
		}
		sess, _ := s.Sessions.Get(c.Request(), sessionCookie)
		if token, ok := sess.Values[sessionIDValue].(string); ok && token != "" {
			u, err := s.Accounts.SessionUser(ctx, token)
			if err == nil {
				c.Set(ctxUser, u)
				c.Set(ctxSessionID, token)
			} else if errs.KindOf(err) == errs.Internal {
				return err
			}
		}
		return next(c)
	}
}

// requireUser refuses anonymous requests: the API answers 401, pages
// redirect to the login form and come back afterwards.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) != nil {
			return next(c)
		}
		if isAPI(c) || c.Request().Method != http.MethodGet {
			return errs.Unauthenticatedf("unauthenticated", "Sign in first (session cookie or HTTP basic credentials).")
		}
		return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
}

func currentUser(c echo.Context) *accounts.User {
	u, _ := c.Get(ctxUser).(*accounts.User)
	return u
}

func isAPI(c echo.Context) bool {
	return strings.HasPrefix(c.Request().URL.Path, "/api/")
}

// logRequests writes one structured line per request (logRequest).
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		user := ""
		if u := currentUser(c); u != nil {
			user = u.Username
		}
		h := c.Response().Header()
		s.logRequest(c.Request(), c.Response().Status, time.Since(start), h.Get(echo.HeaderXRequestID), user,
			h.Get("Retry-After") != "")
		return nil
	}
}

// recoverPanics turns a panic into a plain 500 (logged by the error handler).
func recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}
