package gatewayapp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
)

func TestDefaultCitizens(t *testing.T) {
	cs, err := DefaultCitizens()
	require.NoError(t, err)
	require.NotEmpty(t, cs)
	// The demo's instructions rely on this persona.
	assert.Equal(t, "12345678Z", cs[0].ID.String())
	assert.Equal(t, "MARIA", cs[0].GivenName)
	assert.True(t, cs[0].MatchContrast("01/01/2030"))
	assert.Equal(t, "+34600000001", cs[0].Phone)
}

func TestInboxPage(t *testing.T) {
	ctx := context.Background()
	app, err := New(ctx, Config{BaseURL: "http://127.0.0.1:9000", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	defer app.Close()
	srv := httptest.NewServer(app.Handler)
	defer srv.Close()

	page := func() string {
		resp, err := http.Get(srv.URL + InboxPath)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	empty := page()
	assert.Contains(t, empty, `<meta http-equiv="refresh" content="5">`)
	assert.Contains(t, empty, `id="empty"`)

	in := app.Gateway.Inbox()
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	for _, m := range []clave.Message{
		{Channel: clave.ChannelSMS, To: "+34600000001", Text: "PIN ABC <first>", SentAt: t0},
		{Channel: clave.ChannelSMS, To: "+34600000002", Text: "PIN DEF", SentAt: t0.Add(time.Minute)},
		{Channel: clave.ChannelSMS, To: "+34600000001", Text: "PIN GHI second", SentAt: t0.Add(2 * time.Minute)},
		{Channel: clave.ChannelApp, To: "23456789D", Text: "Confirme el acceso", SentAt: t0.Add(30 * time.Second)},
	} {
		require.NoError(t, in.Send(ctx, m))
	}
	p := page()
	assert.NotContains(t, p, `id="empty"`)
	assert.Contains(t, p, "PIN ABC &lt;first&gt;", "text is escaped")
	order := func(parts ...string) {
		t.Helper()
		last := -1
		for _, s := range parts {
			i := strings.Index(p, s)
			require.GreaterOrEqual(t, i, 0, s)
			assert.Greater(t, i, last, "%q out of order", s)
			last = i
		}
	}
	order("34600000001", "PIN GHI second", "PIN ABC", "34600000002", "PIN DEF", "23456789D", "Confirme el acceso")
	assert.Contains(t, p, `<span class="channel">app</span>`)

	// The gateway itself is served beside the page.
	resp, err := http.Get(srv.URL + "/Proxy2/Certificates")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestSigningKey(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := filepath.Join(t.TempDir(), "gw.db")
	key, cert := KeyFiles(db)
	require.NoError(t, os.WriteFile(key, []byte("x"), 0o600))
	_, err := signingKey(Config{DBPath: db, Logger: log})
	assert.ErrorContains(t, err, "exists without", "a lone key is not silently replaced")

	require.NoError(t, os.Remove(key))
	a, err := signingKey(Config{DBPath: db, Logger: log})
	require.NoError(t, err)
	b, err := signingKey(Config{DBPath: db, Logger: log})
	require.NoError(t, err)
	assert.True(t, a.Certificate.Equal(b.Certificate))
	_, err = signingKey(Config{KeyFile: key, Logger: log})
	assert.Error(t, err, "key without certificate")
	c, err := signingKey(Config{KeyFile: key, CertFile: cert, Logger: log})
	require.NoError(t, err)
	assert.True(t, a.Key.Equal(c.Key))
}

func TestBaseURL(t *testing.T) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	assert.Equal(t, "http://127.0.0.1:"+port, BaseURL("127.0.0.1:0", ln))
	assert.Equal(t, "http://localhost:"+port, BaseURL(":0", ln))
	assert.Equal(t, "http://localhost:"+port, BaseURL("0.0.0.0:0", ln))
}
