package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

// syncBuffer is a log's output that tests read while the gateway writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// jsonLines are the log's lines, decoded.
func (s *syncBuffer) jsonLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

// live is the gateway command running in this process, with an agency
// registered at it, logging JSON to logs.
type live struct {
	base, agency string
	logs         *syncBuffer
	// stop ends the gateway as SIGTERM would and returns run's error.
	stop func() error
	// stopped is closed at shutdown, once the listener is closed and the
	// waiting connections ended.
	stopped chan struct{}
}

// demo citizen of the embedded seed.
var maria = killCitizen{id: "12345678Z", contrast: "01/01/2030", phone: "+34600000001"}

func startLive(t *testing.T, env map[string]string, args ...string) *live {
	t.Helper()
	return startGateway(t, newLiveAgency(t), env, args...)
}

// liveAgency is a service on the SDK, registered at the gateways of a test
// by the services file spConfig.
type liveAgency struct {
	url, spConfig string
	key           crypto.Signer
	cert          *x509.Certificate
	handler       atomic.Pointer[http.Handler]
}

const liveSPID = "S0000000O_E00000007"

func newLiveAgency(t *testing.T) *liveAgency {
	t.Helper()
	dir := t.TempDir()
	ag := &liveAgency{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := ag.handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "agency not ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	ag.url = srv.URL
	key, cert, err := selfSigned("ops test agency", 24*time.Hour)
	require.NoError(t, err)
	ag.key, ag.cert = key, cert
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sp.pem"), certificatePEM(cert), 0o600))
	ag.spConfig = filepath.Join(dir, "sp.json")
	require.NoError(t, os.WriteFile(ag.spConfig, []byte(fmt.Sprintf(
		`{"service_providers": [{"spid": %q, "name": "Sede ops", "certificates": ["sp.pem"], "acs_urls": [%q]}]}`,
		liveSPID, srv.URL+"/clave/acs")), 0o600))
	return ag
}

// trust points the agency at the gateway at base, trusting its certificates.
func (ag *liveAgency) trust(t *testing.T, base string) {
	t.Helper()
	client, err := clave.New(clave.Config{
		Environment: clave.Custom, GatewayURL: base + saml.ServiceProviderPath, GatewayIssuer: base,
		GatewayCertificates: saml.StaticCertificates(fetchCertificates(t, base)), SPID: liveSPID, ApplicationName: "Sede ops",
		ACSURL: ag.url + "/clave/acs", Key: ag.key, Certificate: ag.cert, CookieSecret: bytes.Repeat([]byte("c"), 32),
		LoA: saml.LoALow, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/clave/acs", client.ACSHandler())
	mux.Handle("/", client.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "logged in: %s", id.PersonIdentifier)
	})))
	var h http.Handler = mux
	ag.handler.Store(&h)
}

// startGateway runs the gateway command in this process with env as its
// environment, ag registered, logging JSON, and points ag at it.
func startGateway(t *testing.T, ag *liveAgency, env map[string]string, args ...string) *live {
	t.Helper()
	l := &live{agency: ag.url, logs: &syncBuffer{}, stopped: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	args = append([]string{"-addr", "127.0.0.1:0", "-sp-config", ag.spConfig, "-log-format", "json"}, args...)
	go func() {
		done <- runWith(ctx, args, runEnv{lookupEnv: envOf(env), stderr: l.logs, ready: ready,
			stopped: func() { close(l.stopped) }})
	}()
	var once sync.Once
	var runErr error
	l.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = fmt.Errorf("the gateway did not stop")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = l.stop() })
	select {
	case l.base = <-ready:
	case err := <-done:
		t.Fatalf("the gateway did not start: %v\n%s", err, l.logs)
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not start")
	}
	ag.trust(t, l.base)
	return l
}

// pinLogin logs who in with Cl@ve PIN, through the agency, and returns the
// PIN the inbox showed.
func (l *live) pinLogin(t *testing.T, who killCitizen) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newKillBrowser(t, l.base, l.agency)
	verify := b.requestPIN(ctx, b.toPINForm(ctx, b.get(ctx, l.agency+"/tramite")), who)
	pin := b.pinFromInbox(ctx, who.phone)
	done := b.fill(ctx, verify, "/pin/verify", url.Values{"pin": {pin}})
	page := b.submit(ctx, done)
	require.Contains(t, page.body, "logged in: "+who.id)
	return pin
}

