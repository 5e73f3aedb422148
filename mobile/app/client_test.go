package app

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/mobile"
)

// activateSMS activates a phone on f by SMS and unlocks it.
func activateSMS(t *testing.T, f *fakeGateway) *Session {
	t.Helper()
	c := f.client()
	expires, err := c.RequestActivationCode(t.Context(), "12345678Z", "01/01/2040")
	require.NoError(t, err)
	assert.True(t, expires.Equal(testNow.Add(10*time.Minute)))
	phone, err := c.ActivateSMS(t.Context(), "12345678Z", "123456", testPassphrase)
	require.NoError(t, err)
	assert.Equal(t, "dev-0000000000000001", phone.DeviceID)
	assert.Equal(t, mobile.BySMS, phone.Method)
	assert.Equal(t, f.srv.URL, phone.Gateway)
	s, err := phone.Unlock(testPassphrase)
	require.NoError(t, err)
	return s
}

func TestSignedCallsVerify(t *testing.T) {
	f := newFakeGateway(t)
	s := activateSMS(t, f)
	ctx := t.Context()

	dev, err := s.Device(ctx)
	require.NoError(t, err)
	assert.Equal(t, DeviceInfo{DeviceID: "dev-0000000000000001", CitizenMasked: "*****678Z", Method: mobile.BySMS,
		Status: mobile.DeviceActive, ActivatedAt: testNow}, dev)

	reqs, err := s.Pending(ctx, 1500*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	assert.Equal(t, Request{ID: f.req.ID, LoginID: f.req.LoginID, Requester: f.req.Requester, Kind: mobile.KindPush,
		Nonce: f.req.Nonce, Secret: f.req.Secret, VerificationCode: f.req.VerificationCode(),
		CreatedAt: f.req.CreatedAt, ExpiresAt: f.req.ExpiresAt}, reqs[0])
	_, err = s.Pending(ctx, 0)
	require.NoError(t, err)
	_, err = s.Pending(ctx, time.Hour)
	require.NoError(t, err)

	pins, err := s.PINs(ctx)
	require.NoError(t, err)
	assert.Equal(t, []PIN{{Code: "123456", Text: "Cl@ve PIN: 123456", SentAt: testNow, ExpiresAt: testNow.Add(9 * time.Minute), SecondsLeft: 540}}, pins)

	entries, err := s.History(ctx, HistoryQuery{Outcome: mobile.StateConfirmed, Order: mobile.OldestFirst, Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, []Entry{{RequestID: f.req.ID, At: testNow, Requester: f.req.Requester, Kind: mobile.KindPush, Outcome: mobile.StateConfirmed}}, entries)

	require.NoError(t, s.Deactivate(ctx))

	// Every call verified (the fake refuses any other), each with its own
	// nonce, over the URI as sent.
	assert.Equal(t, []string{
		"GET /app/v1/device",
		"GET /app/v1/requests?wait=2",
		"GET /app/v1/requests",
		"GET /app/v1/requests?wait=60",
		"GET /app/v1/pins",
		"GET /app/v1/history?limit=5&order=oldest&state=confirmed",
		"DELETE /app/v1/device",
	}, f.calls)
	assert.Len(t, f.nonces, len(f.calls))
}

func TestSignedCallRefusedUnderAnotherKey(t *testing.T) {
	f := newFakeGateway(t)
	s := activateSMS(t, f)
	other, _ := newTestPhone(t)
	f.devices[s.phone.DeviceID] = other.PublicKey
	_, err := s.Device(t.Context())
	require.ErrorIs(t, err, ErrBadSignature)
}

func TestConfirmAndDecline(t *testing.T) {
	f := newFakeGateway(t)
	s := activateSMS(t, f)
	reqs, err := s.Pending(t.Context(), 0)
	require.NoError(t, err)

	require.NoError(t, s.Confirm(t.Context(), reqs[0]))
	require.NoError(t, s.ConfirmCode(t.Context(), reqs[0], " "+f.req.VerificationCode()+" "))
	require.NoError(t, s.Decline(t.Context(), reqs[0]))
	want := mobile.Confirmation{LoginID: f.req.LoginID, RequestID: f.req.ID, Nonce: f.req.Nonce, At: testNow}
	confirm, decline := want, want
	confirm.Decision, decline.Decision = mobile.Confirm, mobile.Decline
	assert.Equal(t, []mobile.Confirmation{confirm, confirm, decline}, f.decisions)
}

func TestConfirmRefusesCodeMismatch(t *testing.T) {
	f := newFakeGateway(t)
	s := activateSMS(t, f)
	real := f.req.VerificationCode()
	other := "000"
	if real == other {
		other = "001"
	}

	f.statedCode = other
	reqs, err := s.Pending(t.Context(), 0)
	require.NoError(t, err)
	require.ErrorIs(t, s.Confirm(t.Context(), reqs[0]), ErrCodeMismatch)
	require.ErrorIs(t, s.ConfirmCode(t.Context(), reqs[0], real), ErrCodeMismatch)

	f.statedCode = ""
	reqs, err = s.Pending(t.Context(), 0)
	require.NoError(t, err)
	require.ErrorIs(t, s.ConfirmCode(t.Context(), reqs[0], other), ErrCodeMismatch)

	// Declining a suspicious request stays possible.
	require.NoError(t, s.Decline(t.Context(), reqs[0]))
	require.Len(t, f.decisions, 1)
	assert.Equal(t, mobile.Decline, f.decisions[0].Decision)
}

func TestScan(t *testing.T) {
	f := newFakeGateway(t)
	s := activateSMS(t, f)
	req, err := s.Scan(t.Context(), mobile.QRPayload(&f.req)+"\n")
	require.NoError(t, err)
	assert.Equal(t, f.req.ID, req.ID)

	_, err = s.Scan(t.Context(), "CLAVEMOVIL:1:"+f.req.ID+":wrong-nonce-0000000")
	require.ErrorIs(t, err, ErrNotFound)

	calls := len(f.calls)
	_, err = s.Scan(t.Context(), "https://example.com/")
	require.ErrorIs(t, err, ErrNotQRCode)
	assert.Len(t, f.calls, calls, "junk was sent to the gateway")
}

func TestWrongActivationCode(t *testing.T) {
	f := newFakeGateway(t)
	_, err := f.client().ActivateSMS(t.Context(), "12345678Z", "000000", testPassphrase)
	require.ErrorIs(t, err, ErrWrongCode)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, &APIError{Status: 401, Code: "wrong_code", Message: "refused: wrong_code"}, apiErr)

	_, err = f.client().ActivateSMS(t.Context(), "12345678Z", "123456", nil)
	require.ErrorIs(t, err, ErrNoPassphrase)
	assert.Empty(t, f.devices, "activated without a passphrase to seal the key")
}

// testCA makes a CA and a citizen certificate under it with key.
func testCA(t *testing.T, key crypto.Signer) (*x509.CertPool, *x509.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test citizen CA"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject:   pkix.Name{CommonName: "ESPAÑOL ESPAÑOL, JUAN", SerialNumber: "IDCES-12345678Z"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(leafDER)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, leaf
}

func TestActivateCertificateAndDNIe(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	for name, key := range map[string]crypto.Signer{"ecdsa": ecKey, "rsa": rsaKey} {
		t.Run(name, func(t *testing.T) {
			f := newFakeGateway(t)
			var leaf *x509.Certificate
			f.roots, leaf = testCA(t, key)
			c := f.client()

			phone, err := c.ActivateCertificate(t.Context(), "12345678Z", []*x509.Certificate{leaf}, key, testPassphrase)
			require.NoError(t, err)
			assert.Equal(t, mobile.ByCertificate, phone.Method)

			phone, err = c.ActivateDNIe(t.Context(), "12345678Z", "654321", []*x509.Certificate{leaf}, key, testPassphrase)
			require.NoError(t, err)
			assert.Equal(t, mobile.ByDNIe, phone.Method)
			_, err = phone.Unlock(testPassphrase)
			require.NoError(t, err)

			_, err = c.ActivateDNIe(t.Context(), "12345678Z", "111111", []*x509.Certificate{leaf}, key, testPassphrase)
			require.ErrorIs(t, err, ErrBadProof)
			_, err = c.ActivateCertificate(t.Context(), "87654321X", []*x509.Certificate{leaf}, key, testPassphrase)
			require.ErrorIs(t, err, ErrBadProof)
		})
	}
}

func TestActivateCertificateRefusesAnotherKey(t *testing.T) {
	f := newFakeGateway(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	var leaf *x509.Certificate
	f.roots, leaf = testCA(t, key)
	_, err = f.client().ActivateCertificate(t.Context(), "12345678Z", []*x509.Certificate{leaf}, other, testPassphrase)
	require.ErrorContains(t, err, "not the certificate's")
	_, err = f.client().ActivateCertificate(t.Context(), "12345678Z", nil, key, testPassphrase)
	require.Error(t, err)
	assert.Empty(t, f.devices)
}

func TestAPIErrorDecoding(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   *APIError
		is     error
	}{
		{name: "replay", status: 401, body: `{"error":{"code":"replay","message":"Nonce already used."}}`,
			want: &APIError{Status: 401, Code: "replay", Message: "Nonce already used."}, is: ErrReplay},
		{name: "unavailable", status: 503, body: `{"error":{"code":"unavailable","message":"Try again later."}}`,
			want: &APIError{Status: 503, Code: "unavailable", Message: "Try again later."}, is: ErrUnavailable},
		{name: "already decided", status: 409, body: `{"error":{"code":"already_decided","message":"x"}}`,
			want: &APIError{Status: 409, Code: "already_decided", Message: "x"}, is: ErrAlreadyDecided},
		{name: "future code", status: 418, body: `{"error":{"code":"teapot","message":"I am a teapot."}}`,
			want: &APIError{Status: 418, Code: "teapot", Message: "I am a teapot."}},
		{name: "no message", status: 404, body: `{"error":{"code":"not_found"}}`,
			want: &APIError{Status: 404, Code: "not_found", Message: "Not Found"}, is: ErrNotFound},
		{name: "control characters", status: 400, body: `{"error":{"code":"bad_request","message":"bad\u001b[31m\nfield"}}`,
			want: &APIError{Status: 400, Code: "bad_request", Message: "bad[31mfield"}, is: ErrBadRequest},
		{name: "proxy page", status: 502, body: `<html>Bad Gateway</html>`,
			want: &APIError{Status: 502, Message: "the gateway answered Bad Gateway without an app API error"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGateway(t)
			f.failStatus, f.failBody = tc.status, tc.body
			_, _, err := f.client().Challenge(t.Context())
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tc.want, apiErr)
			for _, s := range codes {
				assert.Equal(t, s == tc.is, errors.Is(err, s), "errors.Is(%v, %v)", err, s)
			}
		})
	}
}

