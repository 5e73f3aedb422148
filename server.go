package clave

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// NewServer returns an http.Server for addr serving h, with every timeout and
// the header size bounded rather than left at the standard library's
// unbounded defaults. A Cl@ve login is a handful of small requests, a form of
// a few kilobytes each way, pages and cookies, none of which streams or stays
// open; what the bounds stop is a client that trickles bytes, or opens
// connections and leaves them idle, to hold a goroutine and a file descriptor
// for as long as it likes:
//
//   - ReadHeaderTimeout, 10 s: to send the request line and headers (the
//     Slowloris bound).
//   - ReadTimeout, 30 s: to send the whole request, body included. The
//     largest legitimate body, a SAMLResponse form, is tens of kilobytes:
//     seconds even on a poor mobile link.
//   - WriteTimeout, 30 s: for the handler and the writing of its answer,
//     from the end of the request headers. The SDK's handlers answer in
//     milliseconds; a client that will not read its answer is cut off.
//   - IdleTimeout, 15 s: a kept-alive connection with no request in flight
//     is closed. A browser in a login comes back within seconds; later it
//     opens a new connection at the cost of one handshake. Idle connections
//     hold places of LimitListener's bound: with a minute, a hundred
//     browsers a second that each leave one open would hold six thousand.
//   - MaxHeaderBytes, 64 KiB (the default is 1 MiB): browsers cap a cookie
//     at 4 KiB and the SDK sets a few.
//
// Serve it on a listener from LimitListener to bound the connections too:
//
//	ln, err := net.Listen("tcp", addr)
//	...
//	srv := clave.NewServer(addr, mux)
//	err = srv.Serve(clave.LimitListener(ln, 2048, 64))
//
// Change fields before serving to suit handlers of the service's own, for
// instance a longer WriteTimeout for one that streams.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       15 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// LimitListener returns a listener that holds at most n accepted connections
// open at once (n < 1 means 1), and at most perClient of them from any one
// client address (perClient < 1: no per-client bound). Past n, Accept waits
// until one of them is closed, leaving further clients in the kernel's
// backlog, where they cost the process no file descriptor and no goroutine.
// A client over perClient has its new connection closed at once: without
// that bound, one client opening slow connections would fill all n and shut
// everyone else out until NewServer's timeouts free them.
//
// Behind a reverse proxy every connection comes from the proxy: give it a
// perClient as large as n there, and bound clients at the proxy.
//
// Wrap the plain TCP listener, before TLS (tls.NewListener, or
// http.Server.ServeTLS, which does it): the server recognises TLS
// connections by their type, which the wrapper would hide.
func LimitListener(l net.Listener, n, perClient int) net.Listener {
	if n < 1 {
		n = 1
	}
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{}),
		perClient: perClient, clients: map[string]int{}}
}

type limitListener struct {
	net.Listener
	// slots holds one token per open connection: its capacity is the bound.
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	perClient int
	mu        sync.Mutex
	clients   map[string]int // open connections per client address
}

// Accept takes a slot, then a connection; a connection from a client
// already at its bound is closed and the next one taken instead.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			// Closed while waiting for a slot: let the listener itself say so.
			return l.Listener.Accept()
		}
		c, err := l.Listener.Accept()
		if err != nil {
			l.release("")
			return nil, err
		}
		client := ""
		if l.perClient > 0 {
			client = connClient(c)
			l.mu.Lock()
			over := l.clients[client] >= l.perClient
			if !over {
				l.clients[client]++
			}
			l.mu.Unlock()
			if over {
				_ = c.Close()
				<-l.slots
				continue
			}
		}
		return &limitConn{Conn: c, release: func() { l.release(client) }}, nil
	}
}

// connClient is the address a connection comes from, without its port.
func connClient(c net.Conn) string {
	a := c.RemoteAddr()
	if a == nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// Close also wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

func (l *limitListener) release(client string) {
	if l.perClient > 0 && client != "" {
		l.mu.Lock()
		if l.clients[client]--; l.clients[client] <= 0 {
			delete(l.clients, client)
		}
		l.mu.Unlock()
	}
	<-l.slots
}

// limitConn gives its slot back on the first Close: the server, a handler and
// a deferred call may all close one connection.
type limitConn struct {
	net.Conn
	releaseOnce sync.Once
	release     func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.releaseOnce.Do(c.release)
	return err
}

// CloseWrite passes on the half-close the server uses to deliver an error
// answer before closing (*net.TCPConn has it; the embedding would hide it).
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
