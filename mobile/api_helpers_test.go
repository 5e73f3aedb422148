package mobile_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/mobile"
)

// Identifiers of the API tests, besides citizen (a DNI) and otherOne (a
// NIE) of helpers_test.go.
const (
	blockedOne = "11111111H" // registered, blocked
	noCodeOne  = "00000000T" // registered, never asks for a code
	stranger   = "22222222J" // not registered
	stranger2  = "87654321X" // not registered
	contrast   = "01/01/2040"
	nieSupport = "E12345678"
)

// dniOf is the DNI with number n, for tests needing many identifiers.
func dniOf(n int) string {
	return fmt.Sprintf("%08d%c", n, "TRWAGMYFPDXBNJZSQVHLCKE"[n%23])
}

// fakeCitizens is the registry of the API tests.
type fakeCitizens struct {
	down atomic.Bool
	byID map[string]method.Citizen
}

func (f *fakeCitizens) Citizen(_ context.Context, id string) (method.Citizen, error) {
	if f.down.Load() {
		return method.Citizen{}, errors.New("registry: connection refused")
	}
	c, ok := f.byID[strings.ToUpper(strings.TrimSpace(id))]
	if !ok {
		return method.Citizen{}, method.ErrUnknownCitizen
	}
	return c, nil
}

func newFakeCitizens() *fakeCitizens {
	valid := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	return &fakeCitizens{byID: map[string]method.Citizen{
		citizen:    {ID: citizen, ValidUntil: valid, Phone: "+34600000001", Status: method.StatusActive, Level: method.LevelAdvanced},
		otherOne:   {ID: otherOne, SupportNumber: nieSupport, Phone: "+34600000002", Status: method.StatusActive, Level: method.LevelBasic},
		blockedOne: {ID: blockedOne, ValidUntil: valid, Phone: "+34600000003", Status: method.StatusBlocked},
		noCodeOne:  {ID: noCodeOne, ValidUntil: valid, Phone: "+34600000004", Status: method.StatusActive},
	}}
}

// outbox is the SMS provider of the API tests.
type outbox struct {
	mu   sync.Mutex
	msgs []method.Message
	fail atomic.Bool
}

func (o *outbox) Send(_ context.Context, m method.Message) error {
	if o.fail.Load() {
		return errors.New("sms: provider down")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

func (o *outbox) all() []method.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]method.Message(nil), o.msgs...)
}

// lastCode is the code of the last SMS to phone.
func (o *outbox) lastCode(t testing.TB, phone string) string {
	t.Helper()
	msgs := o.all()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == phone {
			return msgs[i].Code
		}
	}
	t.Fatalf("no SMS to %s", phone)
	return ""
}

// flakyStore is a Store whose every call fails while down, and whose
// reads of pending requests and history fail while readsDown.
type flakyStore struct {
	mobile.Store
	down, readsDown atomic.Bool
}

var errDisk = errors.New("store: disk I/O error")

func (f *flakyStore) err() error {
	if f.down.Load() {
		return errDisk
	}
	return nil
}

func (f *flakyStore) Account(ctx context.Context, c string) (mobile.Account, error) {
	if err := f.err(); err != nil {
		return mobile.Account{}, err
	}
	return f.Store.Account(ctx, c)
}

func (f *flakyStore) UpdateAccount(ctx context.Context, c string, fn func(*mobile.Account) error) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.UpdateAccount(ctx, c, fn)
}

func (f *flakyStore) Device(ctx context.Context, id string) (mobile.Device, error) {
	if err := f.err(); err != nil {
		return mobile.Device{}, err
	}
	return f.Store.Device(ctx, id)
}

func (f *flakyStore) CreateRequest(ctx context.Context, r mobile.Request) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.CreateRequest(ctx, r)
}

func (f *flakyStore) Request(ctx context.Context, id string) (mobile.Request, error) {
	if err := f.err(); err != nil {
		return mobile.Request{}, err
	}
	return f.Store.Request(ctx, id)
}

func (f *flakyStore) UpdateRequest(ctx context.Context, id string, fn func(*mobile.Request) error) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.UpdateRequest(ctx, id, fn)
}

