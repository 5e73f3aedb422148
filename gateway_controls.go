package clave

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/saml"
)

// gatewayClock is the configured clock plus an offset the test controls can
// advance.
type gatewayClock struct {
	base   func() time.Time
	offset atomic.Int64
}

func (c *gatewayClock) Now() time.Time { return c.base().Add(time.Duration(c.offset.Load())) }

// controls holds what tests armed on the gateway.
type controls struct{}

// answerArmedPersona answers a new flow at once when a persona was armed for
// its service; it reports whether it did.
func (g *Gateway) answerArmedPersona(w http.ResponseWriter, r *http.Request, f *flow.Flow) bool {
	return false
}

// applyArmedFault replaces the genuine response form with an armed fault's.
func (g *Gateway) applyArmedFault(ctx context.Context, f *flow.Flow, form saml.PostForm) saml.PostForm {
	return form
}
