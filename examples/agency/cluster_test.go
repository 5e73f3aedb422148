package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
	"github.com/clave-go/clave/internal/servicetest"
)

// approves is the persona whose logins the gateway approves at once.
const approves = "99999901H"

// cluster is the example agency run as replicas behind a load balancer, as
// an agency deploys it: every replica is a process of its own made from the
// same flags (the same cookie secret, and -redis when given), serving on a
// server of its own; the balancer, whose address is the agency's public one
// and ACS URL, sends each request to the replica the test picks.
type cluster struct {
	gw    *clavetest.Gateway
	front *httptest.Server
	args  []string
	to    atomic.Pointer[replica]
}

// replica is one agency process.
type replica struct {
	client *clave.Client
	srv    *httptest.Server
}

// newCluster starts a gateway and a balancer, and returns the cluster with
// no replica yet; extra are flags of the replicas besides the gateway's,
// the keys and the cookie secret.
func newCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	cl := &cluster{gw: clavetest.NewGateway()}
	t.Cleanup(cl.gw.Close)
	cl.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cl.to.Load().srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(cl.front.Close)
	acs := cl.front.URL + "/clave/acs"
	cl.gw.Config(acs) // registers the agency's ACS URL at the gateway

	dir := t.TempDir()
	pemFile := func(name, typ string, ders ...[]byte) string {
		var data []byte
		for _, der := range ders {
			data = append(data, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})...)
		}
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	key, err := x509.MarshalPKCS8PrivateKey(cl.gw.AgencyKey())
	require.NoError(t, err)
	var gwCerts [][]byte
	for _, c := range cl.gw.TrustedCertificates() {
		gwCerts = append(gwCerts, c.Raw)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	cl.args = append([]string{"-env", "custom", "-gateway-url", cl.gw.Endpoint(), "-gateway-issuer", cl.gw.Issuer(),
		"-gateway-cert", pemFile("gw.pem", "CERTIFICATE", gwCerts...),
		"-key", pemFile("sp.key", "PRIVATE KEY", key), "-cert", pemFile("sp.crt", "CERTIFICATE", cl.gw.AgencyCertificate().Raw),
		"-provider-name", clavetest.SPID + ";AgenciaDemo", "-acs-url", acs, "-cookie-secret", hex.EncodeToString(secret)}, extra...)
	return cl
}

// withRedis is the flags of a cluster sharing the test's Redis server,
// whose keys are deleted when the test ends.
func withRedis(t *testing.T) []string {
	rawURL, prefix := servicetest.RedisURL(t)
	opts, err := redis.ParseURL(rawURL)
	require.NoError(t, err)
	t.Cleanup(func() {
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		ctx := context.Background()
		var keys []string
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		err := iter.Err()
		if err == nil && len(keys) > 0 {
			err = rdb.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Logf("deleting %s*: %v", prefix, err)
		}
	})
	return []string{"-redis", rawURL, "-redis-prefix", prefix}
}

// start starts a replica the way main does (run without the listener), on
// the gateway's clock, and makes the balancer send to it.
func (cl *cluster) start(t *testing.T) *replica {
	t.Helper()
	o, err := parseFlags(cl.args)
	require.NoError(t, err)
	cfg, _, err := buildConfig(o, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	cfg.Now = cl.gw.Gateway.Now
	closeRedis, err := useRedis(context.Background(), o, &cfg)
	require.NoError(t, err)
	t.Cleanup(closeRedis)
	c, err := clave.New(cfg)
	require.NoError(t, err)
	r := &replica{client: c, srv: httptest.NewServer(site(c))}
	t.Cleanup(r.srv.Close)
	cl.to.Store(r)
	return r
}

// browser is a citizen's browser: a cookie jar, following redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar}
}

