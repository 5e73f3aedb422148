package permanente_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/permanente"
)

// TestRecoverPassword: a citizen identified otherwise (the app) sets a new
// password, which unblocks a blocked one, under the policy and the reuse
// rule; there must be a password to recover.
func TestRecoverPassword(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		assert.ErrorIs(t, e.svc.RecoverPassword(e.ctx, citizen, otherPassword, profile), permanente.ErrNotRegistered)
		_, err := e.svc.Register(e.ctx, citizen)
		require.NoError(t, err)
		assert.ErrorIs(t, e.svc.RecoverPassword(e.ctx, citizen, otherPassword, profile), permanente.ErrNotActivated)
		assert.ErrorIs(t, e.svc.RecoverPassword(e.ctx, "12345678A", otherPassword, profile), permanente.ErrBadCitizen)

		e2 := e
		citizen := otherOne
		e2.activate(t, citizen, goodPassword)
		for range 5 {
			_, err = e2.svc.Login(e2.ctx, citizen, "Wrong-password-1")
		}
		require.ErrorIs(t, err, permanente.ErrBlocked)

		err = e2.svc.RecoverPassword(e2.ctx, citizen, goodPassword, profile)
		assert.Equal(t, []permanente.Rule{permanente.RuleReused}, permanente.BrokenRules(err))
		err = e2.svc.RecoverPassword(e2.ctx, citizen, "short", profile)
		assert.Contains(t, permanente.BrokenRules(err), permanente.RuleTooShort)

		require.NoError(t, e2.svc.RecoverPassword(e2.ctx, citizen, otherPassword, profile))
		_, err = e2.svc.Login(e2.ctx, citizen, otherPassword)
		require.NoError(t, err, "recovered and unblocked")
		_, err = e2.svc.Login(e2.ctx, citizen, goodPassword)
		assert.ErrorIs(t, err, permanente.ErrWrongPassword)
	})
}
