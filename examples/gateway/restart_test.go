package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
)

// postgresURL makes a database of the test's own on the PostgreSQL server
// of CLAVE_POSTGRES_URL (default: as .ci/services starts it) and returns its
// URL; the test is skipped when no server answers, or fails when
// CLAVE_REQUIRE_SERVICES is set.
func postgresURL(t *testing.T) string {
	t.Helper()
	admin := cmp.Or(os.Getenv("CLAVE_POSTGRES_URL"), "postgres://clave:clave@127.0.0.1:5432/clave?sslmode=disable")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := gateway.OpenDB(ctx, admin)
	if err != nil {
		if os.Getenv("CLAVE_REQUIRE_SERVICES") != "" {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("no PostgreSQL server answers (%v); .ci/services starts one", err)
	}
	defer db.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "clave_gw_" + hex.EncodeToString(b)
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if db, err := gateway.OpenDB(ctx, admin); err == nil {
			_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = db.Close()
		}
	})
	u, err := url.Parse(admin)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// A login in progress is state in the database: a gateway stopped
// gracefully and started again on the same database, secrets, key and
// address lets the citizen finish it. Run on PostgreSQL, the database a
// shared gateway uses, given by URL in the environment; its password is
// never logged.
func TestGracefulRestartOnPostgresContinuesALogin(t *testing.T) {
	dbURL := postgresURL(t)
	dir := t.TempDir()
	key, cert, err := selfSigned("gw", 48*time.Hour)
	require.NoError(t, err)
	keyPEM, err := privateKeyPEM(key)
	require.NoError(t, err)
	keyFile, certFile := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
	require.NoError(t, os.WriteFile(certFile, certificatePEM(cert), 0o600))
	env := map[string]string{"CLAVE_DB": dbURL, "CLAVE_PIN_SECRET": strings.Repeat("7a", 32),
		"CLAVE_KEY": keyFile, "CLAVE_CERT": certFile}
	addr := freeLoopbackAddr(t)
	ag := newLiveAgency(t)

	first := startGateway(t, ag, env, "-addr", addr)
	status, _ := get(t, first.base+"/readyz")
	require.Equal(t, http.StatusOK, status, "PostgreSQL answers")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newKillBrowser(t, first.base, ag.url)
	verify := b.requestPIN(ctx, b.toPINForm(ctx, b.get(ctx, ag.url+"/tramite")), maria)
	pin := b.pinFromInbox(ctx, maria.phone) // the demo inbox lives in the process
	require.NoError(t, first.stop())
	b.http.CloseIdleConnections()
	u, _ := url.Parse(dbURL)
	pw, _ := u.User.Password()
	assert.Contains(t, first.logs.String(), redactDB(dbURL), "the database named, without its password")
	assert.NotContains(t, first.logs.String(), "://clave:"+pw+"@")

	second := startGateway(t, ag, env, "-addr", addr)
	require.Equal(t, first.base, second.base)
	done := b.fill(ctx, verify, "/pin/verify", url.Values{"pin": {pin}})
	page := b.submit(ctx, done)
	assert.Contains(t, page.body, "logged in: "+maria.id)
	_, text := get(t, second.base+"/metrics")
	assert.Equal(t, "1", metricValue(text, `clave_gateway_logins_total{method="PIN",outcome="success"}`), "answered by the second")
	assert.Equal(t, "0", metricValue(text, `clave_gateway_logins_started_total`), "started by the first")
}
