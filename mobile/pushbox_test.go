package mobile_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/mobile"
)

func appMessage(to, code string, expires time.Time) method.Message {
	return method.Message{Channel: method.App, To: to, Text: "Cl@ve PIN: " + code, Code: code, ExpiresAt: expires}
}

func codes(msgs []method.Message) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.Code)
	}
	return out
}

func TestPushBoxSend(t *testing.T) {
	c := &clock{now: t0}
	box := mobile.NewPushBox(c.Now)
	ctx := context.Background()
	require.Empty(t, box.AppMessages(citizen))

	require.NoError(t, box.Send(ctx, appMessage(citizen, "111111", t0.Add(2*time.Minute))))
	c.Advance(time.Minute)
	require.NoError(t, box.Send(ctx, appMessage(citizen, "222222", c.Now().Add(10*time.Minute))))
	require.NoError(t, box.Send(ctx, method.Message{Channel: method.App, To: citizen, Text: "no code, no expiry"}))
	require.NoError(t, box.Send(ctx, appMessage(otherOne, "333333", c.Now().Add(time.Minute))))

	got := box.AppMessages(citizen)
	assert.Equal(t, []string{"", "222222", "111111"}, codes(got), "newest first")
	assert.Equal(t, c.Now(), got[1].SentAt, "stamped on sending")
	assert.Equal(t, t0, got[2].SentAt)
	assert.Equal(t, []string{"333333"}, codes(box.AppMessages(otherOne)))

	// Copies: changing what was returned changes nothing kept.
	got[1].Code = "tampered"
	assert.Equal(t, "222222", box.AppMessages(citizen)[1].Code)

	// Expired messages are dropped.
	c.Advance(time.Minute)
	assert.Equal(t, []string{"", "222222"}, codes(box.AppMessages(citizen)))
	assert.Empty(t, box.AppMessages(otherOne))
	require.NoError(t, box.Send(ctx, appMessage(citizen, "444444", c.Now())), "an expired message is dropped, not refused")
	assert.Equal(t, []string{"", "222222"}, codes(box.AppMessages(citizen)))

	// Looked up in any spelling, kept under the normalised one.
	assert.Len(t, box.AppMessages("12.345.678-z"), 2)
	assert.Empty(t, box.AppMessages("not an id"))
}

func TestPushBoxRefuses(t *testing.T) {
	box := mobile.NewPushBox(nil)
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	for name, c := range map[string]struct {
		m    method.Message
		want error
	}{
		"SMS":              {method.Message{Channel: method.SMS, To: "+34600000000", Code: "1"}, mobile.ErrWrongChannel},
		"no channel":       {method.Message{To: citizen}, mobile.ErrWrongChannel},
		"phone number":     {appMessage("+34600000000", "1", exp), mobile.ErrBadCitizen},
		"not normalised":   {appMessage("12.345.678-z", "1", exp), mobile.ErrBadCitizen},
		"bad check letter": {appMessage("12345678A", "1", exp), mobile.ErrBadCitizen},
		"eIDAS":            {appMessage("DE/ES/12345", "1", exp), mobile.ErrBadCitizen},
	} {
		require.ErrorIs(t, box.Send(ctx, c.m), c.want, name)
	}
	long := appMessage(citizen, "1", exp)
	long.Text = string(make([]byte, 4096))
	require.Error(t, box.Send(ctx, long))
	require.Empty(t, box.AppMessages(citizen))
}

func TestPushBoxBounds(t *testing.T) {
	c := &clock{now: t0}
	box := mobile.NewPushBox(c.Now)
	ctx := context.Background()
	for i := range 25 {
		require.NoError(t, box.Send(ctx, appMessage(citizen, fmt.Sprint(i), t0.Add(time.Hour))))
	}
	got := box.AppMessages(citizen)
	require.Len(t, got, 20, "at most 20 per citizen")
	assert.Equal(t, "24", got[0].Code)
	assert.Equal(t, "5", got[19].Code)

	// The box of the citizen least recently sent to goes first.
	require.NoError(t, box.Send(ctx, appMessage(otherOne, "x", t0.Add(time.Hour))))
	for i := range 100_000 - 2 {
		require.NoError(t, box.Send(ctx, appMessage(dniOf(1_000_000+i), "y", t0.Add(time.Hour))))
	}
	assert.Len(t, box.AppMessages(citizen), 20, "100,000 citizens fit")
	assert.Len(t, box.AppMessages(otherOne), 1)
	require.NoError(t, box.Send(ctx, appMessage(dniOf(2_000_000), "z", t0.Add(time.Hour))))
	assert.Empty(t, box.AppMessages(citizen), "the oldest box was forgotten")
	assert.Len(t, box.AppMessages(otherOne), 1)
}

func TestPushBoxSignals(t *testing.T) {
	box := mobile.NewPushBox(nil)
	sig := mobile.NewLocalSignals()
	box.Signals = sig
	wake := make(chan struct{}, 8)
	stop := sig.Subscribe(mobile.CitizenTopic(citizen), func() { wake <- struct{}{} })
	defer stop()
	require.NoError(t, box.Send(context.Background(), appMessage(citizen, "123456", time.Now().Add(time.Minute))))
	select {
	case <-wake:
	default:
		t.Fatal("no signal after Send")
	}
	require.Error(t, box.Send(context.Background(), appMessage("bad", "1", time.Now().Add(time.Minute))))
	select {
	case <-wake:
		t.Fatal("signal for a refused message")
	default:
	}
}

func TestPushBoxConcurrent(t *testing.T) {
	box := mobile.NewPushBox(nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				who := []string{citizen, otherOne}[j%2]
				_ = box.Send(context.Background(), appMessage(who, fmt.Sprint(i, j), time.Now().Add(time.Minute)))
				_ = box.AppMessages(who)
			}
		})
	}
	wg.Wait()
	assert.Len(t, box.AppMessages(citizen), 20)
}
