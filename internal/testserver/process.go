package testserver

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/tlsutil"
)

// Process is `trustdeck serve` run from the built binary in a process of
// its own, which a test can kill (replicas, restarts half-way).
type Process struct {
	t       testing.TB
	Bin     string
	Args    []string // after "serve"; --addr and --data are required
	Env     []string
	LogFile string
	cmd     *exec.Cmd
	exited  chan error
}

// StartProcess runs bin serve args with env (its output in a log file),
// waits until it answers /healthz and stops it at cleanup (logging its
// output when the test failed).
func StartProcess(t testing.TB, bin string, args, env []string) *Process {
	t.Helper()
	p := &Process{t: t, Bin: bin, Args: args, Env: env, LogFile: filepath.Join(t.TempDir(), "trustdeck.log")}
	p.Start()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("trustdeck %s log:\n%s", p.Arg("--addr"), p.Log())
		}
	})
	return p
}

// Start runs the binary (again) and waits until it answers /healthz over
// TLS.
func (p *Process) Start() {
	p.t.Helper()
	log, err := os.OpenFile(p.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.Bin, append([]string{"serve"}, p.Args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.Env, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); log.Close() }()
	p.cmd, p.exited = cmd, exited
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-exited:
			p.cmd = nil
			p.t.Fatalf("trustdeck exited at start: %v\n%s", err, p.Log())
		default:
		}
		if _, err := os.Stat(p.CAFile()); err == nil {
			if resp, err := p.Server().Client().Get("https://" + p.Arg("--addr") + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("trustdeck did not answer on %s within 60s:\n%s", p.Arg("--addr"), p.Log())
		}
	}
}

// Arg is the value of a flag given to serve ("" when absent).
func (p *Process) Arg(flag string) string { return argValue(p.Args, flag) }

// argValue is the value following flag in args ("" when absent).
func argValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// CAFile is the generated CA under --data.
func (p *Process) CAFile() string {
	return filepath.Join(p.Arg("--data"), "tls", tlsutil.CACertFile)
}

// Server is a Server driving the process (Attach).
func (p *Process) Server() *Server {
	return Attach(p.t, p.Arg("--addr"), p.CAFile(), p.Arg("--data"))
}

// Running reports whether the process runs.
func (p *Process) Running() bool { return p.cmd != nil }

// Kill ends the process with SIGKILL: no shutdown, nothing flushed.
func (p *Process) Kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	if err := <-p.exited; err == nil || !strings.Contains(err.Error(), "killed") {
		p.t.Fatalf("trustdeck after SIGKILL: %v", err)
	}
	p.cmd = nil
}

// Stop ends the process gracefully (SIGTERM, then SIGKILL after 30 s).
func (p *Process) Stop() {
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

// Log is the end of the process's output.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogFile)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// FullLog is all of the process's output.
func (p *Process) FullLog() string {
	b, _ := os.ReadFile(p.LogFile)
	return string(b)
}

// FreeAddr is a free loopback address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
