package seal

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type payload struct{ A string }

func TestSealRoundTripAndRefusals(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := New(secret, "login")
	require.NoError(t, err)
	v, err := s.Seal("c1", payload{"x"}, now.Add(time.Minute))
	require.NoError(t, err)

	var got payload
	require.NoError(t, s.Open("c1", v, now, &got))
	assert.Equal(t, "x", got.A)

	assert.ErrorIs(t, s.Open("c2", v, now, &got), ErrInvalid, "bound to the cookie name")
	assert.ErrorIs(t, s.Open("c1", v, now.Add(time.Minute), &got), ErrInvalid, "expired")
	other, err := New(secret, "session")
	require.NoError(t, err)
	assert.ErrorIs(t, other.Open("c1", v, now, &got), ErrInvalid, "bound to the purpose")
	tampered := []byte(v)
	tampered[len(tampered)/2] ^= 1
	assert.ErrorIs(t, s.Open("c1", string(tampered), now, &got), ErrInvalid)
	assert.ErrorIs(t, s.Open("c1", "", now, &got), ErrInvalid)

	_, err = New(secret[:31], "login")
	assert.Error(t, err)
}
