// Package gatewayapp assembles a runnable reference gateway for the examples:
// a clave.Gateway on its database, signing key, registered services and seeded
// demo citizens, plus the demo inbox page. examples/gateway serves it alone;
// examples/demo serves it beside the agency app.
package gatewayapp

import (
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/internal/pki"
)

// citizensJSON is a copy of the demo seed (internal/registry/testdata/seed.json).
//
//go:embed citizens.json
var citizensJSON []byte

// InboxPath is where the demo inbox page is served.
const InboxPath = "/demo/inbox"

// DefaultCitizens returns the embedded demo citizens.
func DefaultCitizens() ([]clave.Citizen, error) {
	return clave.LoadCitizens(bytes.NewReader(citizensJSON))
}

// Config configures an App. Only BaseURL is required.
type Config struct {
	// BaseURL is the gateway's public URL, e.g. "http://127.0.0.1:9000".
	BaseURL string
	// DBPath is the gateway's SQLite database; "" or ":memory:" keeps nothing
	// across restarts.
	DBPath string
	// KeyFile and CertFile are the PEM signing key and certificate. Without
	// them a synthetic pair is used: kept beside a database file (see
	// KeyFiles) so that a restart keeps the key services trust, generated
	// afresh for an in-memory database.
	KeyFile, CertFile string
	// ServiceProviders are registered at start.
	ServiceProviders []clave.ServiceProvider
	// Citizens are seeded at every start, restoring the personas to their
	// seeded state; nil means DefaultCitizens.
	Citizens []clave.Citizen
	// PINSecret keys the PIN hashes (≥ 32 bytes); nil means random, so PINs
	// pending at a restart stop verifying.
	PINSecret []byte
	// Personas registers the reserved test citizens with fixed outcomes.
	Personas bool
	// AdminToken enables the admin page and API at /admin/ (≥ 16 chars).
	AdminToken string
	// Logger receives the gateway's events; default slog.Default().
	Logger *slog.Logger
}

// App is an assembled reference gateway.
type App struct {
	Gateway *clave.Gateway
	// Handler serves the gateway and, when it keeps the default Inbox, the
	// demo inbox page at InboxPath.
	Handler http.Handler
	db      *sql.DB
}

// New assembles the gateway: database, signing key, services, citizens.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DBPath == "" {
		cfg.DBPath = ":memory:"
	}
	kp, err := signingKey(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Citizens == nil {
		if cfg.Citizens, err = DefaultCitizens(); err != nil {
			return nil, fmt.Errorf("embedded citizens: %w", err)
		}
	}
	db, err := clave.OpenGatewayDB(ctx, cfg.DBPath)
	if err != nil {
		return nil, err
	}
	gw, err := clave.NewGateway(ctx, clave.GatewayConfig{
		BaseURL: cfg.BaseURL, SigningKey: kp.Key, SigningCertificate: kp.Certificate,
		ServiceProviders: cfg.ServiceProviders, DB: db, PINSecret: cfg.PINSecret, Logger: cfg.Logger,
		Personas: cfg.Personas, AdminToken: cfg.AdminToken,
	})
	if err == nil {
		err = gw.SeedCitizens(ctx, cfg.Citizens)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	a := &App{Gateway: gw, Handler: gw, db: db}
	if in := gw.Inbox(); in != nil {
		mux := http.NewServeMux()
		mux.Handle("GET "+InboxPath, InboxHandler(in))
		mux.Handle("/", gw)
		a.Handler = mux
	}
	return a, nil
}

// Close closes the gateway's database.
func (a *App) Close() error { return a.db.Close() }

// KeyFiles names the synthetic signing key and certificate kept beside the
// database file dbPath.
func KeyFiles(dbPath string) (key, cert string) {
	return dbPath + ".signing-key.pem", dbPath + ".signing-cert.pem"
}

// syntheticValidity is how long a generated gateway certificate lasts; a
// persisted one is replaced when it expires.
const syntheticValidity = 2 * 365 * 24 * time.Hour

func signingKey(cfg Config) (*pki.KeyPair, error) {
	log := cfg.Logger
	if cfg.KeyFile != "" || cfg.CertFile != "" {
		if cfg.KeyFile == "" || cfg.CertFile == "" {
			return nil, errors.New("the signing key and certificate files (-key, -cert) go together")
		}
		return pki.LoadKeyPair(cfg.CertFile, cfg.KeyFile)
	}
	generate := func() (*pki.KeyPair, error) {
		return pki.Generate("clave reference gateway (synthetic)", 2048, time.Now().Add(-time.Hour), syntheticValidity)
	}
	if cfg.DBPath == ":memory:" {
		log.Warn("gateway: synthetic signing key for this run only; services must fetch the new certificate after each restart")
		return generate()
	}
	keyFile, certFile := KeyFiles(cfg.DBPath)
	kp, err := pki.LoadKeyPair(certFile, keyFile)
	switch {
	case err == nil && time.Now().Before(kp.Certificate.NotAfter):
		return kp, nil
	case err == nil:
		log.Warn("gateway: persisted synthetic certificate expired; generating a new one", "cert", certFile)
	case errors.Is(err, fs.ErrNotExist):
		if _, kerr := os.Stat(keyFile); kerr == nil {
			return nil, fmt.Errorf("%s exists without %s: restore it or remove both", keyFile, certFile)
		}
	default:
		return nil, err
	}
	if kp, err = generate(); err != nil {
		return nil, err
	}
	// The key is written before the certificate, so a crash in between
	// leaves a state the check above reports instead of silently replacing.
	if err := writeFile(keyFile, pki.KeyPEM(kp.Key)); err != nil {
		return nil, err
	}
	if err := writeFile(certFile, pki.CertificatePEM(kp.Certificate)); err != nil {
		return nil, err
	}
	log.Info("gateway: synthetic signing key stored beside the database", "key", keyFile, "cert", certFile)
	return kp, nil
}

// writeFile writes data readable by the owner only, replacing path atomically.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// Serve serves h on ln until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
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

// BaseURL is "http://host:port" for a listener opened on addr: the host of
// addr (localhost when it names no particular interface) and the port
// actually bound, so that ":0" works.
func BaseURL(addr string, ln net.Listener) string {
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://" + net.JoinHostPort(host, port)
}
