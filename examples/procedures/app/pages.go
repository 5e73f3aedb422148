package app

import (
	"html/template"
	"strings"
)

// The style sheet rides in each page under the page's CSP nonce: the policy
// lets nothing else in, and nothing comes from outside.
const styleSheet = `
:root{--azul:#0b4a8b;--fondo:#f4f6f9;--error:#a4161a;--ok:#1b6b2f}
*{box-sizing:border-box}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c1c1c;background:var(--fondo)}
header{background:var(--azul);color:#fff;padding:.75rem 1rem}
header a{color:#fff;margin-right:1rem}
header .marca{font-weight:700;font-size:1.1rem;text-decoration:none}
main{max-width:46rem;margin:1rem auto;padding:1rem;background:#fff;border-radius:.5rem}
a{color:var(--azul)}
a:focus,button:focus,input:focus{outline:3px solid #f2a900;outline-offset:2px}
ul.opciones{list-style:none;padding:0}
ul.opciones li{border:1px solid #ccd;border-radius:.4rem;margin:.5rem 0;padding:.75rem}
label{display:block;font-weight:600;margin-top:.75rem}
input[type=text]{width:100%;max-width:24rem;padding:.5rem;font-size:1rem;border:1px solid #667;border-radius:.3rem}
input.codigo{max-width:8rem;text-transform:uppercase;letter-spacing:.2em}
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem;border:0;border-radius:.3rem;background:var(--azul);color:#fff;cursor:pointer}
button.secundario{background:#fff;color:var(--azul);border:1px solid var(--azul)}
button.peligro{background:var(--error)}
.ayuda{color:#555;font-size:.9rem;margin:.2rem 0}
.error{color:var(--error);font-weight:600}
.alerta{border-left:4px solid var(--error);background:#fdecea;padding:.75rem;margin:1rem 0}
.aviso{border-left:4px solid var(--ok);background:#e9f5ec;padding:.75rem;margin:1rem 0}
.codigo-grande{font-size:2rem;font-weight:700;letter-spacing:.3em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}
dt{font-weight:600}dd{margin:0}
fieldset{border:1px solid #ccd;border-radius:.4rem;margin-top:1rem}
.en-linea{display:inline}
@media (max-width:30rem){dl{grid-template-columns:1fr}main{margin:0;border-radius:0}}
`

const layout = `<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Trámites con Cl@ve</title><style nonce="{{.Nonce}}">` + styleSheet + `</style></head>
<body><header><a class="marca" href="/">Trámites con Cl@ve</a>
<nav aria-label="Principal" class="en-linea"><a href="/usuarios">Usuarios guardados</a><a href="/descargas">Descargas</a></nav></header>
<main>
<h1>{{.Title}}</h1>
{{with .Error}}<div class="alerta" role="alert"><p>{{.Message}}</p>{{with .Next}}<p>{{.}}</p>{{end}}</div>{{end}}
{{with .Notice}}<div class="aviso" role="status">{{.}}</div>{{end}}
{{template "content" .}}
</main></body></html>`

// csrfField goes in every form; the token matches the browser's cookie.
const csrfField = `<input type="hidden" name="csrf" value="{{.CSRF}}">`

