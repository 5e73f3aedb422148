package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
	"github.com/clave-go/clave/saml"
)

// Every language of the site has every text.
func TestTextsComplete(t *testing.T) {
	require.Len(t, texts, len(languages))
	for _, l := range languages {
		for k := range texts["es"] {
			assert.NotEmpty(t, texts[l.Tag][k], "%s lacks %q", l.Tag, k)
		}
		assert.Len(t, texts[l.Tag], len(texts["es"]), l.Tag)
	}
}

// testSite is the site on the in-process gateway, with a session cookie
// for a citizen logged in at a known instant.
func testSite(t *testing.T) (http.Handler, []*http.Cookie) {
	gw := clavetest.NewGateway()
	t.Cleanup(gw.Close)
	cfg := gw.Config("http://sede.test/clave/acs")
	cfg.FailureTemplate, cfg.Language = failureTemplate, languageOf
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := clave.New(cfg)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	require.NoError(t, c.SetSession(rec, &clave.Identity{PersonIdentifier: "12345678Z", DocumentType: clave.DocumentDNI,
		GivenName: "MARIA", FamilyNames: "GARCIA LOPEZ", LoA: saml.LoASubstantial, Method: saml.MethodMovil,
		DateOfBirth:  time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC),
		AuthnInstant: time.Date(2025, 7, 1, 8, 30, 0, 0, time.UTC)}))
	return site(c), rec.Result().Cookies()
}

