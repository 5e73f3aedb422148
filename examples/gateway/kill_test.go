package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
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
	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/saml"
)

// The citizens of the kill test, seeded from a file of the test's own.
var (
	killA = killCitizen{id: "11111111H", contrast: "01/02/2031", phone: "+34600000011"}
	killB = killCitizen{id: "22222222J", contrast: "01/02/2031", phone: "+34600000012"}
	killC = killCitizen{id: "33333333P", contrast: "01/02/2031", phone: "+34600000013"}
)

type killCitizen struct{ id, contrast, phone string }

const killSeed = `{"citizens": [
 {"id": "11111111H", "valid_until": "2031-02-01", "issued_on": "", "support_number": "", "given_name": "ANA",
  "first_surname": "UNO", "second_surname": "", "date_of_birth": "1980-01-01", "phone": "+34600000011",
  "email": "a@example.es", "level": "advanced", "status": "active"},
 {"id": "22222222J", "valid_until": "2031-02-01", "issued_on": "", "support_number": "", "given_name": "BEA",
  "first_surname": "DOS", "second_surname": "", "date_of_birth": "1980-01-02", "phone": "+34600000012",
  "email": "b@example.es", "level": "advanced", "status": "active"},
 {"id": "33333333P", "valid_until": "2031-02-01", "issued_on": "", "support_number": "", "given_name": "CARLOS",
  "first_surname": "TRES", "second_surname": "", "date_of_birth": "1980-01-03", "phone": "+34600000013",
  "email": "c@example.es", "level": "advanced", "status": "active"}]}`

// TestKillNineLosesNothingAcknowledged runs the gateway binary on a file
// database, leaves a login halfway (a PIN requested and then mistyped ten
// times, so its flow, its pending PIN and the citizen's failure count are
// stored), finishes another login, keeps wrong PINs for a third citizen in
// flight, and kills the process with SIGKILL. The database then holds every
// acknowledged write, and the restarted gateway carries on: the halfway
// login finishes with its pending PIN (the phone now required, as after ten
// failures), the finished one cannot be finished or replayed again, and the
// service and the citizens are there.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway as a child process: skipped in -short mode")
	}
	killNineLosesNothingAcknowledged(t, filepath.Join(t.TempDir(), "gateway.db"))
}

// TestKillNineLosesNothingAcknowledgedOnPostgres is the kill test on
// PostgreSQL, the database gateways share: what the server acknowledged
// before the process died is there, and a gateway started again with the
// same signing key and PIN secret carries on.
func TestKillNineLosesNothingAcknowledgedOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway as a child process: skipped in -short mode")
	}
	dbURL := servicetest.PostgresURL(t)
	keyFile, certFile := writeSigningPair(t, t.TempDir(), "kill test gateway")
	killNineLosesNothingAcknowledged(t, dbURL, "-key", keyFile, "-cert", certFile)
}

