package notaryclient

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Explain names the cause of real network failures of the Transport.
func TestExplain(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(time.Second)
		}
	}))
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	closed := closedURL(t)
	_, port, _ := net.SplitHostPort(tlsSrv.Listener.Addr().String())

	untrusted, err := New(Options{}) // system roots only
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := New(Options{CAFile: caFile(t, tlsSrv)})
	if err != nil {
		t.Fatal(err)
	}
	impatient, err := New(Options{CAFile: caFile(t, tlsSrv), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		rt   http.RoundTripper
		url  string
		want string
	}{
		{"unknown CA", untrusted, tlsSrv.URL + "/", "not signed by a trusted CA"},
		{"wrong host name", trusted, "https://localhost:" + port + "/", "not valid for that host name"},
		{"not TLS", trusted, "https://" + strings.TrimPrefix(plain.URL, "http://") + "/", "does not speak TLS"},
		{"refused", trusted, closed + "/", "connection was refused"},
		{"timeout", impatient, tlsSrv.URL + "/slow", "did not answer in time"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, c.url, nil)
		resp, err := c.rt.RoundTrip(req)
		if err == nil {
			// The timeout may strike while the body is read.
			_, err = resp.Body.Read(make([]byte, 1))
			resp.Body.Close()
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if got := Explain(err); !strings.Contains(got, c.want) {
			t.Errorf("%s: Explain(%v) = %q, want %q", c.name, err, got, c.want)
		}
	}
	if got := Explain(http.ErrBodyNotAllowed); got != "" {
		t.Errorf("an unrelated error explained as %q", got)
	}
}
