package gateway

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/internal/pgsignal"
	"github.com/clave-go/clave/internal/registry"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/internal/store"
	"github.com/clave-go/clave/internal/store/postgres"
	"github.com/clave-go/clave/internal/store/sqlite"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/permanente"
	"github.com/clave-go/clave/pin"
	"github.com/clave-go/clave/saml"
)

// Citizen is a person registered at the gateway; Level is their
// registration level and Status their standing. They are the method
// contract's types, named here for convenience.
type (
	Citizen = method.Citizen
	Level   = method.Level
	Status  = method.Status
)

// Registration levels and statuses of a Citizen.
const (
	LevelBasic    = method.LevelBasic
	LevelAdvanced = method.LevelAdvanced
	StatusActive  = method.StatusActive
	StatusBlocked = method.StatusBlocked
	StatusGaveUp  = method.StatusGaveUp
)

// ServiceProvider is a service registered at the gateway.
type ServiceProvider struct {
	// SPID is the part of ProviderName before ';'.
	SPID string
	// Name is shown to the citizen; default the application name of requests.
	Name string
	// Certificates verify the service's requests.
	Certificates []*x509.Certificate
	// ACSURLs are the only URLs responses are posted to.
	ACSURLs []string
	// SignAssertion also signs the Assertion (eIDAS style) besides the Response.
	SignAssertion bool
	// EncryptionCertificate, when set, makes the gateway encrypt assertions for
	// this service (RSA-OAEP + AES-256-GCM).
	EncryptionCertificate *x509.Certificate
}

func (sp *ServiceProvider) allows(acs string) bool {
	for _, u := range sp.ACSURLs {
		if u == acs {
			return true
		}
	}
	return false
}

