package mobile_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/mobile"
)

func TestLoginWithQR(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := e.activate(t, citizen, 1)
		r := e.request(t, mobile.RequestSpec{Kind: mobile.KindQR})
		assert.Empty(t, r.Citizen, "unknown until scanned")
		assert.Equal(t, mobile.StatePending, r.State)
		assert.True(t, t0.Add(5*time.Minute).Equal(r.ExpiresAt))
		assert.Len(t, r.Nonce, 22, "128 bits, base64url")
		assert.NotEqual(t, r.ID, r.Nonce)

		// Confirming before scanning is refused.
		payload, sig := p.sign(t, r, mobile.Confirm, e.clock.Now())
		_, err := e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		assert.ErrorIs(t, err, mobile.ErrNotClaimed)

		_, err = e.svc.Claim(e.ctx, r.ID, "wrong-nonce", p.dev.ID)
		assert.ErrorIs(t, err, mobile.ErrNoRequest, "a wrong nonce looks like no request")
		got, err := e.svc.Claim(e.ctx, r.ID, r.Nonce, p.dev.ID)
		require.NoError(t, err)
		assert.Equal(t, citizen, got.Citizen)
		assert.Equal(t, r.VerificationCode(), got.VerificationCode(), "app and page show the same code")
		_, err = e.svc.Claim(e.ctx, r.ID, r.Nonce, p.dev.ID)
		assert.NoError(t, err, "the same citizen may fetch it again")

		other := e.activate(t, otherOne, 2)
		_, err = e.svc.Claim(e.ctx, r.ID, r.Nonce, other.dev.ID)
		assert.ErrorIs(t, err, mobile.ErrClaimed, "a second scanner is refused")
		payload2, sig2 := other.sign(t, r, mobile.Confirm, e.clock.Now())
		_, err = e.svc.Decide(e.ctx, other.dev.ID, payload2, sig2)
		assert.ErrorIs(t, err, mobile.ErrWrongDevice)

		pending, err := e.svc.PendingRequests(e.ctx, p.dev.ID)
		require.NoError(t, err)
		if assert.Len(t, pending, 1) {
			assert.Equal(t, r.ID, pending[0].ID)
		}

		e.clock.Advance(30 * time.Second)
		got, err = e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		require.NoError(t, err, "signed 30 s ago, within the skew")
		assert.Equal(t, mobile.StateConfirmed, got.State)
		assert.True(t, t0.Add(30*time.Second).Equal(got.DecidedAt))

		stored, err := e.svc.Request(e.ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, mobile.StateConfirmed, stored.State)
		pending, err = e.svc.PendingRequests(e.ctx, p.dev.ID)
		require.NoError(t, err)
		assert.Empty(t, pending)

		h, err := e.svc.History(e.ctx, citizen, mobile.Query{})
		require.NoError(t, err)
		if assert.Len(t, h, 1) {
			assert.Equal(t, mobile.Entry{RequestID: r.ID, Citizen: citizen, At: h[0].At, Requester: "Agencia Tributaria",
				Kind: mobile.KindQR, Outcome: mobile.StateConfirmed}, h[0])
			assert.True(t, t0.Equal(h[0].At))
		}
	})
}

func TestLoginWithoutQR(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := e.activate(t, citizen, 1)
		r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: "12345678z"})
		assert.Equal(t, citizen, r.Citizen)

		pending, err := e.svc.PendingRequests(e.ctx, p.dev.ID)
		require.NoError(t, err)
		require.Len(t, pending, 1)
		assert.Equal(t, r.Nonce, pending[0].Nonce, "the app learns the nonce from its pending list")

		payload, sig := p.sign(t, pending[0], mobile.Confirm, e.clock.Now())
		got, err := e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		require.NoError(t, err)
		assert.Equal(t, mobile.StateConfirmed, got.State)
	})
}

