// Package mobiletest is the conformance suite of [mobile.Store]:
// [mobile.MemoryStore], [mobile.SQLStore] and any store written outside this
// module run the same tests, so that [mobile.Service] enforces the Cl@ve
// Móvil rules alike on each. It is imported by tests only (the _test.go files
// of each implementation), never by production code, so that neither the
// testing package nor testify is linked into a gateway.
package mobiletest

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

	"github.com/clave-go/clave/mobile"
)

// RunStoreTests checks that a [mobile.Store] implementation honours the
// contract [mobile.Service] relies on: exact round-trips of every field,
// copies in and out, all-or-nothing updates, device IDs unique across
// citizens, history saved with the request that ends, exactly once, the
// history query's filters, order and paging, single-use nonces, and atomic
// read-modify-write under concurrency: no lost update, also while an
// account is deleted and created again, a request decided once, a device ID
// won by one citizen. newStore must return a fresh, empty store each time;
// run the suite under -race.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) mobile.Store) {
	t.Helper()
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s mobile.Store)
	}{
		{"AccountMissing", confAccountMissing},
		{"AccountRoundTrip", confAccountRoundTrip},
		{"AccountFnErrorSavesNothing", confAccountFnErrorSavesNothing},
		{"AccountZeroIsDeleted", confAccountZeroIsDeleted},
		{"AccountCopies", confAccountCopies},
		{"DeviceIDsAreUnique", confDeviceIDsAreUnique},
		{"RequestMissing", confRequestMissing},
		{"RequestRoundTrip", confRequestRoundTrip},
		{"RequestCreateConflict", confRequestCreateConflict},
		{"RequestFnErrorSavesNothing", confRequestFnErrorSavesNothing},
		{"RequestCopies", confRequestCopies},
		{"PendingAndExpired", confPendingAndExpired},
		{"DeleteRequests", confDeleteRequests},
		{"HistoryRecordedOnce", confHistoryRecordedOnce},
		{"HistoryQuery", confHistoryQuery},
		{"Nonces", confNonces},
		{"CancelledContext", confCancelledContext},
		{"AtomicUpdates", confAtomicUpdates},
		{"AtomicAccountCreateAndDelete", confAtomicAccountCreateAndDelete},
		{"RequestDecidedOnce", confRequestDecidedOnce},
		{"DeviceClaimedOnce", confDeviceClaimedOnce},
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

func key(b byte) []byte { return slices.Repeat([]byte{b}, 32) }

func confAccount() mobile.Account {
	return mobile.Account{
		Devices: []mobile.Device{
			{ID: "dev-old", Citizen: confCitizen, PublicKey: key(1), Method: mobile.ByDNIe, Status: mobile.DeviceReplaced,
				ActivatedAt: confTime.Add(-48 * time.Hour), DeactivatedAt: confTime.Add(-time.Hour)},
			{ID: "dev-new", Citizen: confCitizen, PublicKey: key(2), Method: mobile.BySMS, Status: mobile.DeviceActive,
				ActivatedAt: confTime.Add(-time.Hour)},
		},
		Activation: &mobile.ActivationCode{Hash: key(3), ExpiresAt: confTime.Add(10 * time.Minute), Failures: 2},
	}
}

func cloneAccount(a mobile.Account) mobile.Account {
	a.Devices = slices.Clone(a.Devices)
	for i := range a.Devices {
		a.Devices[i].PublicKey = slices.Clone(a.Devices[i].PublicKey)
	}
	if a.Activation != nil {
		c := *a.Activation
		c.Hash = slices.Clone(c.Hash)
		a.Activation = &c
	}
	return a
}

func assertDevice(t *testing.T, want, got mobile.Device) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID, "ID")
	assert.Equal(t, want.Citizen, got.Citizen, "Citizen")
	assert.Equal(t, []byte(want.PublicKey), []byte(got.PublicKey), "PublicKey")
	assert.Equal(t, want.Method, got.Method, "Method")
	assert.Equal(t, want.Status, got.Status, "Status")
	assertTime(t, want.ActivatedAt, got.ActivatedAt, "ActivatedAt")
	assertTime(t, want.DeactivatedAt, got.DeactivatedAt, "DeactivatedAt")
}

