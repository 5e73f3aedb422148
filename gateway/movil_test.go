package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/app"
)

// Cl@ve Móvil end to end, over loopback HTTP: a browser on the gateway's
// pages, the citizen's phone on the app API through package mobile/app (or,
// where a test must forge what the app never sends, raw signed calls), and
// the agency receiving the outcome.

const (
	// agencyName is the requester the page and the phone show: the
	// service's registered name.
	agencyName  = "Agencia de pruebas"
	otherAgency = "Otra agencia"

	mariaByMovil = "hola MARIA|12345678Z|substantial|CLVMOVIL|GARCIA LOPEZ"

	// What the agency's ACS shows for a refused login: a decline arrives
	// as RequestDenied (saml.ErrUserCancelled), an expiry as AuthnFailed.
	cancelledAtAgency = "Ha cancelado el acceso con Cl@ve."
	failedAtAgency    = "Cl@ve no ha podido identificarle."

	requestValidity = 5 * time.Minute
	smsDelay        = 60 * time.Second
)

var (
	verificationCodeRe = regexp.MustCompile(`<span class="code" id="verification-code">([0-9]{3})</span>`)
	movilErrorRe       = regexp.MustCompile(`<p class="error" id="error" role="alert">([^<]*)</p>`)

	appPassphrase = []byte("frase de desbloqueo del móvil")
	// appKDF keeps activations fast: a test, not a stolen phone.
	appKDF = app.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
)

// madridZone is where history dates are days, as the gateway reads them
// (with the same fallback when the system has no zone database).
var madridZone = func() *time.Location {
	if loc, err := time.LoadLocation("Europe/Madrid"); err == nil {
		return loc
	}
	return time.FixedZone("CET", 3600)
}()

// movilLogin is a browser's login through the Cl@ve Móvil pages.
type movilLogin struct {
	*session
	// base is the method's path, "/login/{login}/movil/".
	base string
}

// startMovil starts a login at the agency and picks Cl@ve Móvil on the
// chooser, landing on the QR page.
func (w *world) startMovil() *movilLogin {
	s := w.start()
	href, ok := s.methods()["CLVMOVIL"]
	require.True(w.t, ok, "Cl@ve Móvil offered: %s", s.page)
	require.Regexp(w.t, `^/login/[A-Za-z0-9_-]+/movil/$`, href)
	s.see(s.b.get(s.gwURL(href)))
	m := &movilLogin{session: s, base: href}
	m.requireWaiting()
	require.Contains(w.t, m.page, `<img id="qr" src="`+href+`qr.png"`, "a QR page")
	return m
}

// loginID is the gateway's login, as a confirmation binds it.
func (m *movilLogin) loginID() string {
	return strings.TrimSuffix(strings.TrimPrefix(m.base, "/login/"), "/movil/")
}

// code is the verification code the page shows.
func (m *movilLogin) code() string {
	c := verificationCodeRe.FindStringSubmatch(m.page)
	require.NotNil(m.w.t, c, "no verification code: %s", m.page)
	return c[1]
}

// errorText is the page's error message.
func (m *movilLogin) errorText() string {
	e := movilErrorRe.FindStringSubmatch(m.page)
	require.NotNil(m.w.t, e, "no error shown: %s", m.page)
	return e[1]
}

// requireWaiting asserts that the page waits for the phone: it shows the
// verification code and has nothing for the agency yet.
func (m *movilLogin) requireWaiting() {
	require.Equal(m.w.t, http.StatusOK, m.resp.StatusCode, m.page)
	require.NotContains(m.w.t, m.page, "SAMLResponse")
	require.Contains(m.w.t, m.page, `id="waiting"`)
	m.code()
}

// refresh reloads the page, as its script does when the state changes.
func (m *movilLogin) refresh() { m.see(m.b.get(m.gwURL(m.base))) }

// push asks for a login without QR (the form under the QR code).
func (m *movilLogin) push(document, contrast string) {
	m.post(m.base+"push", url.Values{"document": {document}, "contrast": {contrast}})
}

// askSMS presses the button for the SMS PIN.
func (m *movilLogin) askSMS() { m.post(m.base+"sms", nil) }

// typePIN submits the SMS PIN.
func (m *movilLogin) typePIN(pin string) { m.post(m.base+"verify", url.Values{"pin": {pin}}) }

// end reloads the page of a decided login, which answers the agency, and
// follows the answer there.
func (m *movilLogin) end() {
	m.refresh()
	m.finish()
}

// qrPayload fetches the page's QR image and reads it with an independent
// decoder, as the phone's camera would.
func (m *movilLogin) qrPayload() string {
	t := m.w.t
	resp, img := m.b.get(m.gwURL(m.base + "qr.png"))
	require.Equal(t, http.StatusOK, resp.StatusCode, img)
	assert.Equal(t, "image/png", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "a QR code is a one-time secret")
	return readQR(t, []byte(img))
}

