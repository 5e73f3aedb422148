package pgsignal_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pgsignal"
	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/mobile"
)

var _ mobile.Signals = (*pgsignal.Signals)(nil)

// within is how long a signal may take to cross the database; generous,
// since it only bounds a failing test.
const within = 10 * time.Second

// newSignals is one gateway process: a pool of its own on the database.
func newSignals(t *testing.T, url string) *pgsignal.Signals {
	t.Helper()
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := pgsignal.New(context.Background(), db, pgsignal.Options{TopicKey: []byte("key")})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func wakes(s mobile.Signals, topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 16)
	stop := s.Subscribe(topic, func() { ch <- struct{}{} })
	return ch, stop
}

func received(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("%s: no signal within %s", what, within)
	}
}

// quiet checks that nothing arrives on ch once a later signal on another
// topic, sent after, has crossed: notifications are delivered in order.
func quiet(t *testing.T, a, b *pgsignal.Signals, ch <-chan struct{}, what string) {
	t.Helper()
	marker, stop := wakes(b, "marker")
	defer stop()
	a.Publish(context.Background(), "marker")
	received(t, marker, "marker")
	select {
	case <-ch:
		t.Fatalf("%s: unexpected signal", what)
	default:
	}
}

func TestSignalCrossesProcesses(t *testing.T) {
	t.Parallel()
	url := servicetest.PostgresURL(t)
	a, b := newSignals(t, url), newSignals(t, url)

	onB, stop := wakes(b, mobile.RequestTopic("r1"))
	other, stopOther := wakes(b, mobile.RequestTopic("r2"))
	defer stopOther()
	onA, stopA := wakes(a, mobile.RequestTopic("r1"))
	defer stopA()

	a.Publish(context.Background(), mobile.RequestTopic("r1"))
	received(t, onA, "publisher's own subscriber")
	received(t, onB, "other process's subscriber")
	quiet(t, a, b, other, "subscriber of another topic")
	// The publisher's own subscriber is woken once, at Publish, not again
	// when the database echoes the notification back.
	quiet(t, b, a, onA, "publisher's own subscriber, echo")

	stop()
	a.Publish(context.Background(), mobile.RequestTopic("r1"))
	quiet(t, a, b, onB, "stopped subscriber")
	assert.Equal(t, 1, b.Waiters())
}

func TestTopicTravelsHashed(t *testing.T) {
	t.Parallel()
	url := servicetest.PostgresURL(t)
	a := newSignals(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	spy, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer spy.Close(context.Background())
	_, err = spy.Exec(ctx, "LISTEN "+pgsignal.Channel)
	require.NoError(t, err)

	a.Publish(ctx, mobile.CitizenTopic("12345678Z"))
	n, err := spy.WaitForNotification(ctx)
	require.NoError(t, err)
	assert.NotContains(t, n.Payload, "12345678", "the DNI must not cross the database in clear")
	assert.NotContains(t, n.Payload, "citizen")
}

// A listening connection that breaks is remade, and every subscriber is
// woken once, since what was notified meanwhile is lost.
func TestReconnectWakesEveryone(t *testing.T) {
	t.Parallel()
	url := servicetest.PostgresURL(t)
	a, b := newSignals(t, url), newSignals(t, url)
	onB, stop := wakes(b, mobile.RequestTopic("r1"))
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	admin, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer admin.Close(context.Background())
	// End every other session listening on the channel: b's (and a's)
	// listening connections.
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'`)
	require.NoError(t, err)
	received(t, onB, "wake-up after the reconnection")

	// And signals flow again.
	a.Publish(ctx, mobile.RequestTopic("r1"))
	received(t, onB, "signal after the reconnection")
}