func assertAccount(t *testing.T, want, got mobile.Account) {
	t.Helper()
	if assert.Len(t, got.Devices, len(want.Devices), "Devices") {
		for i := range want.Devices {
			assertDevice(t, want.Devices[i], got.Devices[i])
		}
	}
	if assert.Equal(t, want.Activation == nil, got.Activation == nil, "Activation presence") && want.Activation != nil {
		assert.Equal(t, want.Activation.Hash, got.Activation.Hash, "Activation.Hash")
		assertTime(t, want.Activation.ExpiresAt, got.Activation.ExpiresAt, "Activation.ExpiresAt")
		assert.Equal(t, want.Activation.Failures, got.Activation.Failures, "Activation.Failures")
	}
}

func assertTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	assert.True(t, want.Equal(got), "%s: want %v, got %v", what, want, got)
}

func putAccount(t *testing.T, s mobile.Store, citizen string, a mobile.Account) {
	t.Helper()
	require.NoError(t, s.UpdateAccount(context.Background(), citizen, func(got *mobile.Account) error {
		*got = cloneAccount(a)
		return nil
	}))
}

func confAccountMissing(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	_, err := s.Account(ctx, confCitizen)
	assert.ErrorIs(t, err, mobile.ErrNotFound)
	_, err = s.Device(ctx, "dev-new")
	assert.ErrorIs(t, err, mobile.ErrNotFound)
}

func confAccountRoundTrip(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	var seen *mobile.Account
	require.NoError(t, s.UpdateAccount(ctx, confCitizen, func(a *mobile.Account) error {
		c := cloneAccount(*a)
		seen = &c
		*a = confAccount()
		return nil
	}))
	assertAccount(t, mobile.Account{}, *seen) // a missing account reaches fn as zero
	got, err := s.Account(ctx, confCitizen)
	require.NoError(t, err)
	assertAccount(t, confAccount(), got)
	for _, d := range confAccount().Devices {
		dev, err := s.Device(ctx, d.ID)
		require.NoError(t, err)
		assertDevice(t, d, dev)
	}

	// The store files devices under the account's citizen, whatever fn
	// wrote, and keeps their order.
	require.NoError(t, s.UpdateAccount(ctx, confCitizen, func(a *mobile.Account) error {
		assertAccount(t, confAccount(), *a)
		a.Activation = nil
		a.Devices = append(a.Devices, mobile.Device{ID: "dev-third", Citizen: "", PublicKey: key(4),
			Method: mobile.ByCertificate, Status: mobile.DeviceDeactivated, ActivatedAt: confTime})
		return nil
	}))
	got, err = s.Account(ctx, confCitizen)
	require.NoError(t, err)
	want := confAccount()
	want.Activation = nil
	want.Devices = append(want.Devices, mobile.Device{ID: "dev-third", Citizen: confCitizen, PublicKey: key(4),
		Method: mobile.ByCertificate, Status: mobile.DeviceDeactivated, ActivatedAt: confTime})
	assertAccount(t, want, got)
	dev, err := s.Device(ctx, "dev-third")
	require.NoError(t, err)
	assert.Equal(t, confCitizen, dev.Citizen)
	assert.True(t, dev.DeactivatedAt.IsZero(), "the zero time round-trips as zero")

	// A device dropped from the account is no longer found.
	require.NoError(t, s.UpdateAccount(ctx, confCitizen, func(a *mobile.Account) error {
		a.Devices = a.Devices[1:]
		return nil
	}))
	_, err = s.Device(ctx, "dev-old")
	assert.ErrorIs(t, err, mobile.ErrNotFound)
}

func confAccountFnErrorSavesNothing(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.UpdateAccount(ctx, confCitizen, func(a *mobile.Account) error {
		*a = confAccount()
		return boom
	})
	assert.ErrorIs(t, err, boom)
	_, err = s.Account(ctx, confCitizen)
	assert.ErrorIs(t, err, mobile.ErrNotFound, "a failed update creates nothing")
	_, err = s.Device(ctx, "dev-new")
	assert.ErrorIs(t, err, mobile.ErrNotFound)

	putAccount(t, s, confCitizen, confAccount())
	err = s.UpdateAccount(ctx, confCitizen, func(a *mobile.Account) error {
		a.Devices[1].Status = mobile.DeviceDeactivated
		a.Devices[1].PublicKey[0] = 'X'
		a.Activation.Failures = 99
		a.Devices = append(a.Devices, mobile.Device{ID: "dev-x", PublicKey: key(9)})
		return fmt.Errorf("wrapped: %w", boom)
	})
	assert.ErrorIs(t, err, boom)
	got, err := s.Account(ctx, confCitizen)
	require.NoError(t, err)
	assertAccount(t, confAccount(), got)
	_, err = s.Device(ctx, "dev-x")
	assert.ErrorIs(t, err, mobile.ErrNotFound)
}

