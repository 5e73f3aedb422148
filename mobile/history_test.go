package mobile_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/mobile"
)

func TestQueryNormalized(t *testing.T) {
	q, err := mobile.Query{}.Normalized()
	require.NoError(t, err)
	assert.Equal(t, mobile.DefaultPageSize, q.Limit)
	q, err = mobile.Query{Limit: 10_000}.Normalized()
	require.NoError(t, err)
	assert.Equal(t, mobile.MaxPageSize, q.Limit, "page size is bounded")

	for name, bad := range map[string]mobile.Query{
		"pending outcome": {Outcome: mobile.StatePending},
		"unknown outcome": {Outcome: "lost"},
		"unknown kind":    {Kind: "sms"},
		"unknown order":   {Order: "random"},
		"negative limit":  {Limit: -1},
		"negative offset": {Offset: -1},
		"to before from":  {From: t0, To: t0.Add(-time.Second)},
		"empty range":     {From: t0, To: t0},
	} {
		_, err := bad.Normalized()
		assert.ErrorIs(t, err, mobile.ErrBadQuery, name)
	}
}

// TestHistoryThroughService runs the app's "My Cl@ve Móvil" queries over
// logins decided in different ways.
func TestHistoryThroughService(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := e.activate(t, citizen, 1)
		answer := func(kind mobile.Kind, requester string, d mobile.Decision) {
			t.Helper()
			r := e.request(t, mobile.RequestSpec{Kind: kind, Requester: requester, Citizen: map[mobile.Kind]string{mobile.KindPush: citizen}[kind]})
			if kind == mobile.KindQR {
				_, err := e.svc.Claim(e.ctx, r.ID, r.Nonce, p.dev.ID)
				require.NoError(t, err)
			}
			payload, sig := p.sign(t, r, d, e.clock.Now())
			_, err := e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
			require.NoError(t, err)
			e.clock.Advance(time.Minute)
		}
		answer(mobile.KindQR, "AEAT", mobile.Confirm)                                                // t0
		answer(mobile.KindPush, "DGT", mobile.Decline)                                               // t0+1m
		answer(mobile.KindQR, "DGT", mobile.Confirm)                                                 // t0+2m
		answer(mobile.KindPush, "AEAT", mobile.Confirm)                                              // t0+3m
		e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen, Requester: "SEPE"}) // t0+4m
		e.clock.Advance(5 * time.Minute)
		require.NoError(t, e.svc.Prune(e.ctx))

		requesters := func(q mobile.Query) []string {
			t.Helper()
			h, err := e.svc.History(e.ctx, citizen, q)
			require.NoError(t, err)
			out := []string{}
			for _, e := range h {
				out = append(out, e.Requester+"/"+string(e.Kind)+"/"+string(e.Outcome))
			}
			return out
		}
		assert.Equal(t, []string{"SEPE/push/expired", "AEAT/push/confirmed", "DGT/qr/confirmed", "DGT/push/declined", "AEAT/qr/confirmed"},
			requesters(mobile.Query{}))
		assert.Equal(t, []string{"AEAT/qr/confirmed", "DGT/qr/confirmed", "AEAT/push/confirmed"},
			requesters(mobile.Query{Outcome: mobile.StateConfirmed, Order: mobile.OldestFirst}))
		assert.Equal(t, []string{"DGT/qr/confirmed", "AEAT/qr/confirmed"}, requesters(mobile.Query{Kind: mobile.KindQR}))
		assert.Equal(t, []string{"DGT/qr/confirmed", "DGT/push/declined"}, requesters(mobile.Query{Requester: "DGT"}))
		assert.Equal(t, []string{"DGT/push/declined", "DGT/qr/confirmed"},
			requesters(mobile.Query{From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute), Order: mobile.OldestFirst}))
		assert.Equal(t, []string{"DGT/qr/confirmed", "DGT/push/declined"}, requesters(mobile.Query{Limit: 2, Offset: 2}))

		_, err := e.svc.History(e.ctx, citizen, mobile.Query{Kind: "sms"})
		assert.ErrorIs(t, err, mobile.ErrBadQuery)
		_, err = e.svc.History(e.ctx, "nobody", mobile.Query{})
		assert.ErrorIs(t, err, mobile.ErrBadCitizen)
		h, err := e.svc.History(e.ctx, otherOne, mobile.Query{})
		require.NoError(t, err)
		assert.Empty(t, h)
	})
}
