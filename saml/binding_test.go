package saml

import (
	"bytes"
	"encoding/base64"
	"html"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testMessage = []byte(`<?xml version="1.0" encoding="UTF-8"?><saml2p:AuthnRequest xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0"/>`)

// formValue returns the unescaped value of the hidden input name in page.
func formValue(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<input type="hidden" name="` + regexp.QuoteMeta(name) + `" value="([^"]*)">`).FindStringSubmatch(page)
	require.NotNil(t, m, "hidden input %s in\n%s", name, page)
	return html.UnescapeString(m[1])
}

func renderForm(t *testing.T, f PostForm) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, f.Write(&b))
	return b.String()
}

func TestPostFormEscapesHostileInput(t *testing.T) {
	const hostile = `"><script>alert(1)</script>`
	page := renderForm(t, PostForm{
		Action:     "https://se-pasarela.clave.gob.es/Proxy2/ServiceProvider?a=" + hostile,
		Field:      FieldSAMLRequest,
		Message:    testMessage,
		RelayState: hostile,
	})
	assert.NotContains(t, page, "alert(1)</script>")
	assert.Equal(t, 1, strings.Count(page, "<script"), "only the auto-submit script")
	assert.Equal(t, hostile, formValue(t, page, FieldRelayState), "the relay state survives escaping intact")
	m := regexp.MustCompile(`<form method="post" action="([^"]*)"`).FindStringSubmatch(page)
	require.NotNil(t, m)
	u, err := url.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	assert.Equal(t, "se-pasarela.clave.gob.es", u.Host)

	page = renderForm(t, PostForm{Action: "javascript:alert(1)", Field: FieldSAMLRequest, Message: testMessage})
	assert.NotContains(t, page, "javascript:", "unsafe URL schemes are neutralised")
}

func TestPostFormContent(t *testing.T) {
	page := renderForm(t, PostForm{Action: PreproductionURL, Field: FieldSAMLRequest, Message: testMessage, RelayState: "rs-1"})
	assert.Contains(t, page, `<button type="submit">`, "works without JavaScript")
	assert.Regexp(t, `<noscript>[^<]*<p>[^<]+</p>[^<]*</noscript>`, page)

	got, err := base64.StdEncoding.DecodeString(formValue(t, page, FieldSAMLRequest))
	require.NoError(t, err)
	assert.Equal(t, testMessage, got, "plain base64 of the XML, not deflated")
	assert.Equal(t, "rs-1", formValue(t, page, FieldRelayState))

	page = renderForm(t, PostForm{Action: PreproductionURL, Field: FieldLogoutRequest, Message: testMessage})
	assert.NotContains(t, page, `name="RelayState"`, "empty relay state is omitted")
	formValue(t, page, FieldLogoutRequest)

	for _, f := range []PostForm{
		{Field: FieldSAMLRequest, Message: testMessage},
		{Action: PreproductionURL, Message: testMessage},
		{Action: PreproductionURL, Field: FieldSAMLRequest},
	} {
		assert.Error(t, f.Write(&bytes.Buffer{}))
	}
}

// TestPostFormValueEscaping checks that the message's value attribute, which
// PostForm escapes itself, is byte for byte what html/template writes for it,
// for a message whose base64 holds every character of the alphabet, padding
// included; and that none of them needs more than that inside a double-quoted
// attribute, where only '"' (its end), '&' (a reference) and NUL mean anything.
func TestPostFormValueEscaping(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	msg, err := base64.StdEncoding.DecodeString(alphabet + "AA==")
	require.NoError(t, err)
	enc := base64.StdEncoding.EncodeToString(msg)
	require.Equal(t, alphabet+"AA==", enc)
	for _, c := range enc {
		assert.NotContains(t, "\"&\x00", string(c), "%q would end or break the attribute", c)
	}

	var want bytes.Buffer
	ref := template.Must(template.New("ref").Parse(`<input value="{{.}}">`))
	require.NoError(t, ref.Execute(&want, enc))
	assert.Equal(t, want.String(), `<input `+string(valueAttr(msg))+`>`, "as html/template escapes it")

	page := renderForm(t, PostForm{Action: PreproductionURL, Field: FieldSAMLResponse, Message: msg, RelayState: "rs-1"})
	assert.Contains(t, page, `<input type="hidden" name="SAMLResponse" `+string(valueAttr(msg))+`>`)
	assert.Equal(t, enc, formValue(t, page, FieldSAMLResponse), "read back unchanged")
	assert.Equal(t, "rs-1", formValue(t, page, FieldRelayState), "the input after it is intact")
	assert.Equal(t, 1, strings.Count(page, "<script"), "only the auto-submit script")
}

