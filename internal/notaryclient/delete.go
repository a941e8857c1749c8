package notaryclient

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// Deleter returns a function (removal.DeleteTrustFunc) that sends
// `DELETE /v2/<gun>/_trust/tuf/` through rt (trustdeck's in-process round
// tripper to its own Notary server, or a client of an external one). A
// deletion sent without an answer is errs.OutcomeUnknown (see OutcomeUnknown).
func Deleter(baseURL string, rt http.RoundTripper, withActor func(context.Context, string) context.Context) func(ctx context.Context, gun, actor string) error {
	return func(ctx context.Context, gun, actor string) error {
		if withActor != nil {
			ctx = withActor(ctx, actor)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, baseURL+"/v2/"+gun+"/_trust/tuf/", nil)
		if err != nil {
			return err
		}
		resp, err := rt.RoundTrip(req)
		if MayHaveReached(err) {
			return OutcomeUnknown(gun, err)
		}
		if err != nil {
			why := Explain(err)
			if why == "" {
				why = err.Error()
			}
			return errs.Unavailablef("notary_unreachable", "The Notary server could not be reached to delete %s: %s.", gun, why)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode >= 300 {
			return errs.Unavailablef("notary_delete_failed", "The Notary server refused to delete the trust data of %s (%d): %s",
				gun, resp.StatusCode, strings.TrimSpace(string(body)))
		}
		return nil
	}
}
