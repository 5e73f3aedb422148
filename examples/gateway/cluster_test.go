package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/mobile"
	mobileapp "github.com/clave-go/clave/mobile/app"
	"github.com/clave-go/clave/saml"
)

// TestTwoGatewayProcessesOnPostgresActAsOne runs two gateway processes, A
// and B, on one PostgreSQL database with one signing key, PIN secret,
// services file and citizens, and one public URL (A's address), as behind a
// load balancer. The test is the balancer: it sends each request of a
// browser or a phone to the process it picks, with the public URL and Host.
// Whatever one process stored, the other acts on:
//
//   - Cl@ve PIN: a login started on A, its PIN sent by A, is finished on B
//     with a response the agency accepts; the wrong PINs typed on either
//     count for both, so that both ask for the phone after ten; a login
//     finished on one cannot be finished on the other, nor its request
//     replayed there.
//   - Cl@ve Móvil: a phone activated through B's app API, and talking to B
//     only, confirms a login pushed from A; the waiting page's event stream
//     on A learns of it at once, the wake-up crossing processes through
//     PostgreSQL, and the login ends with a response the agency accepts.
func TestTwoGatewayProcessesOnPostgresActAsOne(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway as child processes: skipped in -short mode")
	}
	dbURL := servicetest.PostgresURL(t)
	dir := t.TempDir()
	// The children are this test binary, which runs the gateway's main
	// when asked to (see TestMain).
	bin, err := os.Executable()
	require.NoError(t, err)
	keyFile, certFile := writeSigningPair(t, dir, "cluster test gateway")
	citizens := filepath.Join(dir, "citizens.json")
	require.NoError(t, os.WriteFile(citizens, []byte(killSeed), 0o600))
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	ag := newLiveAgency(t)

	c := &cluster{a: freeLoopbackAddr(t), b: freeLoopbackAddr(t), agency: ag.url}
	for c.b == c.a {
		c.b = freeLoopbackAddr(t)
	}
	c.public = "http://" + c.a
	gatewayAt := func(addr string) *child {
		return &child{t: t, bin: bin,
			args: []string{"-addr", addr, "-base-url", c.public, "-key", keyFile, "-cert", certFile,
				"-sp-config", ag.spConfig, "-citizens", citizens, "-personas=false"},
			// Secrets by the environment, out of the process list.
			env: []string{"CLAVE_DB=" + dbURL, "CLAVE_PIN_SECRET=" + hex.EncodeToString(secret)}}
	}
	gwA, gwB := gatewayAt(c.a), gatewayAt(c.b)
	gwA.killAtEnd("A")
	gwB.killAtEnd("B")
	gwA.start()
	gwB.start()

	// The agency trusts the certificate it fetched at the public URL: the
	// one B signs with too.
	shared := fetchCertificates(t, c.public)
	require.Equal(t, fingerprint(shared[0]), fingerprint(fetchCertificates(t, "http://"+c.b)[0]), "one signing certificate")
	trustShowingMethod(t, ag, c.public)

	t.Run("PIN", c.pin)
	t.Run("Movil", c.movil)
}

// cluster is two gateway processes behind one public URL, and the agency
// registered at them.
type cluster struct {
	public string // the public URL: A's address
	a, b   string // the processes' addresses
	agency string // the agency's URL
}

// browser is a citizen's browser whose requests to the public URL go to
// the process at addr until the test moves it with frontend.use.
func (c *cluster) browser(t *testing.T, addr string) (*killBrowser, *frontend) {
	b := newKillBrowser(t, c.public, c.agency)
	fe := newFrontend(c.a, addr)
	b.http.Transport = fe
	return b, fe
}

// metrics is the exposition text of the process at addr.
func (c *cluster) metrics(t *testing.T, addr string) string {
	t.Helper()
	status, text := get(t, "http://"+addr+"/metrics")
	require.Equal(t, http.StatusOK, status)
	return text
}

