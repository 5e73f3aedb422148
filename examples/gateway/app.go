package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/clave-go/clave/gateway"
)

// citizensJSON is the demo citizens' seed (the table in README.md).
//
//go:embed citizens.json
var citizensJSON []byte

// inboxPath is where the demo inbox page is served.
const inboxPath = "/demo/inbox"

// defaultCitizens returns the embedded demo citizens.
func defaultCitizens() ([]gateway.Citizen, error) {
	return gateway.LoadCitizens(bytes.NewReader(citizensJSON))
}

// appConfig is what the settings ask for. Only baseURL is required.
type appConfig struct {
	// baseURL is the gateway's public URL, e.g. "http://127.0.0.1:9000".
	baseURL string
	// dbPath is the gateway's SQLite database file, or a postgres:// URL
	// (handed to gateway.OpenDB as it is); "" or ":memory:" keeps nothing
	// across restarts.
	dbPath string
	// keyFile and certFile are the PEM signing key and certificate. Without
	// them a synthetic pair is used: kept beside a database file (see
	// keyFiles) so that a restart keeps the key services trust, generated
	// afresh for an in-memory database.
	keyFile, certFile string
	// serviceProviders are registered at start.
	serviceProviders []gateway.ServiceProvider
	// citizens are seeded at every start, restoring them to their seeded
	// state; nil means defaultCitizens.
	citizens []gateway.Citizen
	// pinSecret keys the PIN hashes (≥ 32 bytes); nil means random, so PINs
	// pending at a restart stop verifying.
	pinSecret []byte
	// personas registers the reserved test citizens with fixed outcomes.
	personas bool
	// adminToken enables the admin page and API at /admin/ (≥ 16 chars).
	adminToken string
	log        *slog.Logger
}

// app is an assembled reference gateway.
type app struct {
	gateway *gateway.Gateway
	// handler serves the gateway, /healthz, /readyz, /metrics and, when
	// the gateway keeps the default Inbox, the demo inbox page at
	// inboxPath; every request with an ID, counted and logged.
	handler http.Handler
	db      *sql.DB
	metrics *metrics
	ready   *readiness
}

// newApp assembles the gateway: database, signing key, services, citizens.
func newApp(ctx context.Context, cfg appConfig) (*app, error) {
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	if cfg.dbPath == "" {
		cfg.dbPath = ":memory:"
	}
	cfg.log = withRequestIDs(cfg.log)
	key, cert, err := signingKey(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.citizens == nil {
		if cfg.citizens, err = defaultCitizens(); err != nil {
			return nil, fmt.Errorf("embedded citizens: %w", err)
		}
	}
	db, err := gateway.OpenDB(ctx, cfg.dbPath)
	if err != nil {
		return nil, fmt.Errorf("db: %w", redactPassword(err, cfg.dbPath))
	}
	m := newMetrics(time.Now)
	gw, err := gateway.New(ctx, gateway.Config{
		BaseURL: cfg.baseURL, SigningKey: key, SigningCertificate: cert,
		ServiceProviders: cfg.serviceProviders, DB: db, PINSecret: cfg.pinSecret, Logger: cfg.log,
		Personas: cfg.personas, AdminToken: cfg.adminToken, Observer: m, DemoInboxURL: inboxPath,
	})
	if err == nil {
		err = gw.SeedCitizens(ctx, cfg.citizens)
	}
	if err != nil {
		if gw != nil {
			_ = gw.Close()
		}
		_ = db.Close()
		return nil, err
	}
	a := &app{gateway: gw, db: db, metrics: m, ready: newReadiness(db, cfg.log)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /readyz", a.ready)
	mux.Handle("GET /metrics", m.handler())
	if in := gw.Inbox(); in != nil {
		mux.Handle("GET "+inboxPath, in.Page())
	}
	mux.Handle("/", gw)
	a.handler = instrument(mux, cfg.log, m)
	return a, nil
}

// Close stops the gateway's background work and closes its database.
func (a *app) Close() error { return errors.Join(a.gateway.Close(), a.db.Close()) }

// keyFiles names the synthetic signing key and certificate kept beside the
// database file dbPath.
func keyFiles(dbPath string) (key, cert string) {
	return dbPath + ".signing-key.pem", dbPath + ".signing-cert.pem"
}

// syntheticValidity is how long a generated gateway certificate lasts; a
// persisted one is replaced when it expires.
const syntheticValidity = 2 * 365 * 24 * time.Hour

func signingKey(cfg appConfig) (crypto.Signer, *x509.Certificate, error) {
	log := cfg.log
	if cfg.keyFile != "" || cfg.certFile != "" {
		if cfg.keyFile == "" || cfg.certFile == "" {
			return nil, nil, errors.New("the signing key and certificate files (-key, -cert) go together")
		}
		return loadKeyPair(cfg.certFile, cfg.keyFile)
	}
	if isPostgres(cfg.dbPath) {
		// Nowhere to keep a synthetic key that every gateway sharing the
		// database would use.
		return nil, nil, errors.New("a PostgreSQL database needs the signing key and certificate files (-key, -cert)")
	}
	const name = "clave reference gateway (synthetic)"
	if cfg.dbPath == ":memory:" {
		log.Warn("gateway: synthetic signing key for this run only; services must fetch the new certificate after each restart")
		key, cert, err := selfSigned(name, syntheticValidity)
		if err != nil {
			return nil, nil, err
		}
		return key, cert, nil
	}
	keyFile, certFile := keyFiles(cfg.dbPath)
	key, cert, err := loadKeyPair(certFile, keyFile)
	switch {
	case err == nil && time.Now().Before(cert.NotAfter):
		return key, cert, nil
	case err == nil:
		log.Warn("gateway: persisted synthetic certificate expired; generating a new one", "cert", certFile)
	case errors.Is(err, fs.ErrNotExist):
		if _, kerr := os.Stat(keyFile); kerr == nil {
			return nil, nil, fmt.Errorf("%s exists without %s: restore it or remove both", keyFile, certFile)
		}
	default:
		return nil, nil, err
	}
	rsaKey, cert, err := selfSigned(name, syntheticValidity)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := privateKeyPEM(rsaKey)
	if err != nil {
		return nil, nil, err
	}
	// The key is written before the certificate, so a crash in between
	// leaves a state the check above reports instead of silently replacing.
	if err := writeFile(keyFile, keyPEM); err != nil {
		return nil, nil, err
	}
	if err := writeFile(certFile, certificatePEM(cert)); err != nil {
		return nil, nil, err
	}
	log.Info("gateway: synthetic signing key stored beside the database", "key", keyFile, "cert", certFile)
	return rsaKey, cert, nil
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

// redactPassword hides the password of the database URL db where err's
// text repeats it.
func redactPassword(err error, db string) error {
	pw := ""
	if u, perr := url.Parse(db); perr == nil && isURL(db) {
		pw, _ = u.User.Password()
		if p := u.Query().Get("password"); p != "" {
			pw = p
		}
	}
	if pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), pw, "xxxxx"), err: err}
}

// redactedError is an error whose text hides a secret.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
