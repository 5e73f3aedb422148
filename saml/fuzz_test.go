package saml_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/internal/samlcore"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// fuzzKeyPEM signs the fuzz seeds. It is fixed, unlike testKeys, because the
// fuzzing engine runs the target in worker processes that rebuild the validator
// on their own: with a key generated per process, no worker could ever verify a
// seed, and the "accepted" branch would go untested. Test key only.
const fuzzKeyPEM = `-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCH0Lf8+YCFEnMq
oJhekOcculewn20ALz1D9gVwUlgF0atv/qiuEvvpPBy4kf/md1kzak7j2StuyhTA
cakRBPMxkq6GAHIVU4J2ZKSme8nnul+6qQZj3Y416Wq/4gIzsH4ZZKKOm2pQXLjL
eDQLtYB1rX3zOv/FSEM52Qrf9aStjM15Fvmmn3MqDy5trj2+/NTOxv3G8jwUmBYB
RnC+Uk/SNujyyq0jVa9Dgw/fPGjYZxkZ89yR9whGC3qlEETdk5K87lXGmcQBcMtg
lOsAGDxoeu57d45D3/V4sOh09We3LJujCxgJQd/z1H76Bk6dMeRcrAUHbeCwM1rF
bW2liB8fAgMBAAECggEABP6N5YWfTkVxar3hHIkjlpDbrKkQLxONozQm2wyMJBqj
vUiWF2CnVtpZDAiCao01AIkGQaa4zCguPy1u1CtkbgxA0riteU9K2uO0klK3CAh4
gLq6e22oTx84R7od7pys5m4m9CuO60mdmg3fjBaulKU+nnUq9qxDnJr4pWe5GJCp
PuJax7kc6DWvayPq/9lDJDzY8e/IeSOx6sBcA99bwL71eFJfnkht2TPIQdJbZpd6
FFYflNCeWR7KgHnNVAMVM+dj1IxnyhlQ90MMcVL/kvWLJz17WpX+EtDWYbCFtNwb
Tgqg5HFS/w0F94K4zObloBVDs1gWGFZZuIVe2WW2sQKBgQC7NmftkudubCbeXtsY
beb3+EFyVvAQ1UEYQNZTQ6YEkCsv8fT36FH/h58qn/TWglMSPJm0KiSmd05wu1yr
V6IThGMJ5iVuSjp04Jm9xLkldq3t2Lz7cPnc95nP2c21l9pXjYfciFNllIPTa6WU
w0UpI+/dilLB0yHFtKdrWEVc+wKBgQC5t8kAYlYDU57YXKa6sUvuhjepu/zQbx9u
Ft/+b+ebVwCnBYZ4nPKtOUYanR3NS8mZQuF+/BbhF3y1AvNa3upbbL5P63oI9+Q4
RVgMQ0qZZGdwuZsRb4riq0VIWdZkbpWYMqAGs+Vm/+x/vDGHioBTp8A2uGbPybBG
Xf0ZluulLQKBgQCasLHfVGt2ilbzl11iKi2W58LsP3nN7ugCqlBuLI+ZZabJzxuj
XIukoOObzN/5/2W0w+4dOFVgV2SxMZ+41IhPqCxNmaWEJEF5IbznWQ3DLvU4esZs
3UUYmF63qDiZvAfmIEQKrXp7jOQAZgpDibYz8EXawNjw3wwg2M0dnapy0QKBgQCA
IqajBjX0K6CgBSTgEG2kT6ReDp76rIDR8yRup4Tz7446rpw94YOqMqcEu7yRJaYd
gUCV3ZZnjU30kemXm8+0bo3MFFrpjyc+D9IU++Sfet/Hrbeoyv3XMHYn2hwKxSWf
keZJWZuAejkRVKYTr2Kk1UvQNWByIuTlV/nFyxQgrQKBgDRU/h0V9jZz/ggtE8mT
aTP1bHyCFjG4FmUx/2/XhH7H9AALInPtLdbMV+XsitGKerrudGe4E6cTFS9qoww+
A0aoOBcw9WW1lywaiBSIghzz9F/KYK3Loi8zixZVcS6I6r1TilqXZtoeQuMSwWpI
ljaQSWq8vlPMvTQIkxJECWFs
-----END PRIVATE KEY-----
`

var (
	fuzzOnce sync.Once
	fuzzKey  *rsa.PrivateKey
	fuzzCert *x509.Certificate
	fuzzErr  error
)

func fuzzKeys(tb testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	tb.Helper()
	fuzzOnce.Do(func() {
		block, _ := pem.Decode([]byte(fuzzKeyPEM))
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			fuzzErr = err
			return
		}
		fuzzKey = k.(*rsa.PrivateKey)
		fuzzCert, fuzzErr = pki.SelfSign(fuzzKey, "SELLO PASARELA FUZZ", testNow.Add(-24*time.Hour), 3*365*24*time.Hour)
	})
	require.NoError(tb, fuzzErr)
	return fuzzKey, fuzzCert
}

func fuzzValidator(tb testing.TB) *saml.Validator {
	key, cert := fuzzKeys(tb)
	return &saml.Validator{
		Trust:          saml.StaticCertificates{cert},
		ACSURL:         testACS,
		Issuer:         testIdP,
		DecryptionKeys: []*rsa.PrivateKey{key},
		Now:            func() time.Time { return testNow },
	}
}

