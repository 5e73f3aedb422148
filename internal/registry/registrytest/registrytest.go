// Package registrytest is the conformance suite of [registry.Store]: every
// implementation runs the same tests, so the gateway behaves alike on the
// memory store and on SQL. It is imported by tests only (the _test.go files
// of each implementation), never by production code, so that neither the
// testing package nor testify is linked into a gateway.
package registrytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/registry"
	"github.com/clave-go/clave/internal/store"
)

// RunStoreTests checks that a [registry.Store] implementation behaves as the
// gateway expects. newStore must return a fresh, empty store each time it is
// called; run the suite under -race.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) registry.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, s registry.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Normalises", testNormalises},
		{"CreatedAt", testCreatedAt},
		{"Update", testUpdate},
		{"PhoneConflict", testPhoneConflict},
		{"Delete", testDelete},
		{"ListOrder", testListOrder},
		{"NotFound", testNotFound},
		{"SetStatus", testSetStatus},
		{"InvalidRefused", testInvalidRefused},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentPhoneClaims", testConcurrentPhoneClaims},
		{"CanceledContext", testCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, t.Context(), newStore(t))
		})
	}
}

// checkLetters are the DNI check letters, indexed by the number modulo 23.
// The suite computes them itself rather than trusting package dni, so a bug
// there cannot hide one in a store.
const checkLetters = "TRWAGMYFPDXBNJZSQVHLCKE"

// dniNumber returns the normalised DNI with number n and its right check
// letter, so the suite can make as many distinct valid citizens as it needs.
func dniNumber(n int) string { return fmt.Sprintf("%08d%c", n, checkLetters[n%23]) }

// nieNumber returns the normalised X-series NIE with number n (below
// 10,000,000); X stands for a leading 0 in the check-letter computation.
func nieNumber(n int) string { return fmt.Sprintf("X%07d%c", n, checkLetters[n%23]) }

// idOf is the identifier the Store methods take for a citizen's ID, the zero
// ID when it does not parse (a citizen the suite made invalid on purpose).
func idOf(s string) dni.ID {
	id, _ := dni.Parse(s)
	return id
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// newCitizen is a valid, already normalised DNI holder whose phone is
// derived from n, so citizens made with different n never conflict.
func newCitizen(n int) registry.Citizen {
	return registry.Citizen{
		ID:            dniNumber(n),
		ValidUntil:    day(2031, time.March, 9),
		IssuedOn:      day(2021, time.March, 9),
		GivenName:     "MARÍA JOSÉ",
		FirstSurname:  "GARCÍA",
		SecondSurname: "LÓPEZ",
		DateOfBirth:   day(1980, time.May, 17),
		Phone:         fmt.Sprintf("+346%08d", n%100_000_000),
		Email:         fmt.Sprintf("citizen%d@example.es", n),
		Level:         registry.LevelAdvanced,
		Status:        registry.StatusActive,
		CreatedAt:     time.Date(2024, time.June, 1, 10, 30, 15, 123456789, time.UTC),
	}
}

func testRoundTrip(t *testing.T, ctx context.Context, s registry.Store) {
	dniHolder := newCitizen(1)

	nie := newCitizen(2)
	nie.ID = nieNumber(1234567)
	nie.ValidUntil, nie.IssuedOn = time.Time{}, time.Time{}
	nie.SupportNumber = "C12345678"
	nie.SecondSurname = ""
	nie.Level = registry.LevelBasic
	nie.Status = registry.StatusBlocked

	permanent := newCitizen(3)
	permanent.ValidUntil = day(9999, time.January, 1)
	permanent.IssuedOn = day(2015, time.February, 28)
	permanent.DateOfBirth = day(1940, time.December, 31)
	permanent.Phone = "+34712345678"
	permanent.Status = registry.StatusGaveUp

	for _, want := range []registry.Citizen{dniHolder, nie, permanent} {
		require.NoError(t, s.Put(ctx, want))
		got, err := s.Get(ctx, idOf(want.ID))
		require.NoError(t, err)
		assert.Equal(t, want, got, "every field survives a round trip")
	}
}

func testNormalises(t *testing.T, ctx context.Context, s registry.Store) {
	madrid := time.FixedZone("CET", 3600)
	c := newCitizen(10)
	// Midnight in Madrid is the previous day in UTC: the calendar date must
	// not shift.
	c.ValidUntil = time.Date(2031, time.March, 9, 0, 0, 0, 0, madrid)
	c.DateOfBirth = time.Date(1980, time.May, 17, 23, 59, 0, 0, madrid)
	c.CreatedAt = time.Date(2024, time.June, 1, 12, 30, 15, 123456789, time.FixedZone("CEST", 7200))
	c.Phone = "600 000 010"
	c.GivenName = "  MARÍA JOSÉ "
	c.Email = " citizen10@example.es "
	require.NoError(t, s.Put(ctx, c))

	got, err := s.Get(ctx, idOf(c.ID))
	require.NoError(t, err)
	want := newCitizen(10)
	want.Phone = "+34600000010"
	assert.Equal(t, want, got)

	n := newCitizen(11)
	n.ID = nieNumber(7654321)
	n.ValidUntil, n.IssuedOn = time.Time{}, time.Time{}
	n.SupportNumber = " e 1234 5678 "
	require.NoError(t, s.Put(ctx, n))
	got, err = s.Get(ctx, idOf(n.ID))
	require.NoError(t, err)
	assert.Equal(t, "E12345678", got.SupportNumber)
	assert.True(t, got.MatchContrast("e12345678"))
}

func testCreatedAt(t *testing.T, ctx context.Context, s registry.Store) {
	c := newCitizen(20)
	c.CreatedAt = time.Time{}
	before := time.Now().Add(-time.Minute)
	require.NoError(t, s.Put(ctx, c))
	got, err := s.Get(ctx, idOf(c.ID))
	require.NoError(t, err)
	require.False(t, got.CreatedAt.IsZero(), "the store stamps a new registration")
	assert.Equal(t, time.UTC, got.CreatedAt.Location())
	first := got.CreatedAt
	assert.True(t, first.After(before), "stamped by the store's clock, not a fixed value")

	c.Email = "new20@example.es"
	require.NoError(t, s.Put(ctx, c))
	got, err = s.Get(ctx, idOf(c.ID))
	require.NoError(t, err)
	assert.Equal(t, first, got.CreatedAt, "an update without CreatedAt keeps the registration date")
	assert.Equal(t, "new20@example.es", got.Email)
}

func testUpdate(t *testing.T, ctx context.Context, s registry.Store) {
	c := newCitizen(30)
	require.NoError(t, s.Put(ctx, c))

	oldPhone := c.Phone
	c.Phone = "+34600999930"
	c.Email = "updated@example.es"
	c.Level = registry.LevelBasic
	c.ValidUntil = day(2035, time.July, 1)
	c.SecondSurname = ""
	require.NoError(t, s.Put(ctx, c))

	got, err := s.Get(ctx, idOf(c.ID))
	require.NoError(t, err)
	assert.Equal(t, c, got)

	all, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 1, "an update does not add a record")

	other := newCitizen(31)
	other.Phone = oldPhone
	assert.NoError(t, s.Put(ctx, other), "the previous phone is free again")
}

