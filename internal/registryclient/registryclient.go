// Package registryclient reads a registry (Docker Registry HTTP API v2 /
// OCI distribution): a repository's tags, each tag's digest as docker
// resolves it, an index's platforms, and the catalog. Its requests go through
// the one outbound transport (internal/notaryclient.Transport: TLS, the
// registry token protocol, timeouts); at most MaxInFlight of them are in
// flight at once per Client, that is per registry.
//
// Failures are *Error values that say what failed and why (unreachable,
// TLS, timeout, 401, 403, another answer), in words a page can show.
package registryclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/trustdeck/trustdeck/internal/notaryclient"
)

// MaxInFlight bounds the requests a Client has in flight.
const MaxInFlight = 16

// Page sizes asked for (n). Registries may answer fewer per page, or, as
// distribution 2.8 does for tags, all at once.
const (
	TagsPageSize    = 1000
	CatalogPageSize = 100
)

// Flags are the registry's settings, named in messages.
var Flags = notaryclient.Flags{Server: "registry", URL: "--registry-url", CA: "--registry-ca"}

// Manifest media types: what docker accepts when it resolves a tag.
const (
	MediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
)

// accept is the Accept header of manifest requests.
var accept = strings.Join([]string{MediaDockerManifest, MediaDockerList, MediaOCIManifest, MediaOCIIndex}, ", ")

// IsIndex reports whether a manifest media type is a multi-platform index.
func IsIndex(mediaType string) bool {
	return mediaType == MediaDockerList || mediaType == MediaOCIIndex
}

// IsManifest reports whether a media type is one of the manifests docker
// resolves tags to (not a blob's).
func IsManifest(mediaType string) bool {
	switch mediaType {
	case MediaDockerManifest, MediaDockerList, MediaOCIManifest, MediaOCIIndex:
		return true
	}
	return false
}

// Limits on what is read of an answer.
const (
	maxListBody     = 32 << 20 // a page of tags or repositories
	maxManifestBody = 4 << 20
)

// Client reads one registry. It is safe for concurrent use.
type Client struct {
	base *url.URL
	rt   http.RoundTripper
	sem  chan struct{}
}

// New returns a client of the registry at baseURL (https://host[:port])
// sending its requests through rt.
func New(baseURL string, rt http.RoundTripper) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("registry URL %q: want https://host[:port]", baseURL)
	}
	return &Client{base: &url.URL{Scheme: u.Scheme, Host: u.Host}, rt: rt, sem: make(chan struct{}, MaxInFlight)}, nil
}

// URL is the registry's base URL.
func (c *Client) URL() string { return c.base.String() }

// Error is a failed request to the registry.
type Error struct {
	Kind   string // KindTLS, KindUnreachable, KindTimeout, KindUnauthorized, KindForbidden, KindFailed
	Status int    // the HTTP status, when the registry answered
	// Message says what failed and why, for pages and the API.
	Message string
	Err     error
}

// Kinds of Error.
const (
	KindTLS          = notaryclient.CauseTLS
	KindUnreachable  = notaryclient.CauseUnreachable
	KindTimeout      = notaryclient.CauseTimeout
	KindUnauthorized = "unauthorized" // 401: no token, or credentials refused
	KindForbidden    = "forbidden"    // 403: the account lacks access
	KindFailed       = "failed"       // another answer, or one that makes no sense
)

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// networkError explains a failed round trip.
func networkError(what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	kind, why := Flags.Cause(err)
	if kind == "" {
		kind, why = KindUnreachable, err.Error()
	}
	return &Error{Kind: kind, Message: "the registry is unreachable (" + what + "): " + why, Err: err}
}

// statusError explains an answer that is not the one expected.
func statusError(what string, resp *http.Response, body []byte) error {
	e := &Error{Kind: KindFailed, Status: resp.StatusCode}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		e.Kind = KindUnauthorized
		e.Message = fmt.Sprintf("the registry refused trustdeck (%s: HTTP 401): its token realm gave no token for it; "+
			"check --registry-username and --registry-password", what)
	case http.StatusForbidden:
		e.Kind = KindForbidden
		e.Message = fmt.Sprintf("the registry denies trustdeck's account access (%s: HTTP 403): it needs pull on the repository "+
			"(and registry:catalog:* for the catalog)", what)
	default:
		e.Message = fmt.Sprintf("the registry answered %s with HTTP %d%s", what, resp.StatusCode, registryErrors(body))
	}
	return e
}

// registryErrors is the distribution error body's first message, as
// ": CODE: message" ("" without one).
func registryErrors(body []byte) string {
	var e struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	msg := e.Errors[0].Code
	if e.Errors[0].Message != "" {
		msg += ": " + e.Errors[0].Message
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return ": " + msg
}

// nameUnknown reports whether a 404's body says the repository is unknown.
func nameUnknown(body []byte) bool {
	return bytes.Contains(body, []byte("NAME_UNKNOWN"))
}

// do sends req (holding one of the MaxInFlight slots) and reads up to limit
// bytes of the answer.
func (c *Client) do(req *http.Request, limit int64) (*http.Response, []byte, error) {
	select {
	case c.sem <- struct{}{}:
	case <-req.Context().Done():
		return nil, nil, req.Context().Err()
	}
	defer func() { <-c.sem }()
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(body)) > limit {
		return nil, nil, &Error{Kind: KindFailed, Status: resp.StatusCode,
			Message: fmt.Sprintf("the registry's answer to %s is larger than %d bytes", req.URL.Path, limit)}
	}
	return resp, body, nil
}

