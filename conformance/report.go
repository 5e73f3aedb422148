package conformance

import (
	"encoding/json"
	"html/template"
	"io"
	"time"
)

// WriteJSON writes the report as indented JSON, for CI artefacts and tools.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// reportGroup is a group's block of the HTML report.
type reportGroup struct {
	Name                    string
	Passed, Failed, Skipped int
	Cases                   []Result
}

// WriteHTML writes a self-contained HTML page: the summary, then one table per
// group with every case, its verdict and the service's answer. Everything
// comes through html/template, so the service's answers (which may echo
// attacker-shaped input) are escaped.
func (r *Report) WriteHTML(w io.Writer) error {
	var groups []*reportGroup
	byName := map[string]*reportGroup{}
	for _, c := range r.Cases {
		g := byName[c.Group]
		if g == nil {
			g = &reportGroup{Name: c.Group}
			byName[c.Group] = g
			groups = append(groups, g)
		}
		g.Cases = append(g.Cases, c)
		switch {
		case c.Skipped:
			g.Skipped++
		case c.Pass:
			g.Passed++
		default:
			g.Failed++
		}
	}
	return reportTmpl.Execute(w, struct {
		*Report
		Groups []*reportGroup
	}{r, groups})
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"instant": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"ms":      func(d time.Duration) string { return d.Round(time.Millisecond).String() },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Cl@ve SP conformance: {{.Target}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:2em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.9em}
th{background:#eee}
tr.pass td.verdict{background:#d4edda}
tr.fail td.verdict{background:#f8d7da;font-weight:bold}
tr.skip td.verdict{background:#fff3cd}
.summary span{display:inline-block;margin-right:1.5em;font-size:1.2em}
.ok{color:#155724}.bad{color:#721c24}.skip{color:#856404}
code{font-size:.85em;white-space:nowrap}
ul.failed{columns:3}
</style></head><body>
<h1>Cl@ve service provider conformance</h1>
<p>Target <code>{{.Target}}</code> · gateway Issuer <code>{{.Issuer}}</code> · started {{instant .Started}}</p>
<p class="summary"><span class="ok">{{.Passed}} passed</span><span class="{{if .Failed}}bad{{else}}ok{{end}}">{{.Failed}} failed</span><span class="skip">{{.Skipped}} skipped</span><span>{{len .Cases}} cases</span></p>
{{if .Failed}}<h2>Failed</h2>
<ul class="failed">{{range .Cases}}{{if not (or .Pass .Skipped)}}<li><a href="#{{.ID}}"><code>{{.ID}}</code></a> {{.Title}}</li>{{end}}{{end}}</ul>
{{end}}{{range .Groups}}
<h2>{{.Name}} <small>({{.Passed}} passed, {{.Failed}} failed, {{.Skipped}} skipped)</small></h2>
<table>
<tr><th>ID</th><th>Case</th><th>Expected</th><th>Got</th><th>Verdict</th><th>Detail</th><th>Time</th></tr>
{{range .Cases}}<tr id="{{.ID}}" class="{{if .Skipped}}skip{{else if .Pass}}pass{{else}}fail{{end}}">
<td><code>{{.ID}}</code></td>
<td><strong>{{.Title}}</strong><br><small>{{.How}}</small></td>
<td>{{.Expect}}</td><td>{{.Got}}</td>
<td class="verdict">{{if .Skipped}}skipped{{else if .Pass}}pass{{else}}FAIL{{end}}</td>
<td>{{.Detail}}</td><td>{{ms .Duration}}</td>
</tr>
{{end}}</table>
{{end}}
</body></html>
`))
