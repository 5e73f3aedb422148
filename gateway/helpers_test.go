package gateway_test

import (
	"context"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/internal/pki"
)

// The gateway's and the agency's keys are made once per test binary: RSA key
// generation is the slowest part of starting a world, and the keys protect
// nothing.
var (
	keysOnce       sync.Once
	gwKeys, spKeys *pki.KeyPair
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		nb := time.Now().Add(-time.Hour)
		var err error
		gwKeys, err = pki.Generate("test gateway", 2048, nb, 48*time.Hour)
		if err == nil {
			spKeys, err = pki.Generate("test sp", 2048, nb, 48*time.Hour)
		}
		if err != nil {
			panic(err)
		}
	})
}

// agency is a service on the SDK that trusts the gateway under test.
type agency struct {
	srv    *httptest.Server
	client *clave.Client
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formInput  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// browser follows the auto-submitting forms of the agency and the gateway the
// way a browser without JavaScript does when its user presses the button.
type browser struct {
	t *testing.T
	c *http.Client
}

// newBrowser is a new browser with its own cookies and, where the system
// allows, its own loopback address: the gateway limits PIN requests and
// attempts per client address, and each citizen of a test is a different
// client, as in life.
func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	tr := ownAddress()
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, c: &http.Client{Jar: jar, Transport: tr}}
}

// browsers numbers the loopback addresses given to browsers, from 127.0.1.1.
var browsers atomic.Uint32

// ownAddress is a transport whose connections come from a loopback address
// of their own when the system has one (Linux routes all of 127/8 to the
// loopback interface), and from the default address otherwise.
func ownAddress() *http.Transport {
	n := 256 + browsers.Add(1)
	local := &net.TCPAddr{IP: net.IPv4(127, byte(n>>16), byte(n>>8), byte(n))}
	own := &net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}
	plain := &net.Dialer{Timeout: 10 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil && network == "tcp" && net.ParseIP(host).Equal(net.IPv4(127, 0, 0, 1)) {
			if c, err := own.DialContext(ctx, network, addr); err == nil {
				return c, nil
			}
		}
		return plain.DialContext(ctx, network, addr)
	}
	return tr
}

func (b *browser) get(u string) (*http.Response, string) {
	resp, err := b.c.Get(u)
	require.NoError(b.t, err)
	return resp, body(b.t, resp)
}

// submit posts the form found in page, after edit changes its fields when not
// nil, and returns the answer.
func (b *browser) submit(page string, edit func(url.Values)) (*http.Response, string) {
	m := formAction.FindStringSubmatch(page)
	require.NotNil(b.t, m, "no form in page: %s", page)
	vals := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(page, -1) {
		vals.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	if edit != nil {
		edit(vals)
	}
	resp, err := b.c.PostForm(html.UnescapeString(m[1]), vals)
	require.NoError(b.t, err)
	return resp, body(b.t, resp)
}

func body(t *testing.T, r *http.Response) string {
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	require.NoError(t, r.Body.Close())
	return string(b)
}
