package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/internal/pki"
)

// writeSPConfig writes a services file in a fresh directory and returns its
// path. Beside it: certs/sp.pem (the SP certificate), enc.pem (another
// certificate) and bad.pem (a CERTIFICATE block that does not parse).
func writeSPConfig(t *testing.T, content string) string {
	t.Helper()
	keys(t)
	dir := filepath.Join(t.TempDir(), "conf")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "certs"), 0o755))
	sp := pki.CertificatePEM(spKeys.Certificate)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "certs", "sp.pem"), sp, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "enc.pem"), pki.CertificatePEM(gwKeys.Certificate), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"), 0o600))
	path := filepath.Join(dir, "sps.json")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// jsonString quotes s as a JSON string, for inline PEM.
func jsonString(t *testing.T, s string) string {
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}

func TestLoadServiceProviders(t *testing.T) {
	t.Parallel()
	keys(t)
	inline := jsonString(t, string(pki.CertificatePEM(gwKeys.Certificate)))
	path := writeSPConfig(t, `{"service_providers": [
	  {"spid": "S0000000E_E00000000", "name": "Sede de pruebas", "certificates": ["certs/sp.pem"],
	   "acs_urls": ["https://sede.test/clave/acs", "http://127.0.0.1:8080/clave/acs"], "sign_assertion": true,
	   "encryption_certificate": "enc.pem"},
	  {"spid": "Q2826000H_E00000001", "certificates": [`+inline+`, "certs/sp.pem"], "acs_urls": ["https://otra.test/acs"]}
	]}`)

	sps, err := gateway.LoadServiceProviders(path)
	require.NoError(t, err)
	require.Len(t, sps, 2)
	assert.Equal(t, "S0000000E_E00000000", sps[0].SPID)
	assert.Equal(t, "Sede de pruebas", sps[0].Name)
	require.Len(t, sps[0].Certificates, 1)
	assert.True(t, sps[0].Certificates[0].Equal(spKeys.Certificate), "path relative to the config file")
	assert.Equal(t, []string{"https://sede.test/clave/acs", "http://127.0.0.1:8080/clave/acs"}, sps[0].ACSURLs)
	assert.True(t, sps[0].SignAssertion)
	require.NotNil(t, sps[0].EncryptionCertificate)
	assert.True(t, sps[0].EncryptionCertificate.Equal(gwKeys.Certificate))

	require.Len(t, sps[1].Certificates, 2)
	assert.True(t, sps[1].Certificates[0].Equal(gwKeys.Certificate), "inline PEM")
	assert.True(t, sps[1].Certificates[1].Equal(spKeys.Certificate))
	assert.False(t, sps[1].SignAssertion)
	assert.Nil(t, sps[1].EncryptionCertificate)

	// What the file yields is what a gateway registers.
	_, err = gateway.New(context.Background(), gateway.Config{
		BaseURL: "http://127.0.0.1:9000", SigningKey: gwKeys.Key, SigningCertificate: gwKeys.Certificate,
		ServiceProviders: sps,
	})
	require.NoError(t, err)

	// An absolute path is taken as is.
	abs := writeSPConfig(t, `{"service_providers": [{"spid": "S0000000E_E00000000",
	  "certificates": [`+jsonString(t, filepath.Join(filepath.Dir(path), "certs", "sp.pem"))+`],
	  "acs_urls": ["https://sede.test/acs"]}]}`)
	sps, err = gateway.LoadServiceProviders(abs)
	require.NoError(t, err)
	assert.True(t, sps[0].Certificates[0].Equal(spKeys.Certificate))

	empty := writeSPConfig(t, `{"service_providers": []}`)
	sps, err = gateway.LoadServiceProviders(empty)
	require.NoError(t, err)
	assert.Empty(t, sps)
}

