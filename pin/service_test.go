package pin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/store/sqlite"
	"github.com/clave-go/clave/pin"
	"github.com/clave-go/clave/pin/pintest"
)

const (
	citizen    = "12345678Z"
	otherOne   = "X1234567L"
	phone      = "612345678"
	validity   = 10 * time.Minute
	phoneAfter = 10
	blockAfter = 30
	blockFor   = 24 * time.Hour
)

var (
	t0         = time.Date(2030, 3, 1, 10, 0, 0, 0, time.UTC)
	testSecret = bytes.Repeat([]byte("s"), 32)
)

// clock is the injected time; tests move it instead of sleeping.
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

type storeKind struct {
	name string
	open func(t *testing.T) pin.Store
}

// storeKinds lists the stores every rule runs on. The SQLite one is a file,
// not ":memory:", so that concurrent tests use several connections.
func storeKinds() []storeKind {
	return []storeKind{
		{"memory", func(*testing.T) pin.Store { return pin.NewMemoryStore() }},
		{"sqlite", func(t *testing.T) pin.Store { return openSQL(t, filepath.Join(t.TempDir(), "pin.db")) }},
	}
}

func openSQL(t *testing.T, path string) *pin.SQLStore {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st, err := pin.NewSQLStore(ctx, db)
	require.NoError(t, err)
	return st
}

type env struct {
	t   *testing.T
	ctx context.Context
	clk *clock
	st  pin.Store
	svc *pin.Service
}

func newEnv(t *testing.T, st pin.Store) *env {
	t.Helper()
	clk := &clock{now: t0}
	// A seeded reader keeps PINs reproducible, so that "two PINs differ"
	// cannot flake.
	svc, err := pin.New(pin.Config{
		Secret: testSecret,
		Now:    clk.Now,
		Rand:   rand.NewChaCha8([32]byte{1}),
	}, st)
	require.NoError(t, err)
	return &env{t: t, ctx: context.Background(), clk: clk, st: st, svc: svc}
}

func (e *env) request(code string) pin.Issued {
	e.t.Helper()
	iss, err := e.svc.Request(e.ctx, citizen, code)
	require.NoError(e.t, err)
	return iss
}

func (e *env) verify(iss pin.Issued, p string) error {
	return e.svc.Verify(e.ctx, citizen, iss.RequestCode, p, "", phone)
}

func (e *env) verifyWithPhone(iss pin.Issued, p string) error {
	return e.svc.Verify(e.ctx, citizen, iss.RequestCode, p, phone, phone)
}

func (e *env) status() pin.Status {
	e.t.Helper()
	st, err := e.svc.Status(e.ctx, citizen)
	require.NoError(e.t, err)
	return st
}

// fail makes n wrong verifications of iss, giving the phone so that each
// counts as a wrong PIN whatever the count.
func (e *env) fail(iss pin.Issued, n int) {
	e.t.Helper()
	for i := range n {
		require.ErrorIs(e.t, e.verifyWithPhone(iss, wrong(iss.PIN)), pin.ErrWrongPIN, "failure %d", i+1)
	}
}

// wrong returns a PIN that differs from p in its first character.
func wrong(p string) string {
	if p[0] == 'A' {
		return "B" + p[1:]
	}
	return "A" + p[1:]
}

func rateLimited(t *testing.T, err error) time.Time {
	t.Helper()
	require.ErrorIs(t, err, pin.ErrRateLimited)
	var rl *pin.RateLimitError
	require.ErrorAs(t, err, &rl)
	return rl.RetryAt
}

