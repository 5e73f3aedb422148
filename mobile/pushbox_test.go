package mobile_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/store/postgres"
	"github.com/clave-go/clave/internal/store/sqlite"
	"github.com/clave-go/clave/mobile"
)

func appMessage(to, code string, expires time.Time) method.Message {
	return method.Message{Channel: method.App, To: to, Text: "Cl@ve PIN: " + code, Code: code, ExpiresAt: expires}
}

// pushBox is what every push box is.
type pushBox interface {
	method.Notifier
	mobile.AppInbox
}

// pushBoxes are the push boxes under test, each made on a clock: in
// memory, and in SQLite and PostgreSQL databases.
func pushBoxes(t *testing.T) map[string]func(now func() time.Time) pushBox {
	return map[string]func(now func() time.Time) pushBox{
		"memory": func(now func() time.Time) pushBox { return mobile.NewPushBox(now) },
		"sqlite": func(now func() time.Time) pushBox {
			db, err := sqlite.Open(context.Background(), ":memory:")
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			box, err := mobile.NewSQLPushBox(context.Background(), db, secret32, now)
			require.NoError(t, err)
			return box
		},
		"postgres": func(now func() time.Time) pushBox {
			db, err := postgres.Open(context.Background(), servicetest.PostgresURL(t))
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			box, err := mobile.NewSQLPushBox(context.Background(), db, secret32, now)
			require.NoError(t, err)
			return box
		},
	}
}

var secret32 = []byte("0123456789abcdef0123456789abcdef")

func messages(t *testing.T, box mobile.AppInbox, who string) []method.Message {
	t.Helper()
	msgs, err := box.AppMessages(context.Background(), who)
	require.NoError(t, err)
	return msgs
}

func codes(msgs []method.Message) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.Code)
	}
	return out
}

func TestPushBoxSend(t *testing.T) {
	for name, newBox := range pushBoxes(t) {
		t.Run(name, func(t *testing.T) {
			c := &clock{now: t0}
			box := newBox(c.Now)
			ctx := context.Background()
			require.Empty(t, messages(t, box, citizen))

			require.NoError(t, box.Send(ctx, appMessage(citizen, "111111", t0.Add(2*time.Minute))))
			c.Advance(time.Minute)
			require.NoError(t, box.Send(ctx, appMessage(citizen, "222222", c.Now().Add(10*time.Minute))))
			require.NoError(t, box.Send(ctx, method.Message{Channel: method.App, To: citizen, Text: "no code, no expiry"}))
			require.NoError(t, box.Send(ctx, appMessage(otherOne, "333333", c.Now().Add(time.Minute))))

			got := messages(t, box, citizen)
			assert.Equal(t, []string{"", "222222", "111111"}, codes(got), "newest first")
			assert.True(t, c.Now().Equal(got[1].SentAt), "stamped on sending")
			assert.True(t, t0.Equal(got[2].SentAt))
			assert.True(t, t0.Add(2*time.Minute).Equal(got[2].ExpiresAt))
			assert.True(t, got[0].ExpiresAt.IsZero(), "no expiry stays none")
			assert.Equal(t, "Cl@ve PIN: 111111", got[2].Text)
			assert.Equal(t, []string{"333333"}, codes(messages(t, box, otherOne)))

			// Copies: changing what was returned changes nothing kept.
			got[1].Code = "tampered"
			assert.Equal(t, "222222", messages(t, box, citizen)[1].Code)

			// Expired messages are dropped.
			c.Advance(time.Minute)
			assert.Equal(t, []string{"", "222222"}, codes(messages(t, box, citizen)))
			assert.Empty(t, messages(t, box, otherOne))
			require.NoError(t, box.Send(ctx, appMessage(citizen, "444444", c.Now())), "an expired message is dropped, not refused")
			assert.Equal(t, []string{"", "222222"}, codes(messages(t, box, citizen)))

			// Looked up in any spelling, kept under the normalised one.
			assert.Len(t, messages(t, box, "12.345.678-z"), 2)
			assert.Empty(t, messages(t, box, "not an id"))

			// At most 20 per citizen, the newest.
			for i := range 25 {
				require.NoError(t, box.Send(ctx, appMessage(otherOne, fmt.Sprint(i), c.Now().Add(time.Hour))))
			}
			got = messages(t, box, otherOne)
			require.Len(t, got, 20)
			assert.Equal(t, "24", got[0].Code)
			assert.Equal(t, "5", got[19].Code)
		})
	}
}

