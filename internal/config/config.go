// Package config turns flags and TRUSTDECK_* environment variables into the
// server's configuration. Flags win over the environment.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is everything `trustdeck serve` needs.
type Config struct {
	Addr    string
	DataDir string
	// Database is a PostgreSQL URL (postgres://…) for trustdeck's store;
	// "" keeps it in SQLite in DataDir (the default). With it, DataDir
	// holds only secrets/ and tls/.
	Database           string
	PublicHost         string
	RegistryHost       string
	TLSCert            string
	TLSKey             string
	AllowAnonymousPull bool
	CreateOnPush       bool
	LogFormat          string
	LogLevel           string
	ShutdownTimeout    time.Duration
	// PprofAddr, when set, serves net/http/pprof on this loopback address.
	PprofAddr string

	// External Notary server (see notary.go). NotaryURL "" means the
	// embedded Notary server (the default); the other Notary* fields are
	// only accepted with it.
	NotaryURL          string
	NotaryCA           string
	NotaryClientCert   string
	NotaryClientKey    string
	NotaryUsername     string
	NotaryPassword     string
	NotaryPollInterval time.Duration
	NotaryTimeout      time.Duration

	// The registry (see registry.go). RegistryURL "" means none: trustdeck
	// then shows trust data only, and the other Registry* fields are only
	// accepted with it.
	RegistryURL          string
	RegistryCA           string
	RegistryUsername     string
	RegistryPassword     string
	RegistryEventsToken  string
	RegistrySyncInterval time.Duration

	// Operations (see ops.go): the metrics listener, the rate limits and
	// the embedded Notary API's Cache-Control.
	MetricsAddr                                           string
	RateLogin, RateToken, RateNotaryWrite, RateNotaryRead Rate
	CurrentMaxAge, ConsistentMaxAge                       time.Duration

	// AdminPassword comes only from TRUSTDECK_ADMIN_PASSWORD (never a flag:
	// flags show up in process listings).
	AdminPassword string
}

type option struct {
	flag, env, help string
	str             *string
	boolean         *bool
	dur             *time.Duration
	rate            *Rate
	def             string
	// secret values are read from the environment after parsing, so that
	// --help never prints them as a default.
	secret bool
}

func (c *Config) options() []option {
	return append([]option{
		{flag: "addr", env: "TRUSTDECK_ADDR", def: ":4443", str: &c.Addr,
			help: "HTTPS listen address (host:port)"},
		{flag: "data", env: "TRUSTDECK_DATA", def: "./data", str: &c.DataDir,
			help: "data directory: SQLite database (unless --database), tls/, secrets/"},
		{flag: "database", env: "TRUSTDECK_DATABASE", str: &c.Database, secret: true,
			help: "PostgreSQL URL (postgres://user:password@host:5432/dbname?sslmode=verify-full) of trustdeck's store instead of SQLite in the data directory; prefer the environment (flags show in process listings)"},
		{flag: "public-host", env: "TRUSTDECK_PUBLIC_HOST", str: &c.PublicHost,
			help: "host[:port] users and clients reach trustdeck at (default localhost + the listen port)"},
		{flag: "registry-host", env: "TRUSTDECK_REGISTRY_HOST", str: &c.RegistryHost,
			help: "registry host[:port] that prefixes image names and Notary GUNs (default the public host)"},
		{flag: "tls-cert", env: "TRUSTDECK_TLS_CERT", str: &c.TLSCert,
			help: "PEM server certificate (default: generate a CA and certificate in <data>/tls)"},
		{flag: "tls-key", env: "TRUSTDECK_TLS_KEY", str: &c.TLSKey,
			help: "PEM private key of --tls-cert"},
		{flag: "allow-anonymous-pull", env: "TRUSTDECK_ALLOW_ANONYMOUS_PULL", def: "false", boolean: &c.AllowAnonymousPull,
			help: "let unauthenticated Notary clients read trust data of every catalog repository"},
		{flag: "create-on-push", env: "TRUSTDECK_CREATE_ON_PUSH", def: "false", boolean: &c.CreateOnPush,
			help: "create the catalog entry when an account with write on the namespace first pushes trust data"},
		{flag: "log-format", env: "TRUSTDECK_LOG_FORMAT", def: "text", str: &c.LogFormat,
			help: "log format: text or json"},
		{flag: "log-level", env: "TRUSTDECK_LOG_LEVEL", def: "info", str: &c.LogLevel,
			help: "log level: debug, info, warn or error"},
		{flag: "shutdown-timeout", env: "TRUSTDECK_SHUTDOWN_TIMEOUT", def: "15s", dur: &c.ShutdownTimeout,
			help: "how long to wait for requests to finish on SIGINT/SIGTERM"},
		{flag: "pprof-addr", env: "TRUSTDECK_PPROF_ADDR", str: &c.PprofAddr,
			help: "serve Go's profiler (net/http/pprof, plain HTTP, no authentication) on this loopback host:port; off when empty"},
	}, append(append(c.notaryOptions(), c.registryOptions()...), c.opsOptions()...)...)
}

