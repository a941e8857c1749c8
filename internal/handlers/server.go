// Package handlers is trustdeck's HTTP layer: it parses requests, checks who
// may do what, calls a service and renders a view or JSON. It holds no SQL.
package handlers

import (
	"context"
	"crypto/rand"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/archives"
	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/discovery"
	"github.com/trustdeck/trustdeck/internal/migration"
	"github.com/trustdeck/trustdeck/internal/notaryserver"
	"github.com/trustdeck/trustdeck/internal/removal"
	"github.com/trustdeck/trustdeck/internal/signers"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
	"github.com/trustdeck/trustdeck/static"
)

// Pinger reports whether the database answers (for /readyz).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server holds what the handlers need. Build it with the services, then call
// Routes.
type Server struct {
	Accounts   *accounts.Service
	Catalog    *catalog.Service
	DB         Pinger
	Log        *slog.Logger
	Sessions   *sessions.CookieStore
	PublicHost string
	// HSTS is sent only when the public host is a real name: on localhost it
	// would pin every other local development server to HTTPS too.
	HSTS bool
	// CSRFKey binds CSRF tokens to sessions (see csrf.go): a secret of the
	// data directory, so that open forms survive a restart.
	CSRFKey []byte
	// Trust reads and verifies trust data; Summaries keeps the list's
	// per-repository trust state current.
	Trust     *trust.Reader
	Summaries *trust.Summarizer
	// Vault holds repositories' private keys; UserKeys users' public
	// signing keys; Signers initialises trust and adds and revokes signers.
	Vault    *vault.Vault
	UserKeys *vault.UserKeys
	Signers  *signers.Service
	// Removal backs up and deletes trust data and repositories.
	Removal *removal.Service
	// Archives keeps archived repositories: captured from Notary servers or
	// imported from backups.
	Archives *archives.Service
	// Audit records and lists who changed what.
	Audit *audit.Log
	// Tokens, when set, serves the registry token service at /auth/token
	// and the certificate of its signing key at /auth/token/certificate
	// (embedded Notary API or not: it can be an external server's realm).
	Tokens *TokenService
	// Notary, when set, serves the embedded Notary API under /v2/; it
	// needs Tokens.
	Notary *Notary
	// Changefeed, in front of an external Notary server, reports the
	// discovery of repositories from its changefeed.
	Changefeed ChangefeedStatus
	// Registry, with --registry-url, is the registry connection: tags and
	// their states, and the registry's notifications, authenticated by
	// RegistryEventsToken (the notifications endpoint answers 404 while it
	// is "").
	Registry            RegistryService
	RegistryEventsToken string
	// Migration plans and runs the move off Docker Content Trust and
	// exports the namespaces' verification policies; SigningKeys keeps
	// the namespaces' cosign and Notation keys.
	Migration   *migration.Service
	SigningKeys *vault.SigningKeys
	// Dependencies are the servers /readyz reports on besides the
	// database (health.go).
	Dependencies []Dependency
	// Limits, when set, are the request rate limits (ratelimit.go).
	Limits *RateLimits
	// BeforeWrite, when set, runs before every request that may write
	// (any method but GET, HEAD and OPTIONS): with several replicas on one
	// database it catches up with the others' changes (see replicas.go).
	BeforeWrite func(ctx context.Context) error

	routes map[string]map[string]bool // real route paths by method (see unmatched)

	notaryOnce    sync.Once
	notaryHandler http.Handler
	notaryCache   notaryserver.Invalidator
}

// ChangefeedStatus is the discovery poller as the pages see it.
type ChangefeedStatus interface {
	Status() discovery.Status
}

// maxBody is the request body limit of the UI and the JSON API.
const maxBody = "1M"

