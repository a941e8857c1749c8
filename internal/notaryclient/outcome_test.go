package notaryclient

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/errs"
)

// A change that failed before it could reach the server is known not to be
// applied; one that was sent and not answered (the connection closed, a
// timeout, a gateway's 502/504) may have been: its outcome is unknown.
func TestMayHaveReached(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server takes the whole change
		switch r.URL.Path {
		case "/v2/reg/drop/_trust/tuf/":
			panic(http.ErrAbortHandler) // and the answer is lost
		case "/v2/reg/slow/_trust/tuf/":
			time.Sleep(time.Second)
		case "/v2/reg/gateway/_trust/tuf/":
			w.WriteHeader(http.StatusGatewayTimeout)
		case "/v2/reg/refused/_trust/tuf/":
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer tlsSrv.Close()
	closed := closedURL(t)
	untrusted, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := New(Options{CAFile: caFile(t, tlsSrv), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		rt      http.RoundTripper
		method  string
		url     string
		reached bool
	}{
		{"refused connection", trusted, "POST", closed + "/v2/reg/app/_trust/tuf/", false},
		{"unknown CA", untrusted, "POST", tlsSrv.URL + "/v2/reg/app/_trust/tuf/", false},
		{"connection closed after the change", trusted, "POST", tlsSrv.URL + "/v2/reg/drop/_trust/tuf/", true},
		{"deletion closed after the change", trusted, "DELETE", tlsSrv.URL + "/v2/reg/drop/_trust/tuf/", true},
		{"no answer in time", trusted, "POST", tlsSrv.URL + "/v2/reg/slow/_trust/tuf/", true},
		{"gateway timeout", trusted, "POST", tlsSrv.URL + "/v2/reg/gateway/_trust/tuf/", true},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, c.url, strings.NewReader("change"))
		resp, err := c.rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: answered %d, want an error", c.name, resp.StatusCode)
			continue
		}
		if got := MayHaveReached(err); got != c.reached {
			t.Errorf("%s: MayHaveReached(%v) = %v, want %v", c.name, err, got, c.reached)
		}
		if c.reached {
			if e, ok := errs.As(OutcomeUnknown("reg/app", err)); !ok || e.Kind != errs.OutcomeUnknown ||
				!strings.Contains(e.Message, "may have applied this change; reload to see") {
				t.Errorf("%s: OutcomeUnknown = %v", c.name, e)
			}
		}
	}
	// An answer is an answer: a refusal, and a gateway's 504 to a read.
	for _, c := range []struct{ method, path string }{{"POST", "/v2/reg/refused/_trust/tuf/"}, {"GET", "/v2/reg/gateway/_trust/tuf/"}} {
		req, _ := http.NewRequest(c.method, tlsSrv.URL+c.path, nil)
		resp, err := trusted.RoundTrip(req)
		if err != nil {
			t.Errorf("%s %s: %v, want the server's answer", c.method, c.path, err)
			continue
		}
		resp.Body.Close()
	}
}

// closedURL is an https URL of a local port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "https://" + ln.Addr().String()
}
