package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/clave-go/clave"
)

// defaultMaxConnections bounds the connections served at once. Go raises a
// process's soft file-descriptor limit to its hard limit (4,096 at the
// least on current Linux), so this leaves room for the rest. A waiting
// connection costs the gateway about 8 KB (see examples/load -scenario
// movil), so memory is not what bounds it.
const defaultMaxConnections = 2048

// maxPerClient bounds the connections of one client address, so that one
// client holding slow connections cannot take them all; a browser opens six.
const maxPerClient = 32

// server serves the gateway until its context ends, then shuts down
// gracefully.
type server struct {
	handler  http.Handler
	maxConns int
	// shutdownTimeout bounds the wait for requests in flight at shutdown.
	shutdownTimeout time.Duration
	// ready turns /readyz to 503 when shutdown starts; nil: no /readyz.
	ready *readiness
	log   *slog.Logger
	// stopped, when not nil, is called once the listener is closed and the
	// waiting connections are ended, before requests in flight finish.
	stopped func()
}

// serve serves s.handler on ln until ctx ends. Every phase of a request has
// a timeout and the connections are bounded, so slow or idle clients cannot
// hold the gateway's file descriptors.
//
// When ctx ends: /readyz answers 503 at once; the listener closes; the
// connections taken over from net/http (Cl@ve Móvil's waiting pages and the
// app's long polls, which http.Server.Shutdown does not wait for nor
// close) are closed, so that their browsers and phones reconnect (an event
// stream's end makes the page reconnect; the login is in the database);
// requests in flight finish, for at most s.shutdownTimeout, after which
// they are cut and serve returns an error.
func (s *server) serve(ctx context.Context, ln net.Listener) error {
	srv := clave.NewServer("", s.handler)
	srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	conns := newConnTracker()
	srv.ConnState = conns.state
	tl := conns.listen(clave.LimitListener(ln, s.maxConns, maxPerClient))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tl) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}

	if s.ready != nil {
		s.ready.drain()
	}
	s.log.Info("shutting down: no new connections; requests in flight may finish", "timeout", s.shutdownTimeout)
	shut, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	shutdown := make(chan error, 1)
	// Shutdown closes the listener first (tl.closed), then waits for the
	// requests in flight.
	go func() { shutdown <- srv.Shutdown(shut) }()
	select {
	case <-tl.closed:
	case err := <-shutdown:
		shutdown <- err
	}
	if n := conns.endTaken(); n > 0 {
		s.log.Info("shutting down: waiting pages and long polls closed; they reconnect", "connections", n)
	}
	if s.stopped != nil {
		s.stopped()
	}
	err := <-shutdown
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("shutdown: requests still in flight after %s were cut: %w", s.shutdownTimeout, err)
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	if err == nil {
		s.log.Info("shutting down: every request finished")
	}
	return err
}

// connTracker knows the connections taken over from net/http (hijacked),
// which http.Server forgets, so that shutdown can close them.
type connTracker struct {
	mu    sync.Mutex
	taken map[*trackedConn]struct{}
	// ending: shutdown has begun, and a connection taken from now on is
	// closed at once.
	ending bool
}

func newConnTracker() *connTracker {
	return &connTracker{taken: map[*trackedConn]struct{}{}}
}

// listen wraps ln so that its connections can be tracked.
func (t *connTracker) listen(ln net.Listener) *trackedListener {
	return &trackedListener{Listener: ln, t: t, closed: make(chan struct{})}
}

// state is the http.Server's ConnState hook.
func (t *connTracker) state(c net.Conn, st http.ConnState) {
	tc, ok := c.(*trackedConn)
	if !ok || st != http.StateHijacked {
		return
	}
	t.mu.Lock()
	ending := t.ending
	if !ending {
		t.taken[tc] = struct{}{}
	}
	t.mu.Unlock()
	if ending {
		// The handler that takes it finds it closed and lets it go.
		go tc.Close()
	}
}

// endTaken closes the connections taken over, and any taken later; it
// returns how many it closed.
func (t *connTracker) endTaken() int {
	t.mu.Lock()
	t.ending = true
	taken := make([]*trackedConn, 0, len(t.taken))
	for c := range t.taken {
		taken = append(taken, c)
	}
	t.mu.Unlock()
	for _, c := range taken {
		_ = c.Close()
	}
	return len(taken)
}

func (t *connTracker) forget(c *trackedConn) {
	t.mu.Lock()
	delete(t.taken, c)
	t.mu.Unlock()
}

type trackedListener struct {
	net.Listener
	t         *connTracker
	closeOnce sync.Once
	closed    chan struct{}
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &trackedConn{Conn: c, t: l.t}, nil
}

func (l *trackedListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.closed) })
	return err
}

// trackedConn leaves its tracker when closed.
type trackedConn struct {
	net.Conn
	t *connTracker
}

func (c *trackedConn) Close() error {
	c.t.forget(c)
	return c.Conn.Close()
}

// CloseWrite passes on the half-close the server uses to deliver an error
// answer before closing (the embedding would hide the wrapped one's).
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
