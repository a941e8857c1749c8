// Package testclis gives tests the real, unchanged signature CLIs — cosign
// v2 and notation v1, built once into a cache by scripts/tools.sh — set up
// the way a namespace's consumers set them up from trustdeck's verification
// exports: cosign.pub, a Notation trust store and trust policy. Tests of
// internal/resign (the formats) and of the migration (internal/interop)
// verify with them.
package testclis

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv, when "1" (CI sets it), turns a CLI that cannot be built from
// a skip into a failure.
const RequireEnv = "TRUSTDECK_REQUIRE_TOOLS"

// Timeout bounds every CLI command.
const Timeout = 2 * time.Minute

var (
	mu    sync.Mutex
	paths = map[string]string{}
)

// Tool returns the path of a signature CLI ("cosign", "notation") built
// once by scripts/tools.sh into its cache. A test skips, loudly, only when
// the tool cannot be built here at all; RequireEnv=1 makes that a failure.
func Tool(t testing.TB, name string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := paths[name]; ok {
		return p
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "tools.sh"), name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := "cannot build " + name + " with scripts/tools.sh: " + err.Error() + "\n" + stderr.String()
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED, REAL CLI MISSING: " + msg)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	p := lines[len(lines)-1]
	paths[name] = p
	return p
}

// moduleRoot is the directory holding go.mod, from the test's working
// directory (its package's) upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testclis: no go.mod above the working directory")
		}
		dir = parent
	}
}

// NoOutside keeps the CLIs on this machine: cosign looks for Sigstore's TUF
// repository even when told to skip the transparency log (and carries on
// without it). Through an unreachable loopback proxy that attempt fails at
// once, without a DNS lookup; Go never proxies loopback addresses, so a
// test registry on 127.0.0.1 is reached directly.
var NoOutside = []string{"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=", "no_proxy=",
	"https_proxy=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9"}

// Run runs bin with args and env added to the test's environment, and
// returns its combined output.
func Run(t testing.TB, env []string, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Exports are a namespace's verification material as trustdeck exports it.
type Exports struct {
	// CosignPub is cosign.pub (PEM public keys).
	CosignPub []byte
	// TrustStore is notation-truststore.pem (the CA certificates), added
	// to the store named StoreName; TrustPolicy is trustpolicy.json.
	TrustStore  []byte
	StoreName   string
	TrustPolicy []byte
	// RegistryCA is the PEM file of the CAs the registry's TLS certificate
	// (and its token realm's) chain to: SSL_CERT_FILE of both CLIs.
	RegistryCA string
	// DockerConfig, when set, is a directory holding the config.json with
	// the registry credentials both CLIs pull with (DOCKER_CONFIG).
	DockerConfig string
}

// Verifiers are the real cosign and notation CLIs configured from Exports,
// each with a HOME of its own.
type Verifiers struct {
	Cosign, Notation string
	CosignPubFile    string
	CosignEnv        []string // HOME, TUF_ROOT, SSL_CERT_FILE, no proxy
	NotationEnv      []string // HOME, XDG_CONFIG_HOME (trust store and policy), SSL_CERT_FILE
}

// NewVerifiers builds (or finds) the CLIs, writes the exports to files
// and imports the trust store and policy into notation's configuration.
func NewVerifiers(t testing.TB, e Exports) *Verifiers {
	t.Helper()
	v := &Verifiers{Cosign: Tool(t, "cosign"), Notation: Tool(t, "notation")}
	dir := t.TempDir()
	v.CosignPubFile = filepath.Join(dir, "cosign.pub")
	writeFile(t, v.CosignPubFile, e.CosignPub)
	v.CosignEnv = append([]string{"HOME=" + filepath.Join(dir, "cosign-home"), "TUF_ROOT=" + filepath.Join(dir, "tuf"),
		"SSL_CERT_FILE=" + e.RegistryCA}, NoOutside...)
	var auth []string
	if e.DockerConfig != "" {
		auth = []string{"DOCKER_CONFIG=" + e.DockerConfig}
	}
	v.CosignEnv = append(v.CosignEnv, auth...)

	store := filepath.Join(dir, "notation-truststore.pem")
	writeFile(t, store, e.TrustStore)
	policy := filepath.Join(dir, "trustpolicy.json")
	writeFile(t, policy, e.TrustPolicy)
	v.NotationEnv = append([]string{"HOME=" + filepath.Join(dir, "notation-home"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "notation-config"), "SSL_CERT_FILE=" + e.RegistryCA}, NoOutside...)
	v.NotationEnv = append(v.NotationEnv, auth...)
	if out, err := Run(t, v.NotationEnv, v.Notation, "cert", "add", "--type", "ca", "--store", e.StoreName, store); err != nil {
		t.Fatalf("notation cert add: %v\n%s", err, out)
	}
	if out, err := Run(t, v.NotationEnv, v.Notation, "policy", "import", "--force", policy); err != nil {
		t.Fatalf("notation policy import: %v\n%s\n%s", err, out, e.TrustPolicy)
	}
	return v
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// CosignVerify runs `cosign verify --key cosign.pub --insecure-ignore-tlog=true
// [extra…] ref`, offline.
func (v *Verifiers) CosignVerify(t testing.TB, ref string, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{"verify", "--key", v.CosignPubFile, "--insecure-ignore-tlog=true"}, extra...)
	return Run(t, v.CosignEnv, v.Cosign, append(args, ref)...)
}

// NotationVerify runs `notation verify [extra…] ref` with the imported trust
// store and policy.
func (v *Verifiers) NotationVerify(t testing.TB, ref string, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{"verify"}, extra...)
	return Run(t, v.NotationEnv, v.Notation, append(args, ref)...)
}

// WantBoth fails the test unless both CLIs accept ref (ok) or both refuse
// it (!ok).
func (v *Verifiers) WantBoth(t testing.TB, ref string, ok bool) {
	t.Helper()
	out, err := v.CosignVerify(t, ref)
	if (err == nil) != ok {
		t.Errorf("cosign verify %s: err=%v, want success=%v\n%s", ref, err, ok, out)
	}
	t.Logf("cosign verify %s: %v\n%s", ref, err, out)
	out, err = v.NotationVerify(t, ref)
	if (err == nil) != ok {
		t.Errorf("notation verify %s: err=%v, want success=%v\n%s", ref, err, ok, out)
	}
	t.Logf("notation verify %s: %v\n%s", ref, err, out)
}
