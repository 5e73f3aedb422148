package pin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/pin"
)

// registry is a method.Citizens over a map, which can be made to fail like a
// database that is down.
type registry struct {
	mu       sync.Mutex
	citizens map[string]method.Citizen
	down     bool
}

func (r *registry) Citizen(_ context.Context, id string) (method.Citizen, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return method.Citizen{}, errors.New("database is locked")
	}
	c, ok := r.citizens[id]
	if !ok {
		return method.Citizen{}, method.ErrUnknownCitizen
	}
	return c, nil
}

// outbox is a method.Notifier that keeps what it is given.
type outbox struct {
	mu   sync.Mutex
	sent []method.Message
}

func (o *outbox) Send(_ context.Context, m method.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	return nil
}

func (o *outbox) last(t *testing.T) method.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	require.NotEmpty(t, o.sent, "a message was sent")
	return o.sent[len(o.sent)-1]
}

func (o *outbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.sent)
}

// flakyStore is a pin.Store whose writes fail while down is set, as SQLite
// does when it stays busy.
type flakyStore struct {
	pin.Store
	mu   sync.Mutex
	down bool
}

func (f *flakyStore) Update(ctx context.Context, citizen string, fn func(*pin.Record) error) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return errors.New("SQLITE_BUSY: database is locked")
	}
	return f.Store.Update(ctx, citizen, fn)
}

func (f *flakyStore) setDown(d bool) {
	f.mu.Lock()
	f.down = d
	f.mu.Unlock()
}

type methodRig struct {
	m      *pin.Method
	svc    *pin.Service
	st     *flakyStore
	reg    *registry
	out    *outbox
	clk    *clock
	person method.Citizen
}

func newMethodRig(t *testing.T, cfg pin.Config, limits pin.Limits) *methodRig {
	t.Helper()
	clk := &clock{now: t0}
	cfg.Now, cfg.Secret = clk.Now, testSecret
	st := &flakyStore{Store: pin.NewMemoryStore()}
	svc, err := pin.New(cfg, st)
	require.NoError(t, err)
	person := method.Citizen{ID: citizen, ValidUntil: time.Date(2031, 3, 9, 0, 0, 0, 0, time.UTC), GivenName: "MARIA",
		FirstSurname: "GARCIA", DateOfBirth: time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC), Phone: "+34612345678",
		Email: "m@example.es", Level: method.LevelAdvanced, Status: method.StatusActive}
	reg := &registry{citizens: map[string]method.Citizen{citizen: person}}
	out := &outbox{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := pin.NewMethod(svc, reg, out, log).WithLimits(limits)
	return &methodRig{m: m, svc: svc, st: st, reg: reg, out: out, clk: clk, person: person}
}

func TestMethodDeliversOnlyToTheRightContrastDatum(t *testing.T) {
	ctx := context.Background()
	r := newMethodRig(t, pin.Config{}, pin.Limits{})
	issued, err := r.m.Issue(ctx, "10.0.0.1", citizen, "09/03/2031", "")
	require.NoError(t, err)
	sms := r.out.last(t)
	assert.Equal(t, method.SMS, sms.Channel)
	c, err := r.m.Check(ctx, "10.0.0.1", citizen, issued.RequestCode, sms.Code, "")
	require.NoError(t, err)
	assert.Equal(t, citizen, c.ID)
}

// A PIN issued for a wrong contrast datum, an unknown identifier or a
// blocked citizen is answered like any other and never verifies: not the PIN
// the same randomness would have made, and not any of the 32,768 PINs.
func TestDecoysNeverVerify(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, id, contrast string
		status             method.Status
	}{
		{"wrong contrast datum", citizen, "01/01/2030", method.StatusActive},
		{"unknown identifier", otherOne, "E12345678", method.StatusActive},
		{"blocked citizen", citizen, "09/03/2031", method.StatusBlocked},
		{"gave up Cl@ve", citizen, "09/03/2031", method.StatusGaveUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No phone step or block: every PIN can be tried.
			r := newMethodRig(t, pin.Config{PhoneAfter: 1 << 20, BlockAfter: 1 << 20}, pin.Limits{ClientAttempts: 1 << 20, GlobalAttempts: 1 << 20})
			r.person.Status = tc.status
			r.reg.citizens[citizen] = r.person
			issued, err := r.m.Issue(ctx, "", tc.id, tc.contrast, "")
			require.NoError(t, err)
			assert.Len(t, issued.RequestCode, 4, "a request code like any other")
			assert.Equal(t, t0.Add(10*time.Minute), issued.ExpiresAt, "the same validity")
			assert.Empty(t, issued.PIN)
			assert.Zero(t, r.out.count(), "nothing delivered")
			if tc.id == otherOne {
				_, err := r.st.Get(ctx, otherOne)
				assert.ErrorIs(t, err, pin.ErrNoRecord, "nothing stored for an unregistered identifier")
			}
			for n := 0; n < 32*32*32; n++ {
				guess := string([]byte{pinAlphabet[n%32], pinAlphabet[n/32%32], pinAlphabet[n/1024]})
				_, err := r.m.Check(ctx, "", tc.id, issued.RequestCode, guess, "")
				require.ErrorIs(t, err, pin.ErrWrongPIN, "guess %s", guess)
			}
		})
	}
}

const pinAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// Unknown and known identifiers get the same answers, limits and blocks.
func TestUnknownIdentifiersAreAnsweredAlike(t *testing.T) {
	ctx := context.Background()
	r := newMethodRig(t, pin.Config{}, pin.Limits{})
	outcomes := func(id, contrast string) []string {
		var got []string
		for range 6 {
			_, err := r.m.Issue(ctx, "", id, contrast, "")
			got = append(got, fmt.Sprint(errors.Is(err, pin.ErrRateLimited), err == nil))
		}
		is, err := r.m.Issue(ctx, "", id, contrast, "")
		if err == nil {
			for range 31 {
				_, err = r.m.Check(ctx, "", id, is.RequestCode, "AAA", "")
				got = append(got, fmt.Sprint(errors.Is(err, pin.ErrWrongPIN), errors.Is(err, pin.ErrPhoneRequired), errors.Is(err, pin.ErrBlocked)))
			}
		}
		return got
	}
	assert.Equal(t, outcomes(citizen, "01/01/2030"), outcomes(otherOne, "E12345678"))
}

func TestPerClientLimits(t *testing.T) {
	ctx := context.Background()
	r := newMethodRig(t, pin.Config{MaxPerWindow: 1000, MaxPerDay: 1000}, pin.Limits{})
	// 10 identifiers per client in 10 minutes; the 11th is refused.
	for n := range 10 {
		_, err := r.m.Issue(ctx, "192.0.2.1", dniNumber(n), "01/01/2030", "")
		require.NoError(t, err, "identifier %d", n)
	}
	_, err := r.m.Issue(ctx, "192.0.2.1", dniNumber(10), "01/01/2030", "")
	require.ErrorIs(t, err, pin.ErrTooManyAttempts, "an 11th identifier from one client")
	_, err = r.m.Issue(ctx, "192.0.2.2", dniNumber(10), "01/01/2030", "")
	require.NoError(t, err, "another client is not affected")

	// 20 requests per client in 10 minutes; the 21st is refused.
	for n := 10; n < 20; n++ {
		_, err := r.m.Issue(ctx, "192.0.2.3", citizen, "09/03/2031", "")
		require.NoError(t, err, "request %d", n)
	}
	r2 := newMethodRig(t, pin.Config{MaxPerWindow: 1000, MaxPerDay: 1000}, pin.Limits{})
	for n := range 20 {
		_, err := r2.m.Issue(ctx, "192.0.2.1", citizen, "09/03/2031", "")
		require.NoError(t, err, "request %d", n)
	}
	_, err = r2.m.Issue(ctx, "192.0.2.1", citizen, "09/03/2031", "")
	require.ErrorIs(t, err, pin.ErrTooManyAttempts, "a 21st request")
	r2.clk.Advance(10 * time.Minute)
	_, err = r2.m.Issue(ctx, "192.0.2.1", citizen, "09/03/2031", "")
	require.NoError(t, err, "a new window")

	// 40 attempts per client in 10 minutes; the 41st is refused.
	r3 := newMethodRig(t, pin.Config{PhoneAfter: 1000, BlockAfter: 1000}, pin.Limits{})
	is, err := r3.m.Issue(ctx, "192.0.2.1", citizen, "09/03/2031", "")
	require.NoError(t, err)
	for n := range 40 {
		_, err := r3.m.Check(ctx, "192.0.2.1", citizen, is.RequestCode, "AAA", "")
		require.ErrorIs(t, err, pin.ErrWrongPIN, "attempt %d", n)
	}
	_, err = r3.m.Check(ctx, "192.0.2.1", citizen, is.RequestCode, r3.out.last(t).Code, "")
	require.ErrorIs(t, err, pin.ErrTooManyAttempts, "even the right PIN, past the limit")
}

