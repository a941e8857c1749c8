package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/notaryserver"
	"github.com/trustdeck/trustdeck/internal/tokens"
)

// Notary is the embedded Notary server's configuration in the HTTP layer.
type Notary struct {
	Config             notaryserver.Config // Store and Crypto; Auth and Hooks are set here
	Tokens             *tokens.Issuer
	AllowAnonymousPull bool
	CreateOnPush       bool
	// ServerKeys, when set, forgets a GUN's server-held timestamp and
	// snapshot keys once its trust data is deleted, so a repository created
	// again under the same name starts clean.
	ServerKeys ServerKeyRemover
}

// ServerKeyRemover removes the server-held keys of one GUN.
type ServerKeyRemover interface {
	RemoveKeysOfGUN(ctx context.Context, gun data.GUN) (int, error)
}

// catalogScope is the token access that lets a global admin read the global
// changefeed (notary's "*" on no particular GUN).
var catalogScope = tokens.Access{Type: "registry", Name: "catalog", Actions: []string{"*"}}

// NotaryHandler is the embedded Notary API with trustdeck's authorization
// and hooks, built once. trustdeck's own reader calls it in-process too, so
// there is one server instance (one per-GUN update lock).
func (s *Server) NotaryHandler() http.Handler {
	s.notaryOnce.Do(func() {
		cfg := s.Notary.Config
		cfg.Auth = notaryAuth{s}
		cfg.Hooks = notaryHooks{s}
		if cfg.Logger == nil {
			cfg.Logger = s.Log
		}
		s.notaryHandler = notaryserver.New(cfg)
	})
	return s.notaryHandler
}

func (s *Server) mountNotary(e *echo.Echo) {
	h := echo.WrapHandler(s.NotaryHandler())
	e.Any("/v2", h)
	e.Any("/v2/", h)
	e.Any("/v2/*", h)
	e.GET("/auth/token", s.token)
}

func (s *Server) tokenRealm() string { return "https://" + s.PublicHost + "/auth/token" }

// token is the registry token service docker and notary clients call with
// HTTP basic credentials: it grants, per requested scope, the actions the
// account's namespace role allows.
func (s *Server) token(c echo.Context) error {
	q := c.QueryParams()
	if svc := q.Get("service"); svc != "" && svc != s.Notary.Tokens.Service() {
		return tokenError(c, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("unknown service %q: this token service serves %q", svc, s.Notary.Tokens.Service()))
	}
	var requested []tokens.Access
	for _, sc := range q["scope"] {
		acc, err := tokens.ParseScope(sc)
		if err != nil {
			return tokenError(c, http.StatusBadRequest, "invalid_scope", "invalid scope "+fmt.Sprintf("%q", sc))
		}
		requested = append(requested, acc...)
	}
	var u *accounts.User
	subject := ""
	if user, pass, ok := c.Request().BasicAuth(); ok {
		var err error
		u, err = s.Accounts.Authenticate(c.Request().Context(), user, pass, c.RealIP())
		if err != nil {
			status, code, msg := classify(err)
			if status == http.StatusUnauthorized {
				c.Response().Header().Set("WWW-Authenticate", `Basic realm="trustdeck"`)
			}
			return tokenError(c, status, code, msg)
		}
		subject = u.Username
	}
	granted := []tokens.Access{}
	for _, a := range requested {
		allowed, err := s.allowedActions(c.Request().Context(), u, a)
		if err != nil {
			return err
		}
		var acts []string
		for _, act := range a.Actions {
			if slices.Contains(allowed, act) {
				acts = append(acts, act)
			}
		}
		if len(acts) > 0 {
			granted = append(granted, tokens.Access{Type: a.Type, Name: a.Name, Actions: acts})
		}
	}
	tok, exp, iat, err := s.Notary.Tokens.Issue(subject, granted)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{
		"token": tok, "access_token": tok,
		"expires_in": int(exp.Sub(iat) / time.Second), "issued_at": iat.UTC().Format(time.RFC3339),
	})
}

// allowedActions returns what u may do on one requested resource. GUNs
// outside trustdeck's registry host, or not shaped namespace/name, get
// nothing; a namespace needs no repository yet (the catalog guard explains
// what is missing when the request reaches the Notary API).
func (s *Server) allowedActions(ctx context.Context, u *accounts.User, a tokens.Access) ([]string, error) {
	switch {
	case a.Type == catalogScope.Type && a.Name == catalogScope.Name:
		if u != nil && u.IsAdmin {
			return []string{"*"}, nil
		}
		return nil, nil
	case a.Type != "repository":
		return nil, nil
	}
	ns, _, ok := s.Catalog.SplitGUN(a.Name)
	if !ok {
		return nil, nil
	}
	if u == nil {
		if s.Notary.AllowAnonymousPull {
			return []string{"pull"}, nil
		}
		return nil, nil
	}
	role, err := s.Accounts.RoleIn(ctx, u, ns)
	return role.NotaryActions(), err
}

func tokenError(c echo.Context, status int, code, msg string) error {
	return c.JSON(status, map[string]any{"errors": []map[string]string{{"code": strings.ToUpper(code), "message": msg}}})
}

// notaryAuth checks the bearer token of every Notary API request.
type notaryAuth struct{ s *Server }

