package gateway_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/permanente"
	"github.com/clave-go/clave/saml"
)

// Cl@ve Permanente over real HTTP: the account services at /permanente/
// (activation, forgotten password, change, unsubscribe) and the login on
// the chooser, at low with the password and at substantial with an SMS
// code on top.

const (
	mariaEmail = "x@example.es" // citizen() registers everyone with it
	pmPassword = "Cuervo#Azul42"
	pmOther    = "Lince!Iberico7"
	pmThird    = "Garza%Real2031"
	stranger   = "87654321X" // a valid DNI nobody registered
)

var (
	pmErrRe  = regexp.MustCompile(`<p class="error" id="error" role="alert">([^<]*)</p>`)
	pmRuleRe = regexp.MustCompile(`<li class="rule">([^<]*)</li>`)
	pmDoneRe = regexp.MustCompile(`<p id="done" role="status">([^<]*)</p>`)
	pmCSRFRe = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]*)">`)
)

// pmWorld is a world whose Cl@ve Permanente hashes cheaply (a test, not a
// stolen database), whose agency asks for loa.
func pmWorld(t *testing.T, loa saml.LoA, tweak func(*gateway.Config)) *world {
	return newWorld(t, func(c *gateway.Config) {
		c.Permanente.Argon2 = permanente.Argon2Params{Time: 1, Memory: 64, Threads: 1}
		if tweak != nil {
			tweak(c)
		}
	}, nil, func(c *clave.Config) { c.LoA = loa })
}

// text is a page text in Spanish as the page shows it.
func text(key string) string { return html.EscapeString(pages.T("es", key)) }

// pmError is the error shown on a page, "" when none.
func pmError(page string) string {
	if m := pmErrRe.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// account is a browser on the account services.
type account struct {
	w    *world
	b    *browser
	resp *http.Response
	page string
}

func (w *world) account() *account { return &account{w: w, b: newBrowser(w.t)} }

func (a *account) open(path string) *account {
	a.resp, a.page = a.b.get(a.w.gwSrv.URL + path)
	require.Equal(a.w.t, http.StatusOK, a.resp.StatusCode, a.page)
	return a
}

// post submits a form of the current page (by its action) with the page's
// token and vals.
func (a *account) post(action string, vals url.Values) *account {
	a.w.t.Helper()
	m := pmCSRFRe.FindStringSubmatch(a.page)
	if m == nil { // a page without forms: to the form, as a person would
		a.open(action)
		m = pmCSRFRe.FindStringSubmatch(a.page)
	}
	require.NotNil(a.w.t, m, "no token on the page: %s", a.page)
	if vals == nil {
		vals = url.Values{}
	}
	vals.Set("csrf", html.UnescapeString(m[1]))
	resp, err := a.b.c.PostForm(a.w.gwSrv.URL+action, vals)
	require.NoError(a.w.t, err)
	a.resp, a.page = resp, body(a.w.t, resp)
	return a
}

func (a *account) status() int { return a.resp.StatusCode }

// startActivation types the DNI/NIE, email and activation code.
func (a *account) startActivation(id, email, code string) *account {
	if !strings.Contains(a.page, `action="/permanente/activate/start"`) {
		a.open("/permanente/activate")
	}
	return a.post("/permanente/activate/start", url.Values{"document": {id}, "email": {email}, "code": {code}})
}

// startReset types the DNI/NIE and the kept activation code.
func (a *account) startReset(id, code string) *account {
	if !strings.Contains(a.page, `action="/permanente/reset/start"`) {
		a.open("/permanente/reset")
	}
	return a.post("/permanente/reset/start", url.Values{"document": {id}, "code": {code}})
}

func (a *account) sms(flow, code string) *account {
	return a.post("/permanente/"+flow+"/sms", url.Values{"code": {code}})
}

func (a *account) password(flow, pw, again string) *account {
	return a.post("/permanente/"+flow+"/password", url.Values{"password": {pw}, "password2": {again}})
}

// activate registers maria's Cl@ve Permanente and activates it with pw,
// returning the activation code she keeps.
func activate(t *testing.T, w *world, pw string) permanente.ActivationCode {
	t.Helper()
	code, err := w.gw.RegisterPermanente(context.Background(), maria)
	require.NoError(t, err)
	a := w.account().startActivation(maria, "  X@Example.ES ", code.Grouped())
	require.Equal(t, http.StatusOK, a.status(), a.page)
	require.Contains(t, a.page, `action="/permanente/activate/sms"`, "the SMS step")
	assert.Contains(t, a.page, "*******01", "the page names the phone by its last digits only")
	sms := w.lastSMS(mariaPhone)
	assert.Regexp(t, `^[0-9]{6}$`, sms.Code)
	assert.Contains(t, sms.Text, sms.Code)
	a.sms("activate", sms.Code)
	require.Contains(t, a.page, `action="/permanente/activate/password"`, a.page)
	a.password("activate", pw, pw)
	require.Equal(t, http.StatusOK, a.status(), a.page)
	require.Equal(t, []string{text("permanente.activate.done")}, pmDoneRe.FindStringSubmatch(a.page)[1:], a.page)
	return code
}

// openPermanente goes from the chooser to the Cl@ve Permanente page.
func (s *session) openPermanente() {
	href, ok := s.methods()["GISS"]
	require.True(s.w.t, ok, "Cl@ve Permanente offered and available: %s", s.page)
	s.see(s.b.get(s.gwURL(href)))
	require.Equal(s.w.t, http.StatusOK, s.resp.StatusCode, s.page)
}

// pmBase is the login's Cl@ve Permanente path.
func (s *session) pmBase() string {
	return strings.TrimPrefix(s.chooser, s.w.gwSrv.URL) + "/permanente/"
}

func (s *session) pmPassword(id, pw string) {
	s.post(s.pmBase()+"password", url.Values{"document": {id}, "password": {pw}})
}

// pmLogin logs in with Cl@ve Permanente in a new session, up to the
// answer to the password.
func (w *world) pmLogin(id, pw string) *session {
	s := w.start()
	s.openPermanente()
	s.pmPassword(id, pw)
	return s
}

func TestPermanenteActivationAndLoginLow(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, nil)

	s := w.start()
	assert.Contains(t, s.page, `id="method-GISS" href=`, "Cl@ve Permanente is available on the chooser")
	assert.Contains(t, s.page, "Cl@ve Permanente")
	s.openPermanente()
	assert.Contains(t, s.page, `href="/permanente/reset"`, "the forgotten-password link")
	assert.Contains(t, s.page, `href="/permanente/activate"`, "the activation link")

	activate(t, w, pmPassword)

	s.pmPassword("12.345.678-z", pmPassword)
	s.finish()
	assert.Equal(t, "hola MARIA|12345678Z|low|GISS|GARCIA LOPEZ", s.page, "the password alone gives low")

	// A second activation is the reset's business.
	code, err := w.gw.RegeneratePermanenteCode(context.Background(), maria)
	require.NoError(t, err)
	a := w.account().startActivation(maria, mariaEmail, code.Value)
	assert.Equal(t, http.StatusConflict, a.status())
	assert.Equal(t, text("permanente.activate.already"), pmError(a.page))
}

