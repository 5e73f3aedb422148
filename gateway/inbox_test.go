package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInbox(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := NewInbox(2, func() time.Time { return now })
	ctx := context.Background()
	_, err := in.Last(ChannelSMS, "+34600000001")
	assert.ErrorIs(t, err, ErrNoMessage)
	for _, c := range []string{"A", "B", "C"} {
		require.NoError(t, in.Send(ctx, Message{Channel: ChannelSMS, To: "+34600000001", Code: c}))
		now = now.Add(time.Second)
	}
	ms := in.Messages(ChannelSMS, "+34600000001")
	require.Len(t, ms, 2, "bounded")
	assert.Equal(t, "C", ms[1].Code)
	assert.Empty(t, in.Messages(ChannelApp, "+34600000001"), "channels are separate")
	assert.Error(t, in.Send(ctx, Message{Channel: ChannelSMS}))

	since := now
	done := make(chan Message)
	go func() {
		m, err := in.Wait(ctx, ChannelApp, "12345678Z", since)
		assert.NoError(t, err)
		done <- m
	}()
	now = now.Add(time.Second)
	require.NoError(t, in.Send(ctx, Message{Channel: ChannelSMS, To: "x", Code: "other"}))
	require.NoError(t, in.Send(ctx, Message{Channel: ChannelApp, To: "12345678Z", Code: "D"}))
	assert.Equal(t, "D", (<-done).Code)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = in.Wait(cctx, ChannelApp, "nobody", since)
	assert.ErrorIs(t, err, context.Canceled)
}
