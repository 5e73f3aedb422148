package clave

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewServerBoundsEverything(t *testing.T) {
	h := http.NotFoundHandler()
	srv := NewServer("127.0.0.1:0", h)
	assert.Equal(t, "127.0.0.1:0", srv.Addr)
	assert.NotNil(t, srv.Handler)
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		assert.Positive(t, d, name)
		assert.LessOrEqual(t, d, time.Minute, name)
	}
	assert.Positive(t, srv.MaxHeaderBytes)
	assert.Less(t, srv.MaxHeaderBytes, http.DefaultMaxHeaderBytes)
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// TestLimitListener: with n = 2, a third connection is accepted only after
// one of the first two is closed, and closing one twice frees one slot.
func TestLimitListener(t *testing.T) {
	inner := listenLoopback(t)
	ln := LimitListener(inner, 2, 0)
	slots := ln.(*limitListener).slots

	for range 3 { // the kernel completes all three handshakes
		c, err := net.Dial("tcp", inner.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
	}
	a, err := ln.Accept()
	require.NoError(t, err)
	b, err := ln.Accept()
	require.NoError(t, err)
	assert.Equal(t, 2, len(slots))

	var closed atomic.Bool
	third := make(chan net.Conn)
	go func() {
		c, err := ln.Accept()
		assert.NoError(t, err)
		assert.True(t, closed.Load(), "the third connection waited for a slot")
		third <- c
	}()
	closed.Store(true)
	require.NoError(t, a.Close())
	c := <-third
	assert.Equal(t, 2, len(slots), "never more than n")

	_ = b.Close()
	_ = b.Close() // a second Close must not free a second slot
	assert.Equal(t, 1, len(slots))
	_ = c.Close()
	assert.Equal(t, 0, len(slots))
}

// TestLimitListenerClose: closing the listener wakes an Accept waiting for a
// slot, with the listener's own error.
func TestLimitListenerClose(t *testing.T) {
	inner := listenLoopback(t)
	ln := LimitListener(inner, 1, 0)
	c, err := net.Dial("tcp", inner.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	held, err := ln.Accept()
	require.NoError(t, err)
	defer held.Close()

	done := make(chan error)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	require.NoError(t, ln.Close())
	assert.ErrorIs(t, <-done, net.ErrClosed)
}

// serveLoopback serves srv on a loopback listener bounded by LimitListener
// until the test ends, and returns its address.
func serveLoopback(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln := LimitListener(listenLoopback(t), 8, 0)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// closedByServer reads c until the server closes it, failing the test if that
// takes longer than limit (the generous bound of a busy machine, not a
// measurement).
func closedByServer(t *testing.T, c net.Conn, limit time.Duration) []byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(limit)))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still holds the connection after %v", limit)
	}
	return got
}

// TestNewServerCutsOffSlowBody: a client that announces a body and sends a
// few bytes of it is cut off at ReadTimeout, and the handler sees a timeout
// rather than waiting for ever.
func TestNewServerCutsOffSlowBody(t *testing.T) {
	readErr := make(chan error, 1)
	srv := NewServer("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		if err != nil {
			http.Error(w, "slow body", http.StatusRequestTimeout)
		}
	}))
	srv.ReadTimeout = 200 * time.Millisecond
	addr := serveLoopback(t, srv)

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "POST / HTTP/1.1\r\nHost: clave.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nSAMLResponse=PHNhbWxw")
	require.NoError(t, err)
	closedByServer(t, c, 10*time.Second)

	err = <-readErr
	var ne net.Error
	require.ErrorAs(t, err, &ne, "the handler's read failed: %v", err)
	assert.True(t, ne.Timeout())
}

// TestNewServerCutsOffSlowHeadersAndIdle: a client that never finishes its
// headers is cut off at ReadHeaderTimeout, and a kept-alive connection that
// goes quiet after a request at IdleTimeout.
func TestNewServerCutsOffSlowHeadersAndIdle(t *testing.T) {
	srv := NewServer("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	srv.IdleTimeout = 200 * time.Millisecond
	addr := serveLoopback(t, srv)

	slow, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer slow.Close()
	_, err = io.WriteString(slow, "GET / HTTP/1.1\r\nHost: clave.test\r\n")
	require.NoError(t, err)
	closedByServer(t, slow, 10*time.Second)

	idle, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer idle.Close()
	_, err = io.WriteString(idle, "GET / HTTP/1.1\r\nHost: clave.test\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(body))
	assert.False(t, resp.Close, "kept alive")
	require.NoError(t, idle.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "closed by the server once idle")
}

// TestLimitListenerPerClient: one client at its bound has further connections
// closed at once, while another client still gets in and the slots of the
// refused connections are given back.
func TestLimitListenerPerClient(t *testing.T) {
	inner := listenLoopback(t)
	ln := LimitListener(inner, 10, 2)
	slots := ln.(*limitListener).slots
	dialFrom := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Skipf("cannot dial from %s on this machine: %v", src, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var flood []net.Conn
	for range 4 {
		flood = append(flood, dialFrom("127.0.0.2"))
	}
	other := dialFrom("127.0.0.1")

	var accepted []net.Conn
	for range 3 { // two of the flood, then (the other two closed) the other client
		c, err := ln.Accept()
		require.NoError(t, err)
		accepted = append(accepted, c)
	}
	assert.Equal(t, "127.0.0.1", connClient(accepted[2]), "the other client got in")
	assert.Equal(t, 3, len(slots), "refused connections gave their slots back")
	for _, c := range flood[2:] {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err := c.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF, "closed by the listener")
	}
	_ = other
	require.NoError(t, accepted[0].Close())
	c := dialFrom("127.0.0.2")
	_ = c
	again, err := ln.Accept()
	require.NoError(t, err, "a freed place for that client")
	assert.Equal(t, "127.0.0.2", connClient(again))
	assert.Equal(t, 3, len(slots))
}
