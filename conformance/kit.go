package conformance

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clave-go/clave/internal/faults"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// Expect is the outcome of delivering one response: the service accepted it
// (logged the citizen in) or refused it.
type Expect string

// Outcomes.
const (
	Accept Expect = "accept"
	Refuse Expect = "refuse"
)

// Layers of a case: where a service's defence against it sits.
const (
	// LayerMessage cases are judged by validating the response against the
	// pending request and the replay cache.
	LayerMessage = string(faults.LayerMessage)
	// LayerSession cases are judged by the service's login tracking (the
	// posted RelayState bound to the browser's pending login); a FuncTarget
	// meets them only if its Validate compares the RelayState with req's.
	LayerSession = string(faults.LayerSession)
)

// TrustedCertificatesFile is written in KitConfig.KeyDir: the PEM certificates
// the service under test must trust (the kit's "trusted" and "next" gateway
// keys), so it can be configured once and keep working across runs.
const TrustedCertificatesFile = "gateway-certificates.pem"

// KitConfig configures a Kit. The zero value is usable: keys in memory, the
// pre-production issuer, every case.
type KitConfig struct {
	// Issuer is the gateway entity the kit signs as; default
	// saml.PreproductionIssuer, so a service configured for pre-production
	// needs no change but its trusted certificates.
	Issuer string
	// KeyDir keeps the kit's key pairs as PEM files ("trusted", "next",
	// "untrusted"), generated on first use and loaded afterwards, plus
	// TrustedCertificatesFile. Use it when the service under test is a
	// separate process configured by file. Empty keeps fresh keys in memory,
	// which suits in-process tests.
	KeyDir string
	// EncryptionCertificate is the service's encryption certificate. When nil,
	// cases that need an encrypted assertion are reported as skipped.
	EncryptionCertificate *x509.Certificate
	// Cases selects what to run: case IDs ("XSW-03"), ID families ("XSW") or
	// group names ("wrapping"). Empty runs the whole catalogue.
	Cases []string
	// Now is the clock responses are issued by; default time.Now. It must
	// agree with the service's clock within its tolerated skew.
	Now func() time.Time
	// NameID is the citizen identifier of every response; default the valid
	// test DNI 12345678Z.
	NameID string
}

// Kit plays the Cl@ve gateway against a service provider: for every case of
// the catalogue it starts a login at the service, answers it with a crafted
// response and checks that the service accepts or refuses it as a correct
// service must. A Kit is safe for concurrent use; its runs share no state.
type Kit struct {
	issuer string
	keys   faults.Keys
	enc    *x509.Certificate
	cases  []faults.Case
	now    func() time.Time
	nameID string
}

// CaseInfo describes a case of the catalogue.
type CaseInfo struct {
	// ID is stable across releases, e.g. "XSW-03".
	ID string `json:"id"`
	// Group is the family of the case, e.g. "wrapping".
	Group string `json:"group"`
	// Title says what is wrong in a few words; How says how the response is
	// derived from a valid one.
	Title string `json:"title"`
	How   string `json:"how"`
	// Expect is what a correct service does with the response.
	Expect Expect `json:"expect"`
	// Layer is LayerMessage (a SAML validator alone can judge the case) or
	// LayerSession (it exercises the service's login tracking: the posted
	// RelayState bound to the browser's pending login).
	Layer string `json:"layer,omitempty"`
	// NeedsEncryption marks cases skipped without an EncryptionCertificate.
	NeedsEncryption bool `json:"needs_encryption,omitempty"`
}