func confAccountZeroIsDeleted(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	putAccount(t, s, confCitizen, confAccount())
	putAccount(t, s, confCitizen, mobile.Account{})
	_, err := s.Account(ctx, confCitizen)
	assert.ErrorIs(t, err, mobile.ErrNotFound)
	_, err = s.Device(ctx, "dev-new")
	assert.ErrorIs(t, err, mobile.ErrNotFound)
	require.NoError(t, s.UpdateAccount(ctx, confOther, func(*mobile.Account) error { return nil }))
	_, err = s.Account(ctx, confOther)
	assert.ErrorIs(t, err, mobile.ErrNotFound, "an untouched missing account is not created")
}

func confAccountCopies(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	var kept *mobile.Account
	require.NoError(t, s.UpdateAccount(ctx, confCitizen, func(a *mobile.Account) error {
		*a = confAccount()
		kept = a
		return nil
	}))
	kept.Devices[0].PublicKey[0] = 'X'
	kept.Devices[1].Status = mobile.DeviceDeactivated
	kept.Activation.Hash[0] = 'X'
	got, err := s.Account(ctx, confCitizen)
	require.NoError(t, err)
	assertAccount(t, confAccount(), got)

	got.Devices[0].PublicKey[0] = 'X'
	got.Activation.Hash[0] = 'X'
	dev, err := s.Device(ctx, "dev-old")
	require.NoError(t, err)
	dev.PublicKey[0] = 'X'
	again, err := s.Account(ctx, confCitizen)
	require.NoError(t, err)
	assertAccount(t, confAccount(), again)
}

func confDeviceIDsAreUnique(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	putAccount(t, s, confCitizen, confAccount())
	err := s.UpdateAccount(ctx, confOther, func(a *mobile.Account) error {
		a.Devices = []mobile.Device{{ID: "dev-new", PublicKey: key(7), Method: mobile.BySMS, Status: mobile.DeviceActive, ActivatedAt: confTime}}
		return nil
	})
	assert.ErrorIs(t, err, mobile.ErrConflict, "another citizen's device ID")
	_, err = s.Account(ctx, confOther)
	assert.ErrorIs(t, err, mobile.ErrNotFound)
	dev, err := s.Device(ctx, "dev-new")
	require.NoError(t, err)
	assert.Equal(t, confCitizen, dev.Citizen)

	err = s.UpdateAccount(ctx, confCitizen, func(a *mobile.Account) error {
		a.Devices = append(a.Devices, a.Devices[0])
		return nil
	})
	assert.ErrorIs(t, err, mobile.ErrConflict, "a device listed twice")
	got, err := s.Account(ctx, confCitizen)
	require.NoError(t, err)
	assertAccount(t, confAccount(), got)

	// Once the first citizen lets the device go, the ID is free.
	putAccount(t, s, confCitizen, mobile.Account{})
	require.NoError(t, s.UpdateAccount(ctx, confOther, func(a *mobile.Account) error {
		a.Devices = []mobile.Device{{ID: "dev-new", PublicKey: key(7), Method: mobile.BySMS, Status: mobile.DeviceActive, ActivatedAt: confTime}}
		return nil
	}))
	dev, err = s.Device(ctx, "dev-new")
	require.NoError(t, err)
	assert.Equal(t, confOther, dev.Citizen)
}

func confRequest(id string) mobile.Request {
	return mobile.Request{
		ID:          id,
		LoginID:     "login-" + id,
		Citizen:     confCitizen,
		Requester:   "Agencia Tributaria · ñ",
		Kind:        mobile.KindPush,
		Decoy:       true,
		Nonce:       "nonce-" + id,
		Secret:      key(5),
		CreatedAt:   confTime,
		ExpiresAt:   confTime.Add(5 * time.Minute),
		State:       mobile.StatePending,
		DeviceID:    "dev-new",
		PIN:         &mobile.SMSPIN{Hash: key(6), IssuedAt: confTime.Add(time.Minute), ExpiresAt: confTime.Add(11 * time.Minute), Used: true},
		PINFailures: 2,
		PINSends:    1,
	}
}

