package saml_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// The benchmarks compare validators on one response shaped like a real
// certificate login: about 14 KB, most of it the PartialAfirma attribute and a
// long signing certificate in KeyInfo.
//
//	go test -run NONE -bench . -benchmem ./saml/

// benchFixture is a signed certificate-login response and the long certificate
// (for the gateway test key) that signed it.
type benchFixture struct {
	raw  []byte
	cert *x509.Certificate
}

var (
	benchOnce sync.Once
	benchFx   benchFixture
	benchErr  error
)

func certificateLoginFixture(tb testing.TB) benchFixture {
	tb.Helper()
	testKeys(tb)
	benchOnce.Do(func() { benchFx, benchErr = buildCertificateLogin() })
	if benchErr != nil {
		tb.Fatal(benchErr)
	}
	return benchFx
}

func buildCertificateLogin() (benchFixture, error) {
	cert, err := longSealCertificate(idpKeys.Key)
	if err != nil {
		return benchFixture{}, err
	}
	p := gatewayParams()
	for i := range p.Attributes {
		if p.Attributes[i].Name == saml.AttrSelectedIdP {
			p.Attributes[i].Values = []string{"AFIRMA"}
		}
	}
	p.Attributes = append(p.Attributes, saml.Attribute{
		Name: saml.AttrPartialAfirma, FriendlyName: "PartialAfirma",
		Values: []string{base64.StdEncoding.EncodeToString(partialAfirmaXML(5000))},
	})
	doc, err := samlidp.BuildResponse(p)
	if err != nil {
		return benchFixture{}, err
	}
	sec := samlidp.ResponseSecurity{SignResponse: true, Signer: &saml.Signer{Key: idpKeys.Key, Certificate: cert}}
	if err := samlidp.SecureResponse(doc, sec); err != nil {
		return benchFixture{}, err
	}
	raw, err := doc.WriteToBytes()
	if err != nil {
		return benchFixture{}, err
	}
	return benchFixture{raw: raw, cert: cert}, nil
}

