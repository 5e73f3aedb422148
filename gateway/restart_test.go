package gateway_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

// gatewaySlot serves whichever gateway is current, so a test can replace the
// gateway behind one address as a restart or a key rollover does, while
// browsers keep their cookies and the agency keeps its configuration.
type gatewaySlot struct {
	cur atomic.Pointer[gateway.Gateway]
}

func (s *gatewaySlot) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.cur.Load().ServeHTTP(w, r) }

// slotWorld is a world (see newWorld) whose gateway can be replaced.
type slotWorld struct {
	*world
	slot gatewaySlot
	base gateway.Config
}

// newSlotWorld is newWorld with a replaceable gateway. Citizens are not
// registered: each test knows whether its gateway keeps them.
func newSlotWorld(t *testing.T, tweakGW func(*gateway.Config), tweakAgency func(*clave.Config)) *slotWorld {
	keys(t)
	sw := &slotWorld{world: &world{t: t, clock: &testClock{t: time.Now().UTC().Truncate(time.Second)}}}
	sw.gwSrv = httptest.NewServer(&sw.slot)
	t.Cleanup(sw.gwSrv.Close)
	sw.agency = &agency{}
	sw.mux = http.NewServeMux()
	sw.agency.srv = httptest.NewServer(sw.mux)
	t.Cleanup(sw.agency.srv.Close)
	acs := sw.agency.srv.URL + "/clave/acs"

	sw.base = gateway.Config{
		BaseURL: sw.gwSrv.URL, SigningKey: gwKeys.Key, SigningCertificate: gwKeys.Certificate,
		ServiceProviders: []gateway.ServiceProvider{{SPID: agencySPID, Name: "Agencia de pruebas",
			Certificates: []*x509.Certificate{spKeys.Certificate}, ACSURLs: []string{acs}}},
		Now: sw.clock.Now, PINSecret: []byte(strings.Repeat("p", 32)),
	}
	if tweakGW != nil {
		tweakGW(&sw.base)
	}
	sw.swap(nil)

	acfg := clave.Config{
		Environment: clave.Custom, GatewayURL: sw.gw.Endpoint(), GatewayIssuer: sw.gw.Issuer(),
		GatewayCertificates: saml.StaticCertificates(sw.gw.TrustedCertificates()),
		SPID:                agencySPID, ApplicationName: agencyApp, ACSURL: acs,
		Key: spKeys.Key, Certificate: spKeys.Certificate, CookieSecret: []byte(strings.Repeat("s", 32)),
		Now: sw.clock.Now, LoA: saml.LoALow,
	}
	if tweakAgency != nil {
		tweakAgency(&acfg)
	}
	var err error
	sw.agency.client, err = clave.New(acfg)
	require.NoError(t, err)
	sw.mux.Handle("/clave/acs", sw.agency.client.ACSHandler())
	sw.mux.Handle("/", sw.agency.client.RequireLogin(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprintf(rw, "hola %s|%s|%s|%s|%s", id.GivenName, id.PersonIdentifier, id.LoA, id.Method, id.FamilyNames)
	})))
	return sw
}

// swap builds a gateway from the base configuration changed by tweak and puts
// it behind the address in place of the current one.
func (sw *slotWorld) swap(tweak func(*gateway.Config)) *gateway.Gateway {
	cfg := sw.base
	if tweak != nil {
		tweak(&cfg)
	}
	gw, err := gateway.New(context.Background(), cfg)
	require.NoError(sw.t, err)
	sw.slot.cur.Store(gw)
	sw.gw = gw
	return gw
}

const (
	pedro      = "23456789D"
	pedroValid = "31/12/2029"
	pedroPhone = "+34600000007"
)

