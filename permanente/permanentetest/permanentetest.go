// Package permanentetest is the conformance suite of [permanente.Store]:
// [permanente.MemoryStore], [permanente.SQLStore] and any store written
// outside this module run the same tests, so that [permanente.Service]
// enforces the Cl@ve Permanente rules alike on each. It is imported by tests
// only (the _test.go files of each implementation), never by production
// code, so that neither the testing package nor testify is linked into a
// gateway.
package permanentetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/permanente"
)

// RunStoreTests checks that a [permanente.Store] implementation honours the
// contract [permanente.Service] relies on: exact round-trips of every field
// (and of every combination of present and absent parts), copies in and
// out, all-or-nothing updates, deletion of zero accounts, citizens kept
// apart, and atomic read-modify-write under concurrency, also while an
// account is deleted and created again. newStore must return a fresh,
// empty store each time; run the suite under -race.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) permanente.Store) {
	t.Helper()
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s permanente.Store)
	}{
		{"Missing", confMissing},
		{"RoundTrip", confRoundTrip},
		{"PartsRoundTrip", confPartsRoundTrip},
		{"FnErrorSavesNothing", confFnErrorSavesNothing},
		{"ZeroIsDeleted", confZeroIsDeleted},
		{"Copies", confCopies},
		{"CitizensApart", confCitizensApart},
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

func bytesOf(b byte) []byte { return slices.Repeat([]byte{b}, 32) }

// confAccount has every part present and every field set.
func confAccount() permanente.Account {
	return permanente.Account{
		Activation: &permanente.Activation{Hash: bytesOf(1), IssuedAt: confTime.Add(-72 * time.Hour), Failures: 4},
		Password: &permanente.Password{
			Hash:     "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
			SetAt:    confTime.Add(-24 * time.Hour),
			Previous: "$argon2id$v=19$m=19456,t=2,p=1$b2xkc2FsdG9sZHNhbHQ$b2xkaGFzaG9sZGhhc2hvbGRoYXNob2xkaGFzaG9sZA",
			Failures: 3,
		},
		Flow: &permanente.Flow{Purpose: permanente.PurposeReset, Step: permanente.StepPassword, Hash: bytesOf(2),
			ExpiresAt: confTime.Add(10 * time.Minute), Failures: 2},
		Login: &permanente.LoginCode{LoginID: "login-7", Hash: bytesOf(3), ExpiresAt: confTime.Add(5 * time.Minute),
			Failures: 1},
	}
}

func assertTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	assert.True(t, want.Equal(got), "%s: want %v, got %v", what, want, got)
}

// assertBytes compares hashes by content: a store may return an empty hash
// as nil.
func assertBytes(t *testing.T, want, got []byte, what string) {
	t.Helper()
	assert.True(t, bytes.Equal(want, got), "%s: want %x, got %x", what, want, got)
}

func assertAccount(t *testing.T, want, got permanente.Account) {
	t.Helper()
	if assert.Equal(t, want.Activation == nil, got.Activation == nil, "Activation presence") && want.Activation != nil {
		w, g := want.Activation, got.Activation
		assertBytes(t, w.Hash, g.Hash, "Activation.Hash")
		assertTime(t, w.IssuedAt, g.IssuedAt, "Activation.IssuedAt")
		assert.Equal(t, w.Failures, g.Failures, "Activation.Failures")
	}
	if assert.Equal(t, want.Password == nil, got.Password == nil, "Password presence") && want.Password != nil {
		w, g := want.Password, got.Password
		assert.Equal(t, w.Hash, g.Hash, "Password.Hash")
		assertTime(t, w.SetAt, g.SetAt, "Password.SetAt")
		assert.Equal(t, w.Previous, g.Previous, "Password.Previous")
		assert.Equal(t, w.Failures, g.Failures, "Password.Failures")
	}
	if assert.Equal(t, want.Flow == nil, got.Flow == nil, "Flow presence") && want.Flow != nil {
		w, g := want.Flow, got.Flow
		assert.Equal(t, w.Purpose, g.Purpose, "Flow.Purpose")
		assert.Equal(t, w.Step, g.Step, "Flow.Step")
		assertBytes(t, w.Hash, g.Hash, "Flow.Hash")
		assertTime(t, w.ExpiresAt, g.ExpiresAt, "Flow.ExpiresAt")
		assert.Equal(t, w.Failures, g.Failures, "Flow.Failures")
	}
	if assert.Equal(t, want.Login == nil, got.Login == nil, "Login presence") && want.Login != nil {
		w, g := want.Login, got.Login
		assert.Equal(t, w.LoginID, g.LoginID, "Login.LoginID")
		assertBytes(t, w.Hash, g.Hash, "Login.Hash")
		assertTime(t, w.ExpiresAt, g.ExpiresAt, "Login.ExpiresAt")
		assert.Equal(t, w.Failures, g.Failures, "Login.Failures")
	}
}