// killNineLosesNothingAcknowledged is the kill test on db, a SQLite file or
// a PostgreSQL URL, with args added to the gateway's settings.
func killNineLosesNothingAcknowledged(t *testing.T, db string, args ...string) {
	dir := t.TempDir()
	// The child is this test binary, which runs the gateway's main when
	// asked to (see TestMain): the same code as the built command, without
	// a build in the test.
	bin, err := os.Executable()
	require.NoError(t, err)

	// The agency, in this process: its ACS is registered by -sp-config.
	var agency atomic.Pointer[http.Handler]
	agencySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := agency.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "agency not ready", http.StatusServiceUnavailable)
	}))
	defer agencySrv.Close()
	spKey, spCert, err := selfSigned("kill test agency", 24*time.Hour)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sp.pem"), certificatePEM(spCert), 0o600))
	const spid = "S0000000K_E00000009"
	spConfig := fmt.Sprintf(`{"service_providers": [{"spid": %q, "name": "Sede kill", "certificates": ["sp.pem"], "acs_urls": [%q]}]}`,
		spid, agencySrv.URL+"/clave/acs")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sp.json"), []byte(spConfig), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "citizens.json"), []byte(killSeed), 0o600))
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)

	addr := freeLoopbackAddr(t)
	base := "http://" + addr
	g := &child{t: t, bin: bin, args: append([]string{"-addr", addr, "-sp-config", filepath.Join(dir, "sp.json"),
		"-citizens", filepath.Join(dir, "citizens.json"), "-pin-secret", hex.EncodeToString(secret), "-personas=false"}, args...)}
	if isPostgres(db) {
		g.env = []string{"CLAVE_DB=" + db} // a URL with a password: not in the process list
	} else {
		g.args = append(g.args, "-db", db)
	}
	g.killAtEnd("gateway")
	g.start()

	certs := fetchCertificates(t, base)
	cookieSecret := make([]byte, 32)
	_, _ = rand.Read(cookieSecret)
	client, err := clave.New(clave.Config{
		Environment: clave.Custom, GatewayURL: base + saml.ServiceProviderPath, GatewayIssuer: base,
		GatewayCertificates: saml.StaticCertificates(certs), SPID: spid, ApplicationName: "Sede kill",
		ACSURL: agencySrv.URL + "/clave/acs", Key: spKey, Certificate: spCert, CookieSecret: cookieSecret, LoA: saml.LoALow,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/clave/acs", client.ACSHandler())
	mux.Handle("/", client.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "logged in: %s", id.PersonIdentifier)
	})))
	var h http.Handler = mux
	agency.Store(&h)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// B logs in all the way; the request the agency sent is kept, to
	// replay it after the restart.
	b := newKillBrowser(t, base, agencySrv.URL)
	bForm := b.get(ctx, agencySrv.URL+"/tramite")
	bRequest := hiddenInputs(bForm.body)
	require.NotEmpty(t, bRequest.Get("SAMLRequest"))
	bFlow := b.toPINForm(ctx, bForm)
	bVerify := b.requestPIN(ctx, bFlow, killB)
	pinB := b.pinFromInbox(ctx, killB.phone)
	done := b.fill(ctx, bVerify, "/pin/verify", url.Values{"pin": {pinB}})
	require.Contains(t, done.body, `name="SAMLResponse"`)
	page := b.submit(ctx, done)
	require.Contains(t, page.body, "logged in: "+killB.id)

	// A gets halfway: a PIN requested, then ten wrong ones (each
	// acknowledged with a 401), so that the phone is now required.
	a := newKillBrowser(t, base, agencySrv.URL)
	aFlow := a.toPINForm(ctx, a.get(ctx, agencySrv.URL+"/tramite"))
	aVerify := a.requestPIN(ctx, aFlow, killA)
	pinA := a.pinFromInbox(ctx, killA.phone)
	for i := range 10 {
		p := a.fill(ctx, aVerify, "/pin/verify", url.Values{"pin": {wrongPIN(pinA, i)}})
		require.Equal(t, http.StatusUnauthorized, p.status, "attempt %d", i)
	}

	// C's wrong PINs are in flight when the gateway is killed: the ones
	// answered must all be counted after it.
	c := newKillBrowser(t, base, agencySrv.URL)
	cVerify := c.requestPIN(ctx, c.toPINForm(ctx, c.get(ctx, agencySrv.URL+"/tramite")), killC)
	pinC := c.pinFromInbox(ctx, killC.phone)
	cURL, cFields := c.form(cVerify, "/pin/verify")
	var (
		acked, sent atomic.Int64
		wg          sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; sent.Add(1) <= 20; i += 4 {
				f := url.Values{"pin": {wrongPIN(pinC, i)}, "csrf": cFields["csrf"]}
				p, err := c.do(ctx, http.MethodPost, cURL, f)
				if err != nil {
					return // the gateway is gone
				}
				if p.status == http.StatusUnauthorized {
					acked.Add(1)
				}
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); acked.Load() < 8 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	g.kill()
	wg.Wait()
	ackedC := acked.Load()
	require.GreaterOrEqual(t, ackedC, int64(8))

	// What the database holds: the failure counts answered before the kill.
	sqlDB, err := gateway.OpenDB(ctx, db)
	require.NoError(t, err)
	failures := func(id string) int {
		var n int
		require.NoError(t, sqlDB.QueryRowContext(ctx, `SELECT failures FROM pin_citizens WHERE citizen = $1`, id).Scan(&n), id)
		return n
	}
	assert.Equal(t, 10, failures(killA.id), "A's ten acknowledged failures")
	fc := failures(killC.id)
	assert.GreaterOrEqual(t, fc, int(ackedC), "C's acknowledged failures")
	t.Logf("in the database after the kill: A %d failures, C %d (%d answered, %d sent)", failures(killA.id), fc, ackedC, min(sent.Load(), 20))
	require.NoError(t, sqlDB.Close())

	// Restart on the same database and port.
	g.start()
	for _, br := range []*killBrowser{a, b, c} {
		br.http.CloseIdleConnections()
	}
	assert.Equal(t, fingerprint(certs[0]), fingerprint(fetchCertificates(t, base)[0]), "the same signing key")

	// A's login carries on: the flow and its pending PIN are there, and
	// the phone is asked for, as after ten failures.
	p := a.get(ctx, aFlow.url.String())
	require.Equal(t, http.StatusOK, p.status, snippetOf(p.body))
	assert.Contains(t, p.body, `name="phone"`, "ten failures survived: the phone is required")
	p = a.fill(ctx, p, "/pin/verify", url.Values{"pin": {pinA}, "phone": {killA.phone}})
	require.Contains(t, p.body, `name="SAMLResponse"`, "the pending PIN still verifies: %s", snippetOf(p.body))
	page = a.submit(ctx, p)
	assert.Contains(t, page.body, "logged in: "+killA.id)

	// B's finished login cannot be finished again, nor its request replayed.
	p = b.fill(ctx, bVerify, "/pin/verify", url.Values{"pin": {pinB}})
	assert.Equal(t, http.StatusNotFound, p.status, "a finished login stays finished")
	assert.NotContains(t, p.body, `name="SAMLResponse"`)
	p = b.post(ctx, base+saml.ServiceProviderPath, bRequest)
	assert.Equal(t, http.StatusBadRequest, p.status, "the request already answered is refused")
	assert.Contains(t, p.body, "already received")

	// The service is registered and B is a citizen: a new login works.
	b2 := newKillBrowser(t, base, agencySrv.URL)
	v2 := b2.requestPIN(ctx, b2.toPINForm(ctx, b2.get(ctx, agencySrv.URL+"/tramite")), killB)
	p = b2.fill(ctx, v2, "/pin/verify", url.Values{"pin": {b2.pinFromInbox(ctx, killB.phone)}})
	page = b2.submit(ctx, p)
	assert.Contains(t, page.body, "logged in: "+killB.id)
}

