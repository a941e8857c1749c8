package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Defaults of the registry connection (applied only with --registry-url).
const (
	DefaultRegistrySyncInterval = 10 * time.Minute
	// MinRegistrySyncInterval keeps a typo from hammering the registry.
	MinRegistrySyncInterval = 100 * time.Millisecond
	// MinRegistryEventsToken is the shortest events token accepted: the
	// registry sends it with every notification, and it is all that
	// authenticates them.
	MinRegistryEventsToken = 16
)

func (c *Config) registryOptions() []option {
	return []option{
		{flag: "registry-url", env: "TRUSTDECK_REGISTRY_URL", str: &c.RegistryURL,
			help: "https URL of the registry (Docker Registry HTTP API v2 / OCI distribution) that serves the images <registry host>/<namespace>/<name>: trustdeck reads its tags to show unsigned, drifted and missing tags (off when empty)"},
		{flag: "registry-ca", env: "TRUSTDECK_REGISTRY_CA", str: &c.RegistryCA,
			help: "PEM CA bundle that signs the registry's certificate, added to the system's"},
		{flag: "registry-username", env: "TRUSTDECK_REGISTRY_USERNAME", str: &c.RegistryUsername,
			help: "service account trustdeck sends to the registry's token realm (needs pull on the repositories, and registry:catalog:* to discover them)"},
		{flag: "registry-password", env: "TRUSTDECK_REGISTRY_PASSWORD", str: &c.RegistryPassword, secret: true,
			help: "password of --registry-username (prefer the environment variable: flags show up in process listings)"},
		{flag: "registry-events-token", env: "TRUSTDECK_REGISTRY_EVENTS_TOKEN", str: &c.RegistryEventsToken, secret: true,
			help: "the token the registry's notifications endpoint sends as 'Authorization: Bearer <token>' to POST /api/v1/registry/events (the endpoint is off without it; prefer the environment variable)"},
		{flag: "registry-sync-interval", env: "TRUSTDECK_REGISTRY_SYNC_INTERVAL", def: "0s", dur: &c.RegistrySyncInterval,
			help: "how often to read every repository's tags and the registry's catalog again (default 10m with --registry-url)"},
	}
}

// HasRegistry reports whether trustdeck reads a registry (--registry-url).
func (c *Config) HasRegistry() bool { return c.RegistryURL != "" }

func (c *Config) completeRegistry() error {
	if c.RegistryURL == "" {
		if err := needs("--registry-url", "the registry connection", map[string]string{
			"--registry-ca": c.RegistryCA, "--registry-username": c.RegistryUsername,
			"--registry-password": c.RegistryPassword, "--registry-events-token": c.RegistryEventsToken,
		}); err != nil {
			return err
		}
		if c.RegistrySyncInterval != 0 {
			return errors.New("--registry-sync-interval needs --registry-url")
		}
		return nil
	}
	u, err := url.Parse(c.RegistryURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		strings.Trim(u.Path, "/") != "" {
		return fmt.Errorf("--registry-url %q: want https://host[:port] (the registry's API is under /v2/ there)", c.RegistryURL)
	}
	c.RegistryURL = "https://" + u.Host
	if (c.RegistryUsername == "") != (c.RegistryPassword == "") {
		return errors.New("--registry-username and --registry-password (TRUSTDECK_REGISTRY_PASSWORD) go together")
	}
	if c.RegistryEventsToken != "" && len(c.RegistryEventsToken) < MinRegistryEventsToken {
		return fmt.Errorf("--registry-events-token: want at least %d characters (a random secret: openssl rand -hex 32)", MinRegistryEventsToken)
	}
	switch {
	case c.RegistrySyncInterval == 0:
		c.RegistrySyncInterval = DefaultRegistrySyncInterval
	case c.RegistrySyncInterval < MinRegistrySyncInterval:
		return fmt.Errorf("--registry-sync-interval %s: want at least %s", c.RegistrySyncInterval, MinRegistrySyncInterval)
	}
	return nil
}