func TestDecline(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := e.activate(t, citizen, 1)
		r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
		payload, sig := p.sign(t, r, mobile.Decline, e.clock.Now())
		got, err := e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		require.NoError(t, err)
		assert.Equal(t, mobile.StateDeclined, got.State)

		payload, sig = p.sign(t, r, mobile.Confirm, e.clock.Now())
		_, err = e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		assert.ErrorIs(t, err, mobile.ErrAlreadyDecided, "a decline is final")
		h, err := e.svc.History(e.ctx, citizen, mobile.Query{})
		require.NoError(t, err)
		require.Len(t, h, 1)
		assert.Equal(t, mobile.StateDeclined, h[0].Outcome)
	})
}

func TestExpiry(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := e.activate(t, citizen, 1)
		r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})

		e.clock.Advance(5*time.Minute - time.Nanosecond)
		assert.Equal(t, mobile.StatePending, r.StateAt(e.clock.Now()))
		e.clock.Advance(time.Nanosecond)
		assert.Equal(t, mobile.StateExpired, r.StateAt(e.clock.Now()))
		pending, err := e.svc.PendingRequests(e.ctx, p.dev.ID)
		require.NoError(t, err)
		assert.Empty(t, pending)

		payload, sig := p.sign(t, r, mobile.Confirm, e.clock.Now())
		_, err = e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		assert.ErrorIs(t, err, mobile.ErrExpired)
		stored, err := e.svc.Request(e.ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, mobile.StateExpired, stored.State, "the refused confirmation stored the expiry")
		assert.True(t, r.ExpiresAt.Equal(stored.DecidedAt))
		_, err = e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		assert.ErrorIs(t, err, mobile.ErrExpired)

		h, err := e.svc.History(e.ctx, citizen, mobile.Query{Outcome: mobile.StateExpired})
		require.NoError(t, err)
		assert.Len(t, h, 1)
	})
}

// TestConfirmationAttacks: replayed, stale, forged and misdirected
// confirmations are refused, and change nothing.
func TestConfirmationAttacks(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := e.activate(t, citizen, 1)
		r := e.request(t, mobile.RequestSpec{LoginID: "login-1", Kind: mobile.KindPush, Citizen: citizen})
		other := e.request(t, mobile.RequestSpec{LoginID: "login-2", Kind: mobile.KindPush, Citizen: citizen})
		now := e.clock.Now()
		sign := func(c mobile.Confirmation) ([]byte, []byte) {
			payload, sig, err := mobile.SignConfirmation(p.priv, c)
			require.NoError(t, err)
			return payload, sig
		}

		for _, c := range []struct {
			name string
			conf mobile.Confirmation
			want error
		}{
			{"other login", mobile.Confirmation{LoginID: "login-2", RequestID: r.ID, Nonce: r.Nonce, Decision: mobile.Confirm, At: now}, mobile.ErrMismatch},
			{"other nonce", mobile.Confirmation{LoginID: r.LoginID, RequestID: r.ID, Nonce: other.Nonce, Decision: mobile.Confirm, At: now}, mobile.ErrMismatch},
			{"guessed nonce", mobile.Confirmation{LoginID: r.LoginID, RequestID: r.ID, Nonce: "AAAAAAAAAAAAAAAAAAAAAA", Decision: mobile.Confirm, At: now}, mobile.ErrMismatch},
			{"unknown request", mobile.Confirmation{LoginID: r.LoginID, RequestID: "nope", Nonce: r.Nonce, Decision: mobile.Confirm, At: now}, mobile.ErrNoRequest},
			{"signed too long ago", r.Confirmation(mobile.Confirm, now.Add(-2*time.Minute-time.Second)), mobile.ErrStale},
			{"signed in the future", r.Confirmation(mobile.Confirm, now.Add(2*time.Minute+time.Second)), mobile.ErrStale},
		} {
			t.Run(c.name, func(t *testing.T) {
				payload, sig := sign(c.conf)
				_, err := e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
				assert.ErrorIs(t, err, c.want)
			})
		}
		stored, err := e.svc.Request(e.ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, mobile.StatePending, stored.State, "refusals change nothing")

		// Forged: signed by a key that is not the device's.
		forged, forgedSig, err := mobile.SignConfirmation(newPhone(9).priv, r.Confirmation(mobile.Confirm, now))
		require.NoError(t, err)
		_, err = e.svc.Decide(e.ctx, p.dev.ID, forged, forgedSig)
		assert.ErrorIs(t, err, mobile.ErrBadSignature)
		_, err = e.svc.Decide(e.ctx, "no-such-device", forged, forgedSig)
		assert.ErrorIs(t, err, mobile.ErrNoDevice)

		// At the skew's edges the time is accepted; the replay is not.
		payload, sig := sign(r.Confirmation(mobile.Confirm, now.Add(-2*time.Minute)))
		_, err = e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		require.NoError(t, err)
		_, err = e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		assert.ErrorIs(t, err, mobile.ErrAlreadyDecided, "replayed")
		payload, sig = sign(r.Confirmation(mobile.Decline, now.Add(2*time.Minute)))
		_, err = e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		assert.ErrorIs(t, err, mobile.ErrAlreadyDecided, "a second, different answer")
	})
}

