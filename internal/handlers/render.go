package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/views"
)

// render writes a templ component as an HTML response with status.
func render(c echo.Context, status int, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().WriteHeader(status)
	return comp.Render(c.Request().Context(), c.Response())
}

// page builds the layout model for the current request.
func (s *Server) page(c echo.Context, title, nav string) views.Page {
	p := views.Page{Title: title, Nav: nav}
	p.CSRF, _ = c.Get(ctxCSRF).(string)
	if u := currentUser(c); u != nil {
		p.Viewer = &views.Viewer{Username: u.Username, IsAdmin: u.IsAdmin, Manages: u.IsAdmin}
		if !u.IsAdmin {
			nss, err := s.Accounts.AdminNamespaces(c.Request().Context(), u)
			p.Viewer.Manages = err == nil && len(nss) > 0
		}
		p.Viewer.GeneratedPassword = u.PasswordGenerated // read with the session
	}
	s.popFlash(c, &p)
	return p
}

// decodeJSON reads a JSON request body strictly into v: one JSON object,
// no unknown fields, no key twice, nothing after it. A body over the limit
// is 413, a body not sent as application/json (in UTF-8) 415.
func decodeJSON(c echo.Context, v any) error {
	if !isJSON(c.Request().Header.Get(echo.HeaderContentType)) {
		return echo.ErrUnsupportedMediaType
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return errs.Invalidf("malformed_json", "The request body is empty: send a JSON object.")
	}
	if trimmed[0] != '{' {
		return errs.Invalidf("malformed_json", "The request body must be a JSON object.")
	}
	if key, ok := duplicateKey(trimmed); ok {
		return errs.Invalidf("duplicate_key", "The request body names the key %q twice (keys match regardless of case): send each key once.", key)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.Invalidf("malformed_json", "The request body is not valid JSON for this request: %s.", err.Error())
	}
	// Anything after the object, even a stray '}', makes the body ambiguous.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errs.Invalidf("malformed_json", "The request body holds more than one JSON object.")
	}
	return nil
}

// readBody reads the request body: 413 past the body limit, 400 when it
// cannot be read.
func readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		var he *echo.HTTPError
		if errors.As(err, &mbe) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) {
			return nil, echo.ErrStatusRequestEntityTooLarge
		}
		return nil, errs.Invalidf("malformed_json", "The request body could not be read.")
	}
	return body, nil
}

// isJSON reports whether a Content-Type is application/json, with no
// charset or UTF-8: a type that merely starts like it (application/jsonx)
// is not.
func isJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != echo.MIMEApplicationJSON {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// maxJSONDepth is encoding/json's own nesting limit: duplicateKey stops
// looking deeper and leaves the error to the decoder.
const maxJSONDepth = 10000

// duplicateKey returns a key that an object of the JSON text data, at any
// depth, names twice. Keys are compared as encoding/json matches them to
// struct fields: unescaped and regardless of case (it would silently take
// the last one). Syntax errors are left to the decoder.
func duplicateKey(data []byte) (string, bool) {
	type level struct {
		keys    map[string]bool // nil for an array
		wantKey bool
	}
	var stack []*level
	dec := json.NewDecoder(bytes.NewReader(data))
	for len(stack) <= maxJSONDepth {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.keys != nil {
			if top.wantKey {
				key, _ := tok.(string)
				folded := foldKey(key)
				if top.keys[folded] {
					return key, true
				}
				top.keys[folded] = true
				top.wantKey = false
				continue
			}
			top.wantKey = true // this value's key is done; the next token is a key
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &level{})
		}
	}
	return "", false
}

// foldKey maps each rune of s to the smallest rune of its case-folding
// orbit: foldKey(a) == foldKey(b) exactly when strings.EqualFold(a, b).
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

// redirectWithNotice shows msg once on the next page (a flash kept in the
// session cookie, so nobody can put text on a trustdeck page with a link).
func (s *Server) redirectWithNotice(c echo.Context, to, msg string) error {
	return s.redirectWithFlash(c, to, msg)
}

// Flash keys: cautions (Page.Caution), and where a notice belongs
// (Page.NoticeAt, Page.Changed).
const (
	cautionFlash  = "caution"
	noticeAtFlash = "notice-at"
	changedFlash  = "changed"
)

// redirectWithNoticeAt shows msg once in section (an id) of the page at
// to, and lands there: the browser goes to the notice (#notice), beside
// what changed (changed: ids of the rows the change touched, highlighted).
func (s *Server) redirectWithNoticeAt(c echo.Context, to, section, msg string, changed ...string) error {
	sess, _ := s.Sessions.Get(c.Request(), sessionCookie)
	sess.AddFlash(section, noticeAtFlash)
	for _, id := range changed {
		sess.AddFlash(id, changedFlash)
	}
	return s.redirectWithFlash(c, to+"#notice", msg)
}

// redirectWithCaution shows msg once on the next page as a caution: the
// outcome of a change is unknown.
func (s *Server) redirectWithCaution(c echo.Context, to, msg string) error {
	return s.redirectWithFlash(c, to, msg, cautionFlash)
}

func (s *Server) redirectWithFlash(c echo.Context, to, msg string, key ...string) error {
	sess, _ := s.Sessions.Get(c.Request(), sessionCookie)
	sess.AddFlash(msg, key...)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// popFlash moves the pending notice (and where it belongs) and caution, if
// any, into p and clears them.
func (s *Server) popFlash(c echo.Context, p *views.Page) {
	sess, err := s.Sessions.Get(c.Request(), sessionCookie)
	if err != nil {
		return
	}
	notices, cautions := sess.Flashes(), sess.Flashes(cautionFlash)
	at, changed := sess.Flashes(noticeAtFlash), sess.Flashes(changedFlash)
	if len(notices)+len(cautions)+len(at)+len(changed) == 0 {
		return
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return
	}
	if len(notices) > 0 {
		p.Notice, _ = notices[0].(string)
		if len(at) > 0 {
			p.NoticeAt, _ = at[0].(string)
		}
		for _, id := range changed {
			if id, ok := id.(string); ok {
				p.Changed = append(p.Changed, id)
			}
		}
	}
	if len(cautions) > 0 {
		p.Caution, _ = cautions[0].(string)
	}
}
