package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/mobile"
)

// movilChildEnv, when set, makes the command the gateway of the movil
// scenario instead: a child process, so that what the gateway holds is
// measured apart from the load generator (browsers, phones and agency) that
// holds the other ends.
const movilChildEnv = "CLAVE_LOAD_MOVIL_GATEWAY"

// movilChildConfig is what the load generator sends its gateway child, as
// one line of JSON on the child's standard input.
type movilChildConfig struct {
	// GatewayKey (PKCS #8) and GatewayCert (DER) are the gateway's
	// signing identity; AgencyCert (DER) is the agency's certificate.
	GatewayKey, GatewayCert, AgencyCert []byte
	// ACS is the agency's assertion consumer service.
	ACS string
	// Citizens are registered: citizens 0 to Citizens-1 of personOf.
	Citizens int
	// DB is the gateway's database file.
	DB string
	// MaxConns and PerClient bound the gateway's connections, as
	// examples/gateway's LimitListener does with 2,048 and 32.
	MaxConns, PerClient int
	// RequestValidity is how long a Cl@ve Móvil request waits.
	RequestValidity time.Duration
}

// movilStats is what the gateway child reports of itself at GET /stats of
// its debug listener.
type movilStats struct {
	// Proc tells whether RSS and HWM come from /proc/self/status; without
	// it they are the Go runtime's figure (memory obtained from the
	// system), which misses whatever Go did not allocate.
	Proc bool `json:"proc"`
	// RSS is the resident set now; HWM its peak (VmHWM) since the start.
	RSS int64 `json:"rss"`
	HWM int64 `json:"hwm"`
	// HeapInuse, StackInuse and Sys are runtime.MemStats' figures.
	HeapInuse  int64 `json:"heap_inuse"`
	StackInuse int64 `json:"stack_inuse"`
	Sys        int64 `json:"sys"`
	NumGC      int64 `json:"num_gc"`
	Goroutines int   `json:"goroutines"`
	// CPU is the user and system CPU time the process used so far.
	CPU time.Duration `json:"cpu"`
	// Conns are the connections open at the gateway's server; Events and
	// Polls the waiting pages' event streams and the app's long-polls
	// being served.
	Conns  int64 `json:"conns"`
	Events int64 `json:"events"`
	Polls  int64 `json:"polls"`
	// Logs counts the warnings and errors logged, by kind.
	Logs map[string]int `json:"logs"`
}

