package gateway

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// metrics are the gateway's Prometheus series, in a registry of their own
// so that several gateways can live in one process (tests, embedding).
type metrics struct {
	reg       *prometheus.Registry
	verifs    *prometheus.CounterVec
	verifDur  prometheus.Histogram
	requests  *prometheus.CounterVec
	reqDur    *prometheus.HistogramVec
	byReason  map[string]prometheus.Counter
	fallbacks prometheus.Counter
	routes    sync.Map // route name -> *routeMetrics
	vc        *verifierCollector
}

func newMetrics(v *verify.Verifier, revs Revocations) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.verifs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oktafed_gateway_verifications_total",
		Help: "Token checks by result: ok, or the reason the token was refused.",
	}, []string{"result"})
	m.verifDur = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "oktafed_gateway_verification_duration_seconds",
		Help:    "Time to verify a token and apply the route's rule.",
		Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5, 2},
	})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oktafed_gateway_requests_total",
		Help: "Requests by route and status code.",
	}, []string{"route", "code"})
	m.reqDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "oktafed_gateway_request_duration_seconds",
		Help:    "Request time including the upstream, by route.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route"})
	m.byReason = map[string]prometheus.Counter{}
	for _, r := range []string{"ok", "missing_token", "invalid_request", "expired", "bad_signature", "unknown_issuer", "unknown_key", "audience", "inactive", "insufficient_scope", "forbidden", "keys_unavailable", "revoked", "invalid_token", "error"} {
		m.byReason[r] = m.verifs.WithLabelValues(r)
	}
	m.fallbacks = m.verifs.WithLabelValues("invalid_token")
	m.vc = &verifierCollector{revs: revs}
	m.vc.v.Store(v)
	m.reg.MustRegister(m.verifs, m.verifDur, m.requests, m.reqDur, m.vc,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// setVerifier points the key and cache series at a reloaded
// configuration's verifier.
func (m *metrics) setVerifier(v *verify.Verifier) { m.vc.v.Store(v) }

func (m *metrics) observe(r guard.Result) {
	c, ok := m.byReason[guard.Reason(r.Err)]
	if !ok {
		c = m.fallbacks
	}
	c.Inc()
	m.verifDur.Observe(r.Duration.Seconds())
}

func (m *metrics) request(route string, code int, d time.Duration) {
	m.forRoute(route).request(code, d)
}

// routeMetrics holds one route's series, resolved once: looking series up
// by label values hashes the labels and takes a lock on every request.
type routeMetrics struct {
	name  string
	m     *metrics
	dur   prometheus.Observer
	codes [600]atomic.Pointer[prometheus.Counter]
}

func (m *metrics) forRoute(name string) *routeMetrics {
	if rm, ok := m.routes.Load(name); ok {
		return rm.(*routeMetrics)
	}
	rm, _ := m.routes.LoadOrStore(name, &routeMetrics{name: name, m: m, dur: m.reqDur.WithLabelValues(name)})
	return rm.(*routeMetrics)
}

func (rm *routeMetrics) request(code int, d time.Duration) {
	rm.dur.Observe(d.Seconds())
	if code < 0 || code >= len(rm.codes) {
		rm.m.requests.WithLabelValues(rm.name, strconv.Itoa(code)).Inc()
		return
	}
	c := rm.codes[code].Load()
	if c == nil {
		cc := rm.m.requests.WithLabelValues(rm.name, strconv.Itoa(code))
		c = &cc
		rm.codes[code].Store(c)
	}
	(*c).Inc()
}

// verifierCollector reads verify.Stats at scrape time, so the hot path
// pays nothing for these series.
type verifierCollector struct {
	v    atomic.Pointer[verify.Verifier] // swapped by a reload
	revs Revocations
}

var (
	descJWKSAge = prometheus.NewDesc("oktafed_gateway_jwks_age_seconds",
		"Seconds since the keys in use were fetched from the issuer's JWK Set.", []string{"provider"}, nil)
	descJWKSFetches = prometheus.NewDesc("oktafed_gateway_jwks_fetches_total",
		"JWK Set downloads attempted, failed ones included.", []string{"provider"}, nil)
	descCacheHits = prometheus.NewDesc("oktafed_gateway_token_cache_hits_total",
		"Tokens answered from the verified-token cache.", nil, nil)
	descCacheMisses = prometheus.NewDesc("oktafed_gateway_token_cache_misses_total",
		"Tokens that had to be verified in full.", nil, nil)
	descCacheRatio = prometheus.NewDesc("oktafed_gateway_token_cache_hit_ratio",
		"Cache hits over lookups since start; use rate() of the two counters for a window.", nil, nil)
	descRevoked = prometheus.NewDesc("oktafed_gateway_revoked_tokens",
		"Token ids currently on the revocation list.", nil, nil)
)

func (c *verifierCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJWKSAge, descJWKSFetches, descCacheHits, descCacheMisses, descCacheRatio, descRevoked} {
		ch <- d
	}
}

func (c *verifierCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.v.Load().Stats()
	now := time.Now()
	for _, p := range s.Providers {
		if !p.Remote {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descJWKSFetches, prometheus.CounterValue, float64(p.KeyFetches), p.Name)
		if !p.KeysFetchedAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(descJWKSAge, prometheus.GaugeValue, now.Sub(p.KeysFetchedAt).Seconds(), p.Name)
		}
	}
	ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(s.CacheHits))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(s.CacheMisses))
	ratio := 0.0
	if t := s.CacheHits + s.CacheMisses; t > 0 {
		ratio = float64(s.CacheHits) / float64(t)
	}
	ch <- prometheus.MustNewConstMetric(descCacheRatio, prometheus.GaugeValue, ratio)
	ch <- prometheus.MustNewConstMetric(descRevoked, prometheus.GaugeValue, float64(c.revs.Len()))
}