// rules are the Cl@ve PIN rules, each run on every store.
var rules = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"HappyPath", func(t *testing.T, e *env) {
		iss := e.request("")
		assert.Regexp(t, `^[A-Z2-7]{3}$`, iss.PIN)
		assert.Regexp(t, `^[A-Z2-7]{4}$`, iss.RequestCode)
		assert.Equal(t, t0.Add(validity), iss.ExpiresAt)
		st := e.status()
		require.NotNil(t, st.Pending)
		assert.Equal(t, pin.PendingInfo{RequestCode: iss.RequestCode, ExpiresAt: iss.ExpiresAt}, *st.Pending)
		require.NoError(t, e.verify(iss, iss.PIN))
		assert.Equal(t, pin.Status{}, e.status(), "a used PIN is no longer pending")
	}},
	{"ForgivingInput", func(t *testing.T, e *env) {
		iss := e.request("")
		err := e.svc.Verify(e.ctx, " 12.345.678-z ", strings.ToLower(iss.RequestCode), " "+strings.ToLower(iss.PIN)+" ", "", "")
		require.NoError(t, err, "identifier, code and PIN are normalised")
	}},
	{"PINIsNotStored", func(t *testing.T, e *env) {
		iss := e.request("")
		r, err := e.st.Get(e.ctx, citizen)
		require.NoError(t, err)
		require.NotNil(t, r.Pending)
		assert.Len(t, r.Pending.Hash, 32)
		assert.NotContains(t, string(r.Pending.Hash), iss.PIN)
	}},
	{"WrongPIN", func(t *testing.T, e *env) {
		iss := e.request("")
		assert.ErrorIs(t, e.verify(iss, wrong(iss.PIN)), pin.ErrWrongPIN)
		assert.ErrorIs(t, e.verify(iss, ""), pin.ErrWrongPIN)
		st := e.status()
		assert.Equal(t, 2, st.Failures)
		assert.NotNil(t, st.Pending, "a wrong PIN does not consume the right one")
		require.NoError(t, e.verify(iss, iss.PIN))
		assert.Equal(t, 0, e.status().Failures, "success resets the counter")
	}},
	{"WrongRequestCodeCounts", func(t *testing.T, e *env) {
		iss := e.request("AAAA")
		err := e.svc.Verify(e.ctx, citizen, "BBBB", iss.PIN, "", "")
		assert.ErrorIs(t, err, pin.ErrNoPending)
		assert.Equal(t, 1, e.status().Failures)
	}},
	{"NothingPending", func(t *testing.T, e *env) {
		err := e.svc.Verify(e.ctx, citizen, "AAAA", "ABC", "", "")
		assert.ErrorIs(t, err, pin.ErrNoPending)
		assert.Equal(t, pin.Status{}, e.status(), "nothing to guess at, nothing counted")
		_, err = e.st.Get(e.ctx, citizen)
		assert.ErrorIs(t, err, pin.ErrNoRecord, "no record for a stranger's attempts")
	}},
	{"ValidUntilTheEnd", func(t *testing.T, e *env) {
		iss := e.request("")
		e.clk.Advance(validity - time.Nanosecond)
		require.NoError(t, e.verify(iss, iss.PIN))
	}},
	{"Expired", func(t *testing.T, e *env) {
		iss := e.request("")
		e.clk.Advance(validity)
		assert.Nil(t, e.status().Pending)
		assert.ErrorIs(t, e.verify(iss, iss.PIN), pin.ErrExpired)
		assert.Equal(t, 0, e.status().Failures, "lateness is not guessing")
	}},
	{"Reused", func(t *testing.T, e *env) {
		iss := e.request("")
		require.NoError(t, e.verify(iss, iss.PIN))
		assert.ErrorIs(t, e.verify(iss, iss.PIN), pin.ErrUsed)
		assert.Equal(t, 0, e.status().Failures)
	}},
	{"Superseded", func(t *testing.T, e *env) {
		a := e.request("AAAA")
		b := e.request("BBBB")
		assert.ErrorIs(t, e.verify(a, a.PIN), pin.ErrNoPending)
		require.NoError(t, e.verify(b, b.PIN))
	}},
	{"SupersededWithSameCode", func(t *testing.T, e *env) {
		a := e.request("AAAA")
		b := e.request("AAAA")
		require.NotEqual(t, a.PIN, b.PIN)
		assert.ErrorIs(t, e.verify(a, a.PIN), pin.ErrWrongPIN)
		require.NoError(t, e.verify(b, b.PIN))
	}},
	{"ChosenCode", func(t *testing.T, e *env) {
		iss := e.request(" ab1z ")
		assert.Equal(t, "AB1Z", iss.RequestCode)
		require.NoError(t, e.svc.Verify(e.ctx, citizen, "ab1z", iss.PIN, "", ""))
	}},
	{"ChosenCodeInvalid", func(t *testing.T, e *env) {
		for _, code := range []string{"ABC", "ABCDE", "AB C", "AB-1", "ÁBCD", "    x"} {
			_, err := e.svc.Request(e.ctx, citizen, code)
			assert.ErrorIs(t, err, pin.ErrBadRequestCode, "%q", code)
		}
		assert.Equal(t, pin.Status{}, e.status())
		for range 5 {
			e.request("") // refused requests did not count against the limit
		}
	}},
	{"RateLimitBurst", func(t *testing.T, e *env) {
		var last pin.Issued
		for range 5 {
			last = e.request("")
		}
		_, err := e.svc.Request(e.ctx, citizen, "")
		assert.Equal(t, t0.Add(10*time.Minute), rateLimited(t, err))
		assert.NotContains(t, err.Error(), "5678")
		e.clk.Advance(10*time.Minute - time.Second)
		_, err = e.svc.Request(e.ctx, citizen, "")
		assert.Equal(t, t0.Add(10*time.Minute), rateLimited(t, err))
		e.clk.Advance(time.Second)
		e.request("")
		assert.ErrorIs(t, e.verify(last, last.PIN), pin.ErrNoPending, "the accepted request superseded it")
	}},
	{"RefusedRequestKeepsPIN", func(t *testing.T, e *env) {
		var last pin.Issued
		for range 5 {
			last = e.request("")
		}
		_, err := e.svc.Request(e.ctx, citizen, "")
		rateLimited(t, err)
		require.NoError(t, e.verify(last, last.PIN))
	}},
	{"RateLimitSlidingWindow", func(t *testing.T, e *env) {
		for range 5 {
			e.request("")
			e.clk.Advance(time.Minute)
		}
		_, err := e.svc.Request(e.ctx, citizen, "")
		assert.Equal(t, t0.Add(10*time.Minute), rateLimited(t, err))
		e.clk.Advance(5 * time.Minute) // t0+10m: the first request left the window
		e.request("")
		_, err = e.svc.Request(e.ctx, citizen, "")
		assert.Equal(t, t0.Add(11*time.Minute), rateLimited(t, err))
	}},
	{"RateLimitDaily", func(t *testing.T, e *env) {
		for range 4 {
			for range 5 {
				e.request("")
			}
			e.clk.Advance(10 * time.Minute)
		}
		_, err := e.svc.Request(e.ctx, citizen, "")
		assert.Equal(t, t0.Add(24*time.Hour), rateLimited(t, err), "the window is clear, the day is not")
		e.clk.Advance(24*time.Hour - 40*time.Minute - time.Second)
		_, err = e.svc.Request(e.ctx, citizen, "")
		rateLimited(t, err)
		e.clk.Advance(time.Second)
		iss := e.request("")
		require.NoError(t, e.verify(iss, iss.PIN))
		r, err := e.st.Get(e.ctx, citizen)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(r.Requests), 20, "request times are pruned")
	}},
	{"PhoneNotNeededBelowThreshold", func(t *testing.T, e *env) {
		iss := e.request("")
		e.fail(iss, phoneAfter-1)
		assert.False(t, e.status().NeedsPhone)
		require.NoError(t, e.svc.Verify(e.ctx, citizen, iss.RequestCode, iss.PIN, "", ""))
	}},
	{"PhoneRequired", func(t *testing.T, e *env) {
		iss := e.request("")
		e.fail(iss, phoneAfter)
		st := e.status()
		assert.True(t, st.NeedsPhone)
		assert.Equal(t, phoneAfter, st.Failures)

		assert.ErrorIs(t, e.verify(iss, iss.PIN), pin.ErrPhoneRequired, "missing phone")
		err := e.svc.Verify(e.ctx, citizen, iss.RequestCode, iss.PIN, "612345679", phone)
		assert.ErrorIs(t, err, pin.ErrPhoneRequired, "wrong phone")
		err = e.svc.Verify(e.ctx, citizen, iss.RequestCode, wrong(iss.PIN), "612 345 678", phone)
		assert.ErrorIs(t, err, pin.ErrWrongPIN, "right phone, wrong PIN")
		assert.Equal(t, phoneAfter+3, e.status().Failures, "each counts as a failure")

		err = e.svc.Verify(e.ctx, citizen, iss.RequestCode, iss.PIN, "+34 612 34 56 78", "612345678")
		require.NoError(t, err)
		assert.Equal(t, pin.Status{}, e.status())
	}},
	{"PhoneRequiredWithoutRegisteredPhone", func(t *testing.T, e *env) {
		iss := e.request("")
		e.fail(iss, phoneAfter)
		err := e.svc.Verify(e.ctx, citizen, iss.RequestCode, iss.PIN, "", "")
		assert.ErrorIs(t, err, pin.ErrPhoneRequired, "no phone on record matches nothing")
	}},
	{"Blocked", func(t *testing.T, e *env) {
		iss := e.request("")
		e.fail(iss, blockAfter)
		assert.ErrorIs(t, e.verifyWithPhone(iss, wrong(iss.PIN)), pin.ErrBlocked, "failure 31 blocks")
		st := e.status()
		assert.Equal(t, t0.Add(blockFor), st.BlockedUntil)
		assert.Nil(t, st.Pending, "the block drops the pending PIN")

		assert.ErrorIs(t, e.verifyWithPhone(iss, iss.PIN), pin.ErrBlocked)
		_, err := e.svc.Request(e.ctx, citizen, "")
		assert.ErrorIs(t, err, pin.ErrBlocked)
		assert.Equal(t, blockAfter+1, e.status().Failures, "attempts while blocked do not extend the block")

		e.clk.Advance(blockFor - time.Second)
		_, err = e.svc.Request(e.ctx, citizen, "")
		assert.ErrorIs(t, err, pin.ErrBlocked)
		e.clk.Advance(time.Second)
		assert.Equal(t, pin.Status{}, e.status(), "unblocked with a fresh counter")
		assert.ErrorIs(t, e.verifyWithPhone(iss, iss.PIN), pin.ErrNoPending)
		next := e.request("")
		require.NoError(t, e.verify(next, next.PIN), "no phone needed after the block")
	}},
	{"CitizensAreSeparate", func(t *testing.T, e *env) {
		iss := e.request("")
		e.fail(iss, phoneAfter)
		other, err := e.svc.Request(e.ctx, otherOne, "")
		require.NoError(t, err)
		st, err := e.svc.Status(e.ctx, otherOne)
		require.NoError(t, err)
		assert.Equal(t, 0, st.Failures)
		require.NoError(t, e.svc.Verify(e.ctx, otherOne, other.RequestCode, other.PIN, "", ""))
		err = e.svc.Verify(e.ctx, otherOne, iss.RequestCode, iss.PIN, "", "")
		assert.ErrorIs(t, err, pin.ErrNoPending, "a PIN is bound to its citizen")
	}},
	{"BadCitizen", func(t *testing.T, e *env) {
		for _, id := range []string{"12345678A", "", "ES/DE/123456", "not a dni"} {
			_, err := e.svc.Request(e.ctx, id, "")
			assert.ErrorIs(t, err, pin.ErrBadCitizen, "%q", id)
			if id != "" {
				assert.NotContains(t, err.Error(), id)
			}
			assert.ErrorIs(t, e.svc.Verify(e.ctx, id, "AAAA", "ABC", "", ""), pin.ErrBadCitizen)
			_, err = e.svc.Status(e.ctx, id)
			assert.ErrorIs(t, err, pin.ErrBadCitizen)
		}
	}},
	{"ConcurrentVerify", func(t *testing.T, e *env) {
		iss := e.request("")
		errs := parallel(20, func(int) error { return e.verify(iss, iss.PIN) })
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				assert.ErrorIs(t, err, pin.ErrUsed)
			}
		}
		assert.Equal(t, 1, ok, "exactly one verification consumes the PIN")
	}},
	{"ConcurrentRequests", func(t *testing.T, e *env) {
		issued := make([]pin.Issued, 20)
		errs := parallel(20, func(i int) error {
			var err error
			issued[i], err = e.svc.Request(e.ctx, citizen, "")
			return err
		})
		var codes []string
		for i, err := range errs {
			if err == nil {
				codes = append(codes, issued[i].RequestCode)
			} else {
				rateLimited(t, err)
			}
		}
		assert.Len(t, codes, 5, "the limit holds under concurrency")
		st := e.status()
		require.NotNil(t, st.Pending)
		assert.Contains(t, codes, st.Pending.RequestCode)
	}},
	{"ConcurrentFailures", func(t *testing.T, e *env) {
		iss := e.request("")
		errs := parallel(40, func(int) error { return e.verifyWithPhone(iss, wrong(iss.PIN)) })
		var wrongs, blocked int
		for _, err := range errs {
			switch {
			case errors.Is(err, pin.ErrWrongPIN):
				wrongs++
			case errors.Is(err, pin.ErrBlocked):
				blocked++
			}
		}
		assert.Equal(t, blockAfter, wrongs, "no failure is lost")
		assert.Equal(t, 40-blockAfter, blocked)
		assert.Equal(t, blockAfter+1, e.status().Failures)
	}},
}