// NewKit loads or makes the kit's keys and selects the cases.
func NewKit(cfg KitConfig) (*Kit, error) {
	k := &Kit{issuer: cfg.Issuer, enc: cfg.EncryptionCertificate, now: cfg.Now, nameID: cfg.NameID}
	if k.issuer == "" {
		k.issuer = saml.PreproductionIssuer
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.nameID == "" {
		k.nameID = "12345678Z"
	}
	var err error
	if k.cases, err = selectCases(faults.Catalogue(), cfg.Cases); err != nil {
		return nil, err
	}
	pairs := []**faults.KeyPair{&k.keys.Trusted, &k.keys.Next, &k.keys.Untrusted}
	for i, name := range []string{"trusted", "next", "untrusted"} {
		if *pairs[i], err = keyPair(cfg.KeyDir, name, k.now()); err != nil {
			return nil, err
		}
	}
	if cfg.KeyDir != "" {
		var pemCerts []byte
		for _, c := range k.TrustedCertificates() {
			pemCerts = append(pemCerts, pki.CertificatePEM(c)...)
		}
		if err := os.WriteFile(filepath.Join(cfg.KeyDir, TrustedCertificatesFile), pemCerts, 0o644); err != nil {
			return nil, fmt.Errorf("conformance: %w", err)
		}
	}
	return k, nil
}

// selectCases keeps the cases named by sel, in catalogue order. Every name
// must match something: a typo would otherwise silently test nothing.
func selectCases(all []faults.Case, sel []string) ([]faults.Case, error) {
	if len(sel) == 0 {
		return all, nil
	}
	keep := map[string]bool{}
	for _, s := range sel {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		found := false
		for _, c := range all {
			if c.ID == s || string(c.Group) == s || strings.HasPrefix(c.ID, s+"-") {
				keep[c.ID], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("conformance: no case, family or group named %q", s)
		}
	}
	var out []faults.Case
	for _, c := range all {
		if keep[c.ID] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("conformance: no case selected")
	}
	return out, nil
}

// keyPair loads dir/name.{key,crt}.pem, or generates the pair (and saves it
// when dir is set). A pair that is half there or expired is an error rather
// than silently replaced: the service under test was configured with it.
func keyPair(dir, name string, now time.Time) (*faults.KeyPair, error) {
	gen := func() (*faults.KeyPair, error) {
		kp, err := pki.Generate("clave conformance kit gateway ("+name+")", 2048, now.Add(-24*time.Hour), 5*365*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("conformance: generating %s key: %w", name, err)
		}
		return &faults.KeyPair{Key: kp.Key, Certificate: kp.Certificate}, nil
	}
	if dir == "" {
		return gen()
	}
	keyFile, certFile := filepath.Join(dir, name+".key.pem"), filepath.Join(dir, name+".crt.pem")
	_, kerr := os.Stat(keyFile)
	_, cerr := os.Stat(certFile)
	switch {
	case kerr == nil && cerr == nil:
		kp, err := pki.LoadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("conformance: %w", err)
		}
		if now.Before(kp.Certificate.NotBefore) || now.After(kp.Certificate.NotAfter) {
			return nil, fmt.Errorf("conformance: %s is not valid at %s; delete %s and %s to make new keys",
				certFile, now.Format(time.RFC3339), keyFile, certFile)
		}
		return &faults.KeyPair{Key: kp.Key, Certificate: kp.Certificate}, nil
	case errors.Is(kerr, os.ErrNotExist) && errors.Is(cerr, os.ErrNotExist):
		kp, err := gen()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("conformance: %w", err)
		}
		if err := os.WriteFile(keyFile, pki.KeyPEM(kp.Key), 0o600); err != nil {
			return nil, fmt.Errorf("conformance: %w", err)
		}
		if err := os.WriteFile(certFile, pki.CertificatePEM(kp.Certificate), 0o644); err != nil {
			return nil, fmt.Errorf("conformance: %w", err)
		}
		return kp, nil
	default:
		return nil, fmt.Errorf("conformance: need both %s and %s (or neither, to generate them)", keyFile, certFile)
	}
}

// Issuer is the gateway Issuer the kit's responses carry; configure the
// service to expect it.
func (k *Kit) Issuer() string { return k.issuer }

// TrustedCertificates are the certificates the service must trust to verify
// gateway signatures: the kit's current key and the "next" one, as during a
// gateway key rollover (some cases sign with the next key and must be
// accepted). The kit's "untrusted" key is deliberately not among them.
func (k *Kit) TrustedCertificates() []*x509.Certificate {
	return []*x509.Certificate{k.keys.Trusted.Certificate, k.keys.Next.Certificate}
}

// CertificatesDocument is the kit's certificates document, in the format the
// gateway publishes at /Proxy2/Certificates, for services that fetch their
// trusted certificates (saml.CertificateFetcher) rather than pin them.
func (k *Kit) CertificatesDocument() ([]byte, error) {
	return samlidp.MarshalCertificatesDocument([]saml.PublishedCertificate{
		{Use: saml.UseSigning, KeyName: "clave-conformance-trusted", State: "active", Certificate: k.keys.Trusted.Certificate},
		{Use: saml.UseSigning, KeyName: "clave-conformance-next", State: "next", Certificate: k.keys.Next.Certificate},
	})
}

// Cases describes the selected cases, sorted by ID.
func (k *Kit) Cases() []CaseInfo {
	out := make([]CaseInfo, len(k.cases))
	for i, c := range k.cases {
		out[i] = caseInfo(c)
	}
	return out
}

func caseInfo(c faults.Case) CaseInfo {
	return CaseInfo{ID: c.ID, Group: string(c.Group), Title: c.Title, How: c.How, Expect: Expect(c.Expect),
		Layer: string(c.Layer), NeedsEncryption: c.NeedsEncryption}
}
