// Package sptest holds the conformance suites of the agency side's stores:
// every clave.ReplayCache and clave.SessionStore of this module runs the same
// cases, whatever it is built on (the model: dex's storage/conformance).
//
//	func TestReplayCache(t *testing.T) {
//		sptest.RunReplayCacheTests(t, sptest.Target[clave.ReplayCache]{
//			New: func(t *testing.T, now func() time.Time) func() clave.ReplayCache { ... },
//		})
//	}
//
// Tests only: it imports testing, and production code never imports it.
package sptest

import (
	"sync"
	"testing"
	"time"
)

// Target is a store under test.
type Target[S any] struct {
	// New makes a fresh, empty store for one test, whose entries expire on
	// now, and returns a function that opens handles on it. Each handle
	// stands for one replica: for a shared store (a database, Redis) a
	// client with connections of its own; for an in-process store, the
	// same value every time.
	New func(t *testing.T, now func() time.Time) (open func() S)
	// OwnClock is set for a store that expires entries on a clock of its
	// own, which a test cannot move (Redis's): its cases start at the real
	// time, and those that move time are skipped.
	OwnClock bool
}

// start is the fixed time the cases of a store on the suite's clock begin
// at: whole seconds, so that millisecond storage rounds nothing.
var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// clock is the suite's clock: it moves only when a case says so.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is what one case gets: the store's first handle, a way to open more,
// and the clock.
type env[S any] struct {
	open  func() S
	s     S
	clock *clock
	// ownClock: see Target.OwnClock.
	ownClock bool
}

// run runs each case in a subtest of its own, on a fresh store.
func run[S any](t *testing.T, target Target[S], cases []testCase[S]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.movesTime && target.OwnClock {
				t.Skip("the store expires entries on a clock of its own")
			}
			c := &clock{now: start}
			if target.OwnClock {
				c.now = time.Now()
			}
			open := target.New(t, c.Now)
			tc.run(t, &env[S]{open: open, s: open(), clock: c, ownClock: target.OwnClock})
		})
	}
}

type testCase[S any] struct {
	name string
	// movesTime marks the cases that advance the clock.
	movesTime bool
	run       func(t *testing.T, e *env[S])
}
