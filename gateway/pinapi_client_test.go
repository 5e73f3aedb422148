package gateway_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/saml"
)

const (
	pinRequestPath = "/api/pin/v1/request"
	pinVerifyPath  = "/api/pin/v1/verify"
)

func (w *world) pinClient() *clave.PINClient {
	return &clave.PINClient{GatewayBaseURL: w.gwSrv.URL, SPID: agencySPID, Key: spKeys.Key, Now: w.clock.Now}
}

func (w *world) acs() string { return w.agency.srv.URL + "/clave/acs" }

func newRequestID(t *testing.T) string {
	id, err := saml.NewID(nil)
	require.NoError(t, err)
	return id
}

// appLogin requests a PIN for maria and verifies it for requestID.
func (w *world) appLogin(requestID string) (string, error) {
	ctx := context.Background()
	pc := w.pinClient()
	ticket, err := pc.RequestPIN(ctx, clave.PINRequest{Document: maria, Contrast: mariaValid})
	require.NoError(w.t, err)
	return pc.VerifyPIN(ctx, clave.PINVerification{Document: maria, RequestCode: ticket.RequestCode,
		PIN: w.lastSMS(mariaPhone).Code, RequestID: requestID, ACSURL: w.acs(), LoA: saml.LoASubstantial})
}

// logBuffer collects the gateway's JSON log lines across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// values returns every attribute value logged, as text.
func (l *logBuffer) values(t *testing.T) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		for _, v := range m {
			out = append(out, fmt.Sprint(v))
		}
	}
	return out
}

func TestPINAPILoginEndToEnd(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	w := newWorld(t, func(c *gateway.Config) { c.Logger = slog.New(slog.NewJSONHandler(logs, nil)) }, nil, nil)
	ctx := context.Background()
	pc := w.pinClient()

	ticket, err := pc.RequestPIN(ctx, clave.PINRequest{Document: "12.345.678-z", Contrast: mariaValid, Code: "ab12"})
	require.NoError(t, err)
	assert.Equal(t, "AB12", ticket.RequestCode, "the citizen may choose the request code")
	assert.True(t, ticket.ExpiresAt.Equal(w.clock.Now().Add(10*time.Minute)), "PIN valid 10 minutes: %v", ticket.ExpiresAt)
	sms := w.lastSMS(mariaPhone)
	assert.Contains(t, sms.Text, ticket.RequestCode)

	reqID := newRequestID(t)
	resp, err := pc.VerifyPIN(ctx, clave.PINVerification{Document: maria, RequestCode: ticket.RequestCode, PIN: strings.ToLower(sms.Code),
		RequestID: reqID, ACSURL: w.acs(), LoA: saml.LoASubstantial})
	require.NoError(t, err)

	id, err := w.agency.client.ValidateAppResponse(ctx, resp, reqID, saml.LoASubstantial)
	require.NoError(t, err)
	assert.Equal(t, "12345678Z", id.PersonIdentifier)
	assert.Equal(t, clave.DocumentDNI, id.DocumentType)
	assert.Equal(t, "MARIA", id.GivenName)
	assert.Equal(t, "GARCIA LOPEZ", id.FamilyNames)
	assert.Equal(t, saml.LoASubstantial, id.LoA)
	assert.Equal(t, saml.MethodAEATPIN, id.Method)

	_, err = w.agency.client.ValidateAppResponse(ctx, resp, reqID, saml.LoASubstantial)
	assert.ErrorIs(t, err, saml.ErrReplay, "a response logs in once")

	// A fresh response offered for another request is refused.
	reqID2 := newRequestID(t)
	resp2, err := w.appLogin(reqID2)
	require.NoError(t, err)
	_, err = w.agency.client.ValidateAppResponse(ctx, resp2, newRequestID(t), saml.LoASubstantial)
	assert.ErrorIs(t, err, saml.ErrInResponseTo)
	_, err = w.agency.client.ValidateAppResponse(ctx, resp2, "", saml.LoASubstantial)
	assert.ErrorIs(t, err, saml.ErrInResponseTo)
	_, err = w.agency.client.ValidateAppResponse(ctx, resp2, reqID2, saml.LoASubstantial)
	assert.NoError(t, err, "the right request ID still validates")

	logged := logs.values(t)
	assert.Contains(t, logged, dni.MustParse(maria).Masked(), "the citizen appears masked")
	for _, v := range logged {
		assert.NotContains(t, v, maria, "no full identifier in logs")
		assert.NotEqual(t, sms.Code, v, "no PIN in logs")
	}
}