func TestPermanenteLoginSubstantialWithSMS(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoASubstantial, nil)
	activate(t, w, pmPassword)
	before := w.lastSMS(mariaPhone)

	s := w.pmLogin(maria, pmPassword)
	require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
	require.Contains(t, s.page, `name="code"`, "the reinforced step asks for the SMS code: %s", s.page)
	sms := w.lastSMS(mariaPhone)
	require.NotEqual(t, before.Code, sms.Code, "a new SMS for the login")
	assert.Regexp(t, `^[0-9]{6}$`, sms.Code)
	assert.Contains(t, sms.Text, "Agencia de pruebas", "the SMS names the service")

	s.post(s.pmBase()+"sms", url.Values{"code": {otherSMS(sms.Code)}})
	assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
	assert.Equal(t, text("permanente.sms.wrong"), pmError(s.page))

	// Another code replaces the first, which no longer verifies.
	s.post(s.pmBase()+"resend", nil)
	resent := w.lastSMS(mariaPhone)
	require.NotEqual(t, sms.Code, resent.Code)
	s.post(s.pmBase()+"sms", url.Values{"code": {resent.Code}})
	s.finish()
	assert.Equal(t, "hola MARIA|12345678Z|substantial|GISS|GARCIA LOPEZ", s.page)

	t.Run("three wrong codes fail the login", func(t *testing.T) {
		s := w.pmLogin(maria, pmPassword)
		code := w.lastSMS(mariaPhone).Code
		for range 2 {
			s.post(s.pmBase()+"sms", url.Values{"code": {otherSMS(code)}})
			require.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
		}
		s.post(s.pmBase()+"sms", url.Values{"code": {otherSMS(code)}})
		s.finish()
		assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode, "the service hears of the failure: %s", s.page)
	})

	t.Run("an expired code asks for another", func(t *testing.T) {
		s := w.pmLogin(maria, pmPassword)
		code := w.lastSMS(mariaPhone).Code
		w.clock.Advance(5 * time.Minute)
		s.post(s.pmBase()+"sms", url.Values{"code": {code}})
		assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
		assert.Equal(t, text("permanente.sms.expired"), pmError(s.page))
	})

	t.Run("sends are bounded per login", func(t *testing.T) {
		s := w.pmLogin(maria, pmPassword)
		s.post(s.pmBase()+"resend", nil)
		s.post(s.pmBase()+"resend", nil)
		assert.NotContains(t, s.page, `id="resend"`, "no more resends offered")
		s.post(s.pmBase()+"resend", nil)
		assert.Equal(t, http.StatusTooManyRequests, s.resp.StatusCode)
		assert.Equal(t, text("permanente.sms.sendlimit"), pmError(s.page))
	})

	t.Run("a basic registration is refused substantial", func(t *testing.T) {
		code, err := w.gw.RegisterPermanente(context.Background(), lucia)
		require.NoError(t, err)
		a := w.account().startActivation(lucia, mariaEmail, code.Value)
		a.sms("activate", w.lastSMS(luciaPhone).Code)
		a.password("activate", pmPassword, pmPassword)
		require.Contains(t, a.page, text("permanente.activate.done"))
		smsBefore := w.lastSMS(luciaPhone)

		s := w.pmLogin(lucia, pmPassword)
		s.finish()
		assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode, "the gateway refuses low to a request for substantial: %s", s.page)
		assert.Equal(t, smsBefore, w.lastSMS(luciaPhone), "no SMS for a registration that cannot reach substantial")
	})
}

// otherSMS is a 6-digit code other than c.
func otherSMS(c string) string {
	if c == "000000" {
		return "111111"
	}
	return "000000"
}

