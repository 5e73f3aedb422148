package main

import (
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/pin"
)

// The demo's limits. One person trying the demo logs in as the same
// documented citizen, from the same address, again and again; the real
// gateway's limits, which the reference gateway keeps by default, would lock
// them out after the fifth Cl@ve PIN in ten minutes. Only the limits on how
// often things may be asked for are raised: the rules on wrong PINs (the
// phone asked for after 10 failures, a block after 30) stay the real ones, so
// that the demo still shows them.
var (
	// demoPIN lets a citizen ask for 60 PINs per 10 minutes and 1,000 a day
	// (the real gateway: 5 and 20).
	demoPIN = pin.Config{MaxPerWindow: 60, MaxPerDay: 1000}
	// demoPINLimits let one address ask for 200 PINs and type 400 per 10
	// minutes, for 50 different citizens (the real gateway: 20, 40 and 10).
	demoPINLimits = pin.Limits{ClientRequests: 200, ClientAttempts: 400, ClientIdentifiers: 50}
	// demoMobileLimits do the same for Cl@ve Móvil: 200 logins without QR
	// per address and 100 notifications per citizen per 10 minutes (the real
	// gateway: 20 and 10).
	demoMobileLimits = mobile.MethodLimits{ClientPushes: 200, ClientIdentifiers: 50, ClientAttempts: 400,
		CitizenPushes: 100}
)

// limitsNote is what the demo says of its limits at start.
const limitsNote = `Limits: this demo lets a citizen ask for 60 Cl@ve PINs per 10 minutes and 1,000 a day (the real
gateway: 5 and 20), and one address ask for 200 per 10 minutes, so the same citizen can log in again and
again. Wrong PINs count as on the real gateway: the phone is asked for after 10, the citizen blocked after 30.`
