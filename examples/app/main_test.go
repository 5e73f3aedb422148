package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/mobile"
)

const citizen = "12345678Z"

// result is what one run of the app left.
type result struct {
	code           int
	stdout, stderr string
}

func runApp(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, stdin, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"pending", "-h"}, {"history", "-help"}, {"activate", "-h"}} {
		r := runApp(t, nil, args...)
		assert.Equal(t, exitOK, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stdout, "Usage: app", "%v", args)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"-nope", "status"}, "flag provided but not defined"},
		{[]string{"status", "extra"}, `unexpected argument "extra"`},
		{[]string{"confirm"}, "give the ID of one request"},
		{[]string{"confirm", "a", "b"}, "give the ID of one request"},
		{[]string{"pending", "-wait", "2m"}, "-wait must be between 0 and 1m0s"},
		{[]string{"scan"}, "give an image file or -payload"},
		{[]string{"scan", "qr.png", "-payload", "CLAVEMOVIL:1:a:b"}, "give an image file or -payload"},
		{[]string{"scan", "-payload", "x", "-confirm", "-decline"}, "-confirm and -decline exclude each other"},
		{[]string{"activate", "-contrast", "01/01/2040"}, "-citizen is required"},
		{[]string{"activate", "-citizen", citizen}, "give one way to activate"},
		{[]string{"activate", "-citizen", citizen, "-contrast", "01/01/2040", "-dnie", "card.pem", "-can", "123456"}, "give one way to activate"},
		{[]string{"activate", "-citizen", citizen, "-certificate", "cert.pem"}, "-certificate and -key go together"},
		{[]string{"activate", "-citizen", citizen, "-dnie", "card.pem"}, "-dnie and -can go together"},
	}
	for _, tc := range tests {
		r := runApp(t, nil, tc.args...)
		assert.Equal(t, exitUsage, r.code, "%v", tc.args)
		assert.Contains(t, r.stderr, tc.want, "%v", tc.args)
		assert.Contains(t, r.stderr, "Usage: app", "%v", tc.args)
		assert.Empty(t, r.stdout, "%v", tc.args)
	}
}

func TestHistoryFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-state", "maybe"}, `-state "maybe": want confirmed, declined or expired`},
		{[]string{"-kind", "sms"}, `-kind "sms": want qr or push`},
		{[]string{"-order", "sideways"}, `-order "sideways": want newest or oldest`},
		{[]string{"-from", "2026-13-01"}, `-from "2026-13-01": want a date as yyyy-mm-dd`},
		{[]string{"-to", "30/11/2026"}, `-to "30/11/2026": want a date as yyyy-mm-dd`},
		{[]string{"-from", "2026-11-30", "-to", "2026-11-01"}, "-to 2026-11-01 is before -from 2026-11-30"},
		{[]string{"-limit", "-1"}, "-limit and -offset cannot be negative"},
		{[]string{"-offset", "x"}, `invalid value "x" for flag -offset`},
		{[]string{"today"}, `unexpected argument "today"`},
	}
	// No state file is needed: the flags are checked first.
	state := filepath.Join(t.TempDir(), "missing.json")
	for _, tc := range tests {
		r := runApp(t, nil, append([]string{"-state", state, "history"}, tc.args...)...)
		assert.Equal(t, exitUsage, r.code, "%v", tc.args)
		assert.Contains(t, r.stderr, "app history: "+tc.want, "%v", tc.args)
	}
}

func TestMissingStateIsOneLine(t *testing.T) {
	state := filepath.Join(t.TempDir(), "missing.json")
	r := runApp(t, nil, "pending", "-state", state, "-passphrase-file", writeFile(t, "pass", "x"))
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "app: no phone state in "+state+": activate first (app activate -h)\n", r.stderr)
}

// outbox is the gateway's SMS provider in the tests: it hands each code
// to the test.
type outbox struct {
	mu    sync.Mutex
	codes chan string
}

func (o *outbox) Send(_ context.Context, m method.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case o.codes <- m.Code:
	default:
	}
	return nil
}

type registry map[string]method.Citizen

func (r registry) Citizen(_ context.Context, id string) (method.Citizen, error) {
	if c, ok := r[strings.ToUpper(strings.TrimSpace(id))]; ok {
		return c, nil
	}
	return method.Citizen{}, method.ErrUnknownCitizen
}

// testGateway serves a real app API; the app talks to it as to any gateway,
// on the real clock.
type testGateway struct {
	svc   *mobile.Service
	sms   *outbox
	inbox *mobile.PushBox
	url   string
}

