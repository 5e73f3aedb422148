package gateway

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/saml"
)

const boundSPID = "S0000000E_E00000000"

// boundWorld is a gateway on loopback with one registered service, and that
// service's SDK client to sign genuine requests.
type boundWorld struct {
	gw     *Gateway
	srv    *httptest.Server
	client *clave.Client
	http   *http.Client
	logs   *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	boundKeysOnce       sync.Once
	boundGW, boundSP    *pki.KeyPair
	errBoundKeys        error
	boundClockStartedAt = time.Now().UTC().Truncate(time.Second)
)

func newBoundWorld(t *testing.T) *boundWorld {
	t.Helper()
	boundKeysOnce.Do(func() {
		nb := boundClockStartedAt.Add(-time.Hour)
		if boundGW, errBoundKeys = pki.Generate("bound gateway", 2048, nb, 48*time.Hour); errBoundKeys == nil {
			boundSP, errBoundKeys = pki.Generate("bound sp", 2048, nb, 48*time.Hour)
		}
	})
	require.NoError(t, errBoundKeys)
	now := func() time.Time { return boundClockStartedAt }
	w := &boundWorld{logs: &lockedBuffer{}}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { w.gw.ServeHTTP(rw, r) }))
	t.Cleanup(w.srv.Close)
	acs := "https://agency.test/clave/acs"
	var err error
	w.gw, err = New(context.Background(), Config{
		BaseURL: w.srv.URL, SigningKey: boundGW.Key, SigningCertificate: boundGW.Certificate, Now: now,
		PINSecret: []byte(strings.Repeat("p", 32)),
		Logger:    slog.New(slog.NewTextHandler(w.logs, nil)),
		ServiceProviders: []ServiceProvider{{SPID: boundSPID, Certificates: []*x509.Certificate{boundSP.Certificate},
			ACSURLs: []string{acs}}},
	})
	require.NoError(t, err)
	w.client, err = clave.New(clave.Config{
		Environment: clave.Custom, GatewayURL: w.gw.Endpoint(), GatewayIssuer: w.gw.Issuer(),
		GatewayCertificates: saml.StaticCertificates(w.gw.TrustedCertificates()),
		SPID:                boundSPID, ApplicationName: "bound", ACSURL: acs,
		Key: boundSP.Key, Certificate: boundSP.Certificate, CookieSecret: []byte(strings.Repeat("s", 32)),
		Now: now, LoA: saml.LoALow,
	})
	require.NoError(t, err)
	// Not a browser: the chooser the gateway redirects to is not needed.
	w.http = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w
}

