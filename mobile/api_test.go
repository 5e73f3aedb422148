package mobile_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/mobile"
)

const (
	smsPath        = "/app/v1/activation/sms"
	activationPath = "/app/v1/activation"
)

func smsBody(who, datum string) map[string]string {
	return map[string]string{"citizen": who, "contrast": datum}
}

func codeBody(who, code string, p *appPhone) map[string]string {
	return map[string]string{"method": "sms", "citizen": who, "public_key": b64(p.pub()), "code": code}
}

func TestAPISMSCodeAnswersAlike(t *testing.T) {
	e := newAPIEnv(t, nil)
	cases := []struct {
		name, who, datum string
		sent             bool
	}{
		{"registered", citizen, contrast, true},
		{"registered, other spelling", "12.345.678-z", "2040-01-01", true},
		{"unknown", stranger, contrast, false},
		{"wrong contrast", otherOne, "E99999999", false},
		{"blocked", blockedOne, contrast, false},
	}
	var first []byte
	for i, c := range cases {
		a := e.post(t, smsPath, smsBody(c.who, c.datum), "client-"+c.name)
		require.Equal(t, http.StatusAccepted, a.status, "%s: %s", c.name, a.body)
		if i == 0 {
			first = a.body
			var out struct {
				ExpiresAt string `json:"expires_at"`
				Attempts  int    `json:"attempts"`
			}
			a.decode(t, &out)
			assert.Equal(t, t0.Add(10*time.Minute).Format(time.RFC3339), out.ExpiresAt)
			assert.Equal(t, 3, out.Attempts)
		}
		assert.Equal(t, string(first), string(a.body), c.name)
	}
	msgs := e.sms.all()
	require.Len(t, msgs, 2, "only the registered citizen with the right contrast gets SMS")
	for _, m := range msgs {
		assert.Equal(t, method.SMS, m.Channel)
		assert.Equal(t, "+34600000001", m.To)
		assert.Len(t, m.Code, mobile.CodeLength)
		assert.Equal(t, "Cl@ve: su código de activación de Cl@ve Móvil es "+m.Code+". Válido 10 minutos.", m.Text)
		assert.Equal(t, t0.Add(10*time.Minute), m.ExpiresAt)
	}

	// A failing SMS provider is not told apart either.
	e.sms.fail.Store(true)
	a := e.post(t, smsPath, smsBody(citizen, contrast), "client-x")
	require.Equal(t, http.StatusAccepted, a.status)
	assert.Equal(t, string(first), string(a.body))
	assert.Contains(t, e.logs.String(), "not delivered")
}

func TestAPISMSActivation(t *testing.T) {
	e := newAPIEnv(t, nil)
	require.Equal(t, http.StatusAccepted, e.post(t, smsPath, smsBody(citizen, contrast), "").status)
	code := e.sms.lastCode(t, "+34600000001")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	p := newAppPhone()

	requireError(t, e.post(t, activationPath, codeBody(citizen, wrong, p), ""), http.StatusUnauthorized, "wrong_code")
	requireError(t, e.post(t, activationPath, codeBody(citizen, wrong, p), ""), http.StatusUnauthorized, "wrong_code")
	requireError(t, e.post(t, activationPath, codeBody(citizen, wrong, p), ""), http.StatusTooManyRequests, "too_many_attempts")
	requireError(t, e.post(t, activationPath, codeBody(citizen, code, p), ""), http.StatusTooManyRequests, "too_many_attempts")

	// A new code works, typed as the SMS shows it or not.
	e.clock.Advance(time.Minute)
	require.Equal(t, http.StatusAccepted, e.post(t, smsPath, smsBody(citizen, contrast), "").status)
	code = e.sms.lastCode(t, "+34600000001")
	a := e.post(t, activationPath, codeBody(citizen, code[:3]+" "+code[3:], p), "")
	require.Equal(t, http.StatusCreated, a.status, string(a.body))
	var dev struct {
		DeviceID    string `json:"device_id"`
		Citizen     string `json:"citizen"`
		Method      string `json:"method"`
		ActivatedAt string `json:"activated_at"`
	}
	a.decode(t, &dev)
	assert.Equal(t, citizen, dev.Citizen)
	assert.Equal(t, "sms", dev.Method)
	assert.Equal(t, e.clock.Now().Format(time.RFC3339), dev.ActivatedAt)
	p.id, p.citizen = dev.DeviceID, dev.Citizen
	require.Equal(t, http.StatusOK, e.signed(t, p, http.MethodGet, "/app/v1/device", nil).status)

	// The code is spent: nothing is outstanding any more.
	requireError(t, e.post(t, activationPath, codeBody(citizen, code, newAppPhone()), ""), http.StatusConflict, "no_code")
}

// TestAPISMSStrangersAnswerAlike checks that every step of an SMS
// activation answers an unknown identifier, a wrong contrast datum and a
// blocked citizen as it answers a registered citizen typing wrong codes.
func TestAPISMSStrangersAnswerAlike(t *testing.T) {
	type step struct {
		status int
		body   string
	}
	script := func(who, datum string) []step {
		e := newAPIEnv(t, nil)
		var out []step
		p := newAppPhone()
		record := func(a answer) { out = append(out, step{a.status, string(a.body)}) }
		record(e.post(t, activationPath, codeBody(who, "999999", p), "")) // nothing asked yet
		record(e.post(t, smsPath, smsBody(who, datum), ""))
		for range 4 {
			record(e.post(t, activationPath, codeBody(who, "999999", p), ""))
		}
		record(e.post(t, smsPath, smsBody(who, datum), ""))
		e.clock.Advance(10 * time.Minute)
		record(e.post(t, activationPath, codeBody(who, "999999", p), ""))
		record(e.post(t, activationPath, codeBody(who, "999999", p), ""))
		for _, m := range e.sms.all() {
			if m.Code == "999999" {
				t.Skip("the random code happened to be the wrong one typed")
			}
		}
		return out
	}
	want := script(noCodeOne, contrast)
	wantCodes := []string{"no_code", "", "wrong_code", "wrong_code", "too_many_attempts", "too_many_attempts", "", "expired", "no_code"}
	for i, s := range want {
		if wantCodes[i] != "" {
			assert.Contains(t, s.body, `"code":"`+wantCodes[i]+`"`, "step %d", i)
		}
	}
	for _, c := range []struct{ name, who, datum string }{
		{"unknown", stranger, contrast},
		{"wrong contrast", otherOne, "E00000000"},
		{"blocked", blockedOne, contrast},
	} {
		assert.Equal(t, want, script(c.who, c.datum), c.name)
	}
}