var pageSources = map[string]string{
	"home": `<p>Elija cómo quiere identificarse para hacer su trámite.</p>
<ul class="opciones">
<li><a href="/entidades?via=pin"><strong>Cl@ve PIN</strong></a><p class="ayuda">Con un PIN que recibe en la app Cl@ve o por SMS. Puede guardar sus datos en esta aplicación.</p></li>
<li>{{if .SAML}}<a href="/entidades?via=pasarela"><strong>Otros métodos de Cl@ve</strong></a>{{else}}<strong>Otros métodos de Cl@ve</strong>{{end}}
<p class="ayuda">Cl@ve Móvil, Cl@ve Permanente, certificado o DNIe, a través de la pasarela Cl@ve{{if not .SAML}} (no incluido en este ejemplo){{end}}.</p></li>
</ul>`,

	"entities": `<p>{{.Data.Via}}. Elija el organismo.</p>
<ul class="opciones">{{range .Data.Entities}}<li><a href="/entidades/{{.ID}}?via={{$.Data.ViaID}}"><strong>{{.Name}}</strong></a><p class="ayuda">{{.Description}}</p></li>{{end}}</ul>
<p><a href="/">Cambiar el tipo de identificación</a></p>`,

	"procedures": `<p>{{.Data.Via}}. Elija el trámite.</p>
<ul class="opciones">{{range .Data.Entity.Procedures}}<li><a href="/{{$.Data.ViaID}}/{{$.Data.Entity.ID}}/{{.ID}}"><strong>{{.Name}}</strong></a>
<p class="ayuda">{{.Description}}{{if eq .Kind 1}} Es un documento generado en HTML (no PDF).{{end}}</p></li>{{end}}</ul>
<p><a href="/entidades?via={{.Data.ViaID}}">Otro organismo</a></p>`,

	"choose": `<p>{{.Data.Entity.Name}} · {{.Data.Procedure.Name}}</p>
{{if .Data.Users}}
<form method="post" action="/pin/solicitar">` + csrfField + `
<input type="hidden" name="entity" value="{{.Data.Entity.ID}}"><input type="hidden" name="procedure" value="{{.Data.Procedure.ID}}">
<fieldset><legend>¿Quién hace el trámite?</legend>
{{range $i, $u := .Data.Users}}<label><input type="radio" name="user" value="{{$u.ID}}"{{if eq $i 0}} checked{{end}}> {{$u.Label}} ({{mask $u.Document}})</label>{{end}}
</fieldset>
<fieldset><legend>¿Dónde quiere recibir el PIN?</legend>
<label><input type="radio" name="channel" value="app" checked> En la app Cl@ve</label>
<p class="ayuda">Si tiene la app Cl@ve activada en un dispositivo, el PIN aparece en ella al desbloquearla.</p>
<label><input type="radio" name="channel" value="sms"> Por SMS</label>
<p class="ayuda">Si no tiene la app activada, la pasarela le envía el PIN por SMS al móvil registrado.</p>
</fieldset>
<label for="code">Código de solicitud (opcional)</label>
<p class="ayuda" id="code-help">4 letras o números que usted elige; si lo deja vacío, se genera uno. Le servirá para reconocer su PIN.</p>
<input type="text" id="code" name="code" class="codigo" maxlength="4" autocomplete="off" aria-describedby="code-help">
<button type="submit">Solicitar PIN</button>
</form>
{{else}}<p>No hay usuarios de Cl@ve PIN guardados.</p>{{end}}
<p><a href="/usuarios/nuevo?volver={{.Data.Back}}">Añadir un usuario</a> · <a href="/usuarios">Gestionar usuarios guardados</a></p>`,

	"verify": `<p>{{.Data.Entity.Name}} · {{.Data.Procedure.Name}}</p>
<p>Código de solicitud:</p><p class="codigo-grande" id="request-code">{{.Data.Pending.RequestCode}}</p>
<p>{{if eq .Data.Pending.Channel "app"}}Si sus datos son correctos y tiene la app Cl@ve activada, abra la app: verá un PIN de 3 caracteres junto a este código. Si no tiene la app activada, el PIN le llegará por SMS.{{else}}Si sus datos son correctos, recibirá por SMS un PIN de 3 caracteres junto a este código. Si tiene la app Cl@ve activada, el PIN aparecerá en la app en lugar del SMS.{{end}}</p>
<p class="ayuda">El PIN caduca a las {{.Data.Pending.ExpiresAt.Format "15:04"}} y sólo vale una vez. Por seguridad, la pasarela responde lo mismo aunque los datos no sean correctos.</p>
<form method="post" action="/pin/verificar">` + csrfField + `
<input type="hidden" name="pending" value="{{.Data.PendingID}}">
<label for="pin">PIN recibido</label>
<input type="text" id="pin" name="pin" class="codigo" maxlength="3" autocomplete="one-time-code" required{{if .Error}} aria-invalid="true"{{end}}>
{{if .Data.Pending.NeedPhone}}<label for="phone">Teléfono móvil registrado en Cl@ve</label>
<p class="ayuda" id="phone-help">Tras varios intentos fallidos, la pasarela pide también su teléfono (por ejemplo +34600000001).</p>
<input type="text" id="phone" name="phone" autocomplete="tel" aria-describedby="phone-help">{{end}}
<button type="submit">Validar</button>
</form>
<p><a href="/pin/{{.Data.Entity.ID}}/{{.Data.Procedure.ID}}">Pedir otro PIN</a></p>`,

	"consultation": `<p>{{.Data.Entity.Name}} · {{.Data.Procedure.Name}}</p>
<h2>Persona identificada</h2>
<dl><dt>Nombre</dt><dd>{{.Data.ID.GivenName}} {{.Data.ID.FamilyNames}}</dd>
<dt>DNI/NIE</dt><dd>{{mask .Data.ID.PersonIdentifier}}</dd>
<dt>Nivel de seguridad</dt><dd>{{.Data.ID.LoA}}</dd><dt>Método</dt><dd>{{.Data.ID.Method}}</dd></dl>
<h2>Datos (ficticios)</h2>
<dl>{{range .Data.Rows}}<dt>{{.Label}}</dt><dd>{{.Value}}</dd>{{end}}</dl>
<p><a href="/">Hacer otro trámite</a></p>`,

	"confirmDocument": `<p>{{.Data.Entity.Name}} · {{.Data.Procedure.Name}}</p>
<p>Identificado/a como {{.Data.ID.GivenName}} {{.Data.ID.FamilyNames}} ({{mask .Data.ID.PersonIdentifier}}).</p>
<form method="post">` + csrfField + `<button type="submit">Generar el documento</button></form>`,

	"users": `{{if .Data.Users}}<ul class="opciones">{{range .Data.Users}}<li><strong>{{.Label}}</strong> · {{mask .Document}} · dato de contraste {{.Contrast}}
<p><a href="/usuarios/{{.ID}}/editar">Editar</a></p>
<form method="post" action="/usuarios/{{.ID}}/borrar">` + csrfField + `<button class="peligro" type="submit">Borrar {{.Label}}</button></form></li>{{end}}</ul>
{{else}}<p>Todavía no ha guardado ningún usuario de Cl@ve PIN.</p>{{end}}
<p><a href="/usuarios/nuevo">Añadir un usuario</a></p>`,

	"userForm": `<form method="post">` + csrfField + `<input type="hidden" name="volver" value="{{.Data.Back}}">
<label for="document">DNI o NIE</label>
<p class="ayuda" id="document-help">Por ejemplo 12345678Z o X1234567L.</p>
<input type="text" id="document" name="document" value="{{.Data.Input.Document}}" autocomplete="off" required aria-describedby="document-help{{if .Data.Errors.document}} document-error{{end}}"{{if .Data.Errors.document}} aria-invalid="true"{{end}}>
{{with .Data.Errors.document}}<p class="error" id="document-error">{{.}}</p>{{end}}
<label for="contrast">Dato de contraste</label>
<p class="ayuda" id="contrast-help">DNI: fecha de validez (dd/mm/aaaa; si es permanente, la de expedición). NIE: número de soporte (E o C y 8 números).</p>
<input type="text" id="contrast" name="contrast" value="{{.Data.Input.Contrast}}" autocomplete="off" required aria-describedby="contrast-help{{if .Data.Errors.contrast}} contrast-error{{end}}"{{if .Data.Errors.contrast}} aria-invalid="true"{{end}}>
{{with .Data.Errors.contrast}}<p class="error" id="contrast-error">{{.}}</p>{{end}}
<label for="label">Nombre para reconocerlo (opcional)</label>
<input type="text" id="label" name="label" value="{{.Data.Input.Label}}" maxlength="60"{{if .Data.Errors.label}} aria-invalid="true" aria-describedby="label-error"{{end}}>
{{with .Data.Errors.label}}<p class="error" id="label-error">{{.}}</p>{{end}}
<button type="submit">Guardar</button></form>
<p><a href="/usuarios">Volver a usuarios guardados</a></p>`,

	"downloads": `{{if .Data.Downloads}}<ul class="opciones">{{range .Data.Downloads}}<li><a href="/descargas/{{.ID}}"><strong>{{.Name}}</strong></a>
<p class="ayuda">{{.Entity}} · {{.Holder}} · {{.CreatedAt.Local.Format "02/01/2006 15:04"}}</p></li>{{end}}</ul>
{{else}}<p>No hay documentos. Los documentos que genere en un trámite aparecerán aquí.</p>{{end}}`,

	"download": `<dl><dt>Organismo</dt><dd>{{.Data.D.Entity}}</dd><dt>Trámite</dt><dd>{{.Data.D.Procedure}}</dd>
<dt>Titular</dt><dd>{{.Data.D.Holder}}</dd><dt>Generado</dt><dd>{{.Data.D.CreatedAt.Local.Format "02/01/2006 15:04"}}</dd></dl>
<p><a href="/descargas/{{.Data.D.ID}}/ver">Abrir el documento</a> (HTML)</p>
<label for="share">Enlace para compartir</label>
<p class="ayuda" id="share-help">Quien tenga este enlace puede descargar el documento. Compártalo sólo con quien deba verlo; si lo borra, el enlace deja de funcionar.</p>
<input type="text" id="share" readonly value="{{.Data.ShareURL}}" aria-describedby="share-help">
<p><a href="{{.Data.ShareURL}}">Descargar</a></p>
<form method="post" action="/descargas/{{.Data.D.ID}}/renombrar">` + csrfField + `
<label for="name">Nuevo nombre</label><input type="text" id="name" name="name" value="{{.Data.D.Name}}" maxlength="120" required>
<button class="secundario" type="submit">Renombrar</button></form>
<form method="post" action="/descargas/{{.Data.D.ID}}/borrar">` + csrfField + `<button class="peligro" type="submit">Borrar el documento</button></form>
<p><a href="/descargas">Volver a Descargas</a></p>`,

	"message": `<p><a href="/">Volver al inicio</a></p>`,
}

// pages are the layout with each page's content.
var pages = func() map[string]*template.Template {
	base := template.Must(template.New("layout").Funcs(template.FuncMap{"mask": maskDocument}).Parse(layout))
	out := map[string]*template.Template{}
	for name, src := range pageSources {
		t := template.Must(base.Clone())
		template.Must(t.New("content").Parse(strings.TrimSpace(src)))
		out[name] = t
	}
	return out
}()
