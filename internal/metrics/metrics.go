// Package metrics is trustdeck's Prometheus instrumentation, served on its
// own plain-HTTP listener (--metrics-addr): notary-server's request metrics
// under its names and labels (so that dashboards and alerts made for
// notary-server keep working), the Go runtime and process collectors, and
// trustdeck's own: publishes and refusals, inspection latency, errors of
// the clients of an external Notary server and of the registry, changefeed
// lag, repositories by trust state and expiring roles.
//
// The embedded Notary API's GET path is hot: every series a request touches
// is resolved when Metrics is built, so that counting a request is a few
// atomic adds and no label lookup.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trustdeck/trustdeck/internal/notaryserver"
)

// notary-server's summaries: client_golang 0.9's defaults, which
// notary-server v0.7.0 used.
var notaryObjectives = map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001}

// preresolved are the status codes whose request counters are resolved in
// advance; others are looked up when they happen.
var preresolved = []int{200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 413, 429, 500, 502, 503, 504}

// Metrics holds every metric trustdeck exposes, in its own registry.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec // notary_server_http_requests_total
	ops      [notaryserver.NumOperations]opMetrics

	publishes  [2]prometheus.Counter // by source: client, trustdeck
	refusals   *prometheus.CounterVec
	refusedBy  [2]map[int]prometheus.Counter // by source, by status
	inspection [2]prometheus.Observer        // ok, error
	clientErrs *prometheus.CounterVec
	limited    *prometheus.CounterVec
}

// opMetrics are the series of one notary-server operation.
type opMetrics struct {
	byCode            map[int]prometheus.Counter
	duration          prometheus.Observer // microseconds
	reqSize, respSize prometheus.Observer
}

// New returns the metrics, with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registerNotary()

	publishes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trustdeck_notary_publishes_total",
		Help: "Updates of trust data the embedded Notary server accepted (source: client for Notary clients, trustdeck for its own pages and API).",
	}, []string{"source"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trustdeck_notary_publish_refusals_total",
		Help: "Updates of trust data the embedded Notary server refused, by reason and source.",
	}, []string{"reason", "source"})
	for i, src := range sources {
		m.publishes[i] = publishes.WithLabelValues(src)
		m.refusedBy[i] = map[int]prometheus.Counter{}
		for _, code := range preresolved {
			if code >= 400 {
				m.refusedBy[i][code] = m.refusals.WithLabelValues(refusalReason(code), src)
			}
		}
	}
	inspection := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "trustdeck_inspection_duration_seconds",
		Help:    "Time to read and verify a repository's trust data (trustdeck's pages, API, summaries), by result.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"result"})
	m.inspection = [2]prometheus.Observer{inspection.WithLabelValues("ok"), inspection.WithLabelValues("error")}
	m.clientErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trustdeck_client_errors_total",
		Help: "Failed requests of trustdeck to an external server (server: notary, registry), by cause: tls, unreachable, timeout, gateway (a 502/504 answer), server_error (another 5xx answer) or other.",
	}, []string{"server", "cause"})
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "trustdeck_rate_limited_total",
		Help: "Requests refused with 429 by the rate limits, by endpoint (login, token, notary_write, notary_read) and by what was over its limit (address, account).",
	}, []string{"endpoint", "key"})
	m.reg.MustRegister(publishes, m.refusals, inspection, m.clientErrs, m.limited)
	return m
}

// sources label publishes: index 0 for Notary clients, 1 for trustdeck.
var sources = [2]string{"client", "trustdeck"}

func (m *Metrics) registerNotary() {
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "notary_server", Subsystem: "http", Name: "requests_total",
		Help: "Total number of HTTP requests made.",
	}, []string{"operation", "method", "code"})
	summary := func(name, help string) *prometheus.SummaryVec {
		return prometheus.NewSummaryVec(prometheus.SummaryOpts{
			Namespace: "notary_server", Subsystem: "http", Name: name, Help: help,
			Objectives: notaryObjectives,
		}, []string{"operation"})
	}
	duration := summary("request_duration_microseconds", "The HTTP request latencies in microseconds.")
	reqSize := summary("request_size_bytes", "The HTTP request sizes in bytes.")
	respSize := summary("response_size_bytes", "The HTTP response sizes in bytes.")
	m.reg.MustRegister(m.requests, duration, reqSize, respSize)
	for op := notaryserver.OpNone + 1; op < notaryserver.NumOperations; op++ {
		om := &m.ops[op]
		om.byCode = make(map[int]prometheus.Counter, len(preresolved))
		for _, code := range preresolved {
			om.byCode[code] = m.requests.WithLabelValues(op.String(), op.Method(), strconv.Itoa(code))
		}
		om.duration = duration.WithLabelValues(op.String())
		om.reqSize = reqSize.WithLabelValues(op.String())
		om.respSize = respSize.WithLabelValues(op.String())
	}
}

// ObserveRequest counts a request of the embedded Notary API
// (notaryserver.Observer). trustdeck's own in-process requests are no HTTP
// requests: they count only as publishes and refusals.
func (m *Metrics) ObserveRequest(op notaryserver.Operation, inProcess bool, status, requestBytes, responseBytes int, took time.Duration) {
	if op == notaryserver.OpUpdateTUF {
		src := 0
		if inProcess {
			src = 1
		}
		if status < 300 {
			m.publishes[src].Inc()
		} else if c, ok := m.refusedBy[src][status]; ok {
			c.Inc()
		} else {
			m.refusals.WithLabelValues(refusalReason(status), sources[src]).Inc()
		}
	}
	if inProcess {
		return
	}
	om := &m.ops[op]
	if c, ok := om.byCode[status]; ok {
		c.Inc()
	} else {
		m.requests.WithLabelValues(op.String(), op.Method(), strconv.Itoa(status)).Inc()
	}
	om.duration.Observe(float64(took) / float64(time.Microsecond))
	om.reqSize.Observe(float64(requestBytes))
	om.respSize.Observe(float64(responseBytes))
}