func TestAPISMSLimits(t *testing.T) {
	t.Run("per citizen", func(t *testing.T) {
		e := newAPIEnv(t, nil)
		for _, who := range []string{citizen, stranger} {
			for i := range 3 {
				require.Equal(t, http.StatusAccepted, e.post(t, smsPath, smsBody(who, contrast), "c"+string(rune('a'+i))).status)
			}
			a := e.post(t, smsPath, smsBody(who, contrast), "cz")
			requireError(t, a, http.StatusTooManyRequests, "too_many_attempts")
			assert.NotEmpty(t, a.header.Get("Retry-After"))
		}
		require.Len(t, e.sms.all(), 3)
		e.clock.Advance(time.Hour)
		require.Equal(t, http.StatusAccepted, e.post(t, smsPath, smsBody(citizen, contrast), "cz").status)
	})
	t.Run("per client", func(t *testing.T) {
		e := newAPIEnv(t, nil)
		for i := range 10 {
			require.Equal(t, http.StatusAccepted, e.post(t, smsPath, smsBody(dniOf(100+i%5), contrast), "greedy").status, i)
		}
		requireError(t, e.post(t, smsPath, smsBody(dniOf(100), contrast), "greedy"), http.StatusTooManyRequests, "too_many_attempts")
		require.Equal(t, http.StatusAccepted, e.post(t, smsPath, smsBody(dniOf(100), contrast), "other").status)
	})
	t.Run("identifiers per client", func(t *testing.T) {
		e := newAPIEnv(t, nil)
		for i := range 5 {
			require.Equal(t, http.StatusAccepted, e.post(t, smsPath, smsBody(dniOf(200+i), contrast), "prober").status)
		}
		requireError(t, e.post(t, smsPath, smsBody(dniOf(205), contrast), "prober"), http.StatusTooManyRequests, "too_many_attempts")
		e.clock.Advance(10 * time.Minute)
		require.Equal(t, http.StatusAccepted, e.post(t, smsPath, smsBody(dniOf(205), contrast), "prober").status)
	})
	t.Run("activations per client", func(t *testing.T) {
		e := newAPIEnv(t, nil)
		for i := range 20 {
			requireError(t, e.post(t, activationPath, codeBody(dniOf(300+i), "123456", newAppPhone()), "guesser"), http.StatusConflict, "no_code")
		}
		requireError(t, e.post(t, activationPath, codeBody(dniOf(320), "123456", newAppPhone()), "guesser"), http.StatusTooManyRequests, "too_many_attempts")
	})
}

func TestAPISMSBadInput(t *testing.T) {
	e := newAPIEnv(t, nil)
	for name, body := range map[string]any{
		"invalid DNI":      smsBody("12345678A", contrast),
		"eIDAS identifier": smsBody("DE/ES/1234", contrast),
		"no contrast":      smsBody(citizen, ""),
		"unknown field":    map[string]string{"citizen": citizen, "contrast": contrast, "phone": "+34600000000"},
		"other case":       map[string]string{"Citizen": citizen, "contrast": contrast},
		"repeated field":   []byte(`{"citizen":"` + citizen + `","citizen":"` + otherOne + `","contrast":"x"}`),
		"two objects":      []byte(`{"citizen":"` + citizen + `","contrast":"x"}{}`),
		"array":            []byte(`[]`),
		"number":           []byte(`{"citizen":12345678,"contrast":"x"}`),
		"empty":            []byte(``),
		"not JSON":         []byte(`citizen=12345678Z`),
	} {
		t.Run(name, func(t *testing.T) {
			requireError(t, e.post(t, smsPath, body, ""), http.StatusBadRequest, "bad_request")
		})
	}
	requireError(t, e.post(t, smsPath, bytes.Repeat([]byte(" "), mobile.MaxAPIBody+1), ""), http.StatusRequestEntityTooLarge, "too_large")
	big := `{"citizen":"` + citizen + `","contrast":"` + strings.Repeat("x", 17<<10) + `"}`
	requireError(t, e.post(t, smsPath, []byte(big), ""), http.StatusRequestEntityTooLarge, "too_large")
	require.Empty(t, e.sms.all())

	p := newAppPhone()
	for name, body := range map[string]map[string]any{
		"no method":      {"citizen": citizen, "public_key": b64(p.pub()), "code": "123456"},
		"unknown method": {"method": "fingerprint", "citizen": citizen, "public_key": b64(p.pub()), "code": "123456"},
		"short key":      {"method": "sms", "citizen": citizen, "public_key": b64(p.pub()[:31]), "code": "123456"},
		"padded key":     {"method": "sms", "citizen": citizen, "public_key": b64(p.pub()) + "=", "code": "123456"},
		"no code":        {"method": "sms", "citizen": citizen, "public_key": b64(p.pub())},
		"mixed methods":  {"method": "sms", "citizen": citizen, "public_key": b64(p.pub()), "code": "123456", "can": "123456"},
		"bad citizen":    {"method": "sms", "citizen": "X", "public_key": b64(p.pub()), "code": "123456"},
	} {
		t.Run(name, func(t *testing.T) {
			requireError(t, e.post(t, activationPath, body, ""), http.StatusBadRequest, "bad_request")
		})
	}
}

