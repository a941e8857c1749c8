package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// CSRF tokens are bound to what the browser holds: a signed-in browser's
// token is an HMAC, under the data directory's CSRF key, of its server-side
// session ID; an anonymous browser's (the login form's) is one of a random
// value kept in its session cookie, which is encrypted and authenticated.
// No cookie can make a token valid by itself: the token of one session is
// worthless with another, and changes when the browser signs in. It is read
// from the X-CSRF-Token header or the _csrf field of a form body, never from
// the query string.
const (
	csrfField = "_csrf"
	// browserIDValue is the session cookie value that binds an anonymous
	// browser's CSRF token.
	browserIDValue = "browser"
)

// csrf protects every state-changing request of the UI and API. It runs
// after authenticate and sets ctxCSRF, the token the pages put in their
// forms. No token is needed:
//   - for requests with valid HTTP basic credentials from scripts and CLIs.
//     A browser that holds basic credentials attaches them to any request,
//     also to one a foreign page makes: from a browser context (a foreign
//     Origin, or Sec-Fetch-Site cross-site or same-site) they need the token
//     like the session cookie;
//   - for anonymous API requests: requireUser refuses them with a 401 that
//     tells the client what is actually missing. Pages keep the check for
//     anonymous posts (the login form).
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions
		binding, err := s.csrfBinding(c, safe && !isAPI(c))
		if err != nil {
			return err
		}
		want := ""
		if binding != "" {
			want = s.csrfToken(binding)
			c.Set(ctxCSRF, want)
		}
		if safe || s.csrfExempt(c) {
			return next(c)
		}
		got := r.Header.Get(echo.HeaderXCSRFToken)
		if got == "" {
			if got, err = formToken(r); err != nil {
				return err
			}
		}
		if want == "" || got == "" || !hmac.Equal([]byte(got), []byte(want)) {
			return errs.Forbiddenf("csrf", "The request was refused because its CSRF token is missing or wrong. Reload the page and try again.")
		}
		return next(c)
	}
}

// csrfBinding returns what the request's CSRF token is bound to: the
// session ID of a signed-in browser, or the random ID of an anonymous one.
// An anonymous browser gets an ID when it loads a page (create); without
// one, no token is valid.
func (s *Server) csrfBinding(c echo.Context, create bool) (string, error) {
	if id, _ := c.Get(ctxSessionID).(string); id != "" {
		return "session:" + id, nil
	}
	sess, _ := s.Sessions.Get(c.Request(), sessionCookie)
	if id, _ := sess.Values[browserIDValue].(string); id != "" {
		return "browser:" + id, nil
	}
	if !create {
		return "", nil
	}
	b := make([]byte, 32)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	sess.Values[browserIDValue] = id
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return "", err
	}
	return "browser:" + id, nil
}

// csrfToken is the token of a binding: its HMAC-SHA256 under the CSRF key.
func (s *Server) csrfToken(binding string) string {
	m := hmac.New(sha256.New, s.CSRFKey)
	m.Write([]byte("trustdeck csrf token\x00" + binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfExempt reports whether a state-changing request needs no token.
func (s *Server) csrfExempt(c echo.Context) bool {
	if basic, _ := c.Get(ctxBasic).(bool); basic {
		return !s.fromForeignPage(c.Request())
	}
	return isAPI(c) && currentUser(c) == nil
}

// fromForeignPage reports whether a browser sent r for a page of another
// origin: Sec-Fetch-Site says cross-site or same-site (a sibling host), or
// Origin names an origin other than trustdeck's. Scripts and CLIs send
// neither header; browsers send Origin with every cross-origin POST.
func (s *Server) fromForeignPage(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	origin := r.Header.Get(echo.HeaderOrigin)
	return origin != "" && !s.ownOrigin(origin, r.Host)
}

// ownOrigin reports whether origin is https://<the public host> or
// https://<the host the request was sent to>.
func (s *Server) ownOrigin(origin, requestHost string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	host := canonicalHost(u.Host)
	return host == canonicalHost(s.PublicHost) || host == canonicalHost(requestHost)
}

// canonicalHost lowercases an HTTPS host[:port] and drops the default port.
func canonicalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ":443")
}

// formToken returns the _csrf field of a form body (urlencoded or
// multipart); a body over the limit is 413.
func formToken(r *http.Request) (string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	var err error
	switch ct {
	case echo.MIMEApplicationForm:
		err = r.ParseForm()
	case echo.MIMEMultipartForm:
		err = r.ParseMultipartForm(1 << 20)
	default:
		return "", nil
	}
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) {
		return "", echo.ErrStatusRequestEntityTooLarge
	}
	return r.PostForm.Get(csrfField), nil
}
