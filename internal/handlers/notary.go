package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/notaryserver"
	"github.com/trustdeck/trustdeck/internal/tokens"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/views"
)

// Notary is the embedded Notary server's configuration in the HTTP layer.
// Its clients authenticate with the tokens of Server.Tokens, which it needs.
type Notary struct {
	Config       notaryserver.Config // Store and Crypto; Auth and Hooks are set here
	CreateOnPush bool
	// ServerKeys, when set, forgets a GUN's server-held timestamp and
	// snapshot keys once its trust data is deleted, so a repository created
	// again under the same name starts clean.
	ServerKeys ServerKeyRemover
}

// ServerKeyRemover removes the server-held keys of one GUN.
type ServerKeyRemover interface {
	RemoveKeysOfGUN(ctx context.Context, gun data.GUN) (int, error)
}

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
		// Kept apart from whatever wraps the handler: the replicas'
		// change log drops its metadata cache (ForgetNotaryGUN).
		s.notaryCache = s.notaryHandler.(notaryserver.Invalidator)
	})
	return s.notaryHandler
}

func (s *Server) mountNotary(e *echo.Echo) {
	if s.Tokens == nil {
		panic("handlers: the embedded Notary API needs the token service (Server.Tokens)")
	}
	h := echo.WrapHandler(s.NotaryHandler())
	e.Any("/v2", h)
	e.Any("/v2/", h)
	e.Any("/v2/*", h)
}

// notaryAuth checks the bearer token of every Notary API request.
type notaryAuth struct{ s *Server }

func (a notaryAuth) Authorize(w http.ResponseWriter, r *http.Request, gun string, actions ...string) (string, bool) {
	s := a.s
	if notaryserver.IsInProcess(r.Context()) {
		return notaryserver.InProcessActor(r.Context()), true
	}
	var claims *tokens.Claims
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		if c, err := s.Tokens.Issuer.Verify(strings.TrimPrefix(h, "Bearer ")); err == nil && s.tokenCurrent(c) {
			claims = c
		}
	}
	if claims == nil {
		if gun != "" && s.Tokens.AllowAnonymousPull && slices.Equal(actions, []string{"pull"}) {
			return "anonymous", s.allowNotary(w, r, "anonymous")
		}
		challenge(w, s.tokenRealm(), s.Tokens.Issuer.Service(), notaryScope(gun, actions), "")
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
			challenge(w, s.tokenRealm(), s.Tokens.Issuer.Service(), notaryScope(gun, actions), "insufficient_scope")
			return "", false
		}
	}
	actor := claims.Subject
	if actor == "" {
		actor = "anonymous"
	}
	if !s.allowNotary(w, r, actor) {
		return "", false
	}
	return actor, true
}

// tokenCurrent reports whether the rights a token grants are still its
// subject's: a role change or a password change since the token was issued
// voids it at once (the client fetches a new one, granting the rights of
// now), rather than when it expires. The check is a map lookup.
func (s *Server) tokenCurrent(c *tokens.Claims) bool {
	if c.Subject == "" {
		return true // anonymous: nothing to revoke
	}
	from := s.Accounts.TokensValidFrom(c.Subject)
	return from.IsZero() || c.IssuedAt != nil && !c.IssuedAt.Time.Before(from)
}

