package notaryserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/docker/distribution/registry/api/errcode"
)

// errorBody is notary's (and the registry's) error envelope.
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeJSONError answers one error with the given status in notary's envelope.
func writeJSONError(w http.ResponseWriter, status int, code, message string, detail any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Errors: []errorEntry{{Code: code, Message: message, Detail: detail}}})
}

// statusOf is the HTTP status writeError answers err with.
func statusOf(err error) int {
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return refusal.status()
	}
	var upload *uploadTooLarge
	if errors.As(err, &upload) {
		return http.StatusRequestEntityTooLarge
	}
	if coder, ok := err.(errcode.ErrorCoder); ok {
		if sc := coder.ErrorCode().Descriptor().HTTPStatusCode; sc != 0 {
			return sc
		}
	}
	return http.StatusInternalServerError
}

// writeError answers err as notary-server does: errcode errors (notary's
// server/errors) with their own status and code, anything else as 500
// UNKNOWN. A *Refusal from Hooks.Admit is answered with its own status and
// code.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= http.StatusInternalServerError {
		s.log.Error("notary API request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	} else {
		s.log.Debug("notary API request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}

	var refusal *Refusal
	if errors.As(err, &refusal) {
		code := refusal.Code
		if code == "" {
			code = errcode.ErrorCodeDenied.String()
		}
		writeJSONError(w, status, code, refusal.Message, nil)
		return
	}
	var upload *uploadTooLarge
	if errors.As(err, &upload) {
		writeJSONError(w, status, "UPLOAD_TOO_LARGE", "The body of your request is too large.", upload.Error())
		return
	}
	_ = errcode.ServeJSON(w, err)
}

func (r *Refusal) status() int {
	if r.Status < 400 || r.Status > 599 {
		return http.StatusForbidden
	}
	return r.Status
}

// uploadTooLarge reports an update whose body exceeds the limit.
type uploadTooLarge struct{ limit int64 }

func (e *uploadTooLarge) Error() string {
	return "the update exceeds the limit of " + formatBytes(e.limit)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	default:
		return itoa(n) + " bytes"
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