func TestAPICertificateActivation(t *testing.T) {
	e := newAPIEnv(t, nil)
	activate := func(t *testing.T, h *holder, who string, m mobile.ActivationMethod) (answer, *appPhone) {
		p := newAppPhone()
		return e.post(t, activationPath, proofBody(t, h, p, who, m, e.challenge(t)), e.nonce()), p
	}

	t.Run("good chain", func(t *testing.T) {
		h := e.certCA.intermediate(t, "Test issuing CA").issue(t, citizen, nil, nil)
		a, p := activate(t, h, citizen, mobile.ByCertificate)
		require.Equal(t, http.StatusCreated, a.status, string(a.body))
		var out struct {
			DeviceID    string `json:"device_id"`
			Citizen     string `json:"citizen"`
			Method      string `json:"method"`
			ActivatedAt string `json:"activated_at"`
		}
		a.decode(t, &out)
		assert.Equal(t, citizen, out.Citizen)
		assert.Equal(t, "certificate", out.Method)
		p.id = out.DeviceID
		require.Equal(t, http.StatusOK, e.signed(t, p, http.MethodGet, "/app/v1/device", nil).status)
	})
	t.Run("RSA key, serial without prefix", func(t *testing.T) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		h := e.certCA.issue(t, otherOne, key, func(c *x509.Certificate) { c.Subject.SerialNumber = otherOne })
		a, _ := activate(t, h, otherOne, mobile.ByCertificate)
		require.Equal(t, http.StatusCreated, a.status, string(a.body))
	})
	for _, c := range []struct {
		name string
		h    func(t *testing.T) *holder
		who  string
	}{
		{"wrong citizen", func(t *testing.T) *holder { return e.certCA.issue(t, otherOne, nil, nil) }, citizen},
		{"expired", func(t *testing.T) *holder {
			return e.certCA.issue(t, citizen, nil, func(c *x509.Certificate) { c.NotAfter = t0.Add(-time.Hour) })
		}, citizen},
		{"not yet valid", func(t *testing.T) *holder {
			return e.certCA.issue(t, citizen, nil, func(c *x509.Certificate) { c.NotBefore = t0.Add(time.Hour) })
		}, citizen},
		{"untrusted root", func(t *testing.T) *holder { return newTestCA(t, "Rogue CA").issue(t, citizen, nil, nil) }, citizen},
		{"DNIe root for a certificate", func(t *testing.T) *holder { return e.dnieCA.issue(t, citizen, nil, nil) }, citizen},
		{"server certificate", func(t *testing.T) *holder {
			return e.certCA.issue(t, citizen, nil, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })
		}, citizen},
		{"no extended key usage", func(t *testing.T) *holder {
			return e.certCA.issue(t, citizen, nil, func(c *x509.Certificate) { c.ExtKeyUsage = nil })
		}, citizen},
		{"unregistered citizen", func(t *testing.T) *holder { return e.certCA.issue(t, stranger, nil, nil) }, stranger},
		{"blocked citizen", func(t *testing.T) *holder { return e.certCA.issue(t, blockedOne, nil, nil) }, blockedOne},
		{"loose serial", func(t *testing.T) *holder {
			return e.certCA.issue(t, citizen, nil, func(c *x509.Certificate) { c.Subject.SerialNumber = "IDCES-12.345.678-z" })
		}, citizen},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, _ := activate(t, c.h(t), c.who, mobile.ByCertificate)
			requireError(t, a, http.StatusUnauthorized, "bad_proof")
		})
	}
	t.Run("bad proof", func(t *testing.T) {
		h := e.certCA.issue(t, citizen, nil, nil)
		p := newAppPhone()
		body := proofBody(t, h, newAppPhone(), citizen, mobile.ByCertificate, e.challenge(t)) // signed for another key
		body["public_key"] = b64(p.pub())
		requireError(t, e.post(t, activationPath, body, ""), http.StatusUnauthorized, "bad_proof")
		body = proofBody(t, h, p, citizen, mobile.ByDNIe, e.challenge(t)) // signed for another method
		body["method"] = "certificate"
		requireError(t, e.post(t, activationPath, body, ""), http.StatusUnauthorized, "bad_proof")
		body = proofBody(t, h, p, citizen, mobile.ByCertificate, e.challenge(t))
		body["proof"] = b64([]byte("not a signature"))
		requireError(t, e.post(t, activationPath, body, ""), http.StatusUnauthorized, "bad_proof")
	})
	t.Run("replayed challenge", func(t *testing.T) {
		h := e.certCA.issue(t, citizen, nil, nil)
		ch := e.challenge(t)
		require.Equal(t, http.StatusCreated, e.post(t, activationPath, proofBody(t, h, newAppPhone(), citizen, mobile.ByCertificate, ch), "").status)
		requireError(t, e.post(t, activationPath, proofBody(t, h, newAppPhone(), citizen, mobile.ByCertificate, ch), ""), http.StatusUnauthorized, "replay")
	})
	t.Run("forged challenge", func(t *testing.T) {
		h := e.certCA.issue(t, citizen, nil, nil)
		ch := []byte(e.challenge(t))
		ch[3] ^= 1
		if ch[3] == '_' || ch[3] == '-' || !(ch[3] >= 'a' && ch[3] <= 'z' || ch[3] >= 'A' && ch[3] <= 'Z' || ch[3] >= '0' && ch[3] <= '9') {
			ch[3] = 'A'
		}
		requireError(t, e.post(t, activationPath, proofBody(t, h, newAppPhone(), citizen, mobile.ByCertificate, string(ch)), ""), http.StatusUnauthorized, "bad_proof")
		requireError(t, e.post(t, activationPath, proofBody(t, h, newAppPhone(), citizen, mobile.ByCertificate, "AAAA"), ""), http.StatusUnauthorized, "bad_proof")
	})
	t.Run("expired challenge", func(t *testing.T) {
		h := e.certCA.issue(t, citizen, nil, func(c *x509.Certificate) { c.NotAfter = t0.AddDate(0, 1, 0) })
		ch := e.challenge(t)
		e.clock.Advance(5 * time.Minute)
		requireError(t, e.post(t, activationPath, proofBody(t, h, newAppPhone(), citizen, mobile.ByCertificate, ch), ""), http.StatusGone, "expired")
	})
	t.Run("malformed", func(t *testing.T) {
		h := e.certCA.issue(t, citizen, nil, nil)
		p := newAppPhone()
		for name, edit := range map[string]func(map[string]any){
			"no chain":       func(b map[string]any) { delete(b, "certificate_chain") },
			"chain not b64":  func(b map[string]any) { b["certificate_chain"] = []string{"***"} },
			"chain too long": func(b map[string]any) { b["certificate_chain"] = []string{"AA", "AA", "AA", "AA", "AA"} },
			"no challenge":   func(b map[string]any) { delete(b, "challenge") },
			"proof not b64":  func(b map[string]any) { b["proof"] = "!!" },
			"with code":      func(b map[string]any) { b["code"] = "123456" },
			"with CAN":       func(b map[string]any) { b["can"] = "123456" },
		} {
			t.Run(name, func(t *testing.T) {
				body := proofBody(t, h, p, citizen, mobile.ByCertificate, e.challenge(t))
				edit(body)
				requireError(t, e.post(t, activationPath, body, e.nonce()), http.StatusBadRequest, "bad_request")
			})
		}
		body := proofBody(t, h, p, citizen, mobile.ByCertificate, e.challenge(t))
		body["certificate_chain"] = []string{b64([]byte("not DER"))}
		requireError(t, e.post(t, activationPath, body, e.nonce()), http.StatusUnauthorized, "bad_proof")
	})
}

func TestAPIDNIeActivation(t *testing.T) {
	e := newAPIEnv(t, nil)
	card := e.dnieCA.issue(t, citizen, nil, nil)
	e.cans.Store(card.leaf.SerialNumber.String(), "482913")
	withCAN := func(can string) map[string]any {
		b := proofBody(t, card, newAppPhone(), citizen, mobile.ByDNIe, e.challenge(t))
		b["can"] = can
		return b
	}
	requireError(t, e.post(t, activationPath, withCAN("482914"), ""), http.StatusUnauthorized, "bad_proof")
	requireError(t, e.post(t, activationPath, withCAN("48291"), ""), http.StatusBadRequest, "bad_request")
	requireError(t, e.post(t, activationPath, withCAN("48291a"), ""), http.StatusBadRequest, "bad_request")
	a := e.post(t, activationPath, withCAN("482913"), "")
	require.Equal(t, http.StatusCreated, a.status, string(a.body))
	assert.Contains(t, string(a.body), `"method":"dnie"`)

	// A certificate that is no DNIe, even with a CAN the gateway knows.
	cert := e.certCA.issue(t, citizen, nil, nil)
	e.cans.Store(cert.leaf.SerialNumber.String(), "111111")
	b := proofBody(t, cert, newAppPhone(), citizen, mobile.ByDNIe, e.challenge(t))
	b["can"] = "111111"
	requireError(t, e.post(t, activationPath, b, ""), http.StatusUnauthorized, "bad_proof")

	// A card whose CAN the gateway cannot tell.
	unknown := e.dnieCA.issue(t, citizen, nil, nil)
	b = proofBody(t, unknown, newAppPhone(), citizen, mobile.ByDNIe, e.challenge(t))
	b["can"] = "000000"
	requireError(t, e.post(t, activationPath, b, ""), http.StatusUnauthorized, "bad_proof")
}