func testPhoneConflict(t *testing.T, ctx context.Context, s registry.Store) {
	a := newCitizen(40)
	require.NoError(t, s.Put(ctx, a))

	b := newCitizen(41)
	b.Phone = "600-000-040" // a's phone, typed differently
	err := s.Put(ctx, b)
	require.ErrorIs(t, err, store.ErrConflict)
	assert.NotContains(t, err.Error(), b.ID, "errors carry the masked id only")
	_, err = s.Get(ctx, idOf(b.ID))
	assert.ErrorIs(t, err, store.ErrNotFound, "a refused Put stores nothing")

	b.Phone = "+34600000041"
	require.NoError(t, s.Put(ctx, b))
	b.Phone = a.Phone
	require.ErrorIs(t, s.Put(ctx, b), store.ErrConflict, "an update cannot take someone else's phone either")
	got, err := s.Get(ctx, idOf(b.ID))
	require.NoError(t, err)
	assert.Equal(t, "+34600000041", got.Phone, "a refused update changes nothing")
	got, err = s.Get(ctx, idOf(a.ID))
	require.NoError(t, err)
	assert.Equal(t, a, got)

	a.Email = "same-phone@example.es"
	assert.NoError(t, s.Put(ctx, a), "keeping one's own phone is no conflict")
}

func testDelete(t *testing.T, ctx context.Context, s registry.Store) {
	c := newCitizen(50)
	require.NoError(t, s.Put(ctx, c))
	require.NoError(t, s.Delete(ctx, idOf(c.ID)))
	_, err := s.Get(ctx, idOf(c.ID))
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.ErrorIs(t, s.Delete(ctx, idOf(c.ID)), store.ErrNotFound, "deleting twice reports the absence")

	other := newCitizen(51)
	other.Phone = c.Phone
	assert.NoError(t, s.Put(ctx, other), "a deleted citizen's phone is free")
}