// longSealCertificate issues, for key, a certificate as long as the gateway's
// FNMT seal certificate (about 1.9 KB DER): long subject, policies, CRL and
// AIA locations, QC statements.
func longSealCertificate(key *rsa.PrivateKey) (*x509.Certificate, error) {
	qc, err := asn1.Marshal([]asn1.ObjectIdentifier{
		{0, 4, 0, 1862, 1, 1}, {0, 4, 0, 1862, 1, 6, 2}, {0, 4, 0, 194121, 1, 2},
	})
	if err != nil {
		return nil, err
	}
	name := pkix.Name{
		Country:            []string{"ES"},
		Organization:       []string{"SECRETARIA GENERAL DE ADMINISTRACION DIGITAL"},
		OrganizationalUnit: []string{"SUBDIRECCION GENERAL DE IMPULSO DE LA DIGITALIZACION", "PASARELA CL@VE ENTORNO DE PRUEBAS"},
		Locality:           []string{"MADRID"},
		SerialNumber:       "S2833002E",
		CommonName:         "SELLO ELECTRONICO DE LA PASARELA CL@VE - ENTORNO DE PRUEBAS (NO VALIDO EN PRODUCCION)",
		ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 97}, Value: "VATES-S2833002E"},
		},
	}
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes([]byte("clave benchmark seal certificate")),
		Subject:               name,
		NotBefore:             testNow.Add(-24 * time.Hour),
		NotAfter:              testNow.Add(3 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection},
		BasicConstraintsValid: true,
		EmailAddresses:        []string{"soporte.integracion.clave@correo.gob.es"},
		OCSPServer:            []string{"http://ocspcomp.cert.fnmt.es/ocsp/OcspResponder"},
		IssuingCertificateURL: []string{"http://www.cert.fnmt.es/certs/ACSP.crt"},
		CRLDistributionPoints: []string{
			"http://www.cert.fnmt.es/crlsacsp/CRL2345.crl",
			"ldap://ldapsp.cert.fnmt.es/CN=CRL2345,CN=AC%20Sector%20P%FAblico,OU=CERES,O=FNMT-RCM,C=ES?certificateRevocationList;binary?base?objectclass=cRLDistributionPoint",
		},
		Policies: []x509.OID{
			mustOID("1.3.6.1.4.1.5734.3.18.1"), mustOID("0.4.0.194112.1.1"), mustOID("2.16.724.1.3.5.6.2"),
		},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 3}, Value: qc}},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func mustOID(s string) x509.OID {
	o, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// partialAfirmaXML is a certificate-validation answer like the one @firma gives
// the gateway, padded with readable fields to at least n bytes.
func partialAfirmaXML(n int) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><dss:VerifyResponse xmlns:dss="urn:oasis:names:tc:dss:1.0:core:schema" xmlns:afxp="urn:afirma:dss:1.0:profile:XSS:schema" Profile="urn:afirma:dss:1.0:profile:XSS"><dss:Result><dss:ResultMajor>urn:oasis:names:tc:dss:1.0:resultmajor:Success</dss:ResultMajor><dss:ResultMessage xml:lang="es">Proceso realizado correctamente.</dss:ResultMessage></dss:Result><dss:OptionalOutputs><afxp:CertificatePathValidity><afxp:PathValiditySummary Code="urn:oasis:names:tc:dss:1.0:detail:valid"/></afxp:CertificatePathValidity><afxp:ReadableCertificateInfo>`)
	fields := [][2]string{
		{"tipoCertificado", "FNMT PF"}, {"clasificacion", "0"}, {"NIFResponsable", "12345678Z"},
		{"nombreResponsable", "MARIA"}, {"primerApellidoResponsable", "GARCIA"}, {"segundoApellidoResponsable", "LOPEZ"},
		{"ApellidosResponsable", "GARCIA LOPEZ"}, {"email", "maria.garcia@example.es"},
		{"idEmisor", "CN=AC FNMT Usuarios, OU=Ceres, O=FNMT-RCM, C=ES"}, {"idPolitica", "FNMT"},
		{"politica", "1.3.6.1.4.1.5734.3.10.1"}, {"versionPolitica", "0"}, {"usoCertificado", "digitalSignature | nonRepudiation"},
		{"validoHasta", "2028-02-27 23:59:59.0"}, {"validoDesde", "2024-02-27 12:00:00.0"},
		{"numeroSerie", "123456789012345678901234567890123456"}, {"subject", "CN=GARCIA LOPEZ MARIA - 12345678Z, SN=GARCIA LOPEZ, G=MARIA, SERIALNUMBER=IDCES-12345678Z, C=ES"},
		{"extensionUsoCertificado", "clientAuth | emailProtection"}, {"OIDQcCompliance", "0.4.0.1862.1.1"},
		{"certQualified", "YES"}, {"certClassification", "ESIG"}, {"ValCertificado", "OK"},
	}
	for i := 0; b.Len() < n; i++ {
		f := fields[i%len(fields)]
		fmt.Fprintf(&b, `<afxp:ReadableField><afxp:FieldIdentity>%s</afxp:FieldIdentity><afxp:FieldValue>%s</afxp:FieldValue></afxp:ReadableField>`, f[0], f[1])
	}
	b.WriteString(`</afxp:ReadableCertificateInfo></dss:OptionalOutputs></dss:VerifyResponse>`)
	return []byte(b.String())
}

func BenchmarkValidateResponse(b *testing.B) {
	fx := certificateLoginFixture(b)
	b.Logf("response: %d bytes", len(fx.raw))

	b.Run("clave", func(b *testing.B) {
		v := testValidator()
		v.Trust = saml.StaticCertificates{fx.cert}
		exp := saml.Expectation{RequestID: testReqID, MinLoA: saml.LoALow}
		if _, err := v.ValidateResponse(fx.raw, exp); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.ValidateResponse(fx.raw, exp); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(fx.raw)), "resp-bytes")
	})

	b.Run("crewjam", func(b *testing.B) {
		sp, acs := crewjamServiceProvider(b, fx.cert)
		ids := []string{testReqID}
		if _, err := sp.ParseXMLResponse(fx.raw, ids, acs); err != nil {
			b.Fatal(crewjamError(err))
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := sp.ParseXMLResponse(fx.raw, ids, acs); err != nil {
				b.Fatal(crewjamError(err))
			}
		}
		b.ReportMetric(float64(len(fx.raw)), "resp-bytes")
	})
	// crewjam's round-trip validator lives in its internal/xmlroundtrip package
	// and cannot be benchmarked alone; its share shows in a CPU profile of the
	// crewjam sub-benchmark (xmlroundtrip.Validate).
}

// crewjamServiceProvider configures crewjam/saml as Cl@ve integrators do: the
// ACS URL as entity ID (it is the Audience the gateway writes) and the gateway's
// certificate in hand-written IdP metadata. Its clock is pinned to testNow
// through ServiceProvider.Clock, which crewjam uses for the message times and
// for the signing certificate's validity alike; the deprecated package-level
// TimeNow covers only the former, so with it alone the benchmark would start
// failing once the test certificate expires.
func crewjamServiceProvider(tb testing.TB, cert *x509.Certificate) (*crewjam.ServiceProvider, url.URL) {
	tb.Helper()
	acs, err := url.Parse(testACS)
	if err != nil {
		tb.Fatal(err)
	}
	kd := crewjam.KeyDescriptor{Use: "signing", KeyInfo: crewjam.KeyInfo{X509Data: crewjam.X509Data{
		X509Certificates: []crewjam.X509Certificate{{Data: base64.StdEncoding.EncodeToString(cert.Raw)}},
	}}}
	sp := &crewjam.ServiceProvider{
		EntityID: testACS,
		AcsURL:   *acs,
		Clock:    dsig.NewFakeClockAt(testNow),
		IDPMetadata: &crewjam.EntityDescriptor{
			EntityID: testIdP,
			IDPSSODescriptors: []crewjam.IDPSSODescriptor{{SSODescriptor: crewjam.SSODescriptor{
				RoleDescriptor: crewjam.RoleDescriptor{
					ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
					KeyDescriptors:             []crewjam.KeyDescriptor{kd},
				},
			}}},
		},
	}
	return sp, *acs
}

// TestCrewjamComparisonClock keeps the benchmark's crewjam side working in
// every test run, not only when someone benchmarks: with crewjam's process-wide
// clocks set past the test certificate's expiry (as the real clock will be),
// the fixture must still be accepted on the ServiceProvider's pinned Clock.
func TestCrewjamComparisonClock(t *testing.T) {
	fx := certificateLoginFixture(t)
	later := fx.cert.NotAfter.Add(24 * time.Hour)
	prevNow, prevClock := crewjam.TimeNow, crewjam.Clock //nolint:staticcheck // set to show they no longer matter
	crewjam.TimeNow = func() time.Time { return later }  //nolint:staticcheck
	crewjam.Clock = dsig.NewFakeClockAt(later)           //nolint:staticcheck
	t.Cleanup(func() { crewjam.TimeNow, crewjam.Clock = prevNow, prevClock })

	sp, acs := crewjamServiceProvider(t, fx.cert)
	if _, err := sp.ParseXMLResponse(fx.raw, []string{testReqID}, acs); err != nil {
		t.Fatal(crewjamError(err))
	}
}

// crewjamError unwraps the private cause crewjam hides behind a static message.
func crewjamError(err error) error {
	if ire, ok := err.(*crewjam.InvalidResponseError); ok {
		return fmt.Errorf("%v: %v", err, ire.PrivateErr)
	}
	return err
}

// BenchmarkVerifyFloor is the lower bound of any validator of this response:
// one SHA-512 digest over its bytes and one RSA-2048 PKCS#1 v1.5 verification.
func BenchmarkVerifyFloor(b *testing.B) {
	fx := certificateLoginFixture(b)
	pub := fx.cert.PublicKey.(*rsa.PublicKey)
	sum := sha512.Sum512(fx.raw)
	sig, err := rsa.SignPKCS1v15(nil, idpKeys.Key, crypto.SHA512, sum[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		h := sha512.Sum512(fx.raw)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA512, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(fx.raw)), "resp-bytes")
}