// readQR decodes the QR code of a PNG with gozxing. Its detector, which
// finds a code in a photo, misreads about one clean code in 200 (the
// dimension it estimates from the finder patterns is off, whatever the
// scale); the image is the bare code, so the pure-barcode reader, which
// skips detection, settles those.
func readQR(t *testing.T, pngData []byte) string {
	img, err := png.Decode(bytes.NewReader(pngData))
	require.NoError(t, err)
	assert.Equal(t, mobile.QRSize, img.Bounds().Dx())
	assert.Equal(t, mobile.QRSize, img.Bounds().Dy())
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	require.NoError(t, err)
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		res, err = qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	require.NoError(t, err, "the QR image decodes")
	return res.GetText()
}

// stateStream is the page's stream of server-sent events.
type stateStream struct {
	t *testing.T
	r *bufio.Reader
}

// openEvents opens the page's event stream with the browser's cookies. The
// deadline only bounds a broken test: every event the test waits for
// follows something it did.
func (m *movilLogin) openEvents() *stateStream {
	t := m.w.t
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.gwURL(m.base+"events"), nil)
	require.NoError(t, err)
	resp, err := m.b.c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	return &stateStream{t: t, r: bufio.NewReader(resp.Body)}
}

// next returns the data of the next state event, skipping comments (the
// heartbeat, and wake-ups that changed nothing).
func (e *stateStream) next() string {
	event := ""
	for {
		line, err := e.r.ReadString('\n')
		require.NoError(e.t, err, "the stream ended before a state event")
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			require.Equal(e.t, "state", event, "data of an unnamed event")
			return strings.TrimPrefix(line, "data: ")
		}
	}
}

// requireEnded asserts that the server closed the stream with no other
// event.
func (e *stateStream) requireEnded() {
	rest, err := io.ReadAll(e.r)
	require.NoError(e.t, err)
	assert.NotContains(e.t, string(rest), "data:", "no event after the final state")
}

// phone is the citizen's phone with the Cl@ve app activated and unlocked,
// talking to the world's gateway on the world's clock.
type phone struct {
	t *testing.T
	*app.Session
}

// appClient is a fresh install of the app, from a loopback address of its
// own.
func (w *world) appClient() *app.Client {
	tr := ownAddress()
	w.t.Cleanup(tr.CloseIdleConnections)
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &app.Client{BaseURL: w.gwSrv.URL, Now: w.gw.Now, KDF: appKDF,
		HTTP: &http.Client{Transport: tr, CheckRedirect: noRedirect}}
}

// unlocked opens an activated phone with its passphrase.
func (w *world) unlocked(p *app.Phone, err error) *phone {
	require.NoError(w.t, err, "activation")
	s, err := p.Unlock(appPassphrase)
	require.NoError(w.t, err)
	w.t.Cleanup(s.Lock)
	return &phone{t: w.t, Session: s}
}

// phoneBySMS activates a phone for citizen with the SMS code sent to number.
func (w *world) phoneBySMS(citizen, contrast, number string) *phone {
	c := w.appClient()
	before := len(w.gw.Inbox().Messages(gateway.ChannelSMS, number))
	_, err := c.RequestActivationCode(w.t.Context(), citizen, contrast)
	require.NoError(w.t, err)
	require.Len(w.t, w.gw.Inbox().Messages(gateway.ChannelSMS, number), before+1, "an activation code was sent")
	code := w.lastSMS(number).Code
	require.Regexp(w.t, `^[0-9]{6}$`, code)
	return w.unlocked(c.ActivateSMS(w.t.Context(), citizen, code, appPassphrase))
}

// phoneByCertificate activates a phone for citizen with a certificate the
// gateway issued.
func (w *world) phoneByCertificate(citizen string) *phone {
	cred, err := w.gw.IssueCertificate(w.t.Context(), citizen)
	require.NoError(w.t, err)
	return w.unlocked(w.appClient().ActivateCertificate(w.t.Context(), citizen, cred.Chain, cred.Key, appPassphrase))
}

func (p *phone) pending() []app.Request {
	reqs, err := p.Pending(p.t.Context(), 0)
	require.NoError(p.t, err)
	return reqs
}

// only returns the one request the phone can answer.
func (p *phone) only() app.Request {
	reqs := p.pending()
	require.Len(p.t, reqs, 1)
	return reqs[0]
}

// scan scans the QR code of m's page.
func (p *phone) scan(m *movilLogin) app.Request {
	req, err := p.Scan(p.t.Context(), m.qrPayload())
	require.NoError(p.t, err)
	return req
}

// requestOf brings m's login to maria's phone p, by scanning the page's QR
// code or by pushing it from the page, and returns it as the phone sees it.
func (p *phone) requestOf(m *movilLogin, kind mobile.Kind) app.Request {
	if kind == mobile.KindQR {
		return p.scan(m)
	}
	m.push(maria, mariaValid)
	m.requireWaiting()
	req := p.only()
	require.Equal(p.t, m.code(), req.VerificationCode)
	return req
}

func (p *phone) confirm(req app.Request) { require.NoError(p.t, p.Confirm(p.t.Context(), req)) }

func (p *phone) decline(req app.Request) { require.NoError(p.t, p.Decline(p.t.Context(), req)) }

// history returns the request IDs of a history page, in its order.
func (p *phone) history(q app.HistoryQuery) []string {
	entries, err := p.History(p.t.Context(), q)
	require.NoError(p.t, err)
	ids := []string{}
	for _, e := range entries {
		ids = append(ids, e.RequestID)
	}
	return ids
}

