// Command agency is a small agency web application with "Entrar con Cl@ve".
//
// It can be pointed at any Cl@ve gateway: the real pre-production or production
// gateway (with the service's registered key and certificate), or the reference
// gateway of this module. Run with -h for the flags.
//
// One process keeps used assertions in memory and sessions in sealed cookies.
// To run several replicas, or restart without making used responses
// acceptable again, give every replica the same -cookie-secret and -redis:
// the replay cache and the sessions then live in Redis, and logging out on
// any replica ends the session on all of them.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Madrid for the login time, on hosts without a zone database

	"github.com/redis/go-redis/v9"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/redisstore"
	"github.com/clave-go/clave/saml"
)

// maxConnections bounds the connections served at once. Go raises a
// process's soft file-descriptor limit to its hard limit (4,096 at the
// least on current Linux), so this leaves room for the rest.
const maxConnections = 2048

// maxPerClient bounds the connections of one client address, so that one
// client holding slow connections cannot take them all; a browser opens six.
const maxPerClient = 32

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	switch err := run(os.Args[1:], log); {
	case errors.Is(err, flag.ErrHelp):
		// -h: the flags were printed as asked.
	case err != nil:
		log.Error("agency", "error", err)
		os.Exit(1)
	}
}

type options struct {
	addr, env, gatewayURL, gatewayIssuer, gatewayCert, gatewayCertsURL  string
	keyFile, certFile, providerName, acsURL, loa, disable, cookieSecret string
	redisURL, redisPrefix, encKeyFile                                   string
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("agency", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address host:port")
	fs.StringVar(&o.env, "env", "pre", "gateway environment: pre (pre-production), pro (production) or custom")
	fs.StringVar(&o.gatewayURL, "gateway-url", "", "gateway endpoint (…/Proxy2/ServiceProvider); required with -env custom")
	fs.StringVar(&o.gatewayIssuer, "gateway-issuer", "", "gateway Issuer; required with -env custom")
	fs.StringVar(&o.gatewayCert, "gateway-cert", "", "PEM file with the trusted gateway signing certificate(s)")
	fs.StringVar(&o.gatewayCertsURL, "gateway-certs-url", "", "URL of the gateway's certificates document (…/Proxy2/Certificates), refreshed hourly; default derived from the gateway URL when -gateway-cert is not given")
	fs.StringVar(&o.keyFile, "key", "", "PEM private key registered for the SPID (default: an ephemeral key, for trying things out)")
	fs.StringVar(&o.certFile, "cert", "", "PEM certificate of -key")
	fs.StringVar(&o.encKeyFile, "enc-key", "", "PEM RSA private key opening encrypted assertions, when the gateway encrypts to a key other than -key's (default: -key's)")
	fs.StringVar(&o.providerName, "provider-name", "S0000000E_E00000000;AgenciaDemo", `ProviderName "<SPID>;<ApplicationName>"`)
	fs.StringVar(&o.acsURL, "acs-url", "", "absolute ACS URL registered with the gateway (default http://<addr>/clave/acs)")
	fs.StringVar(&o.loa, "loa", "low", "minimum level of assurance: low, substantial or high")
	fs.StringVar(&o.disable, "disable", "", "comma-separated methods to hide: CLVMOVIL, AEAT, GISS, AFIRMA, EIDAS")
	fs.StringVar(&o.cookieSecret, "cookie-secret", os.Getenv("CLAVE_COOKIE_SECRET"), "hex secret (≥32 bytes) sealing cookies, shared by replicas (env CLAVE_COOKIE_SECRET)")
	fs.StringVar(&o.redisURL, "redis", os.Getenv("CLAVE_AGENCY_REDIS_URL"), "Redis URL (redis://[user:password@]host:port/db, rediss:// for TLS) keeping the replay cache and the sessions, shared by replicas; default none: both in this process (env CLAVE_AGENCY_REDIS_URL)")
	fs.StringVar(&o.redisPrefix, "redis-prefix", redisstore.DefaultKeyPrefix, "prefix of every Redis key, to share a server between services")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, nil
}

func buildConfig(o *options, log *slog.Logger) (clave.Config, *saml.CertificateFetcher, error) {
	cfg := clave.Config{Logger: log, FailureTemplate: failureTemplate, Language: languageOf}
	switch o.env {
	case "pre":
		cfg.Environment = clave.Preproduction
	case "pro":
		cfg.Environment = clave.Production
	case "custom":
		cfg.Environment = clave.Custom
	default:
		return cfg, nil, fmt.Errorf("-env must be pre, pro or custom")
	}
	cfg.GatewayURL, cfg.GatewayIssuer = o.gatewayURL, o.gatewayIssuer
	spid, app, ok := strings.Cut(o.providerName, ";")
	if !ok {
		return cfg, nil, errors.New(`-provider-name must be "<SPID>;<ApplicationName>"`)
	}
	cfg.SPID, cfg.ApplicationName = spid, app
	cfg.ACSURL = o.acsURL
	if cfg.ACSURL == "" {
		cfg.ACSURL = "http://" + o.addr + "/clave/acs"
	}
	loa, ok := saml.ParseLoA(o.loa)
	if !ok {
		return cfg, nil, fmt.Errorf("-loa: unknown level %q", o.loa)
	}
	cfg.LoA = loa
	for _, m := range strings.Split(o.disable, ",") {
		if m = strings.TrimSpace(m); m != "" {
			cfg.DisabledMethods = append(cfg.DisabledMethods, saml.Method(strings.ToUpper(m)))
		}
	}
	if o.cookieSecret != "" {
		s, err := hex.DecodeString(o.cookieSecret)
		if err != nil {
			return cfg, nil, fmt.Errorf("-cookie-secret: %w", err)
		}
		cfg.CookieSecret = s
	}

	switch {
	case o.keyFile != "" || o.certFile != "":
		if o.keyFile == "" || o.certFile == "" {
			return cfg, nil, errors.New("-key and -cert go together")
		}
		key, cert, err := loadKeyPair(o.certFile, o.keyFile)
		if err != nil {
			return cfg, nil, err
		}
		cfg.Key, cfg.Certificate = key, cert
	default:
		key, cert, err := selfSigned("agency demo (ephemeral)", 30*24*time.Hour)
		if err != nil {
			return cfg, nil, err
		}
		cfg.Key, cfg.Certificate = key, cert
		log.Warn("no -key/-cert: using an ephemeral key; a real gateway will refuse it until its certificate is registered")
	}

	if o.encKeyFile != "" {
		enc, err := loadDecryptionKey(o.encKeyFile)
		if err != nil {
			return cfg, nil, fmt.Errorf("-enc-key: %w", err)
		}
		// The signing key still opens what is encrypted to it, so that
		// switching keys at the gateway loses no login.
		cfg.DecryptionKeys = []*rsa.PrivateKey{enc}
		if k, ok := cfg.Key.(*rsa.PrivateKey); ok {
			cfg.DecryptionKeys = append(cfg.DecryptionKeys, k)
		}
	}

	var fetcher *saml.CertificateFetcher
	if o.gatewayCert != "" {
		data, err := os.ReadFile(o.gatewayCert)
		if err != nil {
			return cfg, nil, err
		}
		certs, err := parseCertificates(data)
		if err != nil {
			return cfg, nil, fmt.Errorf("%s: %w", o.gatewayCert, err)
		}
		cfg.GatewayCertificates = saml.StaticCertificates(certs)
	} else {
		u := o.gatewayCertsURL
		if u == "" {
			base := cfg.GatewayURL
			if base == "" {
				base = map[clave.Environment]string{clave.Preproduction: saml.PreproductionURL, clave.Production: saml.ProductionURL}[cfg.Environment]
			}
			u = strings.TrimSuffix(base, saml.ServiceProviderPath) + saml.CertificatesPath
		}
		var err error
		fetcher, err = saml.NewCertificateFetcher(saml.FetcherConfig{URL: u, Logger: log, InsecureAllowHTTP: loopback(u)})
		if err != nil {
			return cfg, nil, err
		}
		cfg.GatewayCertificates = fetcher
	}
	return cfg, fetcher, nil
}

func run(args []string, log *slog.Logger) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	cfg, fetcher, err := buildConfig(o, log)
	if err != nil {
		return err
	}
	if cfg.CookieSecret == nil {
		cfg.CookieSecret = make([]byte, 32)
		_, _ = rand.Read(cfg.CookieSecret)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	closeRedis, err := useRedis(ctx, o, &cfg)
	if err != nil {
		return err
	}
	defer closeRedis()
	if o.redisURL != "" && o.cookieSecret == "" {
		log.Warn("-redis without -cookie-secret: other replicas and restarts will not open this one's cookies")
	}
	c, err := clave.New(cfg)
	if err != nil {
		return err
	}
	if fetcher != nil {
		go fetcher.Run(ctx)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	// Timeouts on every phase of a request, and a bound on connections, so
	// that slow or idle clients cannot hold the site's file descriptors.
	srv := clave.NewServer(o.addr, site(c))
	stores := "memory replay cache, sealed-cookie sessions"
	if o.redisURL != "" {
		stores = "Redis replay cache and sessions"
	}
	log.Info("agency listening", "url", "http://"+ln.Addr().String()+"/", "gateway", c.GatewayURL(), "acs", cfg.ACSURL,
		"sp_certificate", certSummary(cfg.Certificate), "stores", stores)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(clave.LimitListener(ln, maxConnections, maxPerClient)); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// useRedis points cfg's replay cache and session store at the Redis server
// of -redis, if any, and returns the function that closes its client. The
// server must answer at start: a replica that cannot reach it would refuse
// every login.
func useRedis(ctx context.Context, o *options, cfg *clave.Config) (closeFn func(), err error) {
	if o.redisURL == "" {
		return func() {}, nil
	}
	// The URL may hold a password: errors name the server, not the URL.
	opts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return nil, errors.New("-redis: not a redis:// or rediss:// URL")
	}
	rdb := redis.NewClient(opts)
	ping, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ping).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("-redis: server %s: %w", opts.Addr, err)
	}
	so := redisstore.Options{KeyPrefix: o.redisPrefix}
	cfg.ReplayCache = redisstore.NewReplayCache(rdb, so)
	cfg.SessionStore = redisstore.NewSessionStore(rdb, so)
	return func() { rdb.Close() }, nil
}

// loopback reports whether u points at this machine, where a reference gateway
// over plain HTTP is acceptable; anywhere else the certificates document must
// come over TLS.
func loopback(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	ip := net.ParseIP(p.Hostname())
	return p.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
}

func certSummary(c *x509.Certificate) string {
	if c == nil {
		return "(none)"
	}
	return c.Subject.CommonName + " sha256:" + fingerprint(c)[:16]
}