func cloneRequest(r mobile.Request) mobile.Request {
	r.Secret = slices.Clone(r.Secret)
	if r.PIN != nil {
		p := *r.PIN
		p.Hash = slices.Clone(p.Hash)
		r.PIN = &p
	}
	return r
}

func assertRequest(t *testing.T, want, got mobile.Request) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID, "ID")
	assert.Equal(t, want.LoginID, got.LoginID, "LoginID")
	assert.Equal(t, want.Citizen, got.Citizen, "Citizen")
	assert.Equal(t, want.Requester, got.Requester, "Requester")
	assert.Equal(t, want.Kind, got.Kind, "Kind")
	assert.Equal(t, want.Decoy, got.Decoy, "Decoy")
	assert.Equal(t, want.Nonce, got.Nonce, "Nonce")
	assert.Equal(t, want.Secret, got.Secret, "Secret")
	assertTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertTime(t, want.ExpiresAt, got.ExpiresAt, "ExpiresAt")
	assert.Equal(t, want.State, got.State, "State")
	assertTime(t, want.DecidedAt, got.DecidedAt, "DecidedAt")
	assert.Equal(t, want.DeviceID, got.DeviceID, "DeviceID")
	assert.Equal(t, want.PINFailures, got.PINFailures, "PINFailures")
	assert.Equal(t, want.PINSends, got.PINSends, "PINSends")
	if assert.Equal(t, want.PIN == nil, got.PIN == nil, "PIN presence") && want.PIN != nil {
		assert.Equal(t, want.PIN.Hash, got.PIN.Hash, "PIN.Hash")
		assertTime(t, want.PIN.IssuedAt, got.PIN.IssuedAt, "PIN.IssuedAt")
		assertTime(t, want.PIN.ExpiresAt, got.PIN.ExpiresAt, "PIN.ExpiresAt")
		assert.Equal(t, want.PIN.Used, got.PIN.Used, "PIN.Used")
	}
}

func create(t *testing.T, s mobile.Store, r mobile.Request) {
	t.Helper()
	require.NoError(t, s.CreateRequest(context.Background(), cloneRequest(r)))
}

func confRequestMissing(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	_, err := s.Request(ctx, "r1")
	assert.ErrorIs(t, err, mobile.ErrNotFound)
	called := false
	err = s.UpdateRequest(ctx, "r1", func(*mobile.Request) error { called = true; return nil })
	assert.ErrorIs(t, err, mobile.ErrNotFound)
	assert.False(t, called, "fn does not run for a missing request")
	_, err = s.Request(ctx, "r1")
	assert.ErrorIs(t, err, mobile.ErrNotFound, "nor is one created")
}

func confRequestRoundTrip(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	create(t, s, confRequest("r1"))
	got, err := s.Request(ctx, "r1")
	require.NoError(t, err)
	assertRequest(t, confRequest("r1"), got)

	// A QR request, not yet scanned, without PIN: empty and zero fields
	// round-trip as such.
	qr := mobile.Request{ID: "r2", LoginID: "l2", Requester: "DGT", Kind: mobile.KindQR, Nonce: "n2",
		Secret: key(8), CreatedAt: confTime, ExpiresAt: confTime.Add(time.Minute), State: mobile.StatePending}
	create(t, s, qr)
	got, err = s.Request(ctx, "r2")
	require.NoError(t, err)
	assertRequest(t, qr, got)
	assert.True(t, got.DecidedAt.IsZero())
	assert.Nil(t, got.PIN)

	require.NoError(t, s.UpdateRequest(ctx, "r2", func(r *mobile.Request) error {
		assertRequest(t, qr, *r)
		r.Citizen = confOther
		r.DeviceID = "dev-9"
		r.PIN = &mobile.SMSPIN{Hash: key(1), IssuedAt: confTime, ExpiresAt: confTime.Add(time.Hour)}
		r.ExpiresAt = confTime.Add(time.Hour)
		return nil
	}))
	got, err = s.Request(ctx, "r2")
	require.NoError(t, err)
	want := qr
	want.Citizen, want.DeviceID, want.ExpiresAt = confOther, "dev-9", confTime.Add(time.Hour)
	want.PIN = &mobile.SMSPIN{Hash: key(1), IssuedAt: confTime, ExpiresAt: confTime.Add(time.Hour)}
	assertRequest(t, want, got)
}