func testListOrder(t *testing.T, ctx context.Context, s registry.Store) {
	all, err := s.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, all)

	for i, n := range []int{99999999, 5, 12345678, 70, 600} {
		c := newCitizen(60 + i)
		c.ID = dniNumber(n)
		require.NoError(t, s.Put(ctx, c))
	}
	nie := newCitizen(66)
	nie.ID = nieNumber(1)
	nie.SupportNumber = "E00000001"
	nie.ValidUntil, nie.IssuedOn = time.Time{}, time.Time{}
	require.NoError(t, s.Put(ctx, nie))
	want := []string{dniNumber(5), dniNumber(70), dniNumber(600),
		dniNumber(12345678), dniNumber(99999999), nieNumber(1)}

	all, err = s.List(ctx)
	require.NoError(t, err)
	var got []string
	for _, c := range all {
		got = append(got, c.ID)
	}
	assert.Equal(t, want, got, "sorted by identifier, byte order")
}

func testNotFound(t *testing.T, ctx context.Context, s registry.Store) {
	require.NoError(t, s.Put(ctx, newCitizen(70)))
	for name, id := range map[string]dni.ID{
		"unknown DNI": dni.MustParse(dniNumber(71)),
		"unknown NIE": dni.MustParse(nieNumber(71)),
		"eIDAS":       dni.MustParse("DE/ES/1234567890"),
		"zero":        {},
	} {
		_, err := s.Get(ctx, id)
		assert.ErrorIs(t, err, store.ErrNotFound, "Get %s", name)
		assert.ErrorIs(t, s.Delete(ctx, id), store.ErrNotFound, "Delete %s", name)
		assert.ErrorIs(t, s.SetStatus(ctx, id, registry.StatusBlocked), store.ErrNotFound, "SetStatus %s", name)
		if !id.IsZero() {
			assert.NotContains(t, err.Error(), id.String(), "errors carry the masked id only")
		}
	}
}

func testSetStatus(t *testing.T, ctx context.Context, s registry.Store) {
	c := newCitizen(80)
	require.NoError(t, s.Put(ctx, c))
	for _, st := range []registry.Status{registry.StatusBlocked, registry.StatusGaveUp, registry.StatusActive} {
		require.NoError(t, s.SetStatus(ctx, idOf(c.ID), st))
		got, err := s.Get(ctx, idOf(c.ID))
		require.NoError(t, err)
		want := c
		want.Status = st
		assert.Equal(t, want, got, "only the status changes")
	}
	assert.ErrorIs(t, s.SetStatus(ctx, idOf(c.ID), "deleted"), registry.ErrInvalid)
	assert.ErrorIs(t, s.SetStatus(ctx, idOf(c.ID), ""), registry.ErrInvalid)
	got, err := s.Get(ctx, idOf(c.ID))
	require.NoError(t, err)
	assert.Equal(t, registry.StatusActive, got.Status, "a refused status changes nothing")
}

