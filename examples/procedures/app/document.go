package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/clave-go/clave"
)

// row is one line of a consultation or a document: a label and its value.
type row struct{ Label, Value string }

// madeUpData is the data a procedure shows for a citizen: invented, but the
// same every time for the same person, so that a consultation looks stable.
func madeUpData(p *procedure, id *clave.Identity, now time.Time) []row {
	sum := sha256.Sum256([]byte(p.ID + "|" + id.PersonIdentifier))
	n := func(i int, mod uint64) uint64 { return binary.BigEndian.Uint64(sum[i*8:]) % mod }
	year := now.Year() - 1
	euros := func(cents uint64) string {
		return fmt.Sprintf("%d,%02d €", cents/100, cents%100)
	}
	switch p.ID {
	case "datos-fiscales":
		income := 1_800_000 + n(0, 4_000_000)
		return []row{
			{"Ejercicio", fmt.Sprint(year)},
			{"Rendimientos del trabajo", euros(income)},
			{"Retenciones", euros(income * (12 + n(1, 8)) / 100)},
			{"Cuentas bancarias declaradas", fmt.Sprint(1 + n(2, 3))},
			{"Inmuebles", fmt.Sprint(n(3, 3))},
		}
	case "vida-laboral":
		days := 2_000 + n(0, 7_000)
		return []row{
			{"Días en alta", fmt.Sprint(days)},
			{"Años, meses y días", fmt.Sprintf("%d años, %d meses, %d días", days/365, days%365/30, days%365%30)},
			{"Situación actual", []string{"Alta en el Régimen General", "Alta en el RETA", "Baja"}[n(1, 3)]},
		}
	case "puntos":
		return []row{
			{"Saldo de puntos", fmt.Sprint(8 + n(0, 8))},
			{"Permisos", []string{"B", "A2, B", "B, C1"}[n(1, 3)]},
			{"Sanciones pendientes", "Ninguna"},
		}
	default:
		return []row{
			{"Situación", "Al corriente de sus obligaciones"},
			{"Código seguro de verificación (ficticio)", strings.ToUpper(fmt.Sprintf("%x", sum[:8]))},
		}
	}
}

var documentTemplate = template.Must(template.New("doc").Parse(`<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body><main>
<p>{{.Entity}} — documento generado por una aplicación de ejemplo. Sin validez.</p>
<h1>{{.Title}}</h1>
<p>{{.Entity}} certifica, a petición de la persona interesada identificada con Cl@ve, los datos siguientes:</p>
<dl>
<dt>Titular</dt><dd>{{.Holder}}</dd>
<dt>NIF/NIE</dt><dd>{{.Document}}</dd>
{{range .Rows}}<dt>{{.Label}}</dt><dd>{{.Value}}</dd>
{{end}}</dl>
<p>Identificación: Cl@ve, nivel {{.LoA}}. Fecha de emisión: {{.Issued}}.</p>
</main></body></html>
`))

// generateDocument writes a procedure's document for a citizen: a small
// HTML page (a real agency would issue a signed PDF).
func generateDocument(e *entity, p *procedure, id *clave.Identity, now time.Time) (download, error) {
	var b bytes.Buffer
	holder := strings.TrimSpace(id.GivenName + " " + id.FamilyNames)
	err := documentTemplate.Execute(&b, map[string]any{
		"Title": p.Name, "Entity": e.Name, "Holder": holder, "Document": maskDocument(id.PersonIdentifier),
		"Rows": madeUpData(p, id, now), "LoA": id.LoA.String(), "Issued": now.Format("02/01/2006 15:04"),
	})
	if err != nil {
		return download{}, err
	}
	return download{
		Name:   p.Name + " " + now.Format("2006-01-02 1504") + ".html",
		Entity: e.Name, Procedure: p.Name, Holder: holder, Content: b.String(),
	}, nil
}