func TestPermanentePolicyRules(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, nil)
	code, err := w.gw.RegisterPermanente(context.Background(), maria)
	require.NoError(t, err)
	a := w.account().startActivation(maria, mariaEmail, code.Value)
	a.sms("activate", w.lastSMS(mariaPhone).Code)
	require.Contains(t, a.page, `id="policy"`, "the policy is stated before it is broken")

	cases := []struct {
		pw   string
		rule permanente.Rule
	}{
		{strings.Repeat("Ab1#", 33), permanente.RuleTooLong},
		{"Abcdef1#\tx", permanente.RuleControl},
		{"Ab1#x", permanente.RuleTooShort},
		{"ABCDEFG1#", permanente.RuleNoLower},
		{"abcdefg1#", permanente.RuleNoUpper},
		{"Abcdefgh#", permanente.RuleNoDigit},
		{"Abcdefgh1", permanente.RuleNoSpecial},
		{"Xmaría#2031", permanente.RuleHasName},
		{"Zz#12345678z", permanente.RuleHasID},
	}
	for _, tc := range cases {
		a.password("activate", tc.pw, tc.pw)
		assert.Equal(t, http.StatusBadRequest, a.status(), "%s: %s", tc.rule, a.page)
		assert.Equal(t, text("permanente.policy"), pmError(a.page))
		assert.Contains(t, pmRuleRe.FindAllStringSubmatch(a.page, -1), []string{`<li class="rule">` + text("permanente.rule."+string(tc.rule)) + `</li>`, text("permanente.rule." + string(tc.rule))},
			"%s listed", tc.rule)
	}
	a.password("activate", "Abcdefgh1", "Abcdefgh1")
	assert.Len(t, pmRuleRe.FindAllString(a.page, -1), 1, "only the broken rule")
	a.password("activate", "ab", "ab")
	assert.Len(t, pmRuleRe.FindAllString(a.page, -1), 4, "every broken rule at once: too short, no upper, digit, special")

	// Each rule in each language.
	for _, lang := range pages.Languages {
		a.resp, a.page = a.b.get(w.gwSrv.URL + "/permanente/activate?lang=" + lang)
		a.password("activate", "ab", "ab")
		assert.Contains(t, a.page, `<html lang="`+lang+`">`)
		assert.Contains(t, a.page, html.EscapeString(pages.T(lang, "permanente.rule.too_short")))
		for _, r := range []permanente.Rule{permanente.RuleTooLong, permanente.RuleControl, permanente.RuleTooShort,
			permanente.RuleNoLower, permanente.RuleNoUpper, permanente.RuleNoDigit, permanente.RuleNoSpecial,
			permanente.RuleHasName, permanente.RuleHasID, permanente.RuleReused} {
			key := "permanente.rule." + string(r)
			assert.NotEqual(t, key, pages.T(lang, key), "%s has a text in %s", r, lang)
		}
	}
	a.resp, a.page = a.b.get(w.gwSrv.URL + "/permanente/activate?lang=es")

	a.password("activate", pmPassword, pmOther)
	assert.Equal(t, text("permanente.mismatch"), pmError(a.page))
	a.password("activate", pmPassword, pmPassword)
	require.Contains(t, a.page, text("permanente.activate.done"))

	// Reuse: the current password, then the previous one.
	c := w.account().open("/permanente/change")
	c.post("/permanente/change", url.Values{"document": {maria}, "current": {pmPassword}, "password": {pmPassword}, "password2": {pmPassword}})
	assert.Equal(t, http.StatusBadRequest, c.status())
	assert.Contains(t, c.page, text("permanente.rule.reused"))
	c.post("/permanente/change", url.Values{"document": {maria}, "current": {pmPassword}, "password": {pmOther}, "password2": {pmOther}})
	require.Equal(t, http.StatusOK, c.status(), c.page)
	assert.Equal(t, text("permanente.change.done"), pmDoneRe.FindStringSubmatch(c.page)[1])
	c.post("/permanente/change", url.Values{"document": {maria}, "current": {pmOther}, "password": {pmPassword}, "password2": {pmPassword}})
	assert.Contains(t, c.page, text("permanente.rule.reused"), "the previous password cannot come back")
	c.post("/permanente/change", url.Values{"document": {maria}, "current": {"Wrong#Pass1"}, "password": {pmThird}, "password2": {pmThird}})
	assert.Equal(t, http.StatusUnauthorized, c.status())
	assert.Equal(t, text("permanente.wrong"), pmError(c.page))

	s := w.pmLogin(maria, pmOther)
	s.finish()
	assert.Equal(t, "hola MARIA|12345678Z|low|GISS|GARCIA LOPEZ", s.page)
}

// passwordMaxAge is how long a Cl@ve Permanente password lasts.
const passwordMaxAge = 2 * 365 * 24 * time.Hour

// activateLongAgo activates maria's password so that it expires in d: the
// clock goes back for the activation, which involves no SAML, and comes
// back, because the test keys of the gateway and the agency only last two
// days.
func activateLongAgo(t *testing.T, w *world, pw string, d time.Duration) permanente.ActivationCode {
	t.Helper()
	w.clock.Advance(-(passwordMaxAge - d))
	code := activate(t, w, pw)
	w.clock.Advance(passwordMaxAge - d)
	return code
}