func confRequestCreateConflict(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	create(t, s, confRequest("r1"))
	other := confRequest("r1")
	other.LoginID = "other"
	assert.ErrorIs(t, s.CreateRequest(ctx, other), mobile.ErrConflict)
	got, err := s.Request(ctx, "r1")
	require.NoError(t, err)
	assertRequest(t, confRequest("r1"), got)
}

func confRequestFnErrorSavesNothing(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	create(t, s, confRequest("r1"))
	boom := errors.New("boom")
	err := s.UpdateRequest(ctx, "r1", func(r *mobile.Request) error {
		r.State = mobile.StateConfirmed
		r.Decoy = false
		r.Secret[0] = 'X'
		r.PIN.Used = false
		r.PINFailures = 9
		return fmt.Errorf("wrapped: %w", boom)
	})
	assert.ErrorIs(t, err, boom)
	got, err := s.Request(ctx, "r1")
	require.NoError(t, err)
	assertRequest(t, confRequest("r1"), got)
	h, err := s.History(ctx, confCitizen, query(mobile.Query{}))
	require.NoError(t, err)
	assert.Empty(t, h, "no history from a failed update")
}

func confRequestCopies(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	r := confRequest("r1")
	require.NoError(t, s.CreateRequest(ctx, r))
	r.Secret[0] = 'X'
	r.PIN.Hash[0] = 'X'
	got, err := s.Request(ctx, "r1")
	require.NoError(t, err)
	assertRequest(t, confRequest("r1"), got)

	var kept *mobile.Request
	require.NoError(t, s.UpdateRequest(ctx, "r1", func(r *mobile.Request) error { kept = r; return nil }))
	kept.Secret[0] = 'X'
	kept.PIN.Used = false
	got.Secret[0] = 'X'
	got.PIN.Hash[0] = 'X'
	again, err := s.Request(ctx, "r1")
	require.NoError(t, err)
	assertRequest(t, confRequest("r1"), again)
}

func ids(rs []mobile.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	slices.Sort(out)
	return out
}

func confPendingAndExpired(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	for i, c := range []struct {
		citizen string
		state   mobile.State
		expires time.Duration
	}{
		{confCitizen, mobile.StatePending, -time.Minute},   // r0: pending, past expiry
		{confCitizen, mobile.StatePending, 0},              // r1: pending, expiring now
		{confCitizen, mobile.StatePending, time.Minute},    // r2: pending, live
		{confCitizen, mobile.StateConfirmed, -time.Minute}, // r3: decided
		{confOther, mobile.StatePending, -time.Minute},     // r4: another citizen
		{"", mobile.StatePending, time.Minute},             // r5: QR nobody scanned
	} {
		r := confRequest(fmt.Sprintf("r%d", i))
		r.Citizen, r.State, r.ExpiresAt = c.citizen, c.state, confTime.Add(c.expires)
		create(t, s, r)
	}
	p, err := s.PendingRequests(ctx, confCitizen)
	require.NoError(t, err)
	assert.Equal(t, []string{"r0", "r1", "r2"}, ids(p))
	p, err = s.PendingRequests(ctx, confOther)
	require.NoError(t, err)
	assert.Equal(t, []string{"r4"}, ids(p))

	e, err := s.ExpiredRequests(ctx, confTime, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"r0", "r1", "r4"}, ids(e), "pending with ExpiresAt not after now")
	if assert.Len(t, e, 3) {
		assertRequest(t, confRequest(e[0].ID), withoutStateFields(e[0]))
	}
	e, err = s.ExpiredRequests(ctx, confTime, 2)
	require.NoError(t, err)
	assert.Len(t, e, 2, "limit")
}

// withoutStateFields restores the fields confPendingAndExpired varied, to
// compare the rest with confRequest.
func withoutStateFields(r mobile.Request) mobile.Request {
	c := confRequest(r.ID)
	r.Citizen, r.State, r.ExpiresAt = c.Citizen, c.State, c.ExpiresAt
	return r
}

