package main

import (
	"html"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
)

// field is the first submatch of re in the current page.
func (b *browser) field(re string) string {
	b.t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(b.page)
	require.NotNil(b.t, m, "%s not in page:\n%s", re, b.page)
	return html.UnescapeString(m[1])
}

// post submits a form of the procedures app with the page's CSRF token.
func (b *browser) post(u string, form url.Values) {
	b.t.Helper()
	form.Set("csrf", b.field(`name="csrf" value="([^"]+)"`))
	b.do(b.c.PostForm(u, form))
}

// The procedures app answers at its URL, registered at the demo's gateway
// as a service of its own: a Cl@ve PIN asked through it reaches the
// gateway's inbox, and the PIN typed back logs the citizen in.
func TestDemoProceduresPIN(t *testing.T) {
	var db string
	t.Cleanup(func() { // after the demo's own cleanup has stopped it
		assert.NoDirExists(t, filepath.Dir(db), "the temporary database goes with the demo")
	})
	d, out := startDemo(t)
	db = d.proceduresDB
	require.True(t, d.temporaryDB)
	assert.FileExists(t, db)
	greeting := out.String()
	assert.Contains(t, greeting, "procedures app  "+d.proceduresURL+"/")
	assert.Contains(t, greeting, db+", removed when the demo stops")

	b := newBrowser(t)
	b.get(d.proceduresURL + "/")
	require.Equal(t, http.StatusOK, b.resp.StatusCode)
	assert.Contains(t, b.page, "Cl@ve PIN")

	b.get(d.proceduresURL + "/usuarios/nuevo")
	b.post(d.proceduresURL+"/usuarios/nuevo", url.Values{"document": {"12345678Z"}, "contrast": {"01/01/2030"}, "label": {"María"}})
	require.Equal(t, http.StatusOK, b.resp.StatusCode, b.page)

	b.get(d.proceduresURL + "/pin/aeat/datos-fiscales")
	user := b.field(`name="user" value="([0-9]+)"`)
	b.post(d.proceduresURL+"/pin/solicitar", url.Values{"entity": {"aeat"}, "procedure": {"datos-fiscales"}, "user": {user}, "channel": {"sms"}})
	require.Equal(t, http.StatusOK, b.resp.StatusCode, b.page)
	code := b.field(`id="request-code">([A-Z0-9]{4})<`)
	var pin string
	for _, m := range d.gateway.Inbox().Messages(gateway.ChannelSMS, "+34600000001") {
		if strings.Contains(m.Text, code) {
			pin = m.Code
		}
	}
	require.NotEmpty(t, pin, "the gateway sent MARIA a PIN with request code %s", code)

	b.post(d.proceduresURL+"/pin/verificar", url.Values{"pending": {b.field(`name="pending" value="([^"]+)"`)}, "pin": {pin}})
	require.Equal(t, http.StatusOK, b.resp.StatusCode, b.page)
	assert.Contains(t, b.page, "Consulta de datos fiscales")
	assert.Contains(t, b.page, "MARIA GARCIA LOPEZ")
}

// With -procedures-db the data is kept where asked, and stays.
func TestDemoProceduresDB(t *testing.T) {
	db := filepath.Join(t.TempDir(), "data", "procedures.db")
	t.Cleanup(func() { assert.FileExists(t, db, "a database the user named stays") })
	d, out := startDemo(t, "-procedures-db", db)
	assert.False(t, d.temporaryDB)
	assert.Equal(t, db, d.proceduresDB)
	assert.Contains(t, out.String(), "data kept in "+db)
	assert.FileExists(t, db)
}
