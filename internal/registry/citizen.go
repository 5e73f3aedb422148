// Package registry is the reference gateway's list of citizens registered in
// Cl@ve: who they are, the contrast data that proves they hold their DNI or
// NIE, the mobile number that receives their SMS, and how far their
// registration went. Every login method reads it (through method.Citizens);
// only registration flows and the demo seed write it.
//
// The Citizen type itself is public (method.Citizen), so that methods outside
// this module can read it; this package stores it.
//
// Identifiers are personal data: no error of this package carries a full DNI
// or NIE, a phone number or an email, only masked forms and field names, so
// errors are safe to log. Callers still must not tell a citizen whether an
// identifier is registered (DESIGN §3); [store.ErrNotFound] is for the
// gateway, not for the page.
package registry

import (
	"github.com/clave-go/clave/gateway/method"
)

// The citizen types, defined with the method contract.
type (
	Citizen    = method.Citizen
	Level      = method.Level
	Status     = method.Status
	FieldError = method.FieldError
)

// Levels and statuses.
const (
	LevelBasic    = method.LevelBasic
	LevelAdvanced = method.LevelAdvanced
	StatusActive  = method.StatusActive
	StatusBlocked = method.StatusBlocked
	StatusGaveUp  = method.StatusGaveUp
)

// ErrInvalid is wrapped by every validation failure.
var ErrInvalid = method.ErrInvalid

// NormalizePhone returns a Spanish mobile number in E.164.
func NormalizePhone(s string) (string, error) { return method.NormalizePhone(s) }