func confDeleteRequests(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	for i, c := range []struct {
		state   mobile.State
		expires time.Duration
	}{
		{mobile.StateConfirmed, -time.Second}, // r0: deleted
		{mobile.StateExpired, -time.Minute},   // r1: deleted
		{mobile.StateDeclined, 0},             // r2: kept, not before
		{mobile.StatePending, -time.Hour},     // r3: kept, pending
		{mobile.StateDeclined, time.Hour},     // r4: kept
	} {
		r := confRequest(fmt.Sprintf("r%d", i))
		r.Decoy = false
		r.State, r.ExpiresAt = c.state, confTime.Add(c.expires)
		create(t, s, r)
	}
	n, err := s.DeleteRequests(ctx, confTime)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	for _, id := range []string{"r0", "r1"} {
		_, err := s.Request(ctx, id)
		assert.ErrorIs(t, err, mobile.ErrNotFound, id)
	}
	for _, id := range []string{"r2", "r3", "r4"} {
		_, err := s.Request(ctx, id)
		assert.NoError(t, err, id)
	}
	h, err := s.History(ctx, confCitizen, query(mobile.Query{}))
	require.NoError(t, err)
	assert.Len(t, h, 4, "history outlives the requests: r0, r1, r2, r4")
}

func query(q mobile.Query) mobile.Query {
	q, err := q.Normalized()
	if err != nil {
		panic(err)
	}
	return q
}

func confHistoryRecordedOnce(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	live := confRequest("r1")
	live.Decoy, live.PIN = false, nil
	decoy := confRequest("r2")
	decoy.PIN = nil
	unscanned := live
	unscanned.ID, unscanned.Citizen, unscanned.Kind = "r3", "", mobile.KindQR
	for _, r := range []mobile.Request{live, decoy, unscanned} {
		create(t, s, r)
	}
	h, err := s.History(ctx, confCitizen, query(mobile.Query{}))
	require.NoError(t, err)
	assert.Empty(t, h, "pending requests have no entry")

	decide := func(id string, st mobile.State) {
		t.Helper()
		require.NoError(t, s.UpdateRequest(ctx, id, func(r *mobile.Request) error {
			r.State, r.DecidedAt = st, confTime.Add(time.Minute)
			return nil
		}))
	}
	decide("r1", mobile.StateDeclined)
	decide("r2", mobile.StateConfirmed)
	decide("r3", mobile.StateExpired)
	h, err = s.History(ctx, confCitizen, query(mobile.Query{}))
	require.NoError(t, err)
	want := mobile.Entry{RequestID: "r1", Citizen: confCitizen, At: confTime, Requester: live.Requester,
		Kind: mobile.KindPush, Outcome: mobile.StateDeclined}
	if assert.Len(t, h, 1, "decoys and unscanned QR requests have no entry") {
		assertEntry(t, want, h[0])
	}

	// The first final state is the one recorded.
	decide("r1", mobile.StateConfirmed)
	h, err = s.History(ctx, confCitizen, query(mobile.Query{}))
	require.NoError(t, err)
	if assert.Len(t, h, 1) {
		assertEntry(t, want, h[0])
	}
	h, err = s.History(ctx, confOther, query(mobile.Query{}))
	require.NoError(t, err)
	assert.Empty(t, h, "histories are per citizen")

	// A request created final is recorded too.
	done := live
	done.ID, done.State = "r4", mobile.StateExpired
	create(t, s, done)
	h, err = s.History(ctx, confCitizen, query(mobile.Query{Outcome: mobile.StateExpired}))
	require.NoError(t, err)
	assert.Len(t, h, 1)
}

func assertEntry(t *testing.T, want, got mobile.Entry) {
	t.Helper()
	assert.Equal(t, want.RequestID, got.RequestID, "RequestID")
	assert.Equal(t, want.Citizen, got.Citizen, "Citizen")
	assertTime(t, want.At, got.At, "At")
	assert.Equal(t, want.Requester, got.Requester, "Requester")
	assert.Equal(t, want.Kind, got.Kind, "Kind")
	assert.Equal(t, want.Outcome, got.Outcome, "Outcome")
}

func entryIDs(es []mobile.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.RequestID
	}
	return out
}

