package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/views"
)

// statusOf maps a domain error kind to its HTTP status: the one place where
// that mapping lives.
var statusOf = map[errs.Kind]int{
	errs.Invalid:         http.StatusBadRequest,
	errs.Unauthenticated: http.StatusUnauthorized,
	errs.Forbidden:       http.StatusForbidden,
	errs.NotFound:        http.StatusNotFound,
	errs.Conflict:        http.StatusConflict,
	errs.TooLarge:        http.StatusRequestEntityTooLarge,
	errs.Unprocessable:   http.StatusUnprocessableEntity,
	errs.TooMany:         http.StatusTooManyRequests,
	errs.Unavailable:     http.StatusServiceUnavailable,
	// The change was not refused: the Notary server did not answer it (as
	// a gateway says of an upstream that timed out).
	errs.OutcomeUnknown: http.StatusGatewayTimeout,
}

// apiError is the JSON error body of /api.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Problems lists what failed, one by one, for errors that carry such a
	// list (an archive that fails verification: role, check, message).
	Problems any `json:"problems,omitempty"`
}

// problemLister is an error that carries the list of what failed.
type problemLister interface{ Problems() any }

// classify returns the status, code and user-facing message of err. Internal
// errors get a generic message: their text never reaches users.
func classify(err error) (int, string, string) {
	if e, ok := errs.As(err); ok && e.Kind != errs.Internal {
		return statusOf[e.Kind], e.Code, e.Message
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return he.Code, "not_found", "There is nothing at this address."
		case http.StatusMethodNotAllowed:
			return he.Code, "method_not_allowed", "This address does not accept that method."
		case http.StatusRequestEntityTooLarge:
			return he.Code, "too_large", "The request body is larger than 1 MiB."
		case http.StatusUnsupportedMediaType:
			return he.Code, "unsupported_media_type", "Send the request body as JSON, with Content-Type: application/json."
		}
		if he.Code >= 400 && he.Code < 500 {
			return he.Code, "bad_request", http.StatusText(he.Code) + "."
		}
	}
	return http.StatusInternalServerError, "internal", "Something went wrong on our side. The error was logged; try again later."
}

// setRetryAfter tells the client when to try again, when err says so.
func setRetryAfter(c echo.Context, err error) {
	if d := errs.RetryAfterOf(err); d > 0 {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(d))
	}
}

// retryAfterSeconds is d as a Retry-After value: whole seconds, rounded up
// (a client told "0" would come straight back and be refused again).
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

var titles = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusUnauthorized:          "Sign in required",
	http.StatusForbidden:             "Not allowed",
	http.StatusNotFound:              "Not found",
	http.StatusConflict:              "Conflict",
	http.StatusRequestEntityTooLarge: "Too large",
	http.StatusUnprocessableEntity:   "Refused",
	http.StatusTooManyRequests:       "Too many attempts",
	http.StatusServiceUnavailable:    "Try again later",
	http.StatusGatewayTimeout:        "Outcome unknown",
}

// handleError is echo's one HTTPErrorHandler: JSON for /api, an HTML page
// for browsers. 5xx are logged with their cause; 4xx are not server errors.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, msg := classify(err)
	setRetryAfter(c, err)
	// Load shed on purpose (an error with a Retry-After) is not a failure.
	if status >= 500 && errs.RetryAfterOf(err) == 0 {
		s.Log.Error("request failed", "err", err, "path", c.Request().URL.Path,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	if isAPI(c) {
		body := apiErrorBody{Code: code, Message: msg}
		if pl := problemLister(nil); status < 500 && errors.As(err, &pl) {
			body.Problems = pl.Problems()
		}
		c.JSON(status, apiError{Error: body})
		return
	}
	title := titles[status]
	if title == "" {
		title = "Error"
	}
	if err := render(c, status, views.ErrorPage(s.page(c, title, ""), views.ErrorInfo{Status: status, Title: title, Message: msg})); err != nil {
		s.Log.Error("render error page", "err", err)
	}
}
