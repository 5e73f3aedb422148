package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

// The synthetic agency registered at the gateway.
const (
	agencySPID = "S0000000L_E00000001"
	agencyApp  = "Sede de carga"
)

// gatewayConns is the bound on the gateway's connections, examples/gateway's
// maxConnections.
const gatewayConns = 2048

// gatewayPerClient is examples/gateway's maxPerClient.
const gatewayPerClient = 32

// clientHeader carries the simulated client address of a request: the
// gateway's Config.ClientAddress reads it, so that one process can play
// thousands of browsers (or one attacker) without thousands of IPs.
const clientHeader = "X-Load-Client"

// dniLetters are the DNI check letters, indexed by the number modulo 23.
const dniLetters = "TRWAGMYFPDXBNJZSQVHLCKE"

// person is what a browser needs to log in as synthetic citizen i.
type person struct {
	id, contrast, phone string
}

// firstNumber is the DNI number of citizen 0; citizen i has firstNumber+i.
const firstNumber = 10_000_000

func dniOf(i int) string {
	n := firstNumber + i
	return fmt.Sprintf("%08d%c", n, dniLetters[n%23])
}

// validUntil spreads the citizens' DNI expiry dates over ten years, so the
// contrast datum is not one date an attacker could type for everyone.
func validUntil(i int) time.Time {
	return time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (i*7919)%3650)
}

func personOf(i int) person {
	return person{id: dniOf(i), contrast: validUntil(i).Format("02/01/2006"), phone: fmt.Sprintf("+346%08d", i)}
}

func citizenOf(i int) gateway.Citizen {
	p := personOf(i)
	return gateway.Citizen{
		ID: p.id, ValidUntil: validUntil(i), GivenName: "CIUDADANO", FirstSurname: "DE CARGA",
		SecondSurname: fmt.Sprintf("NUMERO %d", i), DateOfBirth: time.Date(1970+i%40, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC),
		Phone: p.phone, Email: fmt.Sprintf("c%d@example.es", i), Level: gateway.LevelAdvanced, Status: gateway.StatusActive,
	}
}

// setup is what a harness is built from.
type setup struct {
	// dbPath is the gateway's database file; "" makes one in a temporary
	// directory removed at Close.
	dbPath   string
	citizens int
	// plainServer serves the gateway on an http.Server with only a
	// ReadHeaderTimeout, instead of as examples/gateway serves it.
	plainServer bool
	// gateways, when positive, runs the gateway as that many child
	// processes on the database (see cluster.go) instead of in this
	// process.
	gateways int
}

// harness is a gateway on a file database and an agency, each on its own
// loopback listener, and the shared transport of the simulated browsers.
type harness struct {
	gw        *gateway.Gateway
	gwURL     string
	agencyURL string
	db        *sql.DB
	dbPath    string
	citizens  int
	logs      *logCounter
	transport *http.Transport
	// conns counts the connections open at the gateway's server.
	conns   atomic.Int64
	servers []*http.Server
	tmpDir  string
	// procs are the gateway processes of a cluster run, backends their
	// addresses, which the browsers' requests go to in turn.
	procs    []*clusterProc
	backends []string
	turn     atomic.Uint64
}

// start builds a harness: keys, database, gateway, agency, citizens.
func start(ctx context.Context, s setup) (_ *harness, err error) {
	h := &harness{logs: newLogCounter(), citizens: s.citizens, dbPath: s.dbPath}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if h.dbPath == "" {
		if h.tmpDir, err = os.MkdirTemp("", "clave-load-*"); err != nil {
			return nil, err
		}
		h.dbPath = filepath.Join(h.tmpDir, "gateway.db")
	}
	gwKey, gwCert, err := selfSigned("load gateway")
	if err != nil {
		return nil, err
	}
	spKey, spCert, err := selfSigned("load agency")
	if err != nil {
		return nil, err
	}
	gwLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	agLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gwLn.Close()
		return nil, err
	}
	h.gwURL, h.agencyURL = "http://"+gwLn.Addr().String(), "http://"+agLn.Addr().String()
	if s.gateways > 0 {
		// The processes answer at one public name; this listener only
		// receives their SMS.
		h.gwURL = "http://" + clusterHost
	}
	if h.db, err = gateway.OpenDB(ctx, h.dbPath); err != nil {
		gwLn.Close()
		agLn.Close()
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	logger := slog.New(h.logs)
	h.gw, err = gateway.New(ctx, gateway.Config{
		BaseURL: h.gwURL, SigningKey: gwKey, SigningCertificate: gwCert, DB: h.db, PINSecret: secret,
		Logger: logger,
		ServiceProviders: []gateway.ServiceProvider{{SPID: agencySPID, Name: agencyApp,
			Certificates: []*x509.Certificate{spCert}, ACSURLs: []string{h.agencyURL + "/clave/acs"}}},
		ClientAddress: func(r *http.Request) string {
			if c := r.Header.Get(clientHeader); c != "" {
				return c
			}
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			return host
		},
	})
	if err != nil {
		gwLn.Close()
		agLn.Close()
		return nil, err
	}
	cookieSecret := make([]byte, 32)
	_, _ = rand.Read(cookieSecret)
	client, err := clave.New(clave.Config{
		Environment: clave.Custom, GatewayURL: h.gw.Endpoint(), GatewayIssuer: h.gw.Issuer(),
		GatewayCertificates: saml.StaticCertificates(h.gw.TrustedCertificates()),
		SPID:                agencySPID, ApplicationName: agencyApp, ACSURL: h.agencyURL + "/clave/acs",
		Key: spKey, Certificate: spCert, CookieSecret: cookieSecret, LoA: saml.LoALow, Logger: logger,
	})
	if err != nil {
		gwLn.Close()
		agLn.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/clave/acs", client.ACSHandler())
	mux.Handle("/", client.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "logged in: %s\n", id.PersonIdentifier)
	})))
	count := func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			h.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			h.conns.Add(-1)
		}
	}
	switch {
	case s.gateways > 0:
		h.serve(gwLn, clave.NewServer("", smsProvider(h.gw.Inbox())))
	case s.plainServer:
		h.serve(gwLn, &http.Server{Handler: h.gw, ReadHeaderTimeout: 10 * time.Second, ConnState: count})
	default:
		// As examples/gateway serves: every timeout bounded, and at most
		// gatewayConns connections at once.
		srv := clave.NewServer("", h.gw)
		srv.ConnState = count
		h.serve(clave.LimitListener(gwLn, gatewayConns, gatewayPerClient), srv)
	}
	h.serve(agLn, clave.NewServer("", mux))
	h.transport = &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         dialLoopback,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	if err := h.seed(ctx, 0, s.citizens); err != nil {
		return nil, err
	}
	if s.gateways > 0 {
		child := clusterChildConfig{BaseURL: h.gwURL, ACS: h.agencyURL + "/clave/acs", DB: h.dbPath,
			PINSecret: secret, SMS: "http://" + gwLn.Addr().String() + "/sms",
			GatewayCert: gwCert.Raw, AgencyCert: spCert.Raw}
		if child.GatewayKey, err = x509.MarshalPKCS8PrivateKey(gwKey); err != nil {
			return nil, err
		}
		for range s.gateways {
			p, err := startClusterChild(ctx, child)
			if err != nil {
				return nil, err
			}
			h.procs = append(h.procs, p)
			h.backends = append(h.backends, p.addr)
		}
	}
	return h, nil
}