func TestAPIActivationMethodsOff(t *testing.T) {
	e := newAPIEnv(t, func(c *mobile.APIConfig) {
		c.CertificateRoots, c.DNIeRoots, c.CardAccessNumber = nil, nil, nil
	})
	h := e.certCA.issue(t, citizen, nil, nil)
	requireError(t, e.post(t, activationPath, proofBody(t, h, newAppPhone(), citizen, mobile.ByCertificate, e.challenge(t)), ""), http.StatusUnauthorized, "bad_proof")
	b := proofBody(t, h, newAppPhone(), citizen, mobile.ByDNIe, e.challenge(t))
	b["can"] = "123456"
	requireError(t, e.post(t, activationPath, b, ""), http.StatusUnauthorized, "bad_proof")
}

func TestAPISignedCalls(t *testing.T) {
	e := newAPIEnv(t, nil)
	p := e.activated(t, citizen)

	a := e.signed(t, p, http.MethodGet, "/app/v1/device", nil)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var dev struct {
		DeviceID      string `json:"device_id"`
		CitizenMasked string `json:"citizen_masked"`
		Method        string `json:"method"`
		Status        string `json:"status"`
		ActivatedAt   string `json:"activated_at"`
	}
	a.decode(t, &dev)
	assert.Equal(t, p.id, dev.DeviceID)
	assert.Equal(t, "*****678Z", dev.CitizenMasked)
	assert.Equal(t, "certificate", dev.Method)
	assert.Equal(t, "active", dev.Status)
	assert.Equal(t, t0.Format(time.RFC3339), dev.ActivatedAt)
	assert.Equal(t, "no-store", a.header.Get("Cache-Control"))

	ctx := context.Background()
	t.Run("missing headers", func(t *testing.T) {
		requireError(t, e.send(t, ctx, http.MethodGet, "/app/v1/device", nil, nil), http.StatusUnauthorized, "unauthenticated")
		for _, h := range []string{mobile.HeaderDevice, mobile.HeaderTime, mobile.HeaderNonce, mobile.HeaderSignature} {
			a := e.send(t, ctx, http.MethodGet, "/app/v1/device", nil, func(r *http.Request, raw []byte) {
				require.NoError(t, mobile.SignCall(r, p.id, p.priv, e.clock.Now(), e.nonce(), raw))
				r.Header.Del(h)
			})
			requireError(t, a, http.StatusUnauthorized, "unauthenticated")
		}
	})
	t.Run("malformed time", func(t *testing.T) {
		a := e.send(t, ctx, http.MethodGet, "/app/v1/device", nil, func(r *http.Request, raw []byte) {
			require.NoError(t, mobile.SignCall(r, p.id, p.priv, e.clock.Now(), e.nonce(), raw))
			r.Header.Set(mobile.HeaderTime, "yesterday")
		})
		requireError(t, a, http.StatusUnauthorized, "unauthenticated")
	})
	t.Run("unknown device", func(t *testing.T) {
		ghost := &appPhone{priv: newAppPhone().priv, id: "no-such-device-0000000"}
		requireError(t, e.signed(t, ghost, http.MethodGet, "/app/v1/device", nil), http.StatusUnauthorized, "unauthenticated")
	})
	t.Run("bad signature", func(t *testing.T) {
		thief := &appPhone{priv: newAppPhone().priv, id: p.id}
		requireError(t, e.signed(t, thief, http.MethodGet, "/app/v1/device", nil), http.StatusUnauthorized, "bad_signature")
		a := e.send(t, ctx, http.MethodGet, "/app/v1/history?limit=2", nil, func(r *http.Request, raw []byte) {
			r.URL.RawQuery = "limit=1"
			require.NoError(t, mobile.SignCall(r, p.id, p.priv, e.clock.Now(), e.nonce(), raw))
			r.URL.RawQuery = "limit=2"
		})
		requireError(t, a, http.StatusUnauthorized, "bad_signature")
		a = e.send(t, ctx, http.MethodPost, "/app/v1/requests/scan", []byte(`{"payload":"x"}`), func(r *http.Request, raw []byte) {
			require.NoError(t, mobile.SignCall(r, p.id, p.priv, e.clock.Now(), e.nonce(), []byte(`{"payload":"y"}`)))
		})
		requireError(t, a, http.StatusUnauthorized, "bad_signature")
	})
	t.Run("stale", func(t *testing.T) {
		requireError(t, e.signedAt(t, ctx, p, http.MethodGet, "/app/v1/device", nil, e.clock.Now().Add(-3*time.Minute), e.nonce()), http.StatusUnauthorized, "stale")
		requireError(t, e.signedAt(t, ctx, p, http.MethodGet, "/app/v1/device", nil, e.clock.Now().Add(3*time.Minute), e.nonce()), http.StatusUnauthorized, "stale")
	})
	t.Run("replay", func(t *testing.T) {
		n := e.nonce()
		require.Equal(t, http.StatusOK, e.signedAt(t, ctx, p, http.MethodGet, "/app/v1/device", nil, e.clock.Now(), n).status)
		requireError(t, e.signedAt(t, ctx, p, http.MethodGet, "/app/v1/device", nil, e.clock.Now(), n), http.StatusUnauthorized, "replay")
	})
	t.Run("second device takes over", func(t *testing.T) {
		q := e.activated(t, citizen)
		requireError(t, e.signed(t, p, http.MethodGet, "/app/v1/device", nil), http.StatusForbidden, "device_inactive")
		require.Equal(t, http.StatusOK, e.signed(t, q, http.MethodGet, "/app/v1/device", nil).status)
		p = q
	})
	t.Run("deactivated", func(t *testing.T) {
		a := e.signed(t, p, http.MethodDelete, "/app/v1/device", nil)
		require.Equal(t, http.StatusOK, a.status, string(a.body))
		assert.JSONEq(t, `{"status":"deactivated"}`, string(a.body))
		requireError(t, e.signed(t, p, http.MethodGet, "/app/v1/device", nil), http.StatusForbidden, "device_inactive")
		requireError(t, e.signed(t, p, http.MethodDelete, "/app/v1/device", nil), http.StatusForbidden, "device_inactive")
		requireError(t, e.signed(t, p, http.MethodGet, "/app/v1/requests", nil), http.StatusForbidden, "device_inactive")
	})
}

