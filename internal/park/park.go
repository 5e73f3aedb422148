// Package park takes a waiting HTTP/1.1 connection over from net/http, so
// that thousands of clients can wait for an event (a page for its login's
// outcome, a phone for its next request) without each holding a handler
// goroutine, its grown stack and its buffers. A parked connection costs one
// goroutine with a minimal stack, blocked in the network poller, and a few
// hundred bytes.
//
// Responses written through a Conn are delimited by closing the connection
// ("Connection: close"), or carry their Content-Length.
package park

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// writeTimeout bounds every write to a parked connection: a client that
// stops reading cannot hold the writer.
const writeTimeout = 10 * time.Second

// Conn is a connection taken over from net/http. One goroutine waits on it
// (Wait); any other may Wake it.
type Conn struct {
	c     net.Conn
	woken atomic.Bool
}

// Take takes over w's connection. It fails when w cannot give it up (an
// HTTP/2 stream, a test recorder): the caller then waits in its handler.
// Nothing must have been written to w yet; the headers already set on w
// are kept for the response the caller writes later (WriteHead, Respond).
func Take(w http.ResponseWriter) (*Conn, error) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	// The buffered reader may hold a pipelined next request; it is
	// dropped with the connection, which the response closes.
	return &Conn{c: c}, nil
}

// Wake makes the current or next Wait return true. It never blocks, so a
// signal's subscriber may call it.
func (c *Conn) Wake() {
	c.woken.Store(true)
	_ = c.c.SetReadDeadline(aLongTimeAgo) // interrupts a Wait's read
}

// aLongTimeAgo is a read deadline already past.
var aLongTimeAgo = time.Unix(1, 0)

// Wait waits, reading the connection, until Wake (true), until (false) or
// the client closing the connection (an error). Anything the client sends
// is discarded. The waiting goroutine is parked in the network poller with
// a minimal stack: no timer, channel or second goroutine per connection.
func (c *Conn) Wait(until time.Time) (bool, error) {
	var b [1]byte
	for {
		if err := c.c.SetReadDeadline(until); err != nil {
			return false, err
		}
		// Checked after the deadline is set: a Wake from now on moves the
		// deadline to the past, one before it is seen here.
		if c.woken.Swap(false) {
			return true, nil
		}
		_, err := c.c.Read(b[:])
		switch {
		case err == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			if c.woken.Swap(false) {
				return true, nil
			}
			if !time.Now().Before(until) {
				return false, nil
			}
		default:
			return false, err
		}
	}
}

// WriteHead writes the head of a response whose body follows until the
// connection closes: status, h and "Connection: close".
func (c *Conn) WriteHead(status int, h http.Header) error {
	var b bytes.Buffer
	head(&b, status, h)
	b.WriteString("Connection: close\r\n\r\n")
	return c.Write(b.Bytes())
}

// Write writes p, within a deadline.
func (c *Conn) Write(p []byte) error {
	if err := c.c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	_, err := c.c.Write(p)
	return err
}

// Respond writes the whole response that fn writes to its ResponseWriter
// (which starts with h's headers), with its Content-Length, and closes
// the connection.
func (c *Conn) Respond(h http.Header, fn func(w http.ResponseWriter)) error {
	rec := &recorder{h: h.Clone()}
	fn(rec)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	var b bytes.Buffer
	rec.h.Set("Content-Length", strconv.Itoa(rec.body.Len()))
	head(&b, rec.status, rec.h)
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(rec.body.Bytes())
	err := c.Write(b.Bytes())
	return errors.Join(err, c.Close())
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

func head(b *bytes.Buffer, status int, h http.Header) {
	fmt.Fprintf(b, "HTTP/1.1 %03d %s\r\n", status, http.StatusText(status))
	if h.Get("Date") == "" {
		b.WriteString("Date: " + time.Now().UTC().Format(http.TimeFormat) + "\r\n")
	}
	h = h.Clone()
	h.Del("Connection")
	h.Del("Transfer-Encoding")
	_ = h.Write(b)
}

// recorder is the ResponseWriter of Respond.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