func (c *Client) newRequest(ctx context.Context, method string, u *url.URL) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, method, u.String(), nil)
}

func (c *Client) path(p string, q url.Values) *url.URL {
	u := *c.base
	u.Path = p
	u.RawQuery = q.Encode()
	return &u
}

// tagPattern is a valid tag (distribution's reference grammar).
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ValidTag reports whether tag is a valid tag name.
func ValidTag(tag string) bool { return tagPattern.MatchString(tag) }

// Tags lists every tag of repository (namespace/name, as the registry names
// it), following pagination. A repository the registry does not hold has no
// tags. Names that are not valid tags are left out.
func (c *Client) Tags(ctx context.Context, repository string) ([]string, error) {
	var out []string
	err := c.list(ctx, "/v2/"+repository+"/tags/list", TagsPageSize, "tags of "+repository, func(body []byte) ([]string, error) {
		var page struct {
			Tags []string `json:"tags"`
		}
		err := json.Unmarshal(body, &page)
		return page.Tags, err
	}, func(tag string) {
		if ValidTag(tag) {
			out = append(out, tag)
		}
	})
	return out, err
}

// Catalog lists every repository of the registry, following pagination.
func (c *Client) Catalog(ctx context.Context) ([]string, error) {
	var out []string
	err := c.list(ctx, "/v2/_catalog", CatalogPageSize, "the catalog", func(body []byte) ([]string, error) {
		var page struct {
			Repositories []string `json:"repositories"`
		}
		err := json.Unmarshal(body, &page)
		return page.Repositories, err
	}, func(name string) { out = append(out, name) })
	return out, err
}

// maxPages bounds a listing, whatever the registry's links say.
const maxPages = 100_000

// list reads a paginated listing at path, n entries a page: it follows the
// Link header's rel="next" (on the same registry); without one, a full page
// (exactly n entries) is followed by a request for what comes after its
// last entry (`last`), as registries that page without Link headers expect,
// until a page comes back short, or holds entries that do not come after that `last` (the registry
// ignores it). An entry is listed once, however often pages repeat it.
func (c *Client) list(ctx context.Context, path string, n int, what string,
	parse func([]byte) ([]string, error), emit func(string)) error {
	next := c.path(path, url.Values{"n": {strconv.Itoa(n)}})
	requested := map[string]bool{}
	listed := map[string]bool{}
	lastSent := "" // the `last` of a request this listing made up
	for range maxPages {
		if requested[next.String()] {
			return nil
		}
		requested[next.String()] = true
		req, err := c.newRequest(ctx, http.MethodGet, next)
		if err != nil {
			return err
		}
		resp, body, err := c.do(req, maxListBody)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return e
			}
			return networkError(what, err)
		}
		switch {
		case resp.StatusCode == http.StatusNotFound && nameUnknown(body):
			return nil // no such repository: no tags
		case resp.StatusCode != http.StatusOK:
			return statusError(what, resp, body)
		}
		entries, err := parse(body)
		if err != nil {
			return &Error{Kind: KindFailed, Status: resp.StatusCode, Err: err,
				Message: fmt.Sprintf("the registry's answer to %s is not the JSON expected: %v", what, err)}
		}
		honoured := true
		for _, e := range entries {
			if lastSent != "" && e <= lastSent {
				honoured = false
			}
			if !listed[e] {
				listed[e] = true
				emit(e)
			}
		}
		link := nextLink(resp.Header.Values("Link"), next)
		switch {
		case link != nil && (link.Host != c.base.Host || link.Scheme != c.base.Scheme):
			return &Error{Kind: KindFailed, Message: fmt.Sprintf("the registry's next page of %s is on another server (%s): not followed", what, link.Host)}
		case link != nil:
			next, lastSent = link, ""
		case len(entries) == n && honoured: // more than n: the registry ignores n, and sent all
			lastSent = entries[len(entries)-1]
			next = c.path(path, url.Values{"n": {strconv.Itoa(n)}, "last": {lastSent}})
		default:
			return nil
		}
	}
	return &Error{Kind: KindFailed, Message: fmt.Sprintf("the registry's listing of %s goes on for more than %d pages", what, maxPages)}
}

// nextLink is the rel="next" target of Link headers, resolved against the
// request's URL (nil without one).
func nextLink(values []string, base *url.URL) *url.URL {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			start, end := strings.IndexByte(part, '<'), strings.IndexByte(part, '>')
			if start != 0 || end < 0 {
				continue
			}
			isNext := false
			for _, p := range strings.Split(part[end+1:], ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(val, `"`) == "next" {
					isNext = true
				}
			}
			if !isNext {
				continue
			}
			u, err := base.Parse(part[1:end])
			if err == nil {
				return u
			}
		}
	}
	return nil
}