func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func TestRules(t *testing.T) {
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) {
			for _, r := range rules {
				t.Run(r.name, func(t *testing.T) {
					t.Parallel()
					r.run(t, newEnv(t, k.open(t)))
				})
			}
		})
	}
}

// TestPersistence restarts the gateway: a new database connection and a new
// Service with the same secret must keep PINs, failures and blocks.
func TestPersistence(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pin.db")
	clk := &clock{now: t0}
	open := func(secret []byte) (*pin.Service, func()) {
		db, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		st, err := pin.NewSQLStore(ctx, db)
		require.NoError(t, err)
		svc, err := pin.New(pin.Config{Secret: secret, Now: clk.Now}, st)
		require.NoError(t, err)
		return svc, func() { require.NoError(t, db.Close()) }
	}

	svc, closeDB := open(testSecret)
	iss, err := svc.Request(ctx, citizen, "")
	require.NoError(t, err)
	require.ErrorIs(t, svc.Verify(ctx, citizen, iss.RequestCode, wrong(iss.PIN), "", ""), pin.ErrWrongPIN)
	blockedIss, err := svc.Request(ctx, otherOne, "")
	require.NoError(t, err)
	for range blockAfter + 1 {
		svc.Verify(ctx, otherOne, blockedIss.RequestCode, wrong(blockedIss.PIN), phone, phone)
	}
	closeDB()

	other, closeDB := open(bytes.Repeat([]byte("x"), 32))
	err = other.Verify(ctx, citizen, iss.RequestCode, iss.PIN, "", "")
	assert.ErrorIs(t, err, pin.ErrWrongPIN, "another secret cannot check the stored PIN")
	closeDB()

	svc, closeDB = open(testSecret)
	defer closeDB()
	st, err := svc.Status(ctx, citizen)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Failures)
	require.NotNil(t, st.Pending)
	assert.True(t, iss.ExpiresAt.Equal(st.Pending.ExpiresAt))
	require.NoError(t, svc.Verify(ctx, citizen, iss.RequestCode, iss.PIN, "", ""), "the PIN survived the restart")

	st, err = svc.Status(ctx, otherOne)
	require.NoError(t, err)
	assert.True(t, st.BlockedUntil.Equal(t0.Add(blockFor)), "the block survived the restart")
	assert.Equal(t, blockAfter+1, st.Failures)
	_, err = svc.Request(ctx, otherOne, "")
	assert.ErrorIs(t, err, pin.ErrBlocked)
}

func TestStoreConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		pintest.RunStoreTests(t, func(*testing.T) pin.Store { return pin.NewMemoryStore() })
	})
	t.Run("zero memory", func(t *testing.T) {
		pintest.RunStoreTests(t, func(*testing.T) pin.Store { return new(pin.MemoryStore) })
	})
	t.Run("sqlite file", func(t *testing.T) {
		pintest.RunStoreTests(t, func(t *testing.T) pin.Store {
			return openSQL(t, filepath.Join(t.TempDir(), "pin.db"))
		})
	})
	t.Run("sqlite memory", func(t *testing.T) {
		pintest.RunStoreTests(t, func(t *testing.T) pin.Store { return openSQL(t, ":memory:") })
	})
	t.Run("sqlite deferred transactions", func(t *testing.T) {
		// A database opened without _txlock=immediate must still update
		// atomically: Update takes the write lock with its first statement.
		pintest.RunStoreTests(t, func(t *testing.T) pin.Store {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "pin.db")
			db, err := sqlite.Open(ctx, path)
			require.NoError(t, err)
			require.NoError(t, db.Close())
			db, err = sqlOpenDeferred(path)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			st, err := pin.NewSQLStore(ctx, db)
			require.NoError(t, err)
			return st
		})
	})
}

func TestNewConfig(t *testing.T) {
	st := pin.NewMemoryStore()
	_, err := pin.New(pin.Config{}, nil)
	assert.Error(t, err, "nil store")
	for name, cfg := range map[string]pin.Config{
		"short secret":      {Secret: make([]byte, 31)},
		"empty secret":      {Secret: []byte{}},
		"negative validity": {Validity: -time.Minute},
		"negative window":   {Window: -time.Minute},
		"negative block":    {BlockFor: -time.Minute},
		"negative limit":    {MaxPerDay: -1},
		"negative phone":    {PhoneAfter: -1},
	} {
		_, err := pin.New(cfg, st)
		assert.Error(t, err, name)
	}
	_, err = pin.New(pin.Config{Rand: iotest.ErrReader(errors.New("dry"))}, st)
	assert.ErrorContains(t, err, "dry", "a secret cannot be generated")
}

