package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/mobile/app"
	"github.com/clave-go/clave/saml"
)

// The movil scenario: thousands of Cl@ve Móvil logins held at once at a
// gateway running in a child process (movil_gateway.go), each with its
// waiting page's event stream open and its phone long-polling the app API;
// then a sample of them confirmed on the phone, timing how long the waiting
// page takes to learn it.
//
// The app API's long-poll answers at once while the phone has a request
// pending, so a phone cannot long-poll and hold an undecided push at the same
// time. The logins are therefore held at the moment before the citizen
// identifies: the Cl@ve Móvil page open, its (QR) request pending and its
// event stream open, and the citizen's app open, long-polling for a push.
// A confirmation is then the rest of the login: the citizen opens the form
// of a login without QR (the page and its stream close) and types their DNI
// and contrast datum (the push), the long-poll answers with the request, the
// push page opens its own event stream, the phone confirms, and the page's
// stream says "confirmed". Last, every login still held is pushed, so
// that the gateway also holds as many pushed requests, each with its page's
// stream open.

const (
	// movilWorkers is how many logins are set up at once.
	movilWorkers = 64
	// movilValidity is how long the test gateway's Cl@ve Móvil requests
	// wait (the real gateway's 5 minutes are shorter than a large run).
	movilValidity = 20 * time.Minute
	// movilPerClient is the test gateway's bound on one client address's
	// connections: each browser and each phone has an address of its own.
	movilPerClient = 32
	// movilFDReserve is what each process keeps of its file descriptors
	// beyond the two connections of each held login: listeners, the
	// database, and the connections of the logins being set up or
	// confirmed.
	movilFDReserve = 256
	// movilPassphrase unlocks every phone's key.
	movilPassphrase = "contraseña de carga"
)

// movilKDF is the passphrase derivation of the phones: one pass over 64 KiB
// instead of the app's 3 passes over 64 MiB, which would take the load
// generator minutes of CPU for nothing the gateway sees.
var movilKDF = app.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

var verificationRe = regexp.MustCompile(`<span class="code" id="verification-code">([0-9]{3})</span>`)

// Loopback address blocks of the browsers and of the phones: 127.10.x.y
// and up, 127.100.x.y and up, one address each.
const (
	browserBlock = 10
	phoneBlock   = 100
)

// loopbackAddr is the i-th address of a block of loopback addresses.
func loopbackAddr(block byte, i int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, block+byte(i/62500), byte(1+i/250%250), byte(1+i%250))}
}

// raiseFDLimitTo raises the file-descriptor limit to want: the soft limit,
// and the hard one too where the process may (as root). It returns the
// soft limit in force.
func raiseFDLimitTo(want uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 1024
	}
	if l.Cur >= want {
		return l.Cur
	}
	if l.Max < want {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return want
		}
	}
	return raiseFDLimit()
}

// movilLogin is one citizen's login: the browser, the phone and what each
// holds open.
type movilLogin struct {
	i   int
	who person
	b   *browser
	src *net.TCPAddr
	// base is the URL of the login's Cl@ve Móvil page.
	base *url.URL
	// stream is the waiting page's event stream.
	stream *sseStream
	sess   *app.Session
	// phoneHTTP is the phone's transport.
	phoneHTTP *http.Transport
	// got receives what the phone's long-poll answered, once it answered
	// with a request; pushed is how long after the push it did.
	got    chan []app.Request
	pushed time.Duration
	// picked logins are confirmed; the others pushed at the end.
	picked bool
}

// movilFailures counts failures by kind, with an example of each.
type movilFailures struct {
	mu       sync.Mutex
	counts   map[string]int
	examples map[string]string
}

func (f *movilFailures) add(step string, err error) {
	kind := step + ": " + errClass(err)
	var se *stepError
	if errors.As(err, &se) {
		kind = se.kind()
	} else if errors.Is(err, errUnexpected) {
		kind = step + ": " + err.Error()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts, f.examples = map[string]int{}, map[string]string{}
	}
	f.counts[kind]++
	if _, ok := f.examples[kind]; !ok {
		f.examples[kind] = err.Error()
	}
}

