// Package pintest is the conformance suite of [pin.Store]: [pin.MemoryStore],
// [pin.SQLStore] and any store written outside this module run the same tests,
// so that [pin.Service] enforces the Cl@ve PIN rules alike on each. It is
// imported by tests only (the _test.go files of each implementation), never
// by production code, so that neither the testing package nor testify is
// linked into a gateway.
package pintest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/pin"
)

// RunStoreTests checks that a [pin.Store] implementation honours the
// contract [pin.Service] relies on: copies in and out, all-or-nothing updates,
// deletion of empty records, exact round-trips of every field, and atomic
// read-modify-write under concurrency, also while the record is deleted and
// created again. newStore must return a fresh, empty store each time; run
// the suite under -race.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) pin.Store) {
	t.Helper()
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s pin.Store)
	}{
		{"GetMissing", confGetMissing},
		{"RoundTrip", confRoundTrip},
		{"NoPending", confNoPending},
		{"FnErrorSavesNothing", confFnErrorSavesNothing},
		{"ZeroRecordIsDeleted", confZeroRecordIsDeleted},
		{"CopiesOut", confCopiesOut},
		{"CopiesIn", confCopiesIn},
		{"CitizensAreSeparate", confCitizensAreSeparate},
		{"CancelledContext", confCancelledContext},
		{"AtomicUpdates", confAtomicUpdates},
		{"AtomicCreateAndDelete", confAtomicCreateAndDelete},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
}

const (
	confCitizen = "12345678Z"
	confOther   = "X1234567L"
)

// confTime has nanoseconds and a non-UTC zone, so a store that rounds or
// mishandles zones is caught; comparisons use time.Time.Equal.
var confTime = time.Date(2031, 5, 17, 9, 30, 15, 123456789, time.FixedZone("CEST", 2*3600))

func confRecord() pin.Record {
	return pin.Record{
		Pending: &pin.Pending{
			RequestCode: "AB2Z",
			Hash:        []byte("0123456789abcdef0123456789abcdef"),
			ExpiresAt:   confTime.Add(10 * time.Minute),
			Used:        true,
		},
		Failures:     17,
		BlockedUntil: confTime.Add(24 * time.Hour),
		Requests:     []time.Time{confTime.Add(-time.Hour), confTime.Add(-time.Minute), confTime},
	}
}

// clone copies r deeply, as a store must on the way in and out; the suite
// uses it to keep what it saved apart from what the store may alias.
func clone(r pin.Record) pin.Record {
	if r.Pending != nil {
		p := *r.Pending
		p.Hash = slices.Clone(p.Hash)
		r.Pending = &p
	}
	r.Requests = slices.Clone(r.Requests)
	return r
}

func assertRecord(t *testing.T, want, got pin.Record) {
	t.Helper()
	assert.Equal(t, want.Failures, got.Failures, "Failures")
	assert.True(t, want.BlockedUntil.Equal(got.BlockedUntil), "BlockedUntil: want %v, got %v", want.BlockedUntil, got.BlockedUntil)
	if assert.Equal(t, want.Pending == nil, got.Pending == nil, "pin.Pending presence") && want.Pending != nil {
		assert.Equal(t, want.Pending.RequestCode, got.Pending.RequestCode, "RequestCode")
		assert.Equal(t, want.Pending.Hash, got.Pending.Hash, "Hash")
		assert.True(t, want.Pending.ExpiresAt.Equal(got.Pending.ExpiresAt), "ExpiresAt: want %v, got %v", want.Pending.ExpiresAt, got.Pending.ExpiresAt)
		assert.Equal(t, want.Pending.Used, got.Pending.Used, "Used")
	}
	if assert.Len(t, got.Requests, len(want.Requests), "Requests") {
		for i := range want.Requests {
			assert.True(t, want.Requests[i].Equal(got.Requests[i]), "Requests[%d]: want %v, got %v", i, want.Requests[i], got.Requests[i])
		}
	}
}

func confPut(t *testing.T, s pin.Store, citizen string, r pin.Record) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), citizen, func(got *pin.Record) error {
		*got = clone(r)
		return nil
	}))
}

func confGetMissing(t *testing.T, s pin.Store) {
	_, err := s.Get(context.Background(), confCitizen)
	assert.ErrorIs(t, err, pin.ErrNoRecord)
}

func confRoundTrip(t *testing.T, s pin.Store) {
	ctx := context.Background()
	var seen *pin.Record
	require.NoError(t, s.Update(ctx, confCitizen, func(r *pin.Record) error {
		c := clone(*r)
		seen = &c
		*r = confRecord()
		return nil
	}))
	assertRecord(t, pin.Record{}, *seen) // a missing record reaches fn as zero
	got, err := s.Get(ctx, confCitizen)
	require.NoError(t, err)
	assertRecord(t, confRecord(), got)

	// Update sees what was saved, and saves changes to one field only.
	require.NoError(t, s.Update(ctx, confCitizen, func(r *pin.Record) error {
		assertRecord(t, confRecord(), *r)
		r.Failures = 3
		return nil
	}))
	got, err = s.Get(ctx, confCitizen)
	require.NoError(t, err)
	want := confRecord()
	want.Failures = 3
	assertRecord(t, want, got)
}