// ErrHelp is returned when --help was asked for (usage already printed).
var ErrHelp = flag.ErrHelp

// ParseServe parses the arguments of `trustdeck serve`.
func ParseServe(args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	opts := c.options()
	for _, o := range opts {
		def := o.def
		if v := getenv(o.env); v != "" && !o.secret {
			def = v
		}
		help := fmt.Sprintf("%s (env %s)", o.help, o.env)
		switch {
		case o.str != nil:
			fs.StringVar(o.str, o.flag, def, help)
		case o.boolean != nil:
			b, err := strconv.ParseBool(def)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a boolean", o.env, def)
			}
			fs.BoolVar(o.boolean, o.flag, b, help)
		case o.dur != nil:
			d, err := time.ParseDuration(def)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a duration", o.env, def)
			}
			fs.DurationVar(o.dur, o.flag, d, help)
		case o.rate != nil:
			if err := o.rate.Set(def); err != nil {
				return nil, fmt.Errorf("%s: %w", o.env, err)
			}
			fs.Var(o.rate, o.flag, help)
		}
	}
	fs.Usage = func() {
		fmt.Fprint(out, "Usage: trustdeck serve [flags]\n\nStarts the web UI, the JSON API, the token service and the embedded Notary server on one HTTPS listener.\n"+
			"With --notary-url, trustdeck serves no Notary API of its own: it reads and manages the external Notary\n"+
			"server (notary-server + notary-signer) instead, and discovers its repositories from the server's changefeed;\n"+
			"its token service can be that server's realm (README: \"In front of an existing Notary server\").\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(out, "\nEnvironment only:\n  TRUSTDECK_ADMIN_PASSWORD\tpassword of the first account, admin, created on first start (default: random, logged once)\n")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, o := range opts {
		if o.secret && o.str != nil && *o.str == "" {
			*o.str = getenv(o.env)
		}
	}
	c.AdminPassword = getenv("TRUSTDECK_ADMIN_PASSWORD")
	return c, c.complete()
}

func (c *Config) complete() error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port", c.Addr)
	}
	_ = host
	if c.PublicHost == "" {
		c.PublicHost = "localhost"
		if port != "443" {
			c.PublicHost += ":" + port
		}
	}
	if strings.Contains(c.PublicHost, "/") || strings.Contains(c.PublicHost, "://") {
		return fmt.Errorf("--public-host %q: want host[:port] without a scheme or path", c.PublicHost)
	}
	if c.RegistryHost == "" {
		c.RegistryHost = c.PublicHost
	}
	if strings.Contains(c.RegistryHost, "/") {
		return fmt.Errorf("--registry-host %q: want host[:port]", c.RegistryHost)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("--shutdown-timeout %s: want a duration of zero or more", c.ShutdownTimeout)
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return errors.New("--database: want a PostgreSQL URL, postgres://user:password@host:5432/dbname (without it, the store is SQLite in --data)")
	}
	if c.PprofAddr != "" && !isLoopbackAddr(c.PprofAddr) {
		return fmt.Errorf("--pprof-addr %q: want a loopback host:port (127.0.0.1:6060, [::1]:6060 or localhost:6060): "+
			"the profiler has no authentication", c.PprofAddr)
	}
	if err := c.completeNotary(); err != nil {
		return err
	}
	if err := c.completeOps(); err != nil {
		return err
	}
	return c.completeRegistry()
}

// isLoopbackAddr reports whether addr is host:port with a loopback IP or
// localhost as host.
func isLoopbackAddr(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// PublicHostname is the public host without its port.
func (c *Config) PublicHostname() string {
	if h, _, err := net.SplitHostPort(c.PublicHost); err == nil {
		return h
	}
	return c.PublicHost
}

// Getenv is os.Getenv, named for injection in tests.
var Getenv = os.Getenv