// Head is what the registry says of a manifest reference.
type Head struct {
	// Found is false when the registry holds no such tag or digest.
	Found bool
	// NotModified is set when the registry answered 304 to the ETag sent:
	// the reference still points at what it pointed at.
	NotModified bool
	Digest      string // sha256:<hex>
	MediaType   string
	ETag        string
}

// digestPattern is a sha256 digest.
var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ValidDigest reports whether d is sha256:<64 hex>.
func ValidDigest(d string) bool { return digestPattern.MatchString(d) }

// Head resolves a tag (or digest) of repository as docker does: HEAD
// /v2/<repository>/manifests/<reference> accepting every manifest type, the
// digest in Docker-Content-Digest (when the registry sends none, the
// manifest is read and hashed). etag, if not "", is sent as If-None-Match.
func (c *Client) Head(ctx context.Context, repository, reference, etag string) (Head, error) {
	what := "manifest " + repository + ":" + reference
	req, err := c.newRequest(ctx, http.MethodHead, c.path("/v2/"+repository+"/manifests/"+reference, nil))
	if err != nil {
		return Head{}, err
	}
	req.Header.Set("Accept", accept)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, body, err := c.do(req, maxManifestBody)
	if err != nil {
		return Head{}, networkError(what, err)
	}
	switch resp.StatusCode {
	case http.StatusNotModified:
		return Head{Found: true, NotModified: true, ETag: etag}, nil
	case http.StatusNotFound:
		return Head{}, nil
	case http.StatusOK:
	default:
		return Head{}, statusError(what, resp, body)
	}
	h := Head{Found: true, Digest: resp.Header.Get("Docker-Content-Digest"), ETag: resp.Header.Get("ETag"),
		MediaType: mediaType(resp.Header.Get("Content-Type"))}
	if h.Digest == "" {
		m, err := c.Manifest(ctx, repository, reference)
		if err != nil || !m.Found {
			return Head{Found: m.Found}, err
		}
		h.Digest, h.MediaType = m.Digest, m.MediaType
	}
	if !ValidDigest(h.Digest) {
		return Head{}, &Error{Kind: KindFailed, Status: resp.StatusCode,
			Message: fmt.Sprintf("the registry's digest of %s is not a sha256 digest: %.80q", what, h.Digest)}
	}
	return h, nil
}

func mediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt)
}

// Manifest is a manifest as read from the registry.
type Manifest struct {
	Found     bool
	Digest    string // sha256 of the bytes
	MediaType string
	// Platforms are an index's platforms, os/arch[/variant], in its order
	// (without attestation entries, whose platform is unknown/unknown).
	Platforms []string
}

// Manifest reads a manifest (GET /v2/<repository>/manifests/<reference>);
// the digest is that of the bytes, checked against the one the registry
// names.
func (c *Client) Manifest(ctx context.Context, repository, reference string) (Manifest, error) {
	what := "manifest " + repository + ":" + reference
	req, err := c.newRequest(ctx, http.MethodGet, c.path("/v2/"+repository+"/manifests/"+reference, nil))
	if err != nil {
		return Manifest{}, err
	}
	req.Header.Set("Accept", accept)
	resp, body, err := c.do(req, maxManifestBody)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return Manifest{}, e
		}
		return Manifest{}, networkError(what, err)
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return Manifest{}, nil
	case http.StatusOK:
	default:
		return Manifest{}, statusError(what, resp, body)
	}
	sum := sha256.Sum256(body)
	m := Manifest{Found: true, Digest: "sha256:" + hex.EncodeToString(sum[:])}
	if named := resp.Header.Get("Docker-Content-Digest"); named != "" && named != m.Digest {
		return Manifest{}, &Error{Kind: KindFailed, Status: resp.StatusCode,
			Message: fmt.Sprintf("the registry's %s does not match its digest %.80q", what, named)}
	}
	if strings.HasPrefix(reference, "sha256:") && reference != m.Digest {
		return Manifest{}, &Error{Kind: KindFailed, Status: resp.StatusCode,
			Message: fmt.Sprintf("the registry's %s has another digest, %s", what, m.Digest)}
	}
	var parsed struct {
		MediaType string `json:"mediaType"`
		Manifests []struct {
			Platform *struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
				Variant      string `json:"variant"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(body, &parsed); err != nil {
		return Manifest{}, &Error{Kind: KindFailed, Status: resp.StatusCode, Err: err,
			Message: fmt.Sprintf("the registry's %s is not JSON: %v", what, err)}
	}
	m.MediaType = mediaType(resp.Header.Get("Content-Type"))
	if m.MediaType == "" {
		m.MediaType = parsed.MediaType
	}
	if IsIndex(m.MediaType) {
		m.Platforms = []string{}
		for _, d := range parsed.Manifests {
			p := d.Platform
			if p == nil || p.OS == "" || p.Architecture == "" || p.OS == "unknown" && p.Architecture == "unknown" {
				continue
			}
			s := p.OS + "/" + p.Architecture
			if p.Variant != "" {
				s += "/" + p.Variant
			}
			m.Platforms = append(m.Platforms, s)
		}
	}
	return m, nil
}
