package gateway_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/saml"
)

// The tests in this file check the reference gateway's responses with
// implementations other than our validator (crewjam/saml, xmlsec1), so that a
// mistake shared by our signer and our validator cannot go unnoticed, and
// exercise the per-service response options and a signing-key rollover end to
// end.

// startWithForm posts a request form the way the agency's auto-submitting page
// makes a browser post it, and lands on the chooser.
func (w *world) startWithForm(form saml.PostForm) *session {
	s := &session{w: w, b: newBrowser(w.t)}
	resp, err := s.b.c.PostForm(form.Action, url.Values{
		saml.FieldSAMLRequest: {base64.StdEncoding.EncodeToString(form.Message)},
		saml.FieldRelayState:  {form.RelayState},
	})
	require.NoError(w.t, err)
	s.resp, s.page = resp, body(w.t, resp)
	require.Equal(w.t, http.StatusOK, resp.StatusCode, s.page)
	s.chooser = resp.Request.URL.String()
	return s
}

// pinLogin takes a session from the chooser to the gateway's auto-post of the
// Response, logging in as María.
func (s *session) pinLogin() {
	s.requestPIN(maria, mariaValid, "")
	require.Equal(s.w.t, http.StatusOK, s.resp.StatusCode, s.page)
	s.verify(s.w.lastSMS(mariaPhone).Code, "")
	require.Equal(s.w.t, http.StatusOK, s.resp.StatusCode, s.page)
}

// postedFields returns the hidden fields of the auto-submitting form in page.
func postedFields(t *testing.T, page string) url.Values {
	t.Helper()
	vals := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(page, -1) {
		vals.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	require.NotEmpty(t, vals.Get(saml.FieldSAMLResponse), "no SAMLResponse posted: %s", page)
	return vals
}

// postedResponse returns the XML of the Response in the form of page.
func postedResponse(t *testing.T, page string) []byte {
	t.Helper()
	raw, err := saml.DecodeMessage(postedFields(t, page).Get(saml.FieldSAMLResponse), 0)
	require.NoError(t, err)
	return raw
}

// nsXMLEnc is XML Encryption's namespace.
const nsXMLEnc = "http://www.w3.org/2001/04/xmlenc#"

func parseXML(t *testing.T, raw []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(raw))
	require.NotNil(t, doc.Root())
	return doc.Root()
}