func TestPermanenteExpiryForcesChange(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoASubstantial, nil)
	activateLongAgo(t, w, pmPassword, 30*time.Minute)
	s := w.pmLogin(maria, pmPassword)
	assert.Contains(t, s.page, `name="code"`, "still in date: straight to the SMS code")

	w.clock.Advance(30 * time.Minute)
	s = w.pmLogin(maria, pmPassword)
	require.Equal(t, http.StatusOK, s.resp.StatusCode)
	require.Contains(t, s.page, text("permanente.expired.title"), s.page)
	before := w.lastSMS(mariaPhone)

	// The change's ticket lasts 10 minutes; then the password again.
	w.clock.Advance(11 * time.Minute)
	s.post(s.pmBase()+"change", url.Values{"password": {pmThird}, "password2": {pmThird}})
	assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
	assert.Equal(t, text("permanente.change.expired"), pmError(s.page))
	s.pmPassword(maria, pmPassword)
	require.Contains(t, s.page, text("permanente.expired.title"), "a new ticket")

	// The language switch leads back to the same step.
	s.see(s.b.get(s.gwURL(s.pmBase() + "change?lang=en")))
	assert.Contains(t, s.page, html.EscapeString(pages.T("en", "permanente.expired.title")))
	s.see(s.b.get(s.gwURL(s.pmBase() + "?lang=es")))

	s.post(s.pmBase()+"change", url.Values{"password": {pmOther}, "password2": {pmThird}})
	assert.Equal(t, text("permanente.mismatch"), pmError(s.page))
	s.post(s.pmBase()+"change", url.Values{"password": {pmPassword}, "password2": {pmPassword}})
	assert.Contains(t, s.page, text("permanente.rule.reused"))
	s.post(s.pmBase()+"change", url.Values{"password": {"garcia"}, "password2": {"garcia"}})
	assert.Contains(t, s.page, text("permanente.rule.has_name"))
	assert.Contains(t, s.page, text("permanente.rule.too_short"))
	assert.Equal(t, before, w.lastSMS(mariaPhone), "no SMS before the new password")

	s.post(s.pmBase()+"change", url.Values{"password": {pmOther}, "password2": {pmOther}})
	require.Contains(t, s.page, `name="code"`, "then the reinforced step: %s", s.page)
	s.post(s.pmBase()+"sms", url.Values{"code": {w.lastSMS(mariaPhone).Code}})
	s.finish()
	assert.Equal(t, "hola MARIA|12345678Z|substantial|GISS|GARCIA LOPEZ", s.page)

	s = w.pmLogin(maria, pmPassword)
	assert.Equal(t, text("permanente.wrong"), pmError(s.page), "the old password is gone")
	s.pmPassword(maria, pmOther)
	assert.Contains(t, s.page, `name="code"`, "the new one is in date")

}

func TestPermanenteLockoutAndReset(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, nil)
	code := activate(t, w, pmPassword)

	s := w.pmLogin(maria, "Wrong#Pass1")
	assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
	assert.Equal(t, text("permanente.wrong"), pmError(s.page))
	for range 3 {
		s.pmPassword(maria, "Wrong#Pass1")
		assert.Equal(t, text("permanente.wrong"), pmError(s.page))
	}
	s.pmPassword(maria, "Wrong#Pass1")
	assert.Equal(t, http.StatusForbidden, s.resp.StatusCode, "the fifth failure blocks")
	assert.Equal(t, text("permanente.blocked"), pmError(s.page))
	s.pmPassword(maria, pmPassword)
	assert.Equal(t, text("permanente.blocked"), pmError(s.page), "even the right password")

	// The forgotten-password flow unblocks, with the kept activation code.
	a := w.account().startReset(maria, strings.ToLower(code.Value))
	require.Contains(t, a.page, `action="/permanente/reset/sms"`, a.page)
	a.sms("reset", w.lastSMS(mariaPhone).Code)
	a.password("reset", pmPassword, pmPassword)
	assert.Contains(t, a.page, text("permanente.rule.reused"), "not the blocked password again")
	a.password("reset", pmOther, pmOther)
	require.Equal(t, http.StatusOK, a.status(), a.page)
	assert.Equal(t, text("permanente.reset.done"), pmDoneRe.FindStringSubmatch(a.page)[1])

	s = w.pmLogin(maria, pmOther)
	s.finish()
	assert.Equal(t, "hola MARIA|12345678Z|low|GISS|GARCIA LOPEZ", s.page)

	t.Run("reset before activation", func(t *testing.T) {
		code, err := w.gw.RegisterPermanente(context.Background(), lucia)
		require.NoError(t, err)
		a := w.account().startReset(lucia, code.Value)
		assert.Equal(t, http.StatusConflict, a.status())
		assert.Equal(t, text("permanente.reset.notactive"), pmError(a.page))
	})
}