func TestAPIRouting(t *testing.T) {
	e := newAPIEnv(t, nil)
	ctx := context.Background()
	for _, c := range []struct{ verb, path, allow string }{
		{http.MethodGet, smsPath, "POST"},
		{http.MethodPut, activationPath, "POST"},
		{http.MethodPost, "/app/v1/activation/challenge", "GET"},
		{http.MethodPost, "/app/v1/device", "GET, DELETE"},
		{http.MethodPost, "/app/v1/requests", "GET"},
		{http.MethodGet, "/app/v1/requests/scan", "POST"},
		{http.MethodGet, "/app/v1/requests/abc/decision", "POST"},
		{http.MethodDelete, "/app/v1/pins", "GET"},
		{http.MethodHead, "/app/v1/history", "GET"},
	} {
		a := e.send(t, ctx, c.verb, c.path, nil, nil)
		require.Equal(t, http.StatusMethodNotAllowed, a.status, c.verb+" "+c.path)
		assert.Equal(t, c.allow, a.header.Get("Allow"))
		if c.verb != http.MethodHead {
			checkErrorShape(t, a.header, a.body, "method_not_allowed")
		}
	}
	for _, path := range []string{"/app/v1/", "/app/v1/nothing", "/app/v2/device", "/app/v1/device/", "/app/v1/requests/a/b/decision", "/app/v1/requests//decision", "/elsewhere"} {
		requireError(t, e.send(t, ctx, http.MethodGet, path, nil, nil), http.StatusNotFound, "not_found")
	}
	requireError(t, e.send(t, ctx, http.MethodGet, "/app/v1/activation/challenge?x=1", nil, nil), http.StatusBadRequest, "bad_request")
	p := e.activated(t, citizen)
	requireError(t, e.signed(t, p, http.MethodGet, "/app/v1/device?verbose=1", nil), http.StatusBadRequest, "bad_request")
	requireError(t, e.signed(t, p, http.MethodPost, "/app/v1/requests/scan", bytes.Repeat([]byte("x"), mobile.MaxAPIBody+1)), http.StatusRequestEntityTooLarge, "too_large")
	requireError(t, e.signed(t, p, http.MethodPost, "/app/v1/requests/scan", map[string]string{"payload": "x", "extra": "y"}), http.StatusBadRequest, "bad_request")
}

// listRequests is the device's pending list.
func listRequests(t testing.TB, a answer) []wireReq {
	t.Helper()
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var out struct {
		Requests []wireReq `json:"requests"`
	}
	a.decode(t, &out)
	require.NotNil(t, out.Requests, "an empty list is [], not null")
	return out.Requests
}

func TestAPIRequestsLongPoll(t *testing.T) {
	e := newAPIEnv(t, nil)
	p := e.activated(t, citizen)
	ctx := context.Background()
	require.Empty(t, listRequests(t, e.signed(t, p, http.MethodGet, "/app/v1/requests", nil)))

	poll := func(ctx context.Context) <-chan answer {
		out := make(chan answer, 1)
		at, n := e.clock.Now(), e.nonce()
		go func() { out <- e.signedAt(t, ctx, p, http.MethodGet, "/app/v1/requests?wait=60", nil, at, n) }()
		return out
	}

	t.Run("woken by a push", func(t *testing.T) {
		done := poll(ctx)
		assert.Equal(t, mobile.CitizenTopic(citizen), await(t, e.signals.subscribed, "subscription"))
		r := e.pushRequest(t, citizen, "Agencia Tributaria")
		list := listRequests(t, await(t, done, "answer"))
		require.Len(t, list, 1)
		got := list[0]
		assert.Equal(t, r.ID, got.ID)
		assert.Equal(t, r.LoginID, got.LoginID)
		assert.Equal(t, "Agencia Tributaria", got.Requester)
		assert.Equal(t, "push", got.Kind)
		assert.Equal(t, r.Nonce, got.Nonce)
		assert.Equal(t, b64(r.Secret), got.Secret)
		assert.Equal(t, r.VerificationCode(), got.VerificationCode)
		secret, err := base64RawURL(got.Secret)
		require.NoError(t, err)
		assert.Equal(t, got.VerificationCode, mobile.VerificationCode(secret, got.ID))
		assert.Equal(t, t0.Format(time.RFC3339), got.CreatedAt)
		assert.Equal(t, t0.Add(5*time.Minute).Format(time.RFC3339), got.ExpiresAt)
		await(t, e.signals.stopped, "unsubscription")
		assert.Zero(t, e.signals.Waiters())
	})
	t.Run("pending answers at once", func(t *testing.T) {
		list := listRequests(t, await(t, poll(ctx), "answer"))
		require.Len(t, list, 1)
		drain(e.signals.subscribed, e.signals.stopped)
	})
	// Decline it, so the list is empty again.
	e.decidePending(t, p, mobile.Decline)

	t.Run("another citizen's push does not answer", func(t *testing.T) {
		done := poll(ctx)
		await(t, e.signals.subscribed, "subscription")
		e.activated(t, otherOne)
		e.pushRequest(t, otherOne, "DGT")
		r := e.pushRequest(t, citizen, "DGT")
		list := listRequests(t, await(t, done, "answer"))
		require.Len(t, list, 1)
		assert.Equal(t, r.ID, list[0].ID)
		await(t, e.signals.stopped, "unsubscription")
		e.decidePending(t, p, mobile.Decline)
	})
	t.Run("woken by a pushed PIN", func(t *testing.T) {
		done := poll(ctx)
		await(t, e.signals.subscribed, "subscription")
		require.NoError(t, e.box.Send(ctx, method.Message{Channel: method.App, To: citizen, Text: "PIN", Code: "123456", ExpiresAt: e.clock.Now().Add(10 * time.Minute)}))
		require.Empty(t, listRequests(t, await(t, done, "answer")))
		await(t, e.signals.stopped, "unsubscription")
	})
	t.Run("client leaves", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		at, n := e.clock.Now(), e.nonce()
		go func() {
			defer close(done)
			req, _ := http.NewRequestWithContext(cctx, http.MethodGet, e.srv.URL+"/app/v1/requests?wait=60", nil)
			if err := mobile.SignCall(req, p.id, p.priv, at, n, nil); err != nil {
				return
			}
			if resp, err := e.srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		await(t, e.signals.subscribed, "subscription")
		cancel()
		await(t, done, "client")
		await(t, e.signals.stopped, "the handler leaving")
		assert.Zero(t, e.signals.Waiters())
	})
	t.Run("device replaced while waiting", func(t *testing.T) {
		done := poll(ctx)
		await(t, e.signals.subscribed, "subscription")
		e.activated(t, citizen)
		requireError(t, await(t, done, "answer"), http.StatusForbidden, "device_inactive")
	})
	t.Run("bad wait", func(t *testing.T) {
		q := e.activated(t, citizen)
		for _, query := range []string{"wait=-1", "wait=abc", "wait=1&wait=2", "wait=99999", "other=1", "wait=%zz"} {
			requireError(t, e.signed(t, q, http.MethodGet, "/app/v1/requests?"+query, nil), http.StatusBadRequest, "bad_request")
		}
	})
}

// TestAPIRequestsWaitEnds checks the end of a wait nothing woke, with the
// wait capped far below the asked 60 seconds.
func TestAPIRequestsWaitEnds(t *testing.T) {
	e := newAPIEnv(t, func(c *mobile.APIConfig) { c.Limits.MaxWait = time.Millisecond })
	p := e.activated(t, citizen)
	require.Empty(t, listRequests(t, e.signed(t, p, http.MethodGet, "/app/v1/requests?wait=60", nil)))
	await(t, e.signals.stopped, "unsubscription")
}

func drain[T any](chs ...chan T) {
	for _, ch := range chs {
		for len(ch) > 0 {
			<-ch
		}
	}
}

func base64RawURL(s string) ([]byte, error) {
	var out []byte
	err := json.Unmarshal([]byte(`"`+strings.NewReplacer("-", "+", "_", "/").Replace(s)+strings.Repeat("=", (4-len(s)%4)%4)+`"`), &out)
	return out, err
}