// apiAnswer is a raw API answer.
type apiAnswer struct {
	status int
	json   map[string]any
}

func (a apiAnswer) code() string { s, _ := a.json["error"].(string); return s }

func (a apiAnswer) keys() []string {
	var ks []string
	for k := range a.json {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// apiBody is a call body with a fresh envelope for the agency plus fields.
func (w *world) apiBody(fields map[string]string) []byte {
	m := map[string]string{"spid": agencySPID, "issued_at": w.clock.Now().Format(time.RFC3339), "nonce": randomNonce(w.t)}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	require.NoError(w.t, err)
	return b
}

func randomNonce(t *testing.T) string {
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func signatureFor(t *testing.T, spid string, key *rsa.PrivateKey, body []byte) string {
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	require.NoError(t, err)
	return fmt.Sprintf(`spid="%s", alg="rsa-sha256", sig="%s"`, spid, base64.StdEncoding.EncodeToString(sig))
}

// rawCall posts body with the given Clave-Signature header ("" for none).
func (w *world) rawCall(path string, body []byte, sigHeader string) apiAnswer {
	req, err := http.NewRequest(http.MethodPost, w.gwSrv.URL+path, bytes.NewReader(body))
	require.NoError(w.t, err)
	req.Header.Set("Content-Type", "application/json")
	if sigHeader != "" {
		req.Header.Set("Clave-Signature", sigHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	assert.Equal(w.t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(w.t, "no-store", resp.Header.Get("Cache-Control"))
	a := apiAnswer{status: resp.StatusCode}
	require.NoError(w.t, json.NewDecoder(resp.Body).Decode(&a.json))
	return a
}

func (w *world) signedCall(path string, body []byte) apiAnswer {
	return w.rawCall(path, body, signatureFor(w.t, agencySPID, spKeys.Key, body))
}

func smsCount(w *world) int {
	n := 0
	for _, ms := range w.gw.Inbox().All() {
		n += len(ms)
	}
	return n
}

func TestPINAPIRequestRevealsNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	registered := w.signedCall(pinRequestPath, w.apiBody(map[string]string{"document": maria, "contrast": mariaValid}))
	require.Equal(t, http.StatusOK, registered.status, registered.json)
	assert.Equal(t, []string{"expires_at", "request_code"}, registered.keys())
	w.lastSMS(mariaPhone)

	before := smsCount(w)
	for name, fields := range map[string]map[string]string{
		"unregistered":     {"document": "00000000T", "contrast": mariaValid},
		"wrong contrast":   {"document": maria, "contrast": "02/02/2031"},
		"unregistered NIE": {"document": "X1234567L", "contrast": "E12345678"},
	} {
		a := w.signedCall(pinRequestPath, w.apiBody(fields))
		assert.Equal(t, registered.status, a.status, name)
		assert.Equal(t, registered.keys(), a.keys(), name)
		assert.Regexp(t, `^[A-Z0-9]{4}$`, a.json["request_code"], name)
		assert.Equal(t, registered.json["expires_at"], a.json["expires_at"], name)
	}
	assert.Equal(t, before, smsCount(w), "nothing delivered")

	for name, c := range map[string]struct {
		fields map[string]string
		status int
		code   string
	}{
		"bad document":    {map[string]string{"document": "12345678A", "contrast": mariaValid}, http.StatusBadRequest, "bad_document"},
		"eIDAS document":  {map[string]string{"document": "IT/ES/ABC123", "contrast": mariaValid}, http.StatusBadRequest, "bad_document"},
		"bad chosen code": {map[string]string{"document": maria, "contrast": mariaValid, "code": "AB!2"}, http.StatusBadRequest, "bad_code"},
	} {
		a := w.signedCall(pinRequestPath, w.apiBody(c.fields))
		assert.Equal(t, c.status, a.status, name)
		assert.Equal(t, c.code, a.code(), name)
		assert.Equal(t, []string{"error"}, a.keys(), "%s: a code and nothing else", name)
	}
}

func TestPINAPIRefusesUnauthenticatedCalls(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	fresh, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	req := func() []byte { return w.apiBody(map[string]string{"document": maria, "contrast": mariaValid}) }

	t.Run("unsigned", func(t *testing.T) {
		a := w.rawCall(pinRequestPath, req(), "")
		assert.Equal(t, http.StatusUnauthorized, a.status)
		assert.Equal(t, "unauthorized", a.code())
	})
	t.Run("unregistered key", func(t *testing.T) {
		b := req()
		a := w.rawCall(pinRequestPath, b, signatureFor(t, agencySPID, fresh, b))
		assert.Equal(t, http.StatusUnauthorized, a.status)
		assert.Equal(t, "unauthorized", a.code())
	})
	t.Run("unknown service", func(t *testing.T) {
		b := w.apiBody(map[string]string{"spid": "S9999999E_E99999999", "document": maria, "contrast": mariaValid})
		a := w.rawCall(pinRequestPath, b, signatureFor(t, "S9999999E_E99999999", spKeys.Key, b))
		assert.Equal(t, http.StatusUnauthorized, a.status)
		assert.Equal(t, "unauthorized", a.code())
	})
	t.Run("body names another service", func(t *testing.T) {
		b := w.apiBody(map[string]string{"spid": "S9999999E_E99999999", "document": maria, "contrast": mariaValid})
		a := w.rawCall(pinRequestPath, b, signatureFor(t, agencySPID, spKeys.Key, b))
		assert.Equal(t, http.StatusUnauthorized, a.status)
	})
	t.Run("tampered after signing", func(t *testing.T) {
		b := req()
		sig := signatureFor(t, agencySPID, spKeys.Key, b)
		tampered := bytes.Replace(b, []byte(maria), []byte(lucia), 1)
		require.NotEqual(t, b, tampered)
		a := w.rawCall(pinRequestPath, tampered, sig)
		assert.Equal(t, http.StatusUnauthorized, a.status)
		assert.Equal(t, "unauthorized", a.code())
	})
	t.Run("malformed headers", func(t *testing.T) {
		b := req()
		good := signatureFor(t, agencySPID, spKeys.Key, b)
		for _, h := range []string{
			strings.Replace(good, "rsa-sha256", "rsa-sha1", 1),
			strings.Replace(good, `alg="rsa-sha256", `, "", 1),
			good + `, extra="1"`,
			good + `, spid="` + agencySPID + `"`,
			strings.Replace(good, `sig="`, `sig="!`, 1),
			strings.ReplaceAll(good, `"`, ""),
		} {
			a := w.rawCall(pinRequestPath, b, h)
			assert.Equal(t, http.StatusUnauthorized, a.status, h)
		}
	})
	t.Run("stale", func(t *testing.T) {
		b := req()
		w.clock.Advance(5*time.Minute + time.Second)
		a := w.signedCall(pinRequestPath, b)
		assert.Equal(t, http.StatusUnauthorized, a.status)
		assert.Equal(t, "stale", a.code())
	})
	t.Run("from the future", func(t *testing.T) {
		b := w.apiBody(map[string]string{"issued_at": w.clock.Now().Add(2 * time.Minute).Format(time.RFC3339), "document": maria, "contrast": mariaValid})
		a := w.signedCall(pinRequestPath, b)
		assert.Equal(t, http.StatusUnauthorized, a.status)
		assert.Equal(t, "stale", a.code())
	})
	t.Run("replayed", func(t *testing.T) {
		b := req()
		sig := signatureFor(t, agencySPID, spKeys.Key, b)
		first := w.rawCall(pinRequestPath, b, sig)
		require.Equal(t, http.StatusOK, first.status, first.json)
		again := w.rawCall(pinRequestPath, b, sig)
		assert.Equal(t, http.StatusUnauthorized, again.status)
		assert.Equal(t, "replayed", again.code())
		assert.Equal(t, []string{"error"}, again.keys())
	})
}

func TestPINAPIStrictBodies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	now := w.clock.Now().Format(time.RFC3339)
	env := func() string {
		return fmt.Sprintf(`"spid":%q,"issued_at":%q,"nonce":%q`, agencySPID, now, randomNonce(t))
	}
	withNonce := func(nonce string) string {
		return fmt.Sprintf(`{"spid":%q,"issued_at":%q,"nonce":%q,"document":"12345678Z"}`, agencySPID, now, nonce)
	}
	for name, body := range map[string]func() string{
		"unknown field":   func() string { return `{` + env() + `,"document":"12345678Z","extra":"x"}` },
		"repeated key":    func() string { return `{` + env() + `,"document":"00000000T","document":"12345678Z"}` },
		"other case":      func() string { return `{` + env() + `,"Document":"12345678Z"}` },
		"two objects":     func() string { return `{` + env() + `,"document":"12345678Z"}{}` },
		"not a string":    func() string { return `{` + env() + `,"document":12345678}` },
		"null":            func() string { return `{` + env() + `,"document":null}` },
		"short nonce":     func() string { return withNonce("0123456789abcde") },
		"long nonce":      func() string { return withNonce(strings.Repeat("a", 65)) },
		"nonce with dots": func() string { return withNonce(strings.Repeat(".", 20)) },
		"missing nonce":   func() string { return withNonce("") },
		"bad issued_at":   func() string { return strings.Replace(withNonce(randomNonce(t)), now, "yesterday", 1) },
		"array":           func() string { return `[]` },
	} {
		a := w.signedCall(pinRequestPath, []byte(body()))
		assert.Equal(t, http.StatusBadRequest, a.status, name)
		assert.Equal(t, "bad_request", a.code(), name)
	}
	big := w.apiBody(map[string]string{"document": maria, "contrast": strings.Repeat("x", 9000)})
	a := w.signedCall(pinRequestPath, big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, a.status)
	assert.Equal(t, "too_large", a.code())
}

func TestPINAPIVerifyOutcomes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	ctx := context.Background()
	pc := w.pinClient()
	var apiErr *clave.PINAPIError

	t.Run("unregistered ACS URL", func(t *testing.T) {
		ticket, err := pc.RequestPIN(ctx, clave.PINRequest{Document: maria, Contrast: mariaValid})
		require.NoError(t, err)
		_, err = pc.VerifyPIN(ctx, clave.PINVerification{Document: maria, RequestCode: ticket.RequestCode, PIN: w.lastSMS(mariaPhone).Code,
			RequestID: newRequestID(t), ACSURL: "https://evil.example/acs", LoA: saml.LoALow})
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, http.StatusBadRequest, apiErr.Status)
		assert.Equal(t, "bad_acs_url", apiErr.Code)
	})
	t.Run("bad request ID", func(t *testing.T) {
		for _, id := range []string{"", "1abc", "a:b", strings.Repeat("a", 65)} {
			_, err := pc.VerifyPIN(ctx, clave.PINVerification{Document: maria, RequestCode: "ABCD", PIN: "AAA", RequestID: id, ACSURL: w.acs(), LoA: saml.LoALow})
			require.ErrorAs(t, err, &apiErr, id)
			assert.Equal(t, "bad_request_id", apiErr.Code, id)
		}
	})
	t.Run("request ID answered once", func(t *testing.T) {
		reqID := newRequestID(t)
		_, err := w.appLogin(reqID)
		require.NoError(t, err)
		_, err = w.appLogin(reqID)
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, http.StatusConflict, apiErr.Status)
		assert.Equal(t, "request_reused", apiErr.Code)
	})
	t.Run("a refused call spends nothing", func(t *testing.T) {
		w := newWorld(t, nil, nil, nil) // maria's PIN requests are counted apart
		pc := w.pinClient()
		reqID := newRequestID(t)
		_, err := w.appLogin(reqID)
		require.NoError(t, err)
		// The same request ID again, with a fresh, right PIN: refused...
		ticket, err := pc.RequestPIN(ctx, clave.PINRequest{Document: maria, Contrast: mariaValid})
		require.NoError(t, err)
		v := clave.PINVerification{Document: maria, RequestCode: ticket.RequestCode, PIN: w.lastSMS(mariaPhone).Code,
			RequestID: reqID, ACSURL: w.acs(), LoA: saml.LoASubstantial}
		_, err = pc.VerifyPIN(ctx, v)
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, "request_reused", apiErr.Code)
		// ...and the PIN still logs in under a new request ID.
		v.RequestID = newRequestID(t)
		resp, err := pc.VerifyPIN(ctx, v)
		require.NoError(t, err, "the refused call did not spend the PIN")
		assert.NotEmpty(t, resp)
	})
	t.Run("wrong PIN", func(t *testing.T) {
		ticket, err := pc.RequestPIN(ctx, clave.PINRequest{Document: lucia, Contrast: luciaValid})
		require.NoError(t, err)
		good := w.lastSMS(luciaPhone).Code
		v := clave.PINVerification{Document: lucia, RequestCode: ticket.RequestCode, PIN: otherPIN(good), RequestID: newRequestID(t), ACSURL: w.acs(), LoA: saml.LoALow}
		_, err = pc.VerifyPIN(ctx, v)
		assert.ErrorIs(t, err, clave.ErrPINWrong)
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, http.StatusUnauthorized, apiErr.Status)

		v.PIN, v.RequestCode = good, "ZZZZ"
		_, err = pc.VerifyPIN(ctx, v)
		assert.ErrorIs(t, err, clave.ErrPINWrong, "a wrong request code is a wrong PIN")

		// Basic registration: low, not substantial. The PIN is spent.
		v.RequestCode, v.LoA = ticket.RequestCode, saml.LoASubstantial
		_, err = pc.VerifyPIN(ctx, v)
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, http.StatusForbidden, apiErr.Status)
		assert.Equal(t, "loa_not_reached", apiErr.Code)
		v.LoA = saml.LoALow
		_, err = pc.VerifyPIN(ctx, v)
		assert.ErrorIs(t, err, clave.ErrPINWrong, "a used PIN does not verify again")
	})
	t.Run("high is out of reach before the PIN is spent", func(t *testing.T) {
		_, err := pc.VerifyPIN(ctx, clave.PINVerification{Document: maria, RequestCode: "ABCD", PIN: "AAA", RequestID: newRequestID(t), ACSURL: w.acs(), LoA: saml.LoAHigh})
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, "loa_not_reached", apiErr.Code)
	})
	t.Run("expired PIN", func(t *testing.T) {
		ticket, err := pc.RequestPIN(ctx, clave.PINRequest{Document: maria, Contrast: mariaValid})
		require.NoError(t, err)
		pin := w.lastSMS(mariaPhone).Code
		w.clock.Advance(10*time.Minute + time.Second)
		_, err = pc.VerifyPIN(ctx, clave.PINVerification{Document: maria, RequestCode: ticket.RequestCode, PIN: pin, RequestID: newRequestID(t), ACSURL: w.acs(), LoA: saml.LoALow})
		assert.ErrorIs(t, err, clave.ErrPINWrong)
	})
}