// Config configures a reference Gateway.
type Config struct {
	// BaseURL is the gateway's public URL (e.g. "http://127.0.0.1:9000");
	// requests must be addressed to BaseURL + /Proxy2/ServiceProvider.
	BaseURL string
	// Issuer is the gateway's entity; default BaseURL.
	Issuer string
	// SigningKey and SigningCertificate sign every response (required).
	SigningKey         crypto.Signer
	SigningCertificate *x509.Certificate
	// NextCertificates are published at /Proxy2/Certificates beside the signing
	// one, so services trust the next key before a rollover.
	NextCertificates []*x509.Certificate
	// ServiceProviders are registered at start; more with RegisterServiceProvider.
	ServiceProviders []ServiceProvider
	// DB is the gateway's database (see OpenDB); nil keeps everything in
	// memory.
	DB *sql.DB
	// PINSecret keys the hashes of Cl@ve PINs at rest (≥ 32 bytes). Keep it
	// stable across restarts so pending PINs stay valid; default random.
	PINSecret []byte
	// PIN tunes the Cl@ve PIN rules; zero values are the real gateway's.
	PIN pin.Config
	// Mobile tunes the Cl@ve Móvil rules; zero values are the real
	// gateway's. Mobile.Secret keys the stored activation codes and SMS
	// PINs (default PINSecret, from which a key of its own is derived);
	// keep it stable across restarts so that outstanding codes stay valid.
	// Its Now is the gateway's. Its Signals, when nil, are the process's
	// own or, on a PostgreSQL DB, PostgreSQL's LISTEN/NOTIFY, so that a
	// confirmation reaching one gateway process releases the page waiting
	// on another (Close stops them).
	Mobile mobile.Config
	// Permanente tunes the Cl@ve Permanente rules; zero values are the
	// real gateway's. Permanente.Secret keys the stored activation codes,
	// SMS codes and tickets (default PINSecret, from which a key of its own
	// is derived); keep it stable across restarts so that activation codes
	// stay valid. Its Now is the gateway's.
	Permanente permanente.Config
	// PermanenteLimits bound what one client, and everyone, can try on the
	// Cl@ve Permanente pages, the login's and the account services' (see
	// permanente.Limits); zero fields take its defaults.
	PermanenteLimits permanente.Limits
	// MobileLimits bound what one client can do on the Cl@ve Móvil pages
	// (see mobile.MethodLimits); zero fields take its defaults.
	MobileLimits mobile.MethodLimits
	// PINLimits bound Cl@ve PIN requests and attempts per client address
	// and overall (see pin.Limits); zero fields take its defaults.
	PINLimits pin.Limits
	// Notifier delivers SMS and app messages; default an Inbox.
	Notifier Notifier
	// SubjectAddress is written in SubjectConfirmationData/@Address, as the real
	// gateway writes an internal address of its own; default "10.0.0.1".
	SubjectAddress string
	// FlowTimeout bounds a login at the gateway; default 30 minutes.
	FlowTimeout time.Duration
	// APIRate limits each service's calls to the app APIs (/api/...); zero
	// fields mean 600 calls a minute with bursts of 60.
	APIRate APIRateLimit
	// Now is the clock of everything time-bound; default time.Now.
	Now func() time.Time
	// Logger receives the gateway's events, never secrets or full identifiers.
	Logger *slog.Logger
	// Personas registers the reserved test citizens of Personas at start (see
	// SeedPersonas), so agencies can script outcomes without their own seed.
	Personas bool
	// AdminToken, when set (at least 16 characters), mounts the test controls'
	// page at /admin/ and their JSON API at /admin/api/; when empty /admin/
	// does not exist. Whoever holds it can make the gateway send any
	// registered service a forged response and move the clock: test and demo
	// gateways only.
	AdminToken string
	// ClientAddress names the client of a request for the limits per
	// client; default the host part of RemoteAddr. Behind a reverse proxy,
	// set it to read the address the proxy forwards (and make sure only
	// the proxy can reach the gateway, or anyone can pick their address).
	ClientAddress func(r *http.Request) string
	// Methods are offered on the chooser besides the built-in ones (Cl@ve
	// PIN, and the methods not built yet shown as unavailable); one with the
	// ID of a built-in method replaces it. See package method for writing
	// one.
	Methods []method.Method
	// NextSigningKey is the RSA private key of NextCertificates[0]. Only armed
	// faults use it, for cases signed with the next key of a rollover; without
	// it those cases are signed with a generated key that services do not
	// trust.
	NextSigningKey crypto.Signer
	// Observer, when set, is told of logins started and finished, lockouts
	// and storage failures, for metrics (see Observer); nil observes
	// nothing.
	Observer Observer
	// DemoInboxURL is where whoever serves the gateway shows its Inbox (the
	// SMS and app messages it "sent"), as examples/gateway and examples/demo
	// mount /demo/inbox. When set, and the gateway's Notifier is its Inbox
	// (so that page holds the messages), every page shows a banner linking
	// to it: a demo's visitor has no phone to read the PIN on. Leave it
	// empty when nothing serves the inbox, or on a gateway others reach.
	DemoInboxURL string
}

// Gateway is the reference Cl@ve identity provider: an http.Handler that speaks
// the real gateway's protocol, offers Cl@ve PIN and shows the other methods as
// unavailable until they are built.
type Gateway struct {
	cfg       Config
	endpoint  string
	signer    *saml.Signer
	flows     flow.Store
	citizens  registry.Store
	pins      *pin.Service
	pinMethod *pin.Method
	mobile    *mobile.Service
	movil     *mobile.Method
	pushes    pushBox
	appAPI    *mobile.API
	// permanente holds the Cl@ve Permanente accounts, for its login pages,
	// its account pages and the app API.
	permanente       *permanente.Service
	permanenteMethod *permanente.Method
	permanentePages  *permanente.AccountPages
	cas              *credentialAuthorities
	// personaPhones answer Cl@ve Móvil requests for the personas.
	personaPhones personaDevices
	inbox         *Inbox
	notifier      Notifier
	methods       []method.Method
	// available marks the methods with pages on this gateway.
	available map[saml.Method]bool
	mux       *http.ServeMux
	log       *slog.Logger
	// site is what every page shows around its content (pages.WithSite).
	site pages.Site

	clock    *gatewayClock
	controls controls
	inspect  inspector

	mu  sync.RWMutex
	sps map[string]*ServiceProvider

	// closers stop what New started in the background.
	closers []func() error
}