func (f *movilFailures) print(w io.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	printCounts(w, "failures by kind", f.counts)
	for k, ex := range f.examples {
		fmt.Fprintf(w, "  e.g. %s → %s\n", k, ex)
	}
}

func (f *movilFailures) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.counts {
		n += c
	}
	return n
}

type movilResult struct {
	logins, activated, held int
	// confirmed logins were seen "confirmed" on their waiting page;
	// completed ones then reached the agency.
	tried, confirmed, completed int
	// pushed are the held logins pushed at the end, still held after.
	pushed, pushedHeld int
	pushToPhone        latencies
	confirmToPage      latencies
	confirmCall        latencies
	base, held1, held2 movilStats
	peak               movilStats
	failures           *movilFailures
}

// movilRun is the load generator's side of the scenario: the agency, the
// browsers and the phones, and what it learnt.
type movilRun struct {
	h      *harness
	o      *options
	w      io.Writer
	dbgURL string
	// stats talks to the gateway child's debug listener.
	stats  *http.Client
	fails  *movilFailures
	logins []*movilLogin
	res    *movilResult
}

// scenarioMovil is -scenario movil.
func scenarioMovil(ctx context.Context, w io.Writer, o *options) (movilResult, error) {
	t0 := time.Now()
	n := o.logins
	if n <= 0 {
		n = 10000
	}
	res := movilResult{logins: n, failures: &movilFailures{}}
	// Each held login is two connections on each side: the page's event
	// stream and the phone's long-poll.
	need := uint64(2*n + movilFDReserve)
	limit := raiseFDLimitTo(need)
	if limit < need {
		return res, fmt.Errorf("%d logins need %d file descriptors in each process, and the limit is %d: raise it (ulimit -n; only root may raise the hard limit)", n, need, limit)
	}
	r := &movilRun{o: o, w: w, fails: res.failures, res: &res,
		stats: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, DialContext: dialLoopback}}}
	stop, err := r.start(ctx, n)
	defer stop()
	if err != nil {
		return res, err
	}
	fmt.Fprintf(w, "file-descriptor limit %d in both processes (%d needed)\n", limit, need)
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel() // the phones stop polling
		for _, l := range r.logins {
			if l.stream != nil {
				l.stream.close()
			}
		}
	}()
	peak := &movilPeak{}
	stopSampling := r.sample(peak)
	defer stopSampling()

	if err := r.activateAll(ctx); err != nil {
		return res, err
	}
	if err := r.holdAll(ctx); err != nil {
		return res, err
	}
	r.confirmSome(ctx)
	if err := r.pushRest(ctx); err != nil {
		return res, err
	}
	stopSampling()
	res.peak = peak.get()
	fmt.Fprintf(w, "gateway peaks: RSS %s (%s), Go heap in use %s, goroutine stacks %s, goroutines %d\n",
		mb(res.peak.HWM), peakSource(res.peak), mb(res.peak.HeapInuse), mb(res.peak.StackInuse), res.peak.Goroutines)
	fmt.Fprintf(w, "goal: gateway under 256 MB: %s; p99 confirmation → page under 50 ms: %s\n",
		verdict(res.peak.HWM < 256<<20), verdict(len(res.confirmToPage) > 0 && res.confirmToPage.at(99) < 50*time.Millisecond))
	printCounts(w, "gateway warnings and errors logged", res.held2.Logs)
	res.failures.print(w)
	fmt.Fprintf(w, "duration %s\n", ms(time.Since(t0)))
	if res.held < n {
		return res, fmt.Errorf("held %d of %d logins", res.held, n)
	}
	if res.confirmed < res.tried {
		return res, fmt.Errorf("%d of %d confirmations never reached their waiting page", res.tried-res.confirmed, res.tried)
	}
	return res, nil
}