// TestConcurrentConfirmations: of many simultaneous confirmations of one
// request, exactly one wins.
func TestConcurrentConfirmations(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := e.activate(t, citizen, 1)
		r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
		const n = 20
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		for i := range n {
			d := []mobile.Decision{mobile.Confirm, mobile.Decline}[i%2]
			payload, sig := p.sign(t, r, d, e.clock.Now())
			wg.Go(func() {
				_, err := e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				assert.ErrorIs(t, err, mobile.ErrAlreadyDecided)
			}
		}
		assert.Equal(t, 1, ok)
		h, err := e.svc.History(e.ctx, citizen, mobile.Query{})
		require.NoError(t, err)
		assert.Len(t, h, 1)
	})
}

func TestNewRequestRefusesBadSpecs(t *testing.T) {
	e := newEnv(t, mobile.NewMemoryStore())
	for name, c := range map[string]struct {
		spec mobile.RequestSpec
		want error
	}{
		"push without citizen": {mobile.RequestSpec{LoginID: "l", Kind: mobile.KindPush}, mobile.ErrWrongKind},
		"unknown kind":         {mobile.RequestSpec{LoginID: "l", Kind: "sms"}, mobile.ErrWrongKind},
		"bad citizen":          {mobile.RequestSpec{LoginID: "l", Kind: mobile.KindPush, Citizen: "12345678A"}, mobile.ErrBadCitizen},
	} {
		_, err := e.svc.NewRequest(e.ctx, c.spec)
		assert.ErrorIs(t, err, c.want, name)
	}
	_, err := e.svc.NewRequest(e.ctx, mobile.RequestSpec{LoginID: "bad\nid", Kind: mobile.KindQR})
	assert.Error(t, err)
	_, err = e.svc.Request(e.ctx, "nope")
	assert.ErrorIs(t, err, mobile.ErrNoRequest)
}

// TestDecoyRequests: a decoy looks like a request to the page, but no device
// sees, scans or confirms it, its SMS PIN never verifies, and it leaves no
// history.
func TestDecoyRequests(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := e.activate(t, citizen, 1)
		r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen, Decoy: true})
		assert.Len(t, r.VerificationCode(), 3)
		pending, err := e.svc.PendingRequests(e.ctx, p.dev.ID)
		require.NoError(t, err)
		assert.Empty(t, pending)
		_, err = e.svc.Claim(e.ctx, r.ID, r.Nonce, p.dev.ID)
		assert.ErrorIs(t, err, mobile.ErrNoRequest)
		payload, sig := p.sign(t, r, mobile.Confirm, e.clock.Now())
		_, err = e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		assert.ErrorIs(t, err, mobile.ErrNoRequest)

		e.clock.Advance(time.Minute)
		code, err := e.svc.IssueSMSPIN(e.ctx, r.ID)
		require.NoError(t, err)
		assert.Empty(t, code.Value)
		for _, guess := range []string{"000000", "123456"} {
			assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, r.ID, guess), mobile.ErrWrongCode)
		}

		e.clock.Advance(time.Hour)
		require.NoError(t, e.svc.Prune(e.ctx))
		h, err := e.svc.History(e.ctx, citizen, mobile.Query{})
		require.NoError(t, err)
		assert.Empty(t, h)
	})
}

