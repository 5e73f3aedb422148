package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/clave-go/clave"
)

// maxConnections bounds the connections each server holds at once: the three
// stay well under the 1,024 file descriptors a process commonly gets.
const maxConnections = 256

// maxPerClient bounds the connections of one client address, so that one
// client holding slow connections cannot take them all; a browser opens six.
const maxPerClient = 32

// serve serves h on ln until ctx ends, then shuts down gracefully. Every
// phase of a request has a timeout and the connections are bounded, so slow
// or idle clients cannot hold the demo's file descriptors.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := clave.NewServer("", h)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(clave.LimitListener(ln, maxConnections, maxPerClient)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shut)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// baseURL is "http://host:port" for a listener opened on addr: the host of
// addr (localhost when it names no particular interface) and the port
// actually bound, so that ":0" works.
func baseURL(addr string, ln net.Listener) string {
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://" + net.JoinHostPort(host, port)
}
