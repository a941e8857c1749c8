package app

import (
	"bytes"
	"context"
	"path/filepath"
	"time"

	"github.com/trustdeck/trustdeck/internal/tlsutil"
)

// tlsReloadInterval is how often a running server looks at its certificate
// again: the generated one lives a year and is reissued within 30 days of
// its expiry, and a certificate given with --tls-cert may be replaced on
// disk (by an ACME client, say). Neither needs a restart.
const tlsReloadInterval = 12 * time.Hour

// renewTLSEvery returns the background job that calls reloadTLS every d.
func (a *App) renewTLSEvery(d time.Duration) func(context.Context) {
	return func(ctx context.Context) {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.reloadTLS()
			}
		}
	}
}

// reloadTLS reissues the generated server certificate when it is due (or
// was removed), reads the certificate files again and serves what they hold
// from the next handshake on. On any error the current certificate stays.
func (a *App) reloadTLS() {
	if a.Config.TLSCert == "" {
		if _, err := tlsutil.Ensure(filepath.Join(a.Config.DataDir, "tls"), []string{a.Config.PublicHostname()}); err != nil {
			a.Log.Error("could not reissue the server certificate; the current one is kept", "err", err)
			return
		}
	}
	cert, err := tlsutil.Load(a.certFile, a.keyFile)
	if err != nil {
		a.Log.Error("could not read the server certificate again; the current one is kept", "err", err)
		return
	}
	if cur := a.cert.Load(); cur != nil && len(cur.Certificate) > 0 && len(cert.Certificate) > 0 &&
		bytes.Equal(cur.Certificate[0], cert.Certificate[0]) {
		return
	}
	a.cert.Store(&cert)
	a.Log.Info("serving a new server certificate", "file", a.certFile, "not_after", cert.Leaf.NotAfter)
}
