package permanente_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/permanente"
)

// TestCompleteChange: an expired password's login hands out a ticket that
// sets the new password once, under the policy and the reuse rule.
func TestCompleteChange(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		e.activate(t, citizen, goodPassword)

		res, err := e.svc.Login(e.ctx, citizen, goodPassword)
		require.NoError(t, err)
		assert.Empty(t, res.ChangeTicket, "no ticket for a password in date")

		e.clock.Advance(maxAge)
		res, err = e.svc.Login(e.ctx, citizen, goodPassword)
		require.ErrorIs(t, err, permanente.ErrPasswordExpired)
		require.NotEmpty(t, res.ChangeTicket)

		assert.ErrorIs(t, e.svc.CompleteChange(e.ctx, citizen, "wrong", otherPassword, profile), permanente.ErrBadTicket)
		assert.ErrorIs(t, e.svc.CompleteChange(e.ctx, otherOne, res.ChangeTicket, otherPassword, profile), permanente.ErrBadTicket)
		err = e.svc.CompleteChange(e.ctx, citizen, res.ChangeTicket, goodPassword, profile)
		assert.Equal(t, []permanente.Rule{permanente.RuleReused}, permanente.BrokenRules(err))
		err = e.svc.CompleteChange(e.ctx, citizen, res.ChangeTicket, "short", profile)
		assert.Contains(t, permanente.BrokenRules(err), permanente.RuleTooShort)

		require.NoError(t, e.svc.CompleteChange(e.ctx, citizen, res.ChangeTicket, otherPassword, profile))
		assert.ErrorIs(t, e.svc.CompleteChange(e.ctx, citizen, res.ChangeTicket, thirdPassword, profile),
			permanente.ErrBadTicket, "single use")
		res, err = e.svc.Login(e.ctx, citizen, otherPassword)
		require.NoError(t, err)
		assert.False(t, res.MustChange)
		_, err = e.svc.Login(e.ctx, citizen, goodPassword)
		assert.ErrorIs(t, err, permanente.ErrWrongPassword)

		// The ticket lasts Config.TicketValidity.
		e.clock.Advance(maxAge)
		res, err = e.svc.Login(e.ctx, citizen, otherPassword)
		require.ErrorIs(t, err, permanente.ErrPasswordExpired)
		e.clock.Advance(10 * time.Minute)
		assert.ErrorIs(t, e.svc.CompleteChange(e.ctx, citizen, res.ChangeTicket, thirdPassword, profile), permanente.ErrBadTicket)
	})
}