// entries returns the whole history, newest first.
func (p *phone) entries() []app.Entry {
	entries, err := p.History(p.t.Context(), app.HistoryQuery{})
	require.NoError(p.t, err)
	return entries
}

// scriptLoginRe is a login's path as the page's script spells it.
var scriptLoginRe = regexp.MustCompile(`\\/login\\/[A-Za-z0-9_-]+\\/`)

// stripMovil removes what differs between two Cl@ve Móvil pages by design:
// the verification code, the login in the script's URLs, and what
// stripDynamic removes.
func stripMovil(page string) string {
	page = verificationCodeRe.ReplaceAllString(stripDynamic(page), "")
	return scriptLoginRe.ReplaceAllString(page, `\/login\/X\/`)
}

func TestMovilLoginWithQR(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)
	assert.Equal(t, maria, p.Phone().Citizen)
	assert.Equal(t, mobile.BySMS, p.Phone().Method)

	m := w.startMovil()
	assert.Contains(t, m.page, `<strong id="requester">`+agencyName+`</strong>`)
	assert.Contains(t, m.page, `<span id="time-left" data-seconds="300">5:00</span>`)
	code := m.code()
	events := m.openEvents()
	assert.Equal(t, "pending", events.next())

	payload := m.qrPayload()
	req := p.scan(m)
	assert.Equal(t, mobile.QRPayload(&mobile.Request{ID: req.ID, Nonce: req.Nonce}), payload,
		"the QR code is exactly the request's payload")
	assert.Equal(t, code, req.VerificationCode, "page and phone show one code")
	assert.Equal(t, mobile.VerificationCode(req.Secret, req.ID), code)
	assert.Equal(t, mobile.KindQR, req.Kind)
	assert.Equal(t, agencyName, req.Requester)
	assert.Equal(t, m.loginID(), req.LoginID)
	assert.WithinDuration(t, w.gw.Now().Add(requestValidity), req.ExpiresAt, 0)
	again, err := p.Scan(t.Context(), payload)
	require.NoError(t, err, "the same citizen may scan again")
	assert.Equal(t, req.ID, again.ID)
	_, err = w.phoneBySMS(lucia, luciaValid, luciaPhone).Scan(t.Context(), payload)
	assert.ErrorIs(t, err, app.ErrClaimed, "scanned by maria, the request is hers")

	m.refresh()
	m.requireWaiting()
	assert.Equal(t, code, m.code(), "scanning changes nothing on the page")

	p.confirm(req)
	assert.Equal(t, "confirmed", events.next(), "the page learns at once")
	events.requireEnded()
	resp, _ := m.b.get(m.gwURL(m.base + "qr.png"))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no QR code once decided")
	assert.ErrorIs(t, p.Confirm(t.Context(), req), app.ErrAlreadyDecided)

	m.end()
	assert.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
	assert.Equal(t, mariaByMovil, m.page)
}

func TestMovilLoginWithoutQR(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)
	m := w.startMovil()

	// The phone waits for a request before there is one; the push must
	// wake it well before its 60 seconds, or the deadline fails the call.
	type result struct {
		reqs []app.Request
		err  error
	}
	got := make(chan result, 1)
	sent := make(chan struct{})
	var once sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(sent) }) }}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	go func() {
		reqs, err := p.Pending(httptrace.WithClientTrace(ctx, trace), app.MaxWait)
		got <- result{reqs, err}
	}()
	select {
	case <-sent:
	case r := <-got:
		require.FailNow(t, "the long-poll answered before any push", "%v %v", r.reqs, r.err)
	}

	m.push(maria, mariaValid)
	m.requireWaiting()
	assert.Contains(t, m.page, "su app Cl@ve ha recibido la solicitud")
	assert.NotContains(t, m.page, `id="qr"`, "no QR code for a login without QR")
	r := <-got
	require.NoError(t, r.err, "the long-poll woke with the push")
	require.Len(t, r.reqs, 1)
	req := r.reqs[0]
	assert.Equal(t, mobile.KindPush, req.Kind)
	assert.Equal(t, agencyName, req.Requester)
	assert.Equal(t, m.loginID(), req.LoginID)
	assert.Equal(t, m.code(), req.VerificationCode, "page and phone show one code")
	push, err := w.gw.Inbox().Last(gateway.ChannelApp, maria)
	require.NoError(t, err)
	assert.Contains(t, push.Text, m.code(), "the notification names the code too")

	assert.ErrorIs(t, p.ConfirmCode(t.Context(), req, otherCode(m.code())), app.ErrCodeMismatch,
		"a code typed from another screen is refused on the phone")
	m.refresh()
	m.requireWaiting()
	require.NoError(t, p.ConfirmCode(t.Context(), req, m.code()))
	assert.Empty(t, p.pending())

	m.end()
	assert.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
	assert.Equal(t, mariaByMovil, m.page)
}

// otherCode is a verification code other than c.
func otherCode(c string) string {
	if c == "000" {
		return "111"
	}
	return "000"
}

