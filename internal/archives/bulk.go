package archives

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/store"
)

// Statuses of one GUN in a bulk capture.
const (
	StatusPending  = "pending"
	StatusCaptured = "captured"
	StatusFailed   = "failed"
)

// Result is one GUN of a bulk capture.
type Result struct {
	GUN     string     `json:"gun"`
	Status  string     `json:"status"`
	Archive *Archive   `json:"archive,omitempty"`
	Error   *ErrorInfo `json:"error,omitempty"`
}

// ErrorInfo is why a GUN was not captured, in words users may read.
type ErrorInfo struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Problems any    `json:"problems,omitempty"`
}

// describe is err as users may read it: a domain error's own words, never
// an internal error's (that goes to the log).
func (s *Service) describe(gun string, err error) *ErrorInfo {
	e, ok := errs.As(err)
	if !ok || e.Kind == errs.Internal {
		s.cfg.Log.Error("capture failed", "gun", gun, "err", err)
		return &ErrorInfo{Code: "internal", Message: "The capture failed on trustdeck's side; the server's log says why."}
	}
	info := &ErrorInfo{Code: e.Code, Message: e.Message}
	if ve, ok := e.Err.(*VerificationError); ok {
		info.Problems = ve.Failures
	}
	return info
}

// ParseGUNs reads a list of GUNs separated by white space or commas (a
// textarea, or the API's "guns"), without repeats, at most MaxGUNs.
func ParseGUNs(list []string) ([]string, error) {
	var out []string
	for _, item := range list {
		for _, gun := range strings.FieldsFunc(item, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
			if !slices.Contains(out, gun) {
				out = append(out, gun)
			}
		}
	}
	switch {
	case len(out) == 0:
		return nil, errs.Invalidf("missing_gun", "Name at least one GUN to capture, such as registry.example.com/team/app.")
	case len(out) > MaxGUNs:
		return nil, errs.Invalidf("too_many_guns", "Capture at most %d GUNs at a time (%d given).", MaxGUNs, len(out))
	}
	return out, nil
}

// CaptureMany captures each GUN from src in turn (one client for all, so a
// token service that refuses the credentials is asked once), and calls
// progress, if set, after each. One GUN's failure is its result; only a bad
// src fails the whole.
func (s *Service) CaptureMany(ctx context.Context, src Source, guns []string, actor string, allow Allow,
	progress func(i int, r Result)) ([]Result, error) {
	base, rt, err := s.client(src)
	if err != nil {
		return nil, err
	}
	return s.captureAll(ctx, base, rt, guns, actor, allow, progress), nil
}

// captureAll is CaptureMany over the client made for its source.
func (s *Service) captureAll(ctx context.Context, base string, rt http.RoundTripper, guns []string, actor string, allow Allow,
	progress func(i int, r Result)) []Result {
	out := make([]Result, len(guns))
	for i, gun := range guns {
		out[i] = Result{GUN: gun, Status: StatusPending}
	}
	for i, gun := range guns {
		a, err := s.capture(ctx, base, rt, gun, actor, allow)
		if err != nil {
			out[i].Status, out[i].Error = StatusFailed, s.describe(gun, err)
		} else {
			out[i].Status, out[i].Archive = StatusCaptured, a
		}
		if progress != nil {
			progress(i, out[i])
		}
	}
	return out
}

// Job is a bulk capture running in the background, for the page: it shows
// the progress and every GUN's result as they come.
type Job struct {
	ID        string    `json:"id"`
	Actor     string    `json:"actor"`
	NotaryURL string    `json:"notary_url"`
	Started   time.Time `json:"started"`
	Done      bool      `json:"done"`
	Results   []Result  `json:"results"`
}

// Count returns how many GUNs are captured, failed and pending.
func (j Job) Count() (captured, failed, pending int) {
	for _, r := range j.Results {
		switch r.Status {
		case StatusCaptured:
			captured++
		case StatusFailed:
			failed++
		default:
			pending++
		}
	}
	return captured, failed, pending
}

// Bulk captures are kept in the store while they run and for an hour after
// (at most maxJobs), so that their page answers through any replica
// sharing the database, whichever runs the capture.
const (
	jobsKept    = time.Hour
	maxJobs     = 100
	jobDeadline = 30 * time.Minute
)

// Start starts a bulk capture of guns from src by actor in the background
// and returns its ID; src and guns are checked first (errors as Capture's).
// Credentials are held in memory until the capture ends.
func (s *Service) Start(src Source, guns []string, actor string, allow Allow) (string, error) {
	base, rt, err := s.client(src)
	if err != nil {
		return "", err
	}
	b := make([]byte, 16)
	rand.Read(b)
	job := &Job{ID: hex.EncodeToString(b), Actor: actor, NotaryURL: base, Started: s.now().UTC()}
	for _, gun := range guns {
		job.Results = append(job.Results, Result{GUN: gun, Status: StatusPending})
	}
	ctx := context.Background()
	n, err := s.cfg.Store.CountArchiveJobs(ctx, s.now().Add(-jobsKept))
	if err != nil {
		return "", err
	}
	if n >= maxJobs {
		return "", &errs.Error{Kind: errs.TooMany, Code: "too_many_captures", RetryAfter: time.Minute,
			Message: "Too many bulk captures are running or were run in the last hour: try again in a while."}
	}
	if err := s.saveJob(ctx, job); err != nil {
		return "", err
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), jobDeadline)
		defer cancel()
		s.captureAll(ctx, base, rt, guns, actor, allow, func(i int, r Result) {
			job.Results[i] = r
			if err := s.saveJob(context.WithoutCancel(ctx), job); err != nil {
				s.cfg.Log.Error("bulk capture: store the progress", "job", job.ID, "err", err)
			}
		})
		job.Done = true
		if err := s.saveJob(context.Background(), job); err != nil {
			s.cfg.Log.Error("bulk capture: store the end", "job", job.ID, "err", err)
		}
		s.cfg.Log.Info("bulk capture done", slog.String("job", job.ID), slog.Int("guns", len(guns)))
	}()
	return job.ID, nil
}

// saveJob stores job's state (only its capture's goroutine changes it).
func (s *Service) saveJob(ctx context.Context, job *Job) error {
	state, err := json.Marshal(job)
	if err != nil {
		return err
	}
	return s.cfg.Store.PutArchiveJob(ctx, job.ID, job.Actor, job.Started, job.Done, state)
}

// Job returns a bulk capture's state, if it is known and actor's.
func (s *Service) Job(ctx context.Context, id, actor string) (Job, bool, error) {
	owner, state, err := s.cfg.Store.ArchiveJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && owner != actor {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, err
	}
	var j Job
	if err := json.Unmarshal(state, &j); err != nil {
		return Job{}, false, fmt.Errorf("bulk capture %s: %w", id, err)
	}
	return j, true, nil
}
