package gateway

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"

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

// ruleOf maps a parsing error to the rule it breaks.
func ruleOf(err error) string {
	switch {
	case errors.Is(err, saml.ErrUnknownSP):
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

// inspector keeps the last exchanges per service.
type inspector struct {
	mu    sync.Mutex
	bySP  map[string][]Exchange
	order []string
}

const (
	inspectPerSP  = 50
	inspectMaxSPs = 200
)

func (in *inspector) record(e Exchange) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.bySP == nil {
		in.bySP = map[string][]Exchange{}
	}
	if _, ok := in.bySP[e.SPID]; !ok {
		// Unknown SPIDs come from anyone on the network: bound how many are kept.
		if len(in.order) >= inspectMaxSPs {
			delete(in.bySP, in.order[0])
			in.order = in.order[1:]
		}
		in.order = append(in.order, e.SPID)
	}
	list := append(in.bySP[e.SPID], e)
	if len(list) > inspectPerSP {
		list = list[len(list)-inspectPerSP:]
	}
	in.bySP[e.SPID] = list
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
	spid, _, _ := strings.Cut(string(rest[1:1+end]), ";")
	if spid == "" || len(spid) > 64 {
		return "(no ProviderName)"
	}
	return spid
}
