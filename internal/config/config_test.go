package config_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/config"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := config.ParseServe(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Addr:             ":4443",
		DataDir:          "./data",
		PublicHost:       "localhost:4443",
		RegistryHost:     "localhost:4443",
		LogFormat:        "text",
		LogLevel:         "info",
		ShutdownTimeout:  15 * time.Second,
		RateLogin:        config.Rate{N: 300, Per: time.Minute},
		RateToken:        config.Rate{N: 1200, Per: time.Minute},
		RateNotaryWrite:  config.Rate{N: 300, Per: time.Minute},
		CurrentMaxAge:    5 * time.Minute,
		ConsistentMaxAge: 30 * 24 * time.Hour,
	}
	if *c != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
	if c.PublicHostname() != "localhost" {
		t.Errorf("PublicHostname() = %q, want localhost", c.PublicHostname())
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*config.Config) string // returns what is wrong, or ""
	}{
		{"port 443 leaves the port out of the public host", []string{"--addr", ":443"}, nil,
			func(c *config.Config) string { return expect(c.PublicHost, "localhost") }},
		{"public host follows the listen port", []string{"--addr", "127.0.0.1:9443"}, nil,
			func(c *config.Config) string { return expect(c.PublicHost, "localhost:9443") }},
		{"environment sets the address", nil, map[string]string{"TRUSTDECK_ADDR": ":8443"},
			func(c *config.Config) string { return expect(c.Addr+" "+c.PublicHost, ":8443 localhost:8443") }},
		{"flag wins over environment", []string{"--addr", ":7443", "--data", "/flag"},
			map[string]string{"TRUSTDECK_ADDR": ":8443", "TRUSTDECK_DATA": "/env"},
			func(c *config.Config) string { return expect(c.Addr+" "+c.DataDir, ":7443 /flag") }},
		{"registry host defaults to the public host", []string{"--public-host", "trust.example.com"}, nil,
			func(c *config.Config) string {
				return expect(c.RegistryHost+" "+c.PublicHostname(), "trust.example.com trust.example.com")
			}},
		{"registry host from the environment", nil,
			map[string]string{"TRUSTDECK_PUBLIC_HOST": "trust.example.com:4443", "TRUSTDECK_REGISTRY_HOST": "registry.example.com"},
			func(c *config.Config) string {
				return expect(c.PublicHost+" "+c.RegistryHost+" "+c.PublicHostname(),
					"trust.example.com:4443 registry.example.com trust.example.com")
			}},
		{"boolean from the environment", nil,
			map[string]string{"TRUSTDECK_ALLOW_ANONYMOUS_PULL": "true", "TRUSTDECK_CREATE_ON_PUSH": "1"},
			func(c *config.Config) string {
				if !c.AllowAnonymousPull || !c.CreateOnPush {
					return "booleans not set from the environment"
				}
				return ""
			}},
		{"boolean flag wins over environment", []string{"--allow-anonymous-pull=false"},
			map[string]string{"TRUSTDECK_ALLOW_ANONYMOUS_PULL": "true"},
			func(c *config.Config) string {
				if c.AllowAnonymousPull {
					return "the environment won over the flag"
				}
				return ""
			}},
		{"duration from the environment, flag wins", []string{"--shutdown-timeout", "3s"},
			map[string]string{"TRUSTDECK_SHUTDOWN_TIMEOUT": "1m"},
			func(c *config.Config) string { return expect(c.ShutdownTimeout.String(), "3s") }},
		{"duration from the environment", nil, map[string]string{"TRUSTDECK_SHUTDOWN_TIMEOUT": "1m"},
			func(c *config.Config) string { return expect(c.ShutdownTimeout.String(), "1m0s") }},
		{"admin password only from the environment", nil, map[string]string{"TRUSTDECK_ADMIN_PASSWORD": "s3cret-pass"},
			func(c *config.Config) string { return expect(c.AdminPassword, "s3cret-pass") }},
		{"log settings", []string{"--log-format", "json", "--log-level", "debug"}, nil,
			func(c *config.Config) string { return expect(c.LogFormat+" "+c.LogLevel, "json debug") }},
		{"TLS files go together", []string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, nil,
			func(c *config.Config) string { return expect(c.TLSCert+" "+c.TLSKey, "c.pem k.pem") }},
		{"an empty environment variable is unset", nil, map[string]string{"TRUSTDECK_ADDR": ""},
			func(c *config.Config) string { return expect(c.Addr, ":4443") }},
		{"profiler on loopback", []string{"--pprof-addr", "127.0.0.1:6060"}, nil,
			func(c *config.Config) string { return expect(c.PprofAddr, "127.0.0.1:6060") }},
		{"profiler on IPv6 loopback from the environment", nil, map[string]string{"TRUSTDECK_PPROF_ADDR": "[::1]:6060"},
			func(c *config.Config) string { return expect(c.PprofAddr, "[::1]:6060") }},
		{"PostgreSQL store from the environment", nil, map[string]string{"TRUSTDECK_DATABASE": "postgres://td:pw@db:5432/td"},
			func(c *config.Config) string { return expect(c.Database, "postgres://td:pw@db:5432/td") }},
		{"PostgreSQL store flag", []string{"--database", "postgresql://td@db/td"}, map[string]string{"TRUSTDECK_DATABASE": "postgres://env/x"},
			func(c *config.Config) string { return expect(c.Database, "postgresql://td@db/td") }},
		{"profiler on localhost", []string{"--pprof-addr", "localhost:6060"}, nil,
			func(c *config.Config) string { return expect(c.PprofAddr, "localhost:6060") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.ParseServe(tt.args, envOf(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(c); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func expect(got, want string) string {
	if got != want {
		return "got " + got + ", want " + want
	}
	return ""
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error
	}{
		{"address without port", []string{"--addr", "4443"}, nil, "--addr"},
		{"address without port from the environment", nil, map[string]string{"TRUSTDECK_ADDR": "localhost"}, "--addr"},
		{"public host with scheme", []string{"--public-host", "https://trust.example.com"}, nil, "--public-host"},
		{"public host with path", []string{"--public-host", "trust.example.com/x"}, nil, "--public-host"},
		{"registry host with path", []string{"--registry-host", "registry.example.com/v2"}, nil, "--registry-host"},
		{"certificate without key", []string{"--tls-cert", "c.pem"}, nil, "--tls-key"},
		{"key without certificate", []string{"--tls-key", "k.pem"}, nil, "--tls-cert"},
		{"unknown log format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"unknown log level", []string{"--log-level", "verbose"}, nil, "--log-level"},
		{"unknown log level from the environment", nil, map[string]string{"TRUSTDECK_LOG_LEVEL": "loud"}, "--log-level"},
		{"boolean environment variable", nil, map[string]string{"TRUSTDECK_CREATE_ON_PUSH": "maybe"}, "TRUSTDECK_CREATE_ON_PUSH"},
		{"duration environment variable", nil, map[string]string{"TRUSTDECK_SHUTDOWN_TIMEOUT": "soon"}, "TRUSTDECK_SHUTDOWN_TIMEOUT"},
		{"duration flag", []string{"--shutdown-timeout", "soon"}, nil, "shutdown-timeout"},
		{"database that is not a PostgreSQL URL", []string{"--database", "./data/trustdeck.db"}, nil, "--database: want a PostgreSQL URL"},
		{"database of another kind from the environment", nil, map[string]string{"TRUSTDECK_DATABASE": "mysql://x"}, "--database"},
		{"negative duration", []string{"--shutdown-timeout", "-1s"}, nil, "--shutdown-timeout"},
		{"boolean flag", []string{"--create-on-push=maybe"}, nil, "create-on-push"},
		{"unknown flag", []string{"--nope"}, nil, "nope"},
		{"admin password is not a flag", []string{"--admin-password", "x"}, nil, "admin-password"},
		{"stray argument", []string{"extra"}, nil, `"extra"`},
		{"profiler on every interface", []string{"--pprof-addr", ":6060"}, nil, "--pprof-addr"},
		{"profiler on a public address", []string{"--pprof-addr", "192.0.2.10:6060"}, nil, "--pprof-addr"},
		{"profiler on the unspecified address", []string{"--pprof-addr", "0.0.0.0:6060"}, nil, "--pprof-addr"},
		{"profiler on a host name", nil, map[string]string{"TRUSTDECK_PPROF_ADDR": "trust.example.com:6060"}, "--pprof-addr"},
		{"profiler without port", []string{"--pprof-addr", "127.0.0.1"}, nil, "--pprof-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.ParseServe(tt.args, envOf(tt.env), io.Discard)
			if err == nil {
				t.Fatalf("accepted: %+v", *c)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_, err := config.ParseServe([]string{"--help"}, envOf(nil), &out)
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("--help: %v, want ErrHelp", err)
	}
	for _, want := range []string{"Usage: trustdeck serve", "TRUSTDECK_ADDR", "TRUSTDECK_ADMIN_PASSWORD", "-public-host"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}
