package signers

import (
	"errors"
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
		{storage.NetworkError{Wrapped: errors.New("down")}, errs.Unavailable, "trust_server_unavailable"},
		{errors.New("surprise"), errs.Internal, "publish_failed"},
	} {
		e, ok := errs.As(writeError("host/ns/app", "publish", tc.err))
		if !ok || e.Kind != tc.kind || e.Code != tc.code {
			t.Errorf("%T: got %+v, want kind %d code %s", tc.err, e, tc.kind, tc.code)
		}
	}
}
