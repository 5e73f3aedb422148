package app

// The entities and procedures of this example are made up: plausible names,
// no official data, no logos.

// kind says what a procedure gives the citizen.
type kind int

const (
	// consultation shows data on screen.
	consultation kind = iota
	// document generates a document saved in Downloads.
	document
)

type procedure struct {
	ID, Name, Description string
	Kind                  kind
}

type entity struct {
	ID, Name, Description string
	Procedures            []procedure
}

var entities = []entity{
	{ID: "aeat", Name: "Agencia Tributaria", Description: "Impuestos, declaraciones y certificados tributarios.",
		Procedures: []procedure{
			{ID: "datos-fiscales", Name: "Consulta de datos fiscales", Description: "Vea en pantalla sus datos fiscales del último ejercicio.", Kind: consultation},
			{ID: "certificado-corriente", Name: "Certificado de estar al corriente de obligaciones tributarias", Description: "Genere un certificado y guárdelo en Descargas.", Kind: document},
		}},
	{ID: "seg-social", Name: "Seguridad Social", Description: "Vida laboral, afiliación y prestaciones.",
		Procedures: []procedure{
			{ID: "vida-laboral", Name: "Consulta de vida laboral", Description: "Vea en pantalla un resumen de sus periodos de alta.", Kind: consultation},
			{ID: "certificado-afiliacion", Name: "Certificado de número de afiliación", Description: "Genere un certificado y guárdelo en Descargas.", Kind: document},
		}},
	{ID: "dgt", Name: "DGT", Description: "Permisos de conducir y vehículos.",
		Procedures: []procedure{
			{ID: "puntos", Name: "Consulta de puntos del permiso", Description: "Vea en pantalla el saldo de puntos de su permiso.", Kind: consultation},
			{ID: "informe-conductor", Name: "Informe de conductor", Description: "Genere un informe y guárdelo en Descargas.", Kind: document},
		}},
}

// findProcedure looks an entity's procedure up by their IDs.
func findProcedure(entityID, procID string) (*entity, *procedure, bool) {
	for i := range entities {
		e := &entities[i]
		if e.ID != entityID {
			continue
		}
		for j := range e.Procedures {
			if e.Procedures[j].ID == procID {
				return e, &e.Procedures[j], true
			}
		}
	}
	return nil, nil, false
}

func findEntity(id string) (*entity, bool) {
	for i := range entities {
		if entities[i].ID == id {
			return &entities[i], true
		}
	}
	return nil, false
}
