package notaryclient

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// MayHaveReached reports whether a change sent to a Notary server whose
// round trip failed with err (no answer of the server: err is the round
// tripper's error, or notary's storage.NetworkError wrapping it) may still
// have been received and applied: a timeout or a connection closed after
// the request went out, or a gateway's 502/504 (GatewayError). It is false
// only when the failure shows the request never reached the server: the
// connection could not be made (refused, unreachable, the host name does
// not resolve) or TLS did not come up (certificate, handshake, not TLS).
func MayHaveReached(err error) bool {
	if err == nil {
		return false
	}
	err = unwrapNetwork(err)
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial",
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		notConnected(err) != "":
		return false
	}
	return true
}

// GatewayError is a 502 or 504 answer to a change (POST or DELETE under
// /_trust/tuf/): a proxy in front of the Notary server says it got no proper
// answer from it, so the server may or may not have applied the change. The
// Transport returns it as an error (see MayHaveReached), never as a reply.
type GatewayError struct {
	Status int
}

func (e *GatewayError) Error() string {
	return fmt.Sprintf("a gateway in front of the Notary server answered %d %s", e.Status, http.StatusText(e.Status))
}

// isChange reports whether req changes trust data: an update, a deletion
// or a key rotation.
func isChange(req *http.Request) bool {
	return (req.Method == http.MethodPost || req.Method == http.MethodDelete) && strings.Contains(req.URL.Path, "/_trust/tuf/")
}

// OutcomeUnknown is the domain error of a change of gun that was sent but
// not answered (err, for which MayHaveReached holds): errs.OutcomeUnknown
// "outcome_unknown". The change may have been applied; the pages then show
// the current state.
func OutcomeUnknown(gun string, err error) error {
	why := Explain(err)
	var gw *GatewayError
	switch {
	case why != "":
	case errors.As(unwrapNetwork(err), &gw):
		why = gw.Error()
	default:
		why = "the connection ended before its answer"
	}
	return &errs.Error{Kind: errs.OutcomeUnknown, Code: "outcome_unknown", Err: err,
		Message: fmt.Sprintf("The trust server did not answer the change to %s (%s): the server may have applied this change; reload to see. If it was not applied, try again.", gun, why)}
}
