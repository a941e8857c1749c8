package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// listenPprof opens --pprof-addr, which config accepts on loopback only; a
// name that resolved to anything else is refused here.
func (a *App) listenPprof() (net.Listener, error) {
	ln, err := net.Listen("tcp", a.Config.PprofAddr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("--pprof-addr %s listens on %s, which is not a loopback address", a.Config.PprofAddr, ln.Addr())
	}
	return ln, nil
}

// servePprof serves Go's profiler on ln (plain HTTP, no authentication:
// loopback only) until ctx ends.
func (a *App) servePprof(ctx context.Context, ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.Log.Warn("profiler on: net/http/pprof without authentication (--pprof-addr)",
		"url", "http://"+ln.Addr().String()+"/debug/pprof/")
	serveUntil(ctx, ln, mux)
}

// serveUntil serves h over plain HTTP on ln until ctx ends (the operator's
// side listeners: --pprof-addr, --metrics-addr).
func serveUntil(ctx context.Context, ln net.Listener, h http.Handler) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	hs.Serve(ln)
}
