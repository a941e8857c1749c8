package interop

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/testserver"
)

// scrape reads trustdeck's /metrics (--metrics-addr): each sample by its
// name and labels as exposed ("name{a=\"x\"}"), and the HELP and TYPE lines.
func (w *world) scrape() (samples map[string]float64, meta map[string]bool) {
	w.t.Helper()
	if w.s.App.MetricsAddr == nil {
		w.t.Fatal("trustdeck has no metrics listener (--metrics-addr)")
	}
	resp, err := http.Get("http://" + w.s.App.MetricsAddr.String() + "/metrics")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		w.t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	samples, meta = map[string]float64{}, map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			meta[line] = true
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			samples[line[:i]] = v
		}
	}
	return samples, meta
}

// TestMetricsCountNotaryOperations: /metrics, scraped around a real notary
// publish and pull, shows notary-server's request counters moving under
// notary-server's names, help texts and labels (UpdateTUF, GetRole, …),
// with the Go runtime, process and trustdeck's own metrics beside them.
func TestMetricsCountNotaryOperations(t *testing.T) {
	w := newWorld(t, "--metrics-addr", "127.0.0.1:0")
	w.s.MustCreateRepo(t, "prod", "metrics")
	gun := w.gun("prod", "metrics")
	before, _ := w.scrape()

	laptop := w.newMachine("laptop")
	laptop.mustNotary(jeff, "init", gun, "-p")
	laptop.mustNotary(jeff, "add", gun, "v1", w.writeFile("manifest.json", []byte(`{"schemaVersion":2}`)))
	laptop.mustNotary(jeff, "publish", gun)
	ci := w.newMachine("ci")
	if out := ci.mustNotary(reader, "list", gun); !strings.Contains(out.stdout, "v1") {
		t.Fatalf("notary list does not show v1:\n%s", out)
	}

	after, meta := w.scrape()
	moved := func(series string) float64 { return after[series] - before[series] }
	const (
		updates = `notary_server_http_requests_total{code="200",method="post",operation="UpdateTUF"}`
		gets    = `notary_server_http_requests_total{code="200",method="get",operation="GetRole"}`
		keys    = `notary_server_http_requests_total{code="200",method="get",operation="GetKey"}`
	)
	if n := moved(updates); n != 2 {
		t.Errorf("%s moved by %v, want 2 (init -p, publish)", updates, n)
	}
	if n := moved(gets); n < 3 {
		t.Errorf("%s moved by %v, want at least 3 (the pull reads root, timestamp, snapshot, targets)", gets, n)
	}
	if n := moved(keys); n < 1 {
		t.Errorf("%s moved by %v, want at least 1 (init reads the server's timestamp key)", keys, n)
	}
	if n := moved(`notary_server_http_requests_total{code="404",method="get",operation="GetRole"}`); n < 1 {
		t.Errorf("the 404 of init's first read (no root.json yet) is not counted: %v", n)
	}
	if n := after[`notary_server_http_request_duration_microseconds_count{operation="UpdateTUF"}`]; n < 2 {
		t.Errorf("UpdateTUF durations observed: %v, want 2", n)
	}
	if after[`notary_server_http_request_duration_microseconds{operation="GetRole",quantile="0.99"}`] <= 0 {
		t.Error("no GetRole latency quantile")
	}
	if n := after[`notary_server_http_response_size_bytes_sum{operation="GetRole"}`]; n < 1000 {
		t.Errorf("GetRole response bytes %v: the metadata served is more", n)
	}
	if n := moved(`trustdeck_notary_publishes_total{source="client"}`); n != 2 {
		t.Errorf("publishes by clients moved by %v, want 2", n)
	}
	for _, line := range []string{
		"# HELP notary_server_http_requests_total Total number of HTTP requests made.",
		"# TYPE notary_server_http_requests_total counter",
		"# HELP notary_server_http_request_duration_microseconds The HTTP request latencies in microseconds.",
		"# TYPE notary_server_http_request_duration_microseconds summary",
		"# HELP notary_server_http_request_size_bytes The HTTP request sizes in bytes.",
		"# HELP notary_server_http_response_size_bytes The HTTP response sizes in bytes.",
		"# TYPE go_goroutines gauge",
		"# TYPE process_cpu_seconds_total counter",
		"# TYPE trustdeck_inspection_duration_seconds histogram",
		"# TYPE trustdeck_repositories gauge",
	} {
		if !meta[line] {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	// The summariser reads the new trust data in the background: the
	// repository gauges and the inspection latency follow.
	deadline := time.Now().Add(30 * time.Second)
	for {
		after, _ = w.scrape()
		if after[`trustdeck_repositories{state="signed"}`] == 1 && after[`trustdeck_inspection_duration_seconds_count{result="ok"}`] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("repositories by state: signed %v, unknown %v, none %v; inspections %v",
				after[`trustdeck_repositories{state="signed"}`], after[`trustdeck_repositories{state="unknown"}`],
				after[`trustdeck_repositories{state="none"}`], after[`trustdeck_inspection_duration_seconds_count{result="ok"}`])
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCIRunnerPublishesUnderDefaultLimits: twenty notary CLIs publishing at
// once from one address (a CI runner), as one account, each asking for its
// tokens and writing, are all served under the default rate limits: none
// refused, every publish counted.
func TestCIRunnerPublishesUnderDefaultLimits(t *testing.T) {
	w := newWorld(t, "--metrics-addr", "127.0.0.1:0")
	const jobs = 20
	machines := make([]*machine, jobs)
	for i := range jobs {
		w.s.MustCreateRepo(t, "prod", fmt.Sprintf("job%d", i))
		machines[i] = w.newMachine(fmt.Sprintf("job%d", i))
	}
	results := make([]result, jobs)
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Go(func() { results[i] = machines[i].notary(jeff, "init", w.gun("prod", fmt.Sprintf("job%d", i)), "-p") })
	}
	wg.Wait()
	for i, r := range results {
		if !r.ok() {
			t.Errorf("job %d failed:\n%s", i, r)
		}
	}
	after, _ := w.scrape()
	if n := after[`trustdeck_notary_publishes_total{source="client"}`]; n != jobs {
		t.Errorf("publishes counted: %v, want %d", n, jobs)
	}
	for series, n := range after {
		if strings.HasPrefix(series, "trustdeck_rate_limited_total") && n > 0 {
			t.Errorf("%s = %v: the default limits refused a CI runner", series, n)
		}
	}
	if n := after[`notary_server_http_requests_total{code="429",method="post",operation="UpdateTUF"}`]; n != 0 {
		t.Errorf("%v publishes answered 429", n)
	}
}

// getMeta GETs a metadata path of the Notary API with token and extra
// headers.
func (w *world) getMeta(path, token string, header ...string) (*http.Response, string) {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.s.URL+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := w.s.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestNotaryCacheSemantics: the embedded Notary API sends notary-server's
// Cache-Control (current metadata: short and revalidated; by checksum or
// version: long; both set by flags), an ETag of the content and a
// Last-Modified HTTP date, and answers a repeated conditional GET with 304.
func TestNotaryCacheSemantics(t *testing.T) {
	w := newWorld(t, "--notary-cache-current-max-age", "1m", "--notary-cache-consistent-max-age", "48h")
	w.s.MustCreateRepo(t, "prod", "cached")
	gun := w.gun("prod", "cached")
	w.newMachine("laptop").mustNotary(jeff, "init", gun, "-p")
	tok := w.token(reader, "repository:"+gun+":pull").token
	base := "/v2/" + gun + "/_trust/tuf/"

	resp, body := w.getMeta(base+"root.json", tok)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("root.json: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=60, s-maxage=60, must-revalidate" {
		t.Errorf("current metadata Cache-Control %q", cc)
	}
	sum := sha256Hex([]byte(body))
	for _, consistent := range []string{base + "1.root.json", base + "root." + sum + ".json"} {
		resp, body := w.getMeta(consistent, tok, "Accept-Encoding", "identity")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", consistent, resp.StatusCode, body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=172800, s-maxage=172800" {
			t.Errorf("%s: Cache-Control %q", consistent, cc)
		}
		etag, lastModified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		if etag != `"`+sha256Hex([]byte(body))+`"` {
			t.Errorf("%s: ETag %q, want the sha256 of the content", consistent, etag)
		}
		modified, err := http.ParseTime(lastModified)
		if err != nil || time.Since(modified) > time.Hour || time.Until(modified) > time.Minute {
			t.Errorf("%s: Last-Modified %q is no HTTP date of the publish (%v)", consistent, lastModified, err)
		}
		for _, cond := range [][]string{
			{"If-None-Match", etag},
			{"If-None-Match", `"other", ` + etag},
			{"If-Modified-Since", lastModified},
			{"If-Modified-Since", modified.Add(time.Hour).Format(http.TimeFormat)},
		} {
			resp, body := w.getMeta(consistent, tok, "Accept-Encoding", "identity", cond[0], cond[1])
			if resp.StatusCode != http.StatusNotModified || body != "" {
				t.Errorf("%s with %s: %s: %d (%d bytes), want 304 without a body", consistent, cond[0], cond[1], resp.StatusCode, len(body))
			}
			if resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") == "" {
				t.Errorf("%s: the 304 lacks ETag or Cache-Control: %v", consistent, resp.Header)
			}
		}
		for _, cond := range [][]string{
			{"If-None-Match", `"other"`},
			{"If-Modified-Since", modified.Add(-time.Hour).Format(http.TimeFormat)},
		} {
			if resp, body := w.getMeta(consistent, tok, "Accept-Encoding", "identity", cond[0], cond[1]); resp.StatusCode != http.StatusOK || `"`+sha256Hex([]byte(body))+`"` != etag {
				t.Errorf("%s with %s: %s: %d, want 200 with the file", consistent, cond[0], cond[1], resp.StatusCode)
			}
		}
	}

	// 0 forbids caching, as in notary-server.
	w2 := newWorld(t, "--notary-cache-consistent-max-age", "0")
	w2.s.MustCreateRepo(t, "prod", "cached")
	gun2 := w2.gun("prod", "cached")
	w2.newMachine("laptop").mustNotary(jeff, "init", gun2, "-p")
	tok2 := w2.token(reader, "repository:"+gun2+":pull").token
	resp, body = w2.getMeta("/v2/"+gun2+"/_trust/tuf/1.root.json", tok2)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "max-age=0, no-cache, no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Errorf("with --notary-cache-consistent-max-age 0: %d Cache-Control %q Pragma %q", resp.StatusCode,
			resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"))
	}
	if resp, _ := w2.getMeta("/v2/"+gun2+"/_trust/tuf/root.json", tok2); resp.Header.Get("Cache-Control") != "public, max-age=300, s-maxage=300, must-revalidate" {
		t.Errorf("default current Cache-Control %q, want notary-server's 300 s", resp.Header.Get("Cache-Control"))
	}
}

// BenchmarkGetTimestampMetrics is BenchmarkGetTimestamp with the metrics
// off and on (--metrics-addr): what counting notary-server's request
// metrics costs the hottest GET.
func BenchmarkGetTimestampMetrics(b *testing.B) {
	for _, mode := range []struct {
		name  string
		flags []string
	}{{"off", nil}, {"on", []string{"--metrics-addr", "127.0.0.1:0"}}} {
		b.Run(mode.name, func(b *testing.B) {
			s := testserver.Start(b, mode.flags...)
			s.MustCreateUser(b, jeff.name, jeff.pass, "prod", "write")
			s.MustCreateRepo(b, "prod", "nginx")
			gun := s.Addr + "/prod/nginx"
			benchRepository(b, s, gun)
			benchGetTimestamp(b, s, gun)
		})
	}
}