func confHistoryQuery(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	// h0..h7 one minute apart, except h3 and h4 at the same instant.
	at := []time.Duration{0, 1, 2, 3, 3, 5, 6, 7}
	for i, m := range at {
		r := confRequest(fmt.Sprintf("h%d", i))
		r.Decoy, r.PIN = false, nil
		r.CreatedAt = confTime.Add(m * time.Minute)
		r.Kind = []mobile.Kind{mobile.KindQR, mobile.KindPush}[i%2]
		r.Requester = []string{"AEAT", "DGT", "SEPE"}[i%3]
		r.State = []mobile.State{mobile.StateConfirmed, mobile.StateDeclined, mobile.StateExpired, mobile.StateConfirmed}[i%4]
		create(t, s, r)
	}
	other := confRequest("o1")
	other.Decoy, other.Citizen, other.State = false, confOther, mobile.StateConfirmed
	create(t, s, other)

	for _, c := range []struct {
		name string
		q    mobile.Query
		want []string
	}{
		{"all newest first", mobile.Query{}, []string{"h7", "h6", "h5", "h4", "h3", "h2", "h1", "h0"}},
		{"all oldest first", mobile.Query{Order: mobile.OldestFirst}, []string{"h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"}},
		{"outcome", mobile.Query{Outcome: mobile.StateConfirmed, Order: mobile.OldestFirst}, []string{"h0", "h3", "h4", "h7"}},
		{"kind", mobile.Query{Kind: mobile.KindPush}, []string{"h7", "h5", "h3", "h1"}},
		{"requester", mobile.Query{Requester: "DGT"}, []string{"h7", "h4", "h1"}},
		{"requester exact", mobile.Query{Requester: "dgt"}, []string{}},
		{"from inclusive", mobile.Query{From: confTime.Add(5 * time.Minute)}, []string{"h7", "h6", "h5"}},
		{"to exclusive", mobile.Query{To: confTime.Add(2 * time.Minute), Order: mobile.OldestFirst}, []string{"h0", "h1"}},
		{"from and to", mobile.Query{From: confTime.Add(2 * time.Minute), To: confTime.Add(4 * time.Minute)}, []string{"h4", "h3", "h2"}},
		{"all filters", mobile.Query{Outcome: mobile.StateConfirmed, Kind: mobile.KindQR, Requester: "DGT",
			From: confTime, To: confTime.Add(time.Hour)}, []string{"h4"}},
		{"limit", mobile.Query{Limit: 3}, []string{"h7", "h6", "h5"}},
		{"offset", mobile.Query{Limit: 3, Offset: 3}, []string{"h4", "h3", "h2"}},
		{"last page", mobile.Query{Limit: 3, Offset: 6}, []string{"h1", "h0"}},
		{"past the end", mobile.Query{Offset: 8}, []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.History(ctx, confCitizen, query(c.q))
			require.NoError(t, err)
			assert.Equal(t, c.want, entryIDs(got))
		})
	}
}

func confNonces(t *testing.T, s mobile.Store) {
	ctx := context.Background()
	require.NoError(t, s.UseNonce(ctx, "n1", confTime))
	assert.ErrorIs(t, s.UseNonce(ctx, "n1", confTime.Add(time.Hour)), mobile.ErrConflict)
	require.NoError(t, s.UseNonce(ctx, "n2", confTime.Add(time.Minute)))

	n, err := s.PruneNonces(ctx, confTime)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "until equal to before is kept")
	assert.ErrorIs(t, s.UseNonce(ctx, "n1", confTime), mobile.ErrConflict)
	n, err = s.PruneNonces(ctx, confTime.Add(time.Nanosecond))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, s.UseNonce(ctx, "n1", confTime), "a pruned nonce is forgotten")
	assert.ErrorIs(t, s.UseNonce(ctx, "n2", confTime), mobile.ErrConflict)

	// Of concurrent uses of one nonce, exactly one succeeds.
	const k = 20
	var wg sync.WaitGroup
	errs := make(chan error, k)
	for range k {
		wg.Go(func() { errs <- s.UseNonce(ctx, "race", confTime) })
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else {
			assert.ErrorIs(t, err, mobile.ErrConflict)
		}
	}
	assert.Equal(t, 1, ok)
}

func confCancelledContext(t *testing.T, s mobile.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := s.UpdateAccount(ctx, confCitizen, func(a *mobile.Account) error {
		called = true
		*a = confAccount()
		return nil
	})
	assert.Error(t, err)
	assert.False(t, called, "fn does not run without a transaction")
	_, err = s.Account(context.Background(), confCitizen)
	assert.ErrorIs(t, err, mobile.ErrNotFound)
	assert.Error(t, s.CreateRequest(ctx, confRequest("r1")))
	_, err = s.Request(context.Background(), "r1")
	assert.ErrorIs(t, err, mobile.ErrNotFound)
}

