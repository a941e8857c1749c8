package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/trustdeck/trustdeck/internal/errs"
	"github.com/trustdeck/trustdeck/internal/registry"
	"github.com/trustdeck/trustdeck/internal/trust"
)

// RegistryService is the registry connection as the handlers use it
// (*registry.Service).
type RegistryService interface {
	// Tags is a repository's tags with their states (see registry.Tags).
	Tags(ctx context.Context, namespace, name string) (*registry.Tags, error)
	// Apply applies the registry's notification events.
	Apply(ctx context.Context, events []registry.Event) (int, error)
}

// RegistryEventsPath receives the registry's notifications.
const RegistryEventsPath = "/api/v1/registry/events"

// MediaRegistryEvents is the media type of distribution's notification
// envelopes.
const MediaRegistryEvents = "application/vnd.docker.distribution.events.v1+json"

// mountRegistryEvents serves the registry's notifications. The registry is
// no browser: the route takes no session cookie and no basic credentials,
// so it is outside the UI and API group (authenticate, CSRF): only its own
// bearer token authenticates it, which a foreign page cannot make a browser
// send. It answers 404 while trustdeck has no events token.
func (s *Server) mountRegistryEvents(e *echo.Echo) {
	e.POST(RegistryEventsPath, s.registryEvents, middleware.BodyLimit(maxBody))
}

// registryEvents applies a notification envelope: 401 without the events
// token, 415 for another media type, 400 for a body that is not an envelope
// (nothing applied), 200 with the number of events applied otherwise.
func (s *Server) registryEvents(c echo.Context) error {
	if s.Registry == nil || s.RegistryEventsToken == "" {
		return echo.ErrNotFound
	}
	if !bearerIs(c.Request().Header.Get(echo.HeaderAuthorization), s.RegistryEventsToken) {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="trustdeck registry events"`)
		return errs.Unauthenticatedf("unauthenticated",
			"Send the registry's events token: Authorization: Bearer <the token of --registry-events-token>.")
	}
	mt, params, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || (mt != MediaRegistryEvents && mt != echo.MIMEApplicationJSON) ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return echo.ErrUnsupportedMediaType // application/json is accepted too, as the answer says
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	events, err := parseEnvelope(body)
	if err != nil {
		return err
	}
	n, err := s.Registry.Apply(c.Request().Context(), events)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"applied": n})
}

// bearerIs reports whether header is "Bearer <token>", comparing in constant
// time (hashes first, so not even the length leaks).
func bearerIs(header, token string) bool {
	scheme, got, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	a, b := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// envelopeEvent is one event of distribution's envelope; other fields
// (id, timestamp, request, actor, source) are not needed.
type envelopeEvent struct {
	Action *string `json:"action"`
	Target *struct {
		MediaType  string  `json:"mediaType"`
		Digest     string  `json:"digest"`
		Repository *string `json:"repository"`
		Tag        string  `json:"tag"`
	} `json:"target"`
}

// parseEnvelope decodes {"events":[…]}: a body of another shape, or an
// event without an action, or a push or delete without a target
// repository, is refused whole (400).
func parseEnvelope(body []byte) ([]registry.Event, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errs.Invalidf("malformed_json", "The request body must be a JSON object: {\"events\":[…]}.")
	}
	var env struct {
		Events *[]envelopeEvent `json:"events"`
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&env); err != nil {
		return nil, errs.Invalidf("malformed_json", "The request body is not a notification envelope: %s.", err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errs.Invalidf("malformed_json", "The request body holds more than one JSON value.")
	}
	if env.Events == nil {
		return nil, errs.Invalidf("invalid_envelope", "The notification envelope has no events array.")
	}
	out := make([]registry.Event, 0, len(*env.Events))
	for i, e := range *env.Events {
		if e.Action == nil {
			return nil, errs.Invalidf("invalid_envelope", "Event %d has no action.", i)
		}
		ev := registry.Event{Action: *e.Action}
		if ev.Action == "push" || ev.Action == "delete" {
			if e.Target == nil || e.Target.Repository == nil || *e.Target.Repository == "" {
				return nil, errs.Invalidf("invalid_envelope", "Event %d (%s) names no target repository.", i, ev.Action)
			}
			ev.Repository, ev.Tag, ev.Digest, ev.MediaType = *e.Target.Repository, e.Target.Tag, e.Target.Digest, e.Target.MediaType
		}
		out = append(out, ev)
	}
	return out, nil
}

// tagJSON is one tag of GET /api/v1/repositories/{ns}/{name}/tags.
type tagJSON struct {
	Name           string   `json:"name"`
	State          string   `json:"state"`
	RegistryDigest *string  `json:"registry_digest"`
	SignedDigest   *string  `json:"signed_digest"`
	Signers        []string `json:"signers"`
	Platforms      []string `json:"platforms"`
}

// tagsRegistryJSON is the registry's state; null without --registry-url.
type tagsRegistryJSON struct {
	Reachable    bool       `json:"reachable"`
	CheckedAt    *time.Time `json:"checked_at"`
	UnknownSince *time.Time `json:"unknown_since"`
	Error        *string    `json:"error"`
}

type tagCountsJSON struct {
	Signed   int `json:"signed"`
	Unsigned int `json:"unsigned"`
	Drifted  int `json:"drifted"`
	Missing  int `json:"missing"`
	Unknown  int `json:"unknown"`
}

type tagsJSON struct {
	Tags     []tagJSON         `json:"tags"`
	Counts   tagCountsJSON     `json:"counts"`
	Registry *tagsRegistryJSON `json:"registry"`
}

func orNull[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// apiRepositoryTags lists a repository's tags, signed or in the registry,
// with their states; ?state= keeps one state. Without a registry (or for a
// repository outside the registry host) the tags are the signed ones, state
// "unknown", and registry is null.
func (s *Server) apiRepositoryTags(c echo.Context) error {
	r, _, err := s.repoForRead(c)
	if err != nil {
		return err
	}
	filter := c.QueryParam("state")
	switch filter {
	case "", trust.TagSigned, trust.TagUnsigned, trust.TagDrifted, trust.TagMissing, trust.TagUnknown:
	default:
		return errs.Invalidf("invalid_query", "Filter by state signed, unsigned, drifted, missing or unknown.")
	}
	ctx := c.Request().Context()
	var out tagsJSON
	var states []trust.TagState
	if s.Registry == nil || r.Foreign {
		repo, err := s.Trust.LoadLenient(ctx, r.GUN)
		if states, err = registry.Untracked(r.GUN, repo, err); err != nil {
			return err
		}
	} else {
		t, err := s.Registry.Tags(ctx, r.Namespace, r.Name)
		if err != nil {
			return err
		}
		states = t.States
		out.Registry = &tagsRegistryJSON{Reachable: t.Known, CheckedAt: orNull(t.CheckedAt),
			UnknownSince: orNull(t.UnknownSince), Error: orNull(t.Error)}
	}
	counts := trust.CountTagStates(states)
	out.Counts = tagCountsJSON{Signed: counts.Signed, Unsigned: counts.Unsigned, Drifted: counts.Drifted,
		Missing: counts.Missing, Unknown: counts.Unknown}
	out.Tags = []tagJSON{}
	for _, st := range states {
		if filter != "" && st.State != filter {
			continue
		}
		out.Tags = append(out.Tags, tagJSON{Name: st.Name, State: st.State, RegistryDigest: orNull(st.RegistryDigest),
			SignedDigest: orNull(st.SignedDigest), Signers: orEmpty(st.Signers), Platforms: orEmpty(st.Platforms)})
	}
	return c.JSON(http.StatusOK, out)
}
