package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults of the external Notary server's settings (applied only with
// --notary-url, so the embedded default's configuration is unchanged).
const (
	DefaultNotaryPollInterval = 30 * time.Second
	DefaultNotaryTimeout      = 30 * time.Second
	// MinNotaryPollInterval keeps a typo from hammering the server.
	MinNotaryPollInterval = 100 * time.Millisecond
)

func (c *Config) notaryOptions() []option {
	return []option{
		{flag: "notary-url", env: "TRUSTDECK_NOTARY_URL", str: &c.NotaryURL,
			help: "https URL of an external Notary server (notary-server); switches off the embedded Notary API (the token service stays: it can be that server's realm)"},
		{flag: "notary-ca", env: "TRUSTDECK_NOTARY_CA", str: &c.NotaryCA,
			help: "PEM CA bundle that signs the external Notary server's certificate (default: the system's CAs)"},
		{flag: "notary-client-cert", env: "TRUSTDECK_NOTARY_CLIENT_CERT", str: &c.NotaryClientCert,
			help: "PEM client certificate for mutual TLS with the external Notary server"},
		{flag: "notary-client-key", env: "TRUSTDECK_NOTARY_CLIENT_KEY", str: &c.NotaryClientKey,
			help: "PEM private key of --notary-client-cert"},
		{flag: "notary-username", env: "TRUSTDECK_NOTARY_USERNAME", str: &c.NotaryUsername,
			help: "account trustdeck sends to the token service named by the external Notary server's Bearer challenge (needs * on the GUNs it manages)"},
		{flag: "notary-password", env: "TRUSTDECK_NOTARY_PASSWORD", str: &c.NotaryPassword, secret: true,
			help: "password of --notary-username (prefer the environment variable: flags show up in process listings)"},
		{flag: "notary-poll-interval", env: "TRUSTDECK_NOTARY_POLL_INTERVAL", def: "0s", dur: &c.NotaryPollInterval,
			help: "how often to read the external Notary server's changefeed (default 30s with --notary-url)"},
		{flag: "notary-timeout", env: "TRUSTDECK_NOTARY_TIMEOUT", def: "0s", dur: &c.NotaryTimeout,
			help: "bound on each request to the external Notary server (default 30s with --notary-url)"},
	}
}

// needs refuses the first set flag (by name) of flags, which configure
// what base configures and mean nothing without it.
func needs(base, what string, flags map[string]string) error {
	names := make([]string, 0, len(flags))
	for name, value := range flags {
		if value != "" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return fmt.Errorf("%s needs %s (it configures %s)", names[0], base, what)
}

// External reports whether trustdeck fronts an external Notary server.
func (c *Config) External() bool { return c.NotaryURL != "" }

func (c *Config) completeNotary() error {
	if c.NotaryURL == "" {
		if err := needs("--notary-url", "the external Notary server", map[string]string{
			"--notary-ca": c.NotaryCA, "--notary-client-cert": c.NotaryClientCert, "--notary-client-key": c.NotaryClientKey,
			"--notary-username": c.NotaryUsername, "--notary-password": c.NotaryPassword,
		}); err != nil {
			return err
		}
		if c.NotaryPollInterval != 0 || c.NotaryTimeout != 0 {
			return errors.New("--notary-poll-interval and --notary-timeout need --notary-url")
		}
		return nil
	}
	u, err := url.Parse(c.NotaryURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--notary-url %q: want https://host[:port][/path] (docker and notary clients need https too)", c.NotaryURL)
	}
	c.NotaryURL = strings.TrimRight(c.NotaryURL, "/")
	if (c.NotaryClientCert == "") != (c.NotaryClientKey == "") {
		return errors.New("--notary-client-cert and --notary-client-key go together")
	}
	if (c.NotaryUsername == "") != (c.NotaryPassword == "") {
		return errors.New("--notary-username and --notary-password (TRUSTDECK_NOTARY_PASSWORD) go together")
	}
	if c.CreateOnPush {
		return errors.New("--create-on-push configures the embedded Notary server: with --notary-url, repositories pushed to the external server are discovered from its changefeed")
	}
	switch {
	case c.NotaryPollInterval == 0:
		c.NotaryPollInterval = DefaultNotaryPollInterval
	case c.NotaryPollInterval < MinNotaryPollInterval:
		return fmt.Errorf("--notary-poll-interval %s: want at least %s", c.NotaryPollInterval, MinNotaryPollInterval)
	}
	switch {
	case c.NotaryTimeout == 0:
		c.NotaryTimeout = DefaultNotaryTimeout
	case c.NotaryTimeout < 0:
		return fmt.Errorf("--notary-timeout %s: want a positive duration", c.NotaryTimeout)
	}
	return nil
}
