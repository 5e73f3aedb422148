// Command procedures is an agency's procedures app built on the clave SDK:
// the citizen chooses how to identify (Cl@ve PIN through the gateway's
// app-native PIN API, or the other methods through the gateway's own pages),
// an entity and one of its procedures, and gets an online consultation on
// screen or a generated document kept in a Downloads area. The app itself is
// package app; this command builds its Config from the flags and serves it.
//
// Saved Cl@ve PIN users and downloads live in SQLite (-db). The entities,
// procedures and data are made up. Run with -h for the flags.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/examples/procedures/app"
	"github.com/clave-go/clave/saml"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	switch err := run(os.Args[1:], log); {
	case errors.Is(err, flag.ErrHelp):
		// -h: the flags were printed as asked.
	case err != nil:
		log.Error("procedures", "error", err)
		os.Exit(1)
	}
}

type options struct {
	addr, db, env, gatewayURL, gatewayIssuer, gatewayCert, gatewayCertsURL, pinAPIURL string
	keyFile, certFile, providerName, acsURL, loa                                      string
	saml                                                                              bool
}

// defaultDB is procedures.db in the user's config directory, or in the
// working directory when there is none.
func defaultDB() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "clave-procedures", "procedures.db")
	}
	return "procedures.db"
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("procedures", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8081", "listen address host:port")
	fs.StringVar(&o.db, "db", defaultDB(), "SQLite file keeping saved Cl@ve PIN users and downloads")
	fs.StringVar(&o.env, "env", "pre", "gateway environment: pre (pre-production), pro (production) or custom")
	fs.StringVar(&o.gatewayURL, "gateway-url", "", "gateway endpoint (…/Proxy2/ServiceProvider); required with -env custom")
	fs.StringVar(&o.gatewayIssuer, "gateway-issuer", "", "gateway Issuer; required with -env custom")
	fs.StringVar(&o.gatewayCert, "gateway-cert", "", "PEM file with the trusted gateway signing certificate(s)")
	fs.StringVar(&o.gatewayCertsURL, "gateway-certs-url", "", "URL of the gateway's certificates document (…/Proxy2/Certificates), refreshed hourly; default derived from the gateway URL when -gateway-cert is not given")
	fs.StringVar(&o.pinAPIURL, "pin-api-url", "", "base URL of the gateway's Cl@ve PIN API (default: the gateway URL without /Proxy2/ServiceProvider)")
	fs.StringVar(&o.keyFile, "key", "", "PEM private key registered for the SPID; it signs requests and PIN API calls (default: an ephemeral key, for trying things out)")
	fs.StringVar(&o.certFile, "cert", "", "PEM certificate of -key")
	fs.StringVar(&o.providerName, "provider-name", "S0000000E_E00000000;TramitesDemo", `"<SPID>;<ApplicationName>" registered with the gateway (the SPID also identifies PIN API calls)`)
	fs.StringVar(&o.acsURL, "acs-url", "", "absolute ACS URL registered with the gateway (default http://<addr>/clave/acs)")
	fs.StringVar(&o.loa, "loa", "low", "minimum level of assurance: low or substantial (Cl@ve PIN reaches no higher)")
	fs.BoolVar(&o.saml, "saml", true, "also offer the other Cl@ve methods through the gateway's own pages")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, nil
}

