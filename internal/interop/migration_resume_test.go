package interop

// A migration run of 300 tags, with trustdeck as a separate process (the
// built binary) killed with SIGKILL half-way, restarted and the run started
// again: every planned tag ends signed exactly once in each format, counted
// in the registry.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/app"
	"github.com/trustdeck/trustdeck/internal/migration"
	"github.com/trustdeck/trustdeck/internal/testpg"
	"github.com/trustdeck/trustdeck/internal/testregistry"
	"github.com/trustdeck/trustdeck/internal/testserver"
	"github.com/trustdeck/trustdeck/internal/tlsutil"
)

// mgProcess is `trustdeck serve` run from the built binary.
type mgProcess struct {
	t       *testing.T
	bin     string
	args    []string
	env     []string
	logFile string
	cmd     *exec.Cmd
	exited  chan error
}

// start runs the binary and waits until it answers /healthz over TLS.
func (p *mgProcess) start() {
	p.t.Helper()
	log, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, append([]string{"serve"}, p.args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); log.Close() }()
	p.cmd, p.exited = cmd, exited
	addr, dir := p.arg("--addr"), p.arg("--data")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-exited:
			p.t.Fatalf("trustdeck exited at start: %v\n%s", err, p.log())
		default:
		}
		if _, err := os.Stat(filepath.Join(dir, "tls", tlsutil.CACertFile)); err == nil {
			s := testserver.Attach(p.t, addr, filepath.Join(dir, "tls", tlsutil.CACertFile), dir)
			if resp, err := s.Client().Get(s.URL + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("trustdeck did not answer on %s within 60s:\n%s", addr, p.log())
		}
	}
}

func (p *mgProcess) arg(flag string) string {
	for i, a := range p.args {
		if a == flag && i+1 < len(p.args) {
			return p.args[i+1]
		}
	}
	return ""
}

// kill ends the process with SIGKILL: no shutdown, nothing flushed.
func (p *mgProcess) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	if err := <-p.exited; err == nil || !strings.Contains(err.Error(), "killed") {
		p.t.Fatalf("trustdeck after SIGKILL: %v", err)
	}
	p.cmd = nil
}

// stop ends the process gracefully (test cleanup).
func (p *mgProcess) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

