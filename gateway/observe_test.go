package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/saml"
)

// observations records what a gateway tells its Observer.
type observations struct {
	mu       sync.Mutex
	started  []gateway.ObservedLogin
	finished []gateway.ObservedLogin
	lockouts []saml.Method
	stores   []string
}

func (o *observations) LoginStarted(_ context.Context, l gateway.ObservedLogin) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.started = append(o.started, l)
}

func (o *observations) LoginFinished(_ context.Context, l gateway.ObservedLogin) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished = append(o.finished, l)
}

func (o *observations) Lockout(_ context.Context, m saml.Method) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lockouts = append(o.lockouts, m)
}

func (o *observations) StoreError(_ context.Context, component string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stores = append(o.stores, fmt.Sprintf("%s: %v", component, err != nil))
}

func (o *observations) snapshot() observations {
	o.mu.Lock()
	defer o.mu.Unlock()
	return observations{started: append([]gateway.ObservedLogin(nil), o.started...),
		finished: append([]gateway.ObservedLogin(nil), o.finished...),
		lockouts: append([]saml.Method(nil), o.lockouts...), stores: append([]string(nil), o.stores...)}
}

func observedWorld(t *testing.T, tweak func(*gateway.Config)) (*world, *observations) {
	obs := &observations{}
	w := newWorld(t, func(c *gateway.Config) {
		c.Observer = obs
		if tweak != nil {
			tweak(c)
		}
	}, nil, nil)
	return w, obs
}

func TestObserverSeesALoginFromStartToResponse(t *testing.T) {
	t.Parallel()
	w, obs := observedWorld(t, nil)
	s := w.start()
	got := obs.snapshot()
	require.Len(t, got.started, 1)
	st := got.started[0]
	assert.NotEmpty(t, st.ID)
	assert.Equal(t, agencySPID, st.SPID)
	assert.Equal(t, w.clock.Now(), st.StartedAt)
	assert.Equal(t, 30*time.Minute, st.ExpiresAt.Sub(st.StartedAt), "the default flow timeout")
	assert.Empty(t, got.finished)

	w.clock.Advance(7 * time.Second)
	s.requestPIN(maria, mariaValid, "")
	w.clock.Advance(5 * time.Second)
	s.verify(w.lastSMS(mariaPhone).Code, "")
	s.finish()
	require.True(t, strings.HasPrefix(s.page, "hola MARIA"), s.page)

	got = obs.snapshot()
	require.Len(t, got.finished, 1)
	f := got.finished[0]
	assert.Equal(t, st.ID, f.ID)
	assert.Equal(t, saml.MethodAEATPIN, f.Method)
	assert.Equal(t, gateway.LoginSucceeded, f.Outcome)
	assert.Equal(t, 12*time.Second, f.Duration, "from the AuthnRequest to the Response, on the gateway's clock")
	assert.Empty(t, got.lockouts)
	assert.Empty(t, got.stores)
}

func TestObserverOutcomes(t *testing.T) {
	t.Parallel()
	w, obs := observedWorld(t, func(c *gateway.Config) { c.Personas = true })

	// Cancelled at the chooser: no method.
	s := w.start()
	s.post(strings.TrimPrefix(s.chooser, w.gwSrv.URL)+"/cancel", nil)
	require.Contains(t, s.page, `name="SAMLResponse"`, s.page)
	// A persona armed to decline on the phone: Cl@ve Móvil, cancelled.
	require.NoError(t, w.gw.ArmPersona(agencySPID, "99999902L"))
	w.start()
	// A persona armed as blocked: failed.
	require.NoError(t, w.gw.ArmPersona(agencySPID, "99999906T"))
	w.start()

	got := obs.snapshot()
	require.Len(t, got.started, 3)
	require.Len(t, got.finished, 3)
	type end struct {
		method  saml.Method
		outcome gateway.LoginOutcome
	}
	var ends []end
	for _, f := range got.finished {
		ends = append(ends, end{f.Method, f.Outcome})
	}
	assert.Equal(t, []end{{"", gateway.LoginCancelled}, {saml.MethodMovil, gateway.LoginCancelled}, {saml.MethodMovil, gateway.LoginFailed}}, ends)
}

func TestObserverCountsALockoutOnce(t *testing.T) {
	t.Parallel()
	w, obs := observedWorld(t, func(c *gateway.Config) { c.PIN.BlockAfter = 2 })
	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	wrong := otherPIN(w.lastSMS(mariaPhone).Code)
	for i := range 2 {
		s.verify(wrong, "")
		require.Equal(t, http.StatusUnauthorized, s.resp.StatusCode, "attempt %d", i+1)
		assert.Empty(t, obs.snapshot().lockouts)
	}
	s.verify(wrong, "")
	require.Equal(t, http.StatusForbidden, s.resp.StatusCode, "the third failure blocks")
	assert.Equal(t, []saml.Method{saml.MethodAEATPIN}, obs.snapshot().lockouts)
	s.verify(wrong, "")
	require.Equal(t, http.StatusForbidden, s.resp.StatusCode)
	assert.Len(t, obs.snapshot().lockouts, 1, "a citizen already blocked is not locked out again")

	// An unregistered identifier gets a decoy: never a lockout.
	d := w.start()
	d.requestPIN("87654321X", mariaValid, "")
	require.Equal(t, http.StatusOK, d.resp.StatusCode, d.page)
	for range 4 {
		d.verify("AAA", "")
	}
	assert.Len(t, obs.snapshot().lockouts, 1)
}

func TestObserverSeesAMethodsStorageFailure(t *testing.T) {
	t.Parallel()
	db, err := gateway.OpenDB(context.Background(), ":memory:")
	require.NoError(t, err)
	w, obs := observedWorld(t, func(c *gateway.Config) { c.DB = db })
	s := w.start()
	href, ok := s.methods()["AEAT"]
	require.True(t, ok)
	require.NoError(t, db.Close())
	resp, _ := s.b.get(s.gwURL(href))
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, []string{"pin: true"}, obs.snapshot().stores)
}

func TestNoObserverIsTheZeroValue(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	s.verify(w.lastSMS(mariaPhone).Code, "")
	s.finish()
	assert.True(t, strings.HasPrefix(s.page, "hola MARIA"), s.page)
}

// A method ends a login with Host.Fail, which names no method: the gateway
// names it from the page that failed the login.
func TestObserverNamesTheMethodThatFails(t *testing.T) {
	t.Parallel()
	w, obs := observedWorld(t, nil)
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)
	m := w.startMovil()
	p.decline(p.requestOf(m, mobile.KindQR))
	m.end()
	got := obs.snapshot()
	require.Len(t, got.finished, 1)
	assert.Equal(t, saml.MethodMovil, got.finished[0].Method)
	assert.Equal(t, gateway.LoginCancelled, got.finished[0].Outcome)
}
