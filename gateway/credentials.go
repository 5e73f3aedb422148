package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/dni"
)

// Credential is a test credential the gateway issued to a registered
// citizen: an electronic certificate, or a simulated DNIe card. The Cl@ve
// app proves possession of it to activate a device: it signs the
// activation challenge with Key, sends Chain and, for a DNIe, the card's
// access number CAN.
type Credential struct {
	// Key is the certificate's private key (ECDSA P-256).
	Key *ecdsa.PrivateKey
	// Chain is the citizen's certificate followed by its issuing CA's.
	Chain []*x509.Certificate
	// CAN is the 6-digit card access number printed on a DNIe; empty for
	// a certificate.
	CAN string
}

// PEM encodes c as the Cl@ve app's command reads a credential file: the
// certificate chain ("CERTIFICATE" blocks, the citizen's first) and the
// private key ("PRIVATE KEY", PKCS #8).
func (c *Credential) PEM() ([]byte, error) {
	var out []byte
	for _, cert := range c.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, err
	}
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...), nil
}

// testCA is one of the gateway's test certification authorities.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

// credentialAuthorities are the gateway's two test CAs, drawn at start: one
// stands for a certificate issuer (FNMT's role), the other for the DNIe's.
// Certificates they issue are trusted by this process only.
type credentialAuthorities struct {
	certificates, dnie *testCA
	// canKey derives each card's access number from its certificate, so
	// that the gateway can check a CAN without storing one.
	canKey []byte
}

func newCredentialAuthorities(now time.Time) (*credentialAuthorities, error) {
	certs, err := newTestCA("AC CIUDADANOS DE PRUEBAS (pasarela de pruebas Cl@ve)", now)
	if err != nil {
		return nil, err
	}
	cards, err := newTestCA("AC DNIE DE PRUEBAS (pasarela de pruebas Cl@ve)", now)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &credentialAuthorities{certificates: certs, dnie: cards, canKey: key}, nil
}

func newTestCA(name string, now time.Time) (*testCA, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Pasarela de pruebas Cl@ve"}, Country: []string{"ES"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	key, cert, err := newCertificate(tmpl, nil, nil)
	if err != nil {
		return nil, err
	}
	return &testCA{key: key, cert: cert}, nil
}

// newCertificate makes a fresh P-256 key and its certificate from tmpl,
// with a random serial, signed by parent's key (self-signed when parent is
// nil).
func newCertificate(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)); err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return key, cert, nil
}

// issue makes a citizen's certificate, valid two years from now, naming
// the citizen as Spanish certificates do: SERIALNUMBER=IDCES-<DNI/NIE>.
func (ca *testCA) issue(c Citizen, now time.Time) (*Credential, error) {
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:   c.FamilyNames() + " " + c.GivenName + " - " + c.ID,
			SerialNumber: "IDCES-" + c.ID,
			Country:      []string{"ES"},
		},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(2, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	key, cert, err := newCertificate(tmpl, ca.cert, ca.key)
	if err != nil {
		return nil, err
	}
	return &Credential{Key: key, Chain: []*x509.Certificate{cert, ca.cert}}, nil
}

// cardAccessNumber is the CAN of the simulated card whose certificate is
// card: six digits derived from it under the gateway's key.
func (a *credentialAuthorities) cardAccessNumber(card *x509.Certificate) string {
	mac := hmac.New(sha256.New, a.canKey)
	mac.Write(card.Raw)
	sum := mac.Sum(nil)
	return fmt.Sprintf("%06d", binary.BigEndian.Uint64(sum[:8])%1_000_000)
}

// roots returns a pool of ca's certificate.
func (ca *testCA) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// ErrNotRegistered is returned by IssueCertificate and IssueDNIe for an
// identifier that is not a registered citizen.
var ErrNotRegistered = errors.New("gateway: not a registered citizen")

// IssueCertificate issues a test electronic certificate to the registered
// citizen id, with which the Cl@ve app can activate a device ("by
// certificate"). Only this gateway process trusts it.
func (g *Gateway) IssueCertificate(ctx context.Context, id string) (*Credential, error) {
	c, err := g.registered(ctx, id)
	if err != nil {
		return nil, err
	}
	return g.cas.certificates.issue(c, g.cfg.Now())
}

// IssueDNIe issues a simulated DNIe card to the registered citizen id: its
// authentication certificate and key, and the card access number printed
// on it. The Cl@ve app activates a device with it as with a real card read
// over NFC ("by DNIe"). Only this gateway process trusts it.
func (g *Gateway) IssueDNIe(ctx context.Context, id string) (*Credential, error) {
	c, err := g.registered(ctx, id)
	if err != nil {
		return nil, err
	}
	if d, _ := dni.Parse(c.ID); d.Kind() != dni.KindDNI {
		return nil, fmt.Errorf("gateway: only DNI holders have a DNIe")
	}
	cred, err := g.cas.dnie.issue(c, g.cfg.Now())
	if err != nil {
		return nil, err
	}
	cred.CAN = g.cas.cardAccessNumber(cred.Chain[0])
	return cred, nil
}

func (g *Gateway) registered(ctx context.Context, id string) (Citizen, error) {
	c, err := citizenLookup{g.citizens}.Citizen(ctx, id)
	if errors.Is(err, method.ErrUnknownCitizen) {
		return Citizen{}, fmt.Errorf("%w: %w", ErrNotRegistered, err)
	}
	return c, err
}
