package trust

import (
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/errs"
)

func TestParseRef(t *testing.T) {
	hex64 := strings.Repeat("a", 64)
	tests := []struct {
		ref, gun, tag, err string
	}{
		{ref: "registry.example.com:5000/ns/app:v1", gun: "registry.example.com:5000/ns/app", tag: "v1"},
		{ref: "registry.example.com:5000/ns/app", gun: "registry.example.com:5000/ns/app"},
		{ref: "localhost:5000/app:latest", gun: "localhost:5000/app", tag: "latest"},
		{ref: "localhost/app:1.0", gun: "localhost/app", tag: "1.0"},
		{ref: "host:443/a/b/c:tag_1.2-x", gun: "host:443/a/b/c", tag: "tag_1.2-x"},
		{ref: "reg.test/ns/app", gun: "reg.test/ns/app"},
		{ref: "alpine", gun: "docker.io/library/alpine"},
		{ref: "alpine:3.20", gun: "docker.io/library/alpine", tag: "3.20"},
		{ref: "user/app:v2", gun: "docker.io/user/app", tag: "v2"},
		{ref: "docker.io/alpine", gun: "docker.io/library/alpine"},
		{ref: "index.docker.io/user/app", gun: "docker.io/user/app"},
		{ref: "Registry.Example.com/ns/app:V1", gun: "Registry.Example.com/ns/app", tag: "V1"},
		{ref: "[::1]:5000/app:v1", gun: "[::1]:5000/app", tag: "v1"},
		{ref: "reg.test/ns/app@sha256:" + hex64, gun: "reg.test/ns/app"},
		{ref: "reg.test/ns/app:v1@sha256:" + hex64, gun: "reg.test/ns/app"},
		{ref: "reg.test/a__b/c.d/e--f:x", gun: "reg.test/a__b/c.d/e--f", tag: "x"},

		{ref: "", err: "invalid reference format"},
		{ref: hex64, err: "invalid repository name (" + hex64 + "), cannot specify 64-byte hexadecimal strings"},
		{ref: "reg.test/NS/app", err: "invalid reference format: repository name (NS/app) must be lowercase"},
		{ref: "App", err: "invalid reference format: repository name (library/App) must be lowercase"},
		{ref: "reg.test/ns/app:", err: "invalid reference format"},
		{ref: "reg.test/ns/app:-x", err: "invalid reference format"},
		{ref: "reg.test/ns/app:" + strings.Repeat("t", 129), err: "invalid reference format"},
		{ref: "reg.test/ns//app", err: "invalid reference format"},
		{ref: "reg.test/ns/app/", err: "invalid reference format"},
		{ref: "reg.test/ns/-app", err: "invalid reference format"},
		{ref: "reg.test/ns/app:v1:v2", err: "invalid reference format"},
		{ref: "reg.test:port/app", err: "invalid reference format"},
		{ref: "reg.test/ns/a b", err: "invalid reference format"},
		{ref: "reg.test/ns/app\n", err: "invalid reference format"},
		{ref: "reg.test/" + strings.Repeat("a", 256), err: "repository name must not be more than 255 characters"},
		{ref: "reg.test/ns/app@sha256:abc", err: "invalid reference format"},
		{ref: "reg.test/ns/app@md5:" + strings.Repeat("a", 32), err: "unsupported digest algorithm"},
		{ref: "reg.test/ns/app@sha256:" + strings.Repeat("a", 63) + "ab", err: "invalid checksum digest length"},
		{ref: "reg.test/ns/app@sha256:" + strings.Repeat("A", 64), err: "invalid checksum digest format"},
	}
	for _, tt := range tests {
		gun, tag, err := ParseRef(tt.ref)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseRef(%q): err %v, want %q", tt.ref, err, tt.err)
			} else if errs.KindOf(err) != errs.Invalid {
				t.Errorf("ParseRef(%q): kind %v, want Invalid", tt.ref, errs.KindOf(err))
			}
			continue
		}
		if err != nil || gun != tt.gun || tag != tt.tag {
			t.Errorf("ParseRef(%q) = %q, %q, %v; want %q, %q", tt.ref, gun, tag, err, tt.gun, tt.tag)
		}
	}
}