func TestMovilDecline(t *testing.T) {
	t.Parallel()
	for _, kind := range []mobile.Kind{mobile.KindQR, mobile.KindPush} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, nil, nil, nil)
			p := w.phoneBySMS(maria, mariaValid, mariaPhone)
			m := w.startMovil()
			req := p.requestOf(m, kind)
			p.decline(req)
			assert.ErrorIs(t, p.Confirm(t.Context(), req), app.ErrAlreadyDecided, "a decline is final")

			m.end()
			assert.Equal(t, http.StatusUnauthorized, m.resp.StatusCode)
			assert.Contains(t, m.page, cancelledAtAgency, "RequestDenied: the agency says the citizen cancelled")
			entries := p.entries()
			require.Len(t, entries, 1)
			assert.Equal(t, app.Entry{RequestID: req.ID, At: req.CreatedAt, Requester: agencyName, Kind: kind,
				Outcome: mobile.StateDeclined}, entries[0])
		})
	}
}

func TestMovilExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		kind mobile.Kind
		// reach brings the request to the phone, or leaves it unseen.
		reach bool
	}{
		{"QR scanned, never answered", mobile.KindQR, true},
		{"push never answered", mobile.KindPush, true},
		{"QR nobody scanned", mobile.KindQR, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, nil, nil, nil)
			p := w.phoneBySMS(maria, mariaValid, mariaPhone)
			m := w.startMovil()
			var req app.Request
			if tc.reach {
				req = p.requestOf(m, tc.kind)
			}

			w.clock.Advance(requestValidity - time.Second)
			m.refresh()
			m.requireWaiting()
			assert.Contains(t, m.page, `data-seconds="1">0:01<`)

			w.clock.Advance(2 * time.Second)
			assert.Empty(t, p.pending(), "nothing left to answer")
			m.end()
			assert.Equal(t, http.StatusUnauthorized, m.resp.StatusCode)
			assert.Contains(t, m.page, failedAtAgency)

			if !tc.reach {
				assert.Empty(t, p.entries(), "a QR nobody scanned belongs to nobody's history")
				return
			}
			// The late answer is refused. It also stores the expiry, which
			// the page's background prune may or may not have done yet.
			assert.ErrorIs(t, p.Confirm(t.Context(), req), app.ErrExpired)
			entries := p.entries()
			require.Len(t, entries, 1)
			assert.Equal(t, app.Entry{RequestID: req.ID, At: req.CreatedAt, Requester: agencyName, Kind: tc.kind,
				Outcome: mobile.StateExpired}, entries[0])
		})
	}
}

func TestMovilSMSFallback(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)
	sms := func() []gateway.Message { return w.gw.Inbox().Messages(gateway.ChannelSMS, mariaPhone) }
	m := w.startMovil()
	m.push(maria, mariaValid)
	m.requireWaiting()
	assert.Contains(t, m.page, `<span id="pin-wait" data-seconds="60">60</span>`)
	assert.Contains(t, m.page, `id="sms-form" hidden`, "no SMS button during the countdown")
	before := len(sms())

	m.askSMS()
	assert.Equal(t, http.StatusConflict, m.resp.StatusCode)
	assert.Contains(t, m.errorText(), "espere a que termine la cuenta atrás")
	w.clock.Advance(smsDelay - time.Second)
	m.askSMS()
	assert.Equal(t, http.StatusConflict, m.resp.StatusCode, "one second early")
	assert.Len(t, sms(), before, "no SMS before 60 s")

	w.clock.Advance(time.Second)
	m.refresh()
	assert.NotContains(t, m.page, `id="sms-form" hidden`, "the SMS button shows")
	m.askSMS()
	require.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
	assert.Contains(t, m.page, `name="pin"`)
	require.Len(t, sms(), before+1)
	pin := w.lastSMS(mariaPhone)
	require.Regexp(t, `^[0-9]{6}$`, pin.Code)
	assert.Contains(t, pin.Text, agencyName)

	m.typePIN(otherDigits(pin.Code))
	assert.Equal(t, http.StatusUnauthorized, m.resp.StatusCode)
	assert.Equal(t, "El PIN no es correcto o ha caducado.", m.errorText())
	m.typePIN(pin.Code)
	m.finish()
	assert.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
	assert.Equal(t, mariaByMovil, m.page)

	assert.Empty(t, p.pending(), "the SMS PIN answered the phone's request too")
	entries := p.entries()
	require.Len(t, entries, 1)
	assert.Equal(t, mobile.StateConfirmed, entries[0].Outcome)
	assert.Equal(t, mobile.KindPush, entries[0].Kind)
}

// otherDigits is a 6-digit PIN other than pin.
func otherDigits(pin string) string {
	if pin == "000000" {
		return "111111"
	}
	return "000000"
}

