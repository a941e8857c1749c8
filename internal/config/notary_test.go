package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/config"
)

func TestExternalNotary(t *testing.T) {
	c, err := config.ParseServe([]string{"--notary-url", "https://notary.example.com:4443/",
		"--notary-ca", "ca.pem", "--notary-client-cert", "c.pem", "--notary-client-key", "k.pem",
		"--notary-username", "svc"},
		envOf(map[string]string{"TRUSTDECK_NOTARY_PASSWORD": "pw", "TRUSTDECK_NOTARY_POLL_INTERVAL": "5s"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.External() || c.NotaryURL != "https://notary.example.com:4443" {
		t.Errorf("NotaryURL = %q (trailing slash kept?), External = %v", c.NotaryURL, c.External())
	}
	got := []string{c.NotaryCA, c.NotaryClientCert, c.NotaryClientKey, c.NotaryUsername, c.NotaryPassword}
	if strings.Join(got, " ") != "ca.pem c.pem k.pem svc pw" {
		t.Errorf("got %q", got)
	}
	if c.NotaryPollInterval != 5*time.Second || c.NotaryTimeout != config.DefaultNotaryTimeout {
		t.Errorf("poll %s timeout %s", c.NotaryPollInterval, c.NotaryTimeout)
	}

	c, err = config.ParseServe(nil, envOf(map[string]string{"TRUSTDECK_NOTARY_URL": "https://n.example"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.NotaryPollInterval != config.DefaultNotaryPollInterval {
		t.Errorf("default poll interval %s", c.NotaryPollInterval)
	}

	// --allow-anonymous-pull governs trustdeck's token service, which an
	// external server may use as its realm.
	c, err = config.ParseServe([]string{"--notary-url", "https://n.example", "--allow-anonymous-pull"}, envOf(nil), io.Discard)
	if err != nil || !c.AllowAnonymousPull {
		t.Errorf("--allow-anonymous-pull with --notary-url: %v, %+v", err, c)
	}

	// The embedded default leaves every Notary setting empty.
	c, err = config.ParseServe(nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.External() || c.NotaryPollInterval != 0 || c.NotaryTimeout != 0 {
		t.Errorf("embedded default changed: %+v", *c)
	}
}

func TestExternalNotaryBadValues(t *testing.T) {
	u := "https://notary.example.com"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"http URL", []string{"--notary-url", "http://notary.example.com"}, nil, "--notary-url"},
		{"URL without host", []string{"--notary-url", "https://"}, nil, "--notary-url"},
		{"URL with credentials", []string{"--notary-url", "https://u:p@notary.example.com"}, nil, "--notary-url"},
		{"URL with query", []string{"--notary-url", u + "/?x=1"}, nil, "--notary-url"},
		{"bare host", []string{"--notary-url", "notary.example.com"}, nil, "--notary-url"},
		{"CA without URL", []string{"--notary-ca", "ca.pem"}, nil, "--notary-url"},
		{"username without URL", nil, map[string]string{"TRUSTDECK_NOTARY_USERNAME": "svc"}, "--notary-url"},
		{"poll interval without URL", []string{"--notary-poll-interval", "1m"}, nil, "--notary-url"},
		{"client cert without key", []string{"--notary-url", u, "--notary-client-cert", "c.pem"}, nil, "--notary-client-key"},
		{"username without password", []string{"--notary-url", u, "--notary-username", "svc"}, nil, "--notary-password"},
		{"password without username", []string{"--notary-url", u},
			map[string]string{"TRUSTDECK_NOTARY_PASSWORD": "pw"}, "--notary-username"},
		{"tiny poll interval", []string{"--notary-url", u, "--notary-poll-interval", "1ms"}, nil, "--notary-poll-interval"},
		{"negative timeout", []string{"--notary-url", u, "--notary-timeout", "-1s"}, nil, "--notary-timeout"},
		{"embedded-only flag", []string{"--notary-url", u, "--create-on-push"}, nil, "--create-on-push"},
		{"bad poll interval", nil, map[string]string{"TRUSTDECK_NOTARY_POLL_INTERVAL": "often"}, "TRUSTDECK_NOTARY_POLL_INTERVAL"},
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

func TestHelpNamesNotaryFlags(t *testing.T) {
	var out strings.Builder
	config.ParseServe([]string{"--help"}, envOf(map[string]string{"TRUSTDECK_NOTARY_PASSWORD": "hunter2-secret"}), &out)
	if strings.Contains(out.String(), "hunter2-secret") {
		t.Errorf("--help prints the password from the environment:\n%s", out.String())
	}
	for _, want := range []string{"-notary-url", "TRUSTDECK_NOTARY_URL", "-notary-ca", "-notary-client-cert",
		"-notary-client-key", "-notary-username", "TRUSTDECK_NOTARY_PASSWORD", "-notary-poll-interval", "external Notary server"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
