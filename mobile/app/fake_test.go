package app

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clave-go/clave/mobile"
)

// testNow is the injected clock of the unit tests.
var testNow = time.Date(2026, 11, 30, 22, 50, 0, 0, time.UTC)

// fakeGateway serves the app API's wire format from fixed data, checking
// what the app sends as the contract says: strict bodies, signed calls that
// verify with mobile.VerifyCall at the test clock, fresh nonces, signed
// confirmations. It stands in for the real server in unit tests.
type fakeGateway struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	devices   map[string]ed25519.PublicKey
	nonces    map[string]bool
	calls     []string // method and request URI of every verified call
	decisions []mobile.Confirmation
	req       mobile.Request // the one pending request
	// statedCode overrides the verification code the fake states.
	statedCode string
	// roots verifies certificate activations; nil refuses them.
	roots *x509.CertPool
	// challenges handed out.
	challenges int
	// failWith answers every call with this error body and status.
	failStatus int
	failBody   string
}

func newFakeGateway(t *testing.T) *fakeGateway {
	f := &fakeGateway{t: t, devices: map[string]ed25519.PublicKey{}, nonces: map[string]bool{}}
	f.req = mobile.Request{ID: "req-0123456789abcdef", LoginID: "login-0123456789", Requester: "Agencia Tributaria",
		Kind: mobile.KindPush, Nonce: "nonce-0123456789abcdef", Secret: bytes.Repeat([]byte{7}, 32),
		CreatedAt: testNow.Add(-time.Minute), ExpiresAt: testNow.Add(4 * time.Minute)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGateway) client() *Client {
	return &Client{BaseURL: f.srv.URL, HTTP: f.srv.Client(), Now: func() time.Time { return testNow }, KDF: testKDF}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": "refused: " + code}})
}

// strict decodes body as the server does: unknown fields refused.
func strict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (f *fakeGateway) requestJSON() map[string]any {
	code := f.statedCode
	if code == "" {
		code = f.req.VerificationCode()
	}
	return map[string]any{"id": f.req.ID, "login_id": f.req.LoginID, "requester": f.req.Requester,
		"kind": string(f.req.Kind), "nonce": f.req.Nonce, "secret": b64.EncodeToString(f.req.Secret),
		"verification_code": code, "created_at": f.req.CreatedAt.Format(time.RFC3339),
		"expires_at": f.req.ExpiresAt.Format(time.RFC3339)}
}

func (f *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failStatus != 0 {
		w.WriteHeader(f.failStatus)
		io.WriteString(w, f.failBody)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<10))
	if err != nil {
		fail(w, 400, "bad_request")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, APIPath)
	switch {
	case r.Method == http.MethodPost && path == "/activation/sms":
		var in struct{ Citizen, Contrast string }
		if strict(body, &in) != nil || in.Citizen == "" || in.Contrast == "" {
			fail(w, 400, "bad_request")
			return
		}
		writeJSON(w, 202, map[string]any{"expires_at": testNow.Add(10 * time.Minute).Format(time.RFC3339), "attempts": 3})
	case r.Method == http.MethodGet && path == "/activation/challenge":
		f.challenges++
		writeJSON(w, 200, map[string]any{"challenge": fmt.Sprintf("challenge-%d", f.challenges),
			"expires_at": testNow.Add(5 * time.Minute).Format(time.RFC3339)})
	case r.Method == http.MethodPost && path == "/activation":
		f.activate(w, body)
	default:
		f.signed(w, r, path, body)
	}
}