func TestLoadServiceProvidersRefuses(t *testing.T) {
	t.Parallel()
	const good = `{"spid": "S0000000E_E00000000", "certificates": ["certs/sp.pem"], "acs_urls": ["https://sede.test/acs"]}`
	for _, tc := range []struct {
		name, content string
		index         int // -1: the file as a whole
		want          string
	}{
		{"unknown field", `{"service_providers": [{"spid": "S0000000E_E00000000", "certificate": "certs/sp.pem"}]}`, -1, `unknown field "certificate"`},
		{"unknown top-level field", `{"service_providers": [], "sps": []}`, -1, `unknown field "sps"`},
		{"trailing data", `{"service_providers": []} {}`, -1, "after the JSON object"},
		{"not JSON", `service_providers:`, -1, "invalid character"},
		{"no array", `{}`, -1, `missing "service_providers"`},
		{"missing spid", `{"service_providers": [` + good + `, {"certificates": ["certs/sp.pem"], "acs_urls": ["https://a.test/acs"]}]}`, 1, `"spid" is required`},
		{"spid with ;", `{"service_providers": [{"spid": "S0000000E_E00000000;App", "certificates": ["certs/sp.pem"], "acs_urls": ["https://a.test/acs"]}]}`, 0, "';'"},
		{"no certificate", `{"service_providers": [{"spid": "S0000000E_E00000000", "certificates": [], "acs_urls": ["https://a.test/acs"]}]}`, 0, `"certificates" needs`},
		{"missing certificate file", `{"service_providers": [{"spid": "S0000000E_E00000000", "certificates": ["certs/nope.pem"], "acs_urls": ["https://a.test/acs"]}]}`, 0, "certificates[0]"},
		{"bad PEM file", `{"service_providers": [{"spid": "S0000000E_E00000000", "certificates": ["bad.pem"], "acs_urls": ["https://a.test/acs"]}]}`, 0, "certificates[0]"},
		{"bad inline PEM", `{"service_providers": [{"spid": "S0000000E_E00000000", "certificates": ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"], "acs_urls": ["https://a.test/acs"]}]}`, 0, "certificates[0]"},
		{"PEM without certificate", `{"service_providers": [{"spid": "S0000000E_E00000000", "certificates": ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"], "acs_urls": ["https://a.test/acs"]}]}`, 0, "no certificate found"},
		{"no ACS URL", `{"service_providers": [{"spid": "S0000000E_E00000000", "certificates": ["certs/sp.pem"]}]}`, 0, `"acs_urls" needs`},
		{"ACS not absolute", `{"service_providers": [{"spid": "S0000000E_E00000000", "certificates": ["certs/sp.pem"], "acs_urls": ["/clave/acs"]}]}`, 0, `acs_urls[0] "/clave/acs": must be an absolute http(s) URL`},
		{"ACS not http", `{"service_providers": [{"spid": "S0000000E_E00000000", "certificates": ["certs/sp.pem"], "acs_urls": ["ftp://a.test/acs"]}]}`, 0, "absolute http(s)"},
		{"missing encryption certificate", `{"service_providers": [{"spid": "S0000000E_E00000000", "certificates": ["certs/sp.pem"], "acs_urls": ["https://a.test/acs"], "encryption_certificate": "enc2.pem"}]}`, 0, "encryption_certificate"},
		{"duplicate spid", `{"service_providers": [` + good + `,` + good + `]}`, 1, "same spid as service provider 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeSPConfig(t, tc.content)
			_, err := gateway.LoadServiceProviders(path)
			require.Error(t, err)
			var ce *gateway.ServiceProviderConfigError
			require.True(t, errors.As(err, &ce), "typed error: %v", err)
			assert.Equal(t, tc.index, ce.Index)
			assert.Equal(t, path, ce.File)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "gateway: "+path+": "), err.Error())
			if tc.index >= 0 {
				assert.Contains(t, err.Error(), fmt.Sprintf("service provider %d", tc.index))
			}
		})
	}

	t.Run("error names the SPID", func(t *testing.T) {
		path := writeSPConfig(t, `{"service_providers": [{"spid": "S0000000E_E00000000", "certificates": ["certs/sp.pem"], "acs_urls": ["relative"]}]}`)
		_, err := gateway.LoadServiceProviders(path)
		assert.ErrorContains(t, err, "service provider 0 (S0000000E_E00000000): acs_urls[0]")
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := gateway.LoadServiceProviders(filepath.Join(t.TempDir(), "nope.json"))
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
}
