package clave

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryReplayCacheSweepsIncrementally: when ten thousand entries expire
// at once, no single Use removes more than a few of them (the work is
// counted, not timed), entries still live are refused throughout, and the
// expired ones are all gone after enough Uses.
func TestMemoryReplayCacheSweepsIncrementally(t *testing.T) {
	const n = 10_000
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	c := NewMemoryReplayCache(n).WithClock(func() time.Time { return now })
	ctx := context.Background()
	used, err := c.Use(ctx, "live", t0.Add(time.Hour))
	require.NoError(t, err)
	require.False(t, used)
	for i := range n - 1 {
		used, err := c.Use(ctx, "burst-"+strconv.Itoa(i), t0.Add(time.Second))
		require.NoError(t, err)
		require.False(t, used)
	}
	require.Equal(t, 0, c.swept, "nothing expired yet")
	_, err = c.Use(ctx, "one-too-many", t0.Add(time.Hour))
	require.ErrorIs(t, err, ErrReplayCacheFull, "full of live entries")

	now = t0.Add(2 * time.Second) // n-1 entries expire at once
	for i := 0; len(c.entries) > 1+i; i++ {
		before := c.swept
		used, err := c.Use(ctx, "new-"+strconv.Itoa(i), now.Add(time.Hour))
		require.NoError(t, err)
		require.False(t, used)
		require.LessOrEqual(t, c.swept-before, sweepPerUse, "Use %d removed %d entries", i, c.swept-before)
		require.Equal(t, len(c.entries), len(c.byExp))

		used, err = c.Use(ctx, "live", now.Add(time.Hour))
		require.NoError(t, err)
		require.True(t, used, "a live entry is refused while others are swept")
	}
	assert.Equal(t, n-1, c.swept, "every expired entry went, none of the live ones")
	for _, e := range c.entries {
		assert.Greater(t, e.exp, unixNano(now), e.id)
	}
}

func TestMemoryReplayCacheSemantics(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	c := NewMemoryReplayCache(3).WithClock(func() time.Time { return now })
	ctx := context.Background()
	use := func(id string, expiry time.Time) (bool, error) {
		t.Helper()
		return c.Use(ctx, id, expiry)
	}

	for _, id := range []string{"a", "b", "c"} {
		used, err := use(id, t0.Add(time.Duration(len(c.entries)+1)*time.Minute))
		require.NoError(t, err)
		require.False(t, used)
	}
	used, err := use("a", t0.Add(time.Hour))
	require.NoError(t, err)
	assert.True(t, used, "refused until its expiry, even when full")
	_, err = use("d", t0.Add(time.Hour))
	assert.ErrorIs(t, err, ErrReplayCacheFull, "full of live entries: refuse rather than forget")

	now = t0.Add(time.Minute) // "a" expires, exactly at its expiry
	used, err = use("a", t0.Add(10*time.Minute))
	require.NoError(t, err)
	assert.False(t, used, "an expired ID may be used again")
	used, _ = use("a", t0.Add(10*time.Minute))
	assert.True(t, used, "and is then refused until its new expiry")

	now = t0.Add(2 * time.Minute) // "b" expires: room for "d"
	used, err = use("d", t0.Add(time.Hour))
	require.NoError(t, err)
	assert.False(t, used)
	used, _ = use("c", t0.Add(time.Hour))
	assert.True(t, used, "c is still live")

	now = t0.Add(time.Hour)
	used, err = use("zero", time.Time{})
	require.NoError(t, err)
	assert.False(t, used)
	used, err = use("zero", time.Time{})
	require.NoError(t, err)
	assert.False(t, used, "an entry expiring at the zero time is already expired")
	used, _ = use("far", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	assert.False(t, used)
	used, _ = use("far", time.Time{})
	assert.True(t, used, "an expiry past 2262 does not overflow into the past")
}

// TestMemoryReplayCacheConcurrentUse: of concurrent Uses of one ID exactly one
// wins.
func TestMemoryReplayCacheConcurrentUse(t *testing.T) {
	c := NewMemoryReplayCache(0)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			used, err := c.Use(context.Background(), "same", time.Now().Add(time.Minute))
			assert.NoError(t, err)
			if !used {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
}

// BenchmarkReplayCache measures Use on a cache of a million entries, the
// default bound. "rolling" keeps it at capacity with one entry expiring per
// insert (a steady login rate at the bound); "burst" has the whole million
// expire at once before the inserts start. worst-ns is the slowest single
// Use, what one unlucky login waits (on a busy machine, mostly scheduling and
// the collector); max-swept/op the most entries one Use removed.
func BenchmarkReplayCache(b *testing.B) {
	const size = 1_000_000
	const tick = time.Microsecond
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()

	run := func(b *testing.B, c *MemoryReplayCache, now *time.Time, expiry func(time.Time) time.Time) {
		var worst time.Duration
		n, mostSwept := 0, 0
		for b.Loop() {
			*now = now.Add(tick)
			start, swept := time.Now(), c.swept
			used, err := c.Use(ctx, "new-"+strconv.Itoa(n), expiry(*now))
			if d := time.Since(start); d > worst {
				worst = d
			}
			mostSwept = max(mostSwept, c.swept-swept)
			if used || err != nil {
				b.Fatalf("insert %d: used %v, err %v", n, used, err)
			}
			n++
		}
		b.ReportMetric(float64(worst.Nanoseconds()), "worst-ns")
		b.ReportMetric(float64(mostSwept), "max-swept/op")
	}

	b.Run("rolling", func(b *testing.B) {
		now := t0
		c := NewMemoryReplayCache(size).WithClock(func() time.Time { return now })
		for i := range size {
			_, _ = c.Use(ctx, "old-"+strconv.Itoa(i), t0.Add(time.Duration(i+1)*tick))
		}
		run(b, c, &now, func(now time.Time) time.Time { return now.Add(size * tick) })
	})
	b.Run("burst", func(b *testing.B) {
		now := t0
		c := NewMemoryReplayCache(size).WithClock(func() time.Time { return now })
		for i := range size {
			_, _ = c.Use(ctx, "old-"+strconv.Itoa(i), t0.Add(time.Second))
		}
		now = t0.Add(2 * time.Second)
		run(b, c, &now, func(now time.Time) time.Time { return now.Add(100 * time.Millisecond) })
	})
}