// start starts the gateway in a child process with n citizens, and the
// agency in this one. stop, never nil, stops both.
func (r *movilRun) start(ctx context.Context, n int) (stop func(), err error) {
	t0 := time.Now()
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	tmp, err := os.MkdirTemp("", "clave-load-movil-*")
	if err != nil {
		return stop, err
	}
	stops = append(stops, func() { os.RemoveAll(tmp) })
	dbPath := r.o.db
	if dbPath == "" {
		dbPath = filepath.Join(tmp, "gateway.db")
	}
	gwKey, gwCert, err := selfSigned("load gateway")
	if err != nil {
		return stop, err
	}
	spKey, spCert, err := selfSigned("load agency")
	if err != nil {
		return stop, err
	}
	agLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return stop, err
	}
	h := &harness{logs: newLogCounter(), agencyURL: "http://" + agLn.Addr().String(), citizens: n, dbPath: dbPath,
		transport: &http.Transport{Proxy: nil, DialContext: dialLoopback, MaxIdleConnsPerHost: 1024,
			IdleConnTimeout: 30 * time.Second, DisableCompression: true}}
	r.h = h
	stops = append(stops, func() { agLn.Close(); h.Close() })

	// The gateway, in a child process: it stops when its stdin closes.
	keyDER, err := x509.MarshalPKCS8PrivateKey(gwKey)
	if err != nil {
		return stop, err
	}
	cfg, err := json.Marshal(movilChildConfig{GatewayKey: keyDER, GatewayCert: gwCert.Raw, AgencyCert: spCert.Raw,
		ACS: h.agencyURL + "/clave/acs", Citizens: n, DB: dbPath, MaxConns: 2*n + movilFDReserve, PerClient: movilPerClient,
		RequestValidity: movilValidity})
	if err != nil {
		return stop, err
	}
	exe, err := os.Executable()
	if err != nil {
		return stop, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), movilChildEnv+"=1")
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return stop, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return stop, err
	}
	if err := cmd.Start(); err != nil {
		return stop, err
	}
	stops = append(stops, func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	if _, err := stdin.Write(append(cfg, '\n')); err != nil {
		return stop, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case ready <- sc.Text():
			default:
			}
		}
	}()
	var line string
	select {
	case line = <-ready:
	case <-time.After(5 * time.Minute):
		return stop, errors.New("the gateway child did not get ready")
	case <-ctx.Done():
		return stop, ctx.Err()
	}
	if _, err := fmt.Sscanf(line, "ready %s %s", &h.gwURL, &r.dbgURL); err != nil {
		return stop, fmt.Errorf("gateway child: %q: %w", line, err)
	}

	// The agency, in this process.
	cookieSecret := make([]byte, 32)
	_, _ = rand.Read(cookieSecret)
	client, err := clave.New(clave.Config{
		Environment: clave.Custom, GatewayURL: h.gwURL + saml.ServiceProviderPath, GatewayIssuer: h.gwURL,
		GatewayCertificates: saml.StaticCertificates([]*x509.Certificate{gwCert}),
		SPID:                agencySPID, ApplicationName: agencyApp, ACSURL: h.agencyURL + "/clave/acs",
		Key: spKey, Certificate: spCert, CookieSecret: cookieSecret, LoA: saml.LoALow, Logger: slog.New(h.logs),
	})
	if err != nil {
		return stop, err
	}
	mux := http.NewServeMux()
	mux.Handle("/clave/acs", client.ACSHandler())
	mux.Handle("/", client.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "logged in: %s\n", id.PersonIdentifier)
	})))
	h.serve(agLn, clave.NewServer("", mux))

	r.logins = make([]*movilLogin, n)
	for i := range n {
		r.logins[i] = &movilLogin{i: i, who: personOf(i), src: loopbackAddr(browserBlock, i), got: make(chan []app.Request, 1)}
	}
	w := r.w
	fmt.Fprintf(w, "== movil: %d Cl@ve Móvil logins held, each with its waiting page's event stream and its phone's long-poll open, then %d of them confirmed, %g a second\n",
		n, r.confirms(), r.rate())
	fmt.Fprintf(w, "gateway %s in child process %d (database %s), %d citizens registered, agency %s, in %s\n",
		h.gwURL, cmd.Process.Pid, dbPath, n, h.agencyURL, ms(time.Since(t0)))
	fmt.Fprintf(w, "test gateway: served as examples/gateway serves it (clave.NewServer's timeouts) but on LimitListener(%d connections, %d per client) instead of 2,048 and 32; Cl@ve Móvil requests valid %s instead of 5 minutes; every per-client limit the default, each browser and phone on a loopback address of its own (127.%d.x.y, 127.%d.x.y); GOGC=%q GOMEMLIMIT=%q\n",
		2*n+movilFDReserve, movilPerClient, movilValidity, browserBlock, phoneBlock, os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"))
	return stop, nil
}

