package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/app"
)

// The page that finds its request expired records it at once, with its
// history entry: not at the gateway's next background prune.
func TestMovilPageRecordsExpiry(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)
	first := w.startMovil()
	req1 := p.requestOf(first, mobile.KindPush)
	w.clock.Advance(10 * time.Second)
	second := w.startMovil()
	req2 := p.requestOf(second, mobile.KindQR)

	w.clock.Advance(requestValidity) // both expired, within one prune's minute
	first.end()
	second.end()
	assert.Equal(t, http.StatusUnauthorized, second.resp.StatusCode)
	entries := p.entries()
	require.Len(t, entries, 2, "both expiries are in the history")
	assert.Equal(t, req2.ID, entries[0].RequestID)
	assert.Equal(t, req1.ID, entries[1].RequestID)
	for _, e := range entries {
		assert.Equal(t, mobile.StateExpired, e.Outcome)
	}
}

// A login that moves on (back to a new QR code, another push) withdraws
// its earlier request: the phone can no longer answer it.
func TestMovilMovingOnWithdrawsTheRequest(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)
	m := w.startMovil()
	old := p.requestOf(m, mobile.KindPush)

	m.post(m.base+"qr", nil) // back to a fresh QR code
	m.requireWaiting()
	assert.Empty(t, p.pending(), "the push is no longer on the phone")
	assert.ErrorIs(t, p.Confirm(t.Context(), old), app.ErrExpired)

	again := p.requestOf(m, mobile.KindPush)
	require.NotEqual(t, old.ID, again.ID)
	m.push(maria, mariaValid) // a second push replaces the first
	reqs := p.pending()
	require.Len(t, reqs, 1)
	assert.NotEqual(t, again.ID, reqs[0].ID)
	p.confirm(reqs[0])
	m.end()
	assert.Equal(t, "hola MARIA|12345678Z|substantial|CLVMOVIL|GARCIA LOPEZ", m.page)
}

// Without JavaScript a waiting page refreshes itself to learn the outcome,
// but never once there is something to type: the refresh would wipe it.
func TestMovilRefreshOnlyWithNothingToType(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	const refresh = `<noscript><meta http-equiv="refresh" content="5"></noscript>`
	m := w.startMovil()
	assert.Contains(t, m.page, refresh, "the QR page waits")
	m.see(m.b.get(m.gwURL(m.base + "noqr")))
	assert.NotContains(t, m.page, refresh, "the form of a login without QR")
	m.push(maria, mariaValid)
	m.requireWaiting()
	assert.Contains(t, m.page, refresh, "the push waits")
	w.clock.Advance(time.Minute)
	m.askSMS()
	require.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
	assert.Contains(t, m.page, `name="pin"`)
	assert.NotContains(t, m.page, refresh, "the Login PIN is being typed")
}
