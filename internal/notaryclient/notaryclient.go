// Package notaryclient is trustdeck's one outbound HTTP client for servers
// that speak the registry token protocol: an external Notary server
// (notary-server, MSR/DTR, Harbor ≤ 2.8) and the registry (internal/
// registryclient). It is an http.RoundTripper that carries TLS (a CA bundle,
// an optional client certificate), timeouts, and the registry token
// protocol; Options.Flags names the settings its messages point at.
//
// notary's client library sends every request through one RoundTripper and
// treats a 401 as an error, so the token challenge is answered here: on a
// 401 carrying `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, the
// transport asks the realm for a token for that scope (with HTTP basic
// credentials when configured), caches it per scope until it expires, and
// sends the request once more with it. Later requests to the same GUN (and
// kind of access) send the cached token straight away.
package notaryclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Options configure a Transport.
type Options struct {
	// CAFile is a PEM bundle of CAs trusted for the server (and the token
	// realm) in addition to the system's.
	CAFile string
	// CAPEM is a PEM bundle of CAs trusted in addition, given inline (a
	// capture's ca_pem) rather than as a file.
	CAPEM []byte
	// OwnCAFile is trustdeck's own generated CA, trusted in addition: the
	// server's token realm may be trustdeck itself ("" for none).
	OwnCAFile string
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile, KeyFile string
	// Username and Password are sent to the token realm ("" for none:
	// anonymous tokens).
	Username, Password string
	// Timeout bounds each request, including reading its body, unless the
	// request's context already has a deadline (default 30s).
	Timeout time.Duration
	// Log receives failures to obtain a token (default: discarded).
	Log *slog.Logger
	// Base, if set, replaces the TLS transport (tests).
	Base http.RoundTripper
	// Flags names the settings of the server this transport talks to, for
	// messages (default NotaryFlags).
	Flags Flags
}

// Transport is the RoundTripper. It is safe for concurrent use.
type Transport struct {
	base     http.RoundTripper
	user     string
	pass     string
	timeout  time.Duration
	log      *slog.Logger
	flags    Flags
	now      func() time.Time
	mu       sync.Mutex
	tokens   map[string]cachedToken // by realm, service and scope
	scopeFor map[string]challenge   // last challenge by request class
	refused  map[string]refusal     // by realm: credentials refused, wait before asking again
}

// refusal is a realm's refusal of trustdeck's credentials. Asking again at
// every poll and page would lock the service account out at realms that
// throttle failed logins, so the next request waits, longer each time.
type refusal struct {
	count int
	until time.Time
	err   error
}

// Backoff after the realm refuses the credentials: RefusalBackoff, doubled
// at each further refusal up to MaxRefusalBackoff; a token obtained resets it.
const (
	RefusalBackoff    = time.Minute
	MaxRefusalBackoff = 30 * time.Minute
)

type cachedToken struct {
	token   string
	expires time.Time
}

// New builds a Transport; it fails when the TLS files cannot be read.
func New(o Options) (*Transport, error) {
	if o.Flags == (Flags{}) {
		o.Flags = NotaryFlags
	}
	t := &Transport{base: o.Base, user: o.Username, pass: o.Password, timeout: o.Timeout, log: o.Log,
		flags: o.Flags, now: time.Now, tokens: map[string]cachedToken{}, scopeFor: map[string]challenge{},
		refused: map[string]refusal{}}
	if t.timeout <= 0 {
		t.timeout = 30 * time.Second
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.base == nil {
		tc, err := o.Flags.tlsConfig(o.CAFile, o.CertFile, o.KeyFile)
		if err != nil {
			return nil, err
		}
		if len(o.CAPEM) > 0 {
			if err := addPEM(tc, o.CAPEM); err != nil {
				return nil, fmt.Errorf("%s: %w", o.Flags.CA, err)
			}
		}
		if o.OwnCAFile != "" {
			if err := addCAs(tc, o.OwnCAFile); err != nil {
				return nil, err
			}
		}
		dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		t.base = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       tc,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: t.timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
			ForceAttemptHTTP2:     true,
		}
	}
	return t, nil
}