// movilChild is the gateway of the movil scenario. It reads its
// configuration from stdin, registers the citizens, serves the gateway on a
// loopback listener and, on another, a debug API of its own (statistics,
// the SMS a citizen's phone would receive, pprof); it prints "ready <gateway
// URL> <debug URL>" and serves until its stdin closes.
func movilChild(stdin io.Reader, stdout io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "load: movil gateway:", err)
		return 2
	}
	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fail(err)
	}
	var cfg movilChildConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fail(err)
	}
	raiseFDLimitTo(uint64(cfg.MaxConns))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	key, err := x509.ParsePKCS8PrivateKey(cfg.GatewayKey)
	if err != nil {
		return fail(err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return fail(errors.New("the gateway key cannot sign"))
	}
	gwCert, err := x509.ParseCertificate(cfg.GatewayCert)
	if err != nil {
		return fail(err)
	}
	spCert, err := x509.ParseCertificate(cfg.AgencyCert)
	if err != nil {
		return fail(err)
	}
	gwLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	dbgLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	db, err := gateway.OpenDB(ctx, cfg.DB)
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	logs := newLogCounter()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	gwURL := "http://" + gwLn.Addr().String()
	gw, err := gateway.New(ctx, gateway.Config{
		BaseURL: gwURL, SigningKey: signer, SigningCertificate: gwCert, DB: db, PINSecret: secret,
		Logger: slog.New(logs),
		ServiceProviders: []gateway.ServiceProvider{{SPID: agencySPID, Name: agencyApp,
			Certificates: []*x509.Certificate{spCert}, ACSURLs: []string{cfg.ACS}}},
		Mobile: mobile.Config{RequestValidity: cfg.RequestValidity},
		// Every limit per client is the default: each browser and each
		// phone of the load generator comes from a loopback address of
		// its own, which is what ClientAddress's default reads.
	})
	if err != nil {
		return fail(err)
	}
	cs := make([]gateway.Citizen, cfg.Citizens)
	for i := range cs {
		cs[i] = citizenOf(i)
	}
	if err := gw.SeedCitizens(ctx, cs); err != nil {
		return fail(fmt.Errorf("seeding citizens: %w", err))
	}

	var conns, events, polls atomic.Int64
	// The gateway's handler, counting the event streams and long-polls in
	// flight, in their handler or, once the gateway took their connection
	// over to wait, until it closes; nothing else is added to what it
	// serves.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n *atomic.Int64
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/movil/events"):
			n = &events
		case r.Method == http.MethodGet && r.URL.Path == mobile.APIBase+"requests" && r.URL.Query().Get("wait") != "":
			n = &polls
		}
		if n == nil {
			gw.ServeHTTP(w, r)
			return
		}
		n.Add(1)
		cw := &countingWriter{ResponseWriter: w, n: n}
		gw.ServeHTTP(cw, r)
		if !cw.hijacked {
			n.Add(-1)
		}
	})
	// As examples/gateway serves (clave.NewServer's timeouts), with
	// connection bounds large enough for the run.
	srv := clave.NewServer("", h)
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}
	go srv.Serve(clave.LimitListener(gwLn, cfg.MaxConns, cfg.PerClient))

	dbg := http.NewServeMux()
	dbg.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st := readMovilStats()
		st.Conns, st.Events, st.Polls = conns.Load(), events.Load(), polls.Load()
		st.Logs = logs.snapshot()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	// The SMS a citizen's phone received last: the activation codes.
	dbg.HandleFunc("GET /sms", func(w http.ResponseWriter, r *http.Request) {
		ms := gw.Inbox().Messages(gateway.ChannelSMS, r.URL.Query().Get("to"))
		if len(ms) == 0 {
			http.Error(w, "no SMS", http.StatusNotFound)
			return
		}
		io.WriteString(w, ms[len(ms)-1].Code)
	})
	dbg.HandleFunc("GET /debug/pprof/", pprof.Index)
	dbg.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	dbgSrv := &http.Server{Handler: dbg, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go dbgSrv.Serve(dbgLn)

	fmt.Fprintf(stdout, "ready %s http://%s\n", gwURL, dbgLn.Addr())
	_, _ = io.Copy(io.Discard, in) // until the load generator is done, or gone
	_ = dbgSrv.Close()
	_ = srv.Close()
	return 0
}

// readMovilStats reads this process's memory and goroutines.
func readMovilStats() movilStats {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	st := movilStats{HeapInuse: int64(m.HeapInuse), StackInuse: int64(m.StackInuse), Sys: int64(m.Sys),
		NumGC: int64(m.NumGC), Goroutines: runtime.NumGoroutine(), CPU: processCPU()}
	if rss, hwm, ok := procMemory(); ok {
		st.Proc, st.RSS, st.HWM = true, rss, hwm
	} else {
		st.RSS, st.HWM = int64(m.Sys-m.HeapReleased), int64(m.Sys)
	}
	return st
}

// procMemory reads VmRSS and VmHWM of /proc/self/status, in bytes.
func procMemory() (rss, hwm int64, ok bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		name, v, found := strings.Cut(l, ":")
		if !found {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm, rss > 0 && hwm > 0
}

// countingWriter passes a hijack through, keeping its counter up until the
// connection taken over closes.
type countingWriter struct {
	http.ResponseWriter
	n        *atomic.Int64
	hijacked bool
}

// Hijack implements http.Hijacker.
func (c *countingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(c.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	c.hijacked = true
	return &countedConn{Conn: conn, n: c.n}, brw, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// countedConn lowers its counter once, when closed.
type countedConn struct {
	net.Conn
	n    *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.n.Add(-1) })
	return c.Conn.Close()
}