// children returns el's child elements in namespace ns named tag.
func children(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// clockworkAt adapts the test clock to the clockwork.Clock goxmldsig (and so
// crewjam) reads the time from.
type clockworkAt struct {
	clockwork.Clock
	now func() time.Time
}

func (c clockworkAt) Now() time.Time { return c.now() }

// crewjamACS is an ACS built on crewjam/saml's ServiceProvider, the way Cl@ve
// integrators who use it for validation build theirs.
type crewjamACS struct {
	sp *crewjam.ServiceProvider

	mu         sync.Mutex
	requestIDs []string
	got        *crewjam.Assertion
	err        error
}

func (a *crewjamACS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got, a.err = nil, r.ParseForm()
	if a.err == nil {
		a.got, a.err = a.sp.ParseResponse(r, a.requestIDs)
	}
	if a.err != nil {
		// crewjam's Error() is a fixed string; the reason is in PrivateErr.
		var ire *crewjam.InvalidResponseError
		if errors.As(a.err, &ire) {
			a.err = fmt.Errorf("%w: %v", a.err, ire.PrivateErr)
		}
		http.Error(w, "refused", http.StatusForbidden)
		return
	}
	fmt.Fprint(w, "ok")
}

func (a *crewjamACS) result() (*crewjam.Assertion, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.got, a.err
}

func TestInteropCrewjamAcceptsGatewayResponses(t *testing.T) {
	t.Parallel()
	const crewSPID = "S0000000E_E00000001"
	for _, tc := range []struct {
		name             string
		signAssertion    bool
		encryptAssertion bool
	}{
		{"response signed", false, false},
		{"assertion signed too", true, false},
		{"assertion encrypted", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, nil, nil, nil)
			acs := &crewjamACS{}
			srv := httptest.NewServer(acs)
			t.Cleanup(srv.Close)
			acsURL, err := url.Parse(srv.URL + "/saml/acs")
			require.NoError(t, err)

			// Cl@ve has no metadata exchange: integrators write the IdP
			// metadata by hand from the gateway's issuer and certificate, and
			// use their ACS URL as entity ID, since Audience is the ACS URL.
			acs.sp = &crewjam.ServiceProvider{
				EntityID:    acsURL.String(),
				Key:         spKeys.Key,
				Certificate: spKeys.Certificate,
				AcsURL:      *acsURL,
				IDPMetadata: &crewjam.EntityDescriptor{
					EntityID: w.gw.Issuer(),
					IDPSSODescriptors: []crewjam.IDPSSODescriptor{{
						SSODescriptor: crewjam.SSODescriptor{RoleDescriptor: crewjam.RoleDescriptor{
							ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
							KeyDescriptors: []crewjam.KeyDescriptor{{
								Use: "signing",
								KeyInfo: crewjam.KeyInfo{X509Data: crewjam.X509Data{X509Certificates: []crewjam.X509Certificate{
									{Data: base64.StdEncoding.EncodeToString(gwKeys.Certificate.Raw)},
								}}},
							}},
						}},
						SingleSignOnServices: []crewjam.Endpoint{{Binding: crewjam.HTTPPostBinding, Location: w.gw.Endpoint()}},
					}},
				},
				SignatureMethod:      dsig.RSASHA512SignatureMethod,
				RejectSHA1Signatures: true,
				// Per service provider rather than crewjam's package-level
				// TimeNow, so nothing global changes under other tests.
				Clock: dsig.NewFakeClock(clockworkAt{clockwork.NewRealClock(), w.clock.Now}),
			}
			reg := gateway.ServiceProvider{
				SPID: crewSPID, Name: "Sede con crewjam", Certificates: []*x509.Certificate{spKeys.Certificate},
				ACSURLs: []string{acsURL.String()}, SignAssertion: tc.signAssertion,
			}
			if tc.encryptAssertion {
				reg.EncryptionCertificate = spKeys.Certificate // crewjam decrypts with its Key
			}
			require.NoError(t, w.gw.RegisterServiceProvider(reg))

			// crewjam's AuthnRequest has no ProviderName nor eIDAS Extensions, so
			// the request is ours, signed with the crewjam SP's key.
			req := &saml.AuthnRequest{
				IssueInstant: w.clock.Now(), Destination: w.gw.Endpoint(), ACSURL: acsURL.String(),
				Issuer: acs.sp.EntityID, SPID: crewSPID, ApplicationName: "Sede con crewjam", LoA: saml.LoALow,
				Attributes: []saml.RequestedAttribute{saml.ReqPersonIdentifier, saml.ReqCurrentGivenName,
					saml.ReqCurrentFamilyName, saml.ReqFirstSurname, saml.ReqDateOfBirth},
			}
			xml, err := req.Sign(&saml.Signer{Key: acs.sp.Key, Certificate: acs.sp.Certificate, Hash: crypto.SHA512})
			require.NoError(t, err)
			acs.mu.Lock()
			acs.requestIDs = []string{req.ID}
			acs.mu.Unlock()

			s := w.startWithForm(saml.PostForm{Action: w.gw.Endpoint(), Field: saml.FieldSAMLRequest, Message: xml, RelayState: "crewjam-relay"})
			s.pinLogin()
			posted := postedFields(t, s.page)
			assert.Equal(t, "crewjam-relay", posted.Get(saml.FieldRelayState))
			raw := postedResponse(t, s.page)
			assert.Equal(t, tc.encryptAssertion, bytes.Contains(raw, []byte("EncryptedAssertion")))
			s.finish()

			got, err := acs.result()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
			require.NotNil(t, got.Subject)
			require.NotNil(t, got.Subject.NameID)
			assert.Equal(t, maria, got.Subject.NameID.Value)
			assert.Equal(t, w.gw.Issuer(), got.Issuer.Value)
			attrs := map[string]string{}
			for _, st := range got.AttributeStatements {
				for _, a := range st.Attributes {
					require.Len(t, a.Values, 1, a.Name)
					attrs[a.Name] = a.Values[0].Value
				}
			}
			assert.Equal(t, map[string]string{
				saml.AttrPersonIdentifier:  maria,
				saml.AttrCurrentGivenName:  "MARIA",
				saml.AttrCurrentFamilyName: "GARCIA LOPEZ",
				saml.AttrFirstSurname:      "GARCIA",
				saml.AttrDateOfBirth:       "1980-05-17",
				saml.AttrSelectedIdP:       "AEAT",
			}, attrs)
			require.Len(t, got.AuthnStatements, 1)
			require.NotNil(t, got.AuthnStatements[0].AuthnContext.AuthnContextClassRef)
			assert.Equal(t, saml.LoASubstantial.URI(), got.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value)

			// crewjam reads our clock: the same response 16 minutes later is
			// expired for it, although hardly any real time has passed.
			w.clock.Advance(16 * time.Minute)
			resp, err := http.PostForm(acsURL.String(), posted)
			require.NoError(t, err)
			assert.Equal(t, http.StatusForbidden, resp.StatusCode, body(t, resp))
			_, err = acs.result()
			assert.ErrorIs(t, err, crewjam.ErrExpired)
		})
	}
}