// Nobody can tell from the pages whether an identifier is registered or its
// contrast datum right: a stranger's push and a wrong datum get maria's
// page, no phone hears of them, and their SMS button sends nothing.
func TestMovilDecoyPushes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)
	sms := func() []gateway.Message { return w.gw.Inbox().Messages(gateway.ChannelSMS, mariaPhone) }

	genuine := w.startMovil()
	genuine.push(maria, mariaValid)
	stranger := w.startMovil()
	stranger.push("00000000T", mariaValid)
	wrongDatum := w.startMovil()
	wrongDatum.push(maria, "02/02/2031")
	for _, m := range []*movilLogin{genuine, stranger, wrongDatum} {
		m.requireWaiting()
	}
	assert.Equal(t, stripMovil(genuine.page), stripMovil(stranger.page))
	assert.Equal(t, stripMovil(genuine.page), stripMovil(wrongDatum.page))

	assert.Equal(t, genuine.code(), p.only().VerificationCode, "only the genuine push reaches the phone")
	assert.Len(t, w.gw.Inbox().Messages(gateway.ChannelApp, maria), 1, "one notification")
	before := len(sms())

	w.clock.Advance(smsDelay)
	for _, m := range []*movilLogin{genuine, stranger, wrongDatum} {
		m.askSMS()
		require.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
	}
	assert.Equal(t, stripMovil(genuine.page), stripMovil(stranger.page), "the same page after the SMS button")
	assert.Equal(t, stripMovil(genuine.page), stripMovil(wrongDatum.page))
	require.Len(t, sms(), before+1, "one SMS: the genuine login's")
	assert.Len(t, w.gw.Inbox().All(), 2, "nothing but maria's SMS and app boxes")

	pin := w.lastSMS(mariaPhone).Code
	for _, m := range []*movilLogin{stranger, wrongDatum} {
		m.typePIN(pin)
		assert.Equal(t, http.StatusUnauthorized, m.resp.StatusCode, "a decoy takes no PIN, not even a genuine one")
		assert.NotContains(t, m.page, "SAMLResponse")
	}
	genuine.typePIN(pin)
	genuine.finish()
	assert.Equal(t, mariaByMovil, genuine.page)
}

func TestMovilAnotherDeviceTakesOver(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	first := w.phoneBySMS(maria, mariaValid, mariaPhone)
	m := w.startMovil()
	req := first.requestOf(m, mobile.KindPush)

	second := w.phoneByCertificate(maria)
	assert.Equal(t, mobile.ByCertificate, second.Phone().Method)
	assert.NotEqual(t, first.Phone().DeviceID, second.Phone().DeviceID)
	assert.ErrorIs(t, first.Confirm(t.Context(), req), app.ErrDeviceInactive, "the replaced phone confirms nothing")
	_, err := first.Device(t.Context())
	assert.ErrorIs(t, err, app.ErrDeviceInactive)
	_, err = first.Pending(t.Context(), 0)
	assert.ErrorIs(t, err, app.ErrDeviceInactive)
	m.refresh()
	m.requireWaiting()

	again := second.only()
	assert.Equal(t, req.ID, again.ID, "the new phone sees the waiting login")
	second.confirm(again)
	m.end()
	assert.Equal(t, mariaByMovil, m.page)
	info, err := second.Device(t.Context())
	require.NoError(t, err)
	assert.Equal(t, app.DeviceInfo{DeviceID: second.Phone().DeviceID, CitizenMasked: "*****678Z",
		Method: mobile.ByCertificate, Status: mobile.DeviceActive, ActivatedAt: second.Phone().ActivatedAt}, info)

	// Then a DNIe read over NFC: a wrong card access number changes
	// nothing, the right one takes over.
	card, err := w.gw.IssueDNIe(t.Context(), maria)
	require.NoError(t, err)
	_, err = w.appClient().ActivateDNIe(t.Context(), maria, wrongCAN(card.CAN), card.Chain, card.Key, appPassphrase)
	require.ErrorIs(t, err, app.ErrBadProof)
	_, err = second.Device(t.Context())
	require.NoError(t, err, "a refused activation replaces nobody")
	third := w.unlocked(w.appClient().ActivateDNIe(t.Context(), maria, card.CAN, card.Chain, card.Key, appPassphrase))
	assert.Equal(t, mobile.ByDNIe, third.Phone().Method)
	_, err = second.Device(t.Context())
	assert.ErrorIs(t, err, app.ErrDeviceInactive)

	w.clock.Advance(time.Minute) // apart in the history
	m2 := w.startMovil()
	q := third.scan(m2)
	_, err = second.Scan(t.Context(), m2.qrPayload())
	assert.ErrorIs(t, err, app.ErrDeviceInactive)
	third.confirm(q)
	m2.end()
	assert.Equal(t, mariaByMovil, m2.page)
	assert.Equal(t, []string{q.ID, req.ID}, third.history(app.HistoryQuery{}), "the history is the citizen's, not the phone's")
}

// rawDevice is a phone whose key the test holds, to send what the app
// never would: replays, forgeries, confirmations of other requests.
type rawDevice struct {
	t    *testing.T
	w    *world
	http *http.Client
	id   string
	key  ed25519.PrivateKey
}

// wireRequest is a request as GET /app/v1/requests lists it.
type wireRequest struct {
	ID      string `json:"id"`
	LoginID string `json:"login_id"`
	Nonce   string `json:"nonce"`
}

