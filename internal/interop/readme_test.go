package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testpg"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// readmeBlock is one shell block of the README's walkthrough.
type readmeBlock struct {
	line     int // where its fence opens
	settings bool
	text     string
}

// readmeWalkthrough extracts, in order, the ```sh blocks that follow a
// `<!-- walkthrough -->` (or `<!-- walkthrough: settings -->`) line.
func readmeWalkthrough(t *testing.T, readme []byte) []readmeBlock {
	t.Helper()
	var (
		blocks  []readmeBlock
		marker  string // the marker waiting for its fence
		cur     *readmeBlock
		content strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			cur.text = content.String()
			blocks = append(blocks, *cur)
			cur, marker = nil, ""
			content.Reset()
		case cur != nil:
			content.WriteString(line + "\n")
		case strings.HasPrefix(line, "<!-- walkthrough"):
			marker = line
		case marker != "" && line == "```sh":
			cur = &readmeBlock{line: n, settings: strings.Contains(marker, "settings")}
		case marker != "" && strings.TrimSpace(line) != "":
			t.Fatalf("README.md:%d: %q must be followed by a ```sh block, found %q", n, marker, line)
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: the walkthrough block is not closed", cur.line)
	}
	return blocks
}

// TestREADMEWalkthrough runs the README's walkthrough as written: the
// blocks marked `walkthrough`, in one bash (`set -euo pipefail -x`), in a
// folder laid out like a checkout after `make run` (bin/trustdeck, data/),
// against the built trustdeck serving from that folder as `make run` does.
// Only the settings block's address and admin password are this server's.
func TestREADMEWalkthrough(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeWalkthrough(t, readme)
	if len(blocks) < 5 || !blocks[0].settings {
		t.Fatalf("README.md: want a settings block and the walkthrough blocks, found %d blocks", len(blocks))
	}

	// The checkout: bin/trustdeck, and trustdeck serving from here (data in ./data).
	work := t.TempDir()
	home := filepath.Join(work, "home")
	if err := os.MkdirAll(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(vfBinary(t), filepath.Join(work, "bin", "trustdeck")); err != nil {
		t.Fatal(err)
	}
	addr := testserver.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	const adminPassword = "walkthrough-admin-pass-71"
	// As make run: `bin/trustdeck serve` with its data in the checkout's
	// ./data (and the store on PostgreSQL on that pass of make test).
	p := testserver.StartProcess(t, filepath.Join(work, "bin", "trustdeck"),
		append([]string{"--addr", addr, "--data", filepath.Join(work, "data")}, testpg.ServeArgs(t)...),
		[]string{"HOME=" + home, "PATH=/usr/bin:/bin", "TRUSTDECK_ADMIN_PASSWORD=" + adminPassword})
	s := p.Server()

	// The settings block, with this server's address and password.
	td := "localhost:" + port
	set := map[string]string{"TD": td, "ADMIN_PASSWORD": "'" + adminPassword + "'"}
	var script strings.Builder
	script.WriteString("set -euo pipefail -x\ncd " + shellQuote(work) + "\n")
	for _, b := range blocks {
		text := b.text
		if b.settings {
			for name, value := range set {
				re := regexp.MustCompile(`(?m)^` + name + `=.*$`)
				if !re.MatchString(text) {
					t.Fatalf("README.md:%d: the settings block sets no %s", b.line, name)
				}
				text = re.ReplaceAllString(text, name+"="+value)
			}
		}
		fmt.Fprintf(&script, "# README.md:%d\n%s", b.line, text)
	}

	runCtx, runCancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer runCancel()
	cmd := exec.CommandContext(runCtx, "bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = []string{
		"HOME=" + home,
		"PATH=" + binDir + ":/usr/local/bin:/usr/bin:/bin",
		// No daemon here: docker login authenticates client-side.
		"DOCKER_HOST=unix:///nonexistent/trustdeck-interop/docker.sock",
		"DOCKER_CLI_HINTS=false",
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	output := out.String()
	if err != nil {
		t.Fatalf("the README walkthrough failed (%v):\n%s", err, output)
	}

	// What the walkthrough did, checked against the server and the outputs.
	gun := td + "/prod/nginx"
	manifest, err := os.ReadFile(filepath.Join(work, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(manifest)
	for _, want := range []string{
		"Successfully added signer: jeff to " + gun,
		"Signatures for " + gun + ":1",
		hex.EncodeToString(sum[:]),
		gun + ": valid; root key ",
		"Successfully deleted local and remote trust data for repository " + gun,
	} {
		if !strings.Contains(output, want) {
			t.Errorf("the walkthrough's output lacks %q:\n%s", want, output)
		}
	}
	signed := regexp.MustCompile(`(?m)^1\s+` + hex.EncodeToString(sum[:]) + `\s+jeff\s*$`)
	if !signed.MatchString(output) {
		t.Errorf("docker trust inspect --pretty should list tag 1 with the manifest's digest signed by jeff:\n%s", output)
	}
	resp, body := s.API(t, "admin", adminPassword, http.MethodGet, "/api/v1/repositories/prod/nginx", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("after the walkthrough the repository should be gone: %d %s", resp.StatusCode, body)
	}
	resp, body = s.API(t, "jeff", "jeff-signs-4-prod", http.MethodGet, "/api/v1/repositories", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("jeff, made by the walkthrough, should sign in: %d %s", resp.StatusCode, body)
	}
}

// shellQuote quotes s for bash.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