// metricValue is the value of the sample line "name{labels} value" of the
// exposition text, or "" when there is none.
func metricValue(exposition, series string) string {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	if m := re.FindStringSubmatch(exposition); m != nil {
		return m[1]
	}
	return ""
}

func TestMetricsAfterALogin(t *testing.T) {
	secret := strings.Repeat("9f", 32)
	l := startLive(t, map[string]string{"CLAVE_PIN_SECRET": secret, "CLAVE_ADMIN_TOKEN": "an-admin-token-for-tests"})
	status, before := get(t, l.base+"/metrics")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "0", metricValue(before, `clave_gateway_logins_total{method="PIN",outcome="success"}`), "the series exist from the start")

	pin := l.pinLogin(t, maria)

	_, text := get(t, l.base+"/metrics")
	for series, want := range map[string]string{
		`clave_gateway_logins_started_total`:                                                   "1",
		`clave_gateway_logins_total{method="PIN",outcome="success"}`:                           "1",
		`clave_gateway_logins_total{method="PIN",outcome="failed"}`:                            "0",
		`clave_gateway_login_duration_seconds_count{method="PIN"}`:                             "1",
		`clave_gateway_pending_logins`:                                                         "0",
		`clave_gateway_lockouts_total{method="PIN"}`:                                           "0",
		`clave_gateway_http_requests_total{route="POST /Proxy2/ServiceProvider",status="303"}`: "1",
		`clave_gateway_http_requests_total{route="GET /login/{login}",status="200"}`:           "1",
	} {
		assert.Equal(t, want, metricValue(text, series), series)
	}
	assert.Contains(t, text, "go_goroutines ")
	assert.Contains(t, text, "process_open_fds ")
	assert.NotContains(t, text, maria.id)

	// What the gateway logged of the login holds no secret and no full
	// identifier: its lines name the citizen masked.
	logs := l.logs.String()
	for _, s := range []string{secret, "an-admin-token-for-tests", maria.id, maria.phone, pin} {
		assert.NotContains(t, logs, s)
	}
	assert.Contains(t, logs, "*****678Z")
}

func TestPendingLoginsGauge(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	m := newMetrics(func() time.Time { return now })
	ctx := context.Background()
	started := now
	for _, id := range []string{"a", "b", "c"} {
		m.LoginStarted(ctx, observedLogin(id, started))
	}
	assert.Equal(t, 3.0, m.pending.count())
	m.LoginFinished(ctx, observedLogin("b", started))
	assert.Equal(t, 2.0, m.pending.count())
	now = now.Add(30 * time.Minute)
	assert.Equal(t, 0.0, m.pending.count(), "expired unanswered")
	m.LoginFinished(ctx, observedLogin("a", started))
	assert.Equal(t, 0.0, m.pending.count(), "a late answer of an expired login")
}