// TestPermanenteStrangers: whoever cannot log in with a password (unknown,
// registered without Cl@ve Permanente, not activated) gets what a wrong
// password gets, blocked at the same attempt; whoever cannot take an
// activation code (unknown, wrong email) gets what a wrong code gets.
func TestPermanenteStrangers(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, nil)
	code, err := w.gw.RegisterPermanente(context.Background(), lucia)
	require.NoError(t, err) // registered, never activated
	_, err = w.gw.RegisterPermanente(context.Background(), stranger)
	require.ErrorIs(t, err, gateway.ErrNotRegistered)
	_, err = w.gw.RegeneratePermanenteCode(context.Background(), maria)
	require.ErrorIs(t, err, permanente.ErrNotRegistered, "maria has no Cl@ve Permanente yet")

	answers := func(id string) []string {
		s := w.pmLogin(id, "Wrong#Pass1")
		var out []string
		for range 5 {
			out = append(out, fmt.Sprint(s.resp.StatusCode, " ", pmError(s.page)))
			s.pmPassword(id, "Wrong#Pass1")
		}
		return out
	}
	reference := answers(stranger)
	assert.Equal(t, fmt.Sprint(http.StatusUnauthorized, " ", text("permanente.wrong")), reference[0])
	assert.Equal(t, fmt.Sprint(http.StatusForbidden, " ", text("permanente.blocked")), reference[4])
	assert.Equal(t, reference, answers(maria), "registered at the gateway, without Cl@ve Permanente")
	assert.Equal(t, reference, answers(lucia), "with Cl@ve Permanente, not activated")
	activate(t, w, pmPassword)
	assert.Equal(t, reference, answers(maria), "a real account")

	codeAnswers := func(id, email, typed string) []string {
		a := w.account()
		var out []string
		for range 7 {
			a.startActivation(id, email, typed)
			out = append(out, fmt.Sprint(a.status(), " ", pmError(a.page)))
		}
		return out
	}
	wrong := "ABCD-EFGH-JKLM-NPQR"
	if code.Value == "ABCDEFGHJKLMNPQR" {
		wrong = "ABCD-EFGH-JKLM-NPQS"
	}
	ref := codeAnswers(stranger, mariaEmail, wrong)
	assert.Equal(t, fmt.Sprint(http.StatusUnauthorized, " ", text("permanente.code.wrong")), ref[0])
	assert.Equal(t, fmt.Sprint(http.StatusUnauthorized, " ", text("permanente.code.wrong")), ref[4])
	assert.Equal(t, fmt.Sprint(http.StatusForbidden, " ", text("permanente.code.blocked")), ref[5], "the sixth wrong entry blocks")
	assert.Equal(t, ref, codeAnswers("11111111H", mariaEmail, code.Value), "unknown, with another's code")
	assert.Equal(t, ref, codeAnswers(lucia, "otra@example.es", code.Value), "the right code with a wrong email")
	a := w.account().startActivation(lucia, mariaEmail, code.Value)
	require.Contains(t, a.page, `action="/permanente/activate/sms"`, "the wrong emails did not block the real code: %s", a.page)
}

func TestPermanenteActivationCodeBlockAndRegeneration(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, nil)
	old, err := w.gw.RegisterPermanente(context.Background(), maria)
	require.NoError(t, err)
	_, err = w.gw.RegisterPermanente(context.Background(), maria)
	require.ErrorIs(t, err, permanente.ErrAlreadyRegistered)

	wrong := "2222-3333-4444-5555"
	a := w.account()
	a.startActivation(maria, mariaEmail, "short")
	assert.Equal(t, text("permanente.code.wrong"), pmError(a.page), "a malformed code is not counted")
	for range 5 {
		a.startActivation(maria, mariaEmail, wrong)
		require.Equal(t, http.StatusUnauthorized, a.status())
		assert.Equal(t, text("permanente.code.wrong"), pmError(a.page))
	}
	a.startActivation(maria, mariaEmail, wrong)
	assert.Equal(t, http.StatusForbidden, a.status(), "more than 5 wrong entries block the code")
	assert.Equal(t, text("permanente.code.blocked"), pmError(a.page))
	a.startActivation(maria, mariaEmail, old.Value)
	assert.Equal(t, text("permanente.code.blocked"), pmError(a.page), "even the right code")

	fresh, err := w.gw.RegeneratePermanenteCode(context.Background(), maria)
	require.NoError(t, err)
	assert.NotEqual(t, old.Value, fresh.Value)
	a.startActivation(maria, mariaEmail, old.Value)
	assert.Equal(t, text("permanente.code.wrong"), pmError(a.page), "the old code no longer works")
	a.startActivation(maria, mariaEmail, fresh.Grouped())
	require.Contains(t, a.page, `action="/permanente/activate/sms"`, "the new one does, unblocked: %s", a.page)

	// A regeneration drops an activation started with the old code.
	sms := w.lastSMS(mariaPhone).Code
	newer, err := w.gw.RegeneratePermanenteCode(context.Background(), maria)
	require.NoError(t, err)
	a.sms("activate", sms)
	assert.Equal(t, text("permanente.sms.flowexpired"), pmError(a.page))
	a.startActivation(maria, mariaEmail, newer.Value)
	a.sms("activate", w.lastSMS(mariaPhone).Code)
	a.password("activate", pmPassword, pmPassword)
	assert.Contains(t, a.page, text("permanente.activate.done"))
}