func (f *flakyStore) PendingRequests(ctx context.Context, c string) ([]mobile.Request, error) {
	if err := f.err(); err != nil || f.readsDown.Load() {
		return nil, errDisk
	}
	return f.Store.PendingRequests(ctx, c)
}

func (f *flakyStore) ExpiredRequests(ctx context.Context, now time.Time, n int) ([]mobile.Request, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Store.ExpiredRequests(ctx, now, n)
}

func (f *flakyStore) DeleteRequests(ctx context.Context, before time.Time) (int, error) {
	if err := f.err(); err != nil {
		return 0, err
	}
	return f.Store.DeleteRequests(ctx, before)
}

func (f *flakyStore) History(ctx context.Context, c string, q mobile.Query) ([]mobile.Entry, error) {
	if err := f.err(); err != nil || f.readsDown.Load() {
		return nil, errDisk
	}
	return f.Store.History(ctx, c, q)
}

func (f *flakyStore) UseNonce(ctx context.Context, n string, until time.Time) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.UseNonce(ctx, n, until)
}

func (f *flakyStore) PruneNonces(ctx context.Context, before time.Time) (int, error) {
	if err := f.err(); err != nil {
		return 0, err
	}
	return f.Store.PruneNonces(ctx, before)
}

// watchedSignals tells the test when a waiter subscribes and leaves, so
// that long-poll tests wait on events rather than on the wall clock.
type watchedSignals struct {
	*mobile.LocalSignals
	subscribed, stopped chan string
}

func newWatchedSignals() *watchedSignals {
	return &watchedSignals{LocalSignals: mobile.NewLocalSignals(), subscribed: make(chan string, 64), stopped: make(chan string, 64)}
}

func (w *watchedSignals) Subscribe(topic string, wake func()) func() {
	stop := w.LocalSignals.Subscribe(topic, wake)
	select {
	case w.subscribed <- topic:
	default:
	}
	return func() {
		stop()
		select {
		case w.stopped <- topic:
		default:
		}
	}
}

// await receives from ch, failing the test if nothing comes: a guard
// against a hung test, not a wait the test relies on.
func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testCA is a throwaway certification authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

var serials atomic.Int64

func newSerial() *big.Int { return big.NewInt(serials.Add(1)) }

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Test only"}},
		NotBefore:             t0.AddDate(-1, 0, 0),
		NotAfter:              t0.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// intermediate is a CA issued by ca.
func (ca *testCA) intermediate(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             t0.AddDate(-1, 0, 0),
		NotAfter:              t0.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key}
}

// holder is a citizen certificate (or DNIe card) and its key.
type holder struct {
	chain [][]byte // leaf first
	leaf  *x509.Certificate
	key   crypto.Signer
}

// issue makes a citizen certificate for who, changed by edit.
func (ca *testCA) issue(t testing.TB, who string, key crypto.Signer, edit func(*x509.Certificate)) *holder {
	t.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		key = k
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: "CIUDADANO DE PRUEBA", SerialNumber: "IDCES-" + who, Country: []string{"ES"}},
		NotBefore:    t0.AddDate(0, 0, -1),
		NotAfter:     t0.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	h := &holder{chain: [][]byte{der}, leaf: leaf, key: key}
	if ca.pool == nil { // an intermediate: send it along
		h.chain = append(h.chain, ca.cert.Raw)
	}
	return h
}

