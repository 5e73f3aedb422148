package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// slowChildEnv, when set ("host:port count seconds"), makes the command the
// holder of the slow connections instead: a child process, so that the
// client ends of the connections count against its own file-descriptor
// limit, not the gateway's.
const slowChildEnv = "CLAVE_LOAD_SLOW_CHILD"

// fdReserve is what the gateway's process keeps of its file descriptors for
// everything but the slow connections: the real logins, the database, the
// listeners.
const fdReserve = 1024

// slowClients are the citizens' browsers logging in during the slow
// scenario, each pausing a second between logins, so that the logins span
// the time the gateway takes to cut the slow connections (its
// ReadHeaderTimeout) and the child to reopen them.
const slowClients = 5

// raiseFDLimit raises the soft file-descriptor limit to the hard one, if
// allowed, and returns the soft limit in force.
func raiseFDLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 1024
	}
	if l.Cur < l.Max {
		up := l
		up.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
			l = up
		}
	}
	return l.Cur
}

type slowResult struct {
	held, wanted         int
	serverMin, serverMax int64
	logins               loginResult
}

// scenarioSlow is -scenario slow.
func scenarioSlow(ctx context.Context, w io.Writer, h *harness, o *options) (slowResult, error) {
	limit := raiseFDLimit()
	res := slowResult{wanted: o.slow}
	n := o.slow
	if uint64(n)+fdReserve > limit {
		n = max(0, int(limit)-fdReserve)
	}
	fmt.Fprintf(w, "== slow: %d slow and idle connections (%d asked; file-descriptor limit %d, %d kept for the rest), held by a child process, while %d citizens log in, %d at a time, each pausing 1 s between logins\n",
		n, o.slow, limit, fdReserve, o.slowLogins, slowClients)
	if o.slowLogins > h.citizens {
		return res, fmt.Errorf("-slow-logins %d needs as many citizens (-citizens %d)", o.slowLogins, h.citizens)
	}
	exe, err := os.Executable()
	if err != nil {
		return res, err
	}
	addr := strings.TrimPrefix(h.gwURL, "http://")
	ctx, cancel := context.WithTimeout(ctx, o.slowHold+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", slowChildEnv, addr, n, int(o.slowHold.Seconds())))
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	defer func() {
		stdin.Close() // the child stops when its stdin closes
		for range lines {
		}
		_ = cmd.Wait()
	}()
	var ready string
	select {
	case ready = <-lines:
	case <-time.After(90 * time.Second):
		return res, errors.New("the child holding the slow connections did not get ready")
	case <-ctx.Done():
		return res, ctx.Err()
	}
	fmt.Fprintf(w, "child: %s\n", ready)
	fmt.Sscanf(ready, "ready: %d", &res.held)

	// The real logins, while the gateway's open connections are sampled.
	res.serverMin, res.serverMax = h.conns.Load(), h.conns.Load()
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				c := h.conns.Load()
				res.serverMin, res.serverMax = min(res.serverMin, c), max(res.serverMax, c)
			}
		}
	}()
	lctx, lcancel := context.WithTimeout(ctx, o.slowHold)
	res.logins = loginRun{clients: slowClients, total: o.slowLogins, perLogin: 60 * time.Second, pause: time.Second}.run(lctx, h)
	lcancel()
	close(stop)
	sampler.Wait()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(w, "gateway's open connections during the logins: %d to %d; goroutines %d; Go heap in use %.1f MB\n",
		res.serverMin, res.serverMax, runtime.NumGoroutine(), float64(m.HeapInuse)/(1<<20))
	fmt.Fprintf(w, "real logins meanwhile: ")
	res.logins.print(w)
	stdin.Close()
	for l := range lines {
		fmt.Fprintf(w, "child: %s\n", l)
	}
	return res, nil
}

// slowChild holds the slow connections: it opens count connections to the
// address in its environment, a third of them idle, a third sending their
// headers a line every few seconds, a third a body a byte at a time, and
// reopens any the gateway closes, until its stdin closes or the time in its
// environment passes. It prints "ready: N open" once all were opened, and
// its counts when it ends.
func slowChild(stdin io.Reader, stdout io.Writer) int {
	var (
		addr        string
		count, secs int
	)
	if _, err := fmt.Sscanf(os.Getenv(slowChildEnv), "%s %d %d", &addr, &count, &secs); err != nil {
		fmt.Fprintln(os.Stderr, "load: slow child:", err)
		return 2
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "load: slow child: not a loopback address:", addr)
		return 2
	}
	if limit := raiseFDLimit(); uint64(count)+64 > limit {
		count = max(0, int(limit)-64)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second)
	defer cancel()
	go func() { // stdin closes when the parent is done, or gone
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	var (
		open, opened, reopened, failed, closedByServer atomic.Int64
		started                                        sync.WaitGroup
		wg                                             sync.WaitGroup
	)
	started.Add(count)
	for i := range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, had := true, false
			for ctx.Err() == nil {
				// The slow client comes from addresses of its own in the
				// loopback range (127.0.0.2-9), as an attacker's would.
				d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))}}
				c, err := d.DialContext(ctx, "tcp", addr)
				if err == nil {
					opened.Add(1)
					if had {
						reopened.Add(1)
					}
					had = true
					open.Add(1)
				}
				if first {
					first = false
					started.Done()
				}
				if err != nil {
					failed.Add(1)
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
					continue
				}
				byServer := hold(ctx, c, i%3)
				open.Add(-1)
				c.Close()
				if byServer {
					closedByServer.Add(1)
					select { // reopen soon, not in a spin
					case <-ctx.Done():
					case <-time.After(200 * time.Millisecond):
					}
				}
			}
		}()
		if i%500 == 499 {
			time.Sleep(50 * time.Millisecond) // a burst, not a SYN flood
		}
	}
	started.Wait()
	fmt.Fprintf(stdout, "ready: %d open (%d dials failed)\n", open.Load(), failed.Load())
	<-ctx.Done()
	wg.Wait()
	fmt.Fprintf(stdout, "connections opened %d (%d of them reopened after the gateway closed one), closed by the gateway %d, dials failed %d\n",
		opened.Load(), reopened.Load(), closedByServer.Load(), failed.Load())
	return 0
}

// hold keeps c open in one of three ways until ctx ends; it reports
// whether the gateway closed the connection first.
func hold(ctx context.Context, c net.Conn, mode int) bool {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	switch mode {
	case 1:
		if _, err := io.WriteString(c, "GET /Proxy2/Certificates HTTP/1.1\r\nHost: "+c.RemoteAddr().String()+"\r\n"); err != nil {
			return ctx.Err() == nil
		}
	case 2:
		if _, err := io.WriteString(c, "POST /Proxy2/ServiceProvider HTTP/1.1\r\nHost: "+c.RemoteAddr().String()+
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 300000\r\n\r\nSAMLRequest="); err != nil {
			return ctx.Err() == nil
		}
	}
	buf := make([]byte, 512)
	for n := 0; ; n++ {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || ctx.Err() != nil {
				return ctx.Err() == nil
			}
		}
		var err error
		switch mode {
		case 1:
			_, err = io.WriteString(c, "X-Slow-"+strconv.Itoa(n)+": 1\r\n")
		case 2:
			_, err = io.WriteString(c, "A")
		}
		if err != nil {
			return ctx.Err() == nil
		}
	}
}
