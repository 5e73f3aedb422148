package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/registry"
)

// Persona outcomes, the Outcome of a Persona.
const (
	// OutcomeApproves: the citizen confirms at once; success at substantial.
	OutcomeApproves = "approves"
	// OutcomeDeclines: the citizen declines; Requester/RequestDenied, which
	// services show as a cancelled login.
	OutcomeDeclines = "declines"
	// OutcomeTimesOut: the citizen never answers; nothing is ever posted back
	// and the login expires at the gateway.
	OutcomeTimesOut = "times out"
	// OutcomeNoDevice: the citizen has no active Cl@ve app, so PINs go by SMS;
	// headless, it approves like OutcomeApproves.
	OutcomeNoDevice = "no device (SMS)"
	// OutcomeBlocked: the registration is blocked; Responder/AuthnFailed, and
	// no PIN is ever delivered.
	OutcomeBlocked = "blocked"
	// OutcomeBasic: basic registration only; success at low, which a service
	// that asked for substantial must refuse.
	OutcomeBasic = "basic registration"
	// OutcomeGaveUp: the citizen gave up Cl@ve; Responder/AuthnFailed, and no
	// PIN is ever delivered.
	OutcomeGaveUp = "gave up Cl@ve"
)

// Persona is a reserved test citizen with a fixed outcome (see Personas).
type Persona struct {
	// ID is the persona's DNI or NIE, with a valid check letter; ArmPersona
	// takes it.
	ID string
	// Name is the full name the gateway asserts: given name and surnames.
	Name string
	// Outcome is one of the Outcome constants.
	Outcome string
}

// personaDef is a persona with what the registry needs.
type personaDef struct {
	Persona
	id                                   dni.ID
	given, first, second, phone, support string
	level                                registry.Level
	status                               registry.Status
}

const personaApproveID = "99999901H"

// personaValidUntil is the contrast datum of every DNI persona (01/01/2040).
var personaValidUntil = time.Date(2040, time.January, 1, 0, 0, 0, 0, time.UTC)

var personaDefs = func() []personaDef {
	mk := func(id, given, first, second, phone, support, outcome string, level registry.Level, status registry.Status) personaDef {
		name := given + " " + first
		if second != "" {
			name += " " + second
		}
		return personaDef{
			Persona: Persona{ID: id, Name: name, Outcome: outcome}, id: dni.MustParse(id),
			given: given, first: first, second: second, phone: phone, support: support, level: level, status: status,
		}
	}
	adv, basic := registry.LevelAdvanced, registry.LevelBasic
	active := registry.StatusActive
	return []personaDef{
		mk(personaApproveID, "ANA", "APRUEBA", "PRUEBA", "+34699999901", "", OutcomeApproves, adv, active),
		mk("99999902L", "BORJA", "RECHAZA", "PRUEBA", "+34699999902", "", OutcomeDeclines, adv, active),
		mk("99999903C", "CARMEN", "NOCONTESTA", "PRUEBA", "+34699999903", "", OutcomeTimesOut, adv, active),
		mk("Y9999904R", "DIEGO", "SINMOVIL", "", "+34699999904", "E99999904", OutcomeNoDevice, adv, active),
		mk("99999906T", "ELENA", "BLOQUEADA", "PRUEBA", "+34699999906", "", OutcomeBlocked, adv, registry.StatusBlocked),
		mk("99999907R", "FELIPE", "BASICO", "PRUEBA", "+34699999907", "", OutcomeBasic, basic, active),
		mk("99999908W", "GLORIA", "RENUNCIA", "PRUEBA", "+34699999908", "", OutcomeGaveUp, adv, registry.StatusGaveUp),
	}
}()

// citizen is the persona's registration.
func (p personaDef) citizen() Citizen {
	c := Citizen{
		ID: p.id.String(), SupportNumber: p.support,
		GivenName: p.given, FirstSurname: p.first, SecondSurname: p.second,
		DateOfBirth: time.Date(1990, time.January, 1, 0, 0, 0, 0, time.UTC),
		Phone:       p.phone, Email: "persona@example.es",
		Level: p.level, Status: p.status,
	}
	if p.id.Kind() == dni.KindDNI {
		c.ValidUntil = personaValidUntil
	}
	return c
}

// Personas lists the reserved test citizens, in a fixed order. Headless
// (ArmPersona), the next login of a service ends at once with the persona's
// outcome; through the gateway's pages they are ordinary Cl@ve PIN citizens
// whose registry state gives the same result: the blocked and gave-up ones
// never receive a PIN, the basic one reaches only low. Their contrast datum
// is the DNI validity date 01/01/2040, or the NIE support number E99999904;
// their SMS go to +34 699 999 9xx (see Inbox).
//
// The personas that approve, decline or never answer, and the basic one,
// have an active Cl@ve Móvil device: through the pages, a login without QR
// for them is answered by their phone at once (or never); the one without a
// device gets the SMS PIN fallback after the 60-second countdown, and their
// Cl@ve PINs go by SMS, while the others' go to the app. Headless answers
// come as Cl@ve Móvil (SelectedIdP CLVMOVIL), as their story is; they
// assert the persona's own level of assurance even when the request asked
// for more, so that services prove they check it.
func Personas() []Persona {
	out := make([]Persona, len(personaDefs))
	for i, p := range personaDefs {
		out[i] = p.Persona
	}
	return out
}

// SeedPersonas registers (or restores) the personas of Personas in the
// gateway's registry. Their numbers are reserved; seeding fails if another
// citizen already uses one of their phones.
func (g *Gateway) SeedPersonas(ctx context.Context) error {
	for _, p := range personaDefs {
		if err := g.citizens.Put(ctx, p.citizen()); err != nil {
			return fmt.Errorf("gateway: persona %s: %w", p.ID, err)
		}
	}
	return g.activatePersonaPhones(ctx)
}