// rawDeviceBySMS activates a key of the test's for citizen, by SMS code,
// with plain HTTP calls.
func (w *world) rawDeviceBySMS(citizen, contrast, number string) *rawDevice {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(w.t, err)
	tr := ownAddress()
	w.t.Cleanup(tr.CloseIdleConnections)
	d := &rawDevice{t: w.t, w: w, http: &http.Client{Transport: tr}, key: key}
	in, err := json.Marshal(map[string]string{"citizen": citizen, "contrast": contrast})
	require.NoError(w.t, err)
	status, _ := d.send(d.unsigned("/app/v1/activation/sms", in), nil)
	require.Equal(w.t, http.StatusAccepted, status)
	in, err = json.Marshal(map[string]string{"method": "sms", "citizen": citizen,
		"public_key": base64.RawURLEncoding.EncodeToString(pub), "code": w.lastSMS(number).Code})
	require.NoError(w.t, err)
	var out struct {
		DeviceID string `json:"device_id"`
	}
	status, code := d.send(d.unsigned("/app/v1/activation", in), &out)
	require.Equal(w.t, http.StatusCreated, status, code)
	d.id = out.DeviceID
	return d
}

func (d *rawDevice) unsigned(path string, body []byte) *http.Request {
	r, err := http.NewRequestWithContext(d.t.Context(), http.MethodPost, d.w.gwSrv.URL+path, bytes.NewReader(body))
	require.NoError(d.t, err)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// signedAt is a call of the device signed as made at at with nonce.
func (d *rawDevice) signedAt(method, path string, body []byte, at time.Time, nonce string) *http.Request {
	r, err := http.NewRequestWithContext(d.t.Context(), method, d.w.gwSrv.URL+path, bytes.NewReader(body))
	require.NoError(d.t, err)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	require.NoError(d.t, mobile.SignCall(r, d.id, d.key, at, nonce, body))
	return r
}

// signed is a call of the device signed now with a fresh nonce, as the app
// makes them.
func (d *rawDevice) signed(method, path string, body []byte) *http.Request {
	nonce := make([]byte, 16)
	_, err := rand.Read(nonce)
	require.NoError(d.t, err)
	return d.signedAt(method, path, body, d.w.gw.Now(), base64.RawURLEncoding.EncodeToString(nonce))
}

// send sends r, decoding a success into out (when not nil), and returns the
// status and, for a refusal, its error code.
func (d *rawDevice) send(r *http.Request, out any) (int, string) {
	resp, err := d.http.Do(r)
	require.NoError(d.t, err)
	raw := body(d.t, resp)
	if resp.StatusCode >= 300 {
		var refusal struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		require.NoError(d.t, json.Unmarshal([]byte(raw), &refusal), raw)
		return resp.StatusCode, refusal.Error.Code
	}
	if out != nil {
		require.NoError(d.t, json.Unmarshal([]byte(raw), out), raw)
	}
	return resp.StatusCode, ""
}

// pending lists the requests the device can answer.
func (d *rawDevice) pending() []wireRequest {
	var out struct {
		Requests []wireRequest `json:"requests"`
	}
	status, code := d.send(d.signed(http.MethodGet, "/app/v1/requests", nil), &out)
	require.Equal(d.t, http.StatusOK, status, code)
	return out.Requests
}

// decision is the body of a decision call: c signed with key.
func decision(t *testing.T, key ed25519.PrivateKey, c mobile.Confirmation) []byte {
	payload, sig, err := mobile.SignConfirmation(key, c)
	require.NoError(t, err)
	b, err := json.Marshal(map[string]string{
		"confirmation": base64.RawURLEncoding.EncodeToString(payload),
		"signature":    base64.RawURLEncoding.EncodeToString(sig),
	})
	require.NoError(t, err)
	return b
}

func decisionPath(requestID string) string { return "/app/v1/requests/" + requestID + "/decision" }

func TestMovilRefusedConfirmations(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	d := w.rawDeviceBySMS(maria, mariaValid, mariaPhone)
	a, b := w.startMovil(), w.startMovil()
	a.push(maria, mariaValid)
	b.push(maria, mariaValid)
	var reqA, reqB wireRequest
	for _, r := range d.pending() {
		switch r.LoginID {
		case a.loginID():
			reqA = r
		case b.loginID():
			reqB = r
		}
	}
	require.NotEmpty(t, reqA.ID)
	require.NotEmpty(t, reqB.ID)
	confirmation := func(r wireRequest, dec mobile.Decision) mobile.Confirmation {
		return mobile.Confirmation{LoginID: r.LoginID, RequestID: r.ID, Nonce: r.Nonce, Decision: dec, At: w.gw.Now()}
	}
	decide := func(requestID string, body []byte) (int, string) {
		return d.send(d.signed(http.MethodPost, decisionPath(requestID), body), nil)
	}
	confirmA := confirmation(reqA, mobile.Confirm)
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	lucias := w.rawDeviceBySMS(lucia, luciaValid, luciaPhone)
	otherLogin := confirmA
	otherLogin.LoginID = reqB.LoginID
	otherNonce := confirmA
	otherNonce.Nonce = reqB.Nonce
	ghost := confirmA
	ghost.RequestID = "no-such-request-0123456789abcdef"

	for _, tc := range []struct {
		name      string
		path      string
		body      []byte
		by        *rawDevice
		status    int
		errorCode string
	}{
		{"forged: signed by another key", reqA.ID, decision(t, stranger, confirmA), d, http.StatusBadRequest, "bad_confirmation"},
		{"another login's request", reqA.ID, decision(t, d.key, confirmation(reqB, mobile.Confirm)), d, http.StatusBadRequest, "mismatch"},
		{"this request bound to another login", reqA.ID, decision(t, d.key, otherLogin), d, http.StatusBadRequest, "mismatch"},
		{"another request's nonce", reqA.ID, decision(t, d.key, otherNonce), d, http.StatusBadRequest, "mismatch"},
		{"no such request", ghost.RequestID, decision(t, d.key, ghost), d, http.StatusNotFound, "not_found"},
		{"another citizen's phone", reqA.ID, decision(t, lucias.key, confirmA), lucias, http.StatusForbidden, "wrong_device"},
	} {
		status, code := tc.by.send(tc.by.signed(http.MethodPost, decisionPath(tc.path), tc.body), nil)
		assert.Equal(t, tc.status, status, tc.name)
		assert.Equal(t, tc.errorCode, code, tc.name)
	}
	stale := d.signedAt(http.MethodPost, decisionPath(reqA.ID), decision(t, d.key, confirmA), w.gw.Now().Add(-3*time.Minute), "stale-call-nonce-0123456789")
	status, code := d.send(stale, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "stale", code, "a call signed 3 minutes ago")

	// None of that touched the request.
	assert.Len(t, d.pending(), 2, "both requests still pending")
	a.refresh()
	a.requireWaiting()

	// A decision call sent twice, same bytes and headers: the second is a
	// replay. The same decision in a fresh call is refused as decided.
	declineB := decision(t, d.key, confirmation(reqB, mobile.Decline))
	call := d.signed(http.MethodPost, decisionPath(reqB.ID), declineB)
	replayed := call.Clone(t.Context())
	replayed.Body = io.NopCloser(bytes.NewReader(declineB))
	var answer struct {
		ID    string       `json:"id"`
		State mobile.State `json:"state"`
	}
	status, code = d.send(call, &answer)
	require.Equal(t, http.StatusOK, status, code)
	assert.Equal(t, mobile.StateDeclined, answer.State)
	status, code = d.send(replayed, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "replay", code)
	status, code = decide(reqB.ID, declineB)
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "already_decided", code)
	b.end()
	assert.Equal(t, http.StatusUnauthorized, b.resp.StatusCode)
	assert.Contains(t, b.page, cancelledAtAgency)

	// The request refused so many times still confirms properly.
	status, code = decide(reqA.ID, decision(t, d.key, confirmation(reqA, mobile.Confirm)))
	require.Equal(t, http.StatusOK, status, code)
	a.end()
	assert.Equal(t, http.StatusOK, a.resp.StatusCode, a.page)
	assert.Equal(t, mariaByMovil, a.page)
}

