package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

// metricsNamespace prefixes the gateway's own metrics.
const metricsNamespace = "clave_gateway"

// metrics counts what the gateway does (as its gateway.Observer) and the
// HTTP requests it serves, in a registry of its own beside the Go runtime's
// and the process's collectors; /metrics serves it to Prometheus.
type metrics struct {
	reg           *prometheus.Registry
	loginsStarted prometheus.Counter
	logins        *prometheus.CounterVec
	loginDuration *prometheus.HistogramVec
	lockouts      *prometheus.CounterVec
	storeErrors   *prometheus.CounterVec
	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	pending       *pendingLogins
}

// loginBuckets span a login from the quickest persona (under a second) to
// the gateway's 30-minute flow timeout; most take 10 s to 2 min (typing a
// DNI, reading an SMS, confirming on the phone).
var loginBuckets = []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}

// newMetrics registers the gateway's metrics; now is the clock of the
// pending logins' expiry.
func newMetrics(now func() time.Time) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), pending: newPendingLogins(now)}
	m.loginsStarted = prometheus.NewCounter(prometheus.CounterOpts{Namespace: metricsNamespace, Name: "logins_started_total",
		Help: "Logins opened by a verified AuthnRequest."})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: "logins_total",
		Help: "Logins answered, by the method that ended them (none: cancelled at the chooser) and outcome (success, cancelled, failed, error)."},
		[]string{"method", "outcome"})
	m.loginDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metricsNamespace, Name: "login_duration_seconds",
		Help: "Time from a login's AuthnRequest to its Response posted back, by method.", Buckets: loginBuckets},
		[]string{"method"})
	m.lockouts = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: "lockouts_total",
		Help: "Citizens' credentials blocked by failures, by method (PIN: the citizen's Cl@ve PIN; PERMANENTE: a password or activation code)."},
		[]string{"method"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: "store_errors_total",
		Help: "Requests answered with an error because storage failed, by component (flows, pin, movil, permanente, pin_api)."},
		[]string{"component"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: "http_requests_total",
		Help: "HTTP requests served, by route pattern and status (hijacked: a waiting page or long poll taken over from net/http)."},
		[]string{"route", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metricsNamespace, Name: "http_request_duration_seconds",
		Help:    "Time to serve an HTTP request, by route pattern (until the handler returns: a hijacked one's wait is not counted).",
		Buckets: prometheus.DefBuckets}, []string{"route"})
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: metricsNamespace, Name: "pending_logins",
		Help: "Logins started by this process, not answered and not expired."}, m.pending.count)
	m.reg.MustRegister(m.loginsStarted, m.logins, m.loginDuration, m.lockouts, m.storeErrors, m.httpRequests, m.httpDuration, pending,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The usual series exist from the start, at zero, so that rates and
	// alerts see them before the first event.
	for _, method := range []string{"PIN", "MOVIL", "PERMANENTE"} {
		for _, o := range []gateway.LoginOutcome{gateway.LoginSucceeded, gateway.LoginCancelled, gateway.LoginFailed, gateway.LoginError} {
			m.logins.WithLabelValues(method, string(o))
		}
		m.loginDuration.WithLabelValues(method)
	}
	m.lockouts.WithLabelValues("PIN")
	m.lockouts.WithLabelValues("PERMANENTE")
	return m
}

// handler serves the registry to Prometheus.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// request counts one HTTP request.
func (m *metrics) request(route, status string, d time.Duration) {
	m.httpRequests.WithLabelValues(route, status).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// LoginStarted implements gateway.Observer.
func (m *metrics) LoginStarted(_ context.Context, l gateway.ObservedLogin) {
	m.loginsStarted.Inc()
	m.pending.start(l.ID, l.ExpiresAt.Sub(l.StartedAt))
}

// LoginFinished implements gateway.Observer.
func (m *metrics) LoginFinished(_ context.Context, l gateway.ObservedLogin) {
	m.pending.finish(l.ID)
	method := methodLabel(l.Method)
	m.logins.WithLabelValues(method, string(l.Outcome)).Inc()
	m.loginDuration.WithLabelValues(method).Observe(l.Duration.Seconds())
}

// Lockout implements gateway.Observer.
func (m *metrics) Lockout(_ context.Context, method saml.Method) {
	m.lockouts.WithLabelValues(methodLabel(method)).Inc()
}

// StoreError implements gateway.Observer. The gateway logged the cause.
func (m *metrics) StoreError(_ context.Context, component string, _ error) {
	m.storeErrors.WithLabelValues(component).Inc()
}

// methodLabel names a method as people call it; a method of the gateway's
// Config.Methods keeps its ID (a fixed set, so the label stays bounded).
func methodLabel(m saml.Method) string {
	switch m {
	case saml.MethodAEATPIN:
		return "PIN"
	case saml.MethodMovil:
		return "MOVIL"
	case saml.MethodGISS:
		return "PERMANENTE"
	case "":
		return "none"
	}
	return string(m)
}

// pendingLogins tracks the logins this process started until they are
// answered or expire, for the pending_logins gauge. A login answered by
// another gateway sharing the database stays here until it expires.
type pendingLogins struct {
	now     func() time.Time
	mu      sync.Mutex
	expires map[string]time.Time
}

// maxPending bounds the tracked logins (only registered services can start
// one); past it the gauge stops growing rather than memory.
const maxPending = 1 << 20

func newPendingLogins(now func() time.Time) *pendingLogins {
	return &pendingLogins{now: now, expires: map[string]time.Time{}}
}

// start tracks login id for ttl, measured on this process's clock: the
// gateway's own can be moved by its test controls.
func (p *pendingLogins) start(id string, ttl time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.expires) < maxPending {
		p.expires[id] = p.now().Add(ttl)
	}
}

func (p *pendingLogins) finish(id string) {
	p.mu.Lock()
	delete(p.expires, id)
	p.mu.Unlock()
}

// count forgets the expired logins and counts the rest.
func (p *pendingLogins) count() float64 {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, exp := range p.expires {
		if !now.Before(exp) {
			delete(p.expires, id)
		}
	}
	return float64(len(p.expires))
}