func (f *fakeGateway) activate(w http.ResponseWriter, body []byte) {
	var in activationIn
	if err := strict(body, &in); err != nil {
		fail(w, 400, "bad_request")
		return
	}
	pub, err := b64.DecodeString(in.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		fail(w, 400, "bad_request")
		return
	}
	switch mobile.ActivationMethod(in.Method) {
	case mobile.BySMS:
		if in.Code != "123456" {
			fail(w, 401, "wrong_code")
			return
		}
	case mobile.ByCertificate, mobile.ByDNIe:
		if f.roots == nil || len(in.CertificateChain) == 0 {
			fail(w, 401, "bad_proof")
			return
		}
		der, err := b64.DecodeString(in.CertificateChain[0])
		if err != nil {
			fail(w, 400, "bad_request")
			return
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			fail(w, 401, "bad_proof")
			return
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: f.roots, CurrentTime: testNow,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			fail(w, 401, "bad_proof")
			return
		}
		proof, err := b64.DecodeString(in.Proof)
		if err != nil {
			fail(w, 400, "bad_request")
			return
		}
		msg := "clave-mobile-activation-v1\nmethod=" + in.Method + "\nchallenge=" + in.Challenge + "\nkey=" + in.PublicKey
		alg := x509.SHA256WithRSA
		if leaf.PublicKeyAlgorithm == x509.ECDSA {
			alg = x509.ECDSAWithSHA256
		}
		if leaf.CheckSignature(alg, []byte(msg), proof) != nil || leaf.Subject.SerialNumber != "IDCES-"+in.Citizen {
			fail(w, 401, "bad_proof")
			return
		}
		if mobile.ActivationMethod(in.Method) == mobile.ByDNIe && in.CAN != "654321" {
			fail(w, 401, "bad_proof")
			return
		}
	default:
		fail(w, 400, "bad_request")
		return
	}
	id := fmt.Sprintf("dev-%016d", len(f.devices)+1)
	f.devices[id] = ed25519.PublicKey(pub)
	writeJSON(w, 201, map[string]any{"device_id": id, "citizen": in.Citizen, "method": in.Method,
		"activated_at": testNow.Format(time.RFC3339)})
}

func (f *fakeGateway) signed(w http.ResponseWriter, r *http.Request, path string, body []byte) {
	pub, ok := f.devices[r.Header.Get(mobile.HeaderDevice)]
	if !ok {
		fail(w, 401, "unauthenticated")
		return
	}
	call, err := mobile.VerifyCall(r, pub, body)
	if err != nil {
		fail(w, 401, "bad_signature")
		return
	}
	if !call.At.Equal(testNow) {
		fail(w, 401, "stale")
		return
	}
	if f.nonces[call.Nonce] {
		fail(w, 401, "replay")
		return
	}
	f.nonces[call.Nonce] = true
	f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
	switch {
	case r.Method == http.MethodGet && path == "/device":
		writeJSON(w, 200, map[string]any{"device_id": r.Header.Get(mobile.HeaderDevice), "citizen_masked": "*****678Z",
			"method": "sms", "status": "active", "activated_at": testNow.Format(time.RFC3339)})
	case r.Method == http.MethodDelete && path == "/device":
		writeJSON(w, 200, map[string]any{"status": "deactivated"})
	case r.Method == http.MethodGet && path == "/requests":
		writeJSON(w, 200, map[string]any{"requests": []any{f.requestJSON()}})
	case r.Method == http.MethodPost && path == "/requests/scan":
		var in struct{ Payload string }
		if strict(body, &in) != nil {
			fail(w, 400, "bad_request")
			return
		}
		if in.Payload != mobile.QRPayload(&f.req) {
			fail(w, 404, "not_found")
			return
		}
		writeJSON(w, 200, f.requestJSON())
	case r.Method == http.MethodPost && path == "/requests/"+f.req.ID+"/decision":
		var in struct{ Confirmation, Signature string }
		if strict(body, &in) != nil {
			fail(w, 400, "bad_request")
			return
		}
		payload, err1 := b64.DecodeString(in.Confirmation)
		sig, err2 := b64.DecodeString(in.Signature)
		if err1 != nil || err2 != nil {
			fail(w, 400, "bad_confirmation")
			return
		}
		c, err := mobile.VerifyConfirmation(pub, payload, sig)
		if err != nil {
			fail(w, 400, "bad_confirmation")
			return
		}
		f.decisions = append(f.decisions, c)
		state := "confirmed"
		if c.Decision == mobile.Decline {
			state = "declined"
		}
		writeJSON(w, 200, map[string]any{"id": c.RequestID, "state": state})
	case r.Method == http.MethodGet && path == "/pins":
		writeJSON(w, 200, map[string]any{"pins": []any{map[string]any{"pin": "123456", "text": "Cl@ve PIN: 123456",
			"sent_at": testNow.Format(time.RFC3339), "expires_at": testNow.Add(9 * time.Minute).Format(time.RFC3339), "seconds_left": 540}}})
	case r.Method == http.MethodGet && path == "/history":
		writeJSON(w, 200, map[string]any{"entries": []any{map[string]any{"request_id": f.req.ID,
			"at": testNow.Format(time.RFC3339), "requester": f.req.Requester, "kind": "push", "outcome": "confirmed"}}})
	default:
		fail(w, 404, "not_found")
	}
}