func TestPermanenteActivationRestartAfterThreeWrongSMS(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, nil)
	code, err := w.gw.RegisterPermanente(context.Background(), maria)
	require.NoError(t, err)
	a := w.account().startActivation(maria, mariaEmail, code.Value)
	sms := w.lastSMS(mariaPhone).Code
	for range 2 {
		a.sms("activate", otherSMS(sms))
		assert.Equal(t, http.StatusUnauthorized, a.status())
		assert.Equal(t, text("permanente.sms.wrong"), pmError(a.page))
	}
	a.sms("activate", otherSMS(sms))
	assert.Equal(t, text("permanente.sms.restart"), pmError(a.page))
	assert.Contains(t, a.page, `action="/permanente/activate/start"`, "back to the start")

	resp, err := a.b.c.PostForm(w.gwSrv.URL+"/permanente/activate/sms", url.Values{"code": {sms}, "csrf": {pmCSRFRe.FindStringSubmatch(a.page)[1]}})
	require.NoError(t, err)
	page := body(t, resp)
	assert.Contains(t, page, `action="/permanente/activate/start"`, "the spent code leads nowhere")

	// The three SMS codes did not count against the activation code.
	a.startActivation(maria, mariaEmail, code.Value)
	second := w.lastSMS(mariaPhone).Code
	a.sms("activate", second)
	a.password("activate", pmPassword, pmPassword)
	assert.Contains(t, a.page, text("permanente.activate.done"))

	t.Run("an expired SMS code restarts too", func(t *testing.T) {
		code, err := w.gw.RegisterPermanente(context.Background(), lucia)
		require.NoError(t, err)
		a := w.account().startActivation(lucia, mariaEmail, code.Value)
		w.clock.Advance(5 * time.Minute)
		a.sms("activate", w.lastSMS(luciaPhone).Code)
		assert.Equal(t, text("permanente.sms.flowexpired"), pmError(a.page))
	})
}

func TestPermanenteDeletion(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, nil)
	code := activate(t, w, pmPassword)

	a := w.account().open("/permanente/")
	assert.Contains(t, a.page, `href="/permanente/delete"`)
	a.open("/permanente/delete")
	a.post("/permanente/delete", url.Values{"document": {maria}, "password": {pmPassword}})
	assert.Equal(t, http.StatusBadRequest, a.status())
	assert.Equal(t, text("permanente.delete.unconfirmed"), pmError(a.page))
	a.post("/permanente/delete", url.Values{"document": {maria}, "password": {pmOther}, "confirm": {"yes"}})
	assert.Equal(t, http.StatusUnauthorized, a.status())
	assert.Equal(t, text("permanente.wrong"), pmError(a.page))
	a.post("/permanente/delete", url.Values{"document": {maria}, "password": {pmPassword}, "confirm": {"yes"}})
	require.Equal(t, http.StatusOK, a.status(), a.page)
	assert.Equal(t, text("permanente.delete.done"), pmDoneRe.FindStringSubmatch(a.page)[1])

	s := w.pmLogin(maria, pmPassword)
	assert.Equal(t, text("permanente.wrong"), pmError(s.page), "no password any more")
	a = w.account().startReset(maria, code.Value)
	assert.Equal(t, text("permanente.code.wrong"), pmError(a.page), "nor activation code")
	_, err := w.gw.RegeneratePermanenteCode(context.Background(), maria)
	assert.ErrorIs(t, err, permanente.ErrNotRegistered)

	// Registered again, with a new code.
	again, err := w.gw.RegisterPermanente(context.Background(), maria)
	require.NoError(t, err)
	a = w.account().startActivation(maria, mariaEmail, again.Value)
	a.sms("activate", w.lastSMS(mariaPhone).Code)
	a.password("activate", pmOther, pmOther)
	assert.Contains(t, a.page, text("permanente.activate.done"))
}

func TestPermanenteAdminAPI(t *testing.T) {
	t.Parallel()
	const token = "permanente-admin-token"
	w := pmWorld(t, saml.LoALow, func(c *gateway.Config) { c.AdminToken = token })
	call := func(tok, in string) (int, map[string]string) {
		req, err := http.NewRequest(http.MethodPost, w.gwSrv.URL+"/admin/api/permanente", strings.NewReader(in))
		require.NoError(t, err)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := w.gwSrv.Client().Do(req)
		require.NoError(t, err)
		var out map[string]string
		require.NoError(t, json.Unmarshal([]byte(body(t, resp)), &out))
		return resp.StatusCode, out
	}
	st, _ := call("", `{"citizen":"12345678Z","action":"register"}`)
	assert.Equal(t, http.StatusUnauthorized, st)

	st, out := call(token, `{"citizen":"12345678Z","action":"register"}`)
	require.Equal(t, http.StatusOK, st, out)
	assert.Regexp(t, `^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$`, out["activation_code"])
	first := out["activation_code"]
	st, _ = call(token, `{"citizen":"12345678Z","action":"register"}`)
	assert.Equal(t, http.StatusConflict, st)
	st, out = call(token, `{"citizen":"12345678Z","action":"regenerate"}`)
	require.Equal(t, http.StatusOK, st)
	assert.NotEqual(t, first, out["activation_code"])
	st, _ = call(token, `{"citizen":"`+stranger+`","action":"register"}`)
	assert.Equal(t, http.StatusNotFound, st)
	st, _ = call(token, `{"citizen":"`+lucia+`","action":"regenerate"}`)
	assert.Equal(t, http.StatusNotFound, st)
	st, _ = call(token, `{"citizen":"12345678Z","action":"delete"}`)
	assert.Equal(t, http.StatusBadRequest, st)

	a := w.account().startActivation(maria, mariaEmail, first)
	assert.Equal(t, text("permanente.code.wrong"), pmError(a.page), "the regenerated code replaced the first")
	a.startActivation(maria, mariaEmail, out["activation_code"])
	assert.Contains(t, a.page, `action="/permanente/activate/sms"`)
}

