package clave

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemorySessionStoreBound: a full store evicts the session expiring
// first (its citizen logs in again), and expired sessions are swept a few
// at a time.
func TestMemorySessionStoreBound(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	s := NewMemorySessionStore(3).WithClock(func() time.Time { return now })
	ctx := context.Background()
	for i, d := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour} {
		require.NoError(t, s.Save(ctx, "s"+strconv.Itoa(i), []byte{byte(i)}, t0.Add(d)))
	}
	require.NoError(t, s.Save(ctx, "s3", []byte{3}, t0.Add(4*time.Hour)))
	assert.Equal(t, 3, len(s.entries))
	_, err := s.Load(ctx, "s1")
	assert.ErrorIs(t, err, ErrNoSession, "the session expiring first was evicted")
	for _, id := range []string{"s0", "s2", "s3"} {
		_, err := s.Load(ctx, id)
		assert.NoError(t, err, id)
	}
	require.NoError(t, s.Save(ctx, "s0", []byte{9}, t0.Add(5*time.Hour)))
	assert.Equal(t, 3, len(s.entries), "replacing a session takes no room")
	assert.Equal(t, len(s.entries), len(s.byExp))

	big := NewMemorySessionStore(0).WithClock(func() time.Time { return now })
	for i := range 100 {
		require.NoError(t, big.Save(ctx, "b"+strconv.Itoa(i), nil, t0.Add(time.Minute)))
	}
	now = t0.Add(time.Hour)
	for i := 0; len(big.entries) > 0; i++ {
		before := len(big.entries)
		_, err := big.Load(ctx, "none")
		assert.ErrorIs(t, err, ErrNoSession)
		assert.LessOrEqual(t, before-len(big.entries), sweepPerUse, "a few per call")
		require.Less(t, i, 100, "expired sessions are swept")
	}
	assert.Empty(t, big.byExp)
}
