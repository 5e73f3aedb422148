package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMovilSmall runs the movil scenario at a small scale, its gateway in a
// child process as the command runs it: every login is held with its event
// stream and its phone's long-poll open, every confirmation reaches its
// waiting page and ends the login at the agency, every other login is then
// pushed, and the gateway logs no warning or error. Timings are printed,
// not asserted.
func TestMovilSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := scenarioMovil(ctx, &out, &options{logins: 50, movilConfirm: 20, movilRate: 100, movilIdle: time.Second})
	t.Log("\n" + out.String())
	require.NoError(t, err)
	assert.Equal(t, 50, res.activated, "phones activated")
	assert.Equal(t, 50, res.held, "logins held")
	assert.EqualValues(t, 50, res.held1.Events, "event streams the gateway serves")
	assert.EqualValues(t, 50, res.held1.Polls, "long-polls the gateway serves")
	assert.Equal(t, 20, res.tried)
	assert.Equal(t, 20, res.confirmed, "confirmations seen on their waiting page")
	assert.Equal(t, 20, res.completed, "logins ended at the agency")
	assert.Len(t, res.confirmToPage, 20)
	assert.Equal(t, 30, res.pushed)
	assert.Equal(t, 30, res.pushedHeld, "the rest pushed, their push page's stream open")
	assert.EqualValues(t, 30, res.held2.Events)
	assert.Zero(t, res.failures.total(), "failures")
	assert.Empty(t, res.held2.Logs, "gateway warnings and errors")
	assert.Positive(t, res.peak.HWM, "the gateway's peak memory is read")
	assert.Contains(t, out.String(), "held 50/50 logins")
}