// Routes builds the echo instance with every route and middleware.
func (s *Server) Routes() *echo.Echo {
	if len(s.CSRFKey) == 0 { // a Server built without the app's secrets
		s.CSRFKey = make([]byte, 32)
		rand.Read(s.CSRFKey)
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.IPExtractor = echo.ExtractIPDirect() // never trust X-Forwarded-For from clients
	e.HTTPErrorHandler = s.handleError
	e.Pre(headAsGet)
	e.Use(middleware.RequestID())
	e.Use(s.logRequests)
	e.Use(recoverPanics)
	e.Use(s.securityHeaders)
	e.Use(s.catchUpBeforeWrites)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	assets, _ := fs.Sub(static.FS, ".")
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/",
		cacheStatic(http.FileServer(http.FS(assets))))))

	if s.Tokens != nil {
		s.mountTokens(e)
	}
	if s.Notary != nil {
		s.mountNotary(e)
		e.Any(NotaryHealthPath, s.notaryHealth)
	}
	s.mountRegistryEvents(e)
	s.mountArchiveImports(e)

	// Web UI and JSON API: session or basic credentials, CSRF, body limit.
	app := e.Group("", middleware.BodyLimit(maxBody), s.authenticate, s.csrf)
	app.GET("/", s.home)
	app.GET("/login", s.loginForm)
	app.POST("/login", s.login)
	app.POST("/logout", s.logout, s.requireUser)

	ui := app.Group("", s.requireUser)
	ui.GET("/repositories", s.repositoryList)
	ui.GET("/repositories/new", s.repositoryNewForm)
	ui.GET("/repositories/backup", s.trustBackupAll)
	ui.POST("/repositories", s.repositoryCreate)
	ui.GET("/repositories/:ns/:name", s.repositoryShow)
	ui.GET("/repositories/:ns/:name/tags", s.tagShow)
	ui.GET("/repositories/:ns/:name/trust/new", s.initTrustForm)
	ui.POST("/repositories/:ns/:name/trust", s.initTrust)
	ui.GET("/repositories/:ns/:name/signers/new", s.addSignerForm)
	ui.POST("/repositories/:ns/:name/signers", s.addSignerSubmit)
	ui.GET("/repositories/:ns/:name/signers/:signer/revoke", s.revokeSignerForm)
	ui.POST("/repositories/:ns/:name/signers/:signer/revoke", s.revokeSignerSubmit)
	ui.GET("/repositories/:ns/:name/trust/renew", s.renewForm)
	ui.POST("/repositories/:ns/:name/trust/renew", s.renewSubmit)
	ui.GET("/repositories/:ns/:name/trust/rotate-root", s.rotateRootForm)
	ui.POST("/repositories/:ns/:name/trust/rotate-root", s.rotateRootSubmit)
	ui.GET("/repositories/:ns/:name/tags/revoke", s.tagRevokeForm)
	ui.POST("/repositories/:ns/:name/tags/revoke", s.tagRevokeSubmit)
	ui.GET("/repositories/:ns/:name/delete", s.deleteWizardPage)
	ui.POST("/repositories/:ns/:name/delete", s.deleteRepositorySubmit)
	ui.POST("/repositories/:ns/:name/trust/delete", s.deleteTrustSubmit)
	ui.GET("/repositories/:ns/:name/trust/backup", s.trustBackup)
	ui.GET("/keys", s.keysPage)
	ui.POST("/keys", s.keyImportForm)
	ui.GET("/keys/:id/download", s.keyDownload)
	ui.POST("/keys/:id/delete", s.keyDeleteForm)
	ui.GET("/profile/keys", s.profileKeys)
	ui.POST("/profile/keys", s.profileKeySubmit)
	ui.POST("/profile/keys/:id/delete", s.profileKeyDelete)
	ui.POST("/profile/password", s.passwordSubmit)
	ui.GET("/admin/users", s.usersPage)
	ui.POST("/admin/users", s.userCreateForm)
	ui.POST("/admin/members", s.memberSetForm)
	ui.POST("/admin/members/delete", s.memberRemoveForm)
	ui.GET("/admin/users/:username", s.userPage)
	ui.POST("/admin/users/:username/disabled", s.userDisabledForm)
	ui.POST("/admin/users/:username/password", s.userPasswordForm)
	ui.POST("/admin/users/:username/delete", s.userDeleteForm)
	ui.GET("/audit", s.auditPage)
	ui.GET("/archives", s.archiveList)
	ui.GET("/archives/capture", s.archiveCaptureForm)
	ui.POST("/archives/capture", s.archiveCaptureSubmit)
	ui.GET("/archives/captures/:job", s.archiveJobPage)
	ui.GET("/archives/import", s.archiveImportForm)
	ui.GET("/archives/:id", s.archiveShow)
	ui.GET("/archives/:id/download", s.archiveDownload)
	ui.GET("/archives/:id/delete", s.archiveDeleteForm)
	ui.POST("/archives/:id/delete", s.archiveDeleteSubmit)
	s.mountMigrationUI(ui)

	api := app.Group("/api/v1", s.requireUser)
	api.GET("/repositories", s.apiRepositoryList)
	api.POST("/repositories", s.apiRepositoryCreate)
	api.GET("/repositories/:ns/:name", s.apiRepositoryGet)
	api.GET("/repositories/:ns/:name/tags", s.apiRepositoryTags)
	api.DELETE("/repositories/:ns/:name", s.apiRepositoryDelete)
	api.POST("/users", s.apiUserCreate)
	api.PUT("/namespaces/:ns/members/:username", s.apiMemberSet)
	api.DELETE("/namespaces/:ns/members/:username", s.apiMemberRemove)
	api.PATCH("/users/:username", s.apiUserUpdate)
	api.DELETE("/users/:username", s.apiUserDelete)
	api.GET("/audit", s.apiAudit)
	api.GET("/trust/inspect", s.apiInspect)
	api.GET("/trust/backup", s.trustBackupAll)
	api.POST("/repositories/:ns/:name/trust", s.apiInitTrust)
	api.DELETE("/repositories/:ns/:name/trust", s.apiDeleteTrust)
	api.POST("/repositories/:ns/:name/tags/revoke", s.apiRevokeTag)
	api.GET("/repositories/:ns/:name/trust/backup", s.trustBackup)
	api.POST("/repositories/:ns/:name/signers", s.apiAddSigner)
	api.POST("/repositories/:ns/:name/signers/:signer/revoke", s.apiRevokeSigner)
	api.POST("/repositories/:ns/:name/trust/renew", s.apiRenew)
	api.POST("/repositories/:ns/:name/trust/rotate-root", s.apiRotateRoot)
	api.POST("/keys", s.apiKeyImport)
	api.GET("/keys", s.apiKeyList)
	api.GET("/keys/:id", s.apiKeyGet)
	api.DELETE("/keys/:id", s.apiKeyDelete)
	api.POST("/users/:username/keys", s.apiUserKeyAdd)
	api.GET("/users/:username/keys", s.apiUserKeyList)
	s.mountMigration(api)
	api.GET("/archives", s.apiArchiveList)
	api.POST("/archives", s.apiArchiveCapture)
	api.GET("/archives/:id", s.apiArchiveGet)
	api.GET("/archives/:id/inspect", s.apiArchiveInspect)
	api.GET("/archives/:id/download", s.archiveDownload)
	api.DELETE("/archives/:id", s.apiArchiveDelete)

	// A group with middleware registers a catch-all 404 route, which echo
	// prefers to its 405: answer both here, after every route is known.
	s.routes = realRoutes(e)
	e.RouteNotFound("/*", s.unmatched)
	e.RouteNotFound("/api/v1/*", s.unmatched)
	return e
}

