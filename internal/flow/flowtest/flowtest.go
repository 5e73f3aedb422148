// Package flowtest is the conformance suite of [flow.Store]: the memory and
// SQL stores, and any other implementation, run the same tests so that a
// login behaves alike on each. It is imported by tests only (the _test.go
// files of each implementation), never by production code, so that neither
// the testing package nor testify is linked into a gateway.
package flowtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/internal/store"
	"github.com/clave-go/clave/saml"
)

// RunStoreTests checks the [flow.Store] contract: round trips, atomic and
// isolated updates, and request IDs answered once, also to concurrent
// callers. newStore must return a
// fresh, empty store using the clock now; run the suite under -race.
func RunStoreTests(t *testing.T, newStore func(t *testing.T, now func() time.Time) flow.Store) {
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	mk := func(id string) *flow.Flow {
		_, h, err := flow.NewBrowserKey()
		require.NoError(t, err)
		return &flow.Flow{ID: id, BrowserKeyHash: h, SPID: "S1", App: "A", RequestID: "_r", ACSURL: "https://sp/acs",
			RelayState: "rs", MinLoA: saml.LoASubstantial, Disabled: []saml.Method{saml.MethodGISS},
			Attributes: []string{saml.AttrDateOfBirth}, Lang: "es", CreatedAt: base, ExpiresAt: base.Add(30 * time.Minute),
			Data: map[string]string{"k": "v"}}
	}
	t.Run("create get round trip", func(t *testing.T) {
		now := base
		s := newStore(t, func() time.Time { return now })
		f := mk("f1")
		require.NoError(t, s.Create(ctx, f))
		got, err := s.Get(ctx, "f1")
		require.NoError(t, err)
		assert.Equal(t, f, got)
		assert.ErrorIs(t, s.Create(ctx, f), store.ErrConflict)
		_, err = s.Get(ctx, "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("update is atomic and isolated", func(t *testing.T) {
		now := base
		s := newStore(t, func() time.Time { return now })
		require.NoError(t, s.Create(ctx, mk("f2")))
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.NoError(t, s.Update(ctx, "f2", func(f *flow.Flow) error {
					f.Data["n"] += "x"
					return nil
				}))
			}()
		}
		wg.Wait()
		got, err := s.Get(ctx, "f2")
		require.NoError(t, err)
		assert.Len(t, got.Data["n"], 20, "no lost update")
		boom := errors.New("boom")
		assert.ErrorIs(t, s.Update(ctx, "f2", func(f *flow.Flow) error { f.Done = true; return boom }), boom)
		got, _ = s.Get(ctx, "f2")
		assert.False(t, got.Done, "a failed update changes nothing")
		assert.ErrorIs(t, s.Update(ctx, "nope", func(*flow.Flow) error { return nil }), store.ErrNotFound)
	})
	t.Run("request IDs are answered once until they expire", func(t *testing.T) {
		now := base
		s := newStore(t, func() time.Time { return now })
		peek, err := s.RequestSeen(ctx, "S1", "_a")
		require.NoError(t, err)
		assert.False(t, peek, "nothing recorded yet")
		seen, err := s.SeenRequest(ctx, "S1", "_a", now.Add(time.Minute))
		require.NoError(t, err)
		assert.False(t, seen)
		peek, _ = s.RequestSeen(ctx, "S1", "_a")
		assert.True(t, peek, "recorded")
		peek, _ = s.RequestSeen(ctx, "S1", "_b")
		assert.False(t, peek, "a peek records nothing")
		seen, _ = s.SeenRequest(ctx, "S1", "_b", now.Add(time.Minute))
		assert.False(t, seen, "a peek records nothing")
		seen, _ = s.SeenRequest(ctx, "S1", "_a", now.Add(time.Minute))
		assert.True(t, seen)
		seen, _ = s.SeenRequest(ctx, "S2", "_a", now.Add(time.Minute))
		assert.False(t, seen, "per service")
		now = now.Add(2 * time.Minute)
		peek, _ = s.RequestSeen(ctx, "S1", "_a")
		assert.False(t, peek, "expired")
		seen, _ = s.SeenRequest(ctx, "S1", "_a", now.Add(time.Minute))
		assert.False(t, seen, "forgotten after expiry")
		seen, _ = s.SeenRequest(ctx, "S1", "_a", now.Add(time.Minute))
		assert.True(t, seen, "and recorded again")
	})
	t.Run("a request ID is accepted once under concurrency", func(t *testing.T) {
		var mu sync.Mutex
		now := base
		s := newStore(t, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		// Twice: for a new ID, and for one whose record expired and is
		// taken over.
		for round := range 2 {
			mu.Lock()
			expiry := now.Add(time.Hour)
			mu.Unlock()
			const n = 20
			var wg sync.WaitGroup
			seen := make([]bool, n)
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() { seen[i], errs[i] = s.SeenRequest(ctx, "S1", "_c", expiry) })
			}
			wg.Wait()
			fresh := 0
			for i := range n {
				require.NoError(t, errs[i])
				if !seen[i] {
					fresh++
				}
			}
			assert.Equal(t, 1, fresh, "round %d: exactly one caller gets the ID", round)
			mu.Lock()
			now = now.Add(2 * time.Hour)
			mu.Unlock()
		}
	})
}