func TestSMSFallback(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
		assert.True(t, t0.Add(60*time.Second).Equal(e.svc.PINAvailableAt(&r)))

		e.clock.Advance(59 * time.Second)
		_, err := e.svc.IssueSMSPIN(e.ctx, r.ID)
		assert.ErrorIs(t, err, mobile.ErrTooEarly, "refused before 60 s")
		assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, r.ID, "123456"), mobile.ErrNoCode)

		e.clock.Advance(time.Second)
		code, err := e.svc.IssueSMSPIN(e.ctx, r.ID)
		require.NoError(t, err, "available at 60 s")
		assert.Regexp(t, `^[0-9]{6}$`, code.Value)
		assert.True(t, e.clock.Now().Add(10*time.Minute).Equal(code.ExpiresAt))
		stored, err := e.svc.Request(e.ctx, r.ID)
		require.NoError(t, err)
		assert.True(t, code.ExpiresAt.Equal(stored.ExpiresAt), "the request lives as long as its PIN")
		assert.NotContains(t, fmt.Sprintf("%x", stored.PIN.Hash), code.Value)

		assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, r.ID, wrongCode(code.Value)), mobile.ErrWrongCode)
		e.clock.Advance(6 * time.Minute) // past the push's 5 minutes, within the PIN's 10
		require.NoError(t, e.svc.VerifySMSPIN(e.ctx, r.ID, " "+code.Value+" "))
		assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, r.ID, code.Value), mobile.ErrUsed, "single use")

		stored, err = e.svc.Request(e.ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, mobile.StateConfirmed, stored.State)
		assert.Empty(t, stored.DeviceID)
		h, err := e.svc.History(e.ctx, citizen, mobile.Query{})
		require.NoError(t, err)
		require.Len(t, h, 1)
		assert.Equal(t, mobile.StateConfirmed, h[0].Outcome)
		assert.Equal(t, mobile.KindPush, h[0].Kind)
	})
}

func TestSMSFallbackLimits(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		t.Run("not for QR", func(t *testing.T) {
			r := e.request(t, mobile.RequestSpec{Kind: mobile.KindQR})
			e.clock.Advance(time.Minute)
			_, err := e.svc.IssueSMSPIN(e.ctx, r.ID)
			assert.ErrorIs(t, err, mobile.ErrWrongKind)
		})
		t.Run("attempts across resends", func(t *testing.T) {
			r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
			e.clock.Advance(time.Minute)
			code, err := e.svc.IssueSMSPIN(e.ctx, r.ID)
			require.NoError(t, err)
			assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, r.ID, wrongCode(code.Value)), mobile.ErrWrongCode)
			assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, r.ID, wrongCode(code.Value)), mobile.ErrWrongCode)
			code, err = e.svc.IssueSMSPIN(e.ctx, r.ID)
			require.NoError(t, err, "a resend")
			assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, r.ID, wrongCode(code.Value)), mobile.ErrTooManyAttempts, "the third failure")
			assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, r.ID, code.Value), mobile.ErrTooManyAttempts)
			_, err = e.svc.IssueSMSPIN(e.ctx, r.ID)
			assert.ErrorIs(t, err, mobile.ErrTooManyAttempts, "no resend resets the count")
		})
		t.Run("sends", func(t *testing.T) {
			r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
			e.clock.Advance(time.Minute)
			var last mobile.Code
			for range 3 {
				var err error
				last, err = e.svc.IssueSMSPIN(e.ctx, r.ID)
				require.NoError(t, err)
			}
			_, err := e.svc.IssueSMSPIN(e.ctx, r.ID)
			assert.ErrorIs(t, err, mobile.ErrSendLimit)
			assert.NoError(t, e.svc.VerifySMSPIN(e.ctx, r.ID, last.Value), "the last PIN sent is the one that counts")
		})
		t.Run("PIN expiry", func(t *testing.T) {
			r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
			e.clock.Advance(time.Minute)
			code, err := e.svc.IssueSMSPIN(e.ctx, r.ID)
			require.NoError(t, err)
			e.clock.Advance(10 * time.Minute)
			assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, r.ID, code.Value), mobile.ErrExpired)
		})
		t.Run("after the phone answered", func(t *testing.T) {
			p := e.activate(t, citizen, 4)
			r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
			e.clock.Advance(time.Minute)
			code, err := e.svc.IssueSMSPIN(e.ctx, r.ID)
			require.NoError(t, err)
			payload, sig := p.sign(t, r, mobile.Decline, e.clock.Now())
			_, err = e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
			require.NoError(t, err)
			assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, r.ID, code.Value), mobile.ErrAlreadyDecided)
			_, err = e.svc.IssueSMSPIN(e.ctx, r.ID)
			assert.ErrorIs(t, err, mobile.ErrAlreadyDecided)
		})
		t.Run("unknown request", func(t *testing.T) {
			assert.ErrorIs(t, e.svc.VerifySMSPIN(e.ctx, "nope", "123456"), mobile.ErrNoRequest)
			_, err := e.svc.IssueSMSPIN(e.ctx, "nope")
			assert.ErrorIs(t, err, mobile.ErrNoRequest)
		})
	})
}

