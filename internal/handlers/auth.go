package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/views"
)

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") || len(next) > 1024 {
		return "/repositories"
	}
	return next
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
	u, err := s.Accounts.Authenticate(c.Request().Context(), username, password, c.RealIP())
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
