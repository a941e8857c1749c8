package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trustdeck/trustdeck/internal/notaryserver"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// TestObserveRequest: requests count under notary-server's labels (a
// status not resolved in advance too), publishes and refusals by source,
// and trustdeck's in-process requests only as publishes.
func TestObserveRequest(t *testing.T) {
	m := New()
	m.ObserveRequest(notaryserver.OpGetRole, false, 200, 300, 1200, 2*time.Millisecond)
	m.ObserveRequest(notaryserver.OpGetRole, false, 418, 300, 10, time.Millisecond)
	m.ObserveRequest(notaryserver.OpUpdateTUF, false, 200, 5000, 2, 30*time.Millisecond)
	m.ObserveRequest(notaryserver.OpUpdateTUF, false, 400, 5000, 80, 30*time.Millisecond)
	m.ObserveRequest(notaryserver.OpUpdateTUF, true, 200, 5000, 2, 30*time.Millisecond)
	m.ObserveRequest(notaryserver.OpUpdateTUF, true, 429, 5000, 2, 30*time.Millisecond)
	out := scrape(t, m)
	for _, want := range []string{
		`notary_server_http_requests_total{code="200",method="get",operation="GetRole"} 1`,
		`notary_server_http_requests_total{code="418",method="get",operation="GetRole"} 1`,
		`notary_server_http_requests_total{code="200",method="post",operation="UpdateTUF"} 1`,
		`notary_server_http_requests_total{code="400",method="post",operation="UpdateTUF"} 1`,
		`notary_server_http_request_duration_microseconds_sum{operation="GetRole"} 3000`,
		`notary_server_http_response_size_bytes_sum{operation="GetRole"} 1210`,
		`notary_server_http_request_duration_microseconds_count{operation="UpdateTUF"} 2`,
		`trustdeck_notary_publishes_total{source="client"} 1`,
		`trustdeck_notary_publishes_total{source="trustdeck"} 1`,
		`trustdeck_notary_publish_refusals_total{reason="invalid",source="client"} 1`,
		`trustdeck_notary_publish_refusals_total{reason="rate_limited",source="trustdeck"} 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestObserveRequestAllocatesNothing: counting a request of a status
// resolved in advance allocates nothing (the GET path is benchmarked).
func TestObserveRequestAllocatesNothing(t *testing.T) {
	m := New()
	if n := testing.AllocsPerRun(1000, func() {
		m.ObserveRequest(notaryserver.OpGetRole, false, 200, 300, 1200, time.Millisecond)
		m.ObserveRequest(notaryserver.OpGetRoleByHash, false, 304, 300, 0, time.Millisecond)
	}); n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest(notaryserver.OpGetRole, false, 200, 300, 1200, time.Millisecond)
		}
	})
}