func (h *harness) serve(ln net.Listener, srv *http.Server) {
	srv.ErrorLog = log.New(io.Discard, "", 0)
	h.servers = append(h.servers, srv)
	go srv.Serve(ln)
}

// seed registers citizens from .. to-1, several at a time.
func (h *harness) seed(ctx context.Context, from, to int) error {
	const workers = 8
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next.Store(int64(from))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				if err := h.gw.PutCitizen(ctx, citizenOf(i)); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("seeding citizen %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && to > h.citizens {
		h.citizens = to
	}
	return cmpErr(firstErr, ctx.Err())
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Close stops the servers and closes the database; a temporary database is
// removed.
func (h *harness) Close() {
	for _, p := range h.procs {
		p.stop()
	}
	for _, s := range h.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(ctx)
		cancel()
		_ = s.Close()
	}
	if h.transport != nil {
		h.transport.CloseIdleConnections()
	}
	if h.gw != nil {
		_ = h.gw.Close()
	}
	if h.db != nil {
		_ = h.db.Close()
	}
	if h.tmpDir != "" {
		_ = os.RemoveAll(h.tmpDir)
	}
}

// dialLoopback refuses any address that is not loopback: a load run never
// leaves the machine.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialLoopbackFrom(ctx, nil, network, addr)
}

// dialLoopbackFrom is dialLoopback from the source address src (nil: any).
func dialLoopbackFrom(ctx context.Context, src *net.TCPAddr, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("load: refusing to dial %s: not a loopback address", addr)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != nil {
		d.LocalAddr = src
	}
	return d.DialContext(ctx, network, addr)
}

// logCounter is the gateway's and the agency's logger: it keeps no lines,
// only how many warnings and errors of each kind were logged.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newLogCounter() *logCounter { return &logCounter{counts: map[string]int{}} }

func (l *logCounter) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }

func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	key := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "error", "limit", "reason":
			v := a.Value.String()
			if len(v) > 70 {
				v = v[:70] + "…"
			}
			key += " [" + a.Key + "=" + v + "]"
		}
		return true
	})
	l.mu.Lock()
	l.counts[key]++
	l.mu.Unlock()
	return nil
}

func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

// snapshot copies the counts so far.
func (l *logCounter) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.counts))
	for k, v := range l.counts {
		out[k] = v
	}
	return out
}

// since is what was logged after an earlier snapshot.
func (l *logCounter) since(before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range l.snapshot() {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// printCounts writes counts, largest first, indented.
func printCounts(w io.Writer, title string, counts map[string]int) {
	if len(counts) == 0 {
		fmt.Fprintf(w, "%s: none\n", title)
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  %7d  %s\n", counts[k], k)
	}
}

var errUnexpected = errors.New("unexpected page")

// snippet is the start of a page's text, on one line, for error reports.
func snippet(s string) string {
	_, body, inTag := strings.Cut(s, "<body")
	if inTag {
		s = body
	}
	var b strings.Builder
	for ; s != ""; s = s[1:] {
		switch c := s[0]; {
		case c == '<':
			inTag = true
			b.WriteByte(' ')
		case c == '>':
			inTag = false
		case !inTag:
			b.WriteByte(c)
		}
	}
	s = strings.Join(strings.Fields(b.String()), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
