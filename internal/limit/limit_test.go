package limit

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWindow(t *testing.T) {
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	w := &Window{Max: 2, Per: time.Minute, MaxKeys: 3, Now: func() time.Time { return now }}
	for range 2 {
		ok, _ := w.Allow("a")
		require.True(t, ok)
	}
	ok, retry := w.Allow("a")
	assert.False(t, ok, "a third event in the window")
	assert.Equal(t, now.Add(time.Minute), retry)
	ok, _ = w.Allow("b")
	assert.True(t, ok, "keys are counted apart")

	// Full of live keys: a new key is refused rather than remembered.
	ok, _ = w.Allow("c")
	require.True(t, ok)
	ok, _ = w.Allow("d")
	assert.False(t, ok, "memory is bounded: deny on doubt")
	assert.Len(t, w.keys, 3)

	now = now.Add(time.Minute)
	ok, _ = w.Allow("d")
	assert.True(t, ok, "expired keys make room")
	ok, _ = w.Allow("a")
	assert.True(t, ok, "a new window")
}

func TestDistinct(t *testing.T) {
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	d := &Distinct{Max: 3, Per: time.Minute, MaxKeys: 2, Now: func() time.Time { return now }}
	for i := range 3 {
		ok, _ := d.Allow("client", fmt.Sprint(i))
		require.True(t, ok)
	}
	ok, _ := d.Allow("client", "0")
	assert.True(t, ok, "a value already seen is always allowed")
	ok, retry := d.Allow("client", "3")
	assert.False(t, ok, "a fourth distinct value")
	assert.Equal(t, now.Add(time.Minute), retry)

	ok, _ = d.Allow("other", "x")
	require.True(t, ok)
	ok, _ = d.Allow("third", "x")
	assert.False(t, ok, "memory is bounded: deny on doubt")

	now = now.Add(time.Minute)
	ok, _ = d.Allow("client", "3")
	assert.True(t, ok, "a new window")
	ok, _ = d.Allow("third", "x")
	assert.True(t, ok, "expired keys make room")
}