// confirms is how many held logins are confirmed.
func (r *movilRun) confirms() int { return min(max(r.o.movilConfirm, 0), len(r.logins)) }

// rate is how many confirmations start a second.
func (r *movilRun) rate() float64 {
	if r.o.movilRate <= 0 {
		return 20
	}
	return r.o.movilRate
}

// activateAll activates every citizen's phone through the app API.
func (r *movilRun) activateAll(ctx context.Context) error {
	t0, ph := time.Now(), r.phase()
	var activated atomic.Int64
	parallel(ctx, len(r.logins), movilWorkers, func(i int) {
		if err := r.activate(ctx, r.logins[i]); err != nil {
			r.fails.add("activation", err)
			return
		}
		activated.Add(1)
	})
	r.res.activated = int(activated.Load())
	fmt.Fprintf(r.w, "phones activated by SMS code through the app API: %d/%d in %s (their key sealed under %d pass over %d KiB of Argon2id, not the app's 3 over 64 MiB)\n",
		r.res.activated, len(r.logins), ms(time.Since(t0)), movilKDF.Time, movilKDF.MemoryKiB)
	fmt.Fprintf(r.w, "  %s\n", ph.cpu())
	var err error
	if r.res.base, err = r.childStats(); err != nil {
		return err
	}
	fmt.Fprintf(r.w, "gateway before the logins: %s\n", r.res.base)
	return nil
}

