// Package clave adds "log in with Cl@ve" to a Go web service.
//
// A Client signs eIDAS-flavoured SAML AuthnRequests for the Cl@ve gateway, posts
// them through the browser, and validates the gateway's signed (optionally
// encrypted) Response into a typed Identity. Every malformed, replayed, wrapped or
// mis-addressed response is refused with an error that wraps one of the saml
// package's sentinel errors (saml.ErrAudience, saml.ErrReplay, ...) or is a
// *saml.StatusError.
//
// Login state travels in a sealed cookie (AES-GCM under a key derived from
// Config.CookieSecret), so any number of replicas sharing the secret need no
// shared store; only the replay cache must be shared in a cluster. Sessions
// are sealed cookies too unless Config.SessionStore keeps them on the server,
// which lets logout end them everywhere. Package redisstore provides both on
// Redis; NewSQLReplayCache keeps used assertions in a SQL database.
//
// The citizen is the response's one PersonIdentifier attribute (a valid DNI,
// NIE or eIDAS identifier), never its NameID; a response without it, or
// without an attribute the request marked required, is refused
// (saml.ErrIdentity, saml.ErrMissingAttribute).
//
// A service typically mounts three handlers:
//
//	c, err := clave.New(cfg)
//	mux.Handle("/clave/acs", c.ACSHandler())       // the ACS URL registered with the gateway
//	mux.Handle("/clave/logout", c.LogoutHandler()) // starts Cl@ve logout
//	mux.Handle("/", c.RequireLogin(app))           // anything that needs a citizen
//
// and reads the citizen with IdentityFromContext.
package clave

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/clave-go/clave/internal/seal"
	"github.com/clave-go/clave/saml"
)

// Environment selects the gateway a Client talks to.
type Environment int

const (
	// Preproduction is the integration gateway. It is the zero value so that a
	// forgotten setting never sends citizens' logins to production by accident.
	Preproduction Environment = iota
	// Production is the live gateway.
	Production
	// Custom uses Config.GatewayURL and Config.GatewayIssuer, e.g. the reference
	// gateway of this module in tests.
	Custom
)