// decidePending answers every pending request of p with d.
func (e *apiEnv) decidePending(t testing.TB, p *appPhone, d mobile.Decision) {
	t.Helper()
	for _, r := range listRequests(t, e.signed(t, p, http.MethodGet, "/app/v1/requests", nil)) {
		a := e.signed(t, p, http.MethodPost, "/app/v1/requests/"+r.ID+"/decision", decision(t, p, r, d, e.clock.Now()))
		require.Equal(t, http.StatusOK, a.status, string(a.body))
	}
}

func TestAPIScanAndConfirm(t *testing.T) {
	e := newAPIEnv(t, nil)
	p := e.activated(t, citizen)
	other := e.activated(t, otherOne)
	r := e.qrRequest(t, "Dirección General de Tráfico")

	// Deciding before scanning.
	requireError(t, e.signed(t, p, http.MethodPost, "/app/v1/requests/"+r.ID+"/decision", decision(t, p, wireOf(r), mobile.Confirm, e.clock.Now())), http.StatusConflict, "not_claimed")

	for _, c := range []struct {
		payload string
		status  int
		code    string
	}{
		{"hello", http.StatusBadRequest, "bad_request"},
		{"CLAVEMOVIL:1:" + r.ID, http.StatusBadRequest, "bad_request"},
		{"CLAVEMOVIL:1:" + r.ID + ":wrong-nonce", http.StatusNotFound, "not_found"},
		{"CLAVEMOVIL:1:no-such-request:" + r.Nonce, http.StatusNotFound, "not_found"},
	} {
		requireError(t, e.signed(t, p, http.MethodPost, "/app/v1/requests/scan", map[string]string{"payload": c.payload}), c.status, c.code)
	}

	a := e.signed(t, p, http.MethodPost, "/app/v1/requests/scan", map[string]string{"payload": mobile.QRPayload(&r)})
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var got wireReq
	a.decode(t, &got)
	assert.Equal(t, r.ID, got.ID)
	assert.Equal(t, "qr", got.Kind)
	assert.Equal(t, r.Nonce, got.Nonce)
	assert.Equal(t, "Dirección General de Tráfico", got.Requester)
	assert.Equal(t, r.VerificationCode(), got.VerificationCode)

	// Scanning again is fine for the same citizen; another is refused.
	require.Equal(t, http.StatusOK, e.signed(t, p, http.MethodPost, "/app/v1/requests/scan", map[string]string{"payload": mobile.QRPayload(&r)}).status)
	requireError(t, e.signed(t, other, http.MethodPost, "/app/v1/requests/scan", map[string]string{"payload": mobile.QRPayload(&r)}), http.StatusConflict, "claimed")

	// The scanned request is now in the device's list.
	list := listRequests(t, e.signed(t, p, http.MethodGet, "/app/v1/requests", nil))
	require.Len(t, list, 1)

	a = e.signed(t, p, http.MethodPost, "/app/v1/requests/"+r.ID+"/decision", decision(t, p, got, mobile.Confirm, e.clock.Now()))
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	assert.JSONEq(t, `{"id":"`+r.ID+`","state":"confirmed"}`, string(a.body))
	stored, err := e.svc.Request(context.Background(), r.ID)
	require.NoError(t, err)
	assert.Equal(t, mobile.StateConfirmed, stored.State)

	requireError(t, e.signed(t, p, http.MethodPost, "/app/v1/requests/"+r.ID+"/decision", decision(t, p, got, mobile.Decline, e.clock.Now())), http.StatusConflict, "already_decided")

	// An expired QR.
	late := e.qrRequest(t, "DGT")
	e.clock.Advance(5 * time.Minute)
	requireError(t, e.signed(t, p, http.MethodPost, "/app/v1/requests/scan", map[string]string{"payload": mobile.QRPayload(&late)}), http.StatusGone, "expired")
}

func TestAPIDecisions(t *testing.T) {
	e := newAPIEnv(t, nil)
	p := e.activated(t, citizen)
	other := e.activated(t, otherOne)
	path := func(id string) string { return "/app/v1/requests/" + id + "/decision" }

	t.Run("decline", func(t *testing.T) {
		r := e.pushRequest(t, citizen, "AEAT")
		a := e.signed(t, p, http.MethodPost, path(r.ID), decision(t, p, wireOf(r), mobile.Decline, e.clock.Now()))
		require.Equal(t, http.StatusOK, a.status, string(a.body))
		assert.JSONEq(t, `{"id":"`+r.ID+`","state":"declined"}`, string(a.body))
	})
	t.Run("refused", func(t *testing.T) {
		r := e.pushRequest(t, citizen, "AEAT")
		s := e.pushRequest(t, citizen, "AEAT")
		now := e.clock.Now()
		wrongNonce := wireOf(r)
		wrongNonce.Nonce = s.Nonce
		forged := decision(t, newAppPhone(), wireOf(r), mobile.Confirm, now)
		garbage := map[string]string{"confirmation": b64([]byte("confirm please")), "signature": b64(ed25519.Sign(p.priv, []byte("confirm please")))}
		for _, c := range []struct {
			name   string
			who    *appPhone
			id     string
			body   any
			status int
			code   string
		}{
			{"for another request", p, r.ID, decision(t, p, wireOf(s), mobile.Confirm, now), http.StatusBadRequest, "mismatch"},
			{"another nonce", p, r.ID, decision(t, p, wrongNonce, mobile.Confirm, now), http.StatusBadRequest, "mismatch"},
			{"forged signature", p, r.ID, forged, http.StatusBadRequest, "bad_confirmation"},
			{"not a confirmation", p, r.ID, garbage, http.StatusBadRequest, "bad_confirmation"},
			{"not base64", p, r.ID, map[string]string{"confirmation": "***", "signature": "***"}, http.StatusBadRequest, "bad_request"},
			{"missing signature", p, r.ID, map[string]string{"confirmation": b64([]byte("x"))}, http.StatusBadRequest, "bad_request"},
			{"stale", p, r.ID, decision(t, p, wireOf(r), mobile.Confirm, now.Add(-3*time.Minute)), http.StatusUnauthorized, "stale"},
			{"another citizen's", other, r.ID, decision(t, other, wireOf(r), mobile.Confirm, now), http.StatusForbidden, "wrong_device"},
			{"unknown request", p, "no-such-request", decision(t, p, wireReq{ID: "no-such-request", LoginID: "l", Nonce: "n"}, mobile.Confirm, now), http.StatusNotFound, "not_found"},
		} {
			t.Run(c.name, func(t *testing.T) {
				requireError(t, e.signed(t, c.who, http.MethodPost, path(c.id), c.body), c.status, c.code)
			})
		}
		stored, err := e.svc.Request(context.Background(), r.ID)
		require.NoError(t, err)
		assert.Equal(t, mobile.StatePending, stored.State, "nothing refused changed the request")
		a := e.signed(t, p, http.MethodPost, path(r.ID), decision(t, p, wireOf(r), mobile.Confirm, now))
		require.Equal(t, http.StatusOK, a.status, string(a.body))
	})
	t.Run("expired", func(t *testing.T) {
		r := e.pushRequest(t, citizen, "AEAT")
		e.clock.Advance(5 * time.Minute)
		requireError(t, e.signed(t, p, http.MethodPost, path(r.ID), decision(t, p, wireOf(r), mobile.Confirm, e.clock.Now())), http.StatusGone, "expired")
	})
}