func get(h http.Handler, target, lang string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if lang != "" {
		r.Header.Set("Accept-Language", lang)
	}
	for _, ck := range cookies {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestProfileShowsCitizenNames(t *testing.T) {
	h, session := testSite(t)
	page := get(h, "/", "", session).Body.String()
	for _, want := range []string{
		`<html lang="es">`, `name="viewport"`, `<main id="contenido"`, `class="skip" href="#contenido"`,
		"Bienvenido/a, MARIA GARCIA LOPEZ.", "DNI 12345678Z",
		"<dd>17/05/1980</dd>",      // date of birth
		"<dd>sustancial</dd>",      // not "substantial"
		"<dd>Cl@ve Móvil</dd>",     // not "CLVMOVIL"
		">01/07/2025 10:30</time>", // 08:30 UTC is 10:30 in Madrid in summer
		`href="/clave/logout"`,
	} {
		assert.Contains(t, page, want)
	}
	for _, raw := range []string{"substantial", "CLVMOVIL", "UTC"} {
		assert.NotContains(t, page, ">"+raw+"<")
	}

	en := get(h, "/", "en-GB", session).Body.String()
	assert.Contains(t, en, "<dd>substantial</dd>")
	assert.Contains(t, en, "Madrid time")

	for m, want := range map[saml.Method]string{saml.MethodAEATPIN: "Cl@ve PIN", saml.MethodGISS: "Cl@ve Permanente",
		saml.MethodAfirma: "certificado electrónico o DNIe", saml.MethodEIDAS: "identidad europea (eIDAS)"} {
		assert.Equal(t, want, methodName("es", m))
	}
	assert.Equal(t, "nabarmena", loaName("eu", saml.LoASubstantial))
}

func TestLanguageSwitch(t *testing.T) {
	h, _ := testSite(t)
	home := get(h, "/", "gl,es;q=0.5", nil).Body.String()
	assert.Contains(t, home, `<html lang="gl">`, "Accept-Language by default")
	assert.Contains(t, home, `<a href="?lang=ca-valencia" lang="ca-valencia" hreflang="ca-valencia">Valencià</a>`)

	w := get(h, "/perfil?lang=ca-valencia", "gl", nil)
	require.Equal(t, http.StatusSeeOther, w.Code)
	assert.Equal(t, "/perfil", w.Header().Get("Location"))
	cookies := w.Result().Cookies()
	require.Len(t, cookies, 1)
	assert.Equal(t, "ca-valencia", cookies[0].Value)

	home = get(h, "/", "gl", cookies).Body.String()
	assert.Contains(t, home, `<html lang="ca-valencia">`, "the switch wins over Accept-Language")
	assert.Contains(t, home, "Entre amb Cl@ve")
	assert.Contains(t, home, `aria-current="true">Valencià`)

	// The SDK's failure page follows the switch, in the site's look.
	r := httptest.NewRequest(http.MethodPost, "/clave/acs", strings.NewReader(url.Values{saml.FieldSAMLResponse: {"eA=="}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(cookies[0])
	fw := httptest.NewRecorder()
	h.ServeHTTP(fw, r)
	assert.Equal(t, http.StatusForbidden, fw.Code)
	page := fw.Body.String()
	assert.Contains(t, page, `<html lang="ca-valencia">`)
	assert.Contains(t, page, `<div class="card alert">`, "the site's failure template")
	assert.Contains(t, page, "Seu electrònica de proves")
	assert.Contains(t, page, `<p role="alert">`)
	assert.Contains(t, page, `<a class="button" href="http://sede.test/">Torne al servei</a>`)
	m := styleTag.FindStringSubmatch(page)
	require.NotNil(t, m)
	assert.Contains(t, fw.Header().Get("Content-Security-Policy"), "style-src 'nonce-"+m[1]+"'")
}

func TestLogoutAsksFirst(t *testing.T) {
	h, session := testSite(t)
	w := get(h, "/clave/logout", "", session)
	require.Equal(t, http.StatusOK, w.Code)
	page := w.Body.String()
	assert.Contains(t, page, "¿Cerrar sesión?")
	assert.Contains(t, page, `<form method="post" action="/clave/logout"`)
	assert.Contains(t, page, `<button type="submit">Cerrar sesión</button>`)
	assert.NotContains(t, page, "logoutRequest", "a GET does not log out")
	assert.NotEmpty(t, get(h, "/", "", session).Body.String(), "still logged in")
	assert.Contains(t, get(h, "/", "", session).Body.String(), "12345678Z", "still logged in")

	assert.Equal(t, http.StatusSeeOther, get(h, "/clave/logout", "", nil).Code, "nothing to confirm without a session")

	r := httptest.NewRequest(http.MethodPost, "/clave/logout", nil)
	for _, ck := range session {
		r.AddCookie(ck)
	}
	pw := httptest.NewRecorder()
	h.ServeHTTP(pw, r)
	assert.Equal(t, http.StatusOK, pw.Code)
	assert.Contains(t, pw.Body.String(), `name="logoutRequest"`, "POST logs out through Cl@ve")
}

func TestEncKeyFlag(t *testing.T) {
	enc, _, err := selfSigned("cifrado", time.Hour)
	require.NoError(t, err)
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(enc)
	require.NoError(t, err)
	encFile := filepath.Join(dir, "enc.key")
	require.NoError(t, os.WriteFile(encFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	log := slog.New(slog.DiscardHandler)

	o, err := parseFlags([]string{"-enc-key", encFile})
	require.NoError(t, err)
	cfg, _, err := buildConfig(o, log)
	require.NoError(t, err)
	require.Len(t, cfg.DecryptionKeys, 2)
	assert.True(t, enc.Equal(cfg.DecryptionKeys[0]), "the -enc-key opens assertions")
	assert.True(t, cfg.DecryptionKeys[1].PublicKey.Equal(cfg.Key.Public()), "and so does the signing key")
	_, err = clave.New(cfg)
	require.NoError(t, err)

	pkcs1 := filepath.Join(dir, "enc1.key")
	require.NoError(t, os.WriteFile(pkcs1, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(enc)}), 0o600))
	o, _ = parseFlags([]string{"-enc-key", pkcs1})
	cfg, _, err = buildConfig(o, log)
	require.NoError(t, err)
	assert.True(t, enc.Equal(cfg.DecryptionKeys[0]))

	for name, file := range map[string]string{"missing": filepath.Join(dir, "none.key"), "not a key": filepath.Join(dir, "x.pem")} {
		_ = os.WriteFile(filepath.Join(dir, "x.pem"), []byte("hola"), 0o600)
		o, _ := parseFlags([]string{"-enc-key", file})
		_, _, err := buildConfig(o, log)
		assert.ErrorContains(t, err, "-enc-key", name)
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	_, err := parseFlags([]string{"-h"})
	assert.True(t, errors.Is(err, flag.ErrHelp), "main exits 0 on flag.ErrHelp")
	assert.True(t, errors.Is(run([]string{"-h"}, slog.New(slog.DiscardHandler)), flag.ErrHelp))
}