// prove signs the activation proof as the certificate's key.
func (h *holder) prove(t testing.TB, challenge string, pub ed25519.PublicKey, m mobile.ActivationMethod) []byte {
	t.Helper()
	digest := sha256.Sum256(mobile.ActivationProof(challenge, pub, m))
	// ECDSA keys sign in ASN.1, RSA keys in PKCS #1 v1.5.
	sig, err := h.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	require.NoError(t, err)
	return sig
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// apiEnv is a gateway's app API over loopback HTTP, with an injected clock.
type apiEnv struct {
	clock    *clock
	store    *flakyStore
	svc      *mobile.Service
	signals  *watchedSignals
	citizens *fakeCitizens
	sms      *outbox
	box      *mobile.PushBox
	certCA   *testCA
	dnieCA   *testCA
	cans     sync.Map // leaf serial number string → CAN
	logs     *syncBuffer
	srv      *httptest.Server
	nonces   atomic.Int64
}

// newAPIEnv starts an API; edit may change its config.
func newAPIEnv(t testing.TB, edit func(*mobile.APIConfig)) *apiEnv {
	t.Helper()
	e := &apiEnv{
		clock:    &clock{now: t0},
		store:    &flakyStore{Store: mobile.NewMemoryStore()},
		signals:  newWatchedSignals(),
		citizens: newFakeCitizens(),
		sms:      &outbox{},
		certCA:   newTestCA(t, "Test citizen CA"),
		dnieCA:   newTestCA(t, "Test DNIe CA"),
		logs:     &syncBuffer{},
	}
	svc, err := mobile.New(mobile.Config{Secret: testSecret, Now: e.clock.Now, Signals: e.signals}, e.store)
	require.NoError(t, err)
	e.svc = svc
	e.box = mobile.NewPushBox(e.clock.Now)
	e.box.Signals = svc.Signals()
	cfg := mobile.APIConfig{
		Service:          svc,
		Citizens:         e.citizens,
		Notifier:         e.sms,
		Inbox:            e.box,
		CertificateRoots: e.certCA.pool,
		DNIeRoots:        e.dnieCA.pool,
		CardAccessNumber: func(card *x509.Certificate) string {
			v, _ := e.cans.Load(card.SerialNumber.String())
			s, _ := v.(string)
			return s
		},
		Client: func(r *http.Request) string {
			if c := r.Header.Get("X-Test-Client"); c != "" {
				return c
			}
			return "client"
		},
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Secret: bytes.Repeat([]byte("k"), 32),
	}
	if edit != nil {
		edit(&cfg)
	}
	api, err := mobile.NewAPI(cfg)
	require.NoError(t, err)
	e.srv = httptest.NewServer(api)
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() {
		// Logs never carry a full identifier or a code.
		logs := e.logs.String()
		for _, id := range []string{citizen, otherOne, blockedOne, noCodeOne, stranger, stranger2} {
			require.NotContains(t, logs, id, "full identifier in the logs")
		}
		for _, m := range e.sms.all() {
			require.NotContains(t, logs, m.Code, "code in the logs")
		}
	})
	return e
}

// answer is an HTTP answer of the API.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// decode reads a success answer strictly.
func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	require.Equal(t, "application/json", a.header.Get("Content-Type"))
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), string(a.body))
}

// requireError checks that a is the refusal status/code in the shape of
// the contract.
func requireError(t testing.TB, a answer, status int, code string) {
	t.Helper()
	require.Equal(t, status, a.status, "body: %s", a.body)
	checkErrorShape(t, a.header, a.body, code)
}

func checkErrorShape(t testing.TB, h http.Header, body []byte, code string) {
	t.Helper()
	require.Equal(t, "application/json", h.Get("Content-Type"))
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&env), "error body: %s", body)
	require.NotEmpty(t, env.Error.Message)
	if code != "" {
		require.Equal(t, code, env.Error.Code, "body: %s", body)
	} else {
		require.NotEmpty(t, env.Error.Code)
	}
}

// send makes a request; body is JSON-encoded unless it is []byte or nil.
func (e *apiEnv) send(t testing.TB, ctx context.Context, verb, path string, body any, edit func(*http.Request, []byte)) answer {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(t, err)
	}
	req, err := http.NewRequestWithContext(ctx, verb, e.srv.URL+path, bytes.NewReader(raw))
	require.NoError(t, err)
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if edit != nil {
		edit(req, raw)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: got}
}

// post is an unauthenticated call from client.
func (e *apiEnv) post(t testing.TB, path string, body any, client string) answer {
	t.Helper()
	return e.send(t, context.Background(), http.MethodPost, path, body, func(r *http.Request, _ []byte) {
		if client != "" {
			r.Header.Set("X-Test-Client", client)
		}
	})
}

// appPhone is the app's side: its key and, once activated, its device.
type appPhone struct {
	priv    ed25519.PrivateKey
	id      string
	citizen string
}

func newAppPhone() *appPhone {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &appPhone{priv: priv}
}

func (p *appPhone) pub() ed25519.PublicKey { return p.priv.Public().(ed25519.PublicKey) }

