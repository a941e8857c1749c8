// Package app wires configuration, store, services and handlers into one
// running HTTPS server. cmd/web calls it; integration tests call it in-process.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	"github.com/sirupsen/logrus"
	notarystorage "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/trustdeck/trustdeck/internal/accounts"
	"github.com/trustdeck/trustdeck/internal/archives"
	"github.com/trustdeck/trustdeck/internal/audit"
	"github.com/trustdeck/trustdeck/internal/catalog"
	"github.com/trustdeck/trustdeck/internal/cluster"
	"github.com/trustdeck/trustdeck/internal/config"
	"github.com/trustdeck/trustdeck/internal/discovery"
	"github.com/trustdeck/trustdeck/internal/handlers"
	"github.com/trustdeck/trustdeck/internal/metrics"
	"github.com/trustdeck/trustdeck/internal/migration"
	"github.com/trustdeck/trustdeck/internal/notaryclient"
	"github.com/trustdeck/trustdeck/internal/notaryserver"
	"github.com/trustdeck/trustdeck/internal/registry"
	"github.com/trustdeck/trustdeck/internal/registryclient"
	"github.com/trustdeck/trustdeck/internal/removal"
	"github.com/trustdeck/trustdeck/internal/secrets"
	"github.com/trustdeck/trustdeck/internal/signers"
	"github.com/trustdeck/trustdeck/internal/store"
	"github.com/trustdeck/trustdeck/internal/tlsutil"
	"github.com/trustdeck/trustdeck/internal/tokens"
	"github.com/trustdeck/trustdeck/internal/trust"
	"github.com/trustdeck/trustdeck/internal/vault"
)

// The registry token service's identity: tokens carry iss=TokenIssuer and
// aud=TokenService, and the Notary API's challenge names TokenService. An
// external notary-server whose realm is trustdeck is configured with both.
const (
	TokenIssuer  = "trustdeck"
	TokenService = "trustdeck"
)

// TokenCertFile is where, under the data directory, trustdeck keeps the
// self-signed certificate of its token signing key
// (<data>/secrets/token-signing.pem): the rootcertbundle of an external
// notary-server whose token realm is trustdeck. It is rewritten when missing
// or when the key changed.
var TokenCertFile = filepath.Join("tls", "token-signing.crt")

// App is a configured trustdeck, ready to serve.
type App struct {
	Config  *config.Config
	Log     *slog.Logger
	Store   *store.Store
	Secrets *secrets.Secrets
	Handler http.Handler
	TLS     *tls.Config
	// CAFile is the CA clients should trust ("" with --tls-cert).
	CAFile string
	// TokenCert is the path of the token signing key's certificate.
	TokenCert string
	// Changefeed follows the external Notary server (nil when embedded).
	Changefeed *discovery.Poller
	// Registry reads the registry (nil without --registry-url).
	Registry *registry.Service
	// Migration plans and runs the move off Docker Content Trust.
	Migration *migration.Service
	// Metrics, with --metrics-addr, are served on MetricsAddr (ops.go).
	Metrics     *metrics.Metrics
	MetricsAddr net.Addr
	metricsLn   net.Listener
	// background work that runs while the server serves.
	background []func(context.Context)
	// cert is the server certificate served now; certFile and keyFile
	// are where it is read again (see tlsreload.go).
	cert              atomic.Pointer[tls.Certificate]
	certFile, keyFile string
}

// Option changes how New wires trustdeck (tests).
type Option func(*options)

type options struct {
	notaryTransport func(http.RoundTripper) http.RoundTripper
}

// WrapNotaryTransport has wrap wrap the transport of every request
// trustdeck itself sends to its Notary server (the embedded one, in-process,
// or the external one): tests lose replies with it.
func WrapNotaryTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) { o.notaryTransport = wrap }
}

