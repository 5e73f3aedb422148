package mobile_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/mobile"
)

func TestActivationBySMSCode(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := newPhone(1)
		code, err := e.svc.IssueActivationCode(e.ctx, citizen)
		require.NoError(t, err)
		assert.Regexp(t, `^[0-9]{6}$`, code.Value)
		assert.True(t, t0.Add(10*time.Minute).Equal(code.ExpiresAt))

		_, err = e.svc.ActivateWithCode(e.ctx, citizen, wrongCode(code.Value), p.pub())
		assert.ErrorIs(t, err, mobile.ErrWrongCode)
		_, err = e.svc.ActiveDevice(e.ctx, citizen)
		assert.ErrorIs(t, err, mobile.ErrNoDevice, "a wrong code activates nothing")

		d, err := e.svc.ActivateWithCode(e.ctx, " 12.345.678-z ", code.Value[:3]+" "+code.Value[3:], p.pub())
		require.NoError(t, err, "the identifier is normalised and spaces in the code ignored")
		assert.Equal(t, mobile.BySMS, d.Method)
		assert.Equal(t, citizen, d.Citizen)
		assert.Equal(t, mobile.DeviceActive, d.Status)
		assert.True(t, t0.Equal(d.ActivatedAt))
		active, err := e.svc.ActiveDevice(e.ctx, citizen)
		require.NoError(t, err)
		assert.Equal(t, d.ID, active.ID)

		_, err = e.svc.ActivateWithCode(e.ctx, citizen, code.Value, newPhone(2).pub())
		assert.ErrorIs(t, err, mobile.ErrNoCode, "a code activates once")
	})
}

func wrongCode(c string) string {
	if c == "000000" {
		return "000001"
	}
	return "000000"
}

func TestActivationCodeLimits(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := newPhone(1)

		t.Run("three attempts", func(t *testing.T) {
			code, err := e.svc.IssueActivationCode(e.ctx, citizen)
			require.NoError(t, err)
			for _, want := range []error{mobile.ErrWrongCode, mobile.ErrWrongCode, mobile.ErrTooManyAttempts} {
				_, err = e.svc.ActivateWithCode(e.ctx, citizen, wrongCode(code.Value), p.pub())
				assert.ErrorIs(t, err, want)
			}
			_, err = e.svc.ActivateWithCode(e.ctx, citizen, code.Value, p.pub())
			assert.ErrorIs(t, err, mobile.ErrTooManyAttempts, "the right code after the third failure")
		})
		t.Run("ten minutes", func(t *testing.T) {
			code, err := e.svc.IssueActivationCode(e.ctx, citizen)
			require.NoError(t, err)
			e.clock.Advance(10*time.Minute - time.Nanosecond)
			_, err = e.svc.ActivateWithCode(e.ctx, citizen, wrongCode(code.Value), p.pub())
			assert.ErrorIs(t, err, mobile.ErrWrongCode)
			e.clock.Advance(time.Nanosecond)
			_, err = e.svc.ActivateWithCode(e.ctx, citizen, code.Value, p.pub())
			assert.ErrorIs(t, err, mobile.ErrExpired)
			_, err = e.svc.ActivateWithCode(e.ctx, citizen, code.Value, p.pub())
			assert.ErrorIs(t, err, mobile.ErrNoCode, "an expired code is dropped")
		})
		t.Run("a new code supersedes", func(t *testing.T) {
			first, err := e.svc.IssueActivationCode(e.ctx, citizen)
			require.NoError(t, err)
			second, err := e.svc.IssueActivationCode(e.ctx, citizen)
			require.NoError(t, err)
			if first.Value != second.Value {
				_, err = e.svc.ActivateWithCode(e.ctx, citizen, first.Value, p.pub())
				assert.ErrorIs(t, err, mobile.ErrWrongCode)
			}
			_, err = e.svc.ActivateWithCode(e.ctx, citizen, second.Value, p.pub())
			assert.NoError(t, err)
		})
		t.Run("codes are per citizen", func(t *testing.T) {
			code, err := e.svc.IssueActivationCode(e.ctx, otherOne)
			require.NoError(t, err)
			_, err = e.svc.ActivateWithCode(e.ctx, citizen, code.Value, p.pub())
			assert.ErrorIs(t, err, mobile.ErrNoCode)
		})
	})
}

// TestActivationDecoyNeverVerifies: a decoy answers like a real code, but no
// code activates with it.
func TestActivationDecoyNeverVerifies(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		code, err := e.svc.IssueActivationDecoy(e.ctx, citizen)
		require.NoError(t, err)
		assert.Empty(t, code.Value)
		assert.True(t, t0.Add(10*time.Minute).Equal(code.ExpiresAt))
		for _, guess := range []string{"000000", "123456", ""} {
			_, err = e.svc.ActivateWithCode(e.ctx, citizen, guess, newPhone(1).pub())
			assert.Error(t, err)
			assert.NotErrorIs(t, err, mobile.ErrNoCode, "it counts like a real code")
		}
	})
}