func confNoPending(t *testing.T, s pin.Store) {
	r := confRecord()
	r.Pending = nil
	r.BlockedUntil = time.Time{}
	confPut(t, s, confCitizen, r)
	got, err := s.Get(context.Background(), confCitizen)
	require.NoError(t, err)
	assertRecord(t, r, got)
	assert.True(t, got.BlockedUntil.IsZero(), "the zero time round-trips as zero")
}

func confFnErrorSavesNothing(t *testing.T, s pin.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Update(ctx, confCitizen, func(r *pin.Record) error {
		*r = confRecord()
		return boom
	})
	assert.ErrorIs(t, err, boom)
	_, err = s.Get(ctx, confCitizen)
	assert.ErrorIs(t, err, pin.ErrNoRecord, "a failed update creates nothing")

	confPut(t, s, confCitizen, confRecord())
	err = s.Update(ctx, confCitizen, func(r *pin.Record) error {
		r.Failures = 99
		r.Pending.Used = false
		r.Pending.Hash[0] = 'X'
		r.Requests[0] = time.Time{}
		r.Requests = append(r.Requests, confTime)
		return fmt.Errorf("wrapped: %w", boom)
	})
	assert.ErrorIs(t, err, boom)
	got, err := s.Get(ctx, confCitizen)
	require.NoError(t, err)
	assertRecord(t, confRecord(), got)
}

func confZeroRecordIsDeleted(t *testing.T, s pin.Store) {
	ctx := context.Background()
	confPut(t, s, confCitizen, confRecord())
	confPut(t, s, confCitizen, pin.Record{})
	_, err := s.Get(ctx, confCitizen)
	assert.ErrorIs(t, err, pin.ErrNoRecord)
	require.NoError(t, s.Update(ctx, confOther, func(*pin.Record) error { return nil }))
	_, err = s.Get(ctx, confOther)
	assert.ErrorIs(t, err, pin.ErrNoRecord, "an untouched missing record is not created")
}

func confCopiesOut(t *testing.T, s pin.Store) {
	ctx := context.Background()
	confPut(t, s, confCitizen, confRecord())
	got, err := s.Get(ctx, confCitizen)
	require.NoError(t, err)
	got.Pending.Hash[0] = 'X'
	got.Pending.Used = false
	got.Requests[0] = time.Time{}
	again, err := s.Get(ctx, confCitizen)
	require.NoError(t, err)
	assertRecord(t, confRecord(), again)
}

func confCopiesIn(t *testing.T, s pin.Store) {
	ctx := context.Background()
	var kept *pin.Record
	require.NoError(t, s.Update(ctx, confCitizen, func(r *pin.Record) error {
		*r = confRecord()
		kept = r
		return nil
	}))
	kept.Pending.Hash[0] = 'X'
	kept.Failures = 0
	kept.Requests[0] = time.Time{}
	got, err := s.Get(ctx, confCitizen)
	require.NoError(t, err)
	assertRecord(t, confRecord(), got)
}

func confCitizensAreSeparate(t *testing.T, s pin.Store) {
	ctx := context.Background()
	confPut(t, s, confCitizen, confRecord())
	other := pin.Record{Failures: 1}
	confPut(t, s, confOther, other)
	got, err := s.Get(ctx, confOther)
	require.NoError(t, err)
	assertRecord(t, other, got)
	got, err = s.Get(ctx, confCitizen)
	require.NoError(t, err)
	assertRecord(t, confRecord(), got)
}

func confCancelledContext(t *testing.T, s pin.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := s.Update(ctx, confCitizen, func(r *pin.Record) error {
		called = true
		r.Failures = 1
		return nil
	})
	assert.Error(t, err)
	assert.False(t, called, "fn does not run without a transaction")
	_, err = s.Get(context.Background(), confCitizen)
	assert.ErrorIs(t, err, pin.ErrNoRecord)
}

// confAtomicUpdates increments a counter from many goroutines: any lost
// update means two read-modify-writes interleaved.
func confAtomicUpdates(t *testing.T, s pin.Store) {
	const n = 40
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			citizen := confCitizen
			if i%4 == 0 {
				citizen = confOther
			}
			errs <- s.Update(ctx, citizen, func(r *pin.Record) error {
				r.Failures++
				r.Requests = append(r.Requests, confTime.Add(time.Duration(i)))
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	a, err := s.Get(ctx, confCitizen)
	require.NoError(t, err)
	b, err := s.Get(ctx, confOther)
	require.NoError(t, err)
	assert.Equal(t, n-n/4, a.Failures)
	assert.Len(t, a.Requests, n-n/4)
	assert.Equal(t, n/4, b.Failures)
	assert.Len(t, b.Requests, n/4)
}

// confAtomicCreateAndDelete races updates on a record that keeps being
// deleted (by going back to zero) and created again: each update must still
// see the one before, whether it found the record, created it, or waited
// for another to delete it.
func confAtomicCreateAndDelete(t *testing.T, s pin.Store) {
	const n, every = 40, 3
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- s.Update(ctx, confCitizen, func(r *pin.Record) error {
				if r.Failures++; r.Failures == every {
					*r = pin.Record{}
				}
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	r, err := s.Get(ctx, confCitizen)
	require.NoError(t, err)
	assert.Equal(t, n%every, r.Failures, "every update counted, across deletions")
}