// New prepares the data directory, opens and migrates the database, loads
// secrets and TLS material, creates the first admin and builds the routes.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// notary's client and server log through logrus; trustdeck reports what
	// matters itself, so keep only notary's errors.
	logrus.SetLevel(logrus.ErrorLevel)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	warnIfShared(cfg.DataDir, log)
	// With --database, the store is PostgreSQL and the data directory
	// holds only secrets/ and tls/.
	db := filepath.Join(cfg.DataDir, "trustdeck.db")
	if cfg.Database != "" {
		db = cfg.Database
	}
	st, err := store.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, Store: st}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	var readerOpts []trust.Option
	if cfg.MetricsAddr != "" {
		if a.metricsLn, err = a.listenMetrics(); err != nil {
			return nil, err
		}
		a.MetricsAddr = a.metricsLn.Addr()
		a.Metrics = metrics.New()
		a.Metrics.RepositoryStates(st)
		readerOpts = append(readerOpts, trust.ObserveLoads(a.Metrics.ObserveInspection))
	}
	if a.Secrets, err = secrets.Load(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := a.setupTLS(); err != nil {
		return nil, err
	}
	tokenIssuer := tokens.NewIssuer(a.Secrets.TokenKey, TokenIssuer, TokenService, tokens.DefaultTTL)
	tokenCert, err := a.setupTokenCertificate(tokenIssuer)
	if err != nil {
		return nil, err
	}
	acc := accounts.New(st)
	if err := acc.EnsureAdmin(ctx, cfg.AdminPassword, log); err != nil {
		return nil, err
	}
	cookies := sessions.NewCookieStore(a.Secrets.SessionHashKey, a.Secrets.SessionBlockKey)
	cookies.Options = &sessions.Options{
		Path: "/", MaxAge: int(accounts.SessionTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}
	auditLog := audit.New(st, log)
	serverKeys := vault.NewServerCrypto(st, a.Secrets)
	cat := catalog.New(st, cfg.RegistryHost)
	auditLog.SplitGUNsWith(cat.SplitGUN)
	if cfg.External() {
		cat.ListForeign() // an external server holds whatever GUNs its clients pushed
	}
	// The embedded server's per-GUN write locks, shared with the removal of
	// catalog entries (see removal.LockGUNsWith).
	gunLocks := &notaryserver.GUNLocks{}
	notaryCfg := notaryserver.Config{Store: st.TUF(), Crypto: serverKeys, Logger: log, Locks: gunLocks,
		CurrentMaxAge: cacheMaxAge(cfg.CurrentMaxAge), ConsistentMaxAge: cacheMaxAge(cfg.ConsistentMaxAge),
		Atomic: gunAtomic(st, cat)}
	if a.Metrics != nil {
		notaryCfg.Observer = a.Metrics
	}
	var dependencies []handlers.Dependency
	// trustdeck reads its own Notary server in-process, through the same
	// handler clients use (srv is set below); authorization happens in the
	// pages and API.
	var srv *handlers.Server
	notaryURL := "https://trustdeck.internal"
	var notaryRT http.RoundTripper = notaryserver.InProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.NotaryHandler().ServeHTTP(w, r)
	}))
	withActor := notaryserver.WithActor
	if cfg.External() {
		// An external Notary server: no embedded API; every read and write
		// goes through the TLS/token transport (see external.go).
		// trustdeck's own CA is trusted too: the server's token realm may be
		// trustdeck itself.
		rt, err := notaryclient.New(notaryclient.Options{CAFile: cfg.NotaryCA, OwnCAFile: a.CAFile,
			CertFile: cfg.NotaryClientCert, KeyFile: cfg.NotaryClientKey,
			Username: cfg.NotaryUsername, Password: cfg.NotaryPassword,
			Timeout: cfg.NotaryTimeout, Log: log})
		if err != nil {
			return nil, err
		}
		notaryURL, notaryRT, withActor = cfg.NotaryURL, rt, nil
		if a.Metrics != nil {
			notaryRT = a.Metrics.CountErrors("notary", rt, clientErrorCause(notaryclient.NotaryFlags))
		}
		dependencies = append(dependencies, pingDependency("notary", cfg.NotaryURL, notaryRT, notaryclient.NotaryFlags,
			handlers.NotaryHealthPath, "/v2/"))
	}
	if o.notaryTransport != nil {
		notaryRT = o.notaryTransport(notaryRT)
	}
	// The signer service publishes on behalf of a user: the embedded server
	// records its trust.update under that user's name. An external server
	// cannot learn it. Either way the services record each change before
	// sending it (audit.Journal), and its audit event names the user.
	remoteAs := func(gun, actor string) (notarystorage.RemoteStore, error) {
		rt := notaryRT
		if !cfg.External() && actor != "" {
			rt = notaryserver.ActingAs(rt, actor)
		}
		return notarystorage.NewNotaryServerStore(notaryURL, data.GUN(gun), rt)
	}
	// The reader acts for nobody in particular.
	remote := func(gun string) (notarystorage.RemoteStore, error) { return remoteAs(gun, "") }
	reader := trust.NewReader(remote, readerOpts...)
	keyVault := vault.New(st, a.Secrets)
	var summaryStore trust.SummaryStore = st
	if cfg.External() {
		summaryStore = externalSummaryStore{Store: st, server: cfg.NotaryURL}
	}
	summaries := trust.NewSummarizer(reader, summaryStore, cat.GUN, log)
	a.background = append(a.background, summaries.Run)
	deleter := notaryclient.Deleter(notaryURL, notaryRT, withActor)
	if cfg.External() {
		poller := discovery.New(discovery.Config{URL: cfg.NotaryURL, Transport: notaryRT, Interval: cfg.NotaryPollInterval,
			Store: st, Catalog: cat, Audit: auditLog, Summaries: summaries, Own: auditLog, OnRestart: summaries.EnqueueAll, Log: log,
			Reader: invalidatingEverywhere{Reader: reader, st: st, log: log}})
		a.Changefeed = poller
		if a.Metrics != nil {
			// Per replica: only the one holding the discovery lease reads
			// the changefeed (alert on the smallest lag of the replicas).
			a.Metrics.ChangefeedLag(func() time.Time { return poller.Status().LastRead }, time.Now())
		}
		a.exclusive(LeaseChangefeed, poller.Run)
	}
	signingKeys := vault.NewSigningKeys(st, a.Secrets, keyVault)
	migrationCfg := migration.Config{Store: st, Trust: reader, Keys: signingKeys, Catalog: cat, Audit: auditLog, Log: log}
	if cfg.HasRegistry() {
		// The registry's token realm may be trustdeck itself: its CA is
		// trusted too.
		rt, err := notaryclient.New(notaryclient.Options{CAFile: cfg.RegistryCA, OwnCAFile: a.CAFile,
			Username: cfg.RegistryUsername, Password: cfg.RegistryPassword, Log: log, Flags: registryclient.Flags})
		if err != nil {
			return nil, err
		}
		var registryRT http.RoundTripper = rt
		if a.Metrics != nil {
			registryRT = a.Metrics.CountErrors("registry", rt, clientErrorCause(registryclient.Flags))
		}
		dependencies = append(dependencies, pingDependency("registry", cfg.RegistryURL, registryRT, registryclient.Flags, "/v2/"))
		rc, err := registryclient.New(cfg.RegistryURL, registryRT)
		if err != nil {
			return nil, err
		}
		a.Registry = registry.New(registry.Config{Client: rc, Store: st, Catalog: cat, Trust: reader, Audit: auditLog,
			Summaries: summaries, Interval: cfg.RegistrySyncInterval, Log: log})
		summaries.OnRefresh(a.Registry.TrustChanged)
		a.exclusive(LeaseRegistry, a.Registry.Resync)
		a.background = append(a.background, func(ctx context.Context) { <-ctx.Done(); a.Registry.Close() })
		migrationCfg.Tags, migrationCfg.Transport = a.Registry, registryRT
		migrationCfg.RegistryAddress = strings.TrimPrefix(rc.URL(), "https://")
	}
	a.Migration = migration.New(migrationCfg)
	if a.Registry != nil {
		// What the registry says of signature tags refreshes the
		// signature columns in the background.
		a.Registry.OnTagsChanged(a.Migration.TagsChanged)
	}
	if err := a.releaseDeadLocalReplicas(ctx); err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	if err := a.Migration.Recover(ctx); err != nil {
		return nil, fmt.Errorf("migration runs: %w", err)
	}
	// Runs in flight stop at shutdown, interrupted: they continue when
	// started again.
	a.background = append(a.background, func(ctx context.Context) { <-ctx.Done(); a.Migration.Close() })
	a.recoverMigrations()
	remover := removal.New(reader, keyVault, cat, deleter, auditLog)
	if !cfg.External() {
		remover.LockGUNsWith(gunLocks.Lock)
		remover.RecordSource("https://" + cfg.PublicHost) // where clients reach the embedded Notary API
	} else {
		remover.RecordSource(cfg.NotaryURL)
	}
	// Captures trust trustdeck's own CA too: trustdeck itself (or its token
	// realm) can be the server captured from.
	archived := archives.New(archives.Config{Store: st, Audit: auditLog, Split: cat.SplitGUN, OwnCAFile: a.CAFile,
		Timeout: cfg.NotaryTimeout, Log: log})
	srv = &handlers.Server{
		Archives:    archived,
		Audit:       auditLog,
		Trust:       reader,
		Vault:       keyVault,
		UserKeys:    vault.NewUserKeys(st),
		Signers:     signers.New(remoteAs, reader, keyVault, auditLog, log),
		Removal:     remover,
		Summaries:   summaries,
		Accounts:    acc,
		Catalog:     cat,
		DB:          st,
		Log:         log,
		Sessions:    cookies,
		CSRFKey:     a.Secrets.CSRFKey,
		PublicHost:  cfg.PublicHost,
		HSTS:        !isLocal(cfg.PublicHostname()),
		Migration:   a.Migration,
		SigningKeys: signingKeys,
		Limits:      rateLimits(cfg, a.Metrics),

		Dependencies: dependencies,
	}
	// The token service runs in both modes: it is the embedded Notary API's
	// realm, and can be an external notary-server's (which then trusts
	// tokenCert). Its tokens are worthless to a server that does not.
	srv.Tokens = &handlers.TokenService{
		Issuer:             tokenIssuer,
		AllowAnonymousPull: cfg.AllowAnonymousPull,
		Certificate:        tokenCert,
	}
	if !cfg.External() {
		srv.Notary = &handlers.Notary{
			Config:       notaryCfg,
			CreateOnPush: cfg.CreateOnPush,
			ServerKeys:   serverKeys,
		}
	}
	if a.Changefeed != nil {
		srv.Changefeed = a.Changefeed
	}
	if a.Registry != nil {
		srv.Registry, srv.RegistryEventsToken = a.Registry, cfg.RegistryEventsToken
	}
	// Other replicas on the same database: follow their changes.
	follower, err := cluster.NewFollower(ctx, st, log)
	if err != nil {
		return nil, fmt.Errorf("read the change log: %w", err)
	}
	c := followed{reader: reader, catalog: cat, accounts: acc, registry: a.Registry}
	if !cfg.External() {
		c.notary = srv
	}
	follow(follower, c)
	srv.BeforeWrite = follower.Sync
	a.background = append(a.background, follower.Run)
	a.exclusive(LeasePrune, follower.Prune)
	a.Handler = srv.Handler()
	ok = true
	// What starting took (the first admin's password hash alone is 19 MiB)
	// is garbage now: hand it back to the system rather than idle with it.
	debug.FreeOSMemory()
	return a, nil
}