// buildConfig makes the SDK's Client configuration and the PIN API client
// from the flags.
func buildConfig(o *options, log *slog.Logger) (clave.Config, *clave.PINClient, *saml.CertificateFetcher, error) {
	cfg := clave.Config{Logger: log}
	switch o.env {
	case "pre":
		cfg.Environment = clave.Preproduction
	case "pro":
		cfg.Environment = clave.Production
	case "custom":
		cfg.Environment = clave.Custom
	default:
		return cfg, nil, nil, errors.New("-env must be pre, pro or custom")
	}
	cfg.GatewayURL, cfg.GatewayIssuer = o.gatewayURL, o.gatewayIssuer
	spid, appName, ok := strings.Cut(o.providerName, ";")
	if !ok {
		return cfg, nil, nil, errors.New(`-provider-name must be "<SPID>;<ApplicationName>"`)
	}
	cfg.SPID, cfg.ApplicationName = spid, appName
	cfg.ACSURL = o.acsURL
	if cfg.ACSURL == "" {
		cfg.ACSURL = "http://" + o.addr + "/clave/acs"
	}
	loa, ok := saml.ParseLoA(o.loa)
	if !ok {
		return cfg, nil, nil, fmt.Errorf("-loa: unknown level %q", o.loa)
	}
	cfg.LoA = loa
	switch {
	case o.keyFile != "" || o.certFile != "":
		if o.keyFile == "" || o.certFile == "" {
			return cfg, nil, nil, errors.New("-key and -cert go together")
		}
		key, cert, err := loadKeyPair(o.certFile, o.keyFile)
		if err != nil {
			return cfg, nil, nil, err
		}
		cfg.Key, cfg.Certificate = key, cert
	default:
		key, cert, err := selfSigned("procedures demo (ephemeral)", 30*24*time.Hour)
		if err != nil {
			return cfg, nil, nil, err
		}
		cfg.Key, cfg.Certificate = key, cert
		log.Warn("no -key/-cert: using an ephemeral key; a gateway will refuse it until its certificate is registered")
	}

	base := cfg.GatewayURL
	if base == "" {
		base = map[clave.Environment]string{clave.Preproduction: saml.PreproductionURL, clave.Production: saml.ProductionURL}[cfg.Environment]
	}
	root := strings.TrimSuffix(base, saml.ServiceProviderPath)
	var fetcher *saml.CertificateFetcher
	if o.gatewayCert != "" {
		data, err := os.ReadFile(o.gatewayCert)
		if err != nil {
			return cfg, nil, nil, err
		}
		certs, err := parseCertificates(data)
		if err != nil {
			return cfg, nil, nil, fmt.Errorf("%s: %w", o.gatewayCert, err)
		}
		cfg.GatewayCertificates = saml.StaticCertificates(certs)
	} else {
		u := o.gatewayCertsURL
		if u == "" {
			u = root + saml.CertificatesPath
		}
		var err error
		fetcher, err = saml.NewCertificateFetcher(saml.FetcherConfig{URL: u, Logger: log, InsecureAllowHTTP: loopback(u)})
		if err != nil {
			return cfg, nil, nil, err
		}
		cfg.GatewayCertificates = fetcher
	}
	pinURL := o.pinAPIURL
	if pinURL == "" {
		pinURL = root
	}
	pc := &clave.PINClient{GatewayBaseURL: pinURL, SPID: spid, Key: cfg.Key,
		HTTPClient: &http.Client{Timeout: 30 * time.Second}}
	return cfg, pc, fetcher, nil
}

func run(args []string, log *slog.Logger) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	cfg, pc, fetcher, err := buildConfig(o, log)
	if err != nil {
		return err
	}
	cfg.CookieSecret = make([]byte, 32)
	if _, err := rand.Read(cfg.CookieSecret); err != nil {
		return err
	}
	client, err := clave.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	h, err := app.New(ctx, app.Config{Client: client, PIN: pc, ACSURL: cfg.ACSURL, LoA: cfg.LoA, SAML: o.saml,
		DB: o.db, Logger: log})
	if err != nil {
		return err
	}
	defer h.Close()
	if fetcher != nil {
		go fetcher.Run(ctx)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := clave.NewServer(o.addr, h)
	log.Info("procedures listening", "url", "http://"+ln.Addr().String()+"/", "db", o.db, "gateway", client.GatewayURL(),
		"pin_api", pc.GatewayBaseURL, "acs", cfg.ACSURL)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(clave.LimitListener(ln, 1024, 32)); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loopback reports whether u points at this machine, where a reference
// gateway over plain HTTP is acceptable.
func loopback(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	ip := net.ParseIP(p.Hostname())
	return p.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
}
