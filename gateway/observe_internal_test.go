package gateway

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/permanente"
	"github.com/clave-go/clave/saml"
)

type lockoutCounter struct {
	noObserver
	mu sync.Mutex
	n  map[saml.Method]int
}

func (c *lockoutCounter) Lockout(_ context.Context, m saml.Method) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[m]++
}

func (c *lockoutCounter) count(m saml.Method) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[m]
}

// Cl@ve Permanente blocks a password after PasswordFailures wrong ones and
// an activation code after more than ActivationFailures: each block is one
// lockout, seen through the store the gateway gives the service.
func TestPermanenteLockouts(t *testing.T) {
	ctx := context.Background()
	obs := &lockoutCounter{n: map[saml.Method]int{}}
	g := &Gateway{cfg: Config{Observer: obs}}
	_, st := g.observeStores(nil, permanente.NewMemoryStore())
	svc, err := permanente.New(permanente.Config{Secret: []byte(strings.Repeat("k", 32)), PasswordFailures: 2, ActivationFailures: 1}, st)
	require.NoError(t, err)
	g.permanente = svc

	const ana, bea = "12345678Z", "23456789D"
	code, err := svc.Register(ctx, ana)
	require.NoError(t, err)
	sms, err := svc.StartActivation(ctx, ana, code.Value)
	require.NoError(t, err)
	ticket, err := svc.VerifyActivationSMS(ctx, ana, sms.Value)
	require.NoError(t, err)
	require.NoError(t, svc.CompleteActivation(ctx, ana, ticket, "Nunca-Adivinaras-42", permanente.Profile{}))

	_, err = svc.Login(ctx, ana, "wrong-1")
	assert.ErrorIs(t, err, permanente.ErrWrongPassword)
	assert.Zero(t, obs.count(saml.MethodGISS))
	_, err = svc.Login(ctx, ana, "wrong-2")
	assert.ErrorIs(t, err, permanente.ErrBlocked)
	assert.Equal(t, 1, obs.count(saml.MethodGISS), "the failure that blocks")
	_, err = svc.Login(ctx, ana, "Nunca-Adivinaras-42")
	assert.ErrorIs(t, err, permanente.ErrBlocked)
	assert.Equal(t, 1, obs.count(saml.MethodGISS), "blocked already")

	_, err = svc.Register(ctx, bea)
	require.NoError(t, err)
	_, err = svc.StartActivation(ctx, bea, "AAAA-AAAA-AAAA-AAAA")
	assert.ErrorIs(t, err, permanente.ErrWrongActivationCode)
	assert.Equal(t, 1, obs.count(saml.MethodGISS))
	_, err = svc.StartActivation(ctx, bea, "AAAA-AAAA-AAAA-AAAA")
	assert.ErrorIs(t, err, permanente.ErrActivationBlocked)
	assert.Equal(t, 2, obs.count(saml.MethodGISS), "the activation code blocked")
}

func TestSlugOfPath(t *testing.T) {
	for path, want := range map[string]string{
		"/login/abc/pin/verify": "pin",
		"/login/abc/movil/":     "movil",
		"/login/abc/cancel":     "",
		"/login/abc":            "",
		"/Proxy2/Certificates":  "",
	} {
		assert.Equal(t, want, slugOfPath(path), path)
	}
}