// child is the gateway binary run as a child process.
type child struct {
	t    *testing.T
	bin  string
	args []string // the first two are -addr and its value
	// env are NAME=value settings added to the process's environment.
	env []string
	cmd *exec.Cmd
	out bytes.Buffer
}

func (c *child) start() {
	c.t.Helper()
	c.out.Reset()
	c.cmd = exec.Command(c.bin, c.args...)
	c.cmd.Env = append(append(os.Environ(), c.env...), "CLAVE_ADMIN_TOKEN=", childEnv+"=1")
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	require.NoError(c.t, c.cmd.Start())
	base := "http://" + c.args[1]
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(base + saml.CertificatesPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			c.kill()
			c.t.Fatalf("the gateway did not start: %v\n%s", err, c.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL: no shutdown, no deferred close of the database.
func (c *child) kill() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	c.cmd = nil
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func fetchCertificates(t *testing.T, base string) []*x509.Certificate {
	t.Helper()
	resp, err := http.Get(base + saml.CertificatesPath)
	require.NoError(t, err)
	defer resp.Body.Close()
	doc, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	pub, err := saml.ParseCertificatesDocument(doc)
	require.NoError(t, err)
	var out []*x509.Certificate
	for _, p := range pub {
		out = append(out, p.Certificate)
	}
	require.NotEmpty(t, out)
	return out
}

// wrongPIN is a PIN that is not pin.
func wrongPIN(pin string, i int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	for {
		w := string([]byte{alphabet[i%32], alphabet[(i/32+7)%32], alphabet[(i+13)%32]})
		if w != pin {
			return w
		}
		i++
	}
}

// killBrowser is a citizen's browser without JavaScript.
type killBrowser struct {
	t             *testing.T
	http          *http.Client
	gateway, home string
}

type killPage struct {
	status int
	body   string
	url    *url.URL
}

func newKillBrowser(t *testing.T, gatewayURL, agencyURL string) *killBrowser {
	jar, _ := cookiejar.New(nil)
	return &killBrowser{t: t, http: &http.Client{Jar: jar, Transport: &http.Transport{}, Timeout: 30 * time.Second},
		gateway: gatewayURL, home: agencyURL}
}

var (
	killFormRe   = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	killHiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	killMethodRe = regexp.MustCompile(`<a class="method" id="method-AEAT" href="([^"]+)">`)
	// The PIN SMS in any of the pages' languages: "Cl@ve PIN: XYZ. <request code>: ABCD."
	killSMSRe  = regexp.MustCompile(`Cl@ve PIN: ([A-Z2-7]{3})\. [^:]*: ([A-Z0-9]{4})`)
	killCodeRe = regexp.MustCompile(`<span class="code" id="request-code">([A-Z0-9]{4})</span>`)
)

func (b *killBrowser) do(ctx context.Context, method, u string, form url.Values) (killPage, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return killPage{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return killPage{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return killPage{}, err
	}
	return killPage{status: resp.StatusCode, body: string(data), url: resp.Request.URL}, nil
}

func (b *killBrowser) get(ctx context.Context, u string) killPage {
	b.t.Helper()
	p, err := b.do(ctx, http.MethodGet, u, nil)
	require.NoError(b.t, err)
	return p
}

func (b *killBrowser) post(ctx context.Context, u string, form url.Values) killPage {
	b.t.Helper()
	p, err := b.do(ctx, http.MethodPost, u, form)
	require.NoError(b.t, err)
	return p
}

// form finds the first form of p posting to a path ending with suffix (""
// for the first of all) and returns its URL and hidden fields.
func (b *killBrowser) form(p killPage, suffix string) (string, url.Values) {
	b.t.Helper()
	body := p.body
	for {
		m := killFormRe.FindStringSubmatchIndex(body)
		require.NotNil(b.t, m, "no form posting to …%s: %s", suffix, snippetOf(p.body))
		action, rest := html.UnescapeString(body[m[2]:m[3]]), body[m[1]:]
		end := strings.Index(rest, "</form>")
		if end < 0 {
			end = len(rest)
		}
		u, err := p.url.Parse(action)
		require.NoError(b.t, err)
		if strings.HasSuffix(u.Path, suffix) {
			return u.String(), hiddenInputs(rest[:end])
		}
		body = rest[end:]
	}
}

// fill posts the form of p posting to …suffix with its hidden fields and
// typed.
func (b *killBrowser) fill(ctx context.Context, p killPage, suffix string, typed url.Values) killPage {
	b.t.Helper()
	u, fields := b.form(p, suffix)
	for k, v := range typed {
		fields[k] = v
	}
	return b.post(ctx, u, fields)
}

// submit posts the first form of p with its hidden fields.
func (b *killBrowser) submit(ctx context.Context, p killPage) killPage {
	b.t.Helper()
	return b.fill(ctx, p, "", nil)
}

func hiddenInputs(body string) url.Values {
	vals := url.Values{}
	for _, in := range killHiddenRe.FindAllStringSubmatch(body, -1) {
		vals.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return vals
}

// toPINForm follows the agency's request to the gateway's chooser and opens
// Cl@ve PIN.
func (b *killBrowser) toPINForm(ctx context.Context, agencyForm killPage) killPage {
	b.t.Helper()
	chooser := b.submit(ctx, agencyForm)
	m := killMethodRe.FindStringSubmatch(chooser.body)
	require.NotNil(b.t, m, "no Cl@ve PIN on the chooser: %s", snippetOf(chooser.body))
	u, _ := chooser.url.Parse(html.UnescapeString(m[1]))
	return b.get(ctx, u.String())
}

// requestPIN asks for a PIN on the PIN form and returns the verification
// page.
func (b *killBrowser) requestPIN(ctx context.Context, form killPage, who killCitizen) killPage {
	b.t.Helper()
	p := b.fill(ctx, form, "/pin/request", url.Values{"document": {who.id}, "contrast": {who.contrast}})
	require.Regexp(b.t, killCodeRe, p.body, "no PIN verification form: %s", snippetOf(p.body))
	return p
}

// pinFromInbox reads the newest PIN sent to phone on the demo inbox page.
func (b *killBrowser) pinFromInbox(ctx context.Context, phone string) string {
	b.t.Helper()
	p := b.get(ctx, b.gateway+inboxPath+"?to="+url.QueryEscape(phone))
	m := killSMSRe.FindStringSubmatch(html.UnescapeString(p.body))
	require.NotNil(b.t, m, "no PIN in the inbox: %s", snippetOf(p.body))
	return m[1]
}

func snippetOf(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}
