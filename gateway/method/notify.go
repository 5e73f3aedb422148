package method

import (
	"context"
	"time"
)

// Channel says how a Message travels.
type Channel string

// Channels.
const (
	// SMS goes to the citizen's registered mobile number.
	SMS Channel = "sms"
	// App is a push to the citizen's active Cl@ve app.
	App Channel = "app"
)

// Message is one notification to a citizen.
type Message struct {
	Channel Channel
	// To is the phone number (E.164, "+34600000000") for SMS, the citizen's
	// identifier for App.
	To string
	// Text is what the citizen reads.
	Text string
	// Code is the secret the message carries (a PIN, an OTP), so that a
	// scripted phone can use it without parsing Text.
	Code string
	// SentAt is set by the Notifier when the message leaves.
	SentAt time.Time
	// ExpiresAt is when Code stops being valid, zero when the message
	// carries none; an app inbox shows the time left and drops the
	// message then.
	ExpiresAt time.Time
}

// Notifier delivers messages: the gateway's SMS provider and app push
// service. Implementations must never log Code or Text, which carry secrets.
type Notifier interface {
	Send(ctx context.Context, m Message) error
}
