package interop

// Acceptance of "a change whose reply was lost is reported as failed and
// audited as made outside trustdeck": the Notary server applies a change
// trustdeck sends, and the answer never reaches trustdeck. For signer add,
// signer revoke, tag revoke and trust deletion, through the API and through
// the pages: trustdeck says the outcome is unknown (API 504 outcome_unknown,
// the page a caution), the change shows once reloaded, the audit holds one
// event of it naming the acting user and none made outside trustdeck, and
// a retry succeeds without changing anything again.
//
// In front of Debian's notary-server the answer is lost by a TLS proxy
// that forwards the change, waits for the server's answer and closes the
// connection instead; trustdeck's embedded server is reached in-process,
// so there the transport trustdeck sends its changes through forwards the
// change to the server and answers "connection reset" instead.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/app"
	"github.com/trustdeck/trustdeck/internal/testserver"
)

// lostReplyMessage is what trustdeck says of a change it got no answer to.
const lostReplyMessage = "may have applied this change; reload to see"

// dropSwitch, armed, loses the answer to the next change of trust data.
type dropSwitch struct {
	armed   atomic.Bool
	dropped atomic.Int32
}

// isChange reports whether r changes trust data (an update or a deletion).
func isChange(r *http.Request) bool {
	return (r.Method == http.MethodPost || r.Method == http.MethodDelete) &&
		strings.Contains(r.URL.Path, "/_trust/tuf/") && !strings.HasSuffix(r.URL.Path, ".key")
}

// drops reports whether the answer to r is to be lost (and counts it).
func (d *dropSwitch) drops(r *http.Request) bool {
	if isChange(r) && d.armed.CompareAndSwap(true, false) {
		d.dropped.Add(1)
		return true
	}
	return false
}

