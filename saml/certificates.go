package saml

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/clave-go/clave/internal/samlcore"
)

// Values of a KeyDescriptor's use attribute. A KeyDescriptor without one is
// published for both uses, as in SAML metadata; PublishedCertificate.Use is then
// empty.
const (
	UseSigning    = "signing"
	UseEncryption = "encryption"
)

// MaxPublishedCertificates bounds the KeyDescriptors of a certificates document.
// The gateway publishes two or three; a long list only serves to make us decode
// and parse certificates for nothing.
const MaxPublishedCertificates = 32

// ErrNoSigningCertificate means a certificates document parsed but offered no
// signing certificate valid now. Adopting it would make every response
// unverifiable, so the fetcher treats it as a failed refresh.
var ErrNoSigningCertificate = errors.New("saml: no valid signing certificate published")

// PublishedCertificate is one KeyDescriptor of the gateway's certificates
// document.
type PublishedCertificate struct {
	// Use is UseSigning, UseEncryption, or "" for both.
	Use string
	// KeyName identifies the key in the gateway's own vocabulary; it is only
	// used in logs and error messages.
	KeyName string
	// State is the MgmtData text ("active", "next", ...). Its vocabulary is not
	// documented, so it is informative only: trust never depends on it.
	State string
	// Certificate is the parsed X509Certificate.
	Certificate *x509.Certificate
}

// ForSigning reports whether the certificate may verify gateway signatures.
func (p PublishedCertificate) ForSigning() bool { return p.Use == UseSigning || p.Use == "" }

// ParseCertificatesDocument reads the document the gateway serves at
// CertificatesPath. The real document's root element and namespaces are not
// documented, so the parser is tolerant of the envelope: KeyDescriptor elements
// are found by local name at any depth, and only their ds: children are matched
// by namespace. It is strict on content: an unknown use, a duplicate or missing
// certificate, bad base64 or bad DER fail the whole document (naming the key),
// because a half-read trust list is worse than the previous one. Errors wrap
// ErrMalformed, or ErrTooLarge beyond DefaultMaxMessageSize.
func ParseCertificatesDocument(data []byte) ([]PublishedCertificate, error) {
	return parseCertificates(data, 0)
}