func (a *App) setupTLS() error {
	cfg := a.Config
	certFile, keyFile := cfg.TLSCert, cfg.TLSKey
	if certFile == "" {
		files, err := tlsutil.Ensure(filepath.Join(cfg.DataDir, "tls"), []string{cfg.PublicHostname()})
		if err != nil {
			return fmt.Errorf("generate TLS certificate: %w", err)
		}
		certFile, keyFile, a.CAFile = files.Cert, files.Key, files.CACert
		warnings, err := tlsutil.CAWarnings(files.CACert, time.Now())
		if err != nil {
			return err
		}
		for _, w := range warnings {
			a.Log.Warn(w)
		}
	}
	cert, err := tlsutil.Load(certFile, keyFile)
	if err != nil {
		return err
	}
	a.certFile, a.keyFile = certFile, keyFile
	a.cert.Store(&cert)
	a.TLS = tlsutil.ServerConfig(cert)
	a.TLS.Certificates = nil
	a.TLS.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return a.cert.Load(), nil }
	a.background = append(a.background, a.renewTLSEvery(tlsReloadInterval))
	return nil
}

// setupTokenCertificate writes (or keeps) the certificate of the token
// signing key and returns it (PEM).
func (a *App) setupTokenCertificate(iss *tokens.Issuer) ([]byte, error) {
	a.TokenCert = filepath.Join(a.Config.DataDir, TokenCertFile)
	pem, change, err := tokens.EnsureCertificate(a.TokenCert, a.Secrets.TokenKey, time.Now())
	if err != nil {
		return nil, fmt.Errorf("token signing certificate: %w", err)
	}
	if change == tokens.CertificateReplaced {
		a.Log.Warn("the token signing certificate was replaced: it did not match the token signing key; "+
			"a Notary server whose token realm is trustdeck refuses its tokens until its rootcertbundle is the new certificate",
			"certificate", a.TokenCert, "kid", iss.KeyID())
	}
	return pem, nil
}