// TLSConfig is the client TLS configuration of a Notary server: the
// system's CAs plus caFile, and the client certificate if given.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	return NotaryFlags.tlsConfig(caFile, certFile, keyFile)
}

func (f Flags) tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pemBytes, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.CA, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("%s %s: no PEM certificate in the file", f.CA, caFile)
		}
		tc.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", f.ClientCert, f.ClientKey, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// addCAs adds the PEM certificates of file to tc's roots (the system's when
// tc has none yet).
func addCAs(tc *tls.Config, file string) error {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := addPEM(tc, pemBytes); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// addPEM adds PEM certificates to tc's roots (the system's when tc has none
// yet).
func addPEM(tc *tls.Config, pemBytes []byte) error {
	var err error
	if tc.RootCAs == nil {
		if tc.RootCAs, err = x509.SystemCertPool(); err != nil || tc.RootCAs == nil {
			tc.RootCAs = x509.NewCertPool()
		}
	}
	if !tc.RootCAs.AppendCertsFromPEM(pemBytes) {
		return errors.New("no PEM certificate in it")
	}
	return nil
}

// RoundTrip sends req, answering one token challenge if the server asks. A
// change answered 502 or 504 by a gateway fails with a GatewayError.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := req.Context(), context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		// notary's client sends requests without a context: bound them here.
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
	}
	resp, err := t.roundTrip(req.WithContext(ctx))
	if err == nil && isChange(req) && (resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout) {
		resp.Body.Close()
		err = &GatewayError{Status: resp.StatusCode}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	body, err := replayable(req)
	if err != nil {
		return nil, err
	}
	class := requestClass(req)
	first := withBody(req, body)
	sent := t.tokenFor(class)
	if sent != "" {
		first.Header.Set("Authorization", "Bearer "+sent)
	}
	resp, err := t.base.RoundTrip(first)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	ch, ok := parseChallenge(resp.Header.Values("WWW-Authenticate"))
	if !ok {
		return resp, nil
	}
	// Keep the 401 to hand back if no token can be had.
	saved, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(saved))

	if sent != "" {
		t.forget(ch, sent) // refused: expired or revoked early
	}
	tok, err := t.fetchToken(req.Context(), ch)
	if err != nil {
		t.log.Warn(t.flags.Server+": cannot obtain a token", "realm", ch.realm, "scope", ch.scope, "err", err)
		return resp, nil
	}
	t.mu.Lock()
	t.scopeFor[class] = ch
	t.mu.Unlock()
	retry := withBody(req, body)
	retry.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(retry)
}

// replayable returns the request body as bytes (nil without one), so that
// the request can be sent twice.
func replayable(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return b, nil
}

func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	}
	return r
}

// requestClass groups requests that a server challenges with the same
// scope: the host, the repository (a Notary path up to `/_trust/`, the GUN;
// a registry path up to `/manifests/`, `/tags/`, `/blobs/` or
// `/referrers/`) and read or write.
func requestClass(req *http.Request) string {
	p := req.URL.Path
	if i := strings.Index(p, "/_trust/"); i >= 0 {
		p = p[:i]
	} else {
		p = registryRepository(p)
	}
	kind := "write"
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		kind = "read"
	}
	return req.URL.Host + " " + kind + " " + p
}

// registryRepository cuts a registry API path after its repository name:
// /v2/<name>/manifests/<reference>, /v2/<name>/tags/list,
// /v2/<name>/blobs/<digest or uploads/…>, /v2/<name>/referrers/<digest>. A
// reference or digest holds no slash, so the last marker is the right one
// even when the name holds one of these words.
func registryRepository(p string) string {
	for _, marker := range []string{"/manifests/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(p, marker); i >= 0 && !strings.Contains(p[i+len(marker):], "/") {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "/blobs/uploads"); i >= 0 {
		return p[:i]
	}
	if i := strings.LastIndex(p, "/blobs/"); i >= 0 && !strings.Contains(p[i+len("/blobs/"):], "/") {
		return p[:i]
	}
	return p
}

// tokenFor returns a still valid token for the class's last challenge.
func (t *Transport) tokenFor(class string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch, ok := t.scopeFor[class]
	if !ok {
		return ""
	}
	c, ok := t.tokens[ch.key()]
	if !ok || !t.now().Before(c.expires) {
		return ""
	}
	return c.token
}