// notaryScope is the scope a request for actions on gun needs ("" = global).
func notaryScope(gun string, actions []string) string {
	switch {
	case gun != "":
		return "repository:" + gun + ":" + strings.Join(actions, ",")
	case len(actions) > 0:
		return catalogScope.Type + ":" + catalogScope.Name + ":*"
	}
	return ""
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
	entry, err := s.Catalog.LookupGUN(ctx, gun)
	if err != nil {
		return err
	}
	if !entry.OK {
		return &notaryserver.Refusal{Status: http.StatusNotFound, Code: "NAME_UNKNOWN",
			Message: fmt.Sprintf("%s is not a repository of this trustdeck: GUNs look like %s/<namespace>/<name>", gun, s.Catalog.RegistryHost())}
	}
	if entry.Exists {
		return nil
	}
	ns, name := entry.Namespace, entry.Name
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

// Updated records the update, and matches it to the change trustdeck sent
// for it, if it did (audit.Log.MatchWritten): that change's own event is
// then recorded even if its sender never hears the answer.
func (h notaryHooks) Updated(ctx context.Context, actor, gun string, written []notaryserver.RoleVersion) {
	parts := make([]string, 0, len(written))
	files := make([]audit.File, 0, len(written))
	for _, rv := range written {
		parts = append(parts, fmt.Sprintf("%s v%d", rv.Role, rv.Version))
		files = append(files, audit.File{Role: rv.Role, Version: rv.Version})
	}
	detail := strings.Join(parts, ", ")
	if tags := h.tagChanges(gun, written); tags != "" {
		detail = tags + " · " + detail
	}
	h.event(ctx, actor, gun, audit.TrustUpdate, detail)
	if notaryserver.IsInProcess(ctx) {
		h.s.Audit.MatchWritten(ctx, gun, files)
	}
	h.refresh(gun)
}

// maxTagsNamed is how many tags an audit event names per role and change.
const maxTagsNamed = 5

// tagChanges says, tag by tag, what an update of gun's targets roles signed
// and removed: "signed 1.2 (sha256:37ed28633f0d…) in targets/releases;
// removed 0.9 from targets/jeff" ("" when no tag changed). Each role's
// written version is compared with the one before it.
func (h notaryHooks) tagChanges(gun string, written []notaryserver.RoleVersion) string {
	store := h.s.Notary.Config.Store
	var out []string
	for _, rv := range written {
		if rv.Role != "targets" && !strings.HasPrefix(rv.Role, "targets/") {
			continue
		}
		_, current, err := store.GetVersion(data.GUN(gun), data.RoleName(rv.Role), rv.Version)
		if err != nil {
			continue
		}
		var previous []byte
		if rv.Version > 1 {
			if _, previous, err = store.GetVersion(data.GUN(gun), data.RoleName(rv.Role), rv.Version-1); err != nil {
				continue
			}
		}
		c, err := trust.DiffTargets(previous, current)
		if err != nil {
			continue
		}
		if len(c.Signed) > 0 {
			tags := make([]string, len(c.Signed))
			for i, t := range c.Signed {
				tags[i] = t.Tag + " (" + views.ShortDigest(t.Digest) + ")"
			}
			out = append(out, "signed "+someOf(tags)+" in "+rv.Role)
		}
		if len(c.Removed) > 0 {
			out = append(out, "removed "+someOf(c.Removed)+" from "+rv.Role)
		}
	}
	return strings.Join(out, "; ")
}

// someOf lists names, the first maxTagsNamed of them and how many more.
func someOf(names []string) string {
	if len(names) <= maxTagsNamed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxTagsNamed], ", ") + fmt.Sprintf(" and %d more", len(names)-maxTagsNamed)
}

// refresh queues the repository's trust summary for recomputation.
func (h notaryHooks) refresh(gun string) {
	if ns, name, ok := h.s.Catalog.SplitGUN(gun); ok && h.s.Summaries != nil {
		h.s.Summaries.Enqueue(ns, name)
	}
}

// Deleted records the deletion, unless it is one trustdeck sent (matched
// to its attempt, whose event stands for it: audit.Log.MatchDeletion).
func (h notaryHooks) Deleted(ctx context.Context, actor, gun string) {
	detail := "all trust data deleted"
	if rk := h.s.Notary.ServerKeys; rk != nil {
		n, err := rk.RemoveKeysOfGUN(context.WithoutCancel(ctx), data.GUN(gun))
		if err != nil {
			h.s.Log.Error("cannot remove server keys of deleted GUN", "gun", gun, "err", err)
		} else if n > 0 {
			detail += fmt.Sprintf("; %d server-held timestamp/snapshot keys removed", n)
			h.s.Log.Info("server keys of a deleted GUN removed", "gun", gun, "keys", n)
		}
	}
	if !notaryserver.IsInProcess(ctx) || !h.s.Audit.MatchDeletion(ctx, gun) {
		h.event(ctx, actor, gun, audit.TrustDelete, detail)
	}
	h.refresh(gun)
}

func (h notaryHooks) Rotated(ctx context.Context, actor, gun, role string) {
	h.event(ctx, actor, gun, audit.TrustRotateKey, "new server "+role+" key")
}
