package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/views"
)

// safeNext returns next when it is a path of this site to go to after
// signing in, and / otherwise (see localPath).
func safeNext(next string) string {
	if len(next) > 1024 || !localPath(next) {
		return "/"
	}
	return next
}

// localPath reports whether p is a relative URL made of a path (and maybe a
// query and fragment) that starts with exactly one slash: no scheme, host or
// userinfo, and, raw or percent-decoded, no control or whitespace character
// and no backslash. Browsers drop TAB, CR and LF from URLs and read a
// backslash as a slash, so "/\t/evil.example" or "/\\evil.example" would
// lead off this site.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || !plainURLText(p) {
		return false
	}
	decoded, err := url.PathUnescape(p)
	if err != nil || !plainURLText(decoded) || strings.HasPrefix(decoded, "//") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Opaque == "" && u.User == nil && u.Host == "" &&
		strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(u.Path, "//")
}

// plainURLText reports whether s is valid UTF-8 of printable characters
// other than space and backslash (no control, format or whitespace one).
func plainURLText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\\' || r == ' ' || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func (s *Server) loginForm(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	return render(c, http.StatusOK, views.LoginPage(s.page(c, "Sign in", ""), views.LoginForm{Next: c.QueryParam("next")}))
}

func (s *Server) login(c echo.Context) error {
	username := strings.TrimSpace(c.FormValue("username"))
	password := c.FormValue("password")
	next := c.FormValue("next")
	err := s.Limits.allow("login", c.RealIP(), username)
	var u *accounts.User
	if err == nil {
		u, err = s.Accounts.Authenticate(c.Request().Context(), username, password, c.RealIP())
	}
	if err != nil {
		kind := errs.KindOf(err)
		if kind != errs.Unauthenticated && kind != errs.TooMany && kind != errs.Unavailable {
			return err
		}
		status, _, msg := classify(err)
		setRetryAfter(c, err)
		return render(c, status, views.LoginPage(s.page(c, "Sign in", ""),
			views.LoginForm{Username: username, Next: next, Error: msg}))
	}
	token, err := s.Accounts.StartSession(c.Request().Context(), u)
	if err != nil {
		return err
	}
	sess, _ := s.Sessions.New(c.Request(), sessionCookie)
	sess.Values[sessionIDValue] = token
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	s.Log.Info("login", "user", u.Username, "remote", c.RealIP())
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

func (s *Server) logout(c echo.Context) error {
	sess, _ := s.Sessions.Get(c.Request(), sessionCookie)
	if token, ok := sess.Values[sessionIDValue].(string); ok {
		if err := s.Accounts.EndSession(c.Request().Context(), token); err != nil {
			return err
		}
	}
	sess.Options.MaxAge = -1
	delete(sess.Values, sessionIDValue)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}