// xmlsec1Verify verifies the signature of a Response with xmlsec1, trusting
// only the key of cert. xpath, when not empty, picks the Signature to verify.
// Without xmlsec1 the test is skipped, unless CLAVE_REQUIRE_XMLSEC is set.
func xmlsec1Verify(t *testing.T, raw []byte, cert *x509.Certificate, xpath string) error {
	t.Helper()
	bin, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CLAVE_REQUIRE_XMLSEC") != "" {
			t.Fatalf("xmlsec1 not found but CLAVE_REQUIRE_XMLSEC is set: %v", err)
		}
		t.Skipf("xmlsec1 not found (%v); install xmlsec1 to check the gateway's signatures independently", err)
	}
	dir := t.TempDir()
	pemFile, xmlFile := filepath.Join(dir, "gw.pem"), filepath.Join(dir, "response.xml")
	require.NoError(t, os.WriteFile(pemFile, pki.CertificatePEM(cert), 0o600))
	require.NoError(t, os.WriteFile(xmlFile, raw, 0o600))
	args := []string{"--verify",
		// Only the key loaded here; never the certificate in KeyInfo.
		"--enabled-key-data", "key-name,rsa",
		"--pubkey-cert-pem", pemFile,
		"--enabled-reference-uris", "same-doc",
		"--id-attr:ID", saml.NSProtocol + ":Response",
		"--id-attr:ID", saml.NSAssertion + ":Assertion",
	}
	if xpath != "" {
		args = append(args, "--node-xpath", xpath)
	}
	args = append(args, xmlFile)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("xmlsec1 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !bytes.Contains(out, []byte("OK")) {
		return fmt.Errorf("xmlsec1 did not report OK:\n%s", out)
	}
	return nil
}

func TestInteropXMLSecVerifiesGatewayResponses(t *testing.T) {
	t.Parallel()
	t.Run("response signed", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, nil, nil)
		s := w.start()
		s.pinLogin()
		raw := postedResponse(t, s.page)
		require.NoError(t, xmlsec1Verify(t, raw, gwKeys.Certificate, ""))

		// The check can fail: another key, or one changed byte of content.
		err := xmlsec1Verify(t, raw, spKeys.Certificate, "")
		assert.ErrorContains(t, err, "References (ok/all): 1/1", "the digest matches, the key does not")
		tampered := bytes.ReplaceAll(raw, []byte(">"+maria+"<"), []byte(">"+lucia+"<"))
		require.NotEqual(t, raw, tampered)
		err = xmlsec1Verify(t, tampered, gwKeys.Certificate, "")
		assert.ErrorContains(t, err, "References (ok/all): 0/1", "the digest of the changed response fails")
	})
	t.Run("assertion signed too", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, func(sp *gateway.ServiceProvider) { sp.SignAssertion = true }, nil)
		s := w.start()
		s.pinLogin()
		raw := postedResponse(t, s.page)
		require.NoError(t, xmlsec1Verify(t, raw, gwKeys.Certificate,
			"/*[local-name()='Response']/*[local-name()='Signature']"))
		require.NoError(t, xmlsec1Verify(t, raw, gwKeys.Certificate,
			"/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']"))
	})
}

func TestGatewayPerSPResponseOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		signAssertion bool
		encrypt       bool
	}{
		{"assertion signed", true, false},
		{"assertion encrypted", false, true},
		{"assertion signed and encrypted", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The agency decrypts with its Key by default, so its certificate
			// is the one registered for encryption.
			w := newWorld(t, nil, func(sp *gateway.ServiceProvider) {
				sp.SignAssertion = tc.signAssertion
				if tc.encrypt {
					sp.EncryptionCertificate = spKeys.Certificate
				}
			}, nil)
			s := w.start()
			s.pinLogin()
			root := parseXML(t, postedResponse(t, s.page))
			assert.Len(t, children(root, saml.NSDSig, "Signature"), 1, "the Response is signed in every case")

			plain := children(root, saml.NSAssertion, "Assertion")
			encrypted := children(root, saml.NSAssertion, "EncryptedAssertion")
			var assertion *etree.Element
			if tc.encrypt {
				require.Empty(t, plain, "no assertion in the clear")
				require.Len(t, encrypted, 1)
				ed := children(encrypted[0], nsXMLEnc, "EncryptedData")
				require.Len(t, ed, 1)
				alg := ed[0].FindElement("./EncryptionMethod")
				require.NotNil(t, alg)
				assert.Equal(t, "http://www.w3.org/2009/xmlenc11#aes256-gcm", alg.SelectAttrValue("Algorithm", ""))
				dec, err := xmlenc.Decrypt(spKeys.Key, ed[0])
				require.NoError(t, err)
				assertion = parseXML(t, dec)
				require.Equal(t, "Assertion", assertion.Tag)
			} else {
				require.Empty(t, encrypted)
				require.Len(t, plain, 1)
				assertion = plain[0]
			}
			wantSignatures := 0
			if tc.signAssertion {
				wantSignatures = 1
			}
			assert.Len(t, children(assertion, saml.NSDSig, "Signature"), wantSignatures,
				"the Assertion is signed exactly when the service asked for it")

			s.finish()
			require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
			assert.Equal(t, "hola MARIA|12345678Z|substantial|AEAT|GARCIA LOPEZ", s.page)
		})
	}
}