// Past a global limit every client is held to the siege limits: a person
// still gets through, an attacker spread over many addresses gets as little
// from each.
func TestGlobalLimits(t *testing.T) {
	ctx := context.Background()
	r := newMethodRig(t, pin.Config{}, pin.Limits{GlobalRequests: 5, GlobalAttempts: 3})
	for n := range 5 {
		_, err := r.m.Issue(ctx, fmt.Sprintf("198.51.100.%d", n), dniNumber(n), "01/01/2030", "")
		require.NoError(t, err)
	}
	// Under siege: two requests per client, then refused.
	for range 2 {
		_, err := r.m.Issue(ctx, "198.51.100.99", dniNumber(99), "01/01/2030", "")
		require.NoError(t, err, "a person still gets a PIN")
	}
	_, err := r.m.Issue(ctx, "198.51.100.99", dniNumber(99), "01/01/2030", "")
	require.ErrorIs(t, err, pin.ErrTooManyAttempts, "a third request from one client under siege")
	_, err = r.m.Issue(ctx, "198.51.100.0", dniNumber(0), "01/01/2030", "")
	require.NoError(t, err, "each client has its own siege allowance")

	// The citizen who was not attacked logs in during the siege.
	is, err := r.m.Issue(ctx, "203.0.113.7", citizen, "09/03/2031", "")
	require.NoError(t, err)
	for n := range 3 {
		_, err := r.m.Check(ctx, fmt.Sprintf("198.51.100.%d", n), dniNumber(n), "AAAA", "AAA", "")
		require.NotErrorIs(t, err, pin.ErrTooManyAttempts)
	}
	c, err := r.m.Check(ctx, "203.0.113.7", citizen, is.RequestCode, r.out.last(t).Code, "")
	require.NoError(t, err, "global attempts exceeded, yet a person's first attempt passes")
	assert.Equal(t, citizen, c.ID)
	for n := range 3 {
		_, err = r.m.Check(ctx, "198.51.100.50", dniNumber(50), "AAAA", "AAA", "")
		require.NotErrorIs(t, err, pin.ErrTooManyAttempts, "siege attempt %d", n)
	}
	_, err = r.m.Check(ctx, "198.51.100.50", dniNumber(50), "AAAA", "AAA", "")
	require.ErrorIs(t, err, pin.ErrTooManyAttempts, "a fourth attempt from one client under siege")

	r.clk.Advance(10 * time.Minute)
	for range 4 {
		_, err = r.m.Issue(ctx, "198.51.100.99", dniNumber(99), "01/01/2030", "")
		require.NoError(t, err, "the siege is over")
	}
}

// A storage failure is "try again", never the citizen's mistake, and never
// counted: the failure count is exactly what the answers said.
func TestStorageFailuresAreNotTheCitizensMistake(t *testing.T) {
	ctx := context.Background()
	r := newMethodRig(t, pin.Config{}, pin.Limits{})
	is, err := r.m.Issue(ctx, "", citizen, "09/03/2031", "")
	require.NoError(t, err)
	right := r.out.last(t).Code

	_, err = r.m.Check(ctx, "", citizen, is.RequestCode, "AAA", "")
	require.ErrorIs(t, err, pin.ErrWrongPIN)
	r.st.setDown(true)
	for _, typed := range []string{"AAA", right} {
		_, err = r.m.Check(ctx, "", citizen, is.RequestCode, typed, "")
		require.ErrorIs(t, err, pin.ErrUnavailable, typed)
		require.NotErrorIs(t, err, pin.ErrWrongPIN)
	}
	_, err = r.m.Issue(ctx, "", citizen, "09/03/2031", "")
	require.ErrorIs(t, err, pin.ErrUnavailable)
	r.st.setDown(false)
	st, err := r.svc.Status(ctx, citizen)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Failures, "only the answered failure counts")

	r.reg.down = true
	_, err = r.m.Check(ctx, "", citizen, is.RequestCode, right, "")
	require.ErrorIs(t, err, pin.ErrUnavailable, "registry down")
	_, err = r.m.Issue(ctx, "", citizen, "09/03/2031", "")
	require.ErrorIs(t, err, pin.ErrUnavailable, "registry down")
	r.reg.down = false
	c, err := r.m.Check(ctx, "", citizen, is.RequestCode, right, "")
	require.NoError(t, err, "the right PIN still works once storage is back")
	assert.Equal(t, citizen, c.ID)
}

// dniNumber is a valid DNI with number 20000000+n.
func dniNumber(n int) string {
	v := 20000000 + n
	return fmt.Sprintf("%08d%c", v, "TRWAGMYFPDXBNJZSQVHLCKE"[v%23])
}
