package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/servicetest"
)

// TestMain lets the test binary be the slow scenario's child process, as
// the command is.
func TestMain(m *testing.M) {
	if os.Getenv(slowChildEnv) != "" {
		os.Exit(slowChild(os.Stdin, os.Stdout))
	}
	if os.Getenv(movilChildEnv) != "" {
		os.Exit(movilChild(os.Stdin, os.Stdout))
	}
	if os.Getenv(clusterChildEnv) != "" {
		os.Exit(clusterChild(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// TestLoginsSmall runs the logins scenario at a small scale on a file
// database: every login completes.
func TestLoginsSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := start(ctx, setup{citizens: 200})
	require.NoError(t, err)
	defer h.Close()
	var out bytes.Buffer
	res, err := scenarioLogins(ctx, &out, h, &options{clients: 20})
	require.NoError(t, err)
	t.Log("\n" + out.String())
	assert.Equal(t, 20, res.total)
	assert.Equal(t, res.total, res.completed, "every login completes")
	assert.Empty(t, res.errors)
	assert.Empty(t, h.logs.snapshot(), "no warning or error logged")
}

// TestLoginsOnTwoProcesses runs the logins scenario on two gateway
// processes sharing one PostgreSQL database, each request of a login going
// to the other process than the one before: every login completes, so a
// PIN requested on one process verified on the other every time.
func TestLoginsOnTwoProcesses(t *testing.T) {
	db := servicetest.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := start(ctx, setup{citizens: 40, dbPath: db, gateways: 2})
	require.NoError(t, err)
	defer h.Close()
	require.Len(t, h.backends, 2)
	var out bytes.Buffer
	res, err := scenarioLogins(ctx, &out, h, &options{clients: 10, logins: 30})
	require.NoError(t, err)
	t.Log("\n" + out.String())
	assert.Equal(t, res.total, res.completed, "every login completes")
	assert.Empty(t, res.errors)
	assert.Contains(t, out.String(), "gateway in 2 processes")
	assert.NotContains(t, out.String(), "clave:clave@", "the password is not printed")
}

// TestRunFlags runs the command as main does, at a small scale.
func TestRunFlags(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-scenario", "logins", "-clients", "5", "-citizens", "10", "-timeout", "1m"}, &out)
	require.NoError(t, err)
	assert.Contains(t, out.String(), "completed 5/5 logins (100.0 %)")
	assert.Error(t, run(context.Background(), []string{"-scenario", "nope", "-citizens", "1"}, &out))
	assert.Error(t, run(context.Background(), []string{"-logins", "20", "-citizens", "10"}, &out), "more logins than citizens")
	assert.Error(t, run(context.Background(), []string{"-scenario", "guess", "-gateways", "2"}, &out), "processes for logins only")
	assert.Error(t, run(context.Background(), []string{"-db", "postgres://127.0.0.1:1/x"}, &out), "PostgreSQL needs processes")
}

// TestAttackScenariosSmall runs the guess, junk and slow scenarios at a
// small scale: no account is taken, junk leaves the heap alone, and
// citizens log in while slow connections are held.
func TestAttackScenariosSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("attack scenarios take several seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := &options{targets: 200, guessTime: 30 * time.Second, junk: 500, junkSPIDs: 50, slow: 200, slowLogins: 10, slowHold: 20 * time.Second}

	h, err := start(ctx, setup{citizens: 20})
	require.NoError(t, err)
	defer h.Close()
	var out bytes.Buffer
	g, err := scenarioGuess(ctx, &out, h, o)
	require.NoError(t, err)
	assert.Zero(t, g.taken, "accounts taken")
	assert.Equal(t, g.legit, g.legitOK, "citizens not attacked log in meanwhile")

	j, err := scenarioJunk(ctx, &out, h, o)
	require.NoError(t, err)
	assert.Equal(t, o.junk, j.sent)
	assert.Less(t, int64(j.after.HeapInuse)-int64(j.before.HeapInuse), int64(50<<20))

	s, err := scenarioSlow(ctx, &out, h, o)
	require.NoError(t, err)
	assert.Equal(t, o.slow, s.held)
	assert.Equal(t, o.slowLogins, s.logins.completed)
	t.Log("\n" + out.String())
}