// TestGatewayRestartOnSameDatabase restarts the gateway on the same SQLite
// file and address: citizens, pending PINs, failure counters, blocks, logins in
// progress and seen request IDs all live in the database, so none of them may
// be lost or reset by a restart.
func TestGatewayRestartOnSameDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	db1, err := gateway.OpenDB(ctx, path)
	require.NoError(t, err)
	closeDB1 := sync.OnceValue(db1.Close)
	t.Cleanup(func() { _ = closeDB1() })

	w := newSlotWorld(t, func(c *gateway.Config) { c.DB = db1 }, nil)
	people := []gateway.Citizen{
		citizen(t, maria, mariaValid, "MARIA", "GARCIA", "LOPEZ", mariaPhone, "advanced"),
		citizen(t, lucia, luciaValid, "LUCIA", "FERNANDEZ", "RUIZ", luciaPhone, "basic"),
		citizen(t, pedro, pedroValid, "PEDRO", "SANCHEZ", "GIL", pedroPhone, "advanced"),
	}
	for _, c := range people {
		require.NoError(t, w.gw.PutCitizen(ctx, c))
	}

	// A request the gateway received before the restart.
	replayer := newBrowser(t)
	_, requestPage := replayer.get(w.agency.srv.URL + "/tramite")
	resp, _ := replayer.submit(requestPage, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// María asks for a PIN and has not typed it yet.
	sMaria := w.start()
	sMaria.requestPIN(maria, mariaValid, "")
	require.Equal(t, http.StatusOK, sMaria.resp.StatusCode, sMaria.page)
	mariaPIN := w.lastSMS(mariaPhone).Code

	// Lucía fails 12 times: past 10, the phone is required.
	sLucia := w.start()
	sLucia.requestPIN(lucia, luciaValid, "")
	require.Equal(t, http.StatusOK, sLucia.resp.StatusCode, sLucia.page)
	luciaPIN := w.lastSMS(luciaPhone).Code
	for i := 1; i <= 12; i++ {
		sLucia.verify(otherPIN(luciaPIN), "")
		require.Equal(t, http.StatusUnauthorized, sLucia.resp.StatusCode, "attempt %d", i)
	}
	require.Contains(t, sLucia.page, `name="phone"`)

	// Pedro fails 31 times: blocked for 24 hours.
	sPedro := w.start()
	sPedro.requestPIN(pedro, pedroValid, "")
	require.Equal(t, http.StatusOK, sPedro.resp.StatusCode, sPedro.page)
	pedroPIN := w.lastSMS(pedroPhone).Code
	for i := 1; i <= 31; i++ {
		sPedro.verify(otherPIN(pedroPIN), pedroPhone)
	}
	require.Equal(t, http.StatusForbidden, sPedro.resp.StatusCode, "blocked before the restart")

	// A login that has only reached the chooser.
	sLater := w.start()
	require.Equal(t, http.StatusOK, sLater.resp.StatusCode)

	// Restart: the old process is gone with its database handle and inbox;
	// the new one opens the same file with the same PIN secret.
	require.NoError(t, closeDB1())
	w.clock.Advance(2 * time.Minute)
	db2, err := gateway.OpenDB(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db2.Close() })
	w.swap(func(c *gateway.Config) { c.DB = db2 })

	t.Run("citizens intact", func(t *testing.T) {
		for _, want := range people {
			got, err := w.gw.Citizen(ctx, want.ID)
			require.NoError(t, err, want.ID)
			assert.Equal(t, want.GivenName, got.GivenName)
			assert.Equal(t, want.FamilyNames(), got.FamilyNames())
			assert.Equal(t, want.Phone, got.Phone)
			assert.Equal(t, want.Level, got.Level)
			assert.True(t, want.ValidUntil.Equal(got.ValidUntil), "valid until %s, got %s", want.ValidUntil, got.ValidUntil)
			assert.True(t, want.DateOfBirth.Equal(got.DateOfBirth))
		}
	})
	t.Run("a request seen before the restart is still refused", func(t *testing.T) {
		resp, page := replayer.submit(requestPage, nil)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, page, "already received")
	})
	t.Run("PIN issued before the restart verifies in its login", func(t *testing.T) {
		// Asking for a PIN again would supersede this one, so the PIN is typed
		// where the citizen left it: the login started before the restart,
		// found again through the browser's cookie.
		sMaria.verify(mariaPIN, "")
		require.Equal(t, http.StatusOK, sMaria.resp.StatusCode, sMaria.page)
		sMaria.finish()
		assert.Equal(t, "hola MARIA|12345678Z|substantial|AEAT|GARCIA LOPEZ", sMaria.page)
	})
	t.Run("failure count still asks for the phone", func(t *testing.T) {
		resp, page := sLucia.b.get(sLucia.gwURL(strings.TrimSuffix(sLucia.verifyAt, "verify")))
		require.Equal(t, http.StatusOK, resp.StatusCode, page)
		assert.Contains(t, page, `name="phone"`, "the PIN page asks for the phone at once")
		sLucia.verify(luciaPIN, "")
		assert.Equal(t, http.StatusUnauthorized, sLucia.resp.StatusCode, "the right PIN without the phone is refused")
		sLucia.verify(luciaPIN, luciaPhone)
		sLucia.finish()
		assert.Equal(t, "hola LUCIA|34567890V|low|AEAT|FERNANDEZ RUIZ", sLucia.page)
	})
	t.Run("block still holds", func(t *testing.T) {
		sPedro.verify(pedroPIN, pedroPhone)
		assert.Equal(t, http.StatusForbidden, sPedro.resp.StatusCode, "the old login cannot verify")
		s := w.start()
		s.requestPIN(pedro, pedroValid, "")
		assert.Equal(t, http.StatusForbidden, s.resp.StatusCode, "no new PIN either")
		assert.Empty(t, w.gw.Inbox().Messages(gateway.ChannelSMS, pedroPhone))
	})
	t.Run("login started before the restart finishes after it", func(t *testing.T) {
		sLater.requestPIN(maria, mariaValid, "")
		require.Equal(t, http.StatusOK, sLater.resp.StatusCode, sLater.page)
		sLater.verify(w.lastSMS(mariaPhone).Code, "")
		sLater.finish()
		assert.Equal(t, "hola MARIA|12345678Z|substantial|AEAT|GARCIA LOPEZ", sLater.page)
	})
}