// post sends a SAMLRequest form to the gateway over loopback.
func (w *boundWorld) post(t testing.TB, message []byte, relay string) int {
	resp, err := w.http.PostForm(w.gw.Endpoint(), url.Values{
		saml.FieldSAMLRequest: {base64.StdEncoding.EncodeToString(message)}, saml.FieldRelayState: {relay},
	})
	if !assert.NoError(t, err) {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// genuine starts a login with a request the registered service signed.
func (w *boundWorld) genuine(t testing.TB) {
	form, _, err := w.client.NewLogin(clave.LoginOptions{})
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, w.post(t, form.Message, form.RelayState), "a genuine login starts")
}

// junkMarker is in every junk body, so that a log showing a body shows it.
const junkMarker = "JUNK-BODY-MARKER"

// junk is an unsigned AuthnRequest claiming spid, padded to about 4 KB.
func junk(spid string, i int) []byte {
	return fmt.Appendf(nil, `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_junk%d" Version="2.0" ProviderName="%s;junk" IssueInstant="2026-01-01T00:00:00Z"><samlp:Extensions>%s%s</samlp:Extensions></samlp:AuthnRequest>`,
		i, spid, junkMarker, strings.Repeat("x", 4<<10))
}

// TestInspectionKeepsOnlyAuthenticated: two thousand junk requests claiming
// random SPIDs (and some the registered one, unsigned) among a few genuine
// ones: the inspector holds the genuine ones only, within its byte budget,
// and the junk is logged without its bodies.
func TestInspectionKeepsOnlyAuthenticated(t *testing.T) {
	w := newBoundWorld(t)
	const junkPosts = 2_000 // the load command (examples/load -scenario junk) sends 10,000
	w.genuine(t)
	genuinePosts := 1

	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				spid := fmt.Sprintf("S%08dE_E%08d", rand.IntN(1e8), i)
				if i%10 == 0 {
					spid = boundSPID // the registered service, but not signed by it
				}
				assert.Equal(t, http.StatusBadRequest, w.post(t, junk(spid, i), "r"))
			}
		})
	}
	for i := range junkPosts {
		if i%(junkPosts/4) == junkPosts/8 {
			w.genuine(t)
			genuinePosts++
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	w.genuine(t)
	genuinePosts++

	assert.Equal(t, []string{boundSPID}, w.gw.InspectedServices())
	kept := w.gw.Inspect(boundSPID)
	require.Equal(t, genuinePosts, len(kept), "the genuine requests only")
	for _, e := range kept {
		assert.Equal(t, "AuthnRequest", e.Kind)
		assert.True(t, e.Accepted(), "only the genuine requests")
		assert.NotContains(t, e.XML, junkMarker)
	}
	w.gw.inspect.mu.Lock()
	held, sum := w.gw.inspect.bytes, 0
	for _, list := range w.gw.inspect.bySP {
		for _, e := range list {
			sum += e.size()
		}
	}
	w.gw.inspect.mu.Unlock()
	assert.Equal(t, sum, held, "the byte count matches what is held")
	assert.LessOrEqual(t, held, inspectBudget)
	t.Logf("inspector holds %d exchanges, %d bytes of messages, after %d junk posts", len(kept), held, junkPosts)

	logs := w.logs.String()
	assert.Equal(t, junkPosts, strings.Count(logs, "not kept for inspection"), "each junk request is logged")
	assert.NotContains(t, logs, junkMarker, "never with its body")
}

// TestInspectorBounds: the oldest exchange goes first across services when
// over the byte budget, each service keeps its last inspectPerSP, a message
// larger than the budget is not kept, and what is dropped is not pinned by
// the list's backing array.
func TestInspectorBounds(t *testing.T) {
	in := &inspector{budget: 10_000}
	raw := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	for i := range 30 {
		in.record(Exchange{SPID: []string{"A", "B", "C"}[i%3], FlowID: fmt.Sprint(i), raw: raw(1000)})
		require.LessOrEqual(t, in.bytes, 10_000)
	}
	var kept []string
	for _, spid := range []string{"A", "B", "C"} {
		for _, e := range in.list(spid) {
			kept = append(kept, e.FlowID)
		}
	}
	assert.ElementsMatch(t, []string{"20", "21", "22", "23", "24", "25", "26", "27", "28", "29"}, kept,
		"the ten newest, whatever their service")

	in.record(Exchange{SPID: "A", FlowID: "huge", raw: raw(20_000)})
	huge := in.list("A")[0]
	assert.Equal(t, "huge", huge.FlowID)
	assert.Contains(t, huge.XML, "not kept")
	assert.LessOrEqual(t, in.bytes, 10_000)

	small := &inspector{}
	for i := range inspectPerSP + 10 {
		small.record(Exchange{SPID: "A", FlowID: fmt.Sprint(i), raw: raw(10)})
	}
	list := small.bySP["A"]
	require.Len(t, list, inspectPerSP)
	assert.Equal(t, fmt.Sprint(inspectPerSP+9), small.list("A")[0].FlowID, "newest first")
	for _, e := range list[len(list):cap(list)] {
		assert.Nil(t, e.raw, "a dropped message is not kept alive by the backing array")
	}
	assert.Equal(t, inspectPerSP*10, small.bytes)

	for i := range inspectMaxSPs + 5 {
		small.record(Exchange{SPID: fmt.Sprint("SP", i), raw: raw(10)})
	}
	assert.Len(t, small.services(), inspectMaxSPs)
	assert.Equal(t, inspectMaxSPs*10, small.bytes)
}

// TestPendingLoginSize measures what a login started and left pending costs
// the gateway in memory: the flow, the request ID remembered against replays
// and its share of the inspection buffer (bounded apart).
func TestPendingLoginSize(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hundreds of logins")
	}
	w := newBoundWorld(t)
	const logins = 300
	w.genuine(t) // warm up the connection, the pools and the first allocations

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range logins {
		w.genuine(t) // the agency's signing leaves only garbage behind
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(w.gw)

	w.gw.inspect.mu.Lock()
	inspected := w.gw.inspect.bytes
	w.gw.inspect.mu.Unlock()
	perLogin := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / logins
	t.Logf("a pending login costs %d bytes (%d logins; %d bytes of inspected messages in all, bounded apart)",
		perLogin, logins, inspected)
	assert.Less(t, perLogin, int64(4<<10), "a pending login costs a couple of kilobytes")
}