func (p *mgProcess) log() string {
	b, _ := os.ReadFile(p.logFile)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// mgFreeAddr is a free loopback address.
func mgFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// mgManifests makes n distinct manifests from base (differing by an
// annotation: the same blobs) and points tag prefix<i> at each.
func mgManifests(t testing.TB, c *testregistry.Client, repo string, base testregistry.Manifest, n int, prefix string) []testregistry.Manifest {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(base.Raw, &m); err != nil {
		t.Fatal(err)
	}
	out := make([]testregistry.Manifest, n)
	for i := range n {
		m["annotations"] = map[string]string{"io.trustdeck.test.n": strconv.Itoa(i)}
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = testregistry.Manifest{Digest: "sha256:" + sha256Hex(raw), MediaType: base.MediaType, Raw: raw}
		c.Tag(t, repo, out[i], fmt.Sprintf("%s%03d", prefix, i))
	}
	return out
}

func TestMigrationResumesAfterKill(t *testing.T) {
	const tags = 300
	bin := vfBinary(t)
	r := testregistry.New(t)
	dir, addr := t.TempDir(), mgFreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	p := &mgProcess{t: t, bin: bin, logFile: filepath.Join(t.TempDir(), "trustdeck.log"),
		args: append([]string{"--addr", addr, "--data", dir, "--public-host", addr, "--registry-host", r.Addr,
			"--registry-url", r.URL, "--registry-ca", r.CAFile, "--registry-username", admin.name}, testpg.ServeArgs(t)...),
		env: []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "TRUSTDECK_ADMIN_PASSWORD=" + admin.pass,
			"TRUSTDECK_REGISTRY_PASSWORD=" + admin.pass}}
	p.start()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("trustdeck log:\n%s", p.log())
		}
	})
	caFile := filepath.Join(dir, "tls", tlsutil.CACertFile)
	s := testserver.Attach(t, addr, caFile, dir)
	r.Start(testregistry.Options{Realm: "https://localhost:" + port + "/auth/token",
		RootCertBundle: filepath.Join(dir, app.TokenCertFile), TrustCAFile: caFile})

	// 300 distinct images signed in DCT with the real notary CLI.
	s.MustCreateRepo(t, "prod", "many")
	admins := r.Client(admin.name, admin.pass)
	base := admins.PushImage(t, "prod/many", "base")
	start := time.Now()
	images := mgManifests(t, admins, "prod/many", base, tags, "t")
	t.Logf("pushed %d images in %s", tags, time.Since(start).Round(time.Millisecond))
	w := &world{t: t, s: s, dir: t.TempDir(), host: addr}
	laptop := w.newMachine("laptop")
	gun := r.Addr + "/prod/many"
	laptop.mustNotary(admin, "init", gun, "--publish")
	start = time.Now()
	for i, m := range images {
		tag := fmt.Sprintf("t%03d", i)
		laptop.mustNotary(admin, "add", gun, tag, w.writeFile("m/"+tag, m.Raw))
	}
	laptop.mustNotary(admin, "publish", gun)
	t.Logf("signed %d tags in DCT in %s", tags, time.Since(start).Round(time.Millisecond))
	mgGenerateKeys(t, s, "prod")
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if plan := mgGetPlan(t, s, admin, "prod/many"); plan.Counts.Sign == tags {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("plan of prod/many: %+v", plan.Counts)
		}
	}

	// Started, then killed half-way.
	status, run, body := mgStart(t, s, mgPassphrase, "prod/many")
	if status != http.StatusAccepted || run.Total != 2*tags {
		t.Fatalf("start: %d %s", status, body)
	}
	start = time.Now()
	for {
		run = mgRun(t, s, run.ID)
		if run.Pending <= tags {
			break
		}
		if run.State != migration.StateRunning || time.Since(start) > 5*time.Minute {
			t.Fatalf("before the kill: %+v", run)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.kill()
	t.Logf("killed after %s", time.Since(start).Round(time.Millisecond))

	// Restarted: the run is interrupted, nothing lost; started again, it
	// goes on from where it was.
	p.start()
	before := mgRun(t, s, run.ID)
	if before.State != migration.StateInterrupted || before.Pending == 0 || before.Pending == 2*tags || before.Failed != 0 {
		t.Fatalf("after the restart: %+v", before)
	}
	t.Logf("after the restart: %d signed, %d pending", before.Signed, before.Pending)
	status, resumed, body := mgStart(t, s, mgPassphrase, "prod/many")
	if status != http.StatusAccepted || resumed.ID != run.ID || !strings.Contains(body, `"resumed":true`) {
		t.Fatalf("start again: %d %s", status, body)
	}
	done := mgWait(t, s, run.ID, 5*time.Minute)
	already := 0
	for _, it := range done.Items {
		if it.Reason == migration.ReasonAlreadySigned {
			already++
		}
	}
	// A signature pushed before the kill but not yet recorded is found,
	// recorded signed and audited then: none is "already signed".
	if done.State != migration.StateDone || done.Failed != 0 || done.Signed != 2*tags || already != 0 {
		t.Fatalf("after starting again: %+v (%d already signed)", done, already)
	}
	restart, audits := 0, mgSignAudits(t, s, "prod/many")
	if len(audits) != 2*tags {
		t.Errorf("%d signatures audited, want %d", len(audits), 2*tags)
	}
	for key, n := range audits {
		if n.count != 1 {
			t.Errorf("%s audited %d times, want once", key, n.count)
		}
		if n.afterRestart {
			restart++
		}
	}
	t.Logf("done: %d signed, %d of them found after the restart (pushed before the kill)", done.Signed, restart)

	// Every tag signed exactly once per format, as the registry holds it.
	reg := mgAccess(r)
	for i, m := range images {
		if c, n := reg.count(t, "prod/many", m.Digest); c != 1 || n != 1 {
			t.Errorf("t%03d: %d cosign and %d Notation signatures, want one each", i, c, n)
		}
	}
}

type mgAudited struct {
	count        int
	afterRestart bool
}

// mgSignAudits counts the migration.sign events of repo by format and tag
// ("cosign signature of tag t001"), every page of the audit.
func mgSignAudits(t *testing.T, s *testserver.Server, repo string) map[string]*mgAudited {
	t.Helper()
	out := map[string]*mgAudited{}
	before := ""
	for {
		resp, body := s.API(t, admin.name, admin.pass, http.MethodGet,
			"/api/v1/audit?action=migration.sign&repository="+repo+before, nil)
		var page struct{ Events []auditEvent }
		if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("audit: %d %s", resp.StatusCode, body)
		}
		if len(page.Events) == 0 {
			return out
		}
		for _, e := range page.Events {
			key, _, _ := strings.Cut(e.Detail, " (")
			if out[key] == nil {
				out[key] = &mgAudited{}
			}
			out[key].count++
			out[key].afterRestart = out[key].afterRestart || strings.Contains(e.Detail, "found after restart")
		}
		before = fmt.Sprintf("&before=%d", page.Events[len(page.Events)-1].ID)
	}
}