// activated is a phone activated for who directly through the Service.
func (e *apiEnv) activated(t testing.TB, who string) *appPhone {
	t.Helper()
	p := newAppPhone()
	d, err := e.svc.Activate(context.Background(), who, mobile.ByCertificate, p.pub())
	require.NoError(t, err)
	p.id, p.citizen = d.ID, d.Citizen
	return p
}

func (e *apiEnv) nonce() string { return fmt.Sprintf("test-nonce-%012d", e.nonces.Add(1)) }

// signedAt is a call signed by p at at with nonce.
func (e *apiEnv) signedAt(t testing.TB, ctx context.Context, p *appPhone, verb, path string, body any, at time.Time, nonce string) answer {
	t.Helper()
	return e.send(t, ctx, verb, path, body, func(r *http.Request, raw []byte) {
		require.NoError(t, mobile.SignCall(r, p.id, p.priv, at, nonce, raw))
	})
}

// signed is a fresh call signed by p now.
func (e *apiEnv) signed(t testing.TB, p *appPhone, verb, path string, body any) answer {
	t.Helper()
	return e.signedAt(t, context.Background(), p, verb, path, body, e.clock.Now(), e.nonce())
}

// challenge asks the API for an activation challenge.
func (e *apiEnv) challenge(t testing.TB) string {
	t.Helper()
	a := e.send(t, context.Background(), http.MethodGet, "/app/v1/activation/challenge", nil, nil)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var out struct {
		Challenge string `json:"challenge"`
		ExpiresAt string `json:"expires_at"`
	}
	a.decode(t, &out)
	require.Equal(t, e.clock.Now().Add(5*time.Minute).UTC().Format(time.RFC3339), out.ExpiresAt)
	return out.Challenge
}

// proofBody is the activation body of p for who, proven by h.
func proofBody(t testing.TB, h *holder, p *appPhone, who string, m mobile.ActivationMethod, challenge string) map[string]any {
	t.Helper()
	chain := make([]string, len(h.chain))
	for i, der := range h.chain {
		chain[i] = b64(der)
	}
	return map[string]any{
		"method":            m,
		"citizen":           who,
		"public_key":        b64(p.pub()),
		"certificate_chain": chain,
		"challenge":         challenge,
		"proof":             b64(h.prove(t, challenge, p.pub(), m)),
	}
}

// wireReq is a login request as the app receives it.
type wireReq struct {
	ID               string `json:"id"`
	LoginID          string `json:"login_id"`
	Requester        string `json:"requester"`
	Kind             string `json:"kind"`
	Nonce            string `json:"nonce"`
	Secret           string `json:"secret"`
	VerificationCode string `json:"verification_code"`
	CreatedAt        string `json:"created_at"`
	ExpiresAt        string `json:"expires_at"`
}

// decision is the body of a decision on r signed by p at at.
func decision(t testing.TB, p *appPhone, r wireReq, d mobile.Decision, at time.Time) map[string]string {
	t.Helper()
	payload, sig, err := mobile.SignConfirmation(p.priv, mobile.Confirmation{LoginID: r.LoginID, RequestID: r.ID, Nonce: r.Nonce, Decision: d, At: at})
	require.NoError(t, err)
	return map[string]string{"confirmation": b64(payload), "signature": b64(sig)}
}

// pushRequest makes a push request for who, as the login page would.
func (e *apiEnv) pushRequest(t testing.TB, who, requester string) mobile.Request {
	t.Helper()
	r, err := e.svc.NewRequest(context.Background(), mobile.RequestSpec{LoginID: "login-" + e.nonce(), Requester: requester, Kind: mobile.KindPush, Citizen: who})
	require.NoError(t, err)
	return r
}

// qrRequest makes a QR request, as the login page would.
func (e *apiEnv) qrRequest(t testing.TB, requester string) mobile.Request {
	t.Helper()
	r, err := e.svc.NewRequest(context.Background(), mobile.RequestSpec{LoginID: "login-" + e.nonce(), Requester: requester, Kind: mobile.KindQR})
	require.NoError(t, err)
	return r
}

func wireOf(r mobile.Request) wireReq {
	return wireReq{ID: r.ID, LoginID: r.LoginID, Nonce: r.Nonce}
}