// confAtomicUpdates increments counters from many goroutines: any lost update
// means two read-modify-writes interleaved.
func confAtomicUpdates(t *testing.T, s mobile.Store) {
	const n = 40
	ctx := context.Background()
	create(t, s, confRequest("r1"))
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			errs <- s.UpdateRequest(ctx, "r1", func(r *mobile.Request) error {
				r.PINFailures++
				return nil
			})
		})
		wg.Go(func() {
			errs <- s.UpdateAccount(ctx, confCitizen, func(a *mobile.Account) error {
				a.Devices = append(a.Devices, mobile.Device{ID: fmt.Sprintf("d%d", i), PublicKey: key(byte(i)),
					Method: mobile.BySMS, Status: mobile.DeviceReplaced, ActivatedAt: confTime})
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	r, err := s.Request(ctx, "r1")
	require.NoError(t, err)
	assert.Equal(t, confRequest("r1").PINFailures+n, r.PINFailures)
	a, err := s.Account(ctx, confCitizen)
	require.NoError(t, err)
	assert.Len(t, a.Devices, n)
}

// confAtomicAccountCreateAndDelete races updates on an account that keeps
// being deleted (by going back to zero) and created again: each update must
// still see the one before.
func confAtomicAccountCreateAndDelete(t *testing.T, s mobile.Store) {
	const n, every = 40, 3
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- s.UpdateAccount(ctx, confCitizen, func(a *mobile.Account) error {
				if a.Activation == nil {
					a.Activation = &mobile.ActivationCode{Hash: key(3), ExpiresAt: confTime}
				}
				if a.Activation.Failures++; a.Activation.Failures == every {
					*a = mobile.Account{}
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
	a, err := s.Account(ctx, confCitizen)
	require.NoError(t, err)
	require.NotNil(t, a.Activation)
	assert.Equal(t, n%every, a.Activation.Failures, "every update counted, across deletions")
}

// confRequestDecidedOnce: of concurrent decisions on one pending request,
// as the phone and the expiry sweep may make, exactly one finds it pending,
// and its outcome is the one the history records.
func confRequestDecidedOnce(t *testing.T, s mobile.Store) {
	const n = 20
	ctx := context.Background()
	r := confRequest("r1")
	r.Decoy, r.PIN = false, nil
	create(t, s, r)
	decided := errors.New("already decided")
	outcomes := []mobile.State{mobile.StateConfirmed, mobile.StateDeclined, mobile.StateExpired}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.UpdateRequest(ctx, "r1", func(r *mobile.Request) error {
				if r.State != mobile.StatePending {
					return decided
				}
				r.State, r.DecidedAt = outcomes[i%len(outcomes)], confTime.Add(time.Duration(i)*time.Second)
				return nil
			})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			assert.Equal(t, -1, winner, "decided twice: by %d and %d", winner, i)
			winner = i
		} else {
			assert.ErrorIs(t, err, decided)
		}
	}
	require.NotEqual(t, -1, winner, "nobody decided")
	got, err := s.Request(ctx, "r1")
	require.NoError(t, err)
	assert.Equal(t, outcomes[winner%len(outcomes)], got.State)
	h, err := s.History(ctx, confCitizen, query(mobile.Query{}))
	require.NoError(t, err)
	if assert.Len(t, h, 1) {
		assert.Equal(t, got.State, h[0].Outcome)
	}
}

// confDeviceClaimedOnce: citizens racing to register one device ID; one
// gets it, the others a conflict, and nobody is left with a half account.
// Several rounds, each on a new ID, so that the later ones race on
// connections already open, released together.
func confDeviceClaimedOnce(t *testing.T, s mobile.Store) {
	const rounds, n = 4, 12
	ctx := context.Background()
	for round := range rounds {
		id := fmt.Sprintf("shared-%d", round)
		citizen := func(i int) string { return fmt.Sprintf("citizen-%d-%02d", round, i) }
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = s.UpdateAccount(ctx, citizen(i), func(a *mobile.Account) error {
					a.Devices = append(a.Devices, mobile.Device{ID: id, PublicKey: key(byte(i)),
						Method: mobile.BySMS, Status: mobile.DeviceActive, ActivatedAt: confTime})
					return nil
				})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				assert.Equal(t, -1, winner, "%s claimed twice: by %d and %d", id, winner, i)
				winner = i
			} else {
				assert.ErrorIs(t, err, mobile.ErrConflict)
				_, err := s.Account(ctx, citizen(i))
				assert.ErrorIs(t, err, mobile.ErrNotFound, "a refused update saves nothing")
			}
		}
		require.NotEqual(t, -1, winner, "nobody got %s", id)
		dev, err := s.Device(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, citizen(winner), dev.Citizen)
	}
}