func TestHealthAndReadiness(t *testing.T) {
	a, err := newApp(context.Background(), appConfig{baseURL: "http://127.0.0.1:9000", log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	srv := httptest.NewServer(a.handler)
	defer srv.Close()
	probe := func(path string) (int, map[string]string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		var body map[string]string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	status, body := probe("/healthz")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ok", body["status"])
	status, body = probe("/readyz")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ready", body["status"])

	// The database closed: not ready, still alive.
	require.NoError(t, a.Close())
	status, body = probe("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, map[string]string{"status": "unavailable", "reason": "database unavailable"}, body)
	status, _ = probe("/healthz")
	assert.Equal(t, http.StatusOK, status)

	// Shutting down wins over anything else.
	a.ready.drain()
	status, body = probe("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "shutting down", body["reason"])
}

// A database that does not answer within the timeout is not ready.
func TestReadinessTimesOut(t *testing.T) {
	rd := newReadiness(hangingDB{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rd.timeout = time.Millisecond
	w := httptest.NewRecorder()
	rd.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Contains(t, w.Body.String(), "database did not answer within 1ms")
}

type hangingDB struct{}

func (hangingDB) PingContext(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestRequestIDs(t *testing.T) {
	l := startLive(t, nil)
	send := func(id string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, l.base+saml.ServiceProviderPath, strings.NewReader("SAMLRequest=junk"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if id != "" {
			req.Header.Set(requestIDHeader, id)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		return resp
	}
	const mine = "req-7f3a_2.b:c"
	assert.Equal(t, mine, send(mine).Header.Get(requestIDHeader), "a well-formed ID is kept")
	made := send("").Header.Get(requestIDHeader)
	assert.Regexp(t, `^[A-Z2-7]{26}$`, made, "one is made when none came")
	forged := send(`x" injected="1`).Header.Get(requestIDHeader)
	assert.Regexp(t, `^[A-Z2-7]{26}$`, forged, "an ID with other characters is replaced")
	assert.Regexp(t, `^[A-Z2-7]{26}$`, send(strings.Repeat("a", 65)).Header.Get(requestIDHeader), "too long")
	assert.NotEqual(t, made, forged)

	// Every line logged while serving the request carries its ID: the
	// gateway's own, and the request's.
	var gatewayLine, requestLine bool
	for _, line := range l.logs.jsonLines(t) {
		if line["request_id"] != mine {
			continue
		}
		switch line["msg"] {
		case "gateway: request refused":
			gatewayLine = true
		case "http request":
			requestLine = true
			assert.Equal(t, "POST /Proxy2/ServiceProvider", line["route"])
			assert.Equal(t, "400", line["status"])
		}
	}
	assert.True(t, gatewayLine, "the gateway's line has the request ID:\n%s", l.logs)
	assert.True(t, requestLine, "the request's line has the request ID:\n%s", l.logs)
	assert.NotContains(t, l.logs.String(), "injected")
}

// At shutdown /readyz turns 503 and the listener closes at once, while a
// request in flight finishes and gets its whole answer.
func TestGracefulShutdownFinishesRequestsInFlight(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	entered, release := make(chan struct{}), make(chan struct{})
	rd := newReadiness(okDB{}, log)
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", rd)
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		fmt.Fprint(w, "finished")
	})
	stopped := make(chan struct{})
	s := &server{handler: instrument(mux, log, nil), maxConns: 64, shutdownTimeout: time.Minute, ready: rd, log: log,
		stopped: func() { close(stopped) }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.serve(ctx, ln) }()

	status, _ := get(t, "http://"+addr+"/readyz")
	require.Equal(t, http.StatusOK, status)
	type answer struct {
		status int
		body   string
		err    error
	}
	inFlight := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			inFlight <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inFlight <- answer{resp.StatusCode, string(b), err}
	}()
	<-entered

	cancel() // SIGTERM
	<-stopped
	w := httptest.NewRecorder()
	rd.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Contains(t, w.Body.String(), "shutting down")
	_, err = net.Dial("tcp", addr)
	assert.Error(t, err, "no new connections")
	select {
	case err := <-served:
		t.Fatalf("serve returned before the request in flight finished: %v", err)
	default:
	}

	close(release)
	got := <-inFlight
	require.NoError(t, got.err)
	assert.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, "finished", got.body)
	assert.NoError(t, <-served)
}

type okDB struct{}

func (okDB) PingContext(context.Context) error { return nil }

// A Cl@ve Móvil waiting page's event stream lives on a connection taken
// over from net/http, which http.Server.Shutdown neither waits for nor
// closes: the gateway closes it at shutdown, so the page reconnects, and
// shutting down does not wait for the login to end.
func TestShutdownEndsWaitingPages(t *testing.T) {
	l := startLive(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newKillBrowser(t, l.base, l.agency)
	chooser := b.submit(ctx, b.get(ctx, l.agency+"/tramite"))
	m := regexp.MustCompile(`<a class="method" id="method-CLVMOVIL" href="([^"]+)">`).FindStringSubmatch(chooser.body)
	require.NotNil(t, m, snippetOf(chooser.body))
	page, err := chooser.url.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, b.get(ctx, page.String()).status)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, page.String()+"events", nil)
	require.NoError(t, err)
	resp, err := b.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	stream := bufio.NewReader(resp.Body)
	first, err := stream.ReadString('\n')
	require.NoError(t, err)
	second, err := stream.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "event: state\ndata: pending\n", first+second)

	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream)
		ended <- err
	}()
	assert.NoError(t, l.stop(), "shutdown does not wait for the waiting page")
	select {
	case <-ended: // the stream ended: the page reconnects
	case <-ctx.Done():
		t.Fatal("the waiting page's stream was not closed")
	}
	assert.Contains(t, l.logs.String(), "waiting pages and long polls closed")
	assert.Contains(t, l.logs.String(), `"msg":"database closed"`)
}

func observedLogin(id string, started time.Time) gateway.ObservedLogin {
	return gateway.ObservedLogin{ID: id, StartedAt: started, ExpiresAt: started.Add(30 * time.Minute),
		Method: saml.MethodAEATPIN, Outcome: gateway.LoginSucceeded}
}