func TestActivationRefusesBadInput(t *testing.T) {
	e := newEnv(t, mobile.NewMemoryStore())
	p := newPhone(1)
	_, err := e.svc.Activate(e.ctx, "12345678A", mobile.ByCertificate, p.pub())
	assert.ErrorIs(t, err, mobile.ErrBadCitizen, "wrong check letter")
	_, err = e.svc.Activate(e.ctx, "ES/DE/123", mobile.ByCertificate, p.pub())
	assert.ErrorIs(t, err, mobile.ErrBadCitizen, "eIDAS identifiers have no Cl@ve Móvil")
	_, err = e.svc.Activate(e.ctx, citizen, mobile.BySMS, p.pub())
	assert.ErrorIs(t, err, mobile.ErrBadMethod, "SMS goes through the code")
	_, err = e.svc.Activate(e.ctx, citizen, "fingerprint", p.pub())
	assert.ErrorIs(t, err, mobile.ErrBadMethod)
	_, err = e.svc.Activate(e.ctx, citizen, mobile.ByDNIe, p.pub()[:16])
	assert.ErrorIs(t, err, mobile.ErrBadKey)
	_, err = e.svc.IssueActivationCode(e.ctx, "nobody")
	assert.ErrorIs(t, err, mobile.ErrBadCitizen)
}

// TestOneActiveDevicePerCitizen: activating a second device replaces the
// first, whose confirmations are refused from then on.
func TestOneActiveDevicePerCitizen(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		first := e.activate(t, citizen, 1)
		r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
		signedEarly, sigEarly := first.sign(t, r, mobile.Confirm, e.clock.Now())

		e.clock.Advance(time.Second)
		second := newPhone(2)
		d, err := e.svc.Activate(e.ctx, citizen, mobile.ByDNIe, second.pub())
		require.NoError(t, err)
		second.dev = d

		old, err := e.svc.Device(e.ctx, first.dev.ID)
		require.NoError(t, err)
		assert.Equal(t, mobile.DeviceReplaced, old.Status)
		assert.True(t, t0.Add(time.Second).Equal(old.DeactivatedAt))
		active, err := e.svc.ActiveDevice(e.ctx, citizen)
		require.NoError(t, err)
		assert.Equal(t, d.ID, active.ID)

		_, err = e.svc.Decide(e.ctx, first.dev.ID, signedEarly, sigEarly)
		assert.ErrorIs(t, err, mobile.ErrDeviceInactive, "signed before the takeover, refused after")
		payload, sig := first.sign(t, r, mobile.Confirm, e.clock.Now())
		_, err = e.svc.Decide(e.ctx, first.dev.ID, payload, sig)
		assert.ErrorIs(t, err, mobile.ErrDeviceInactive)
		_, err = e.svc.PendingRequests(e.ctx, first.dev.ID)
		assert.ErrorIs(t, err, mobile.ErrDeviceInactive)

		// The second device's key under the first device's ID is a forgery.
		payload, sig = second.sign(t, r, mobile.Confirm, e.clock.Now())
		_, err = e.svc.Decide(e.ctx, first.dev.ID, payload, sig)
		assert.ErrorIs(t, err, mobile.ErrBadSignature)

		got, err := e.svc.Decide(e.ctx, second.dev.ID, payload, sig)
		require.NoError(t, err)
		assert.Equal(t, mobile.StateConfirmed, got.State)
		assert.Equal(t, second.dev.ID, got.DeviceID)

		// Another citizen's device stays active.
		e.activate(t, otherOne, 3)
		active, err = e.svc.ActiveDevice(e.ctx, citizen)
		require.NoError(t, err)
		assert.Equal(t, d.ID, active.ID)
	})
}

func TestDeactivate(t *testing.T) {
	forEachStore(t, func(t *testing.T, st mobile.Store) {
		e := newEnv(t, st)
		p := e.activate(t, citizen, 1)
		assert.ErrorIs(t, e.svc.Deactivate(e.ctx, otherOne, p.dev.ID), mobile.ErrNoDevice, "not the other citizen's to switch off")
		require.NoError(t, e.svc.Deactivate(e.ctx, citizen, p.dev.ID))
		assert.ErrorIs(t, e.svc.Deactivate(e.ctx, citizen, p.dev.ID), mobile.ErrDeviceInactive)
		d, err := e.svc.Device(e.ctx, p.dev.ID)
		require.NoError(t, err)
		assert.Equal(t, mobile.DeviceDeactivated, d.Status)
		_, err = e.svc.ActiveDevice(e.ctx, citizen)
		assert.ErrorIs(t, err, mobile.ErrNoDevice)
		_, err = e.svc.Device(e.ctx, "unknown")
		assert.ErrorIs(t, err, mobile.ErrNoDevice)
	})
}

// TestAccountKeepsFewDevices: activations do not grow an account forever.
func TestAccountKeepsFewDevices(t *testing.T) {
	var a mobile.Account
	for i := range 8 {
		a.Activate(mobile.Device{ID: string(rune('a' + i))}, t0.Add(time.Duration(i)*time.Minute))
	}
	assert.Len(t, a.Devices, 5)
	d, ok := a.Active()
	require.True(t, ok)
	assert.Equal(t, "h", d.ID)
	n := 0
	for _, d := range a.Devices {
		if d.Active() {
			n++
		}
	}
	assert.Equal(t, 1, n)
}