// TestInteropCertificateRollover follows the gateway's signing key from key1
// to key2 through its published certificates, as services do in production.
func TestInteropCertificateRollover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys(t)
	key1 := gwKeys
	key2, err := pki.Generate("test gateway next", 2048, time.Now().Add(-time.Hour), 48*time.Hour)
	require.NoError(t, err)

	var fetcher *saml.CertificateFetcher
	w := newSlotWorld(t, nil, func(c *clave.Config) {
		base := strings.TrimSuffix(c.GatewayURL, saml.ServiceProviderPath)
		fetcher, err = saml.NewCertificateFetcher(saml.FetcherConfig{
			URL: base + saml.CertificatesPath, InsecureAllowHTTP: true, // loopback only
			Now: c.Now, Retry: saml.RetryConfig{Max: -1},
		})
		require.NoError(t, err)
		c.GatewayCertificates = fetcher
	})
	putMaria := func() {
		require.NoError(t, w.gw.PutCitizen(ctx, citizen(t, maria, mariaValid, "MARIA", "GARCIA", "LOPEZ", mariaPhone, "advanced")))
	}
	putMaria()
	client := w.agency.client
	// login runs a login the agency started with NewLogin and returns what the
	// gateway posted back, with the pending login to check it against.
	login := func() (samlResponse, relay string, p clave.PendingLogin) {
		form, p, err := client.NewLogin(clave.LoginOptions{})
		require.NoError(t, err)
		s := w.startWithForm(form)
		s.pinLogin()
		posted := postedFields(t, s.page)
		return posted.Get(saml.FieldSAMLResponse), posted.Get(saml.FieldRelayState), p
	}
	trusted := func() []*x509.Certificate { return fetcher.Certificates() }

	// Key1 only.
	require.NoError(t, fetcher.Refresh(ctx))
	require.Len(t, trusted(), 1)
	require.True(t, trusted()[0].Equal(key1.Certificate))
	resp, relay, p := login()
	id, err := client.ValidateResponse(ctx, resp, relay, p)
	require.NoError(t, err)
	assert.Equal(t, maria, id.PersonIdentifier)

	// The gateway restarts signing with key2, publishing key1 beside it for
	// services that have not refreshed yet.
	w.swap(func(c *gateway.Config) {
		c.SigningKey, c.SigningCertificate = key2.Key, key2.Certificate
		c.NextCertificates = []*x509.Certificate{key1.Certificate}
	})
	putMaria()

	// Not refreshed: key2 is not trusted yet.
	resp, relay, p = login()
	_, err = client.ValidateResponse(ctx, resp, relay, p)
	require.Error(t, err)
	assert.True(t, errors.Is(err, saml.ErrUntrustedKey) || errors.Is(err, saml.ErrSignatureInvalid), "refused for its signature: %v", err)

	// Refreshed: both keys trusted, and the very response refused above is
	// accepted, so trust was the only difference.
	require.NoError(t, fetcher.Refresh(ctx))
	require.Len(t, trusted(), 2)
	assert.True(t, trusted()[0].Equal(key2.Certificate))
	assert.True(t, trusted()[1].Equal(key1.Certificate))
	id, err = client.ValidateResponse(ctx, resp, relay, p)
	require.NoError(t, err)
	assert.Equal(t, maria, id.PersonIdentifier)

	// And a new login signed with key2 goes through the agency's ACS.
	s := w.start()
	s.pinLogin()
	s.finish()
	require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
	assert.Equal(t, "hola MARIA|12345678Z|substantial|AEAT|GARCIA LOPEZ", s.page)
}