func TestCustomConfig(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	svc, err := pin.New(pin.Config{
		Now: clk.Now, Validity: time.Minute, MaxPerWindow: 2, Window: time.Hour, MaxPerDay: 3,
		PhoneAfter: 1, BlockAfter: 2, BlockFor: time.Hour,
	}, pin.NewMemoryStore())
	require.NoError(t, err)

	iss, err := svc.Request(ctx, citizen, "")
	require.NoError(t, err)
	assert.Equal(t, t0.Add(time.Minute), iss.ExpiresAt)
	_, err = svc.Request(ctx, citizen, "")
	require.NoError(t, err)
	_, err = svc.Request(ctx, citizen, "")
	assert.Equal(t, t0.Add(time.Hour), rateLimited(t, err))
	clk.Advance(time.Hour)
	iss, err = svc.Request(ctx, citizen, "")
	require.NoError(t, err)
	_, err = svc.Request(ctx, citizen, "")
	assert.Equal(t, t0.Add(24*time.Hour), rateLimited(t, err), "3 a day")

	assert.ErrorIs(t, svc.Verify(ctx, citizen, iss.RequestCode, wrong(iss.PIN), "", ""), pin.ErrWrongPIN)
	assert.ErrorIs(t, svc.Verify(ctx, citizen, iss.RequestCode, iss.PIN, "", ""), pin.ErrPhoneRequired)
	assert.ErrorIs(t, svc.Verify(ctx, citizen, iss.RequestCode, iss.PIN, "", ""), pin.ErrBlocked)
	st, err := svc.Status(ctx, citizen)
	require.NoError(t, err)
	assert.Equal(t, clk.Now().Add(time.Hour), st.BlockedUntil)
}

