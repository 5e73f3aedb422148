package main

import (
	"flag"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFlags(t *testing.T) {
	_, err := parseFlags([]string{"-h"})
	assert.ErrorIs(t, err, flag.ErrHelp)
	o, err := parseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8081", o.addr)
	o, err = parseFlags([]string{"-env", "custom", "-gateway-url", "http://127.0.0.1:9/Proxy2/ServiceProvider", "-gateway-issuer", "http://127.0.0.1:9"})
	require.NoError(t, err)
	cfg, pc, fetcher, err := buildConfig(o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	assert.NotNil(t, fetcher)
	assert.Equal(t, "http://127.0.0.1:9", pc.GatewayBaseURL, "the PIN API lives at the gateway's root")
	assert.Equal(t, "S0000000E_E00000000", pc.SPID)
	assert.Equal(t, "http://127.0.0.1:8081/clave/acs", cfg.ACSURL)
}