func newTestGateway(t *testing.T) *testGateway {
	t.Helper()
	svc, err := mobile.New(mobile.Config{}, mobile.NewMemoryStore())
	require.NoError(t, err)
	g := &testGateway{svc: svc, sms: &outbox{codes: make(chan string, 1)}, inbox: mobile.NewPushBox(nil)}
	api, err := mobile.NewAPI(mobile.APIConfig{
		Service: svc,
		Citizens: registry{citizen: {ID: citizen, ValidUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
			Phone: "+34600000001", Status: method.StatusActive, Level: method.LevelAdvanced}},
		Notifier: g.sms,
		Inbox:    g.inbox,
		Logger:   slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// qrPNG writes payload as a QR code image, as a login page shows it.
func qrPNG(t *testing.T, payload string) string {
	t.Helper()
	m, err := qrcode.NewQRCodeWriter().Encode(payload, gozxing.BarcodeFormat_QR_CODE, 300, 300, nil)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, m))
	return writeFile(t, "qr.png", buf.String())
}

func TestRoundTrip(t *testing.T) {
	g := newTestGateway(t)
	ctx := t.Context()
	state := filepath.Join(t.TempDir(), "phone.json")
	pass := writeFile(t, "passphrase", "unlock factor\n")
	common := []string{"-state", state, "-passphrase-file", pass}
	app := func(stdin io.Reader, args ...string) result {
		t.Helper()
		return runApp(t, stdin, append(append([]string{}, common...), args...)...)
	}

	// Activation by SMS: the code arrives while the app waits for it.
	stdin, typing := io.Pipe()
	go func() {
		code := <-g.sms.codes
		_, _ = io.WriteString(typing, code+"\n")
	}()
	r := app(stdin, "-gateway", g.url, "activate", "-citizen", citizen, "-contrast", "01/01/2040", "-kdf-memory", "64")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "an activation code was sent by SMS")
	assert.Contains(t, r.stdout, "Phone activated for *****678Z by sms")
	fi, err := os.Stat(state)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	r = app(nil, "activate", "-citizen", citizen, "-code", "123456")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "exists: this phone is activated already")

	r = app(nil, "status")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Status:      active")
	assert.Contains(t, r.stdout, g.url)

	// A login without QR, confirmed with the code of the page.
	push, err := g.svc.NewRequest(ctx, mobile.RequestSpec{LoginID: "login-1", Requester: "Agencia Tributaria",
		Kind: mobile.KindPush, Citizen: citizen})
	require.NoError(t, err)
	r = app(nil, "pending", "-wait", "1s")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, push.ID)
	assert.Contains(t, r.stdout, push.VerificationCode())
	assert.Contains(t, r.stdout, "Agencia Tributaria")

	wrong := "000"
	if push.VerificationCode() == wrong {
		wrong = "001"
	}
	r = app(nil, "confirm", push.ID, "-code", wrong)
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "verification code does not match")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"))

	r = app(nil, "confirm", push.ID, "-code", push.VerificationCode())
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "Login confirmed for Agencia Tributaria.\n", r.stdout)
	assertState(t, g, push.ID, mobile.StateConfirmed)

	r = app(nil, "confirm", push.ID)
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "no login "+push.ID+" is waiting")

	// A QR login, scanned from the page's image and confirmed at the prompt.
	qr, err := g.svc.NewRequest(ctx, mobile.RequestSpec{LoginID: "login-2", Requester: "Seguridad Social", Kind: mobile.KindQR})
	require.NoError(t, err)
	r = app(strings.NewReader("confirm\n"), "scan", qrPNG(t, mobile.QRPayload(&qr)), "-code", qr.VerificationCode())
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Login requested by: Seguridad Social")
	assert.Contains(t, r.stdout, "Verification code:  "+qr.VerificationCode())
	assert.Contains(t, r.stdout, "Login confirmed for Seguridad Social.")
	assertState(t, g, qr.ID, mobile.StateConfirmed)

	// Another, by its text, declined.
	qr2, err := g.svc.NewRequest(ctx, mobile.RequestSpec{LoginID: "login-3", Requester: "DGT", Kind: mobile.KindQR})
	require.NoError(t, err)
	r = app(nil, "-json", "scan", "-payload", mobile.QRPayload(&qr2), "-decline")
	require.Equal(t, exitOK, r.code, r.stderr)
	var scanned struct {
		Request struct{ ID, Requester string } `json:"request"`
		State   string                         `json:"state"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &scanned))
	assert.Equal(t, qr2.ID, scanned.Request.ID)
	assert.Equal(t, "declined", scanned.State)
	assertState(t, g, qr2.ID, mobile.StateDeclined)

	r = app(nil, "scan", "-payload", "CLAVEMOVIL:1:"+qr2.ID+":not-the-nonce-000000")
	assert.Equal(t, exitError, r.code)
	assert.Regexp(t, `^app: .*\(not_found, HTTP 404\)\n$`, r.stderr)

	// A push declined by ID.
	push2, err := g.svc.NewRequest(ctx, mobile.RequestSpec{LoginID: "login-4", Requester: "Agencia Tributaria",
		Kind: mobile.KindPush, Citizen: citizen})
	require.NoError(t, err)
	r = app(nil, "decline", push2.ID)
	require.Equal(t, exitOK, r.code, r.stderr)
	assertState(t, g, push2.ID, mobile.StateDeclined)

	r = app(nil, "-json", "pending")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.JSONEq(t, `{"requests":[]}`, r.stdout)

	// The history, as the citizen filters it; -state before the command
	// is the state file.
	r = runApp(t, nil, "-state", state, "-passphrase-file", pass, "history", "-state", "declined", "-order", "oldest")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "DGT")
	assert.NotContains(t, r.stdout, "Seguridad Social")
	today := time.Now().In(madrid).Format(time.DateOnly)
	r = app(nil, "-json", "history", "-kind", "push", "-from", today, "-to", today)
	require.Equal(t, exitOK, r.code, r.stderr)
	var hist struct {
		Entries []struct {
			RequestID string `json:"request_id"`
			Outcome   string `json:"outcome"`
		} `json:"entries"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &hist))
	require.Len(t, hist.Entries, 2)
	assert.Equal(t, push2.ID, hist.Entries[0].RequestID)
	assert.Equal(t, "declined", hist.Entries[0].Outcome)

	// A Cl@ve PIN pushed to the app.
	require.NoError(t, g.inbox.Send(ctx, method.Message{Channel: method.App, To: citizen, Text: "Cl@ve PIN: 246810",
		Code: "246810", ExpiresAt: time.Now().Add(10 * time.Minute)}))
	r = app(nil, "pins")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "246810  valid until")

	r = runApp(t, nil, "-state", state, "-passphrase-file", writeFile(t, "wrong", "not it"), "pins")
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "app: wrong passphrase, or the state file was altered\n", r.stderr)

	r = app(nil, "deactivate")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "deactivated")
	_, err = os.Stat(state)
	assert.ErrorIs(t, err, os.ErrNotExist)
	dev, err := g.svc.ActiveDevice(ctx, citizen)
	assert.ErrorIs(t, err, mobile.ErrNoDevice, "%+v", dev)
}

