package app_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/app"
)

const (
	citizen    = "12345678Z"
	contrastOK = "01/01/2040"
)

var passphrase = []byte("unlock factor of this phone")

// cheapKDF keeps the tests fast; the cost is stored with each key.
var cheapKDF = app.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// clock is the one time of gateway and phone; tests move it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// gateway is a real mobile.API over httptest, with its parts at hand.
type gateway struct {
	svc   *mobile.Service
	sms   *outbox
	inbox *mobile.PushBox
	clock *clock
	srv   *httptest.Server
	// certKey and cert are the citizen's certificate, trusted as a citizen
	// certificate and as a DNIe card whose CAN is 654321.
	certKey crypto.Signer
	cert    *x509.Certificate
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 30, 22, 50, 0, 0, time.UTC)}
	svc, err := mobile.New(mobile.Config{Now: clk.Now}, mobile.NewMemoryStore())
	require.NoError(t, err)
	g := &gateway{svc: svc, sms: &outbox{}, inbox: mobile.NewPushBox(clk.Now), clock: clk}
	roots := g.makeCertificate(t)
	api, err := mobile.NewAPI(mobile.APIConfig{
		Service: svc,
		Citizens: registry{citizen: {ID: citizen, ValidUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
			Phone: "+34600000001", Status: method.StatusActive, Level: method.LevelAdvanced}},
		Notifier:         g.sms,
		Inbox:            g.inbox,
		CertificateRoots: roots,
		DNIeRoots:        roots,
		CardAccessNumber: func(*x509.Certificate) string { return "654321" },
		Logger:           slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	g.srv = httptest.NewServer(api)
	t.Cleanup(g.srv.Close)
	return g
}

// makeCertificate issues the citizen's certificate under a fresh CA and
// returns the CA as a pool.
func (g *gateway) makeCertificate(t *testing.T) *x509.CertPool {
	t.Helper()
	now := g.clock.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test citizen CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	g.certKey, err = rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject:   pkix.Name{CommonName: "ESPAÑOL ESPAÑOL, JUAN", SerialNumber: "IDCES-" + citizen},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, g.certKey.Public(), caKey)
	require.NoError(t, err)
	g.cert, err = x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

func (g *gateway) client() *app.Client {
	return &app.Client{BaseURL: g.srv.URL, HTTP: g.srv.Client(), Now: g.clock.Now, KDF: cheapKDF}
}

// activate activates a phone by SMS and unlocks it.
func (g *gateway) activate(t *testing.T) *app.Session {
	t.Helper()
	c := g.client()
	expires, err := c.RequestActivationCode(t.Context(), citizen, contrastOK)
	require.NoError(t, err)
	assert.True(t, expires.Equal(g.clock.Now().Add(10*time.Minute)), "expires %v", expires)
	phone, err := c.ActivateSMS(t.Context(), citizen, g.sms.lastCode(), passphrase)
	require.NoError(t, err)
	s, err := phone.Unlock(passphrase)
	require.NoError(t, err)
	return s
}

func (g *gateway) push(t *testing.T, login string) mobile.Request {
	t.Helper()
	r, err := g.svc.NewRequest(t.Context(), mobile.RequestSpec{LoginID: login, Requester: "Agencia Tributaria",
		Kind: mobile.KindPush, Citizen: citizen})
	require.NoError(t, err)
	return r
}

func (g *gateway) state(t *testing.T, id string) mobile.State {
	t.Helper()
	r, err := g.svc.Request(t.Context(), id)
	require.NoError(t, err)
	return r.State
}

func TestAPISMSActivation(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	_, err := c.RequestActivationCode(t.Context(), citizen, contrastOK)
	require.NoError(t, err)
	require.Len(t, g.sms.msgs, 1)
	assert.Equal(t, "+34600000001", g.sms.msgs[0].To)

	_, err = c.ActivateSMS(t.Context(), citizen, "000000", passphrase)
	require.ErrorIs(t, err, app.ErrWrongCode)

	phone, err := c.ActivateSMS(t.Context(), citizen, g.sms.lastCode(), passphrase)
	require.NoError(t, err)
	assert.Equal(t, citizen, phone.Citizen)
	assert.Equal(t, mobile.BySMS, phone.Method)
	assert.True(t, phone.ActivatedAt.Equal(g.clock.Now()))

	path := t.TempDir() + "/state.json"
	require.NoError(t, phone.Save(path))
	loaded, err := app.Load(path)
	require.NoError(t, err)
	s, err := loaded.Unlock(passphrase)
	require.NoError(t, err)
	s.Client.HTTP, s.Client.Now = g.srv.Client(), g.clock.Now
	dev, err := s.Device(t.Context())
	require.NoError(t, err)
	assert.Equal(t, app.DeviceInfo{DeviceID: phone.DeviceID, CitizenMasked: "*****678Z", Method: mobile.BySMS,
		Status: mobile.DeviceActive, ActivatedAt: g.clock.Now()}, dev)

	// A stranger gets the same answer, and no SMS.
	_, err = c.RequestActivationCode(t.Context(), "87654321X", contrastOK)
	require.NoError(t, err)
	assert.Len(t, g.sms.msgs, 1)
}

func TestAPICertificateAndDNIeActivation(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	chain := []*x509.Certificate{g.cert}

	phone, err := c.ActivateCertificate(t.Context(), citizen, chain, g.certKey, passphrase)
	require.NoError(t, err)
	assert.Equal(t, mobile.ByCertificate, phone.Method)

	_, err = c.ActivateDNIe(t.Context(), citizen, "111111", chain, g.certKey, passphrase)
	require.ErrorIs(t, err, app.ErrBadProof)
	phone, err = c.ActivateDNIe(t.Context(), citizen, "654321", chain, g.certKey, passphrase)
	require.NoError(t, err)
	assert.Equal(t, mobile.ByDNIe, phone.Method)

	s, err := phone.Unlock(passphrase)
	require.NoError(t, err)
	_, err = s.Device(t.Context())
	require.NoError(t, err)
}

func TestAPIPushConfirmAndDecline(t *testing.T) {
	g := newGateway(t)
	s := g.activate(t)
	ctx := t.Context()

	first := g.push(t, "login-1")
	reqs, err := s.Pending(ctx, 0)
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	assert.Equal(t, app.Request{ID: first.ID, LoginID: "login-1", Requester: "Agencia Tributaria", Kind: mobile.KindPush,
		Nonce: first.Nonce, Secret: first.Secret, VerificationCode: first.VerificationCode(),
		CreatedAt: first.CreatedAt, ExpiresAt: first.ExpiresAt}, reqs[0])
	require.NoError(t, s.Confirm(ctx, reqs[0]))
	assert.Equal(t, mobile.StateConfirmed, g.state(t, first.ID))

	// A second answer to the same request changes nothing.
	require.ErrorIs(t, s.Decline(ctx, reqs[0]), app.ErrAlreadyDecided)

	g.clock.Add(time.Minute)
	second := g.push(t, "login-2")
	reqs, err = s.Pending(ctx, 0)
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	require.NoError(t, s.Decline(ctx, reqs[0]))
	assert.Equal(t, mobile.StateDeclined, g.state(t, second.ID))

	reqs, err = s.Pending(ctx, 0)
	require.NoError(t, err)
	assert.Empty(t, reqs)
}

func TestAPILongPollWakesOnPush(t *testing.T) {
	g := newGateway(t)
	s := g.activate(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type result struct {
		reqs []app.Request
		err  error
	}
	done := make(chan result, 1)
	go func() {
		reqs, err := s.Pending(ctx, app.MaxWait)
		done <- result{reqs, err}
	}()
	// Whether the push comes before the wait starts or during it, the
	// call answers with it, long before MaxWait.
	req := g.push(t, "login-1")
	res := <-done
	require.NoError(t, res.err)
	require.Len(t, res.reqs, 1)
	assert.Equal(t, req.ID, res.reqs[0].ID)
}

func TestAPIQRScan(t *testing.T) {
	g := newGateway(t)
	s := g.activate(t)
	ctx := t.Context()
	qr, err := g.svc.NewRequest(ctx, mobile.RequestSpec{LoginID: "login-qr", Requester: "Seguridad Social", Kind: mobile.KindQR})
	require.NoError(t, err)

	_, err = s.Scan(ctx, "CLAVEMOVIL:1:"+qr.ID+":not-the-nonce-0000000")
	require.ErrorIs(t, err, app.ErrNotFound)

	req, err := s.Scan(ctx, mobile.QRPayload(&qr))
	require.NoError(t, err)
	assert.Equal(t, "Seguridad Social", req.Requester)
	assert.Equal(t, mobile.KindQR, req.Kind)
	assert.Equal(t, qr.VerificationCode(), req.VerificationCode)

	wrong := "000"
	if qr.VerificationCode() == wrong {
		wrong = "001"
	}
	require.ErrorIs(t, s.ConfirmCode(ctx, req, wrong), app.ErrCodeMismatch)
	assert.Equal(t, mobile.StatePending, g.state(t, qr.ID))
	require.NoError(t, s.ConfirmCode(ctx, req, qr.VerificationCode()))
	assert.Equal(t, mobile.StateConfirmed, g.state(t, qr.ID))
}

func TestAPIHistory(t *testing.T) {
	g := newGateway(t)
	s := g.activate(t)
	ctx := t.Context()
	for i, d := range []mobile.Decision{mobile.Confirm, mobile.Decline, mobile.Confirm} {
		g.push(t, "login-"+string(rune('a'+i)))
		reqs, err := s.Pending(ctx, 0)
		require.NoError(t, err)
		require.Len(t, reqs, 1)
		if d == mobile.Confirm {
			require.NoError(t, s.Confirm(ctx, reqs[0]))
		} else {
			require.NoError(t, s.Decline(ctx, reqs[0]))
		}
		g.clock.Add(24 * time.Hour)
	}

	all, err := s.History(ctx, app.HistoryQuery{})
	require.NoError(t, err)
	require.Len(t, all, 3)
	assert.True(t, all[0].At.After(all[2].At), "newest first")
	assert.Equal(t, mobile.StateConfirmed, all[0].Outcome)
	assert.Equal(t, "Agencia Tributaria", all[0].Requester)
	assert.Equal(t, mobile.KindPush, all[0].Kind)

	declined, err := s.History(ctx, app.HistoryQuery{Outcome: mobile.StateDeclined})
	require.NoError(t, err)
	require.Len(t, declined, 1)
	assert.Equal(t, all[1], declined[0])

	// The first login was on 30/11/2026 at 23:50 in Madrid, the next ones
	// on the following days: a day of Spain's calendar selects one.
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	one, err := s.History(ctx, app.HistoryQuery{From: day, To: day})
	require.NoError(t, err)
	require.Len(t, one, 1)
	assert.Equal(t, all[1].RequestID, one[0].RequestID)

	page, err := s.History(ctx, app.HistoryQuery{Order: mobile.OldestFirst, Limit: 1, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, []app.Entry{all[1]}, page)

	_, err = s.History(ctx, app.HistoryQuery{Outcome: "maybe"})
	require.ErrorIs(t, err, app.ErrBadRequest)
}

func TestAPIPINs(t *testing.T) {
	g := newGateway(t)
	s := g.activate(t)
	now := g.clock.Now()
	require.NoError(t, g.inbox.Send(t.Context(), method.Message{Channel: method.App, To: citizen,
		Text: "Cl@ve PIN: 123456", Code: "123456", ExpiresAt: now.Add(10 * time.Minute)}))
	pins, err := s.PINs(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []app.PIN{{Code: "123456", Text: "Cl@ve PIN: 123456", SentAt: now, ExpiresAt: now.Add(10 * time.Minute), SecondsLeft: 600}}, pins)
}

func TestAPIReplacedAndDeactivatedDevices(t *testing.T) {
	g := newGateway(t)
	old := g.activate(t)
	g.clock.Add(time.Minute)
	current := g.activate(t)

	_, err := old.Pending(t.Context(), 0)
	require.ErrorIs(t, err, app.ErrDeviceInactive)
	_, err = current.Device(t.Context())
	require.NoError(t, err)

	require.NoError(t, current.Deactivate(t.Context()))
	_, err = current.Device(t.Context())
	require.ErrorIs(t, err, app.ErrDeviceInactive)
}

func TestAPIStaleClock(t *testing.T) {
	g := newGateway(t)
	s := g.activate(t)
	s.Client.Now = func() time.Time { return g.clock.Now().Add(10 * time.Minute) }
	_, err := s.Device(t.Context())
	require.ErrorIs(t, err, app.ErrStale)
}