// refusalReason names why an update was answered status.
func refusalReason(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid" // the metadata failed validation
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "unknown_repository"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusTooManyRequests:
		return "rate_limited"
	}
	if status >= 500 {
		return "server_error"
	}
	return "other"
}

// ObserveInspection records how long reading a repository's trust data took.
func (m *Metrics) ObserveInspection(took time.Duration, err error) {
	i := 0
	if err != nil {
		i = 1
	}
	m.inspection[i].Observe(took.Seconds())
}

// RateLimited counts a request refused by a rate limit.
func (m *Metrics) RateLimited(endpoint, key string) {
	m.limited.WithLabelValues(endpoint, key).Inc()
}

// Handler serves the metrics in Prometheus' exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ChangefeedLag exposes the seconds since the external Notary server's
// changefeed was last read successfully (lastRead zero: never).
func (m *Metrics) ChangefeedLag(lastRead func() time.Time, started time.Time) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trustdeck_changefeed_lag_seconds",
		Help: "Seconds since trustdeck last read the external Notary server's changefeed successfully (since start when it never did): repositories pushed meanwhile are not discovered yet.",
	}, func() float64 {
		last := lastRead()
		if last.IsZero() {
			last = started
		}
		return time.Since(last).Seconds()
	}))
}

// TrustStates is what the repository gauges are read from at each scrape.
type TrustStates interface {
	// TrustStateCounts counts repositories by trust state ("unknown" for
	// those not summarised yet), and those whose nearest expiry is before
	// soon, by the role that expires then, separately for expired (before
	// now) and expiring ones.
	TrustStateCounts(ctx context.Context, now, soon time.Time) (states, expired, expiring map[string]int, err error)
}

// ExpiryWindow is how far ahead roles count as expiring.
const ExpiryWindow = 30 * 24 * time.Hour

// RepositoryStates exposes repositories by trust state and expiring roles,
// read from src when scraped.
func (m *Metrics) RepositoryStates(src TrustStates) {
	m.reg.MustRegister(&statesCollector{src: src})
}

var (
	reposDesc = prometheus.NewDesc("trustdeck_repositories",
		"Repositories in trustdeck's catalog by trust state (signed, unsigned, none, error; unknown until first summarised).",
		[]string{"state"}, nil)
	expiringDesc = prometheus.NewDesc("trustdeck_trust_expiring_repositories",
		"Repositories whose earliest-expiring trust metadata expires within 30 days (not yet expired), by that role: docker refuses their trust data once it expires.",
		[]string{"role"}, nil)
	expiredDesc = prometheus.NewDesc("trustdeck_trust_expired_repositories",
		"Repositories whose earliest-expiring trust metadata has expired, by that role.",
		[]string{"role"}, nil)
	scrapeErrDesc = prometheus.NewDesc("trustdeck_repositories_scrape_error",
		"1 when the repository gauges could not be read from the database at this scrape.", nil, nil)
)

type statesCollector struct{ src TrustStates }

func (c *statesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- reposDesc
	ch <- expiringDesc
	ch <- expiredDesc
	ch <- scrapeErrDesc
}

func (c *statesCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	states, expired, expiring, err := c.src.TrustStateCounts(ctx, now, now.Add(ExpiryWindow))
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, failed)
	if err != nil {
		return
	}
	for _, st := range []string{"signed", "unsigned", "none", "error", "unknown"} {
		ch <- prometheus.MustNewConstMetric(reposDesc, prometheus.GaugeValue, float64(states[st]), st)
	}
	for role, n := range expiring {
		ch <- prometheus.MustNewConstMetric(expiringDesc, prometheus.GaugeValue, float64(n), role)
	}
	for role, n := range expired {
		ch <- prometheus.MustNewConstMetric(expiredDesc, prometheus.GaugeValue, float64(n), role)
	}
}

// CountErrors wraps rt so that its failed requests to server ("notary",
// "registry") are counted by cause: cause names an error's (a transport
// failure; "" counts as "other"), a 502/504 answer counts as "gateway",
// another 5xx as "server_error". Requests the caller cancelled count for
// nothing.
func (m *Metrics) CountErrors(server string, rt http.RoundTripper, cause func(error) string) http.RoundTripper {
	return &countingTransport{rt: rt, server: server, cause: cause, m: m}
}

type countingTransport struct {
	rt     http.RoundTripper
	server string
	cause  func(error) string
	m      *Metrics
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	switch {
	case err != nil:
		if req.Context().Err() == context.Canceled {
			break
		}
		kind := t.cause(err)
		if kind == "" {
			kind = "other"
		}
		t.m.clientErrs.WithLabelValues(t.server, kind).Inc()
	case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout:
		t.m.clientErrs.WithLabelValues(t.server, "gateway").Inc()
	case resp.StatusCode >= 500:
		t.m.clientErrs.WithLabelValues(t.server, "server_error").Inc()
	}
	return resp, err
}