func TestPushBoxRefuses(t *testing.T) {
	for name, newBox := range pushBoxes(t) {
		t.Run(name, func(t *testing.T) {
			box := newBox(nil)
			ctx := context.Background()
			exp := time.Now().Add(time.Minute)
			for name, c := range map[string]struct {
				m    method.Message
				want error
			}{
				"SMS":              {method.Message{Channel: method.SMS, To: "+34600000000", Code: "1"}, mobile.ErrWrongChannel},
				"no channel":       {method.Message{To: citizen}, mobile.ErrWrongChannel},
				"phone number":     {appMessage("+34600000000", "1", exp), mobile.ErrBadCitizen},
				"not normalised":   {appMessage("12.345.678-z", "1", exp), mobile.ErrBadCitizen},
				"bad check letter": {appMessage("12345678A", "1", exp), mobile.ErrBadCitizen},
				"eIDAS":            {appMessage("DE/ES/12345", "1", exp), mobile.ErrBadCitizen},
			} {
				require.ErrorIs(t, box.Send(ctx, c.m), c.want, name)
			}
			long := appMessage(citizen, "1", exp)
			long.Text = string(make([]byte, 4096))
			require.Error(t, box.Send(ctx, long))
			require.Empty(t, messages(t, box, citizen))
		})
	}
}

// The SQL push box is shared by the processes on its database, keeps its
// messages encrypted, and a box with another secret reads none of them.
func TestSQLPushBoxShared(t *testing.T) {
	ctx := context.Background()
	url := servicetest.PostgresURL(t)
	open := func(secret []byte) (*mobile.SQLPushBox, *sql.DB) {
		db, err := postgres.Open(ctx, url)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		box, err := mobile.NewSQLPushBox(ctx, db, secret, nil)
		require.NoError(t, err)
		return box, db
	}
	a, db := open(secret32)
	b, _ := open(secret32)
	require.NoError(t, a.Send(ctx, appMessage(citizen, "XK7", time.Now().Add(time.Minute))))
	got := messages(t, b, citizen)
	require.Len(t, got, 1, "sent by one process, read by another")
	assert.Equal(t, "XK7", got[0].Code)

	var sealed string
	require.NoError(t, db.QueryRowContext(ctx, `SELECT sealed FROM mobile_push_messages`).Scan(&sealed))
	assert.NotContains(t, sealed, "XK7", "the PIN is not kept in clear")

	other, _ := open([]byte("another secret, another gateway!"))
	assert.Empty(t, messages(t, other, citizen), "another secret opens nothing")
}

func TestPushBoxBounds(t *testing.T) {
	c := &clock{now: t0}
	box := mobile.NewPushBox(c.Now)
	ctx := context.Background()
	for i := range 25 {
		require.NoError(t, box.Send(ctx, appMessage(citizen, fmt.Sprint(i), t0.Add(time.Hour))))
	}
	got := messages(t, box, citizen)
	require.Len(t, got, 20, "at most 20 per citizen")
	assert.Equal(t, "24", got[0].Code)
	assert.Equal(t, "5", got[19].Code)

	// The box of the citizen least recently sent to goes first.
	require.NoError(t, box.Send(ctx, appMessage(otherOne, "x", t0.Add(time.Hour))))
	for i := range 100_000 - 2 {
		require.NoError(t, box.Send(ctx, appMessage(dniOf(1_000_000+i), "y", t0.Add(time.Hour))))
	}
	assert.Len(t, messages(t, box, citizen), 20, "100,000 citizens fit")
	assert.Len(t, messages(t, box, otherOne), 1)
	require.NoError(t, box.Send(ctx, appMessage(dniOf(2_000_000), "z", t0.Add(time.Hour))))
	assert.Empty(t, messages(t, box, citizen), "the oldest box was forgotten")
	assert.Len(t, messages(t, box, otherOne), 1)
}

func TestPushBoxSignals(t *testing.T) {
	box := mobile.NewPushBox(nil)
	sig := mobile.NewLocalSignals()
	box.Signals = sig
	wake := make(chan struct{}, 8)
	stop := sig.Subscribe(mobile.CitizenTopic(citizen), func() { wake <- struct{}{} })
	defer stop()
	require.NoError(t, box.Send(context.Background(), appMessage(citizen, "123456", time.Now().Add(time.Minute))))
	select {
	case <-wake:
	default:
		t.Fatal("no signal after Send")
	}
	require.Error(t, box.Send(context.Background(), appMessage("bad", "1", time.Now().Add(time.Minute))))
	select {
	case <-wake:
		t.Fatal("signal for a refused message")
	default:
	}
}

func TestPushBoxConcurrent(t *testing.T) {
	box := mobile.NewPushBox(nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				who := []string{citizen, otherOne}[j%2]
				_ = box.Send(context.Background(), appMessage(who, fmt.Sprint(i, j), time.Now().Add(time.Minute)))
				_, _ = box.AppMessages(context.Background(), who)
			}
		})
	}
	wg.Wait()
	assert.Len(t, messages(t, box, citizen), 20)
}
