// Command gateway runs the reference Cl@ve gateway: the real gateway's
// protocol (/Proxy2/ServiceProvider, /Proxy2/Certificates), its chooser and
// Cl@ve PIN, seeded demo citizens, and a demo inbox page at /demo/inbox where
// the SMS it "sends" can be read. Run with -h for the flags; the README's
// "Reference gateway" section documents them with the services file format.
//
// Without -key/-cert the signing key is synthetic: kept beside a -db file as
// <db>.signing-key.pem and <db>.signing-cert.pem, so a restart keeps the key
// services trust, or made afresh at each start with the default in-memory
// database.
package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], log, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		log.Error("gateway", "error", err)
		os.Exit(1)
	}
}

type options struct {
	addr, baseURL, db, spConfig, citizens, keyFile, certFile, pinSecret string
	personas                                                            bool
	maxConns                                                            int
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:9000", "listen address host:port")
	fs.StringVar(&o.baseURL, "base-url", "", "public URL of the gateway (default http://<addr>)")
	fs.StringVar(&o.db, "db", ":memory:", `SQLite database file; ":memory:" forgets everything at exit`)
	fs.StringVar(&o.spConfig, "sp-config", "", "JSON file of the registered services (see README)")
	fs.StringVar(&o.citizens, "citizens", "", "JSON seed of citizens (default: the embedded demo citizens)")
	fs.StringVar(&o.keyFile, "key", "", "PEM signing key (default: synthetic, kept beside a -db file)")
	fs.StringVar(&o.certFile, "cert", "", "PEM certificate of -key")
	fs.StringVar(&o.pinSecret, "pin-secret", "", "hex secret (≥32 bytes) keying stored PINs; keep it across restarts so pending PINs survive (env CLAVE_PIN_SECRET; default random)")
	fs.BoolVar(&o.personas, "personas", true, "register the reserved test personas (see README)")
	fs.IntVar(&o.maxConns, "max-connections", defaultMaxConnections, "connections served at once; a Cl@ve Móvil login waiting for the phone holds two (its page's and the phone's)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.maxConns < maxPerClient || o.maxConns > 1<<20 {
		return nil, fmt.Errorf("-max-connections: want %d to %d", maxPerClient, 1<<20)
	}
	return o, nil
}

// appConfig reads the files the flags name, so that a bad file stops the
// gateway before it listens.
func (o *options) appConfig(log *slog.Logger) (appConfig, error) {
	// The admin token comes only from the environment: a flag would show it in
	// the process list.
	cfg := appConfig{dbPath: o.db, keyFile: o.keyFile, certFile: o.certFile, log: log,
		personas: o.personas, adminToken: os.Getenv("CLAVE_ADMIN_TOKEN")}
	var err error
	if o.spConfig != "" {
		if cfg.serviceProviders, err = gateway.LoadServiceProviders(o.spConfig); err != nil {
			return cfg, err
		}
	}
	if o.citizens != "" {
		f, err := os.Open(o.citizens)
		if err != nil {
			return cfg, err
		}
		defer f.Close()
		if cfg.citizens, err = gateway.LoadCitizens(f); err != nil {
			return cfg, fmt.Errorf("%s: %w", o.citizens, err)
		}
	}
	// The environment is read here, not as the flag's default, so that -h
	// does not print the secret.
	if secret := cmp.Or(o.pinSecret, os.Getenv("CLAVE_PIN_SECRET")); secret != "" {
		if cfg.pinSecret, err = hex.DecodeString(secret); err != nil {
			return cfg, fmt.Errorf("-pin-secret: %w", err)
		}
		if len(cfg.pinSecret) < 32 {
			return cfg, errors.New("-pin-secret: want at least 32 bytes (64 hex digits)")
		}
	}
	return cfg, nil
}

// run serves the gateway until ctx ends. When ready is not nil it receives
// the gateway's base URL once it accepts connections.
func run(ctx context.Context, args []string, log *slog.Logger, ready chan<- string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	cfg, err := o.appConfig(log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	cfg.baseURL = o.baseURL
	if cfg.baseURL == "" {
		cfg.baseURL = baseURL(o.addr, ln)
	}
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	gw := a.gateway
	cert := gw.TrustedCertificates()[0]
	log.Info("reference gateway listening", "url", cfg.baseURL, "endpoint", gw.Endpoint(),
		"certificates", cfg.baseURL+saml.CertificatesPath, "inbox", cfg.baseURL+inboxPath,
		"issuer", gw.Issuer(), "signing_certificate", cert.Subject.CommonName+" sha256:"+fingerprint(cert)[:16],
		"db", o.db, "service_providers", len(cfg.serviceProviders))
	log.Info("to register a service, list it in a JSON file passed with -sp-config (format in README.md, \"Reference gateway\"); then point the agency here",
		"example", fmt.Sprintf("go run ./examples/agency -env custom -gateway-url %s -gateway-issuer %s -key sp.key -cert sp.crt",
			gw.Endpoint(), gw.Issuer()))
	if ready != nil {
		ready <- cfg.baseURL
	}
	return serveBounded(ctx, ln, a.handler, o.maxConns)
}

// defaultMaxConnections bounds the connections served at once. Go raises a
// process's soft file-descriptor limit to its hard limit (4,096 at the
// least on current Linux), so this leaves room for the rest. A waiting
// connection costs the gateway about 8 KB (see examples/load -scenario
// movil), so memory is not what bounds it.
const defaultMaxConnections = 2048

// maxPerClient bounds the connections of one client address, so that one
// client holding slow connections cannot take them all; a browser opens six.
const maxPerClient = 32

// serveBounded serves h on ln until ctx ends, then shuts down gracefully.
// Every phase of a request has a timeout and the connections are bounded, so
// slow or idle clients cannot hold the gateway's file descriptors.
func serveBounded(ctx context.Context, ln net.Listener, h http.Handler, maxConns int) error {
	srv := clave.NewServer("", h)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(clave.LimitListener(ln, maxConns, maxPerClient)) }()
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
