// Command trustdeck is the Docker Content Trust (Notary v1) dashboard:
// web UI, JSON API, token service and embedded Notary server in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/trustdeck/trustdeck/internal/app"
	"github.com/trustdeck/trustdeck/internal/config"
	"github.com/trustdeck/trustdeck/internal/evidence"
	"github.com/trustdeck/trustdeck/internal/logbuf"
)

const usage = `trustdeck — a web dashboard and Notary v1 server for Docker Content Trust

Usage:
  trustdeck serve [flags]   start the server (see trustdeck serve --help)
  trustdeck verify [flags] ARCHIVE
                            verify a trust backup offline (see trustdeck verify --help)
  trustdeck version         print the version
  trustdeck help            show this help

Every serve flag has a TRUSTDECK_* environment equivalent; flags win.
`

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, "trustdeck", version)
		return 0
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "verify":
		return evidence.RunVerify(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "trustdeck: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func serve(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.ParseServe(args, config.Getenv, stdout)
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "trustdeck serve:", err)
		return 2
	}
	logOut := logbuf.NewWriter(stderr)
	defer logOut.Flush()
	log := newLogger(cfg, logOut)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	defer a.Close()
	if err := a.Serve(ctx, nil); err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// newLogger logs to w in batches (a line per request would otherwise be a
// system call per request); warnings and errors are written at once.
func newLogger(cfg *config.Config, w *logbuf.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(logbuf.Handler(h, w))
}
