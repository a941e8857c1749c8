package views_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsCurrent fails when `go tool templ generate` would change
// the committed *_templ.go files: edit a .templ, run `go tool templ generate`
// and commit both.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("SKIPPING the templ freshness check: the go command is not on PATH (%v)", err)
	}
	out, err := exec.Command(goCmd, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside the trustdeck module")
	}
	root := filepath.Dir(gomod)

	templs, err := filepath.Glob("*.templ")
	if err != nil || len(templs) == 0 {
		t.Fatalf("no .templ files here (%v)", err)
	}
	// templ names each source by its path under -path (it appears in the
	// generated error values), so the copy mirrors the module's layout:
	// go.mod at the top (for templ's version check) and this package's
	// .templ and hand-written .go files, but none of the committed output.
	pkgDir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, pkgDir)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	dst := filepath.Join(tmp, rel)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, gomod, filepath.Join(tmp, "go.mod"))
	hand, _ := filepath.Glob("*.go")
	for _, f := range append(templs, hand...) {
		if strings.HasSuffix(f, "_templ.go") || strings.HasSuffix(f, "_test.go") {
			continue
		}
		copyFile(t, f, filepath.Join(dst, f))
	}
	cmd := exec.Command(goCmd, "tool", "templ", "generate", "-path", tmp)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool templ generate: %v\n%s", err, out)
	}

	for _, f := range templs {
		gen := strings.TrimSuffix(f, ".templ") + "_templ.go"
		want, err := os.ReadFile(filepath.Join(dst, gen))
		if err != nil {
			t.Fatalf("templ generated no %s: %v", gen, err)
		}
		got, err := os.ReadFile(gen)
		if err != nil {
			t.Errorf("%s is not committed: run `go tool templ generate`", gen)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go tool templ generate` and commit the result", gen)
		}
	}
	// A generated file without its .templ is left over from a removed component.
	gens, _ := filepath.Glob("*_templ.go")
	for _, g := range gens {
		if _, err := os.Stat(strings.TrimSuffix(g, "_templ.go") + ".templ"); err != nil {
			t.Errorf("%s has no %s: delete it", g, strings.TrimSuffix(g, "_templ.go")+".templ")
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