func TestAPIPins(t *testing.T) {
	e := newAPIEnv(t, nil)
	p := e.activated(t, citizen)
	ctx := context.Background()
	pins := func() []map[string]any {
		a := e.signed(t, p, http.MethodGet, "/app/v1/pins", nil)
		require.Equal(t, http.StatusOK, a.status, string(a.body))
		var out struct {
			PINs []map[string]any `json:"pins"`
		}
		a.decode(t, &out)
		require.NotNil(t, out.PINs)
		return out.PINs
	}
	require.Empty(t, pins())

	send := func(code string, validity time.Duration) {
		require.NoError(t, e.box.Send(ctx, method.Message{Channel: method.App, To: citizen, Text: "Cl@ve PIN: " + code, Code: code, ExpiresAt: e.clock.Now().Add(validity)}))
	}
	send("111111", 2*time.Minute)
	e.clock.Advance(time.Minute)
	send("222222", 10*time.Minute)
	require.NoError(t, e.box.Send(ctx, method.Message{Channel: method.App, To: citizen, Text: "Bienvenido"}))
	require.NoError(t, e.box.Send(ctx, method.Message{Channel: method.App, To: otherOne, Text: "x", Code: "333333", ExpiresAt: e.clock.Now().Add(time.Minute)}))
	require.ErrorIs(t, e.box.Send(ctx, method.Message{Channel: method.SMS, To: citizen, Code: "444444"}), mobile.ErrWrongChannel)

	got := pins()
	require.Len(t, got, 2)
	assert.Equal(t, "222222", got[0]["pin"])
	assert.Equal(t, "Cl@ve PIN: 222222", got[0]["text"])
	assert.Equal(t, e.clock.Now().Format(time.RFC3339), got[0]["sent_at"])
	assert.Equal(t, e.clock.Now().Add(10*time.Minute).Format(time.RFC3339), got[0]["expires_at"])
	assert.EqualValues(t, 600, got[0]["seconds_left"])
	assert.Equal(t, "111111", got[1]["pin"])
	assert.EqualValues(t, 60, got[1]["seconds_left"])

	e.clock.Advance(time.Minute)
	got = pins()
	require.Len(t, got, 1)
	assert.Equal(t, "222222", got[0]["pin"])
	assert.EqualValues(t, 540, got[0]["seconds_left"])

	// Without an inbox the list is empty.
	bare := newAPIEnv(t, func(c *mobile.APIConfig) { c.Inbox = nil })
	q := bare.activated(t, citizen)
	a := bare.signed(t, q, http.MethodGet, "/app/v1/pins", nil)
	require.Equal(t, http.StatusOK, a.status)
	assert.JSONEq(t, `{"pins":[]}`, string(a.body))
}

func TestAPIHistory(t *testing.T) {
	e := newAPIEnv(t, nil)
	p := e.activated(t, citizen)
	ctx := context.Background()
	decide := func(r mobile.Request, d mobile.Decision) {
		a := e.signed(t, p, http.MethodPost, "/app/v1/requests/"+r.ID+"/decision", decision(t, p, wireOf(r), d, e.clock.Now()))
		require.Equal(t, http.StatusOK, a.status, string(a.body))
	}
	// 1 March 10:00 UTC: AEAT, push, confirmed.
	r1 := e.pushRequest(t, citizen, "AEAT")
	decide(r1, mobile.Confirm)
	// 1 March 23:30 UTC, already 2 March in Madrid: DGT, QR, declined.
	e.clock.Advance(13*time.Hour + 30*time.Minute)
	r2 := e.qrRequest(t, "DGT")
	require.Equal(t, http.StatusOK, e.signed(t, p, http.MethodPost, "/app/v1/requests/scan", map[string]string{"payload": mobile.QRPayload(&r2)}).status)
	decide(r2, mobile.Decline)
	// 2 March 12:00 UTC: AEAT, push, expired.
	e.clock.Advance(12*time.Hour + 30*time.Minute)
	r3 := e.pushRequest(t, citizen, "AEAT")
	e.clock.Advance(6 * time.Minute)
	require.NoError(t, e.svc.Prune(ctx))
	// 3 March 12:00 UTC: Seguridad Social, push, confirmed.
	e.clock.Advance(24*time.Hour - 6*time.Minute)
	r4 := e.pushRequest(t, citizen, "Seguridad Social")
	decide(r4, mobile.Confirm)

	history := func(query string) []string {
		t.Helper()
		a := e.signed(t, p, http.MethodGet, "/app/v1/history"+query, nil)
		require.Equal(t, http.StatusOK, a.status, "%s: %s", query, a.body)
		var out struct {
			Entries []struct {
				RequestID string `json:"request_id"`
				At        string `json:"at"`
				Requester string `json:"requester"`
				Kind      string `json:"kind"`
				Outcome   string `json:"outcome"`
			} `json:"entries"`
		}
		a.decode(t, &out)
		require.NotNil(t, out.Entries)
		ids := []string{}
		for _, en := range out.Entries {
			ids = append(ids, en.RequestID)
			if en.RequestID == r2.ID {
				assert.Equal(t, "2030-03-01T23:30:00Z", en.At)
				assert.Equal(t, "DGT", en.Requester)
				assert.Equal(t, "qr", en.Kind)
				assert.Equal(t, "declined", en.Outcome)
			}
		}
		return ids
	}
	all := []string{r4.ID, r3.ID, r2.ID, r1.ID}
	for query, want := range map[string][]string{
		"":                           all,
		"?order=newest":              all,
		"?order=oldest":              {r1.ID, r2.ID, r3.ID, r4.ID},
		"?state=confirmed":           {r4.ID, r1.ID},
		"?state=declined":            {r2.ID},
		"?state=expired":             {r3.ID},
		"?kind=qr":                   {r2.ID},
		"?kind=push&state=confirmed": {r4.ID, r1.ID},
		"?requester=AEAT":            {r3.ID, r1.ID},
		"?requester=" + url.QueryEscape("Seguridad Social"): {r4.ID},
		"?requester=Nobody":                         {},
		"?from=2030-03-02":                          {r4.ID, r3.ID, r2.ID},
		"?to=2030-03-01":                            {r1.ID},
		"?from=2030-03-02&to=2030-03-02":            {r3.ID, r2.ID},
		"?from=2030-03-01T23:30:00Z":                {r4.ID, r3.ID, r2.ID},
		"?to=2030-03-01T23:30:00Z":                  {r2.ID, r1.ID},
		"?from=2030-03-02T00:30:00%2B01:00":         {r4.ID, r3.ID, r2.ID},
		"?limit=1":                                  {r4.ID},
		"?limit=2&offset=1":                         {r3.ID, r2.ID},
		"?limit=2&offset=1&order=oldest":            {r2.ID, r3.ID},
		"?offset=10":                                {},
		"?limit=0":                                  all,
		"?limit=1000":                               all,
		"?state=confirmed&requester=AEAT&kind=push": {r1.ID},
	} {
		assert.Equal(t, want, history(query), query)
	}
	for _, query := range []string{
		"?state=pending", "?state=bogus", "?kind=sms", "?order=sideways", "?limit=-1", "?limit=abc", "?limit=99999999999",
		"?offset=-1", "?from=2030-13-01", "?from=yesterday", "?to=2030-02-30", "?from=2030-03-03&to=2030-03-01",
		"?unknown=1", "?state=declined&state=expired", "?state=%zz", "?requester=" + strings.Repeat("x", 300),
	} {
		requireError(t, e.signed(t, p, http.MethodGet, "/app/v1/history"+query, nil), http.StatusBadRequest, "bad_request")
	}
}

