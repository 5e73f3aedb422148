// Package pgsignal carries Cl@ve Móvil's wake-up signals (mobile.Signals)
// between gateway processes that share one PostgreSQL database, through
// PostgreSQL's own LISTEN/NOTIFY: a confirmation reaching one process
// releases the page or the phone waiting on another.
//
// A signal says only "look again" (see mobile.Signals), so what crosses the
// database is small and carries nothing personal: the topic is sent as a
// keyed hash, never as the request ID or DNI/NIE it names. Subscribers in
// this process are woken at once on Publish, without the round trip; the
// other processes are woken when the database delivers the notification.
//
// When the listening connection breaks, notifications sent meanwhile are
// lost; on reconnecting, every subscriber is woken once, and re-reading the
// store tells each what it missed. That is what makes a signal lost in
// transit cost a read, never a wrong answer.
package pgsignal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channel is the PostgreSQL notification channel the signals travel on.
const Channel = "clave_signals"

// Signals implements mobile.Signals across the processes listening on one
// PostgreSQL database. Close stops it.
type Signals struct {
	db       *sql.DB
	log      *slog.Logger
	instance string
	key      []byte

	mu   sync.Mutex
	subs map[string]map[*sub]struct{}

	cancel context.CancelFunc
	done   chan struct{}
	// ready is closed once the first LISTEN is in place.
	ready chan struct{}
}

type sub struct{ wake func() }

// Options tunes a Signals; the zero value is usable.
type Options struct {
	// TopicKey keys the hash the topics travel as. Processes that signal
	// each other must share it; default the empty key, which still hides
	// the topic from the database's logs, though not from a guess.
	TopicKey []byte
	// Logger receives connection failures; default slog.Default().
	Logger *slog.Logger
}

// New starts listening on db, a PostgreSQL database opened through pgx's
// database/sql driver, and returns once the first LISTEN is in place, so
// that no signal published after New returns is missed. It keeps one of
// db's connections for itself while it runs, and notifies through the
// others.
func New(ctx context.Context, db *sql.DB, opts Options) (*Signals, error) {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	lctx, cancel := context.WithCancel(context.Background())
	s := &Signals{db: db, log: log, instance: base64.RawURLEncoding.EncodeToString(b),
		key: append([]byte(nil), opts.TopicKey...), subs: map[string]map[*sub]struct{}{},
		cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	conn, err := s.listen(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("pgsignal: listen: %w", err)
	}
	close(s.ready)
	go s.loop(lctx, conn)
	return s, nil
}

// Close stops listening and gives the listening connection back.
func (s *Signals) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// Publish implements mobile.Signals: it wakes this process's subscribers
// of topic, then notifies the other processes. A failed notification is
// logged, not returned: the waiters elsewhere still wake at their own
// deadline and re-read the store.
func (s *Signals) Publish(ctx context.Context, topic string) {
	h := s.hash(topic)
	s.wake(h)
	if _, err := s.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", Channel, s.instance+" "+h); err != nil {
		s.log.WarnContext(ctx, "pgsignal: notify failed; waiters in other processes wake at their deadline", "error", err)
	}
}

// Subscribe implements mobile.Signals.
func (s *Signals) Subscribe(topic string, wake func()) (stop func()) {
	h := s.hash(topic)
	e := &sub{wake: wake}
	s.mu.Lock()
	set := s.subs[h]
	if set == nil {
		set = map[*sub]struct{}{}
		s.subs[h] = set
	}
	set[e] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if set := s.subs[h]; set != nil {
				delete(set, e)
				if len(set) == 0 {
					delete(s.subs, h)
				}
			}
		})
	}
}

// Waiters reports how many subscriptions are open.
func (s *Signals) Waiters() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, set := range s.subs {
		n += len(set)
	}
	return n
}

func (s *Signals) hash(topic string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(topic))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// wake calls the subscribers of hashed topic h, outside the lock.
func (s *Signals) wake(h string) {
	s.mu.Lock()
	set := s.subs[h]
	wakes := make([]func(), 0, len(set))
	for e := range set {
		wakes = append(wakes, e.wake)
	}
	s.mu.Unlock()
	for _, w := range wakes {
		w()
	}
}

// wakeAll calls every subscriber, after a gap in listening.
func (s *Signals) wakeAll() {
	s.mu.Lock()
	var wakes []func()
	for _, set := range s.subs {
		for e := range set {
			wakes = append(wakes, e.wake)
		}
	}
	s.mu.Unlock()
	for _, w := range wakes {
		w()
	}
}

// listen takes a connection of the pool for good and listens on it.
func (s *Signals) listen(ctx context.Context) (*sql.Conn, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "LISTEN "+Channel); err != nil {
		c.Raw(func(any) error { return driver.ErrBadConn }) // not back to the pool
		c.Close()
		return nil, err
	}
	return c, nil
}

// loop delivers notifications until ctx ends, listening again after a
// failure with a growing pause (up to 5 s).
func (s *Signals) loop(ctx context.Context, conn *sql.Conn) {
	defer close(s.done)
	pause := 100 * time.Millisecond
	for {
		if conn != nil {
			err := s.receive(ctx, conn)
			conn.Close()
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("pgsignal: listening connection lost; listening again", "error", err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		var err error
		if conn, err = s.listen(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("pgsignal: cannot listen yet", "error", err)
			pause = min(pause*2, 5*time.Second)
			continue
		}
		pause = 100 * time.Millisecond
		// Whatever was notified while nobody listened is lost: everyone
		// looks again.
		s.wakeAll()
	}
}

// receive waits for notifications on conn until an error or ctx ends. The
// connection is never given back to the pool while it listens: on any
// end it is discarded (driver.ErrBadConn), so no LISTEN lingers on a
// pooled connection.
func (s *Signals) receive(ctx context.Context, conn *sql.Conn) error {
	var err error
	conn.Raw(func(dc any) error {
		pc, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			err = fmt.Errorf("pgsignal: database is not PostgreSQL through pgx (%T)", dc)
			return driver.ErrBadConn
		}
		for {
			n, werr := pc.Conn().WaitForNotification(ctx)
			if werr != nil {
				err = werr
				return driver.ErrBadConn
			}
			from, h, ok := strings.Cut(n.Payload, " ")
			if !ok || from == s.instance {
				continue // ours were delivered at Publish
			}
			s.wake(h)
		}
	})
	return err
}
