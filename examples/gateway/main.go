// Command gateway runs the reference Cl@ve gateway: the real gateway's
// protocol (/Proxy2/ServiceProvider, /Proxy2/Certificates), its chooser and
// Cl@ve PIN, seeded demo citizens, and a demo inbox page at /demo/inbox where
// the SMS it "sends" can be read. Run with -h for the settings (flags,
// CLAVE_* environment variables, or a JSON file given with -config); the
// README's "Reference gateway" section documents them with the services file
// format.
//
// For operations it serves /healthz, /readyz and /metrics (Prometheus),
// logs as text or JSON with a request ID per request, and at SIGTERM or
// SIGINT stops taking connections, lets the requests in flight finish and
// closes the database.
//
// Without -key/-cert the signing key is synthetic: kept beside a -db file as
// <db>.signing-key.pem and <db>.signing-cert.pem, so a restart keeps the key
// services trust, or made afresh at each start with the default in-memory
// database.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// A second signal ends the process at once.
		<-ctx.Done()
		stop()
	}()
	err := runWith(ctx, os.Args[1:], runEnv{lookupEnv: os.LookupEnv, stderr: os.Stderr})
	var cerr *configError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &cerr):
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	default:
		os.Exit(1) // runWith logged it
	}
}

// runEnv is what run takes from its surroundings.
type runEnv struct {
	lookupEnv func(string) (string, bool)
	// stderr receives -h's usage and, when log is nil, the log.
	stderr io.Writer
	// log, when not nil, is the log, instead of the one the settings ask
	// for.
	log *slog.Logger
	// ready, when not nil, receives the gateway's base URL once it accepts
	// connections.
	ready chan<- string
	// stopped, when not nil, is called at shutdown once the listener is
	// closed (see server.stopped).
	stopped func()
}

// run serves the gateway until ctx ends, logging to log, with the process
// environment. When ready is not nil it receives the gateway's base URL
// once it accepts connections.
func run(ctx context.Context, args []string, log *slog.Logger, ready chan<- string) error {
	return runWith(ctx, args, runEnv{lookupEnv: os.LookupEnv, stderr: os.Stderr, log: log, ready: ready})
}

// runWith serves the gateway until ctx ends. Every setting is read and
// checked, and every file it names read, before it listens; it returns a
// *configError for what is wrong there. Errors after that are logged.
func runWith(ctx context.Context, args []string, env runEnv) (err error) {
	o, err := loadOptions(args, env.lookupEnv, env.stderr)
	if err != nil {
		return err
	}
	log := env.log
	if log == nil {
		log = newLogger(env.stderr, o.logFormat, o.logLevel)
	}
	log = withRequestIDs(log)
	defer func() {
		var cerr *configError
		if err != nil && !errors.As(err, &cerr) {
			log.Error("gateway stopped", "error", err)
		}
	}()
	log.Info("configuration", "settings", o.logValue())
	o.warnings(log)
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
	defer func() {
		if cerr := a.Close(); cerr != nil {
			log.Warn("closing the database", "error", cerr)
			return
		}
		log.Info("database closed")
	}()
	gw := a.gateway
	cert := gw.TrustedCertificates()[0]
	log.Info("reference gateway listening", "url", cfg.baseURL, "endpoint", gw.Endpoint(),
		"certificates", cfg.baseURL+saml.CertificatesPath, "inbox", cfg.baseURL+inboxPath,
		"issuer", gw.Issuer(), "signing_certificate", cert.Subject.CommonName+" sha256:"+fingerprint(cert)[:16],
		"db", redactDB(cfg.dbPath), "service_providers", len(cfg.serviceProviders),
		"healthz", cfg.baseURL+"/healthz", "readyz", cfg.baseURL+"/readyz", "metrics", cfg.baseURL+"/metrics")
	log.Info("to register a service, list it in a JSON file passed with -sp-config (format in README.md, \"Reference gateway\"); then point the agency here",
		"example", fmt.Sprintf("go run ./examples/agency -env custom -gateway-url %s -gateway-issuer %s -key sp.key -cert sp.crt",
			gw.Endpoint(), gw.Issuer()))
	if env.ready != nil {
		env.ready <- cfg.baseURL
	}
	srv := &server{handler: a.handler, maxConns: o.maxConns, shutdownTimeout: o.shutdownTimeout, ready: a.ready, log: log,
		stopped: env.stopped}
	return srv.serve(ctx, ln)
}

// warnings logs the settings that work but risk something.
func (o *options) warnings(log *slog.Logger) {
	if o.from["pin_secret"].kind == "flag" {
		log.Warn("-pin-secret shows the secret to anyone who lists the processes: set CLAVE_PIN_SECRET or the config file's pin_secret instead")
	}
	if o.from["db"].kind == "flag" && redactDB(o.db) != o.db {
		log.Warn("-db holds a password that anyone who lists the processes sees: set CLAVE_DB or the config file's db instead")
	}
	if o.pinSecret == "" && o.db != ":memory:" {
		log.Warn("no pin_secret: PINs and codes pending at a restart will stop verifying; set CLAVE_PIN_SECRET")
	}
}

// appConfig reads the files the settings name, so that a bad file stops
// the gateway before it listens.
func (o *options) appConfig(log *slog.Logger) (appConfig, error) {
	cfg := appConfig{dbPath: o.db, keyFile: o.keyFile, certFile: o.certFile, log: log,
		personas: o.personas, adminToken: o.adminToken}
	bad := func(key, value string, err error) error {
		return &configError{[]error{fmt.Errorf("%s = %q (%s): %w", key, value, o.from[key], err)}}
	}
	var err error
	if o.spConfig != "" {
		if cfg.serviceProviders, err = gateway.LoadServiceProviders(o.spConfig); err != nil {
			return cfg, bad("sp_config", o.spConfig, err)
		}
	}
	if o.citizens != "" {
		f, err := os.Open(o.citizens)
		if err != nil {
			return cfg, bad("citizens", o.citizens, err)
		}
		defer f.Close()
		if cfg.citizens, err = gateway.LoadCitizens(f); err != nil {
			return cfg, bad("citizens", o.citizens, err)
		}
	}
	if o.keyFile != "" {
		if _, _, err := loadKeyPair(o.certFile, o.keyFile); err != nil {
			return cfg, bad("key", o.keyFile, fmt.Errorf("with cert %q: %w", o.certFile, err))
		}
	}
	if o.pinSecret != "" {
		if cfg.pinSecret, err = hex.DecodeString(o.pinSecret); err != nil {
			return cfg, err // checked by loadOptions
		}
	}
	return cfg, nil
}