func TestPINAPILockout(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	ctx := context.Background()
	pc := w.pinClient()
	ticket, err := pc.RequestPIN(ctx, clave.PINRequest{Document: maria, Contrast: mariaValid})
	require.NoError(t, err)
	good := w.lastSMS(mariaPhone).Code
	v := clave.PINVerification{Document: maria, RequestCode: ticket.RequestCode, PIN: otherPIN(good), RequestID: newRequestID(t), ACSURL: w.acs(), LoA: saml.LoALow}
	verify := func() error {
		_, err := pc.VerifyPIN(ctx, v)
		return err
	}

	for i := 1; i <= 10; i++ {
		require.ErrorIs(t, verify(), clave.ErrPINWrong, "attempt %d", i)
	}
	// Ten verifies a minute per citizen, whatever pin's own counting says.
	err = verify()
	require.ErrorIs(t, err, clave.ErrPINRateLimited)
	var apiErr *clave.PINAPIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusTooManyRequests, apiErr.Status)
	assert.True(t, apiErr.RetryAt.After(w.clock.Now()), "retry_at given")
	w.clock.Advance(time.Minute)

	require.ErrorIs(t, verify(), clave.ErrPINPhoneRequired, "after 10 failures the phone is required")
	v.Phone = mariaPhone
	for i := 12; i <= 30; i++ {
		if i%10 == 0 {
			w.clock.Advance(time.Minute)
		}
		require.ErrorIs(t, verify(), clave.ErrPINWrong, "attempt %d", i)
	}
	w.clock.Advance(time.Minute)
	require.ErrorIs(t, verify(), clave.ErrPINBlocked, "the 31st failure blocks")
	v.PIN = good
	assert.ErrorIs(t, verify(), clave.ErrPINBlocked, "even the right PIN while blocked")
	_, err = pc.RequestPIN(ctx, clave.PINRequest{Document: maria, Contrast: mariaValid})
	assert.ErrorIs(t, err, clave.ErrPINBlocked, "no new PIN either")
}

func TestPINAPIServiceRateLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(c *gateway.Config) { c.APIRate = gateway.APIRateLimit{PerMinute: 2, Burst: 2} }, nil, nil)
	ctx := context.Background()
	pc := w.pinClient()
	r := clave.PINRequest{Document: "00000000T", Contrast: mariaValid}
	for i := 0; i < 2; i++ {
		_, err := pc.RequestPIN(ctx, r)
		require.NoError(t, err)
	}
	_, err := pc.RequestPIN(ctx, r)
	require.ErrorIs(t, err, clave.ErrPINRateLimited)
	var apiErr *clave.PINAPIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusTooManyRequests, apiErr.Status)
	assert.True(t, apiErr.RetryAt.Equal(w.clock.Now().Add(30*time.Second)), "one call every 30 s: %v", apiErr.RetryAt)
	assert.False(t, errors.Is(err, clave.ErrPINWrong))

	w.clock.Advance(30 * time.Second)
	_, err = pc.RequestPIN(ctx, r)
	assert.NoError(t, err, "the bucket refills")
}

func TestPINClientRefusesPlainHTTPToOtherHosts(t *testing.T) {
	t.Parallel()
	keys(t)
	pc := &clave.PINClient{GatewayBaseURL: "http://pasarela.example", SPID: agencySPID, Key: spKeys.Key}
	_, err := pc.RequestPIN(context.Background(), clave.PINRequest{Document: maria})
	assert.ErrorContains(t, err, "https")
}