// forget drops tok from the cache if it is still ch's token.
func (t *Transport) forget(ch challenge, tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.tokens[ch.key()]; ok && c.token == tok {
		delete(t.tokens, ch.key())
	}
}

// challenge is a parsed Bearer challenge.
type challenge struct{ realm, service, scope string }

func (c challenge) key() string { return c.realm + "\x00" + c.service + "\x00" + c.scope }

// parseChallenge finds the Bearer challenge among WWW-Authenticate values.
func parseChallenge(values []string) (challenge, bool) {
	for _, v := range values {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "bearer") {
			continue
		}
		params := parseParams(rest)
		ch := challenge{realm: params["realm"], service: params["service"], scope: params["scope"]}
		if ch.realm == "" {
			continue
		}
		return ch, true
	}
	return challenge{}, false
}

// parseParams parses `k="v", k2=v2` (quoted strings may hold commas and
// backslash escapes).
func parseParams(s string) map[string]string {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return out
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return out
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val strings.Builder
		if strings.HasPrefix(s, `"`) {
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			s = s[min(i+1, len(s)):]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val.WriteString(strings.TrimSpace(s[:end]))
			s = s[end:]
		}
		out[key] = val.String()
	}
}

// tokenReply is the token service's answer (docker's token protocol).
type tokenReply struct {
	Token       string    `json:"token"`
	AccessToken string    `json:"access_token"`
	ExpiresIn   int       `json:"expires_in"`
	IssuedAt    time.Time `json:"issued_at"`
}

// fetchToken returns a token for ch, from the cache or the realm.
func (t *Transport) fetchToken(ctx context.Context, ch challenge) (string, error) {
	t.mu.Lock()
	c, ok := t.tokens[ch.key()]
	t.mu.Unlock()
	if ok && t.now().Before(c.expires) {
		return c.token, nil
	}
	t.mu.Lock()
	ref, waiting := t.refused[ch.realm]
	t.mu.Unlock()
	if waiting && t.now().Before(ref.until) {
		return "", fmt.Errorf("%w (not asking again before %s)", ref.err, ref.until.UTC().Format(time.RFC3339))
	}
	u, err := url.Parse(ch.realm)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("the challenge's realm %q is not an http(s) URL", ch.realm)
	}
	q := u.Query()
	if ch.service != "" {
		q.Set("service", ch.service)
	}
	for _, sc := range strings.Fields(ch.scope) {
		q.Add("scope", sc)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	if t.user != "" {
		if u.Scheme != "https" {
			return "", fmt.Errorf("refusing to send credentials to the plain-http realm %s", ch.realm)
		}
		req.SetBasicAuth(t.user, t.pass)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("token service answered %s: %s", resp.Status, strings.TrimSpace(string(body[:min(len(body), 300)])))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusTooManyRequests {
			t.mu.Lock()
			n := t.refused[ch.realm].count + 1
			wait := min(RefusalBackoff<<min(n-1, 10), MaxRefusalBackoff)
			t.refused[ch.realm] = refusal{count: n, until: t.now().Add(wait), err: err}
			t.mu.Unlock()
		}
		return "", err
	}
	var r tokenReply
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("token service reply: %w", err)
	}
	tok := r.Token
	if tok == "" {
		tok = r.AccessToken
	}
	if tok == "" {
		return "", errors.New("token service reply holds no token")
	}
	// The protocol's default lifetime is 60 seconds; renew a little early.
	ttl := time.Duration(r.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 60 * time.Second
	}
	issued := t.now()
	if !r.IssuedAt.IsZero() && r.IssuedAt.Before(issued) && issued.Sub(r.IssuedAt) < ttl {
		issued = r.IssuedAt
	}
	expires := issued.Add(ttl - min(ttl/10, 10*time.Second))
	t.mu.Lock()
	t.tokens[ch.key()] = cachedToken{token: tok, expires: expires}
	delete(t.refused, ch.realm)
	t.mu.Unlock()
	return tok, nil
}

// cancelOnClose ends the request's context once its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
