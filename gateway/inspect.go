package gateway

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// Check is one rule the gateway applied to an incoming request, with its
// outcome, explained in Spanish and English for whoever is integrating.
type Check struct {
	Rule   string `json:"rule"`
	ES     string `json:"es"`
	EN     string `json:"en"`
	Passed bool   `json:"passed"`
	// Evaluated is false when an earlier failure made the rule moot.
	Evaluated bool   `json:"evaluated"`
	Detail    string `json:"detail,omitempty"`
}

// Exchange is a message the gateway received or sent, kept for inspection.
type Exchange struct {
	Time time.Time `json:"time"`
	SPID string    `json:"spid"`
	// Kind is AuthnRequest, Response, LogoutRequest or LogoutResponse.
	Kind   string `json:"kind"`
	FlowID string `json:"flow,omitempty"`
	// XML is the message, indented for reading.
	XML string `json:"xml"`
	// raw is kept instead of XML until someone looks: indenting every message
	// on the login path would cost more than the rest of the bookkeeping.
	raw []byte
	// Checks are the gateway's checks of an incoming message.
	Checks []Check `json:"checks,omitempty"`
	// Fault names the armed fault a response was replaced with, if any.
	Fault string `json:"fault,omitempty"`
	// seq orders the exchanges the inspector keeps.
	seq uint64
}

// Accepted reports whether every check passed.
func (e Exchange) Accepted() bool {
	for _, c := range e.Checks {
		if !c.Passed {
			return false
		}
	}
	return true
}

// The rules of an incoming AuthnRequest, in the order they are applied.
var requestRules = []struct{ rule, es, en string }{
	{"form", "El formulario trae SAMLRequest en base64 válido y de tamaño acotado", "The form carries a bounded, valid base64 SAMLRequest"},
	{"relaystate", "RelayState presente y de 80 bytes como máximo", "RelayState present and at most 80 bytes"},
	{"xml", "XML bien formado y seguro: sin DTD ni entidades, raíz AuthnRequest, versión 2.0", "Well-formed, safe XML: no DTD or entities, AuthnRequest root, version 2.0"},
	{"provider", "ProviderName \"<SPID>;<aplicación>\" de un proveedor registrado", "ProviderName \"<SPID>;<application>\" of a registered provider"},
	{"signature", "Firma XML válida con un certificado registrado del proveedor (RSA-SHA256/512, exc-c14n)", "Valid XML signature by a registered provider certificate (RSA-SHA256/512, exc-c14n)"},
	{"instant", "IssueInstant reciente (no futuro, máximo 10 minutos)", "Recent IssueInstant (not in the future, at most 10 minutes old)"},
	{"loa", "RequestedAuthnContext con un nivel eIDAS (low, substantial, high) y Comparison minimum", "RequestedAuthnContext with an eIDAS level (low, substantial, high) and Comparison minimum"},
	{"acs", "AssertionConsumerServiceURL registrada para el proveedor", "AssertionConsumerServiceURL registered for the provider"},
	{"destination", "Destination es el punto de entrada de esta pasarela", "Destination is this gateway's endpoint"},
	{"passive", "IsPassive=\"false\" (la pasarela siempre pide la identificación)", "IsPassive=\"false\" (the gateway always asks the citizen)"},
	{"replay", "El ID de la petición no se ha recibido antes", "The request ID was not received before"},
}

// checklist records the outcome of the request rules.
type checklist struct{ checks []Check }

func newChecklist() *checklist {
	c := &checklist{}
	for _, r := range requestRules {
		c.checks = append(c.checks, Check{Rule: r.rule, ES: r.es, EN: r.en})
	}
	return c
}

// pass marks rules passed up to and including rule.
func (c *checklist) pass(rule string) {
	for i := range c.checks {
		if !c.checks[i].Evaluated {
			c.checks[i].Evaluated, c.checks[i].Passed = true, true
		}
		if c.checks[i].Rule == rule {
			return
		}
	}
}

// fail marks the rules before rule passed and rule failed; later ones stay
// unevaluated.
func (c *checklist) fail(rule string, err error) {
	for i := range c.checks {
		if c.checks[i].Rule == rule {
			c.checks[i].Evaluated, c.checks[i].Passed = true, false
			if err != nil {
				c.checks[i].Detail = err.Error()
			}
			return
		}
		if !c.checks[i].Evaluated {
			c.checks[i].Evaluated, c.checks[i].Passed = true, true
		}
	}
}

// verified reports whether the request's signature was checked and good:
// its sender is a registered service. Every error before the signature is
// verified maps to a rule before "signature" (see ruleOf), so a failure of a
// later rule means the signature passed.
func (c *checklist) verified() bool {
	for _, ch := range c.checks {
		if ch.Rule == "signature" {
			return ch.Evaluated && ch.Passed
		}
	}
	return false
}

// failed names the rule that failed, if any.
func (c *checklist) failed() string {
	for _, ch := range c.checks {
		if ch.Evaluated && !ch.Passed {
			return ch.Rule
		}
	}
	return ""
}

// ruleOf maps a parsing error to the rule it breaks.
func ruleOf(err error) string {
	switch {
	case errors.Is(err, samlidp.ErrUnknownSP):
		return "provider"
	case errors.Is(err, saml.ErrSignatureMissing), errors.Is(err, saml.ErrSignatureInvalid), errors.Is(err, saml.ErrUntrustedKey),
		errors.Is(err, saml.ErrAlgorithm), errors.Is(err, saml.ErrWrapped):
		return "signature"
	case errors.Is(err, saml.ErrExpired), errors.Is(err, saml.ErrNotYetValid):
		return "instant"
	case errors.Is(err, saml.ErrLoA):
		return "loa"
	case errors.Is(err, saml.ErrMalformed) && strings.Contains(err.Error(), "ProviderName"):
		return "provider"
	}
	return "xml"
}