// A procedures app logs a citizen in with Cl@ve PIN through the service's
// back end: no browser, the same signed Response. The reference gateway
// (started by clavetest, with the demo citizen registered) stands in for
// Cl@ve; acs is only ever a name here.
func Example_pinClient() {
	ctx := context.Background()
	gw := clavetest.NewGateway()
	defer gw.Close()
	const acs = "https://sede.example.es/clave/acs"

	// The service's back end: a Client to validate, a PINClient to call.
	c, err := clave.New(gw.Config(acs))
	if err != nil {
		panic(err)
	}
	pc := &clave.PINClient{GatewayBaseURL: gw.URL, SPID: clavetest.SPID, Key: gw.AgencyKey()}

	ticket, err := pc.RequestPIN(ctx, clave.PINRequest{Document: "12345678Z", Contrast: "01/01/2030"})
	if err != nil {
		panic(err)
	}
	sms, _ := gw.Inbox().Last(gateway.ChannelSMS, "+34600000001") // what the citizen reads on the phone
	requestID, _ := saml.NewID(nil)                               // kept by the back end for this app session
	resp, err := pc.VerifyPIN(ctx, clave.PINVerification{Document: "12345678Z", RequestCode: ticket.RequestCode,
		PIN: sms.Code, RequestID: requestID, ACSURL: acs, LoA: saml.LoASubstantial})
	if err != nil {
		panic(err)
	}
	id, err := c.ValidateAppResponse(ctx, resp, requestID, saml.LoASubstantial)
	if err != nil {
		panic(err)
	}
	fmt.Println(id.PersonIdentifier, id.LoA, id.Method)
	// Output: 12345678Z substantial AEAT
}