func isLocal(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate())
}

// warnIfShared logs a warning when the data directory is open to group or
// others. trustdeck creates it 0700 and its database and keys 0600, but a
// directory made beforehand keeps its mode: the names in it stay visible, and
// whatever else is put there may be readable. trustdeck leaves the mode of a
// directory it did not create as it is (it may be shared on purpose, with a
// backup group say) and says so at every start.
func warnIfShared(dir string, log *slog.Logger) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn("the data directory is open to other users; trustdeck's database and keys in it are not, but consider chmod 700",
		"dir", dir, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
}

// Close releases the database (and the metrics listener, if never served).
func (a *App) Close() error {
	if a.metricsLn != nil {
		a.metricsLn.Close()
	}
	return a.Store.Close()
}

// Serve listens on the configured address until ctx ends, then shuts down
// gracefully. ready, if not nil, receives the bound address.
func (a *App) Serve(ctx context.Context, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
		return err
	}
	return a.ServeListener(ctx, ln, ready)
}

// ServeListener serves on ln (see Serve).
func (a *App) ServeListener(ctx context.Context, ln net.Listener, ready func(net.Addr)) error {
	hs := &http.Server{
		Handler:           a.Handler,
		TLSConfig:         a.TLS,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelDebug),
	}
	var pprofLn net.Listener
	if a.Config.PprofAddr != "" {
		var err error
		if pprofLn, err = a.listenPprof(); err != nil {
			ln.Close()
			return err
		}
	}
	a.logStart(ln.Addr())
	if ready != nil {
		ready(ln.Addr())
	}
	bgCtx, stopBackground := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	for _, run := range a.background {
		bg.Go(func() { run(bgCtx) })
	}
	if pprofLn != nil {
		bg.Go(func() { a.servePprof(bgCtx, pprofLn) })
	}
	if a.metricsLn != nil {
		bg.Go(func() { a.serveMetrics(bgCtx, a.metricsLn) })
	}
	defer func() { stopBackground(); bg.Wait() }()
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down", "timeout", a.Config.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *App) logStart(addr net.Addr) {
	a.Log.Info("trustdeck listening", "addr", addr.String(), "url", "https://"+a.Config.PublicHost+"/",
		"registry_host", a.Config.RegistryHost, "data", a.Config.DataDir, "database", a.Store.String())
	if a.Config.External() {
		a.Log.Info("external Notary server: the embedded Notary API is off",
			"notary_url", a.Config.NotaryURL, "poll_interval", a.Config.NotaryPollInterval)
	}
	if a.Config.HasRegistry() {
		events := "off (no --registry-events-token)"
		if a.Config.RegistryEventsToken != "" {
			events = "https://" + a.Config.PublicHost + handlers.RegistryEventsPath
		}
		a.Log.Info("registry: reading its tags and catalog", "registry_url", a.Config.RegistryURL,
			"sync_interval", a.Config.RegistrySyncInterval, "notifications", events)
	}
	certPath, _ := filepath.Abs(a.TokenCert)
	a.Log.Info("token service: a Notary server with token auth and these options accepts trustdeck's tokens (README: In front of an existing Notary server)",
		"realm", "https://"+a.Config.PublicHost+"/auth/token", "service", TokenService, "issuer", TokenIssuer,
		"rootcertbundle", certPath, "certificate_url", "https://"+a.Config.PublicHost+handlers.TokenCertificatePath)
	if a.CAFile != "" {
		abs, _ := filepath.Abs(a.CAFile)
		a.Log.Info("TLS: clients must trust the generated CA",
			"ca", abs,
			"docker", fmt.Sprintf("mkdir -p ~/.docker/tls/%s && cp %s ~/.docker/tls/%s/ca.crt", a.Config.PublicHost, abs, a.Config.PublicHost),
			"system", fmt.Sprintf("cp %s /usr/local/share/ca-certificates/trustdeck.crt && update-ca-certificates", abs),
			"browser", "import the CA under Settings → Privacy and security → Manage certificates → Authorities")
	}
}
