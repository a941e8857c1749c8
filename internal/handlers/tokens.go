package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/names"
	"github.com/trustdeck/trustdeck/internal/tokens"
)

// TokenService is the Docker registry token service ("Docker Registry v2
// authentication via central service") at /auth/token: docker, notary and
// registry clients trade trustdeck credentials for a token granting what
// the account's namespace roles allow. The embedded Notary API verifies
// these tokens; an external Notary server and the registry do, when their
// token auth trusts Certificate (served at /auth/token/certificate).
type TokenService struct {
	Issuer             *tokens.Issuer
	AllowAnonymousPull bool
	// Certificate is a PEM self-signed certificate of the issuer's key: the
	// rootcertbundle of a docker/distribution-style token auth.
	Certificate []byte
}

// catalogScope is the token access that lets a global admin read the global
// changefeed (notary's "*" on no particular GUN).
var catalogScope = tokens.Access{Type: "registry", Name: "catalog", Actions: []string{"*"}}

// TokenCertificatePath is where the certificate of the token signing key is
// served, without authentication (it holds only the public key).
const TokenCertificatePath = "/auth/token/certificate"

func (s *Server) mountTokens(e *echo.Echo) {
	e.GET("/auth/token", s.token)
	e.GET(TokenCertificatePath, s.tokenCertificate)
}

func (s *Server) tokenRealm() string { return "https://" + s.PublicHost + "/auth/token" }

// tokenCertificate serves the certificate notary-server's token auth needs
// to trust trustdeck's tokens.
func (s *Server) tokenCertificate(c echo.Context) error {
	if len(s.Tokens.Certificate) == 0 {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("Trustdeck-Token-Key-Id", s.Tokens.Issuer.KeyID())
	return c.Blob(http.StatusOK, "application/x-pem-file", s.Tokens.Certificate)
}

// token is the registry token service docker and notary clients call with
// HTTP basic credentials: it grants, per requested scope, the actions the
// account's namespace role allows.
func (s *Server) token(c echo.Context) error {
	q := c.QueryParams()
	if svc := q.Get("service"); svc != "" && svc != s.Tokens.Issuer.Service() {
		return tokenError(c, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("unknown service %q: this token service serves %q", svc, s.Tokens.Issuer.Service()))
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
	user, pass, hasCredentials := c.Request().BasicAuth()
	if err := s.Limits.allow("token", c.RealIP(), user); err != nil {
		status, code, msg := classify(err)
		setRetryAfter(c, err)
		return tokenError(c, status, code, msg)
	}
	if hasCredentials {
		var err error
		u, err = s.Accounts.Authenticate(c.Request().Context(), user, pass, c.RealIP())
		if err != nil {
			// No `WWW-Authenticate: Basic` challenge: docker and notary
			// send their credentials unasked, and a browser must never be
			// prompted for (and then keep) trustdeck credentials.
			status, code, msg := classify(err)
			setRetryAfter(c, err)
			return tokenError(c, status, code, msg)
		}
		subject = u.Username
		// Right after a role or password change, the user's tokens of this
		// second are void: issue the new one in the next second.
		if wait := time.Until(s.Accounts.TokensValidFrom(subject)); wait > 0 {
			time.Sleep(wait)
		}
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
	tok, exp, iat, err := s.Tokens.Issuer.Issue(subject, granted)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{
		"token": tok, "access_token": tok,
		"expires_in": int(exp.Sub(iat) / time.Second), "issued_at": iat.UTC().Format(time.RFC3339),
	})
}

// allowedActions returns what u (nil: anonymous) may do on one requested
// resource, the same for the embedded Notary API, an external Notary server
// and the registry (trustdeck is the token realm of all three):
//
//   - registry:catalog (the global changefeed, the registry's catalog): "*"
//     for global admins only;
//   - repository <registry host>/<namespace>/<name> (a Notary GUN), or
//     <namespace>/<name> without a host (docker's rule, names.HasHost: how
//     the registry names its repositories in scopes, meaning <registry
//     host>/<namespace>/<name>): the actions of u's role in the namespace
//     (read: pull; write: pull, push; admin: pull, push, delete, *), pull
//     for anonymous clients with --allow-anonymous-pull. A namespace needs
//     no repository yet: the embedded server's catalog guard explains what
//     is missing, and an external server's new GUNs (the registry's new
//     repositories) are discovered later;
//   - any other repository the catalog accepts (an external server's GUNs
//     outside the registry host, names.Foreign): global admins only;
//   - anything else: nothing.
//
// A namespace whose name looks like a host ("my.team") is therefore
// reachable in the registry's scopes only by global admins: docker's rule
// reads "my.team/app" as the host my.team, and so must trustdeck, since the
// same token goes to a Notary server that reads it so.
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
	gun := a.Name
	if !names.HasHost(gun) {
		gun = s.Catalog.RegistryHost() + "/" + gun
	}
	ns, _, ok := s.Catalog.SplitGUN(gun)
	if !ok {
		return nil, nil
	}
	if u == nil {
		if s.Tokens.AllowAnonymousPull && ns != names.Foreign {
			return []string{"pull"}, nil
		}
		return nil, nil
	}
	// RoleIn: admin everywhere for global admins, nothing on names.Foreign
	// for anyone else.
	role, err := s.Accounts.RoleIn(ctx, u, ns)
	return role.TokenActions(), err
}

func tokenError(c echo.Context, status int, code, msg string) error {
	return c.JSON(status, map[string]any{"errors": []map[string]string{{"code": strings.ToUpper(code), "message": msg}}})
}