func TestPostFormServeHTTP(t *testing.T) {
	rec := httptest.NewRecorder()
	PostForm{Action: PreproductionURL, Field: FieldSAMLRequest, Message: testMessage}.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	assert.Contains(t, rec.Body.String(), `name="SAMLRequest"`)

	rec = httptest.NewRecorder()
	PostForm{}.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
}

func postRequest(method, body string) *http.Request {
	r := httptest.NewRequest(method, "/acs", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func TestReadPost(t *testing.T) {
	good := url.Values{
		FieldSAMLResponse: {base64.StdEncoding.EncodeToString(testMessage)},
		FieldRelayState:   {"rs-1"},
	}.Encode()

	t.Run("good", func(t *testing.T) {
		msg, rs, err := ReadPost(postRequest(http.MethodPost, good), FieldSAMLResponse, 0)
		require.NoError(t, err)
		assert.Equal(t, testMessage, msg)
		assert.Equal(t, "rs-1", rs)
	})
	t.Run("query string ignored", func(t *testing.T) {
		r := postRequest(http.MethodPost, "RelayState=rs-1")
		r.URL.RawQuery = "SAMLResponse=" + url.QueryEscape(base64.StdEncoding.EncodeToString(testMessage))
		_, _, err := ReadPost(r, FieldSAMLResponse, 0)
		assert.ErrorIs(t, err, ErrMalformed, "the message must come in the body")
	})
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodHead} {
		t.Run(m+" refused", func(t *testing.T) {
			_, _, err := ReadPost(postRequest(m, good), FieldSAMLResponse, 0)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
	t.Run("oversized body", func(t *testing.T) {
		body := "SAMLResponse=" + strings.Repeat("A", 20000)
		_, _, err := ReadPost(postRequest(http.MethodPost, body), FieldSAMLResponse, 1024)
		assert.ErrorIs(t, err, ErrTooLarge)
	})
	t.Run("oversized message", func(t *testing.T) {
		_, _, err := ReadPost(postRequest(http.MethodPost, good), FieldSAMLResponse, len(testMessage)-1)
		assert.ErrorIs(t, err, ErrTooLarge)
	})
	t.Run("malformed form", func(t *testing.T) {
		_, _, err := ReadPost(postRequest(http.MethodPost, "SAMLResponse=%zz"), FieldSAMLResponse, 0)
		assert.ErrorIs(t, err, ErrMalformed)
		assert.NotErrorIs(t, err, ErrTooLarge)
	})
	t.Run("missing field", func(t *testing.T) {
		_, _, err := ReadPost(postRequest(http.MethodPost, good), FieldLogoutResponse, 0)
		assert.ErrorIs(t, err, ErrMalformed)
	})
}

func TestCheckRelayState(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty", "", false},
		{"one byte", "a", true},
		{"80 bytes", strings.Repeat("a", 80), true},
		{"81 bytes", strings.Repeat("a", 81), false},
		{"80 bytes of 40 runes", strings.Repeat("ñ", 40), true},
		{"82 bytes of 41 runes", strings.Repeat("ñ", 41), false},
		{"newline", "a\nb", false},
		{"NUL", "a\x00b", false},
		{"tab", "a\tb", false},
		{"DEL", "a\x7fb", false},
		{"invalid UTF-8", "a\xffb", false},
		{"printable punctuation", `"><script>`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRelayState(tc.in)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestDecodeMessage(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString(testMessage)

	wrapped := ""
	for i := 0; i < len(enc); i += 76 {
		wrapped += enc[i:min(i+76, len(enc))] + "\r\n"
	}
	got, err := DecodeMessage(" \t"+wrapped, 0)
	require.NoError(t, err, "line breaks and spaces are tolerated")
	assert.Equal(t, testMessage, got)

	for _, tc := range []struct {
		name  string
		field string
		max   int
		want  error
	}{
		{"empty", "", 0, ErrMalformed},
		{"not base64", "PHg+*PC94Pg==", 0, ErrMalformed},
		{"URL-safe alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(enc + "+/+/"), 0, ErrMalformed},
		{"truncated", enc[:len(enc)-1], 0, ErrMalformed},
		{"decoded one byte too large", enc, len(testMessage) - 1, ErrTooLarge},
		{"encoded far too large", strings.Repeat("A", 4096), 1024, ErrTooLarge},
		{"default bound", strings.Repeat("AAAA", DefaultMaxMessageSize/3+4), 0, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessage(tc.field, tc.max)
			assert.ErrorIs(t, err, tc.want)
		})
	}
	got, err = DecodeMessage(enc, len(testMessage))
	require.NoError(t, err, "exactly the bound is fine")
	assert.Equal(t, testMessage, got)
}