// Config configures a Client. Fields marked required have no default.
type Config struct {
	// Environment picks the gateway endpoint and issuer.
	Environment Environment
	// GatewayURL and GatewayIssuer are required for Custom and override the
	// environment's values otherwise.
	GatewayURL, GatewayIssuer string
	// GatewayCertificates supplies the certificates trusted to sign gateway
	// messages (required). Use saml.StaticCertificates for a pinned set or a
	// saml.CertificateFetcher to follow the gateway's published certificates
	// through rollovers. Certificates inside messages are never trusted.
	GatewayCertificates saml.CertificateSource

	// SPID identifies the service ("<NIF>_<DIR3>"), ApplicationName the
	// application; they form ProviderName="<SPID>;<ApplicationName>" (required).
	SPID, ApplicationName string
	// ACSURL is the absolute URL where the gateway posts responses, exactly as
	// registered (required). It is also checked as Destination, Recipient and
	// Audience of every response, and receives logout answers.
	ACSURL string

	// Key signs requests (required); Certificate is the one registered with the
	// gateway for SPID.
	Key         crypto.Signer
	Certificate *x509.Certificate
	// SignatureHash is crypto.SHA512 (default, as the gateway's kits) or
	// crypto.SHA256.
	SignatureHash crypto.Hash
	// DecryptionKeys open encrypted assertions; by default Key, when it is RSA.
	DecryptionKeys []*rsa.PrivateKey
	// AllowCBC accepts AES-CBC encrypted assertions, which have no integrity of
	// their own; even then only inside a signed response (see saml.Validator).
	AllowCBC bool
	// AllowSHA1 accepts SHA-1 signatures. Do not, unless a gateway forces you.
	AllowSHA1 bool

	// LoA is the default minimum level of assurance; default substantial.
	LoA saml.LoA
	// DisabledMethods are hidden from the gateway's chooser by default.
	DisabledMethods []saml.Method
	// Attributes are requested by default; nil means saml.DefaultAttributes()
	// (PersonIdentifier and both names required, first surname optional).
	// PersonIdentifier must be among them: it is the identity. A response
	// lacking an attribute requested with Required set is refused.
	Attributes []saml.RequestedAttribute

	// CookieSecret seals login and session cookies (at least 32 random bytes,
	// the same on every replica). If empty, a random secret is made at New:
	// logins then survive neither a restart nor a second replica.
	CookieSecret []byte
	// CookiePath scopes the cookies; default "/".
	CookiePath string
	// LoginTimeout bounds how long a started login may take; default 30 minutes.
	LoginTimeout time.Duration
	// SessionTTL is the lifetime of the session RequireLogin keeps; default 8 hours.
	SessionTTL time.Duration
	// SessionStore keeps sessions on the server, the session cookie carrying
	// only a random ID: logging out deletes the session, so a copy of the
	// cookie stops working on every replica sharing the store. nil (the
	// default) keeps the whole session in the sealed cookie, which needs no
	// shared state but cannot be revoked: a copied cookie works until it
	// expires, after logout too. A store that cannot answer means no session,
	// never a session (see Client.Session).
	SessionStore SessionStore

	// ReplayCache remembers used assertions; default an in-memory cache, which
	// is right for one replica only: a restart forgets every assertion, and a
	// second replica never knew them. Use a shared, persistent one
	// (NewSQLReplayCache, redisstore.NewReplayCache) otherwise. Its errors
	// refuse the login.
	ReplayCache ReplayCache
	// Skew is the tolerated clock difference with the gateway, on the
	// response's times and on how long the replay cache remembers an
	// assertion; 0 means saml.DefaultSkew (60 s). A negative value is refused
	// by New: the validator and the replay cache would read it differently.
	Skew time.Duration
	// Now is the clock of every time check, the default replay cache's
	// included; default time.Now.
	Now func() time.Time
	// Logger receives security events (refused responses, replays) without
	// personal data; nil means slog.Default(), looked up at each event (as
	// saml.CertificateFetcher does), so a default set after New is used.
	Logger *slog.Logger

	// FailureTemplate renders the page ACSHandler answers a failed login or
	// logout with, in the service's own look; it is executed with a
	// FailurePage, whose texts are already in the citizen's language. nil
	// means a plain, accessible default page. The page is sent under a strict
	// policy: no script, no form, no external resource but images of the
	// service's own origin, and inline style only with nonce="{{.Nonce}}".
	// A template that fails is logged and the default page sent instead.
	FailureTemplate *template.Template
	// ServiceURL is the service's address, where failure pages send the
	// citizen back; default the origin of ACSURL ("https://sede.example/"),
	// which is also the host name the login cookies belong to.
	ServiceURL string
	// DefaultLanguage is the language of the SDK's pages when neither
	// Language nor Accept-Language names one of es, ca, ca-valencia, gl, eu
	// or en; default "es".
	DefaultLanguage string
	// Language, if set, picks the language of the SDK's pages for a request
	// (e.g. from the service's own language cookie); an answer other than
	// one of the tags above falls back to Accept-Language.
	Language func(r *http.Request) string

	// The Client makes no HTTP call of its own, so there is no HTTPClient
	// here: the certificate document is fetched by saml.CertificateFetcher
	// (FetcherConfig.HTTPClient) and the app-native PIN API is called by
	// PINClient (PINClient.HTTPClient).
}

// Client is the agency's side of Cl@ve. It is safe for concurrent use.
type Client struct {
	cfg        Config
	dest       string
	signer     *saml.Signer
	validator  *saml.Validator
	loginSeal  *seal.Sealer
	sessSeal   *seal.Sealer
	logoutSeal *seal.Sealer
	// refSeal seals the session cookie and recordSeal the stored session
	// when there is a SessionStore (sessions).
	refSeal, recordSeal *seal.Sealer
	sessions            SessionStore
	replay              ReplayCache
	secure              bool
	// required names the attributes every request marks isRequired="true".
	required []string
}