var (
	formRe   = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// form is the first form of page: its action and hidden fields.
func form(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	m := formRe.FindStringSubmatch(page)
	require.NotNil(t, m, "no form in %s", page)
	vals := url.Values{}
	for _, in := range hiddenRe.FindAllStringSubmatch(page, -1) {
		vals.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), vals
}

// read returns a function reading a response whole: read(t)(c.Get(u)).
func read(t *testing.T) func(*http.Response, error) (*http.Response, string) {
	return func(resp *http.Response, err error) (*http.Response, string) {
		t.Helper()
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}
}

// submit posts the first form of page as the browser b.
func submit(t *testing.T, b *http.Client, page string) (*http.Response, string) {
	t.Helper()
	action, vals := form(t, page)
	return read(t)(b.PostForm(action, vals))
}

// gatewayAnswer starts a login of the persona in b at the agency and takes
// it to the gateway, which answers at once: it returns the gateway's page
// with the SAMLResponse form, not posted yet.
func (cl *cluster) gatewayAnswer(t *testing.T, b *http.Client) string {
	t.Helper()
	require.NoError(t, cl.gw.ArmPersona(clavetest.SPID, approves))
	_, page := read(t)(b.Get(cl.front.URL + "/perfil"))
	require.Contains(t, page, `name="SAMLRequest"`)
	_, page = submit(t, b, page)
	require.Contains(t, page, `name="SAMLResponse"`)
	return page
}

// post posts vals to path on srv with exactly the cookies given, without
// following redirects, as an attacker replaying a form would.
func post(t *testing.T, srv string, path string, vals url.Values, cookies []*http.Cookie) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, srv+path, strings.NewReader(vals.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// home is the home page of r for someone holding only cookie ck.
func home(t *testing.T, r *replica, path string, ck *http.Cookie) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.srv.URL+path, nil)
	require.NoError(t, err)
	req.AddCookie(ck)
	_, page := read(t)(http.DefaultTransport.RoundTrip(req))
	return page
}

func sessionOf(resp *http.Response) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == "clave_session" && ck.Value != "" {
			return ck
		}
	}
	return nil
}

// TestReplicasAcceptAResponseOnce: one SAMLResponse posted at the same
// moment to two replicas sharing Redis (with the login cookie it belongs
// to) logs in exactly once, round after round; the session it opens holds
// on both replicas. With replay caches in memory each replica accepts it
// once, shown for contrast.
func TestReplicasAcceptAResponseOnce(t *testing.T) {
	for name, tc := range map[string]struct {
		redis  bool
		logins int
	}{
		"redis":               {true, 1},
		"memory (why -redis)": {false, 2},
	} {
		t.Run(name, func(t *testing.T) {
			var extra []string
			if tc.redis {
				extra = withRedis(t)
			}
			cl := newCluster(t, extra...)
			a, b := cl.start(t), cl.start(t)
			const rounds, posts = 5, 8
			for round := range rounds {
				br := browser(t)
				_, vals := form(t, cl.gatewayAnswer(t, br))
				cookies := br.Jar.Cookies(mustParse(t, cl.front.URL))

				var wg sync.WaitGroup
				var mu sync.Mutex
				statuses := map[int]int{}
				var session *http.Cookie
				startLine := make(chan struct{})
				for i := range posts {
					to := []*replica{a, b}[i%2]
					wg.Go(func() {
						<-startLine
						resp, err := post(t, to.srv.URL, "/clave/acs", vals, cookies)
						if !assert.NoError(t, err) {
							return
						}
						mu.Lock()
						defer mu.Unlock()
						statuses[resp.StatusCode]++
						if ck := sessionOf(resp); ck != nil {
							session = ck
						}
					})
				}
				close(startLine)
				wg.Wait()
				assert.Equal(t, map[int]int{http.StatusSeeOther: tc.logins, http.StatusForbidden: posts - tc.logins}, statuses,
					"round %d: logins, and posts refused", round)
				require.NotNil(t, session, "round %d", round)
				for _, r := range []*replica{a, b} {
					assert.Contains(t, home(t, r, "/", session), approves, "round %d: the session holds on every replica", round)
				}
			}
		})
	}
}

// TestRestartDoesNotAcceptAResponseAgain: an attacker who saved a login's
// SAMLResponse and its login cookie posts them after the agency restarted
// with the same cookie secret. With -redis the restarted agency refuses
// them; in memory, it has forgotten the assertion and accepts it: the
// problem -redis solves, shown for contrast.
func TestRestartDoesNotAcceptAResponseAgain(t *testing.T) {
	for name, tc := range map[string]struct {
		redis bool
		want  int
	}{
		"redis":               {true, http.StatusForbidden},
		"memory (why -redis)": {false, http.StatusSeeOther},
	} {
		t.Run(name, func(t *testing.T) {
			var extra []string
			if tc.redis {
				extra = withRedis(t)
			}
			cl := newCluster(t, extra...)
			first := cl.start(t)
			br := browser(t)
			page := cl.gatewayAnswer(t, br)
			_, saved := form(t, page)
			savedCookies := br.Jar.Cookies(mustParse(t, cl.front.URL))
			resp, page := submit(t, br, page)
			require.Equal(t, http.StatusOK, resp.StatusCode, page)
			require.Contains(t, page, approves, "the genuine login")

			resp, err := post(t, first.srv.URL, "/clave/acs", saved, savedCookies)
			require.NoError(t, err)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "replayed to the same process")

			first.srv.Close()
			restarted := cl.start(t)
			resp, err = post(t, restarted.srv.URL, "/clave/acs", saved, savedCookies)
			require.NoError(t, err)
			assert.Equal(t, tc.want, resp.StatusCode, "replayed after a restart")
		})
	}
}