func TestAPIStorageFailure(t *testing.T) {
	e := newAPIEnv(t, nil)
	p := e.activated(t, citizen)
	require.Equal(t, http.StatusAccepted, e.post(t, smsPath, smsBody(noCodeOne, contrast), "").status)
	code := e.sms.lastCode(t, "+34600000004")

	e.store.down.Store(true)
	requireError(t, e.post(t, smsPath, smsBody(citizen, contrast), ""), http.StatusServiceUnavailable, "unavailable")
	requireError(t, e.post(t, activationPath, codeBody(noCodeOne, "999999", newAppPhone()), ""), http.StatusServiceUnavailable, "unavailable")
	requireError(t, e.signed(t, p, http.MethodGet, "/app/v1/device", nil), http.StatusServiceUnavailable, "unavailable")
	h := e.certCA.issue(t, citizen, nil, nil)
	requireError(t, e.post(t, activationPath, proofBody(t, h, newAppPhone(), citizen, mobile.ByCertificate, e.challenge(t)), ""), http.StatusServiceUnavailable, "unavailable")
	e.store.down.Store(false)
	assert.Contains(t, e.logs.String(), "storage failure")
	assert.Contains(t, e.logs.String(), errDisk.Error())

	// The registry failing is no citizen's mistake either.
	e.citizens.down.Store(true)
	requireError(t, e.post(t, smsPath, smsBody(citizen, contrast), ""), http.StatusServiceUnavailable, "unavailable")
	e.citizens.down.Store(false)

	// Nothing was counted against the citizen: the code has all its
	// attempts.
	requireError(t, e.post(t, activationPath, codeBody(noCodeOne, "999999", newAppPhone()), ""), http.StatusUnauthorized, "wrong_code")
	requireError(t, e.post(t, activationPath, codeBody(noCodeOne, "999998", newAppPhone()), ""), http.StatusUnauthorized, "wrong_code")
	if code != "999999" && code != "999998" {
		require.Equal(t, http.StatusCreated, e.post(t, activationPath, codeBody(noCodeOne, code, newAppPhone()), "").status)
	}

	// Failures after the call was admitted.
	e.store.readsDown.Store(true)
	requireError(t, e.signed(t, p, http.MethodGet, "/app/v1/requests", nil), http.StatusServiceUnavailable, "unavailable")
	requireError(t, e.signed(t, p, http.MethodGet, "/app/v1/history", nil), http.StatusServiceUnavailable, "unavailable")
	e.store.readsDown.Store(false)
	require.Equal(t, http.StatusOK, e.signed(t, p, http.MethodGet, "/app/v1/history", nil).status)
}

func TestNewAPIConfig(t *testing.T) {
	svc, err := mobile.New(mobile.Config{}, mobile.NewMemoryStore())
	require.NoError(t, err)
	ok := mobile.APIConfig{Service: svc, Citizens: newFakeCitizens(), Notifier: &outbox{}}
	_, err = mobile.NewAPI(ok)
	require.NoError(t, err)
	for name, edit := range map[string]func(*mobile.APIConfig){
		"no service":   func(c *mobile.APIConfig) { c.Service = nil },
		"no citizens":  func(c *mobile.APIConfig) { c.Citizens = nil },
		"no notifier":  func(c *mobile.APIConfig) { c.Notifier = nil },
		"short secret": func(c *mobile.APIConfig) { c.Secret = []byte("short") },
	} {
		c := ok
		edit(&c)
		_, err := mobile.NewAPI(c)
		require.Error(t, err, name)
	}
}

// FuzzAPI feeds the API arbitrary calls, signed by an active device or
// not: no answer is a 5xx other than 503, and every refusal has the shape
// of the contract.
func FuzzAPI(f *testing.F) {
	e := newAPIEnv(f, func(c *mobile.APIConfig) { c.Limits.MaxWait = time.Millisecond })
	p := e.activated(f, citizen)
	r := e.pushRequest(f, citizen, "AEAT")
	qr := e.qrRequest(f, "DGT")
	conf := decision(f, p, wireOf(r), mobile.Confirm, t0)
	confJSON, _ := json.Marshal(conf)
	for _, s := range []struct {
		verb, path, query string
		body              []byte
		sign              bool
	}{
		{"POST", smsPath, "", []byte(`{"citizen":"12345678Z","contrast":"01/01/2040"}`), false},
		{"POST", activationPath, "", []byte(`{"method":"sms","citizen":"12345678Z","public_key":"` + b64(p.pub()) + `","code":"123456"}`), false},
		{"POST", activationPath, "", []byte(`{"method":"dnie","citizen":"12345678Z","public_key":"` + b64(p.pub()) + `","certificate_chain":["AA"],"challenge":"AA","proof":"AA","can":"123456"}`), false},
		{"GET", "/app/v1/activation/challenge", "", nil, false},
		{"GET", "/app/v1/device", "", nil, true},
		{"GET", "/app/v1/requests", "wait=1", nil, true},
		{"POST", "/app/v1/requests/scan", "", []byte(`{"payload":"` + mobile.QRPayload(&qr) + `"}`), true},
		{"POST", "/app/v1/requests/" + r.ID + "/decision", "", confJSON, true},
		{"GET", "/app/v1/pins", "", nil, true},
		{"GET", "/app/v1/history", "state=confirmed&from=2030-03-01&order=oldest&limit=5", nil, true},
		{"DELETE", "/app/v1/device", "", nil, false},
	} {
		f.Add(s.verb, s.path, s.query, s.body, s.sign)
	}
	h := e.srv.Config.Handler
	f.Fuzz(func(t *testing.T, verb, path, query string, body []byte, sign bool) {
		req := &http.Request{
			Method:     verb,
			URL:        &url.URL{Path: path, RawQuery: query},
			Header:     http.Header{},
			Body:       io.NopCloser(bytes.NewReader(body)),
			RemoteAddr: "192.0.2.1:4321",
			Host:       "gateway.test",
		}
		if sign && verb != http.MethodDelete {
			_ = mobile.SignCall(req, p.id, p.priv, e.clock.Now(), e.nonce(), body)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(context.Background()))
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s?%s: %d %s", verb, path, query, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			checkErrorShape(t, rec.Header(), rec.Body.Bytes(), "")
			return
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: %d with a body that is not JSON: %q", verb, path, rec.Code, rec.Body)
		}
	})
}