func put(t *testing.T, s permanente.Store, citizen string, a permanente.Account) {
	t.Helper()
	require.NoError(t, s.UpdateAccount(context.Background(), citizen, func(got *permanente.Account) error {
		*got = a.Clone()
		return nil
	}))
}

func get(t *testing.T, s permanente.Store, citizen string) permanente.Account {
	t.Helper()
	a, err := s.Account(context.Background(), citizen)
	require.NoError(t, err)
	return a
}

func confMissing(t *testing.T, s permanente.Store) {
	_, err := s.Account(context.Background(), confCitizen)
	assert.ErrorIs(t, err, permanente.ErrNotFound)
}

func confRoundTrip(t *testing.T, s permanente.Store) {
	ctx := context.Background()
	put(t, s, confCitizen, confAccount())
	assertAccount(t, confAccount(), get(t, s, confCitizen))

	// fn sees what was saved.
	require.NoError(t, s.UpdateAccount(ctx, confCitizen, func(a *permanente.Account) error {
		assertAccount(t, confAccount(), *a)
		a.Password.Failures = 0
		a.Flow = nil
		return nil
	}))
	want := confAccount()
	want.Password.Failures = 0
	want.Flow = nil
	assertAccount(t, want, get(t, s, confCitizen))
}

// confPartsRoundTrip saves every combination of present and absent parts,
// with zero times and empty strings, so that a store cannot tell a part
// apart by a field that happens to be set.
func confPartsRoundTrip(t *testing.T, s permanente.Store) {
	full := confAccount()
	sparse := permanente.Account{
		Activation: &permanente.Activation{Hash: []byte{}},
		Password:   &permanente.Password{},
		Flow:       &permanente.Flow{},
		Login:      &permanente.LoginCode{},
	}
	for mask := 1; mask < 16; mask++ {
		for _, base := range []permanente.Account{full, sparse} {
			var a permanente.Account
			if mask&1 != 0 {
				a.Activation = base.Activation
			}
			if mask&2 != 0 {
				a.Password = base.Password
			}
			if mask&4 != 0 {
				a.Flow = base.Flow
			}
			if mask&8 != 0 {
				a.Login = base.Login
			}
			put(t, s, confCitizen, a)
			got := get(t, s, confCitizen)
			t.Run(fmt.Sprintf("mask%d", mask), func(t *testing.T) { assertAccount(t, a.Clone(), got) })
		}
	}
}

func confFnErrorSavesNothing(t *testing.T, s permanente.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.UpdateAccount(ctx, confCitizen, func(a *permanente.Account) error {
		*a = confAccount()
		return boom
	})
	assert.ErrorIs(t, err, boom)
	_, err = s.Account(ctx, confCitizen)
	assert.ErrorIs(t, err, permanente.ErrNotFound, "a failed update creates nothing")

	put(t, s, confCitizen, confAccount())
	err = s.UpdateAccount(ctx, confCitizen, func(a *permanente.Account) error {
		a.Activation.Hash[0] = 'X'
		a.Password.Failures = 99
		a.Flow = nil
		a.Login.LoginID = "other"
		return fmt.Errorf("wrapped: %w", boom)
	})
	assert.ErrorIs(t, err, boom)
	assertAccount(t, confAccount(), get(t, s, confCitizen))

	err = s.UpdateAccount(ctx, confCitizen, func(a *permanente.Account) error {
		*a = permanente.Account{}
		return boom
	})
	assert.ErrorIs(t, err, boom)
	assertAccount(t, confAccount(), get(t, s, confCitizen))
}