func TestMovilHistory(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)
	// Each group of logins below spans a few minutes: keep it within one
	// day in Madrid.
	if local := w.gw.Now().In(madridZone); local.Hour() == 23 && local.Minute() >= 40 {
		w.clock.Advance(25 * time.Minute)
	}

	// login runs a login of kind that the phone answers with answer and
	// returns its request, a minute after the previous one.
	login := func(kind mobile.Kind, answer func(app.Request), wantStatus int) app.Request {
		m := w.startMovil()
		req := p.requestOf(m, kind)
		answer(req)
		m.end()
		assert.Equal(t, wantStatus, m.resp.StatusCode, m.page)
		w.clock.Advance(time.Minute)
		return req
	}
	expire := func(req app.Request) {
		w.clock.Advance(requestValidity)
		require.ErrorIs(t, p.Confirm(t.Context(), req), app.ErrExpired)
	}

	day1 := w.gw.Now().In(madridZone)
	e1 := login(mobile.KindQR, p.confirm, http.StatusOK)
	e2 := login(mobile.KindPush, p.decline, http.StatusUnauthorized)
	w.clock.Advance(day1.AddDate(0, 0, 1).Sub(w.gw.Now())) // the same time, the next day
	day2 := w.gw.Now().In(madridZone)
	e3 := login(mobile.KindPush, expire, http.StatusUnauthorized)
	require.NoError(t, w.gw.RegisterServiceProvider(gateway.ServiceProvider{SPID: agencySPID, Name: otherAgency,
		Certificates: []*x509.Certificate{spKeys.Certificate}, ACSURLs: []string{w.agency.srv.URL + "/clave/acs"}}))
	e4 := login(mobile.KindPush, p.confirm, http.StatusOK)
	e5 := login(mobile.KindQR, p.decline, http.StatusUnauthorized)
	assert.Equal(t, otherAgency, e5.Requester)

	all := p.entries()
	require.Len(t, all, 5)
	assert.Equal(t, app.Entry{RequestID: e3.ID, At: day2.UTC(), Requester: agencyName, Kind: mobile.KindPush,
		Outcome: mobile.StateExpired}, all[2])

	ids := func(reqs ...app.Request) []string {
		out := []string{}
		for _, r := range reqs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    app.HistoryQuery
		want []string
	}{
		{"newest first by default", app.HistoryQuery{}, ids(e5, e4, e3, e2, e1)},
		{"oldest first", app.HistoryQuery{Order: mobile.OldestFirst}, ids(e1, e2, e3, e4, e5)},
		{"confirmed", app.HistoryQuery{Outcome: mobile.StateConfirmed}, ids(e4, e1)},
		{"declined", app.HistoryQuery{Outcome: mobile.StateDeclined}, ids(e5, e2)},
		{"expired", app.HistoryQuery{Outcome: mobile.StateExpired}, ids(e3)},
		{"with QR", app.HistoryQuery{Kind: mobile.KindQR}, ids(e5, e1)},
		{"without QR, oldest first", app.HistoryQuery{Kind: mobile.KindPush, Order: mobile.OldestFirst}, ids(e2, e3, e4)},
		{"one requester", app.HistoryQuery{Requester: otherAgency}, ids(e5, e4)},
		{"the other requester", app.HistoryQuery{Requester: agencyName}, ids(e3, e2, e1)},
		{"a requester compared exactly", app.HistoryQuery{Requester: "agencia de pruebas"}, ids()},
		{"one day", app.HistoryQuery{From: day1, To: day1}, ids(e2, e1)},
		{"until the first day", app.HistoryQuery{To: day1}, ids(e2, e1)},
		{"from the second day", app.HistoryQuery{From: day2}, ids(e5, e4, e3)},
		{"both days, oldest first", app.HistoryQuery{From: day1, To: day2, Order: mobile.OldestFirst}, ids(e1, e2, e3, e4, e5)},
		{"after them all", app.HistoryQuery{From: day2.AddDate(0, 0, 1)}, ids()},
		{"filters combine", app.HistoryQuery{Outcome: mobile.StateDeclined, Kind: mobile.KindQR, From: day2}, ids(e5)},
		{"a page", app.HistoryQuery{Limit: 2, Offset: 1}, ids(e4, e3)},
	} {
		assert.Equal(t, tc.want, p.history(tc.q), tc.name)
	}
	_, err := p.History(t.Context(), app.HistoryQuery{Outcome: mobile.StatePending})
	assert.ErrorIs(t, err, app.ErrBadRequest, "pending is no outcome")
	_, err = p.History(t.Context(), app.HistoryQuery{From: day2, To: day1})
	assert.ErrorIs(t, err, app.ErrBadRequest, "to before from")
}

