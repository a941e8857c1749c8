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
	"github.com/labstack/echo/v4/middleware"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/errs"
)

const (
	ctxUser        = "trustdeck.user"
	ctxNonce       = "trustdeck.nonce"
	ctxCSRF        = "csrf"
	ctxBasic       = "trustdeck.basic" // the user came from HTTP basic credentials
	sessionCookie  = "trustdeck_session"
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

// stripSecFetch removes Sec-Fetch-Site before echo's CSRF middleware: that
// middleware would otherwise accept same-origin browser posts without any
// token, and trustdeck wants the one token check for every client.
func stripSecFetch(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Request().Header.Del(echo.HeaderSecFetchSite)
		return next(c)
	}
}

// csrf protects every state-changing request made with a session cookie:
// the token comes from the form field _csrf or the X-CSRF-Token header. It
// runs after authenticate. Requests that carried valid HTTP basic
// credentials need no token: browsers never attach those to cross-site
// requests on their own, because trustdeck never asks a browser for basic
// credentials. Anonymous API requests need none either: requireUser refuses
// them with a 401 that tells the client what is actually missing. Pages keep
// the check for anonymous posts (the login form).
func (s *Server) csrf() echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		Skipper: func(c echo.Context) bool {
			if b, _ := c.Get(ctxBasic).(bool); b {
				return true
			}
			return isAPI(c) && currentUser(c) == nil
		},
		TokenLookup:    "form:_csrf,header:" + echo.HeaderXCSRFToken,
		ContextKey:     ctxCSRF,
		CookieName:     "trustdeck_csrf",
		CookiePath:     "/",
		CookieSecure:   true,
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteStrictMode,
		CookieMaxAge:   12 * 3600,
		ErrorHandler: func(err error, c echo.Context) error {
			return errs.Forbiddenf("csrf", "The request was refused because its CSRF token is missing or wrong. Reload the page and try again.")
		},
	})
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
		s.logRequest(c.Request(), c.Response().Status, time.Since(start), c.Response().Header().Get(echo.HeaderXRequestID), user)
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