// TestGeneratedSecret shows why a gateway with a persistent store sets the
// secret: without it, another process cannot verify the PINs issued.
func TestGeneratedSecret(t *testing.T) {
	ctx := context.Background()
	st := pin.NewMemoryStore()
	first, err := pin.New(pin.Config{}, st)
	require.NoError(t, err)
	restarted, err := pin.New(pin.Config{}, st)
	require.NoError(t, err)
	iss, err := first.Request(ctx, citizen, "")
	require.NoError(t, err)
	assert.ErrorIs(t, restarted.Verify(ctx, citizen, iss.RequestCode, iss.PIN, "", ""), pin.ErrWrongPIN)
	require.NoError(t, first.Verify(ctx, citizen, iss.RequestCode, iss.PIN, "", ""))
}

func TestRandomnessFailure(t *testing.T) {
	ctx := context.Background()
	svc, err := pin.New(pin.Config{Secret: testSecret, Rand: iotest.ErrReader(errors.New("dry"))}, pin.NewMemoryStore())
	require.NoError(t, err)
	_, err = svc.Request(ctx, citizen, "")
	assert.ErrorContains(t, err, "dry")
	st, err := svc.Status(ctx, citizen)
	require.NoError(t, err)
	assert.Equal(t, pin.Status{}, st, "nothing recorded")
}

// brokenStore fails every call, to check that store errors surface wrapped
// and are never mistaken for a verdict.
type brokenStore struct{}

var errBroken = errors.New("disk on fire")

func (brokenStore) Get(context.Context, string) (pin.Record, error) { return pin.Record{}, errBroken }
func (brokenStore) Update(context.Context, string, func(*pin.Record) error) error {
	return errBroken
}

func TestStoreErrors(t *testing.T) {
	ctx := context.Background()
	svc, err := pin.New(pin.Config{Secret: testSecret}, brokenStore{})
	require.NoError(t, err)
	_, err = svc.Request(ctx, citizen, "")
	assert.ErrorIs(t, err, errBroken)
	err = svc.Verify(ctx, citizen, "AAAA", "ABC", "", "")
	assert.ErrorIs(t, err, errBroken)
	assert.NotErrorIs(t, err, pin.ErrNoPending)
	_, err = svc.Status(ctx, citizen)
	assert.ErrorIs(t, err, errBroken)
}

func TestIssuedStringHidesPIN(t *testing.T) {
	iss := pin.Issued{RequestCode: "WXYZ", PIN: "ABC", ExpiresAt: t0}
	for _, s := range []string{iss.String(), fmt.Sprint(iss), fmt.Sprintf("%+v", iss)} {
		assert.NotContains(t, s, "ABC")
		assert.Contains(t, s, "WXYZ")
	}
}