// New checks cfg, fills in defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	dest, issuer := cfg.GatewayURL, cfg.GatewayIssuer
	switch cfg.Environment {
	case Preproduction:
		dest, issuer = orDefault(dest, saml.PreproductionURL), orDefault(issuer, saml.PreproductionIssuer)
	case Production:
		dest, issuer = orDefault(dest, saml.ProductionURL), orDefault(issuer, saml.ProductionIssuer)
	case Custom:
	default:
		return nil, errors.New("clave: unknown environment")
	}
	if dest == "" || issuer == "" {
		return nil, errors.New("clave: GatewayURL and GatewayIssuer are required")
	}
	if err := absoluteURL(dest); err != nil {
		return nil, fmt.Errorf("clave: GatewayURL: %w", err)
	}
	if err := absoluteURL(cfg.ACSURL); err != nil {
		return nil, fmt.Errorf("clave: ACSURL: %w", err)
	}
	switch {
	case cfg.GatewayCertificates == nil:
		return nil, errors.New("clave: GatewayCertificates is required")
	case cfg.SPID == "" || cfg.ApplicationName == "":
		return nil, errors.New("clave: SPID and ApplicationName are required")
	case cfg.Key == nil:
		return nil, errors.New("clave: Key is required")
	}
	if _, ok := cfg.Key.Public().(*rsa.PublicKey); !ok {
		return nil, errors.New("clave: Key must be an RSA key")
	}
	if cfg.LoA == 0 {
		cfg.LoA = saml.LoASubstantial
	}
	if !cfg.LoA.Valid() {
		return nil, errors.New("clave: invalid LoA")
	}
	for _, m := range cfg.DisabledMethods {
		if m.DisableAttribute() == "" {
			return nil, fmt.Errorf("clave: unknown method %q", m)
		}
	}
	if cfg.Attributes == nil {
		cfg.Attributes = saml.DefaultAttributes()
	}
	if !slices.ContainsFunc(cfg.Attributes, func(a saml.RequestedAttribute) bool { return a.Name == saml.AttrPersonIdentifier }) {
		return nil, errors.New("clave: Attributes must request PersonIdentifier, the citizen's identity")
	}
	if cfg.Skew < 0 {
		return nil, errors.New("clave: negative Skew (0 means the default 60 s)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CookiePath == "" {
		cfg.CookiePath = "/"
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = 30 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.ReplayCache == nil {
		// On the Client's clock: on time.Now, a clock behind it would see an
		// entry expire while the validator still takes its assertion.
		cfg.ReplayCache = NewMemoryReplayCache(0).WithClock(cfg.Now)
	}
	if len(cfg.CookieSecret) == 0 {
		cfg.CookieSecret = make([]byte, 32)
		if _, err := rand.Read(cfg.CookieSecret); err != nil {
			return nil, err
		}
		logger(cfg.Logger).Warn("clave: no CookieSecret configured; using a random one (logins will not survive a restart or reach another replica)")
	}
	if cfg.DecryptionKeys == nil {
		if k, ok := cfg.Key.(*rsa.PrivateKey); ok {
			cfg.DecryptionKeys = []*rsa.PrivateKey{k}
		}
	}
	c := &Client{cfg: cfg, dest: dest, replay: cfg.ReplayCache, sessions: cfg.SessionStore,
		required: saml.RequiredAttributes(cfg.Attributes)}
	c.signer = &saml.Signer{Key: cfg.Key, Certificate: cfg.Certificate, Hash: cfg.SignatureHash}
	c.validator = &saml.Validator{
		Trust:          cfg.GatewayCertificates,
		ACSURL:         cfg.ACSURL,
		Issuer:         issuer,
		DecryptionKeys: cfg.DecryptionKeys,
		AllowCBC:       cfg.AllowCBC,
		Algorithms:     saml.AlgorithmPolicy{AllowSHA1: cfg.AllowSHA1},
		Skew:           cfg.Skew,
		Now:            cfg.Now,
	}
	var err error
	if c.loginSeal, err = seal.New(cfg.CookieSecret, "login"); err != nil {
		return nil, fmt.Errorf("clave: CookieSecret: %w", err)
	}
	if c.sessSeal, err = seal.New(cfg.CookieSecret, "session"); err != nil {
		return nil, err
	}
	if c.logoutSeal, err = seal.New(cfg.CookieSecret, "logout"); err != nil {
		return nil, err
	}
	if c.refSeal, err = seal.New(cfg.CookieSecret, "session id"); err != nil {
		return nil, err
	}
	if c.recordSeal, err = seal.New(cfg.CookieSecret, "session record"); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.ACSURL)
	c.secure = u.Scheme == "https"
	return c, nil
}

// logger returns the configured logger, or the default one as it is now.
func logger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.Default()
}

func (c *Client) log() *slog.Logger { return logger(c.cfg.Logger) }

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func absoluteURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("must be an absolute http(s) URL")
	}
	return nil
}

// GatewayURL is the endpoint requests are posted to.
func (c *Client) GatewayURL() string { return c.dest }
