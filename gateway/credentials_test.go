package gateway_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/mobile/app"
)

// credentialsCall asks the admin API for a test credential.
func (w *world) credentialsCall(body string) (int, map[string]string) {
	req, err := http.NewRequest(http.MethodPost, w.gwSrv.URL+"/admin/api/credentials", bytes.NewReader([]byte(body)))
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	var out map[string]string
	require.NoError(w.t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// splitPEM reads a credential file: certificates, then a PKCS #8 key.
func splitPEM(t *testing.T, data []byte) ([]*x509.Certificate, crypto.Signer) {
	var (
		chain []*x509.Certificate
		key   crypto.Signer
	)
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			require.NoError(t, err)
			chain = append(chain, c)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			require.NoError(t, err)
			key = k.(crypto.Signer)
		}
	}
	return chain, key
}

func TestGatewayIssuesCredentialsTheAppActivatesWith(t *testing.T) {
	t.Parallel()
	w := newWorld(t, withAdmin, nil, nil)
	ctx := context.Background()
	client := &app.Client{BaseURL: w.gwSrv.URL, Now: w.gw.Now, KDF: app.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}

	t.Run("certificate", func(t *testing.T) {
		status, out := w.credentialsCall(`{"citizen":"12.345.678-Z","kind":"certificate"}`)
		require.Equal(t, http.StatusOK, status, out)
		assert.Empty(t, out["can"], "a certificate has no card access number")
		chain, key := splitPEM(t, []byte(out["pem"]))
		require.Len(t, chain, 2, "the citizen's certificate and its CA's")
		assert.Equal(t, "IDCES-"+maria, chain[0].Subject.SerialNumber)
		phone, err := client.ActivateCertificate(ctx, maria, chain, key, []byte("pass"))
		require.NoError(t, err)
		assert.Equal(t, maria, phone.Citizen)
	})
	t.Run("DNIe card with its access number", func(t *testing.T) {
		status, out := w.credentialsCall(`{"citizen":"12345678Z","kind":"dnie"}`)
		require.Equal(t, http.StatusOK, status, out)
		require.Regexp(t, `^[0-9]{6}$`, out["can"])
		chain, key := splitPEM(t, []byte(out["pem"]))
		_, err := client.ActivateDNIe(ctx, maria, wrongCAN(out["can"]), chain, key, []byte("pass"))
		require.ErrorIs(t, err, app.ErrBadProof, "a wrong CAN is refused")
		_, err = client.ActivateDNIe(ctx, maria, out["can"], chain, key, []byte("pass"))
		require.NoError(t, err)
	})
	t.Run("a certificate does not pass for a DNIe", func(t *testing.T) {
		_, out := w.credentialsCall(`{"citizen":"12345678Z","kind":"certificate"}`)
		chain, key := splitPEM(t, []byte(out["pem"]))
		_, err := client.ActivateDNIe(ctx, maria, "123456", chain, key, []byte("pass"))
		require.ErrorIs(t, err, app.ErrBadProof)
	})
	t.Run("refusals", func(t *testing.T) {
		status, _ := w.credentialsCall(`{"citizen":"00000001R","kind":"certificate"}`)
		assert.Equal(t, http.StatusNotFound, status, "not registered")
		status, _ = w.credentialsCall(`{"citizen":"12345678Z","kind":"passport"}`)
		assert.Equal(t, http.StatusBadRequest, status)
	})
}

// wrongCAN is another 6-digit number than can.
func wrongCAN(can string) string {
	b := []byte(can)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}