func TestErrorCodesAreDistinct(t *testing.T) {
	seen := map[error]string{}
	for code, s := range codes {
		require.NotContains(t, seen, s, "%s and %s share a sentinel", code, seen[s])
		seen[s] = code
		assert.True(t, errors.Is(&APIError{Code: code}, s))
	}
	assert.Len(t, codes, 21)
}

func TestBadAnswers(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{name: "not JSON", body: "hello"},
		{name: "trailing data", body: `{"challenge":"c","expires_at":"2026-11-30T22:55:00Z"} {}`},
		{name: "missing fields", body: `{}`},
		{name: "too large", body: `{"challenge":"` + strings.Repeat("a", maxAnswer) + `","expires_at":"2026-11-30T22:55:00Z"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, _, err := (&Client{BaseURL: srv.URL}).Challenge(t.Context())
			require.ErrorIs(t, err, ErrBadAnswer)
		})
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	_, _, err := (&Client{BaseURL: srv.URL}).Challenge(t.Context())
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusTemporaryRedirect, apiErr.Status)
}

func TestBadBaseURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:9000", "ftp://x", "http://", "http://h/?q=1", "http://user:pw@h/"} {
		_, _, err := (&Client{BaseURL: u}).Challenge(t.Context())
		require.ErrorContains(t, err, "base URL", "%q", u)
	}
}

func TestHistoryQueryValues(t *testing.T) {
	madrid := time.FixedZone("CET", 3600)
	tests := []struct {
		q    HistoryQuery
		want string
	}{
		{HistoryQuery{}, ""},
		{HistoryQuery{Outcome: mobile.StateDeclined, Kind: mobile.KindQR, Requester: "Agencia Tributaria",
			From: time.Date(2026, 11, 1, 0, 0, 0, 0, madrid), To: time.Date(2026, 11, 30, 23, 59, 0, 0, madrid),
			Order: mobile.OldestFirst, Limit: 10, Offset: 20},
			"from=2026-11-01&kind=qr&limit=10&offset=20&order=oldest&requester=Agencia+Tributaria&state=declined&to=2026-11-30"},
		{HistoryQuery{Order: mobile.NewestFirst}, ""},
	}
	for _, tc := range tests {
		v, err := tc.q.values()
		require.NoError(t, err)
		assert.Equal(t, tc.want, v.Encode())
	}
	_, err := HistoryQuery{Limit: -1}.values()
	require.ErrorIs(t, err, ErrBadRequest)
}

func TestClockSkewIsTheGatewaysToJudge(t *testing.T) {
	f := newFakeGateway(t)
	s := activateSMS(t, f)
	s.Client.Now = func() time.Time { return testNow.Add(time.Hour) }
	_, err := s.Device(t.Context())
	require.ErrorIs(t, err, ErrStale)
}