// The personas' phones answer the pages' pushes as their stories say.
func TestMovilPersonasThroughThePages(t *testing.T) {
	t.Parallel()
	t.Run("approves", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, withPersonas, nil, nil)
		m := w.startMovil()
		m.push(personaApprove, personaValid)
		m.finish()
		assert.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
		assert.Equal(t, "hola ANA|99999901H|substantial|CLVMOVIL|APRUEBA PRUEBA", m.page)
	})
	t.Run("declines", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, withPersonas, nil, nil)
		m := w.startMovil()
		m.push(personaDecline, personaValid)
		m.finish()
		assert.Equal(t, http.StatusUnauthorized, m.resp.StatusCode)
		assert.Contains(t, m.page, cancelledAtAgency)
	})
	t.Run("never answers", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, withPersonas, nil, nil)
		m := w.startMovil()
		m.push(personaTimeout, personaValid)
		m.requireWaiting()
		w.clock.Advance(4 * time.Minute)
		m.refresh()
		m.requireWaiting()
		assert.Contains(t, m.page, `data-seconds="60">1:00<`, "still waiting a minute before expiry")
	})
	t.Run("no device: SMS PIN after the countdown", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, withPersonas, nil, nil)
		const diegoPhone = "+34699999904"
		m := w.startMovil()
		m.push(personaNoApp, "E99999904")
		m.requireWaiting()
		m.askSMS()
		assert.Equal(t, http.StatusConflict, m.resp.StatusCode)
		assert.Empty(t, w.gw.Inbox().Messages(gateway.ChannelSMS, diegoPhone))
		w.clock.Advance(smsDelay)
		m.askSMS()
		require.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
		m.typePIN(w.lastSMS(diegoPhone).Code)
		m.finish()
		assert.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
		assert.Equal(t, "hola DIEGO|Y9999904R|substantial|CLVMOVIL|SINMOVIL", m.page)
	})
}

// Another site cannot make the citizen's browser push a login, ask for an
// SMS, type a PIN or throw the request away.
func TestMovilFormsNeedTheirToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)
	m := w.startMovil()
	code := m.code()
	for _, token := range []string{"", strings.Repeat("A", len(m.token))} {
		for _, action := range []string{"push", "sms", "verify", "qr"} {
			vals := url.Values{"document": {maria}, "contrast": {mariaValid}, "pin": {"123456"}}
			if token != "" {
				vals.Set("csrf", token)
			}
			resp, err := m.b.c.PostForm(m.gwURL(m.base+action), vals)
			require.NoError(t, err)
			page := body(t, resp)
			assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s with token %q", action, token)
			assert.Contains(t, page, formRefused)
		}
	}
	assert.Empty(t, p.pending(), "no push reached the phone")
	assert.Empty(t, w.gw.Inbox().Messages(gateway.ChannelApp, maria))
	m.refresh()
	assert.Equal(t, code, m.code(), "the login still follows its QR code")

	// With its token, the form works: a push, then back to a fresh QR code.
	m.push(maria, mariaValid)
	m.requireWaiting()
	assert.Len(t, p.pending(), 1)
	m.post(m.base+"qr", nil)
	m.requireWaiting()
	assert.Contains(t, m.page, `id="qr"`)
	assert.NotEmpty(t, m.qrPayload())
}
