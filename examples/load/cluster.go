package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/gateway/method"
)

// The cluster mode of -scenario logins (-gateways N): the gateway runs as N
// child processes of this command on one database, as several replicas
// behind a load balancer would. The browsers reach them through one public
// name, clusterHost, and every request goes to the next process in turn,
// so each login's steps are spread over the processes: a PIN requested on
// one is verified on another. The children send their SMS to an SMS
// provider of the load generator's (an HTTP endpoint), whose inbox the
// browsers read, as a real SMS provider is shared by every replica.

// clusterChildEnv, when set, makes the command one gateway process of a
// cluster run.
const clusterChildEnv = "CLAVE_LOAD_CLUSTER_GATEWAY"

// clusterHost is the gateway's public host in a cluster run; the
// browsers' transport sends its requests to the processes in turn.
const clusterHost = "gateway.load"

// clusterChildConfig is what the load generator sends a gateway process,
// as one line of JSON on its standard input.
type clusterChildConfig struct {
	// GatewayKey (PKCS #8) and GatewayCert (DER) are the gateway's
	// signing identity; AgencyCert (DER) is the agency's certificate.
	GatewayKey, GatewayCert, AgencyCert []byte
	// BaseURL is the public URL every process answers as.
	BaseURL string
	// ACS is the agency's assertion consumer service.
	ACS string
	// DB is the database: a SQLite file or a postgres:// URL.
	DB string
	// PINSecret is shared, so that a PIN issued by one process verifies
	// on another.
	PINSecret []byte
	// SMS is the URL the processes post their SMS to.
	SMS string
}

// clusterChildReady is the child's one line of answer: where it listens.
type clusterChildReady struct {
	Addr  string `json:"addr"`
	Error string `json:"error,omitempty"`
}

// clusterChild is the gateway process: it serves until its standard input
// closes, then shuts down.
func clusterChild(in io.Reader, out io.Writer) int {
	rd := bufio.NewReader(in)
	answer := func(r clusterChildReady) { _ = json.NewEncoder(out).Encode(r) }
	line, err := rd.ReadBytes('\n')
	if err != nil {
		answer(clusterChildReady{Error: err.Error()})
		return 1
	}
	var cfg clusterChildConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		answer(clusterChildReady{Error: err.Error()})
		return 1
	}
	ctx := context.Background()
	srv, ln, closeAll, err := clusterGateway(ctx, cfg)
	if err != nil {
		answer(clusterChildReady{Error: err.Error()})
		return 1
	}
	defer closeAll()
	go srv.Serve(clave.LimitListener(ln, gatewayConns, gatewayPerClient))
	answer(clusterChildReady{Addr: ln.Addr().String()})
	_, _ = io.Copy(io.Discard, rd) // until the parent closes our input
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return 0
}

func clusterGateway(ctx context.Context, cfg clusterChildConfig) (*http.Server, net.Listener, func(), error) {
	key, err := x509.ParsePKCS8PrivateKey(cfg.GatewayKey)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(cfg.GatewayCert)
	if err != nil {
		return nil, nil, nil, err
	}
	agency, err := x509.ParseCertificate(cfg.AgencyCert)
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := gateway.OpenDB(ctx, cfg.DB)
	if err != nil {
		return nil, nil, nil, err
	}
	gw, err := gateway.New(ctx, gateway.Config{
		BaseURL: cfg.BaseURL, SigningKey: key.(*rsa.PrivateKey), SigningCertificate: cert, DB: db,
		PINSecret: cfg.PINSecret, Notifier: smsPoster{url: cfg.SMS, client: &http.Client{Timeout: 10 * time.Second}},
		// Warnings and errors reach the load generator's standard error.
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ServiceProviders: []gateway.ServiceProvider{{SPID: agencySPID, Name: agencyApp,
			Certificates: []*x509.Certificate{agency}, ACSURLs: []string{cfg.ACS}}},
		ClientAddress: clientFromHeader,
	})
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gw.Close()
		db.Close()
		return nil, nil, nil, err
	}
	srv := clave.NewServer("", gw)
	srv.ErrorLog = log.New(io.Discard, "", 0)
	return srv, ln, func() { gw.Close(); db.Close() }, nil
}

// clientFromHeader reads the simulated client address (see clientHeader).
func clientFromHeader(r *http.Request) string {
	if c := r.Header.Get(clientHeader); c != "" {
		return c
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

// smsPoster is the gateway processes' Notifier: it posts every message to
// the load generator's SMS provider.
type smsPoster struct {
	url    string
	client *http.Client
}

func (p smsPoster) Send(ctx context.Context, m method.Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("sms provider: %s", resp.Status)
	}
	return nil
}

// smsProvider receives the processes' messages into inbox.
func smsProvider(inbox *gateway.Inbox) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m method.Message
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := inbox.Send(r.Context(), m); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// clusterProc is one running gateway process.
type clusterProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// startClusterChild starts a gateway process with cfg and waits until it
// listens.
func startClusterChild(ctx context.Context, cfg clusterChildConfig) (*clusterProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), clusterChildEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &clusterProc{cmd: cmd, stdin: stdin}
	line, err := json.Marshal(cfg)
	if err == nil {
		_, err = stdin.Write(append(line, '\n'))
	}
	var ready clusterChildReady
	if err == nil {
		done := make(chan error, 1)
		go func() { done <- json.NewDecoder(stdout).Decode(&ready) }()
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil && ready.Error != "" {
		err = errors.New(ready.Error)
	}
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("gateway process: %w", err)
	}
	p.addr = ready.Addr
	return p, nil
}

// stop closes the process's input, which makes it shut down, and waits.
func (p *clusterProc) stop() {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// cpu is the user and system CPU time the process used so far, from
// /proc (zero where there is none).
func (p *clusterProc) cpu() time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis (utime and stime are fields 14 and 15).
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// balancer sends the requests for clusterHost to the gateway processes in
// turn, as a load balancer without affinity would; the Host header stays
// the public one.
type balancer struct {
	next     http.RoundTripper
	backends []string
	turn     *atomic.Uint64
}

func (b balancer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != clusterHost || len(b.backends) == 0 {
		return b.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Host = b.backends[b.turn.Add(1)%uint64(len(b.backends))]
	r2.Host = clusterHost
	resp, err := b.next.RoundTrip(r2)
	if resp != nil {
		// The browser saw the public URL: links and cookies resolve
		// against it, not against the process that answered.
		resp.Request = r
	}
	return resp, err
}

// CloseIdleConnections passes on to the transport, as http.Client expects.
func (b balancer) CloseIdleConnections() {
	if c, ok := b.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// clusterCPU is the CPU time the gateway processes used so far.
func (h *harness) clusterCPU() time.Duration {
	var d time.Duration
	for _, p := range h.procs {
		d += p.cpu()
	}
	return d
}
