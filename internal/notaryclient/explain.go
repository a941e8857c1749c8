package notaryclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"syscall"

	"github.com/theupdateframework/notary/storage"
)

// Flags name the settings that configure a server trustdeck talks to, for
// the messages that say what to check.
type Flags struct {
	// Server names the server in logs ("notary server", "registry").
	Server string
	// URL, CA, ClientCert and Timeout are flags ("" for a setting that
	// does not exist).
	URL, CA, ClientCert, ClientKey, Timeout string
}

// NotaryFlags are the external Notary server's settings.
var NotaryFlags = Flags{Server: "notary server", URL: "--notary-url", CA: "--notary-ca",
	ClientCert: "--notary-client-cert", ClientKey: "--notary-client-key", Timeout: "--notary-timeout"}

// Explain says in a few words why a request to a Notary server failed at
// the network level, with what to check: "" when err is none of the known
// causes. notary's storage.NetworkError (which does not unwrap) is looked
// into.
func Explain(err error) string { return NotaryFlags.Explain(err) }

// Explain says why a request to the server f configures failed at the
// network level (see the package function Explain).
func (f Flags) Explain(err error) string {
	_, why := f.Cause(err)
	return why
}

// Kinds of network failures (Cause).
const (
	CauseTLS         = "tls"         // TLS did not come up: certificate, handshake, not TLS
	CauseUnreachable = "unreachable" // no connection: refused, the name does not resolve
	CauseTimeout     = "timeout"     // no answer in time
)

// Cause is Explain with the kind of failure: CauseTLS, CauseUnreachable or
// CauseTimeout, and ("", "") for an error that is none of the known causes.
func (f Flags) Cause(err error) (kind, why string) {
	err = unwrapNetwork(err)
	if why := f.notConnected(err); why != "" {
		if f.isTLS(err) {
			return CauseTLS, why
		}
		return CauseUnreachable, why
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout() {
		return CauseTimeout, "it did not answer in time" + f.check(f.Timeout)
	}
	return "", ""
}

// isTLS reports whether a failure notConnected explains is TLS's.
func (f Flags) isTLS(err error) bool {
	return !errors.Is(err, syscall.ECONNREFUSED) && !errors.As(err, new(*net.DNSError))
}

// check is " (<flag>)", or "" without the flag.
func (f Flags) check(flag string) string {
	if flag == "" {
		return ""
	}
	return " (" + flag + ")"
}

// unwrapNetwork is the error notary's storage.NetworkError wraps, or err.
func unwrapNetwork(err error) error {
	var ne storage.NetworkError
	if errors.As(err, &ne) && ne.Wrapped != nil {
		return ne.Wrapped
	}
	return err
}

// notConnected explains a failure to set up the connection (TCP or TLS), so
// that no request was sent: "" for any other error.
func notConnected(err error) string { return NotaryFlags.notConnected(err) }

func (f Flags) notConnected(err error) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		recordHdr tls.RecordHeaderError
		alert     tls.AlertError
		dns       *net.DNSError
	)
	switch {
	case errors.As(err, &unknownCA):
		return "its TLS certificate is not signed by a trusted CA (check " + f.CA + ")"
	case errors.As(err, &hostname):
		return "its TLS certificate is not valid for that host name (" + hostname.Error() + ")"
	case errors.As(err, &invalid):
		return "its TLS certificate is not valid (" + invalid.Error() + ")"
	case errors.As(err, &verify):
		return "its TLS certificate was not accepted (" + verify.Err.Error() + ")"
	case errors.As(err, &alert):
		want := "does it want a client certificate?"
		if f.ClientCert != "" {
			want = "does it want a client certificate, " + f.ClientCert + "?"
		}
		return "it ended the TLS handshake (" + alert.Error() + "; " + want + ")"
	case errors.As(err, &recordHdr):
		return "it does not speak TLS on that port (is " + f.URL + " https:// the right address?)"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused (is it running?)"
	case errors.As(err, &dns):
		return "its host name does not resolve"
	}
	return ""
}
