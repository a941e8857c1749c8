package config_test

import (
	"io"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/config"
)

func TestRegistry(t *testing.T) {
	c, err := config.ParseServe([]string{"--registry-url", "https://127.0.0.1:5000/", "--registry-ca", "ca.pem",
		"--registry-username", "svc", "--registry-host", "127.0.0.1:5000"},
		envOf(map[string]string{"TRUSTDECK_REGISTRY_PASSWORD": "pw", "TRUSTDECK_REGISTRY_EVENTS_TOKEN": "0123456789abcdef0123"}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.RegistryURL, c.RegistryCA, c.RegistryUsername, c.RegistryPassword, c.RegistryEventsToken, c.RegistryHost}
	if strings.Join(got, " ") != "https://127.0.0.1:5000 ca.pem svc pw 0123456789abcdef0123 127.0.0.1:5000" {
		t.Errorf("got %q", got)
	}
	if !c.HasRegistry() || c.RegistrySyncInterval != config.DefaultRegistrySyncInterval {
		t.Errorf("HasRegistry %v, sync interval %s", c.HasRegistry(), c.RegistrySyncInterval)
	}

	// With an external Notary server too, and from the environment.
	c, err = config.ParseServe([]string{"--notary-url", "https://notary.example"},
		envOf(map[string]string{"TRUSTDECK_REGISTRY_URL": "https://registry.example", "TRUSTDECK_REGISTRY_SYNC_INTERVAL": "30s",
			"TRUSTDECK_REGISTRY_HOST": "[::1]:5000"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RegistryURL != "https://registry.example" || c.RegistrySyncInterval.String() != "30s" || !c.External() || c.RegistryHost != "[::1]:5000" {
		t.Errorf("got %+v", *c)
	}

	// Secrets are never printed as defaults by --help.
	var help strings.Builder
	config.ParseServe([]string{"--help"}, envOf(map[string]string{"TRUSTDECK_REGISTRY_PASSWORD": "s3cret-pw",
		"TRUSTDECK_REGISTRY_EVENTS_TOKEN": "s3cret-token-0123456789"}), &help)
	if strings.Contains(help.String(), "s3cret") || !strings.Contains(help.String(), "-registry-events-token") {
		t.Errorf("--help:\n%s", help.String())
	}

	// Without --registry-url nothing changes.
	c, err = config.ParseServe(nil, envOf(nil), io.Discard)
	if err != nil || c.HasRegistry() || c.RegistrySyncInterval != 0 {
		t.Errorf("default: %v %+v", err, c)
	}
}

func TestRegistryBadValues(t *testing.T) {
	u := "https://registry.example"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"plain http", []string{"--registry-url", "http://registry.example"}, nil, "want https://host[:port]"},
		{"a path", []string{"--registry-url", u + "/v2/"}, nil, "want https://host[:port]"},
		{"credentials in the URL", []string{"--registry-url", "https://u:p@registry.example"}, nil, "want https://host[:port]"},
		{"no host", []string{"--registry-url", "https://"}, nil, "want https://host[:port]"},
		{"ca without url", []string{"--registry-ca", "ca.pem"}, nil, "--registry-ca needs --registry-url"},
		{"password without url", nil, map[string]string{"TRUSTDECK_REGISTRY_PASSWORD": "pw"}, "--registry-password needs --registry-url"},
		{"token without url", nil, map[string]string{"TRUSTDECK_REGISTRY_EVENTS_TOKEN": "0123456789abcdef"}, "--registry-events-token needs --registry-url"},
		{"interval without url", []string{"--registry-sync-interval", "1m"}, nil, "--registry-sync-interval needs --registry-url"},
		{"username alone", []string{"--registry-url", u, "--registry-username", "svc"}, nil, "go together"},
		{"short token", []string{"--registry-url", u}, map[string]string{"TRUSTDECK_REGISTRY_EVENTS_TOKEN": "short"}, "at least 16 characters"},
		{"tiny interval", []string{"--registry-url", u, "--registry-sync-interval", "1ms"}, nil, "want at least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.ParseServe(tt.args, envOf(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