// holdAll holds every login: the phone long-polling, the page's event
// stream open on its pending request. It then reports what the gateway
// holds, and what holding costs it when nothing happens.
func (r *movilRun) holdAll(ctx context.Context) error {
	t0, ph := time.Now(), r.phase()
	var held atomic.Int64
	parallel(ctx, len(r.logins), movilWorkers, func(i int) {
		l := r.logins[i]
		if l.sess == nil {
			return
		}
		if err := r.hold(ctx, l); err != nil {
			r.fails.add("hold", err)
			return
		}
		held.Add(1)
	})
	res := r.res
	res.held = int(held.Load())
	fmt.Fprintf(r.w, "held %d/%d logins in %s (%.0f a second)\n", res.held, len(r.logins), ms(time.Since(t0)), float64(res.held)/time.Since(t0).Seconds())
	fmt.Fprintf(r.w, "  %s\n", ph.cpu())
	// Until the gateway serves every stream and long-poll (a phone whose
	// poll just ended is back within milliseconds).
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := r.childStats()
		if err != nil {
			return err
		}
		if (st.Events >= int64(res.held) && st.Polls >= int64(res.held)) || time.Now().After(deadline) {
			res.held1 = st
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(r.w, "gateway holding them: %s\n", res.held1)
	perConn(r.w, res.base, res.held1, 2*res.held)
	if r.o.movilPprof != "" {
		if err := r.profiles(r.o.movilPprof, "held"); err != nil {
			fmt.Fprintf(r.w, "profiles: %v\n", err)
		}
	}
	// Heartbeats and the phones' renewed long-polls.
	ph = r.phase()
	idle := r.o.movilIdle
	if idle <= 0 {
		idle = 10 * time.Second
	}
	if r.o.movilPprof != "" {
		if err := r.cpuProfile(r.o.movilPprof, "held", idle); err != nil {
			fmt.Fprintf(r.w, "profiles: %v\n", err)
		}
	} else {
		select {
		case <-time.After(idle):
		case <-ctx.Done():
		}
	}
	fmt.Fprintf(r.w, "holding them for %s, nothing else happening: %s\n", idle, ph.cpu())
	return nil
}

// confirmSome confirms a sample of the held logins, spread over them and
// in time, while the others stay held.
func (r *movilRun) confirmSome(ctx context.Context) {
	t0, ph := time.Now(), r.phase()
	if r.o.movilPprof != "" {
		go func() {
			if err := r.cpuProfile(r.o.movilPprof, "confirm", 10*time.Second); err != nil {
				fmt.Fprintf(r.w, "profiles: %v\n", err)
			}
		}()
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		res = r.res
		n   = len(r.logins)
	)
	every := time.Duration(float64(time.Second) / r.rate())
	for k := range r.confirms() {
		if d := time.Until(t0.Add(time.Duration(k) * every)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		l := r.logins[k*n/r.confirms()]
		l.picked = true
		if l.stream == nil {
			continue
		}
		res.tried++
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := r.confirm(ctx, l)
			mu.Lock()
			defer mu.Unlock()
			if m.pushToPhone > 0 {
				res.pushToPhone = append(res.pushToPhone, m.pushToPhone)
			}
			if m.toPage > 0 {
				res.confirmed++
				res.confirmToPage = append(res.confirmToPage, m.toPage)
				res.confirmCall = append(res.confirmCall, m.call)
			}
			if err != nil {
				r.fails.add("confirm", err)
				return
			}
			res.completed++
		}()
	}
	wg.Wait()
	fmt.Fprintf(r.w, "confirmed on the phone: %d/%d seen \"confirmed\" on their waiting page, %d of them then logged in at the agency, in %s\n",
		res.confirmed, res.tried, res.completed, ms(time.Since(t0)))
	fmt.Fprintf(r.w, "  %s\n", ph.cpu())
	res.pushToPhone.print(r.w, "push → the phone's long-poll answers with the request")
	res.confirmCall.print(r.w, "the phone's decision call (POST …/decision round trip)")
	res.confirmToPage.print(r.w, "decision sent → the waiting page's stream says \"confirmed\"")
}

// pushRest pushes every login still held and not confirmed: each phone
// gets its request, each page's stream follows the push page.
func (r *movilRun) pushRest(ctx context.Context) error {
	t0, ph := time.Now(), r.phase()
	var pushed, pushedHeld atomic.Int64
	parallel(ctx, len(r.logins), movilWorkers, func(i int) {
		l := r.logins[i]
		if l.picked || l.stream == nil {
			return
		}
		pushed.Add(1)
		if _, _, err := r.push(ctx, l); err != nil {
			r.fails.add("push the rest", err)
			return
		}
		pushedHeld.Add(1)
	})
	res := r.res
	res.pushed, res.pushedHeld = int(pushed.Load()), int(pushedHeld.Load())
	var err error
	if res.held2, err = r.childStats(); err != nil {
		return err
	}
	fmt.Fprintf(r.w, "the rest pushed: %d/%d with their push page's stream open, in %s; the phones hold their requests and poll no more\n",
		res.pushedHeld, res.pushed, ms(time.Since(t0)))
	fmt.Fprintf(r.w, "  %s\n", ph.cpu())
	fmt.Fprintf(r.w, "gateway holding them: %s\n", res.held2)
	if r.o.movilPprof != "" {
		if err := r.profiles(r.o.movilPprof, "pushed"); err != nil {
			fmt.Fprintf(r.w, "profiles: %v\n", err)
		}
	}
	return nil
}

// movilPhase measures the CPU both processes use during a phase.
type movilPhase struct {
	r                *movilRun
	t0               time.Time
	child, generator time.Duration
}

func (r *movilRun) phase() movilPhase {
	ph := movilPhase{r: r, t0: time.Now(), generator: processCPU()}
	if st, err := r.childStats(); err == nil {
		ph.child = st.CPU
	}
	return ph
}

// cpu describes the CPU used since the phase began, as shares of the
// machine's CPUs.
func (ph movilPhase) cpu() string {
	wall := time.Since(ph.t0).Seconds() * float64(runtime.NumCPU())
	st, err := ph.r.childStats()
	if err != nil || wall <= 0 {
		return "CPU unknown"
	}
	return fmt.Sprintf("CPU of the %d cores: gateway %.0f %%, load generator %.0f %%; load average %s",
		runtime.NumCPU(), 100*(st.CPU-ph.child).Seconds()/wall, 100*(processCPU()-ph.generator).Seconds()/wall, loadAverage())
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func peakSource(st movilStats) string {
	if st.Proc {
		return "VmHWM of /proc"
	}
	return "no /proc: the Go runtime's memory from the system"
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func (st movilStats) String() string {
	return fmt.Sprintf("RSS %s (peak %s), Go heap in use %s, goroutine stacks %s, Go total %s, %d goroutines, %d connections open, %d event streams and %d long-polls being served",
		mb(st.RSS), mb(st.HWM), mb(st.HeapInuse), mb(st.StackInuse), mb(st.Sys), st.Goroutines, st.Conns, st.Events, st.Polls)
}

// perConn prints what each held connection costs the gateway, from the
// difference between two of its states.
func perConn(w io.Writer, before, after movilStats, conns int) {
	if conns <= 0 {
		return
	}
	kb := func(a, b int64) string { return fmt.Sprintf("%.1f KB", float64(a-b)/float64(conns)/1024) }
	fmt.Fprintf(w, "per held connection (%d): RSS %s, Go heap %s, stacks %s, goroutines %.2f\n", conns,
		kb(after.RSS, before.RSS), kb(after.HeapInuse, before.HeapInuse), kb(after.StackInuse, before.StackInuse),
		float64(after.Goroutines-before.Goroutines)/float64(conns))
}

// parallel runs fn(0) to fn(n-1), workers at a time, until ctx ends.
func parallel(ctx context.Context, n, workers int, fn func(i int)) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// childStats asks the gateway child about itself.
func (r *movilRun) childStats() (movilStats, error) {
	var st movilStats
	resp, err := r.stats.Get(r.dbgURL + "/stats")
	if err != nil {
		return st, fmt.Errorf("gateway child's statistics: %w", err)
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// movilPeak keeps the largest figures the gateway reported.
type movilPeak struct {
	mu sync.Mutex
	st movilStats
}

func (p *movilPeak) add(st movilStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.Proc = st.Proc
	p.st.HWM = max(p.st.HWM, st.HWM)
	p.st.RSS = max(p.st.RSS, st.RSS)
	p.st.HeapInuse = max(p.st.HeapInuse, st.HeapInuse)
	p.st.StackInuse = max(p.st.StackInuse, st.StackInuse)
	p.st.Goroutines = max(p.st.Goroutines, st.Goroutines)
}

func (p *movilPeak) get() movilStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

// sample asks the gateway for its figures every second, until the returned
// function is called.
func (r *movilRun) sample(p *movilPeak) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if st, err := r.childStats(); err == nil {
				p.add(st)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			if st, err := r.childStats(); err == nil {
				p.add(st)
			}
		})
	}
}

// profiles saves the gateway's heap and goroutine profiles in dir.
func (r *movilRun) profiles(dir, label string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"heap", "goroutine"} {
		resp, err := r.stats.Get(r.dbgURL + "/debug/pprof/" + name)
		if err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, label+"-"+name+".pb.gz"))
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		resp.Body.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// cpuProfile saves a CPU profile of the gateway over d in dir.
func (r *movilRun) cpuProfile(dir, label string, d time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c := &http.Client{Timeout: d + 30*time.Second, Transport: r.stats.Transport}
	resp, err := c.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", r.dbgURL, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(dir, label+"-cpu.pb.gz"))
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// activate activates l's phone as a citizen would, by SMS code through the
// app API, and unlocks it.
func (r *movilRun) activate(ctx context.Context, l *movilLogin) error {
	t := r.h.transportAt(loopbackAddr(phoneBlock, l.i))
	l.phoneHTTP = t
	c := &app.Client{BaseURL: r.h.gwURL, KDF: movilKDF, HTTP: &http.Client{Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := c.RequestActivationCode(actx, l.who.id, l.who.contrast); err != nil {
		return err
	}
	resp, err := r.stats.Get(r.dbgURL + "/sms?to=" + url.QueryEscape(l.who.phone))
	if err != nil {
		return err
	}
	code, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: no activation SMS", errUnexpected)
	}
	phone, err := c.ActivateSMS(actx, l.who.id, string(code), []byte(movilPassphrase))
	if err != nil {
		return err
	}
	if l.sess, err = phone.Unlock([]byte(movilPassphrase)); err != nil {
		return err
	}
	t.CloseIdleConnections()
	return nil
}

// watch is the phone's app, open: it long-polls for requests, again each
// time the wait ends empty, until one comes.
func (r *movilRun) watch(ctx context.Context, l *movilLogin) {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, app.MaxWait+30*time.Second)
		reqs, err := l.sess.Pending(pctx, app.MaxWait)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.fails.add("phone long-poll", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		case len(reqs) > 0:
			l.got <- reqs
			return
		}
	}
}

// hold opens the citizen's app and the login's Cl@ve Móvil page with its
// event stream.
func (r *movilRun) hold(ctx context.Context, l *movilLogin) error {
	go r.watch(ctx, l)
	jar, _ := cookiejar.New(nil)
	l.b = &browser{h: r.h, client: l.src.IP.String(), http: &http.Client{Jar: jar, Transport: r.h.transportAt(l.src)}}
	defer l.b.http.CloseIdleConnections() // as a browser's would, after the page loaded
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	p, err := l.b.startMethod(sctx, "CLVMOVIL", "movil page", has(`id="noqr"`))
	if err != nil {
		return err
	}
	l.base = p.url
	l.stream, err = r.open(sctx, l, "pending")
	return err
}

// open opens the event stream of l's page and waits for its first state,
// which must be want.
func (r *movilRun) open(ctx context.Context, l *movilLogin, want string) (*sseStream, error) {
	u := l.base.JoinPath("events")
	var cookies []string
	for _, c := range l.b.http.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	s, err := openStream(ctx, l.src, u, strings.Join(cookies, "; "))
	if err != nil {
		return nil, &stepError{step: "event stream", err: err}
	}
	select {
	case ev, ok := <-s.states:
		if !ok || ev.state != want {
			s.close()
			return nil, &stepError{step: "event stream", err: fmt.Errorf("%w: first state %q, not %q", errUnexpected, ev.state, want)}
		}
	case <-time.After(30 * time.Second):
		s.close()
		return nil, &stepError{step: "event stream", err: os.ErrDeadlineExceeded}
	case <-ctx.Done():
		s.close()
		return nil, ctx.Err()
	}
	return s, nil
}

// push goes from l's page to the form of a login without QR (the page and
// its event stream closing), sends the citizen's DNI and contrast datum,
// waits for the phone's long-poll to answer with the request, and opens the
// event stream of the push page the browser lands on. It returns the
// request and the verification code on the page; l.pushed is how long the
// phone took to get the request.
func (r *movilRun) push(ctx context.Context, l *movilLogin) (req app.Request, code string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	l.stream.close()
	l.stream = nil
	p, err := l.b.do(ctx, http.MethodGet, l.base.JoinPath("noqr").String(), nil)
	if err := check("no-QR form", p, err, func(p page) bool {
		_, ok := p.form("/push")
		return p.status == http.StatusOK && ok
	}); err != nil {
		return req, "", err
	}
	t0 := time.Now()
	p, err = l.b.fill(ctx, p, "/push", url.Values{"document": {l.who.id}, "contrast": {l.who.contrast}})
	if err := check("push", p, err, func(p page) bool { return p.status == http.StatusOK && verificationRe.MatchString(p.body) }); err != nil {
		return req, "", err
	}
	code = verificationRe.FindStringSubmatch(p.body)[1]
	var reqs []app.Request
	select {
	case reqs = <-l.got:
	case <-time.After(30 * time.Second):
		return req, "", &stepError{step: "phone gets the push", err: os.ErrDeadlineExceeded}
	}
	l.pushed = time.Since(t0)
	// The app shows the request and has nothing more to ask for a while:
	// its connection closes as the gateway's idle timeout would close it.
	l.phoneHTTP.CloseIdleConnections()
	loginID := strings.Split(strings.Trim(l.base.Path, "/"), "/")[1]
	found := false
	for _, q := range reqs {
		if q.LoginID == loginID {
			req, found = q, true
		}
	}
	if !found {
		return req, "", &stepError{step: "phone gets the push", err: fmt.Errorf("%w: %d requests, none of login %s", errUnexpected, len(reqs), loginID)}
	}
	l.stream, err = r.open(ctx, l, "pending")
	l.b.http.CloseIdleConnections()
	return req, code, err
}

// movilTimes are the times of one confirmation.
type movilTimes struct {
	pushToPhone, call, toPage time.Duration
}

// confirm takes l from its held page to the end of the login: the push,
// the phone's confirmation, which the page's stream must report, and the
// page's reload, which ends the login at the agency.
func (r *movilRun) confirm(ctx context.Context, l *movilLogin) (m movilTimes, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, code, err := r.push(ctx, l)
	m.pushToPhone = l.pushed
	if err != nil {
		return m, err
	}
	t0 := time.Now()
	if err := l.sess.ConfirmCode(ctx, req, code); err != nil {
		return m, &stepError{step: "phone confirms", err: err}
	}
	m.call = time.Since(t0)
	l.phoneHTTP.CloseIdleConnections()
	select {
	case ev, ok := <-l.stream.states:
		if !ok || ev.state != "confirmed" {
			return m, &stepError{step: "page learns", err: fmt.Errorf("%w: state %q", errUnexpected, ev.state)}
		}
		m.toPage = ev.at.Sub(t0)
	case <-time.After(30 * time.Second):
		return m, &stepError{step: "page learns", err: os.ErrDeadlineExceeded}
	}
	l.stream.close()
	l.stream = nil
	defer l.b.http.CloseIdleConnections()
	p, err := l.b.do(ctx, http.MethodGet, l.base.String(), nil)
	if err := check("page reload", p, err, has(`name="SAMLResponse"`)); err != nil {
		return m, err
	}
	p, err = l.b.submit(ctx, p)
	return m, check("agency acs", p, err, has("logged in: "+l.who.id))
}

// sseStream is a waiting page's event stream, read from a raw HTTP/1.1
// connection: one goroutine and small buffers per stream, so that the load
// generator holds thousands cheaply.
type sseStream struct {
	conn   net.Conn
	states chan sseEvent
}

// sseEvent is a "state" event, and when it was read.
type sseEvent struct {
	state string
	at    time.Time
}

func openStream(ctx context.Context, src *net.TCPAddr, u *url.URL, cookie string) (*sseStream, error) {
	c, err := dialLoopbackFrom(ctx, src, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\nCache-Control: no-store\r\nCookie: " + cookie + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		c.Close()
		return nil, fmt.Errorf("%w: HTTP %d, %s", errUnexpected, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	_ = c.SetDeadline(time.Time{})
	s := &sseStream{conn: c, states: make(chan sseEvent, 8)}
	go s.read(resp.Body)
	return s, nil
}

// read parses the stream's events until it ends.
func (s *sseStream) read(body io.Reader) {
	defer close(s.states)
	r := bufio.NewReaderSize(body, 256)
	event := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			event = ""
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: ") && event == "state":
			s.states <- sseEvent{state: line[len("data: "):], at: time.Now()}
		}
	}
}

func (s *sseStream) close() { _ = s.conn.Close() }
