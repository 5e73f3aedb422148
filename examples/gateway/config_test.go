package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envOf is a process environment made of vars only.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	name := filepath.Join(dir, "gateway.json")
	require.NoError(t, os.WriteFile(name, []byte(content), 0o600))
	return name
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sps.json"), []byte(`{"service_providers": []}`), 0o600))
	file := writeConfig(t, dir, `{
	  "max_connections": 100, "log_level": "debug", "log_format": "json", "shutdown_timeout": "45s",
	  "sp_config": "sps.json", "personas": false, "db": "gw.db", "addr": "127.0.0.1:9100"}`)

	o, err := loadOptions(nil, envOf(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, defaultMaxConnections, o.maxConns)
	assert.Equal(t, defaultAddr, o.addr)
	assert.Equal(t, ":memory:", o.db)
	assert.True(t, o.personas)
	assert.Equal(t, "text", o.logFormat)
	assert.Equal(t, defaultShutdownTimeout, o.shutdownTimeout)
	assert.Equal(t, "default", o.from["max_connections"].String())

	// The file over the defaults; its relative paths are the file's.
	o, err = loadOptions([]string{"-config", file}, envOf(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 100, o.maxConns)
	assert.Equal(t, "json", o.logFormat)
	assert.Equal(t, 45*time.Second, o.shutdownTimeout)
	assert.False(t, o.personas)
	assert.Equal(t, filepath.Join(dir, "sps.json"), o.spConfig)
	assert.Equal(t, filepath.Join(dir, "gw.db"), o.db)
	assert.Equal(t, `file `+file+`, key "max_connections"`, o.from["max_connections"].String())

	// The environment over the file (CLAVE_CONFIG names it too); an empty
	// variable is an unset one.
	env := envOf(map[string]string{"CLAVE_CONFIG": file, "CLAVE_MAX_CONNECTIONS": "200", "CLAVE_LOG_FORMAT": "",
		"CLAVE_PERSONAS": "true", "CLAVE_ADDR": "127.0.0.1:9200"})
	o, err = loadOptions(nil, env, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 200, o.maxConns)
	assert.Equal(t, "json", o.logFormat, "the file's, under an empty variable")
	assert.True(t, o.personas)
	assert.Equal(t, "127.0.0.1:9200", o.addr)
	assert.Equal(t, "env CLAVE_MAX_CONNECTIONS", o.from["max_connections"].String())

	// Flags over everything.
	o, err = loadOptions([]string{"-max-connections", "300", "-personas=false", "-log-level", "warn"}, env, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 300, o.maxConns)
	assert.False(t, o.personas)
	assert.Equal(t, "WARN", o.logLevel.String())
	assert.Equal(t, "flag -max-connections", o.from["max_connections"].String())
	assert.Equal(t, "json", o.logFormat, "still the file's")

	// Secrets from the environment or the file; -pin-secret still works.
	secret := strings.Repeat("ab", 32)
	o, err = loadOptions(nil, envOf(map[string]string{"CLAVE_PIN_SECRET": secret, "CLAVE_ADMIN_TOKEN": "a-token-of-16-chars"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, secret, o.pinSecret)
	assert.Equal(t, "a-token-of-16-chars", o.adminToken)
	o, err = loadOptions([]string{"-pin-secret", strings.Repeat("cd", 32)}, envOf(map[string]string{"CLAVE_PIN_SECRET": secret}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("cd", 32), o.pinSecret)
	file2 := writeConfig(t, t.TempDir(), `{"pin_secret": "`+secret+`", "admin_token": "a-token-of-16-chars"}`)
	o, err = loadOptions([]string{"-config", file2}, envOf(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, secret, o.pinSecret)
	assert.Equal(t, "a-token-of-16-chars", o.adminToken)

	// The log line of the configuration shows where each value came from,
	// and the secrets only as set.
	var logged bytes.Buffer
	newLogger(&logged, "json", 0).Info("configuration", "settings", o.logValue())
	assert.Contains(t, logged.String(), `"pin_secret":"(set) [file `)
	assert.Contains(t, logged.String(), `"addr":"127.0.0.1:9000 [default]"`)
	assert.NotContains(t, logged.String(), secret)
	assert.NotContains(t, logged.String(), "a-token-of-16-chars")
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "k.pem")
	require.NoError(t, os.WriteFile(pem, []byte("x"), 0o600))
	fileWith := func(content string) []string { return []string{"-config", writeConfig(t, t.TempDir(), content)} }
	const short = "abcd"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		// want are all in the error; never must not be.
		want  []string
		never string
	}{
		{name: "address", args: []string{"-addr", "256.0.0.1:1"},
			want: []string{`addr = "256.0.0.1:1" (flag -addr): want host:port`}},
		{name: "port", env: map[string]string{"CLAVE_ADDR": "localhost:99999"},
			want: []string{`addr = "localhost:99999" (env CLAVE_ADDR)`, "port from 0 to 65535"}},
		{name: "base URL scheme", args: fileWith(`{"base_url": "ftp://gw.example.es"}`),
			want: []string{`base_url = "ftp://gw.example.es" (file `, `key "base_url"): want an absolute http or https URL`}},
		{name: "base URL path", args: []string{"-base-url", "https://gw.example.es/clave"},
			want: []string{"base_url", "without path"}},
		{name: "database URL", args: []string{"-db", "mysql://gw"},
			want: []string{`db = "mysql://gw" (flag -db): want ":memory:", a SQLite file, or a postgres:// URL`}},
		{name: "database directory", args: []string{"-db", filepath.Join(dir, "none", "gw.db")},
			want: []string{"db = ", "an existing directory"}},
		{name: "services file", args: []string{"-sp-config", filepath.Join(dir, "none.json")},
			want: []string{"sp_config = ", "(flag -sp-config): want a readable file"}},
		{name: "key without cert", args: []string{"-key", pem},
			want: []string{"cert: required with key (from flag -key)"}},
		{name: "cert without key", env: map[string]string{"CLAVE_CERT": pem},
			want: []string{"key: required with cert (from env CLAVE_CERT)"}},
		{name: "personas", env: map[string]string{"CLAVE_PERSONAS": "maybe"},
			want: []string{`personas = "maybe" (env CLAVE_PERSONAS): want true or false`}},
		{name: "connections", args: []string{"-max-connections", "10"},
			want: []string{`max_connections = "10" (flag -max-connections): want a whole number from 32 to 1048576`}},
		{name: "log format", args: fileWith(`{"log_format": "xml"}`),
			want: []string{`log_format = "xml"`, `want "text" or "json"`}},
		{name: "log level", args: []string{"-log-level", "verbose"},
			want: []string{`log_level = "verbose" (flag -log-level): want debug, info, warn or error`}},
		{name: "shutdown timeout unit", env: map[string]string{"CLAVE_SHUTDOWN_TIMEOUT": "20"},
			want: []string{`shutdown_timeout = "20" (env CLAVE_SHUTDOWN_TIMEOUT): want a duration from 1s to 1h, such as 20s`}},
		{name: "shutdown timeout zero", args: []string{"-shutdown-timeout", "0s"},
			want: []string{"shutdown_timeout", "from 1s to 1h"}},
		{name: "short pin secret", env: map[string]string{"CLAVE_PIN_SECRET": short},
			want:  []string{"pin_secret = (secret, 4 characters) (env CLAVE_PIN_SECRET): want hexadecimal of at least 32 bytes"},
			never: short},
		{name: "pin secret not hex", args: []string{"-pin-secret", strings.Repeat("zz", 32)},
			want: []string{"pin_secret = (secret, 64 characters) (flag -pin-secret)"}, never: "zzzz"},
		{name: "short admin token", args: fileWith(`{"admin_token": "tooshort"}`),
			want: []string{"admin_token = (secret, 8 characters) (file ", "want at least 16 printable characters"}, never: "tooshort"},
		{name: "admin token is no flag", args: []string{"-admin-token", "a-token-of-16-chars"},
			want: []string{"flag provided but not defined: -admin-token"}},
		{name: "postgres needs a key and a pin secret", env: map[string]string{"CLAVE_DB": "postgres://gw:hunter2@db.example:5432/clave"},
			want: []string{"key, cert: required with a PostgreSQL database (db from env CLAVE_DB)",
				"pin_secret: required with a PostgreSQL database"}},
		{name: "postgres without host", args: []string{"-db", "postgres:///clave"}, want: []string{"a PostgreSQL URL"}},
		{name: "postgres password never shown", args: []string{"-db", "postgres://gw:hunter2@/clave"},
			want: []string{`db = "postgres://gw:xxxxx@/clave" (flag -db)`}, never: "hunter2"},
		{name: "connection string", env: map[string]string{"CLAVE_DB": "host=db user=gw password=hunter2"},
			want: []string{`db = "(connection string)" (env CLAVE_DB): want a postgres:// URL`}, never: "hunter2"},
		{name: "unknown file key", args: fileWith("{\n\"addr\": \"127.0.0.1:1\",\n\"adress\": \"x\"}"),
			want: []string{"line 3", `unknown setting "adress" (known: addr, base_url,`}},
		{name: "file key twice", args: fileWith(`{"addr": "127.0.0.1:1", "addr": "127.0.0.1:2"}`),
			want: []string{`setting "addr" given twice`}},
		{name: "file value type", args: fileWith(`{"addr": ["127.0.0.1:1"]}`),
			want: []string{`"addr": want a string, a number or true/false`}},
		{name: "file not an object", args: fileWith(`["addr"]`), want: []string{"want a JSON object of settings"}},
		{name: "file trailing data", args: fileWith(`{"addr": "127.0.0.1:1"} {}`), want: []string{"want nothing after the object"}},
		{name: "missing file", args: []string{"-config", filepath.Join(dir, "none.json")},
			want: []string{"config (-config or CLAVE_CONFIG): open "}},
		{name: "stray argument", args: []string{"extra"}, want: []string{`unexpected argument "extra"`}},
		{name: "every problem at once", args: []string{"-addr", "x", "-log-level", "loud"},
			env: map[string]string{"CLAVE_MAX_CONNECTIONS": "many"}, want: []string{"addr = ", "log_level = ", "max_connections = "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadOptions(tc.args, envOf(tc.env), io.Discard)
			require.Error(t, err)
			var cerr *configError
			assert.ErrorAs(t, err, &cerr)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			if tc.never != "" {
				assert.NotContains(t, err.Error(), tc.never, "a secret in an error")
			}
		})
	}
}

func TestRedactDB(t *testing.T) {
	for in, want := range map[string]string{
		":memory:":                                   ":memory:",
		"/var/lib/clave/gw.db":                       "/var/lib/clave/gw.db",
		"postgres://gw:hunter2@db:5432/clave":        "postgres://gw:xxxxx@db:5432/clave",
		"postgres://gw@db/clave?password=hunter2":    "postgres://gw@db/clave?password=xxxxx",
		"postgresql://db/clave?sslmode=verify-full":  "postgresql://db/clave?sslmode=verify-full",
		"postgres://gw:hunter2@db/clave?sslmode=off": "postgres://gw:xxxxx@db/clave?sslmode=off",
	} {
		assert.Equal(t, want, redactDB(in), in)
	}
	err := redactPassword(errors.New("cannot reach postgres://gw:hunter2@db"), "postgres://gw:hunter2@db/clave")
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	err := runWith(context.Background(), []string{"-h"}, runEnv{lookupEnv: envOf(nil), stderr: &out})
	assert.ErrorIs(t, err, flag.ErrHelp)
	for _, s := range settings {
		assert.Contains(t, out.String(), s.envName())
		assert.Contains(t, out.String(), `key "`+s.key+`"`)
		if s.hasFlag() {
			assert.Contains(t, out.String(), "-"+s.flagName())
		}
	}
	assert.Contains(t, out.String(), "/readyz")
}

// The command exits 0 on -h, without printing the secrets it was given,
// and 2 on a bad setting, naming it.
func TestCommandExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway as a child process: skipped in -short mode")
	}
	bin, err := os.Executable()
	require.NoError(t, err)
	secret, token := strings.Repeat("5e", 32), "admin-token-never-shown"
	cmd := exec.Command(bin, "-h")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CLAVE_PIN_SECRET="+secret, "CLAVE_ADMIN_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "exit status 0: %s", out)
	assert.Contains(t, string(out), "Usage: gateway")
	assert.NotContains(t, string(out), secret)
	assert.NotContains(t, string(out), token)

	cmd = exec.Command(bin, "-max-connections", "1")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CLAVE_PIN_SECRET=abcd")
	out, err = cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	assert.Equal(t, 2, exit.ExitCode())
	assert.Contains(t, string(out), `max_connections = "1" (flag -max-connections)`)
	assert.Contains(t, string(out), "pin_secret = (secret, 4 characters) (env CLAVE_PIN_SECRET)")
	assert.NotContains(t, string(out), "Usage:", "a bad value is not a usage error")
}
