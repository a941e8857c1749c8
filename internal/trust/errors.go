package trust

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/theupdateframework/notary/client"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/signed"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/notaryclient"
)

// Sentinels of Load's errors; test with errors.Is. Every error Load returns
// is also an *errs.Error whose Kind the HTTP layer maps to a status:
//
//	ErrNoTrustData  errs.NotFound     the GUN has no trust data (never published, or deleted)
//	ErrUnreachable  errs.Unavailable  the trust server did not answer (network, 5xx, context)
//	ErrUnauthorized errs.Unavailable  the trust server answered 401 or 403
//	ErrVerification errs.Unavailable  the trust data failed verification (signatures, expiry, versions, root)
//	ErrExpired      errs.Unavailable  (also ErrVerification) a role's metadata has expired; LoadAllowingExpiry may still read it
var (
	ErrNoTrustData  = errors.New("no trust data")
	ErrUnreachable  = errors.New("trust server unreachable")
	ErrUnauthorized = errors.New("trust server refused access")
	ErrVerification = errors.New("trust data failed verification")
	ErrExpired      = errors.New("trust data expired")
)

// classify turns an error of notary's client (or of the remote store) into
// one of trustdeck's typed errors. ctxErr is the context's error, if the load
// was cancelled.
func classify(gun string, err, ctxErr error) error {
	if ctxErr != nil {
		return &errs.Error{
			Kind:    errs.Unavailable,
			Code:    "trust_server_unavailable",
			Message: fmt.Sprintf("Reading the trust data of %s was cancelled.", gun),
			Err:     fmt.Errorf("%w: %w", ErrUnreachable, ctxErr),
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return classify(gun, err, err)
	}
	switch e := err.(type) {
	case client.ErrRepositoryNotExist, client.ErrRepoNotInitialized, store.ErrMetaNotFound:
		return noTrustData(gun, err)
	case store.NetworkError, store.ErrOffline:
		return unreachable(gun, err)
	case store.ErrServerUnavailable:
		if code := statusOf(e); code == 401 || code == 403 {
			// Only an external server asks for credentials: trustdeck's own
			// account (--notary-username) was refused, or lacks access.
			msg := fmt.Sprintf("The trust server refused to serve the trust data of %s (HTTP 403 Forbidden): "+
				"trustdeck's Notary account has no access to it.", gun)
			if code == 401 {
				msg = fmt.Sprintf("The trust server refused to serve the trust data of %s (HTTP 401 Unauthorized): "+
					"it did not accept trustdeck's credentials. Check trustdeck's Notary account "+
					"(--notary-username, --notary-password) and its access to this repository.", gun)
			}
			return &errs.Error{
				Kind:    errs.Unavailable,
				Code:    "trust_server_refused",
				Message: msg,
				Err:     fmt.Errorf("%w: %w", ErrUnauthorized, err),
			}
		}
		if code := statusOf(e); code >= 500 {
			// It answered, so it was reached: say it failed.
			return &errs.Error{
				Kind:    errs.Unavailable,
				Code:    "trust_server_unavailable",
				Message: fmt.Sprintf("The trust server failed to serve the trust data of %s (HTTP %d); its log says why.", gun, code),
				Err:     fmt.Errorf("%w: %w", ErrUnreachable, err),
			}
		}
		return unreachable(gun, err)
	case store.ErrInvalidOperation:
		// A 400 answer to a GET: the server does not accept the GUN or file name.
		return unreachable(gun, err)
	}
	var expired signed.ErrExpired
	if errors.As(err, &expired) {
		return &errs.Error{
			Kind: errs.Unavailable,
			Code: "trust_data_expired",
			Message: fmt.Sprintf("The trust data of %s has expired: its %s metadata expired on %s. "+
				"Docker clients with content trust refuse it until it is signed again with the %s keys.",
				gun, expired.Role, expired.Expired, expired.Role),
			Err: fmt.Errorf("%w: %w: %w", ErrVerification, ErrExpired, err),
		}
	}
	return &errs.Error{
		Kind:    errs.Unavailable,
		Code:    "trust_data_invalid",
		Message: fmt.Sprintf("The trust data of %s failed verification: %v", gun, err),
		Err:     fmt.Errorf("%w: %w", ErrVerification, err),
	}
}

func noTrustData(gun string, cause error) error {
	return &errs.Error{
		Kind:    errs.NotFound,
		Code:    "no_trust_data",
		Message: fmt.Sprintf("There is no trust data for %s.", gun),
		Err:     fmt.Errorf("%w: %w", ErrNoTrustData, cause),
	}
}

func unreachable(gun string, cause error) error {
	return &errs.Error{
		Kind:    errs.Unavailable,
		Code:    "trust_server_unavailable",
		Message: unreachableMessage(gun, cause),
		Err:     fmt.Errorf("%w: %w", ErrUnreachable, cause),
	}
}

// isVerification reports whether a classified error is a verification error.
func isVerification(err error) bool { return errors.Is(err, ErrVerification) }

// statusOf reads the HTTP status that notary keeps in an unexported field of
// ErrServerUnavailable (reading, not setting, an unexported field is allowed).
func statusOf(e store.ErrServerUnavailable) int {
	f := reflect.ValueOf(e).FieldByName("code")
	if !f.IsValid() || f.Kind() != reflect.Int {
		return 0
	}
	return int(f.Int())
}

// unreachableMessage says why the server could not be reached, where the
// cause is known (TLS, timeouts, refused connections).
func unreachableMessage(gun string, cause error) string {
	if why := notaryclient.Explain(cause); why != "" {
		return fmt.Sprintf("The trust server could not be reached to read %s: %s.", gun, why)
	}
	return fmt.Sprintf("The trust server could not be reached to read %s.", gun)
}