func TestPermanenteCSRF(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, nil)
	code, err := w.gw.RegisterPermanente(context.Background(), maria)
	require.NoError(t, err)
	a := w.account().open("/permanente/activate")

	var cookie *http.Cookie
	for _, c := range a.resp.Cookies() {
		if c.Name == "clave_pm" {
			cookie = c
		}
	}
	require.NotNil(t, cookie, "the page sets its token cookie")
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
	assert.Equal(t, "/permanente/", cookie.Path)
	token := html.UnescapeString(pmCSRFRe.FindStringSubmatch(a.page)[1])
	assert.NotEqual(t, cookie.Value, token, "the field is not the cookie itself")

	vals := func(tok string) url.Values {
		v := url.Values{"document": {maria}, "email": {mariaEmail}, "code": {code.Value}}
		if tok != "" {
			v.Set("csrf", tok)
		}
		return v
	}
	post := func(c *http.Client, v url.Values) int {
		resp, err := c.PostForm(w.gwSrv.URL+"/permanente/activate/start", v)
		require.NoError(t, err)
		page := body(t, resp)
		if resp.StatusCode == http.StatusForbidden {
			assert.Contains(t, page, text("error.form"))
		}
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusForbidden, post(a.b.c, vals("")), "no field")
	assert.Equal(t, http.StatusForbidden, post(a.b.c, vals(cookie.Value)), "the cookie's value is not the token")
	assert.Equal(t, http.StatusForbidden, post(a.b.c, vals(token+"x")), "a wrong field")
	other := w.account().open("/permanente/activate")
	otherToken := html.UnescapeString(pmCSRFRe.FindStringSubmatch(other.page)[1])
	assert.Equal(t, http.StatusForbidden, post(a.b.c, vals(otherToken)), "another browser's token")
	assert.Equal(t, http.StatusForbidden, post(newBrowser(t).c, vals(token)), "no cookie")

	// A planted cookie, as a page on another port of the host could set,
	// does not help without the gateway's key.
	planted := newBrowser(t)
	u, _ := url.Parse(w.gwSrv.URL + "/permanente/")
	planted.c.Jar.SetCookies(u, []*http.Cookie{{Name: "clave_pm", Value: cookie.Value, Path: "/permanente/"}})
	assert.Equal(t, http.StatusForbidden, post(planted.c, vals(cookie.Value)))

	for _, path := range []string{"/permanente/reset/start", "/permanente/activate/sms", "/permanente/activate/password",
		"/permanente/change", "/permanente/delete", "/permanente/activate/restart"} {
		resp, err := a.b.c.PostForm(w.gwSrv.URL+path, url.Values{"document": {maria}})
		require.NoError(t, err)
		_ = body(t, resp)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}
	assert.Equal(t, http.StatusSeeOther, noRedirect(t, w.gwSrv.URL, a.b.c, vals(token)), "the page's own token passes")

	// The login pages are the gateway's: its login-bound token guards them.
	s := w.start()
	s.openPermanente()
	resp, err := s.b.c.PostForm(s.gwURL(s.pmBase()+"password"), url.Values{"document": {maria}, "password": {pmPassword}})
	require.NoError(t, err)
	_ = body(t, resp)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

// noRedirect posts the activation start and returns its status without
// following a redirect.
func noRedirect(t *testing.T, base string, c *http.Client, v url.Values) int {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cc.PostForm(base+"/permanente/activate/start", v)
	require.NoError(t, err)
	_ = body(t, resp)
	return resp.StatusCode
}

// syncBuffer is a log sink safe for the gateway's concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPermanenteSecretsAtRest runs a whole lifecycle on a SQLite gateway
// that logs everything, then reads every row of every table and the log:
// no password, activation code or SMS code may be there in clear.
func TestPermanenteSecretsAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := gateway.OpenDB(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	logs := &syncBuffer{}
	w := pmWorld(t, saml.LoASubstantial, func(c *gateway.Config) {
		c.DB = db
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	var codes []string // SMS codes
	sms := func(phone string) string {
		c := w.lastSMS(phone).Code
		codes = append(codes, c)
		return c
	}

	// Activated long ago: the password expires in half an hour.
	back := passwordMaxAge - 30*time.Minute
	w.clock.Advance(-back)
	first, err := w.gw.RegisterPermanente(ctx, maria)
	require.NoError(t, err)
	activation, err := w.gw.RegeneratePermanenteCode(ctx, maria)
	require.NoError(t, err)
	a := w.account().startActivation(maria, mariaEmail, first.Value)
	a.startActivation(maria, mariaEmail, activation.Value)
	a.sms("activate", otherSMS(sms(mariaPhone)))
	a.sms("activate", codes[len(codes)-1])
	a.password("activate", "Maria#Weak1", "Maria#Weak1")
	a.password("activate", pmPassword, pmPassword)
	require.Contains(t, a.page, text("permanente.activate.done"))
	w.clock.Advance(back)

	s := w.pmLogin(maria, "Wrong#Pass1")
	s.pmPassword(maria, pmPassword)
	s.post(s.pmBase()+"sms", url.Values{"code": {sms(mariaPhone)}})
	s.finish()
	require.Equal(t, "hola MARIA|12345678Z|substantial|GISS|GARCIA LOPEZ", s.page)

	w.clock.Advance(30 * time.Minute)
	s = w.pmLogin(maria, pmPassword)
	require.Contains(t, s.page, text("permanente.expired.title"))
	s.post(s.pmBase()+"change", url.Values{"password": {pmOther}, "password2": {pmOther}})
	s.post(s.pmBase()+"sms", url.Values{"code": {sms(mariaPhone)}})
	s.finish()
	require.Contains(t, s.page, "hola MARIA")

	c := w.account().open("/permanente/change")
	c.post("/permanente/change", url.Values{"document": {maria}, "current": {pmOther}, "password": {pmThird}, "password2": {pmThird}})
	require.Contains(t, c.page, text("permanente.change.done"))
	r := w.account().startReset(maria, activation.Grouped())
	r.sms("reset", sms(mariaPhone))
	const reset = "Tejon&Sabio88"
	r.password("reset", reset, reset)
	require.Contains(t, r.page, text("permanente.reset.done"))
	s = w.pmLogin(maria, reset) // left pending at the SMS step
	sms(mariaPhone)

	secrets := []string{pmPassword, pmOther, pmThird, reset, "Maria#Weak1", "Wrong#Pass1",
		first.Value, first.Grouped(), activation.Value, activation.Grouped()}
	leaks := func(where, s string) {
		for _, secret := range secrets {
			assert.NotContains(t, s, secret, "a secret in clear in %s", where)
		}
		for _, code := range codes {
			assert.NotRegexp(t, `(^|[^0-9A-Za-z])`+code+`([^0-9A-Za-z]|$)`, s, "an SMS code in clear in %s", where)
		}
	}
	tables, rows := dumpTables(t, db)
	assert.Contains(t, tables, "permanente_accounts")
	hashed := false
	for _, row := range rows {
		hashed = hashed || strings.Contains(row, "$argon2id$")
	}
	assert.True(t, hashed, "the dump reached the accounts: %v", tables)
	for _, row := range rows {
		leaks("the database", row)
	}
	log := logs.String()
	require.Contains(t, log, "permanente: login")
	leaks("the log", log)
	assert.NotContains(t, log, maria, "no full DNI/NIE in the log")
}

// dumpTables returns the names of db's tables and every row of each, as
// text (blobs as their bytes).
func dumpTables(t *testing.T, db *sql.DB) ([]string, []string) {
	t.Helper()
	q, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	require.NoError(t, err)
	var tables []string
	for q.Next() {
		var name string
		require.NoError(t, q.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, q.Err())
	require.NoError(t, q.Close())
	var out []string
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			var cells []string
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					cells = append(cells, string(v))
				default:
					cells = append(cells, fmt.Sprint(v))
				}
			}
			out = append(out, table+": "+strings.Join(cells, " | "))
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}
	return tables, out
}