func assertState(t *testing.T, g *testGateway, id string, want mobile.State) {
	t.Helper()
	r, err := g.svc.Request(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, want, r.State)
}

func TestPassphraseFromEnvironmentAndStdin(t *testing.T) {
	a := &cli{stderr: io.Discard}
	t.Setenv(passphraseEnv, "from env")
	p, err := a.passphrase()
	require.NoError(t, err)
	assert.Equal(t, "from env", string(p))

	t.Setenv(passphraseEnv, "")
	var notice bytes.Buffer
	a = &cli{stdin: newReader("typed\r\nrest\n"), stderr: &notice}
	p, err = a.passphrase()
	require.NoError(t, err)
	assert.Equal(t, "typed", string(p))
	assert.Contains(t, notice.String(), "shown as you type")

	a = &cli{stdin: newReader(""), stderr: io.Discard}
	_, err = a.passphrase()
	require.Error(t, err)
}

func newReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

func TestScanImageWithoutQRCode(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	r := runApp(t, nil, "scan", writeFile(t, "blank.png", buf.String()))
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "no QR code found")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"))

	r = runApp(t, nil, "scan", writeFile(t, "text.png", "not an image"))
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "not an image")
}

func TestActivateChecksBeforeAskingTheGateway(t *testing.T) {
	// No gateway listens at -gateway: each refusal comes first.
	t.Setenv(passphraseEnv, "")
	base := []string{"-gateway", "http://127.0.0.1:1", "activate", "-citizen", citizen, "-code", "123456", "-kdf-memory", "64"}
	r := runApp(t, strings.NewReader("one\ntwo\n"), append([]string{"-state", filepath.Join(t.TempDir(), "phone.json")}, base...)...)
	assert.Equal(t, exitError, r.code)
	assert.True(t, strings.HasSuffix(r.stderr, "Unlock passphrase again: app: the two passphrases differ\n"), r.stderr)

	r = runApp(t, strings.NewReader("one\none\n"), append([]string{"-state", filepath.Join(t.TempDir(), "missing", "phone.json")}, base...)...)
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "app: the state cannot be saved")
}
