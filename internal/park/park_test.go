package park_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/park"
)

func TestRespondAfterTheHandlerReturned(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		c, err := park.Take(w)
		require.NoError(t, err)
		h := w.Header().Clone()
		go func() {
			<-release
			_ = c.Respond(h, func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTeapot)
				_, _ = io.WriteString(w, `{"ok":true}`)
			})
		}()
	}))
	defer srv.Close()
	done := make(chan *http.Response)
	go func() {
		resp, err := srv.Client().Get(srv.URL)
		if assert.NoError(t, err) {
			done <- resp
		}
	}()
	close(release)
	resp := <-done
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusTeapot, resp.StatusCode)
	assert.Equal(t, `{"ok":true}`, string(body))
	assert.Equal(t, int64(len(body)), resp.ContentLength)
	assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), "the headers set before taking over")
	assert.True(t, resp.Close, "Connection: close")
}

func TestStreamAndNoticeTheClientLeaving(t *testing.T) {
	left := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		c, err := park.Take(w)
		require.NoError(t, err)
		require.NoError(t, c.WriteHead(http.StatusOK, w.Header()))
		require.NoError(t, c.Write([]byte("event: state\ndata: pending\n\n")))
		go func() {
			if _, err := c.Wait(time.Now().Add(time.Minute)); err != nil {
				close(left)
			}
			_ = c.Close()
		}()
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "event: state\n", line)
	require.NoError(t, conn.Close())
	select {
	case <-left:
	case <-time.After(10 * time.Second):
		t.Fatal("the client's leaving was not noticed")
	}
}

func TestWakeAndDeadline(t *testing.T) {
	woken := make(chan bool, 2)
	var (
		mu   sync.Mutex
		held *park.Conn
	)
	ready := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := park.Take(w)
		require.NoError(t, err)
		mu.Lock()
		held = c
		mu.Unlock()
		go func() {
			defer c.Close()
			close(ready)
			ok, err := c.Wait(time.Now().Add(time.Minute))
			assert.NoError(t, err)
			woken <- ok
			// A wait nobody wakes ends at its deadline.
			ok, err = c.Wait(time.Now().Add(20 * time.Millisecond))
			assert.NoError(t, err)
			woken <- ok
		}()
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	<-ready
	mu.Lock()
	held.Wake()
	mu.Unlock()
	assert.True(t, <-woken, "Wake ends the wait")
	assert.False(t, <-woken, "the deadline ends the next")
}

func TestTakeFailsWhereTheConnectionCannotBeTaken(t *testing.T) {
	_, err := park.Take(httptest.NewRecorder())
	require.Error(t, err, "the caller then waits in its handler")
}