func (c *cluster) pin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Started on A: the agency's request, A's chooser, the PIN sent by A
	// and read on A's inbox.
	br, lb := c.browser(t, c.a)
	flow := br.toPINForm(ctx, br.get(ctx, c.agency+"/tramite"))
	verify := br.requestPIN(ctx, flow, killA)
	require.NotContains(t, verify.body, `name="phone"`, "no failures yet")
	pin := br.pinFromInbox(ctx, killA.phone)

	// Five wrong PINs answered by A, five by B. The failures are the
	// citizen's, in the database: each process counts the ten, and asks for
	// the phone past them.
	for i := range 10 {
		if i == 5 {
			lb.use(c.b)
		}
		p := br.fill(ctx, verify, "/pin/verify", url.Values{"pin": {wrongPIN(pin, i)}})
		require.Equal(t, http.StatusUnauthorized, p.status, "attempt %d: %s", i, snippetOf(p.body))
	}
	for name, addr := range map[string]string{"A": c.a, "B": c.b} {
		lb.use(addr)
		p := br.get(ctx, flow.url.String())
		require.Equal(t, http.StatusOK, p.status, snippetOf(p.body))
		assert.Contains(t, p.body, `name="phone"`, "%s counts the other's five failures with its own", name)
	}

	// Finished on B: the PIN A sent, with the phone, verified by B; the
	// agency accepts the response B signed.
	lb.use(c.b)
	form := br.get(ctx, flow.url.String())
	done := br.fill(ctx, form, "/pin/verify", url.Values{"pin": {pin}, "phone": {killA.phone}})
	require.Contains(t, done.body, `name="SAMLResponse"`, "B verifies the PIN A sent: %s", snippetOf(done.body))
	page := br.submit(ctx, done)
	assert.Contains(t, page.body, "logged in: "+killA.id+" by "+string(saml.MethodAEATPIN))
	// Each process did its part: A opened the login, B answered it, and
	// each refused five PINs.
	const (
		started   = `clave_gateway_logins_started_total`
		succeeded = `clave_gateway_logins_total{method="PIN",outcome="success"}`
		refused   = `clave_gateway_http_requests_total{route="POST /login/{login}/pin/verify",status="401"}`
	)
	textA, textB := c.metrics(t, c.a), c.metrics(t, c.b)
	assert.Equal(t, []string{"1", "0", "5"}, []string{metricValue(textA, started), metricValue(textA, succeeded), metricValue(textA, refused)},
		"A: started, answered, wrong PINs")
	assert.Equal(t, []string{"0", "1", "5"}, []string{metricValue(textB, started), metricValue(textB, succeeded), metricValue(textB, refused)},
		"B: started, answered, wrong PINs")

	// A does not finish again the login B finished.
	lb.use(c.a)
	p := br.fill(ctx, form, "/pin/verify", url.Values{"pin": {pin}, "phone": {killA.phone}})
	assert.Equal(t, http.StatusNotFound, p.status, "a login finished on B stays finished on A")
	assert.NotContains(t, p.body, `name="SAMLResponse"`)

	// Nor does B a login A finished, nor take its request again.
	br2, lb2 := c.browser(t, c.a)
	agencyForm := br2.get(ctx, c.agency+"/tramite")
	request := hiddenInputs(agencyForm.body)
	require.NotEmpty(t, request.Get("SAMLRequest"))
	verify2 := br2.requestPIN(ctx, br2.toPINForm(ctx, agencyForm), killB)
	pin2 := br2.pinFromInbox(ctx, killB.phone)
	done = br2.fill(ctx, verify2, "/pin/verify", url.Values{"pin": {pin2}})
	require.Contains(t, done.body, `name="SAMLResponse"`, snippetOf(done.body))
	page = br2.submit(ctx, done)
	assert.Contains(t, page.body, "logged in: "+killB.id+" by "+string(saml.MethodAEATPIN))
	lb2.use(c.b)
	p = br2.fill(ctx, verify2, "/pin/verify", url.Values{"pin": {pin2}})
	assert.Equal(t, http.StatusNotFound, p.status, "a login finished on A stays finished on B")
	assert.NotContains(t, p.body, `name="SAMLResponse"`)
	p = br2.post(ctx, c.public+saml.ServiceProviderPath, request)
	assert.Equal(t, http.StatusBadRequest, p.status, "B refuses the request A answered")
	assert.Contains(t, p.body, "already received")
}

var (
	movilMethodRe     = regexp.MustCompile(`<a class="method" id="method-CLVMOVIL" href="([^"]+)">`)
	movilCodeRe       = regexp.MustCompile(`<span class="code" id="verification-code">([^<]+)</span>`)
	movilActivationRe = regexp.MustCompile(`activación de Cl@ve Móvil es ([0-9]{6})`)
)

// movilWaitForSignal bounds the wait for a wake-up from the other process:
// it comes in milliseconds, while without it the waiter would sleep until
// its long poll ends (30 s) or its request expires (minutes).
const movilWaitForSignal = 10 * time.Second

