package sptest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
)

// RunReplayCacheTests runs the ReplayCache conformance cases against target.
func RunReplayCacheTests(t *testing.T, target Target[clave.ReplayCache]) {
	run(t, target, []testCase[clave.ReplayCache]{
		{name: "first use, then used", run: testReplayFirstUse},
		{name: "IDs are distinct", run: testReplayDistinctIDs},
		{name: "a past expiry records nothing", run: testReplayPastExpiry},
		{name: "a live entry is never shortened", run: testReplayNotShortened},
		{name: "far-future expiry", run: testReplayFarFuture},
		{name: "expires exactly at its expiry", movesTime: true, run: testReplayExpiry},
		{name: "many expired entries", movesTime: true, run: testReplayManyExpired},
		{name: "concurrent uses on two replicas", run: testReplayConcurrent},
	})
}

func use(t *testing.T, c clave.ReplayCache, id string, expiry time.Time) bool {
	t.Helper()
	used, err := c.Use(context.Background(), id, expiry)
	require.NoError(t, err, "Use(%q)", id)
	return used
}

func testReplayFirstUse(t *testing.T, e *env[clave.ReplayCache]) {
	now := e.clock.Now()
	assert.False(t, use(t, e.s, "_a1", now.Add(time.Hour)), "first use")
	assert.True(t, use(t, e.s, "_a1", now.Add(time.Hour)), "second use")
	assert.True(t, use(t, e.s, "_a1", now.Add(2*time.Hour)), "second use, with a later expiry")
	assert.True(t, use(t, e.s, "_a1", now.Add(time.Minute)), "second use, with an earlier expiry")
}

func testReplayDistinctIDs(t *testing.T, e *env[clave.ReplayCache]) {
	exp := e.clock.Now().Add(time.Hour)
	ids := []string{"_a", "_A", "_a ", " _a", "_b", "_" + strings.Repeat("0123456789abcdef", 16), "_é✓", "a:b/c%d*"}
	for _, id := range ids {
		assert.False(t, use(t, e.s, id, exp), "first use of %q", id)
	}
	for _, id := range ids {
		assert.True(t, use(t, e.s, id, exp), "second use of %q", id)
	}
}

// testReplayPastExpiry: an expiry already past records nothing. The store
// may say so with an error (it cannot vouch for an entry it did not keep),
// but never that a fresh ID was used, nor keep it from a later use.
func testReplayPastExpiry(t *testing.T, e *env[clave.ReplayCache]) {
	now := e.clock.Now()
	for i, exp := range []time.Time{now.Add(-time.Second), now.Add(-24 * time.Hour), {}} {
		id := "_past" + strconv.Itoa(i)
		for range 2 {
			used, err := e.s.Use(context.Background(), id, exp)
			if err == nil {
				assert.False(t, used, "%s, expiry %v: a fresh ID is not used", id, exp)
			}
		}
		assert.False(t, use(t, e.s, id, now.Add(time.Hour)), "%s: nothing was recorded", id)
		assert.True(t, use(t, e.s, id, now.Add(time.Hour)))
	}
}

func testReplayNotShortened(t *testing.T, e *env[clave.ReplayCache]) {
	now := e.clock.Now()
	require.False(t, use(t, e.s, "_live", now.Add(time.Hour)))
	for _, exp := range []time.Time{now.Add(-time.Hour), {}, now.Add(time.Millisecond)} {
		assert.True(t, use(t, e.s, "_live", exp), "expiry %v", exp)
	}
	assert.True(t, use(t, e.s, "_live", now.Add(time.Hour)), "still live")
	if !e.ownClock {
		e.clock.Advance(time.Hour - time.Millisecond)
		assert.True(t, use(t, e.s, "_live", now.Add(2*time.Hour)), "live until its first expiry")
	}
}

func testReplayFarFuture(t *testing.T, e *env[clave.ReplayCache]) {
	now := e.clock.Now()
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	require.False(t, use(t, e.s, "_far", far))
	assert.True(t, use(t, e.s, "_far", now.Add(time.Hour)), "no overflow into the past")
	assert.True(t, use(t, e.s, "_far", time.Time{}))
}

func testReplayExpiry(t *testing.T, e *env[clave.ReplayCache]) {
	t0 := e.clock.Now()
	require.False(t, use(t, e.s, "_e", t0.Add(time.Minute)))
	e.clock.Advance(time.Minute - time.Millisecond)
	assert.True(t, use(t, e.s, "_e", t0.Add(time.Hour)), "a millisecond before its expiry")
	e.clock.Advance(time.Millisecond)
	assert.False(t, use(t, e.s, "_e", t0.Add(10*time.Minute)), "at its expiry it may be used again")
	assert.True(t, use(t, e.s, "_e", t0.Add(10*time.Minute)), "and is then used until the new expiry")
	e.clock.Advance(9*time.Minute - time.Millisecond)
	assert.True(t, use(t, e.s, "_e", t0.Add(time.Hour)))
	e.clock.Advance(time.Millisecond)
	assert.False(t, use(t, e.s, "_e", t0.Add(time.Hour)))
}

func testReplayManyExpired(t *testing.T, e *env[clave.ReplayCache]) {
	t0 := e.clock.Now()
	const n = 200
	require.False(t, use(t, e.s, "_keep", t0.Add(time.Hour)))
	for i := range n {
		require.False(t, use(t, e.s, "_burst"+strconv.Itoa(i), t0.Add(time.Second)))
	}
	e.clock.Advance(2 * time.Second)
	for i := range n {
		assert.False(t, use(t, e.s, "_burst"+strconv.Itoa(i), t0.Add(time.Hour)), "expired entry %d may be used again", i)
		assert.True(t, use(t, e.s, "_keep", t0.Add(time.Hour)), "a live entry stays used meanwhile")
	}
	for i := range n {
		assert.True(t, use(t, e.s, "_burst"+strconv.Itoa(i), t0.Add(time.Hour)))
	}
}

// testReplayConcurrent: the same ID used at once, by goroutines spread
// over two replicas, is accepted exactly once, round after round.
func testReplayConcurrent(t *testing.T, e *env[clave.ReplayCache]) {
	const rounds, callers = 10, 16
	replicas := []clave.ReplayCache{e.s, e.open()}
	exp := e.clock.Now().Add(time.Hour)
	for round := range rounds {
		id := fmt.Sprintf("_race%d", round)
		var wg sync.WaitGroup
		var mu sync.Mutex
		fresh, errs := 0, 0
		startLine := make(chan struct{})
		for i := range callers {
			c := replicas[i%len(replicas)]
			wg.Go(func() {
				<-startLine
				used, err := c.Use(context.Background(), id, exp)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					errs++
					t.Errorf("Use: %v", err)
				case !used:
					fresh++
				}
			})
		}
		close(startLine)
		wg.Wait()
		assert.Equal(t, 1, fresh, "round %d: exactly one caller may use the ID", round)
		assert.Zero(t, errs)
	}
}