// realRoutes returns the paths of e's routes by method (not the catch-alls).
func realRoutes(e *echo.Echo) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		if out[r.Method] == nil {
			out[r.Method] = map[string]bool{}
		}
		out[r.Method][r.Path] = true
	}
	return out
}

// headAsGet answers HEAD like GET without the body (RFC 9110, 9.3.2), on
// every address but the Notary API's (which answers its own methods): it
// serves the request again as a GET, to the same net/http ResponseWriter,
// which sends the status and headers and drops the body of a HEAD request
// (as http.ServeMux does for GET patterns). Routes are GETs only.
func headAsGet(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodHead || r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/") {
			return next(c)
		}
		get := r.Clone(context.WithValue(r.Context(), servedAsGet{}, true))
		get.Method = http.MethodGet
		c.Echo().ServeHTTP(c.Response().Writer, get)
		return nil
	}
}

// servedAsGet marks the context of a HEAD request headAsGet serves as GET.
type servedAsGet struct{}

// unmatched answers a request no route takes: 405 with Allow when the path
// is a route's under other methods (HEAD wherever GET), 404 otherwise.
func (s *Server) unmatched(c echo.Context) error {
	path := echo.GetPath(c.Request())
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		probe := c.Echo().NewContext(nil, nil)
		c.Echo().Router().Find(m, path, probe)
		if s.routes[m][probe.Path()] {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) == 0 {
		return echo.ErrNotFound
	}
	c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
	return echo.ErrMethodNotAllowed
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

func (s *Server) home(c echo.Context) error {
	if currentUser(c) == nil {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return c.Redirect(http.StatusSeeOther, "/repositories")
}
