package saml

// Namespaces used on the wire.
const (
	NSProtocol     = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSAssertion    = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSDSig         = "http://www.w3.org/2000/09/xmldsig#"
	NSXMLEnc       = "http://www.w3.org/2001/04/xmlenc#"
	NSExcC14N      = "http://www.w3.org/2001/10/xml-exc-c14n#"
	NSEIDAS        = "http://eidas.europa.eu/saml-extensions"
	NSEIDASNatural = "http://eidas.europa.eu/attributes/naturalperson"
	NSXSI          = "http://www.w3.org/2001/XMLSchema-instance"
	NSXS           = "http://www.w3.org/2001/XMLSchema"
)

// LoA is an eIDAS level of assurance, ordered low < substantial < high.
type LoA int

// Levels of assurance. The zero value is not a level: a request must name one.
const (
	LoALow LoA = iota + 1
	LoASubstantial
	LoAHigh
)

// LoA URIs as they travel in AuthnContextClassRef.
const (
	LoALowURI         = "http://eidas.europa.eu/LoA/low"
	LoASubstantialURI = "http://eidas.europa.eu/LoA/substantial"
	LoAHighURI        = "http://eidas.europa.eu/LoA/high"
)

// URI returns the eIDAS URI of the level, or "" for an invalid level.
func (l LoA) URI() string {
	switch l {
	case LoALow:
		return LoALowURI
	case LoASubstantial:
		return LoASubstantialURI
	case LoAHigh:
		return LoAHighURI
	}
	return ""
}

// String returns the short name used in configuration: low, substantial or high.
func (l LoA) String() string {
	switch l {
	case LoALow:
		return "low"
	case LoASubstantial:
		return "substantial"
	case LoAHigh:
		return "high"
	}
	return "invalid"
}

// Valid reports whether l is one of the three levels.
func (l LoA) Valid() bool { return l >= LoALow && l <= LoAHigh }

// ParseLoA accepts a level's URI or its short name.
func ParseLoA(s string) (LoA, bool) {
	switch s {
	case LoALowURI, "low":
		return LoALow, true
	case LoASubstantialURI, "substantial":
		return LoASubstantial, true
	case LoAHighURI, "high":
		return LoAHigh, true
	}
	return 0, false
}

// Attribute names of the Cl@ve profile.
const (
	AttrPersonIdentifier  = "http://eidas.europa.eu/attributes/naturalperson/PersonIdentifier"
	AttrCurrentGivenName  = "http://eidas.europa.eu/attributes/naturalperson/CurrentGivenName"
	AttrCurrentFamilyName = "http://eidas.europa.eu/attributes/naturalperson/CurrentFamilyName"
	AttrDateOfBirth       = "http://eidas.europa.eu/attributes/naturalperson/DateOfBirth"
	AttrFirstSurname      = "http://es.minhafp.clave/FirstSurname"
	AttrPartialAfirma     = "http://es.minhafp.clave/PartialAfirma"
	AttrRegisterType      = "http://es.minhafp.clave/RegisterType"
	AttrSelectedIdP       = "http://es.minhafp.clave/SelectedIdP"
	AttrRelayState        = "http://es.minhafp.clave/RelayState"
)

// Method is an authentication method of the gateway's chooser. In an
// AuthnRequest, naming a method disables it; in a Response, SelectedIdP says
// which one the citizen used.
type Method string

// Methods of the gateway. The request attribute of each is
// "http://es.minhafp.clave/<Method>IdP"; the SelectedIdP value is the Method.
const (
	MethodAfirma  Method = "AFIRMA"   // electronic certificate or DNIe
	MethodGISS    Method = "GISS"     // Cl@ve Permanente
	MethodEIDAS   Method = "EIDAS"    // citizens of other EU states
	MethodMovil   Method = "CLVMOVIL" // Cl@ve Móvil
	MethodAEATPIN Method = "AEAT"     // Cl@ve PIN
)

// Methods lists every method in chooser order.
var Methods = []Method{MethodMovil, MethodAEATPIN, MethodGISS, MethodAfirma, MethodEIDAS}

// disableAttr maps a method to the requested attribute that disables it.
var disableAttr = map[Method]struct{ name, friendly string }{
	MethodAfirma:  {"http://es.minhafp.clave/AFirmaIdP", "AFirmaIdP"},
	MethodGISS:    {"http://es.minhafp.clave/GISSIdP", "GISSIdP"},
	MethodEIDAS:   {"http://es.minhafp.clave/EIDASIdP", "EIDASIdP"},
	MethodMovil:   {"http://es.minhafp.clave/CLVMOVILIdP", "CLVMOVILIdP"},
	MethodAEATPIN: {"http://es.minhafp.clave/AEATIdP", "AEATIdP"},
}

// DisableAttribute returns the requested-attribute name that disables m on the
// chooser, or "" for an unknown method.
func (m Method) DisableAttribute() string { return disableAttr[m].name }

// MethodForDisableAttribute maps a requested-attribute name back to the method it
// disables.
func MethodForDisableAttribute(name string) (Method, bool) {
	for m, a := range disableAttr {
		if a.name == name {
			return m, true
		}
	}
	return "", false
}

// Status codes.
const (
	StatusSuccess          = "urn:oasis:names:tc:SAML:2.0:status:Success"
	StatusRequester        = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	StatusResponder        = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	StatusVersionMismatch  = "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch"
	StatusAuthnFailed      = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
	StatusRequestDenied    = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
	StatusNoPassive        = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
	StatusNoAuthnContext   = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
	StatusRequestUnsupport = "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported"
)

// Other protocol constants.
const (
	NameIDPersistent   = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	NameIDTransient    = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	NameIDUnspecified  = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	NameIDEntity       = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
	AttrNameFormatURI  = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	ConsentUnspecified = "urn:oasis:names:tc:SAML:2.0:consent:unspecified"
	ConsentObtained    = "urn:oasis:names:tc:SAML:2.0:consent:obtained"
	BearerMethod       = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	// CertificatesPath is where the gateway publishes its certificates.
	CertificatesPath = "/Proxy2/Certificates"
	// ServiceProviderPath is the gateway endpoint that receives requests.
	ServiceProviderPath = "/Proxy2/ServiceProvider"
	// LogoutIssuer is the Issuer of every gateway LogoutResponse.
	LogoutIssuer = "Cl@ve"
)

// Gateway endpoints.
const (
	PreproductionURL    = "https://se-pasarela.clave.gob.es/Proxy2/ServiceProvider"
	ProductionURL       = "https://pasarela.clave.gob.es/Proxy2/ServiceProvider"
	PreproductionIssuer = "https://se-pasarela.clave.gob.es"
	ProductionIssuer    = "https://pasarela.clave.gob.es"
)