// TestPermanenteLimits: Config.PermanenteLimits reaches both the login and
// the account pages, whose "too many attempts" answer is a 429.
func TestPermanenteLimits(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, func(c *gateway.Config) {
		c.PermanenteLimits = permanente.Limits{ClientAttempts: 3, ClientIdentifiers: 1}
	})
	activate(t, w, pmPassword) // three attempts: code, SMS code, password

	s := w.pmLogin(maria, "Wrong#Pass1")
	assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
	s.pmPassword(lucia, "Wrong#Pass1")
	assert.Equal(t, http.StatusTooManyRequests, s.resp.StatusCode, "a second identifier from the same client")
	assert.Equal(t, text("permanente.toomany"), pmError(s.page))
	s.pmPassword(maria, "Wrong#Pass1")
	assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
	s.pmPassword(maria, pmPassword)
	assert.Equal(t, http.StatusTooManyRequests, s.resp.StatusCode, "a fourth attempt from the same client")

	a := w.account()
	for range 3 {
		a.startReset(maria, "2222-3333-4444-5555")
		assert.Equal(t, http.StatusUnauthorized, a.status())
	}
	a.startReset(maria, "2222-3333-4444-5555")
	assert.Equal(t, http.StatusTooManyRequests, a.status())
	assert.Equal(t, text("permanente.toomany"), pmError(a.page))

	s = w.pmLogin(maria, pmPassword)
	s.finish()
	assert.Equal(t, "hola MARIA|12345678Z|low|GISS|GARCIA LOPEZ", s.page, "another client is not held back")
}

// TestPermanenteStorageFailure breaks the Cl@ve Permanente table in the
// middle of a login: the citizen is told to try again (503), never "wrong
// password", and nothing is counted against them.
func TestPermanenteStorageFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := gateway.OpenDB(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	w := pmWorld(t, saml.LoASubstantial, func(c *gateway.Config) { c.DB = db })
	code := activate(t, w, pmPassword)

	s := w.pmLogin(maria, "Wrong#Pass1")
	require.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
	_, err = db.ExecContext(ctx, `ALTER TABLE permanente_accounts RENAME TO permanente_away`)
	require.NoError(t, err)
	for _, pw := range []string{"Wrong#Pass1", pmPassword} {
		s.pmPassword(maria, pw)
		assert.Equal(t, http.StatusServiceUnavailable, s.resp.StatusCode, pw)
		assert.Contains(t, s.page, text("error.unavailable"))
	}
	a := w.account().startReset(maria, code.Value)
	assert.Equal(t, http.StatusServiceUnavailable, a.status())
	_, err = db.ExecContext(ctx, `ALTER TABLE permanente_away RENAME TO permanente_accounts`)
	require.NoError(t, err)

	var failures int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT password_failures FROM permanente_accounts WHERE citizen = ?`, maria).Scan(&failures))
	assert.Equal(t, 1, failures, "only the answered failure was counted")
	s = w.pmLogin(maria, pmPassword)
	s.post(s.pmBase()+"sms", url.Values{"code": {w.lastSMS(mariaPhone).Code}})
	s.finish()
	assert.Equal(t, "hola MARIA|12345678Z|substantial|GISS|GARCIA LOPEZ", s.page)
}