func (c *cluster) movil(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	who := killC

	// The phone talks to B only. It is activated through B's app API with
	// the code B sent by SMS.
	phoneHTTP := &http.Client{Transport: newFrontend(c.a, c.b), Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// The key derivation's cost is a test's, not a phone's.
	client := &mobileapp.Client{BaseURL: c.public, HTTP: phoneHTTP, KDF: mobileapp.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}}
	_, err := client.RequestActivationCode(ctx, who.id, who.contrast)
	require.NoError(t, err)
	inboxB, _ := c.browser(t, c.b)
	sms := inboxB.get(ctx, c.public+inboxPath+"?to="+url.QueryEscape(who.phone))
	m := movilActivationRe.FindStringSubmatch(html.UnescapeString(sms.body))
	require.NotNil(t, m, "no activation code on B's inbox: %s", snippetOf(sms.body))
	passphrase := []byte("unlock factor of the cluster test's phone")
	phone, err := client.ActivateSMS(ctx, who.id, m[1], passphrase)
	require.NoError(t, err)
	s, err := phone.Unlock(passphrase)
	require.NoError(t, err)
	defer s.Lock()

	// The browser, on A: the agency's request, A's chooser, Cl@ve Móvil
	// without QR.
	br, _ := c.browser(t, c.a)
	chooser := br.submit(ctx, br.get(ctx, c.agency+"/tramite"))
	m = movilMethodRe.FindStringSubmatch(chooser.body)
	require.NotNil(t, m, "no Cl@ve Móvil on the chooser: %s", snippetOf(chooser.body))
	movil, err := chooser.url.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	noQR := br.get(ctx, movil.String()+"noqr")
	require.Equal(t, http.StatusOK, noQR.status, snippetOf(noQR.body))

	// The phone's long poll waits on B as the login is pushed on A: a
	// signal of A wakes it (when the poll is there first, as it nearly
	// always is; otherwise B finds the request at once).
	type polled struct {
		reqs []mobileapp.Request
		err  error
	}
	poll := make(chan polled, 1)
	go func() {
		reqs, err := s.Pending(ctx, 30*time.Second)
		poll <- polled{reqs, err}
	}()
	waiting := br.fill(ctx, noQR, "/push", url.Values{"document": {who.id}, "contrast": {who.contrast}})
	require.Equal(t, http.StatusOK, waiting.status, snippetOf(waiting.body))
	m = movilCodeRe.FindStringSubmatch(waiting.body)
	require.NotNil(t, m, "no verification code on the waiting page: %s", snippetOf(waiting.body))
	shown := strings.TrimSpace(html.UnescapeString(m[1]))

	// The waiting page listens on A.
	events := br.events(ctx, movil.String()+"events")
	require.Equal(t, "state pending", nextEvent(t, events, movilWaitForSignal, "the waiting page's first event"))

	var req mobileapp.Request
	select {
	case got := <-poll:
		require.NoError(t, got.err)
		require.Len(t, got.reqs, 1, "the login pushed on A, pending on B")
		req = got.reqs[0]
	case <-time.After(movilWaitForSignal):
		t.Fatalf("the phone's long poll on B did not learn of the login pushed on A within %s", movilWaitForSignal)
	}
	assert.Equal(t, shown, req.VerificationCode)
	assert.Equal(t, mobile.KindPush, req.Kind)
	confirmed := time.Now()
	require.NoError(t, s.ConfirmCode(ctx, req, shown), "confirmed through B")

	// A's stream learns of B's confirmation from the database's
	// notification: it reads the store only when woken (or at the
	// request's expiry, minutes away).
	assert.Equal(t, "state confirmed", nextEvent(t, events, movilWaitForSignal, "A's event stream telling of the confirmation on B"))
	t.Logf("the event stream on A told of the confirmation on B %s after it", time.Since(confirmed).Round(time.Millisecond))

	// The page follows on, on A, to the response the agency accepts.
	done := br.get(ctx, movil.String())
	require.Contains(t, done.body, `name="SAMLResponse"`, snippetOf(done.body))
	page := br.submit(ctx, done)
	assert.Contains(t, page.body, "logged in: "+who.id+" by "+string(saml.MethodMovil))
	textA, textB := c.metrics(t, c.a), c.metrics(t, c.b)
	assert.NotContains(t, textA, `route="`+mobileapp.APIPath, "the phone never called A")
	assert.Contains(t, textB, `route="`+mobileapp.APIPath, "the phone called B")
	if metricValue(textB, `clave_gateway_http_requests_total{route="/app/v1/",status="hijacked"}`) == "1" {
		t.Log("the phone's long poll was waiting on B when the login was pushed on A, and A's signal woke it")
	}
	assert.Equal(t, "1", metricValue(textA, `clave_gateway_logins_total{method="MOVIL",outcome="success"}`), "answered by A")
}

