package handlers_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// headersThatVary differ between any two requests (or, for the backup's
// file name, carry the time).
var headersThatVary = []string{"Date", "X-Request-Id", "Content-Security-Policy", "Set-Cookie", "Content-Disposition"}

// TestHeadAnswersLikeGet: HEAD on every address that answers GET gets the
// status and headers of GET, without a body (RFC 9110, 9.3.2), signed in
// and anonymous.
func TestHeadAnswersLikeGet(t *testing.T) {
	s := testserver.Start(t)
	setUpPrincipals(t, s)
	paths := []string{"/healthz", "/readyz", "/static/css/app.css", "/login", "/nope"}
	for _, row := range matrix {
		p := strings.ReplaceAll(replaceSuffix(row.path, "head").(string), "{addr}", s.Addr)
		if row.method == "GET" && !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	admin := s.NewBrowser(t)
	admin.Login(pGlobal, testserver.AdminPassword)
	anon := s.NewBrowser(t)
	anon.Get("/login")
	for _, who := range []struct {
		name string
		b    *testserver.Browser
	}{{"admin", admin}, {"anonymous", anon}} {
		for _, p := range paths {
			t.Run(who.name+" "+p, func(t *testing.T) {
				get, _ := send(t, who.b.C, testserver.NewJSONRequest(t, "GET", s.URL+p, nil))
				head, body := send(t, who.b.C, testserver.NewJSONRequest(t, "HEAD", s.URL+p, nil))
				if head.StatusCode != get.StatusCode || body != "" {
					t.Fatalf("HEAD: %d with %d bytes, GET: %d", head.StatusCode, len(body), get.StatusCode)
				}
				for name := range get.Header {
					if name == "Content-Length" || slices.Contains(headersThatVary, name) {
						continue
					}
					if g, h := get.Header.Values(name), head.Header.Values(name); !slices.Equal(g, h) {
						t.Errorf("%s: GET %q, HEAD %q", name, g, h)
					}
				}
				for name := range head.Header {
					if _, ok := get.Header[name]; !ok && name != "Set-Cookie" {
						t.Errorf("HEAD sends %s, GET does not", name)
					}
				}
				if g, h := get.Header.Get("Content-Length"), head.Header.Get("Content-Length"); g != "" && h != "" && g != h {
					t.Errorf("Content-Length: GET %s, HEAD %s", g, h)
				}
			})
		}
	}
	// On the wire: nothing follows the header of a HEAD response.
	for _, p := range []string{"/login", "/static/css/app.css", "/nope"} {
		conn, err := tls.Dial("tcp", s.Addr, s.TLSConfig())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "HEAD "+p+" HTTP/1.1\r\nHost: "+s.Addr+"\r\nConnection: close\r\n\r\n")
		raw, err := io.ReadAll(conn)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		header, rest, _ := strings.Cut(string(raw), "\r\n\r\n")
		if !strings.HasPrefix(header, "HTTP/1.1 200 ") && !strings.HasPrefix(header, "HTTP/1.1 404 ") || rest != "" {
			t.Errorf("HEAD %s on the wire: %q, then %d bytes", p, header, len(rest))
		}
	}
	// The methods an address takes include HEAD wherever GET is one.
	resp, _ := send(t, admin.C, testserver.NewJSONRequest(t, "DELETE", s.URL+"/repositories/prod/app", nil))
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("DELETE on a page: %d, Allow %q, want 405 with GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if !strings.Contains(s.Logs.String(), "method=HEAD path=/login ") {
		t.Error("the request log does not show HEAD requests as HEAD")
	}
	noServerErrors(t, s)
}