func parseCertificates(data []byte, maxSize int) ([]PublishedCertificate, error) {
	doc, err := samlcore.ParseXML(data, maxSize)
	if err != nil {
		return nil, err
	}
	var kds []*etree.Element
	var walk func(el *etree.Element) error
	walk = func(el *etree.Element) error {
		if el.Tag == "KeyDescriptor" {
			// Not descending further: a KeyDescriptor inside another one has no
			// meaning we could guess.
			if len(kds) == MaxPublishedCertificates {
				return fmt.Errorf("%w: more than %d KeyDescriptor elements", ErrMalformed, MaxPublishedCertificates)
			}
			kds = append(kds, el)
			return nil
		}
		for _, c := range el.ChildElements() {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(doc.Root()); err != nil {
		return nil, err
	}
	if len(kds) == 0 {
		return nil, fmt.Errorf("%w: no KeyDescriptor in <%s>", ErrMalformed, doc.Root().FullTag())
	}
	out := make([]PublishedCertificate, 0, len(kds))
	for i, kd := range kds {
		pc, err := parseKeyDescriptor(kd, i)
		if err != nil {
			return nil, err
		}
		out = append(out, pc)
	}
	return out, nil
}

func parseKeyDescriptor(kd *etree.Element, index int) (PublishedCertificate, error) {
	var pc PublishedCertificate
	// Errors name the key so an operator can tell which published entry is broken;
	// before the name is known, its position does.
	label := fmt.Sprintf("KeyDescriptor #%d", index+1)
	fail := func(format string, args ...any) (PublishedCertificate, error) {
		return PublishedCertificate{}, fmt.Errorf("%w: %s: %s", ErrMalformed, label, fmt.Sprintf(format, args...))
	}

	for _, a := range kd.Attr {
		if a.Space == "" && a.Key == "use" {
			pc.Use = a.Value
		}
	}
	switch pc.Use {
	case UseSigning, UseEncryption, "":
	default:
		return fail("unknown use %q", pc.Use)
	}

	ki, err := samlcore.OneChild(kd, NSDSig, "KeyInfo", true)
	if err != nil {
		return fail("%v", err)
	}
	if kn, err := samlcore.OneChild(ki, NSDSig, "KeyName", false); err != nil {
		return fail("%v", err)
	} else if kn != nil {
		if pc.KeyName, err = samlcore.TextOf(kn); err != nil {
			return fail("%v", err)
		}
		pc.KeyName = strings.TrimSpace(pc.KeyName)
		if pc.KeyName != "" {
			label = fmt.Sprintf("key %q", pc.KeyName)
		}
	}
	if md, err := samlcore.OneChild(ki, NSDSig, "MgmtData", false); err != nil {
		return fail("%v", err)
	} else if md != nil {
		if pc.State, err = samlcore.TextOf(md); err != nil {
			return fail("%v", err)
		}
		pc.State = strings.TrimSpace(pc.State)
	}
	// Exactly one certificate per KeyDescriptor: with two, which one the
	// KeyName and state describe would be a guess.
	xd, err := samlcore.OneChild(ki, NSDSig, "X509Data", true)
	if err != nil {
		return fail("%v", err)
	}
	xc, err := samlcore.OneChild(xd, NSDSig, "X509Certificate", true)
	if err != nil {
		return fail("%v", err)
	}
	b64, err := samlcore.TextOf(xc)
	if err != nil {
		return fail("%v", err)
	}
	der, err := base64.StdEncoding.DecodeString(samlcore.StripSpace(b64))
	if err != nil {
		return fail("bad base64 certificate: %v", err)
	}
	if len(der) == 0 {
		return fail("empty certificate")
	}
	if pc.Certificate, err = x509.ParseCertificate(der); err != nil {
		return fail("bad certificate: %v", err)
	}
	return pc, nil
}

// Fetcher defaults.
const (
	DefaultFetchInterval = time.Hour
	defaultRetryMax      = 3
	defaultRetryWaitMin  = time.Second
	defaultRetryWaitMax  = 30 * time.Second
	defaultFetchTimeout  = 30 * time.Second
)

// FetcherConfig configures a CertificateFetcher. Only URL is required.
type FetcherConfig struct {
	// URL of the certificates document, e.g. "https://pasarela.clave.gob.es" +
	// CertificatesPath. It must be https: the document is not signed, so TLS is
	// all that stops someone on the path from making us trust their key.
	URL string
	// InsecureAllowHTTP accepts an http URL (and redirects to one). Only for a
	// local reference gateway: over plain HTTP anyone on the path chooses the
	// keys this service trusts.
	InsecureAllowHTTP bool
	// Interval between refreshes in Run; 0 means DefaultFetchInterval.
	Interval time.Duration
	// HTTPClient does the requests (proxies, TLS roots, timeouts); nil means a
	// client with a 30 s timeout. It is wrapped to retry transient failures.
	HTTPClient *http.Client
	// Retry tunes those retries.
	Retry RetryConfig
	// Initial is the pinned set trusted until the first successful refresh, so
	// a service can start (and validate responses) while the gateway's document
	// is unreachable. It is replaced, not merged, by the first fetched set.
	Initial []*x509.Certificate
	// Logger receives Run's failures and key changes; nil means
	// slog.Default(), looked up at each message (as the clave package does),
	// so a service that sets its default logger after start-up still sees a
	// refresh failing. Pass slog.New(slog.DiscardHandler) to silence it.
	Logger *slog.Logger
	// Now is the clock that decides which certificates are valid; nil means
	// time.Now.
	Now func() time.Time
	// MaxSize bounds the document; 0 means DefaultMaxMessageSize.
	MaxSize int
}

// RetryConfig tunes how one Refresh retries connection errors, 5xx and 429
// answers before giving up. Its zero value is the production setting; tests
// shrink the waits so a failing server does not cost seconds.
type RetryConfig struct {
	// Max is the number of retries after the first attempt; 0 means 3 and a
	// negative value disables retries.
	Max int
	// WaitMin and WaitMax bound the exponential backoff between attempts
	// (0 means 1 s and 30 s). A server's Retry-After is honoured up to WaitMax
	// only, so a misbehaving server cannot stall a refresh.
	WaitMin, WaitMax time.Duration
}

// CertificateFetcher is a CertificateSource that follows the certificates the
// gateway publishes, so a key rollover needs no restart: every published signing
// certificate is trusted (both during a rollover), a failed refresh keeps the
// last good set, and until the first success the Initial set is used. It is safe
// for concurrent use.
type CertificateFetcher struct {
	url, logURL string
	allowHTTP   bool
	interval    time.Duration
	client      *retryablehttp.Client
	log         *slog.Logger
	now         func() time.Time
	maxSize     int
	refreshMu   sync.Mutex // one fetch at a time, so the last one stored is the newest
	// state is only loaded by readers, so validating a response never waits on
	// the network.
	state atomic.Pointer[fetchState]
}

// fetchState is replaced as a whole so readers see a consistent snapshot.
type fetchState struct {
	certs   []*x509.Certificate
	lastOK  time.Time
	lastErr error
}

// NewCertificateFetcher checks cfg and returns a fetcher that has not fetched
// yet: call Refresh or Run.
func NewCertificateFetcher(cfg FetcherConfig) (*CertificateFetcher, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("saml: certificates URL %q is not an absolute URL", cfg.URL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && cfg.InsecureAllowHTTP:
	default:
		return nil, fmt.Errorf("saml: certificates URL must be https, not %q", u.Scheme)
	}
	if cfg.Interval < 0 || cfg.MaxSize < 0 {
		return nil, errors.New("saml: negative Interval or MaxSize")
	}
	f := &CertificateFetcher{
		url:       cfg.URL,
		logURL:    u.Redacted(),
		allowHTTP: cfg.InsecureAllowHTTP,
		interval:  cfg.Interval,
		log:       cfg.Logger,
		now:       cfg.Now,
		maxSize:   cfg.MaxSize,
	}
	if f.interval == 0 {
		f.interval = DefaultFetchInterval
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.maxSize == 0 {
		f.maxSize = DefaultMaxMessageSize
	}

	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultFetchTimeout}
	}
	r := cfg.Retry
	switch {
	case r.Max == 0:
		r.Max = defaultRetryMax
	case r.Max < 0:
		r.Max = 0
	}
	if r.WaitMin <= 0 {
		r.WaitMin = defaultRetryWaitMin
	}
	if r.WaitMax <= 0 {
		r.WaitMax = defaultRetryWaitMax
	}
	if r.WaitMax < r.WaitMin {
		r.WaitMax = r.WaitMin
	}
	f.client = &retryablehttp.Client{
		HTTPClient: hc,
		// Silenced: its messages would duplicate the error Refresh returns.
		Logger:       nil,
		RetryWaitMin: r.WaitMin,
		RetryWaitMax: r.WaitMax,
		RetryMax:     r.Max,
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff: func(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
			return min(retryablehttp.DefaultBackoff(lo, hi, n, resp), hi)
		},
		// Hand back the last answer rather than "giving up after N attempts", so
		// the error says which status the gateway kept returning.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	f.state.Store(&fetchState{certs: slices.Clone(cfg.Initial)})
	return f, nil
}

func (f *CertificateFetcher) logger() *slog.Logger {
	if f.log != nil {
		return f.log
	}
	return slog.Default()
}

// Certificates returns the signing certificates of the last successful refresh,
// or the Initial set before one. It never waits for a refresh in progress.
func (f *CertificateFetcher) Certificates() []*x509.Certificate {
	// A copy, so a caller that sorts or appends cannot change what others trust.
	return slices.Clone(f.state.Load().certs)
}

// LastRefresh returns when a refresh last succeeded (zero if none has) and the
// error of the most recent attempt (nil if it succeeded). Together they let a
// health check tell "stale for a day" from "one blip".
func (f *CertificateFetcher) LastRefresh() (time.Time, error) {
	s := f.state.Load()
	return s.lastOK, s.lastErr
}

// Refresh fetches the document once and, if it offers at least one signing
// certificate valid now, trusts its signing certificates from then on. On any
// failure the previous set stays in place and the error is returned.
func (f *CertificateFetcher) Refresh(ctx context.Context) error {
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()
	prev := f.state.Load()
	certs, err := f.fetch(ctx)
	if err != nil {
		err = fmt.Errorf("saml: refreshing certificates from %s: %w", f.logURL, err)
		f.state.Store(&fetchState{certs: prev.certs, lastOK: prev.lastOK, lastErr: err})
		return err
	}
	f.state.Store(&fetchState{certs: certs, lastOK: f.now()})
	if !sameCertificates(prev.certs, certs) {
		fps := make([]string, len(certs))
		for i, c := range certs {
			fps[i] = fingerprint(c)
		}
		// A change of trusted keys is worth an operator's attention.
		f.logger().Info("saml: trusted gateway certificates changed", "url", f.logURL, "sha256", fps)
	}
	return nil
}

// Run refreshes now and then every Interval until ctx is done. Failures are
// logged and retried at the next tick; the last good set keeps serving.
func (f *CertificateFetcher) Run(ctx context.Context) {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		if err := f.Refresh(ctx); err != nil && ctx.Err() == nil {
			last, _ := f.LastRefresh()
			f.logger().Warn("saml: certificate refresh failed, keeping the previous set",
				"error", err, "last_success", last)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (f *CertificateFetcher) fetch(ctx context.Context) ([]*x509.Certificate, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/xml, text/xml")
	resp, err := f.client.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, err
	}
	defer resp.Body.Close()
	// A redirect must not downgrade the transport that vouches for the keys.
	if resp.Request != nil && resp.Request.URL.Scheme != "https" && !f.allowHTTP {
		return nil, fmt.Errorf("redirected to %s", resp.Request.URL.Redacted())
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("unexpected HTTP status %s", resp.Status)
	}
	if resp.ContentLength > int64(f.maxSize) {
		return nil, fmt.Errorf("%w: document of %d bytes", ErrTooLarge, resp.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(f.maxSize)+1))
	if err != nil {
		return nil, fmt.Errorf("reading document: %w", err)
	}
	if len(body) > f.maxSize {
		return nil, fmt.Errorf("%w: document larger than %d bytes", ErrTooLarge, f.maxSize)
	}
	published, err := parseCertificates(body, f.maxSize)
	if err != nil {
		return nil, err
	}
	return f.usable(published)
}

// usable keeps the signing certificates that are valid now or will be later.
// Not-yet-valid ones are kept because the gateway may publish its next key before
// its NotBefore and switch to it between two refreshes; the signature check
// itself refuses a certificate outside its dates, so keeping it trusts nothing
// early. At least one must be valid now, or the document is refused.
func (f *CertificateFetcher) usable(published []PublishedCertificate) ([]*x509.Certificate, error) {
	now := f.now()
	var out []*x509.Certificate
	validNow := 0
	for _, pc := range published {
		c := pc.Certificate
		if !pc.ForSigning() || now.After(c.NotAfter) {
			continue
		}
		if slices.ContainsFunc(out, func(o *x509.Certificate) bool { return o.Equal(c) }) {
			continue
		}
		if !now.Before(c.NotBefore) {
			validNow++
		}
		out = append(out, c)
	}
	if validNow == 0 {
		return nil, fmt.Errorf("%w: %d published, none for signing and valid at %s",
			ErrNoSigningCertificate, len(published), now.UTC().Format(time.RFC3339))
	}
	return out, nil
}

func sameCertificates(a, b []*x509.Certificate) bool {
	return slices.EqualFunc(a, b, func(x, y *x509.Certificate) bool { return x.Equal(y) })
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}