// Close stops what the gateway runs in the background (on PostgreSQL, the
// connection that listens for other processes' signals). It does not close
// Config.DB, which belongs to the caller. Serving after Close is not
// supported.
func (g *Gateway) Close() error {
	var errs []error
	for _, c := range g.closers {
		errs = append(errs, c())
	}
	g.closers = nil
	return errors.Join(errs...)
}

// signalKey keys the hash the Cl@ve Móvil signals travel under between
// processes: derived from the PIN secret, which such processes share.
func signalKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("clave gateway signals"))
	return m.Sum(nil)
}

// OpenDB opens the gateway's database. A postgres:// or postgresql:// URL
// (postgres://user:password@host:5432/database?sslmode=verify-full) opens
// that PostgreSQL database, which several gateway processes can share:
// every store keeps its guarantees across processes (a PIN attempt counts
// once, a request is decided once, a request ID is answered once), and
// New creates the tables on first use, so the role needs the right to.
// Anything else is the path of the SQLite database, created if missing and
// durable on every acknowledged write; ":memory:" for a throwaway one.
// Errors never quote the URL's password.
func OpenDB(ctx context.Context, path string) (*sql.DB, error) {
	if strings.HasPrefix(path, "postgres://") || strings.HasPrefix(path, "postgresql://") {
		return postgres.Open(ctx, path)
	}
	return sqlite.Open(ctx, path)
}