// frontend is the load balancer in front of the cluster, as a test drives
// it: a request for the public address goes to the process chosen last,
// its URL and Host header unchanged but for the address dialled; any other
// request goes as it is.
type frontend struct {
	public string // the public host:port
	to     atomic.Pointer[string]
	next   *http.Transport
}

func newFrontend(public, to string) *frontend {
	f := &frontend{public: public, next: &http.Transport{}}
	f.use(to)
	return f
}

// use sends the next requests for the public address to the process at
// addr.
func (f *frontend) use(addr string) { f.to.Store(&addr) }

func (f *frontend) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != f.public {
		return f.next.RoundTrip(r)
	}
	out := r.Clone(r.Context())
	out.URL.Host = *f.to.Load()
	out.Host = f.public
	resp, err := f.next.RoundTrip(out)
	if resp != nil {
		resp.Request = r // the browser saw the public URL
	}
	return resp, err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (f *frontend) CloseIdleConnections() { f.next.CloseIdleConnections() }

// events opens the server-sent event stream at u and returns its events as
// "<event> <data>", comments left out; the channel is closed when the
// stream ends or ctx does.
func (b *killBrowser) events(ctx context.Context, u string) <-chan string {
	b.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(b.t, err)
	resp, err := b.http.Do(req)
	require.NoError(b.t, err)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
		b.t.Fatalf("no event stream at %s: %d %s", u, resp.StatusCode, body)
	}
	out := make(chan string)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		var event, data string
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case line == "" && event != "":
				select {
				case out <- event + " " + data:
				case <-ctx.Done():
					return
				}
				event, data = "", ""
			}
		}
	}()
	return out
}

// nextEvent is the next event of events, which must come within d; what
// names it in a failure.
func nextEvent(t *testing.T, events <-chan string, d time.Duration, what string) string {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case ev, ok := <-events:
		require.True(t, ok, "%s: the event stream ended", what)
		return ev
	case <-timer.C:
		t.Fatalf("%s: no event within %s", what, d)
		return ""
	}
}

// trustShowingMethod points ag at the gateway at base, trusting its
// certificates, as liveAgency.trust does; its pages name the login's method
// too: "logged in: <id> by <method>".
func trustShowingMethod(t *testing.T, ag *liveAgency, base string) {
	t.Helper()
	cookieSecret := make([]byte, 32)
	_, _ = rand.Read(cookieSecret)
	client, err := clave.New(clave.Config{
		Environment: clave.Custom, GatewayURL: base + saml.ServiceProviderPath, GatewayIssuer: base,
		GatewayCertificates: saml.StaticCertificates(fetchCertificates(t, base)), SPID: liveSPID, ApplicationName: "Sede ops",
		ACSURL: ag.url + "/clave/acs", Key: ag.key, Certificate: ag.cert, CookieSecret: cookieSecret,
		LoA: saml.LoALow, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/clave/acs", client.ACSHandler())
	mux.Handle("/", client.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "logged in: %s by %s", id.PersonIdentifier, id.Method)
	})))
	var h http.Handler = mux
	ag.handler.Store(&h)
}

// writeSigningPair writes a new signing key and its certificate, as PEM
// files in dir, for gateways that must share them.
func writeSigningPair(t *testing.T, dir, name string) (keyFile, certFile string) {
	t.Helper()
	key, cert, err := selfSigned(name, 48*time.Hour)
	require.NoError(t, err)
	keyPEM, err := privateKeyPEM(key)
	require.NoError(t, err)
	keyFile, certFile = filepath.Join(dir, "signing-key.pem"), filepath.Join(dir, "signing-cert.pem")
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
	require.NoError(t, os.WriteFile(certFile, certificatePEM(cert), 0o600))
	return keyFile, certFile
}

// killAtEnd kills c when the test ends, whether it passed or failed, and
// then shows c's log if it failed.
func (c *child) killAtEnd(name string) {
	c.t.Cleanup(func() {
		c.kill()
		if c.t.Failed() {
			c.t.Logf("log of gateway %s:\n%s", name, c.out.String())
		}
	})
}