// fuzzResponse is gatewayParams secured as sec says, signed with the fuzz key.
func fuzzResponse(tb testing.TB, sec samlidp.ResponseSecurity) []byte {
	tb.Helper()
	key, cert := fuzzKeys(tb)
	sec.Signer = &saml.Signer{Key: key, Certificate: cert}
	doc, err := samlidp.BuildResponse(gatewayParams())
	require.NoError(tb, err)
	require.NoError(tb, samlidp.SecureResponse(doc, sec))
	return docBytes(tb, doc)
}

// FuzzValidateResponse feeds the validator mutations of valid responses, raw or
// base64-encoded as they arrive in the form field. Whatever it accepts must be
// the login that was signed: same subject, same request.
func FuzzValidateResponse(f *testing.F) {
	v := fuzzValidator(f)
	exp := saml.Expectation{RequestID: testReqID, MinLoA: saml.LoALow}

	valid := [][]byte{
		fuzzResponse(f, samlidp.ResponseSecurity{SignResponse: true}),
		fuzzResponse(f, samlidp.ResponseSecurity{SignResponse: true, SignAssertion: true}),
		fuzzResponse(f, samlidp.ResponseSecurity{SignAssertion: true}),
	}
	_, cert := fuzzKeys(f)
	valid = append(valid,
		fuzzResponse(f, samlidp.ResponseSecurity{SignAssertion: true, EncryptFor: cert}),
		fuzzResponse(f, samlidp.ResponseSecurity{SignResponse: true, EncryptFor: cert}))
	for _, raw := range valid {
		_, err := v.ValidateResponse(raw, exp)
		require.NoError(f, err, "seed must be valid")
		f.Add(raw)
		f.Add([]byte(base64.StdEncoding.EncodeToString(raw)))
	}

	signed := valid[0]
	mutate := func(old, repl string) []byte {
		return bytes.Replace(signed, []byte(old), []byte(repl), 1)
	}
	for _, m := range [][]byte{
		mutate(">12345678Z</saml2:NameID>", ">87654321X</saml2:NameID>"),
		mutate(">12345678Z</saml2:NameID>", ">1234<!---->5678Z</saml2:NameID>"),
		mutate(`InResponseTo="`+testReqID, `InResponseTo="_other`),
		mutate("<saml2:Assertion ", "<saml2:Assertion xmlns:saml2=\"urn:evil\" "),
		mutate("<?xml", "<!DOCTYPE r [<!ENTITY e \"x\">]><?xml"),
		append(bytes.Clone(signed), "<!-- trailing -->"...),
		signed[:len(signed)/2],
		fuzzResponse(f, samlidp.ResponseSecurity{}),
	} {
		f.Add(m)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		inputs := [][]byte{data}
		if dec, err := saml.DecodeMessage(string(data), 0); err == nil {
			inputs = append(inputs, dec)
		}
		for _, in := range inputs {
			a, err := v.ValidateResponse(in, exp)
			if err != nil {
				assert.Nil(t, a)
				continue
			}
			assert.Equal(t, "12345678Z", a.NameID.Value)
			assert.Equal(t, testReqID, a.InResponseTo)
			assert.Equal(t, "_assert1", a.ID)
			assert.True(t, a.ResponseSigned || a.AssertionSigned)
		}
	})
}

// FuzzDecodeAndParse checks the form-field decoder in front of the safe
// parser: no input panics them, the decoder never exceeds its bound, and
// whatever the parser accepts survives a serialise and parse round trip.
// internal/samlcore's FuzzParseXML fuzzes the parser alone, canonical
// serialisation included.
func FuzzDecodeAndParse(f *testing.F) {
	raw := fuzzResponse(f, samlidp.ResponseSecurity{SignResponse: true})
	enc := base64.StdEncoding.EncodeToString(raw)
	var wrapped strings.Builder
	for i := 0; i < len(enc); i += 76 {
		wrapped.WriteString(enc[i:min(i+76, len(enc))])
		wrapped.WriteString("\r\n")
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		enc, wrapped.String(), string(raw), "", "====", "PGEvPg==",
		b64(`<a xmlns:p="urn:x" p:b="1" c="&amp;&#xD;"><p:c>t<![CDATA[x]]></p:c></a>`),
		b64(`<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`),
		b64(`<a><!-- c --><?pi x?></a>`),
		b64(`<a xmlns:p="urn:x" xmlns:q="urn:x" p:b="1" q:b="2"/>`),
		b64(`<a:b:c/>`), b64("<a>\r\n\t</a>"), b64(`<a b="&#x0;"/>`),
		b64(strings.Repeat("<a>", 60) + strings.Repeat("</a>", 60)),
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, field string) {
		data, err := saml.DecodeMessage(field, 0)
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(data), saml.DefaultMaxMessageSize)
		doc, err := samlcore.ParseXML(data, 0)
		if err != nil {
			return
		}
		out, err := doc.WriteToBytes()
		require.NoError(t, err)
		_, err = samlcore.ParseXML(out, 0)
		require.NoError(t, err, "re-parsing %q (from %q)", out, data)
	})
}