func testInvalidRefused(t *testing.T, ctx context.Context, s registry.Store) {
	tests := []struct {
		name  string
		field string
		edit  func(c *registry.Citizen)
	}{
		{"no id", "id", func(c *registry.Citizen) { c.ID = "" }},
		{"eIDAS id", "id", func(c *registry.Citizen) { c.ID = "DE/ES/1234567890" }},
		{"DNI without validity", "valid_until", func(c *registry.Citizen) { c.ValidUntil = time.Time{} }},
		{"permanent DNI without issue date", "issued_on", func(c *registry.Citizen) {
			c.ValidUntil, c.IssuedOn = day(9999, time.January, 1), time.Time{}
		}},
		{"DNI with support number", "support_number", func(c *registry.Citizen) { c.SupportNumber = "E12345678" }},
		{"NIE without support number", "support_number", func(c *registry.Citizen) { c.ID = nieNumber(90) }},
		{"bad support number", "support_number", func(c *registry.Citizen) { c.ID, c.SupportNumber = nieNumber(90), "X12345678" }},
		{"issued after expiry", "issued_on", func(c *registry.Citizen) { c.IssuedOn = c.ValidUntil.AddDate(0, 0, 1) }},
		{"no given name", "given_name", func(c *registry.Citizen) { c.GivenName = "  " }},
		{"no first surname", "first_surname", func(c *registry.Citizen) { c.FirstSurname = "" }},
		{"control character", "second_surname", func(c *registry.Citizen) { c.SecondSurname = "LÓPEZ\u202e" }},
		{"long name", "given_name", func(c *registry.Citizen) { c.GivenName = strings.Repeat("A", 101) }},
		{"no birth date", "date_of_birth", func(c *registry.Citizen) { c.DateOfBirth = time.Time{} }},
		{"born before 1900", "date_of_birth", func(c *registry.Citizen) { c.DateOfBirth = day(1899, time.December, 31) }},
		{"born after issue", "date_of_birth", func(c *registry.Citizen) { c.DateOfBirth = c.IssuedOn.AddDate(0, 0, 1) }},
		{"no phone", "phone", func(c *registry.Citizen) { c.Phone = "" }},
		{"landline", "phone", func(c *registry.Citizen) { c.Phone = "+34910000000" }},
		{"foreign phone", "phone", func(c *registry.Citizen) { c.Phone = "+33600000000" }},
		{"short phone", "phone", func(c *registry.Citizen) { c.Phone = "60000000" }},
		{"no email", "email", func(c *registry.Citizen) { c.Email = "" }},
		{"email with name", "email", func(c *registry.Citizen) { c.Email = "María <maria@example.es>" }},
		{"email without domain dot", "email", func(c *registry.Citizen) { c.Email = "maria@localhost" }},
		{"no level", "level", func(c *registry.Citizen) { c.Level = "" }},
		{"unknown level", "level", func(c *registry.Citizen) { c.Level = "high" }},
		{"unknown status", "status", func(c *registry.Citizen) { c.Status = "deleted" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCitizen(90)
			tc.edit(&c)
			err := c.Validate()
			require.ErrorIs(t, err, registry.ErrInvalid)
			var fe *registry.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)

			err = s.Put(ctx, c)
			require.ErrorIs(t, err, registry.ErrInvalid)
			assert.Contains(t, err.Error(), tc.field, "the error names the field")
			if c.ID != "" {
				assert.NotContains(t, err.Error(), c.ID, "errors carry the masked id only")
			}
			if c.Phone != "" {
				assert.NotContains(t, err.Error(), c.Phone, "errors do not echo personal data")
			}
			_, err = s.Get(ctx, idOf(c.ID))
			assert.ErrorIs(t, err, store.ErrNotFound, "an invalid citizen is not stored")
		})
	}
}

func testConcurrentPuts(t *testing.T, ctx context.Context, s registry.Store) {
	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, 4*writers)
	for i := range writers {
		wg.Go(func() {
			c := newCitizen(100 + i)
			for round := range 3 {
				c.Email = fmt.Sprintf("round%d@example.es", round)
				errs <- s.Put(ctx, c)
			}
			_, err := s.List(ctx)
			errs <- err
		})
	}
	// Writers racing for one phone: exactly one may win it.
	var won sync.Map
	for i := range writers {
		wg.Go(func() {
			c := newCitizen(200 + i)
			c.Phone = "+34699999999"
			err := s.Put(ctx, c)
			if err == nil {
				won.Store(i, true)
			} else if !errors.Is(err, store.ErrConflict) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	winners := 0
	won.Range(func(_, _ any) bool { winners++; return true })
	assert.Equal(t, 1, winners, "one DNI/NIE per mobile, even under concurrency")

	all, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, all, writers+1)
	for _, c := range all {
		if c.Phone != "+34699999999" {
			assert.Equal(t, "round2@example.es", c.Email, "the last Put of each writer wins")
		}
	}
}

// testConcurrentPhoneClaims races new citizens for one phone, released
// together, in several rounds so that the later ones run on a database
// connection pool already open: exactly one wins each phone, and the
// others store nothing.
func testConcurrentPhoneClaims(t *testing.T, ctx context.Context, s registry.Store) {
	const rounds, writers = 4, 12
	for round := range rounds {
		phone := fmt.Sprintf("+3469888888%d", round)
		start := make(chan struct{})
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				c := newCitizen(400 + round*writers + i)
				c.Phone = phone
				<-start
				errs[i] = s.Put(ctx, c)
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i, err := range errs {
			if err == nil {
				winners++
				continue
			}
			require.ErrorIs(t, err, store.ErrConflict, "round %d, writer %d", round, i)
			_, err := s.Get(ctx, idOf(newCitizen(400+round*writers+i).ID))
			assert.ErrorIs(t, err, store.ErrNotFound, "a refused Put stores nothing")
		}
		assert.Equal(t, 1, winners, "round %d: one DNI/NIE per mobile", round)
	}
}

func testCanceledContext(t *testing.T, ctx context.Context, s registry.Store) {
	c := newCitizen(300)
	require.NoError(t, s.Put(ctx, c))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, s.Put(canceled, newCitizen(301)), context.Canceled)
	_, err := s.Get(canceled, idOf(c.ID))
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.Get(ctx, idOf(newCitizen(301).ID))
	assert.ErrorIs(t, err, store.ErrNotFound, "a canceled Put stores nothing")
}