// New builds a Gateway from cfg, creating its tables in cfg.DB when one is
// given. It fails on a missing or unusable signing key, a BaseURL that is not
// an absolute http(s) URL, or an invalid service or method.
func New(ctx context.Context, cfg Config) (_ *Gateway, err error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("gateway: gateway BaseURL must be an absolute http(s) URL")
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if cfg.Issuer == "" {
		cfg.Issuer = cfg.BaseURL
	}
	if cfg.SigningKey == nil || cfg.SigningCertificate == nil {
		return nil, errors.New("gateway: gateway needs SigningKey and SigningCertificate")
	}
	if _, ok := cfg.SigningKey.Public().(*rsa.PublicKey); !ok {
		return nil, errors.New("gateway: gateway SigningKey must be RSA")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// Every part of the gateway reads this one clock, so the test controls can
	// move time forward for PINs, flows and responses alike.
	clock := &gatewayClock{base: cfg.Now}
	cfg.Now = clock.Now
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SubjectAddress == "" {
		cfg.SubjectAddress = "10.0.0.1"
	}
	if cfg.ClientAddress == nil {
		cfg.ClientAddress = remoteHost
	}
	if cfg.FlowTimeout <= 0 {
		cfg.FlowTimeout = 30 * time.Minute
	}
	g := &Gateway{
		cfg:      cfg,
		clock:    clock,
		endpoint: cfg.BaseURL + saml.ServiceProviderPath,
		signer:   &saml.Signer{Key: cfg.SigningKey, Certificate: cfg.SigningCertificate},
		log:      cfg.Logger,
		sps:      map[string]*ServiceProvider{},
	}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if cfg.Notifier == nil {
		g.inbox = NewInbox(0, cfg.Now)
		g.notifier = g.inbox
	} else {
		g.notifier = cfg.Notifier
		g.inbox, _ = cfg.Notifier.(*Inbox)
	}
	if g.inbox != nil {
		g.site.DemoInboxURL = cfg.DemoInboxURL
	}
	var (
		pinStore        pin.Store
		mobileStore     mobile.Store
		permanenteStore permanente.Store
	)
	if cfg.DB != nil {
		if g.flows, err = flow.NewSQLStore(ctx, cfg.DB, cfg.Now); err != nil {
			return nil, err
		}
		rs, err := registry.NewSQLStore(ctx, cfg.DB)
		if err != nil {
			return nil, err
		}
		g.citizens = rs.WithClock(cfg.Now)
		if pinStore, err = pin.NewSQLStore(ctx, cfg.DB); err != nil {
			return nil, err
		}
		if mobileStore, err = mobile.NewSQLStore(ctx, cfg.DB); err != nil {
			return nil, err
		}
		if permanenteStore, err = permanente.NewSQLStore(ctx, cfg.DB); err != nil {
			return nil, err
		}
	} else {
		g.flows = flow.NewMemoryStore(cfg.Now)
		g.citizens = registry.NewMemoryStore().WithClock(cfg.Now)
		pinStore = pin.NewMemoryStore()
		mobileStore = mobile.NewMemoryStore()
		permanenteStore = permanente.NewMemoryStore()
	}
	pinStore, permanenteStore = g.observeStores(pinStore, permanenteStore)
	pc := cfg.PIN
	if pc.Now == nil {
		pc.Now = cfg.Now
	}
	if pc.Secret == nil {
		pc.Secret = cfg.PINSecret
	}
	if g.pins, err = pin.New(pc, pinStore); err != nil {
		return nil, err
	}
	mc := cfg.Mobile
	mc.Now = cfg.Now
	if mc.Secret == nil {
		// One stable secret serves both: each method derives its own key
		// from it under a label of its own.
		mc.Secret = cfg.PINSecret
	}
	if mc.Signals == nil && cfg.DB != nil && store.DialectOf(cfg.DB) == store.Postgres {
		// Gateway processes sharing the database wake each other's
		// waiting pages and phones through it.
		sig, err := pgsignal.New(ctx, cfg.DB, pgsignal.Options{TopicKey: signalKey(cfg.PINSecret), Logger: g.log})
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		g.closers = append(g.closers, sig.Close)
		mc.Signals = sig
	}
	if g.mobile, err = mobile.New(mc, mobileStore); err != nil {
		return nil, err
	}
	pmc := cfg.Permanente
	pmc.Now = cfg.Now
	if pmc.Secret == nil {
		pmc.Secret = cfg.PINSecret
	}
	if g.permanente, err = permanente.New(pmc, permanenteStore); err != nil {
		return nil, err
	}
	for _, sp := range cfg.ServiceProviders {
		if err := g.RegisterServiceProvider(sp); err != nil {
			return nil, err
		}
	}
	if err := g.initMobile(ctx, cfg); err != nil {
		return nil, err
	}
	g.pinMethod = pin.NewMethod(g.pins, citizenLookup{g.citizens}, g.notifier, g.log).WithLimits(cfg.PINLimits).WithDevices(g.mobile)
	if err := g.initPermanente(cfg); err != nil { // identifies with Cl@ve PIN
		return nil, err
	}
	g.methods = []method.Method{
		g.movil,
		g.pinMethod,
		g.permanenteMethod,
		unavailableMethod{saml.MethodAfirma, saml.LoAHigh, "certificado"},
		unavailableMethod{saml.MethodEIDAS, saml.LoAHigh, "eidas"},
	}
	for _, m := range cfg.Methods {
		if err := g.addMethod(m); err != nil {
			return nil, err
		}
	}
	g.routes()
	if err := g.initControls(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// RegisterServiceProvider adds or replaces a service.
func (g *Gateway) RegisterServiceProvider(sp ServiceProvider) error {
	if sp.SPID == "" || strings.Contains(sp.SPID, ";") {
		return errors.New("gateway: service provider needs an SPID without ';'")
	}
	if len(sp.Certificates) == 0 || len(sp.ACSURLs) == 0 {
		return fmt.Errorf("gateway: service provider %s needs certificates and ACS URLs", sp.SPID)
	}
	for _, u := range sp.ACSURLs {
		if err := absoluteURL(u); err != nil {
			return fmt.Errorf("gateway: service provider %s: ACS URL %q: %w", sp.SPID, u, err)
		}
	}
	cp := sp
	cp.Certificates = append([]*x509.Certificate(nil), sp.Certificates...)
	cp.ACSURLs = append([]string(nil), sp.ACSURLs...)
	g.mu.Lock()
	g.sps[sp.SPID] = &cp
	g.mu.Unlock()
	return nil
}

func (g *Gateway) serviceProvider(spid string) (*ServiceProvider, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	sp, ok := g.sps[spid]
	return sp, ok
}

func (g *Gateway) spTrust(spid string) ([]*x509.Certificate, error) {
	sp, ok := g.serviceProvider(spid)
	if !ok {
		return nil, fmt.Errorf("%w: %q", samlidp.ErrUnknownSP, spid)
	}
	return sp.Certificates, nil
}

// PutCitizen registers or updates a citizen.
func (g *Gateway) PutCitizen(ctx context.Context, c Citizen) error { return g.citizens.Put(ctx, c) }

// Citizen returns a registered citizen.
func (g *Gateway) Citizen(ctx context.Context, id string) (Citizen, error) {
	d, err := dni.Parse(id)
	if err != nil {
		return Citizen{}, err
	}
	return g.citizens.Get(ctx, d)
}

// SeedCitizens loads a seed file's citizens (see the registry's JSON format).
func (g *Gateway) SeedCitizens(ctx context.Context, cs []Citizen) error {
	return registry.SeedStore(ctx, g.citizens, cs)
}

// Inbox returns the reference notifier's inbox, or nil when another Notifier
// was configured.
func (g *Gateway) Inbox() *Inbox { return g.inbox }

// Endpoint is the URL services post requests to.
func (g *Gateway) Endpoint() string { return g.endpoint }

// Issuer is the gateway's entity, the Issuer of its responses.
func (g *Gateway) Issuer() string { return g.cfg.Issuer }

// TrustedCertificates are the certificates services must trust: the signing
// one and any next ones.
func (g *Gateway) TrustedCertificates() []*x509.Certificate {
	return append([]*x509.Certificate{g.cfg.SigningCertificate}, g.cfg.NextCertificates...)
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.site != (pages.Site{}) {
		// The mux records the route it matched on the request it routes;
		// middleware around the gateway reads it from its own (metrics,
		// logs by route), so it is copied back.
		outer, inner := r, r.WithContext(pages.WithSite(r.Context(), g.site))
		defer func() { outer.Pattern = inner.Pattern }()
		r = inner
	}
	pages.SetCommonHeaders(w, r)
	w.Header().Set("Content-Security-Policy", pages.NoContentCSP)
	g.mux.ServeHTTP(w, r)
}

type unavailableMethod struct {
	id   saml.Method
	max  saml.LoA
	slug string
}

func (m unavailableMethod) ID() saml.Method                  { return m.id }
func (m unavailableMethod) MaxLoA() saml.LoA                 { return m.max }
func (m unavailableMethod) Slug() string                     { return m.slug }
func (m unavailableMethod) Handler(method.Host) http.Handler { return nil }

// remoteHost is the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// addMethod offers m on the chooser, in place of the method with the same ID
// or slug if there is one.
func (g *Gateway) addMethod(m method.Method) error {
	if m == nil || m.ID() == "" || m.Slug() == "" || strings.ContainsAny(m.Slug(), "/{}") {
		return errors.New("gateway: a method needs an ID and a slug without '/', '{' or '}'")
	}
	for i, have := range g.methods {
		if have.ID() == m.ID() || have.Slug() == m.Slug() {
			g.methods[i] = m
			return nil
		}
	}
	g.methods = append(g.methods, m)
	return nil
}

// citizenLookup serves method.Citizens from the registry.
type citizenLookup struct{ st registry.Store }

func (l citizenLookup) Citizen(ctx context.Context, id string) (Citizen, error) {
	d, err := dni.Parse(id)
	if err != nil {
		return Citizen{}, fmt.Errorf("%w: not a valid DNI or NIE", method.ErrUnknownCitizen)
	}
	c, err := l.st.Get(ctx, d)
	if errors.Is(err, store.ErrNotFound) {
		return Citizen{}, fmt.Errorf("%w: %s", method.ErrUnknownCitizen, d.Masked())
	}
	return c, err
}

// LoadCitizens reads a citizens seed file (JSON, see examples/gateway).
func LoadCitizens(r io.Reader) ([]Citizen, error) { return registry.LoadSeed(r) }
