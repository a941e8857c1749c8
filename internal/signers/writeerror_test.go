package signers

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/validation"

	"github.com/trustdeck/trustdeck/internal/errs"
)

func TestWriteErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind errs.Kind
		code string
	}{
		{validation.ErrBadHierarchy{Missing: "snapshot", Msg: "no snapshot"}, errs.Conflict, "snapshot_key_on_client"},
		{validation.ErrValidation{Msg: "bad"}, errs.Conflict, "publish_rejected"},
		{storage.ErrInvalidOperation{}, errs.Conflict, "publish_rejected"},
		{storage.ErrMetaNotFound{Resource: "root"}, errs.Conflict, "no_trust_data"},
		// Sent, and the connection ended or timed out before the answer:
		// the server may have applied it.
		{storage.NetworkError{Wrapped: io.ErrUnexpectedEOF}, errs.OutcomeUnknown, "outcome_unknown"},
		{storage.NetworkError{Wrapped: context.DeadlineExceeded}, errs.OutcomeUnknown, "outcome_unknown"},
		// Never sent: the connection could not be made.
		{storage.NetworkError{Wrapped: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, errs.Unavailable, "trust_server_unavailable"},
		{storage.ErrServerUnavailable{}, errs.Unavailable, "trust_server_unavailable"},
		{errors.New("surprise"), errs.Internal, "publish_failed"},
	} {
		e, ok := errs.As(writeError("host/ns/app", "publish", tc.err))
		if !ok || e.Kind != tc.kind || e.Code != tc.code {
			t.Errorf("%T: got %+v, want kind %d code %s", tc.err, e, tc.kind, tc.code)
		}
	}
}