// TestLogoutOnOneReplicaEndsTheSessionOnAll: a copy of a citizen's session
// cookie works on every replica until the citizen logs out through Cl@ve on
// one of them; then no replica accepts it. Without -redis the copy outlives
// the logout, shown for contrast.
func TestLogoutOnOneReplicaEndsTheSessionOnAll(t *testing.T) {
	for name, tc := range map[string]struct {
		redis     bool
		copyWorks bool
	}{
		"redis":                       {true, false},
		"sealed cookies (why -redis)": {false, true},
	} {
		t.Run(name, func(t *testing.T) {
			var extra []string
			if tc.redis {
				extra = withRedis(t)
			}
			cl := newCluster(t, extra...)
			a, b := cl.start(t), cl.start(t)
			cl.to.Store(a)
			br := cl.gw.Browser()
			page, status, err := br.LogIn(context.Background(), cl.front.URL+"/perfil", clavetest.Persona(approves))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status, page)
			var copied *http.Cookie
			for _, ck := range br.HTTP.Jar.Cookies(mustParse(t, cl.front.URL)) {
				if ck.Name == "clave_session" {
					copied = ck
				}
			}
			require.NotNil(t, copied)
			for _, r := range []*replica{a, b} {
				require.Contains(t, home(t, r, "/", copied), approves, "the copy works on every replica")
			}

			// The citizen logs out; the balancer sends it to b.
			cl.to.Store(b)
			_, page = read(t)(br.HTTP.PostForm(cl.front.URL+"/clave/logout", nil))
			require.Contains(t, page, `name="logoutRequest"`)
			_, page = submit(t, br.HTTP, page) // to the gateway
			require.Contains(t, page, `name="logoutResponse"`)
			resp, page := submit(t, br.HTTP, page) // back to the ACS, then home
			require.Equal(t, http.StatusOK, resp.StatusCode, page)
			assert.Contains(t, page, "Entrar con Cl@ve", "logged out")

			for _, r := range []*replica{a, b} {
				if tc.copyWorks {
					assert.Contains(t, home(t, r, "/", copied), approves)
					continue
				}
				assert.Contains(t, home(t, r, "/", copied), "Entrar con Cl@ve", "the copy no longer works")
				assert.Contains(t, home(t, r, "/perfil", copied), `name="SAMLRequest"`, "the copy needs a new login")
			}
		})
	}
}

// TestAgencyRedisFlags: -redis must be a Redis URL of a server that
// answers, and -h is no error for main.
func TestAgencyRedisFlags(t *testing.T) {
	ctx := context.Background()
	for name, u := range map[string]string{
		"not a URL":      "redis-server:6379",
		"nobody listens": "redis://:secreto@127.0.0.1:1/0",
	} {
		o, err := parseFlags([]string{"-redis", u})
		require.NoError(t, err)
		var cfg clave.Config
		_, err = useRedis(ctx, o, &cfg)
		assert.Error(t, err, name)
		assert.NotContains(t, err.Error(), "secreto", "the password stays out of the error")
		assert.Nil(t, cfg.ReplayCache)
		assert.Nil(t, cfg.SessionStore)
	}

	o, err := parseFlags(nil)
	require.NoError(t, err)
	var cfg clave.Config
	closeFn, err := useRedis(ctx, o, &cfg)
	require.NoError(t, err)
	closeFn()
	assert.Nil(t, cfg.ReplayCache, "no -redis: the Client's defaults")
	assert.Nil(t, cfg.SessionStore)

	rawURL, prefix := servicetest.RedisURL(t)
	o, err = parseFlags([]string{"-redis", rawURL, "-redis-prefix", prefix})
	require.NoError(t, err)
	closeFn, err = useRedis(ctx, o, &cfg)
	require.NoError(t, err)
	t.Cleanup(closeFn)
	assert.NotNil(t, cfg.ReplayCache)
	assert.NotNil(t, cfg.SessionStore)

	_, err = parseFlags([]string{"-h"})
	assert.True(t, errors.Is(err, flag.ErrHelp))
}

func mustParse(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}
