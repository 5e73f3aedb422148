package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// loginRun is C browsers logging in concurrently, each login as its own
// citizen and from its own client address.
type loginRun struct {
	clients, total int
	// first is the citizen of the first login; login i is citizen first+i.
	first int
	// addrPrefix makes the client addresses ("10." gives 10.x.y.z).
	addrPrefix string
	// perLogin bounds one login.
	perLogin time.Duration
	// pause is how long each client waits between its logins.
	pause time.Duration
	// rate, when positive, starts logins at that many a second (open
	// loop) instead of all clients at once.
	rate float64
}

type loginResult struct {
	total, completed int
	elapsed          time.Duration
	latency          latencies
	// cpu is the CPU time this process (gateway, agency and browsers
	// together) spent during the run.
	cpu      time.Duration
	errors   map[string]int
	examples map[string]string
}

// run starts all clients together and returns when every login ended or
// ctx did.
func (r loginRun) run(ctx context.Context, h *harness) loginResult {
	if r.perLogin <= 0 {
		r.perLogin = 2 * time.Minute
	}
	if r.addrPrefix == "" {
		r.addrPrefix = "10."
	}
	res := loginResult{total: r.total, errors: map[string]int{}, examples: map[string]string{}}
	jobs := make(chan int, r.total)
	if r.rate <= 0 {
		for i := range r.total {
			jobs <- i
		}
		close(jobs)
	}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		begin = make(chan struct{})
	)
	for range r.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			for i := range jobs {
				if ctx.Err() != nil {
					return
				}
				if r.pause > 0 && i >= r.clients {
					select {
					case <-time.After(r.pause):
					case <-ctx.Done():
						return
					}
				}
				b := h.browser(fmt.Sprintf("%s%d.%d.%d", r.addrPrefix, i>>16&255, i>>8&255, i&255))
				lctx, cancel := context.WithTimeout(ctx, r.perLogin)
				t0 := time.Now()
				err := b.login(lctx, r.first+i)
				d := time.Since(t0)
				cancel()
				mu.Lock()
				if err == nil {
					res.completed++
					res.latency = append(res.latency, d)
				} else {
					kind := "other: " + errClass(err)
					var se *stepError
					if errors.As(err, &se) {
						kind = se.kind()
					}
					res.errors[kind]++
					if _, ok := res.examples[kind]; !ok {
						res.examples[kind] = err.Error()
					}
				}
				mu.Unlock()
			}
		}()
	}
	t0, cpu0 := time.Now(), processCPU()
	close(begin)
	if r.rate > 0 {
		every := time.Duration(float64(time.Second) / r.rate)
		for i := range r.total {
			if d := time.Until(t0.Add(time.Duration(i) * every)); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
			if ctx.Err() != nil {
				break
			}
			jobs <- i
		}
		close(jobs)
	}
	wg.Wait()
	res.elapsed, res.cpu = time.Since(t0), processCPU()-cpu0
	return res
}

func (res loginResult) print(w io.Writer) {
	fmt.Fprintf(w, "completed %d/%d logins (%.1f %%) in %s: %.1f logins/s\n", res.completed, res.total,
		percent(res.completed, res.total), ms(res.elapsed), float64(res.completed)/res.elapsed.Seconds())
	failed := 0
	for _, n := range res.errors {
		failed += n
	}
	if left := res.total - res.completed - failed; left > 0 {
		fmt.Fprintf(w, "not started before the time bound: %d\n", left)
	}
	res.latency.print(w, "whole-login latency")
	if res.completed > 0 {
		fmt.Fprintf(w, "CPU of this process (gateway, agency and browsers): %s, %s per login, %.0f %% of %d CPUs; machine load average %s\n",
			ms(res.cpu), ms(res.cpu/time.Duration(res.completed)), 100*res.cpu.Seconds()/res.elapsed.Seconds()/float64(runtime.NumCPU()),
			runtime.NumCPU(), loadAverage())
	}
	printCounts(w, "failed logins by kind", res.errors)
	for k, ex := range res.examples {
		fmt.Fprintf(w, "  e.g. %s → %s\n", k, ex)
	}
}

// scenarioLogins is -scenario logins.
func scenarioLogins(ctx context.Context, w io.Writer, h *harness, o *options) (loginResult, error) {
	total := o.logins
	if total <= 0 {
		total = o.clients
	}
	if total > h.citizens {
		return loginResult{}, fmt.Errorf("-logins %d needs as many citizens (-citizens %d): two logins of one citizen at once supersede each other's PIN", total, h.citizens)
	}
	start := "all at once"
	if o.rate > 0 {
		start = fmt.Sprintf("started at %g a second", o.rate)
	}
	where := "in this process"
	if n := len(h.procs); n > 0 {
		where = fmt.Sprintf("in %d processes, each request of a login to the next in turn", n)
	}
	fmt.Fprintf(w, "== logins: %d clients, %d logins %s, %d citizens, database %s, gateway %s\n", o.clients, total, start, h.citizens, redactURL(h.dbPath), where)
	before := h.logs.snapshot()
	gwCPU := h.clusterCPU()
	res := loginRun{clients: o.clients, total: total, rate: o.rate}.run(ctx, h)
	res.print(w)
	if len(h.procs) > 0 && res.completed > 0 {
		d := h.clusterCPU() - gwCPU
		fmt.Fprintf(w, "CPU of the gateway processes: %s, %s per login\n", ms(d), ms(d/time.Duration(res.completed)))
	}
	printCounts(w, "gateway warnings and errors logged", h.logs.since(before))
	return res, nil
}

// redactURL hides a database URL's password.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// loadAverage is the machine's 1-minute load average, "?" where unknown:
// other processes' load slows the run as much as the gateway's own.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