func TestCheckFresh(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		now := e.clock.Now()
		require.NoError(t, e.svc.CheckFresh(e.ctx, "call-1", now))
		assert.ErrorIs(t, e.svc.CheckFresh(e.ctx, "call-1", now), mobile.ErrReplay)
		assert.ErrorIs(t, e.svc.CheckFresh(e.ctx, "call-2", now.Add(-2*time.Minute-time.Second)), mobile.ErrStale)
		assert.ErrorIs(t, e.svc.CheckFresh(e.ctx, "call-3", now.Add(2*time.Minute+time.Second)), mobile.ErrStale)
		assert.ErrorIs(t, e.svc.CheckFresh(e.ctx, "bad nonce", now), mobile.ErrBadPayload)

		// Pruned once it is too old to pass the time check anyway.
		e.clock.Advance(2 * time.Minute)
		require.NoError(t, e.svc.Prune(e.ctx))
		assert.ErrorIs(t, e.svc.CheckFresh(e.ctx, "call-1", now), mobile.ErrReplay, "still remembered at the edge")
		e.clock.Advance(time.Second)
		require.NoError(t, e.svc.Prune(e.ctx))
		assert.ErrorIs(t, e.svc.CheckFresh(e.ctx, "call-1", now), mobile.ErrStale)
	})
}

func TestPrune(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := e.activate(t, citizen, 1)
		decided := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
		payload, sig := p.sign(t, decided, mobile.Confirm, e.clock.Now())
		_, err := e.svc.Decide(e.ctx, p.dev.ID, payload, sig)
		require.NoError(t, err)
		var waiting []mobile.Request
		for range 3 {
			waiting = append(waiting, e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen}))
		}
		unscanned := e.request(t, mobile.RequestSpec{Kind: mobile.KindQR})

		e.clock.Advance(5 * time.Minute)
		require.NoError(t, e.svc.Prune(e.ctx))
		for _, r := range append(waiting, unscanned) {
			got, err := e.svc.Request(e.ctx, r.ID)
			require.NoError(t, err, "kept for late readers")
			assert.Equal(t, mobile.StateExpired, got.State)
		}
		h, err := e.svc.History(e.ctx, citizen, mobile.Query{Outcome: mobile.StateExpired})
		require.NoError(t, err)
		assert.Len(t, h, 3, "the unscanned QR has nobody's history")

		e.clock.Advance(10*time.Minute + time.Nanosecond)
		require.NoError(t, e.svc.Prune(e.ctx))
		for _, r := range append(waiting, unscanned, decided) {
			_, err := e.svc.Request(e.ctx, r.ID)
			assert.ErrorIs(t, err, mobile.ErrNoRequest)
		}
		h, err = e.svc.History(e.ctx, citizen, mobile.Query{})
		require.NoError(t, err)
		assert.Len(t, h, 4, "history stays")
	})
}

func TestPruneManyRequests(t *testing.T) {
	e := newEnv(t, mobile.NewMemoryStore())
	for range 250 {
		e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
	}
	e.clock.Advance(5 * time.Minute)
	require.NoError(t, e.svc.Prune(e.ctx))
	h, err := e.svc.History(e.ctx, citizen, mobile.Query{Limit: mobile.MaxPageSize, Offset: 200})
	require.NoError(t, err)
	assert.Len(t, h, 50, "every batch expired")
}