// newDropProxy is a TLS proxy (HTTP/1.1, its own certificate for
// 127.0.0.1, written to a CA file) to the Notary server at upstream whose
// CA is upstreamCA. It passes everything on, but the answer to a change
// while d is armed: that connection is closed once the server answered.
func newDropProxy(t *testing.T, d *dropSwitch, upstream, upstreamCA string) (proxyURL, caFile string) {
	t.Helper()
	ca, err := os.ReadFile(upstreamCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	rt := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header, out.ContentLength = r.Header.Clone(), r.ContentLength
		resp, err := rt.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if d.drops(r) {
			io.Copy(io.Discard, resp.Body) // the server answered; trustdeck never hears it
			panic(http.ErrAbortHandler)
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(rt.CloseIdleConnections)
	caFile = filepath.Join(t.TempDir(), "proxy-ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, caFile
}

// dropTransport is the embedded variant: it sends trustdeck's requests to
// its in-process Notary server and, armed, answers a change with a reset
// connection once the server has handled it.
type dropTransport struct {
	rt http.RoundTripper
	d  *dropSwitch
}

func (t dropTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if err != nil || !t.d.drops(r) {
		return resp, err
	}
	resp.Body.Close()
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

// lostWorld is a trustdeck whose answers from its Notary server can be lost.
type lostWorld struct {
	*world
	t        *testing.T
	drop     *dropSwitch
	gunOf    func(name string) string
	external bool
	// state says what the server holds for gun: it changes with every
	// change (the current timestamp), "none" without trust data.
	state func(gun string) string
	// cli runs the notary CLI of a machine publishing directly to the
	// server, with the repository keys in its trust directory.
	cli      func(args ...string)
	trustDir string
}

// TestLostReplyExternal: trustdeck in front of Debian's notary-server,
// through a proxy that loses answers.
func TestLostReplyExternal(t *testing.T) {
	requireNotaryServer(t)
	t.Parallel()
	ns := startNotaryServer(t, map[string]any{"backend": "memory"})
	d := &dropSwitch{}
	proxy, proxyCA := newDropProxy(t, d, ns.URL, ns.CAFile)
	w := newWorld(t, "--notary-url", proxy, "--notary-ca", proxyCA, "--registry-host", extRegistry,
		"--notary-poll-interval", "200ms")
	laptop := w.newExtMachine("laptop", ns)
	client := ns.client()
	testLostReplies(t, lostWorld{world: w, t: t, drop: d, external: true,
		gunOf: func(name string) string { return extRegistry + "/prod/" + name },
		state: func(gun string) string {
			resp, err := client.Get(ns.URL + "/v2/" + gun + "/_trust/tuf/timestamp.json")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == http.StatusNotFound {
				return "none"
			}
			return sha256Hex(b)
		},
		cli:      func(args ...string) { laptop.mustNotary(args...) },
		trustDir: laptop.trustDir(),
	})
	// notary-server recorded one deletion of each GUN: the retries sent none.
	resp, err := client.Get(ns.URL + "/v2/_trust/changefeed?change_id=0&records=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var feed struct {
		Records []struct{ GUN, Category string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&feed); err != nil {
		t.Fatal(err)
	}
	deletions := map[string]int{}
	for _, c := range feed.Records {
		if c.Category == "deletion" {
			deletions[c.GUN]++
		}
	}
	for _, name := range []string{"app", "web"} {
		if n := deletions[extRegistry+"/prod/"+name]; n != 1 {
			t.Errorf("notary-server's changefeed holds %d deletions of prod/%s, want 1: %+v", n, name, feed.Records)
		}
	}
}

// TestLostReplyEmbedded: trustdeck's embedded Notary server, whose answers
// to trustdeck's own changes are lost on the way back.
func TestLostReplyEmbedded(t *testing.T) {
	t.Parallel()
	d := &dropSwitch{}
	s := testserver.StartWith(t, []app.Option{app.WrapNotaryTransport(func(rt http.RoundTripper) http.RoundTripper {
		return dropTransport{rt: rt, d: d}
	})})
	w := &world{t: t, s: s, dir: t.TempDir(), host: s.Addr}
	s.MustCreateUser(t, jeff.name, jeff.pass, "prod", "write")
	s.MustCreateUser(t, reader.name, reader.pass, "prod", "read")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("trustdeck log:\n%s", s.Logs.String())
		}
	})
	laptop := w.newMachine("laptop")
	testLostReplies(t, lostWorld{world: w, t: t, drop: d,
		gunOf: func(name string) string { return w.gun("prod", name) },
		state: func(gun string) string {
			if v := w.versions(gun, "timestamp"); len(v) > 0 {
				return fmt.Sprint(v)
			}
			return "none"
		},
		cli:      func(args ...string) { laptop.mustNotary(jeff, args...) },
		trustDir: laptop.trustDir(),
	})
}

func testLostReplies(t *testing.T, lw lostWorld) {
	w := lw.world
	gun, gunWeb := lw.gunOf("app"), lw.gunOf("web")

	// Two repositories initialised through trustdeck (their keys in the
	// vault, the repository key under the CLI's passphrase; neither name is
	// a prefix of the other: notary-server's memory backend deletes by
	// prefix); tags v1 and v2 of prod/app signed with that key by the notary
	// CLI, directly against the server; signer carol added through
	// trustdeck.
	var repoKeyID string
	for _, name := range []string{"app", "web"} {
		w.s.MustCreateRepo(t, "prod", name)
		status, body := w.call(admin, http.MethodPost, "/api/v1/repositories/prod/"+name+"/trust",
			map[string]string{"root_passphrase": rootPass, "repository_passphrase": trustPassphrase})
		var init struct {
			RepositoryKeyID string `json:"repository_key_id"`
		}
		if status != http.StatusCreated || json.Unmarshal([]byte(body), &init) != nil {
			t.Fatalf("initialise prod/%s: %d %s", name, status, body)
		}
		if name == "app" {
			repoKeyID = init.RepositoryKeyID
		}
	}
	w.writeFile(strings.TrimPrefix(filepath.Join(lw.trustDir, "private", repoKeyID+".key"), w.dir+"/"),
		[]byte(w.mustExportKey(admin, repoKeyID)))
	lw.cli("add", gun, "v1", w.writeFile("v1.json", manifest))
	lw.cli("add", gun, "v2", w.writeFile("v2.json", revokeTagManifest2))
	lw.cli("publish", gun)
	keys := map[string]string{}
	for _, name := range []string{"carol", "dave", "erin"} {
		keys[name] = readString(t, w.newSignerKey(name).certFile)
	}
	if status, body := w.call(admin, http.MethodPost, "/api/v1/repositories/prod/app/signers", map[string]string{
		"name": "carol", "public_key": keys["carol"], "repository_passphrase": trustPassphrase}); status != http.StatusCreated {
		t.Fatalf("add signer carol: %d %s", status, body)
	}
	// The CLI's publish is the one change made outside trustdeck.
	outside := 0
	if lw.external {
		outside = 1
		lw.waitForAudit("prod/app", "outside trustdeck", "trust.update", 1)
		lw.waitForAudit("prod/app", admin.name, "signer.add", 1, "carol")
	}

	page := w.s.NewBrowser(t)
	page.Login(admin.name, admin.pass)
	api := func(method, path string, body any) func() (int, string) {
		return func() (int, string) { return w.call(admin, method, path, body) }
	}
	form := func(path string, values url.Values) func() (int, string) {
		return func() (int, string) {
			page.Get("/repositories/prod/app") // a fresh CSRF token
			resp, body := page.PostForm(path, url.Values(values))
			if resp.StatusCode != http.StatusSeeOther {
				return resp.StatusCode, body
			}
			// The page the browser is sent to, with its notice.
			resp, body = page.Get(resp.Header.Get("Location"))
			return resp.StatusCode, body
		}
	}
	// inspected reads names from the API's inspection of g (like docker
	// trust inspect): "(no trust data)" without any.
	inspected := func(g string, names func(dockerRepoJSON) []string) func() []string {
		return func() []string {
			status, repos := w.apiInspect(g)
			if status != http.StatusOK || len(repos) != 1 {
				return []string{"(no trust data)"}
			}
			return names(repos[0])
		}
	}
	signers := inspected(gun, func(r dockerRepoJSON) (out []string) {
		for _, s := range r.Signers {
			out = append(out, s.Name)
		}
		return out
	})
	tags := inspected(gun, func(r dockerRepoJSON) (out []string) {
		for _, tag := range r.SignedTags {
			out = append(out, tag.SignedTag)
		}
		return out
	})
	noTrust := func(s []string) bool { return slices.Equal(s, []string{"(no trust data)"}) }

	for _, op := range []lostOp{
		{"signer add (API)", "app", "signer.add", "signer dave",
			api(http.MethodPost, "/api/v1/repositories/prod/app/signers", map[string]string{
				"name": "dave", "public_key": keys["dave"], "repository_passphrase": trustPassphrase}),
			signers, func(s []string) bool { return slices.Contains(s, "dave") }, "is already a signer"},
		{"signer add (page)", "app", "signer.add", "signer erin",
			form("/repositories/prod/app/signers", url.Values{"signer": {"erin"}, "public_key": {keys["erin"]},
				"repository_passphrase": {trustPassphrase}}),
			signers, func(s []string) bool { return slices.Contains(s, "erin") }, "is already a signer"},
		{"signer revoke (API)", "app", "signer.revoke", "signer carol",
			api(http.MethodPost, "/api/v1/repositories/prod/app/signers/carol/revoke", map[string]string{
				"repository_passphrase": trustPassphrase, "confirm": "carol"}),
			signers, func(s []string) bool { return !slices.Contains(s, "carol") }, "earlier revocation took effect"},
		{"signer revoke (page)", "app", "signer.revoke", "signer dave",
			form("/repositories/prod/app/signers/dave/revoke", url.Values{"repository_passphrase": {trustPassphrase},
				"confirm": {"dave"}}),
			signers, func(s []string) bool { return !slices.Contains(s, "dave") }, "earlier revocation took effect"},
		{"tag revoke (API)", "app", "tag.revoke", "tag v1",
			api(http.MethodPost, "/api/v1/repositories/prod/app/tags/revoke", map[string]any{
				"tag": "v1", "keys": map[string]any{"targets": map[string]string{"passphrase": trustPassphrase}}}),
			tags, func(s []string) bool { return slices.Equal(s, []string{"v2"}) }, "earlier revocation took effect"},
		{"tag revoke (page)", "app", "tag.revoke", "tag v2",
			form("/repositories/prod/app/tags/revoke", url.Values{"tag": {"v2"}, "role_0": {"targets"},
				"pass_0": {trustPassphrase}}),
			tags, func(s []string) bool { return len(s) == 0 }, "earlier revocation took effect"},
		{"trust deletion (API)", "app", "trust.delete", "all trust data deleted",
			api(http.MethodDelete, "/api/v1/repositories/prod/app/trust", map[string]string{"confirm": "prod/app"}),
			signers, noTrust, ""},
		{"trust deletion (page)", "web", "trust.delete", "all trust data deleted",
			form("/repositories/prod/web/trust/delete", url.Values{"confirm": {"prod/web"}}),
			inspected(gunWeb, func(dockerRepoJSON) []string { return []string{"trust data"} }), noTrust, "deleted"},
	} {
		lw.lose(op, lw.gunOf(op.repo), outside)
	}
}

// lostOp is one change whose answer is lost.
type lostOp struct {
	name, repo      string // repo: the repository's name in prod
	action, subject string // its audit event: action, and a part of its detail
	// do sends the change (API: status and JSON; page: the page the form
	// leads to, after its redirect).
	do func() (int, string)
	// read reads what the change changes; shown tells whether it shows.
	read  func() []string
	shown func([]string) bool
	// retried is what the answer to a retry says ("" for a 204).
	retried string
}

func (o lostOp) viaPage() bool { return strings.HasSuffix(o.name, "(page)") }

// lose sends op with its answer lost, then checks what trustdeck says, the
// state, the audit, and a retry; outside is how many changes of prod/app
// were made outside trustdeck before.
func (lw lostWorld) lose(op lostOp, gun string, outside int) {
	t := lw.t
	t.Logf("--- %s: the answer is lost", op.name)
	before := lw.state(gun)
	dropped := lw.drop.dropped.Load()
	lw.drop.armed.Store(true)
	status, body := op.do()
	lw.drop.armed.Store(false)
	if lw.drop.dropped.Load() != dropped+1 {
		t.Fatalf("%s: no answer was lost (%d %s)", op.name, status, body)
	}
	if op.viaPage() {
		// The browser lands on the page that reads the current state,
		// with a caution: no error, no "failed".
		text := html.UnescapeString(body)
		if status != http.StatusOK || !strings.Contains(body, `class="warn"`) || !strings.Contains(text, lostReplyMessage) ||
			strings.Contains(strings.ToLower(text), "failed") {
			t.Errorf("%s: the page after the lost answer: %d, want a caution saying %q:\n%.4000s", op.name, status, lostReplyMessage, body)
		}
	} else {
		var e apiErrorReply
		if status != http.StatusGatewayTimeout || json.Unmarshal([]byte(body), &e) != nil ||
			e.Error.Code != "outcome_unknown" || !strings.Contains(e.Error.Message, lostReplyMessage) {
			t.Errorf("%s: the API's answer after the lost answer: %d %s, want 504 outcome_unknown saying %q", op.name, status, body, lostReplyMessage)
		}
	}
	changed := lw.state(gun)
	if changed == before {
		t.Fatalf("%s: the server did not apply the change (state %s)", op.name, changed)
	}
	if got := op.read(); !op.shown(got) {
		t.Errorf("%s: after a reload the change does not show: %v", op.name, got)
	}
	lw.expectAuditedOnce(op, outside)

	// The retry answers success and changes nothing.
	status, body = op.do()
	switch {
	case op.viaPage():
		if status != http.StatusOK || !strings.Contains(body, `class="notice"`) || !strings.Contains(html.UnescapeString(body), op.retried) {
			t.Errorf("%s: the page after the retry: %d, want a notice saying %q:\n%.4000s", op.name, status, op.retried, body)
		}
	case op.retried == "":
		if status != http.StatusNoContent {
			t.Errorf("%s: retry: %d %s, want 204", op.name, status, body)
		}
	default:
		var r struct {
			Already bool   `json:"already"`
			Message string `json:"message"`
		}
		if status != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || !r.Already || !strings.Contains(r.Message, op.retried) {
			t.Errorf("%s: retry: %d %s, want 200, already, saying %q", op.name, status, body, op.retried)
		}
	}
	if after := lw.state(gun); after != changed {
		t.Errorf("%s: the retry changed the trust data again: %s → %s", op.name, changed, after)
	}
	if got := op.read(); !op.shown(got) {
		t.Errorf("%s: after the retry: %v", op.name, got)
	}
	lw.expectAuditedOnce(op, outside)
}

// expectAuditedOnce waits for op's audit event by admin and checks that it
// is recorded once, and that nothing more was audited as made outside
// trustdeck (after a few more polls of the changefeed).
func (lw lostWorld) expectAuditedOnce(op lostOp, outside int) {
	lw.t.Helper()
	lw.waitForAudit("prod/"+op.repo, admin.name, op.action, 1, op.subject)
	if lw.external {
		time.Sleep(time.Second) // five polls
	}
	events := lw.audit("prod/" + op.repo)
	if n := countEventsBy(events, admin.name, op.action, op.subject); n != 1 {
		lw.t.Errorf("%s: %d %s events by admin of %q, want 1:\n%s", op.name, n, op.action, op.subject, eventList(events))
	}
	want := 0
	if op.repo == "app" {
		want = outside
	}
	if n := countEventsBy(events, "outside trustdeck", "", ""); n != want {
		lw.t.Errorf("%s: %d changes audited as made outside trustdeck, want %d:\n%s", op.name, n, want, eventList(events))
	}
}

// waitForAudit waits until repo's audit holds n events of action by actor
// whose detail holds subject.
func (lw lostWorld) waitForAudit(repo, actor, action string, n int, subject ...string) {
	lw.t.Helper()
	waitFor(lw.t, fmt.Sprintf("%d %s event(s) by %s in the audit of %s", n, action, actor, repo), 15*time.Second, func() (bool, string) {
		events := lw.audit(repo)
		return countEventsBy(events, actor, action, strings.Join(subject, "")) >= n, eventList(events)
	})
}

// countEventsBy counts the events by actor (of action, if given) whose
// detail holds subject.
func countEventsBy(events []auditEvent, actor, action, subject string) int {
	n := 0
	for _, e := range events {
		if e.Actor == actor && (action == "" || e.Action == action) && strings.Contains(e.Detail, subject) {
			n++
		}
	}
	return n
}