func (a notaryAuth) Authorize(w http.ResponseWriter, r *http.Request, gun string, actions ...string) (string, bool) {
	s := a.s
	if notaryserver.IsInProcess(r.Context()) {
		return notaryserver.InProcessActor(r.Context()), true
	}
	scope := ""
	switch {
	case gun != "":
		scope = "repository:" + gun + ":" + strings.Join(actions, ",")
	case len(actions) > 0:
		scope = catalogScope.Type + ":" + catalogScope.Name + ":*"
	}
	var claims *tokens.Claims
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		if c, err := s.Notary.Tokens.Verify(strings.TrimPrefix(h, "Bearer ")); err == nil {
			claims = c
		}
	}
	if claims == nil {
		if gun != "" && s.Notary.AllowAnonymousPull && slices.Equal(actions, []string{"pull"}) {
			return "anonymous", true
		}
		challenge(w, s.tokenRealm(), s.Notary.Tokens.Service(), scope, "")
		return "", false
	}
	for _, act := range actions {
		ok := false
		if gun != "" {
			ok = claims.Allows("repository", gun, act)
		} else {
			ok = claims.Allows(catalogScope.Type, catalogScope.Name, "*")
		}
		if !ok {
			challenge(w, s.tokenRealm(), s.Notary.Tokens.Service(), scope, "insufficient_scope")
			return "", false
		}
	}
	actor := claims.Subject
	if actor == "" {
		actor = "anonymous"
	}
	return actor, true
}

// challenge answers 401 with the registry token challenge, the way
// docker/distribution's token access controller does.
func challenge(w http.ResponseWriter, realm, service, scope, errCode string) {
	v := tokens.Challenge(realm, service, nonEmpty(scope)...)
	if errCode != "" {
		v += `,error="` + errCode + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	msg := "authentication required"
	if errCode != "" {
		msg = "the token does not grant the access this request needs"
	}
	fmt.Fprintf(w, `{"errors":[{"code":"UNAUTHORIZED","message":%q}]}`+"\n", msg)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// notaryHooks guards the catalog and records the audit trail.
type notaryHooks struct{ s *Server }

func (h notaryHooks) Admit(ctx context.Context, actor, gun string, write bool) error {
	s := h.s
	ns, name, ok := s.Catalog.SplitGUN(gun)
	if !ok {
		return &notaryserver.Refusal{Status: http.StatusNotFound, Code: "NAME_UNKNOWN",
			Message: fmt.Sprintf("%s is not a repository of this trustdeck: GUNs look like %s/<namespace>/<name>", gun, s.Catalog.RegistryHost())}
	}
	_, err := s.Catalog.Get(ctx, ns, name)
	if err == nil {
		return nil
	}
	if errs.KindOf(err) != errs.NotFound {
		return err
	}
	if s.Notary.CreateOnPush && actor != "anonymous" {
		// A first push reads (root.json, timestamp.key) before it writes: let
		// an account with write through, and create the entry on the write.
		if u, uerr := s.Accounts.UserByName(ctx, actor); uerr == nil {
			if role, rerr := s.Accounts.RoleIn(ctx, u, ns); rerr == nil && role >= accounts.RoleWrite {
				if !write {
					return nil
				}
				r, cerr := s.Catalog.Create(ctx, ns, name, actor)
				if cerr != nil && errs.KindOf(cerr) != errs.Conflict {
					return cerr
				}
				if cerr == nil {
					s.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.RepoCreate, GUN: gun,
						Namespace: ns, Name: name, Detail: "created on first push (--create-on-push)"})
					s.Log.Info("repository created on push", "repository", r.FullName(), "user", actor)
				}
				return nil
			}
		}
	}
	return &notaryserver.Refusal{Status: http.StatusNotFound, Code: "NAME_UNKNOWN",
		Message: fmt.Sprintf("repository %s/%s does not exist in trustdeck: create it first at https://%s/repositories/new", ns, name, s.PublicHost)}
}

func (h notaryHooks) event(ctx context.Context, actor, gun, action, detail string) {
	ns, name, _ := h.s.Catalog.SplitGUN(gun)
	h.s.Audit.Record(ctx, audit.Event{Actor: actor, Action: action, GUN: gun, Namespace: ns, Name: name, Detail: detail})
}

func (h notaryHooks) Updated(ctx context.Context, actor, gun string, written []notaryserver.RoleVersion) {
	parts := make([]string, 0, len(written))
	for _, rv := range written {
		parts = append(parts, fmt.Sprintf("%s v%d", rv.Role, rv.Version))
	}
	h.event(ctx, actor, gun, audit.TrustUpdate, strings.Join(parts, ", "))
	h.refresh(gun)
}

// refresh queues the repository's trust summary for recomputation.
func (h notaryHooks) refresh(gun string) {
	if ns, name, ok := h.s.Catalog.SplitGUN(gun); ok && h.s.Summaries != nil {
		h.s.Summaries.Enqueue(ns, name)
	}
}

func (h notaryHooks) Deleted(ctx context.Context, actor, gun string) {
	detail := "all trust data deleted"
	if rk := h.s.Notary.ServerKeys; rk != nil {
		n, err := rk.RemoveKeysOfGUN(context.WithoutCancel(ctx), data.GUN(gun))
		if err != nil {
			h.s.Log.Error("cannot remove server keys of deleted GUN", "gun", gun, "err", err)
		} else if n > 0 {
			detail += fmt.Sprintf("; %d server-held timestamp/snapshot keys removed", n)
		}
	}
	h.event(ctx, actor, gun, audit.TrustDelete, detail)
	h.refresh(gun)
}

func (h notaryHooks) Rotated(ctx context.Context, actor, gun, role string) {
	h.event(ctx, actor, gun, audit.TrustRotateKey, "new server "+role+" key")
}