// inspector keeps the last exchanges per service for whoever integrates one:
// at most inspectPerSP per service and inspectBudget bytes of messages in
// all, the oldest dropped first whatever their service. Only exchanges of
// senders that proved who they are reach it (see checkRequest): requests
// anyone on the network can post must not fill the gateway's memory.
type inspector struct {
	mu    sync.Mutex
	bySP  map[string][]Exchange
	order []string
	// bytes is the size of the messages kept; seq numbers the exchanges in
	// the order they were kept, to find the oldest across services.
	bytes int
	seq   uint64
	// budget is inspectBudget unless a test sets it.
	budget int
}

const (
	inspectPerSP  = 50
	inspectMaxSPs = 200
	// inspectBudget bounds the bytes of messages kept for inspection, about
	// 30 of the largest messages the gateway accepts or a few thousand
	// ordinary ones.
	inspectBudget = 8 << 20
)

// record keeps e, dropping what the bounds no longer allow.
func (in *inspector) record(e Exchange) {
	if cap(e.raw) > len(e.raw)+len(e.raw)/8 {
		e.raw = bytes.Clone(e.raw) // do not pin a larger buffer
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.bySP == nil {
		in.bySP = map[string][]Exchange{}
	}
	budget := cmp.Or(in.budget, inspectBudget)
	if e.size() > budget {
		e.XML = fmt.Sprintf("(message of %d bytes, more than the inspection budget: not kept)", len(e.raw))
		e.raw = nil
	}
	if _, ok := in.bySP[e.SPID]; !ok {
		if len(in.order) >= inspectMaxSPs {
			in.dropService(in.order[0])
		}
		in.order = append(in.order, e.SPID)
	}
	in.seq++
	e.seq = in.seq
	in.bySP[e.SPID] = append(in.bySP[e.SPID], e)
	in.bytes += e.size()
	if len(in.bySP[e.SPID]) > inspectPerSP {
		in.dropOldest(e.SPID)
	}
	for in.bytes > budget {
		oldest := ""
		for _, spid := range in.order {
			if oldest == "" || in.bySP[spid][0].seq < in.bySP[oldest][0].seq {
				oldest = spid
			}
		}
		in.dropOldest(oldest)
	}
}

// size is what an exchange holds that its sender chose the length of: the
// message, and the checks' details, which may quote it.
func (e *Exchange) size() int {
	n := cap(e.raw) + len(e.XML)
	for _, c := range e.Checks {
		n += len(c.Detail)
	}
	return n
}

// dropOldest drops the oldest exchange of a service, and the service when it
// was its last. The slot is cleared so that the backing array does not keep
// the message alive.
func (in *inspector) dropOldest(spid string) {
	list := in.bySP[spid]
	in.bytes -= list[0].size()
	copy(list, list[1:])
	list[len(list)-1] = Exchange{}
	in.bySP[spid] = list[:len(list)-1]
	if len(list) == 1 {
		in.dropService(spid)
	}
}

func (in *inspector) dropService(spid string) {
	for _, e := range in.bySP[spid] {
		in.bytes -= e.size()
	}
	delete(in.bySP, spid)
	in.order = slices.DeleteFunc(in.order, func(s string) bool { return s == spid })
}

func (in *inspector) list(spid string) []Exchange {
	in.mu.Lock()
	defer in.mu.Unlock()
	src := in.bySP[spid]
	out := make([]Exchange, len(src))
	for i := range src {
		e := src[i]
		if e.XML == "" && e.raw != nil {
			e.XML = pretty(e.raw)
		}
		e.raw = nil
		out[len(src)-1-i] = e
	}
	return out
}

func (in *inspector) services() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.order...)
}

// Inspect returns the last exchanges with a service, newest first: the
// AuthnRequests received with the gateway's checks, and the Responses sent.
func (g *Gateway) Inspect(spid string) []Exchange { return g.inspect.list(spid) }

// InspectedServices lists the SPIDs with recorded exchanges, known or not.
func (g *Gateway) InspectedServices() []string { return g.inspect.services() }

// pretty indents XML for reading; what cannot be parsed is shown as received.
func pretty(raw []byte) string {
	const max = 256 << 10
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		if len(raw) > max {
			raw = raw[:max]
		}
		return string(raw)
	}
	doc.Indent(2)
	s, err := doc.WriteToString()
	if err != nil {
		return string(raw)
	}
	return s
}

// spidOf finds the SPID a request claims, before anything is verified, only
// to file the exchange under it: a byte scan is enough for that and costs no
// second parse.
func spidOf(raw []byte) string {
	const attr = "ProviderName="
	i := bytes.Index(raw, []byte(attr))
	if i < 0 || i+len(attr) >= len(raw) {
		return "(no ProviderName)"
	}
	rest := raw[i+len(attr):]
	quote := rest[0]
	if quote != '"' && quote != '\'' {
		return "(no ProviderName)"
	}
	end := bytes.IndexByte(rest[1:], quote)
	if end < 0 {
		return "(no ProviderName)"
	}
	// Cut before converting: the string made is the SPID alone, not a
	// ProviderName of any length that the SPID would keep alive.
	spid, _, _ := bytes.Cut(rest[1:1+end], []byte(";"))
	if len(spid) == 0 || len(spid) > 64 {
		return "(no ProviderName)"
	}
	return string(spid)
}