func confZeroIsDeleted(t *testing.T, s permanente.Store) {
	ctx := context.Background()
	put(t, s, confCitizen, confAccount())
	put(t, s, confCitizen, permanente.Account{})
	_, err := s.Account(ctx, confCitizen)
	assert.ErrorIs(t, err, permanente.ErrNotFound)

	calls := 0
	require.NoError(t, s.UpdateAccount(ctx, confOther, func(a *permanente.Account) error {
		calls++
		assertAccount(t, permanente.Account{}, *a)
		return nil
	}))
	assert.Equal(t, 1, calls)
	_, err = s.Account(ctx, confOther)
	assert.ErrorIs(t, err, permanente.ErrNotFound, "an untouched missing account is not created")

	// A deleted account comes back fresh, with nothing of the old one.
	put(t, s, confCitizen, confAccount())
	put(t, s, confCitizen, permanente.Account{})
	fresh := permanente.Account{Activation: &permanente.Activation{Hash: bytesOf(9), IssuedAt: confTime}}
	put(t, s, confCitizen, fresh)
	assertAccount(t, fresh, get(t, s, confCitizen))
}

func confCopies(t *testing.T, s permanente.Store) {
	ctx := context.Background()
	var kept *permanente.Account
	require.NoError(t, s.UpdateAccount(ctx, confCitizen, func(a *permanente.Account) error {
		*a = confAccount()
		kept = a
		return nil
	}))
	kept.Activation.Hash[0] = 'X'
	kept.Password.Failures = 42
	kept.Flow.Hash[0] = 'X'
	kept.Login.Hash[0] = 'X'
	got := get(t, s, confCitizen)
	assertAccount(t, confAccount(), got)

	got.Activation.Hash[0] = 'X'
	got.Password.Hash = "changed"
	got.Flow.Hash[0] = 'X'
	got.Login.Hash[0] = 'X'
	assertAccount(t, confAccount(), get(t, s, confCitizen))
}

func confCitizensApart(t *testing.T, s permanente.Store) {
	ctx := context.Background()
	put(t, s, confCitizen, confAccount())
	other := permanente.Account{Activation: &permanente.Activation{Hash: bytesOf(7), IssuedAt: confTime}}
	put(t, s, confOther, other)
	assertAccount(t, confAccount(), get(t, s, confCitizen))
	assertAccount(t, other, get(t, s, confOther))
	put(t, s, confOther, permanente.Account{})
	assertAccount(t, confAccount(), get(t, s, confCitizen))
	_, err := s.Account(ctx, confOther)
	assert.ErrorIs(t, err, permanente.ErrNotFound)
}

func confCancelledContext(t *testing.T, s permanente.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := s.UpdateAccount(ctx, confCitizen, func(a *permanente.Account) error {
		called = true
		*a = confAccount()
		return nil
	})
	assert.Error(t, err)
	assert.False(t, called, "fn does not run without a transaction")
	_, err = s.Account(context.Background(), confCitizen)
	assert.ErrorIs(t, err, permanente.ErrNotFound)
	_, err = s.Account(ctx, confCitizen)
	assert.Error(t, err)
}

// confAtomicUpdates increments counters from many goroutines, on one citizen
// and on another: any lost update means two read-modify-writes interleaved.
func confAtomicUpdates(t *testing.T, s permanente.Store) {
	const n = 40
	ctx := context.Background()
	put(t, s, confCitizen, confAccount())
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for range n {
		wg.Go(func() {
			errs <- s.UpdateAccount(ctx, confCitizen, func(a *permanente.Account) error {
				a.Password.Failures++
				return nil
			})
		})
		wg.Go(func() {
			errs <- s.UpdateAccount(ctx, confOther, func(a *permanente.Account) error {
				if a.Activation == nil {
					a.Activation = &permanente.Activation{Hash: bytesOf(5), IssuedAt: confTime}
				}
				a.Activation.Failures++
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, confAccount().Password.Failures+n, get(t, s, confCitizen).Password.Failures)
	assert.Equal(t, n, get(t, s, confOther).Activation.Failures)
}

// confAtomicCreateAndDelete races updates on an account that keeps being
// deleted (by going back to zero) and created again: each update must still
// see the one before, whether it found the account, created it, or waited
// for another to delete it.
func confAtomicCreateAndDelete(t *testing.T, s permanente.Store) {
	const n, every = 40, 3
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- s.UpdateAccount(ctx, confCitizen, func(a *permanente.Account) error {
				if a.Activation == nil {
					a.Activation = &permanente.Activation{Hash: bytesOf(5), IssuedAt: confTime}
				}
				if a.Activation.Failures++; a.Activation.Failures == every {
					*a = permanente.Account{}
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
	assert.Equal(t, n%every, get(t, s, confCitizen).Activation.Failures, "every update counted, across deletions")
}
