// Package method is the contract between the reference gateway and the ways
// of logging in it offers (Cl@ve PIN, Cl@ve Móvil, Cl@ve Permanente, ...).
//
// The gateway owns the login: it verifies the service's AuthnRequest, keeps
// which service asked and for what level of assurance, shows the chooser, and
// alone builds, signs and posts the Response. A method owns the steps in
// between: its own pages and APIs, its codes, timers and attempts. It ends
// the login by calling Host.Complete with the citizen it authenticated and the
// level reached, or Host.Fail with a status.
//
// A method implements Method; the gateway calls Handler once with its Host
// and mounts the handler under /login/{login}/<slug>/. A minimal method that
// lets a registered citizen in by identifier alone (a toy: a real method
// proves possession of something) reads:
//
//	type trusting struct{}
//
//	func (trusting) ID() saml.Method  { return "TRUSTING" }
//	func (trusting) MaxLoA() saml.LoA { return saml.LoALow }
//	func (trusting) Slug() string     { return "trusting" }
//
//	var form = template.Must(template.New("trusting").Parse(`<form method="post" action="go">
//		<input type="hidden" name="csrf" value="{{.}}">
//		<input name="id"><button>Enter</button></form>`))
//
//	func (m trusting) Handler(h method.Host) http.Handler {
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /login/{login}/trusting/{$}", func(w http.ResponseWriter, r *http.Request) {
//			var body strings.Builder
//			_ = form.Execute(&body, h.FormToken(r))
//			h.Page(w, r, http.StatusOK, "Trusting", template.HTML(body.String()))
//		})
//		mux.HandleFunc("POST /login/{login}/trusting/go", func(w http.ResponseWriter, r *http.Request) {
//			l, err := h.Login(r)
//			if err != nil {
//				http.Error(w, "no such login", http.StatusNotFound)
//				return
//			}
//			c, err := h.Citizens().Citizen(r.Context(), r.PostFormValue("id"))
//			if err != nil {
//				h.Fail(w, r, l, &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusAuthnFailed})
//				return
//			}
//			h.Complete(w, r, m, l, c, saml.LoALow)
//		})
//		return mux
//	}
//
// and is offered with gateway.Config{Methods: []method.Method{trusting{}}}.
//
// The gateway guards a method's pages. Every request under
// /login/{login}/<slug>/ other than GET, HEAD and OPTIONS that carries the
// login's cookie must carry Host.FormToken, as the form field "csrf" (or the
// header X-CSRF-Token): the gateway answers any other with 403 and never
// calls the method's handler, so that no other site, not even one on
// another port of the same host, can post the citizen's forms. Requests
// without the cookie (a phone's call, say) reach the handler, where
// Host.Login refuses them unless the method authenticates them otherwise.
// Its pages run under a Content-Security-Policy with no inline script or
// style but the gateway's own (see Host.Page), and cannot be framed.
//
// Rules every method follows, because the gateway cannot enforce them:
//
//   - Never tell whether an identifier is registered: unknown citizens, wrong
//     contrast data and blocked registrations get the same answer, and a
//     code or PIN "issued" to keep answers identical must never verify.
//   - Limit attempts per citizen, per client and globally: short secrets are
//     only safe behind limits.
//   - Keep step state in Login.Data through Host.Update, not in memory, so a
//     login survives a restart and any replica can continue it; a method
//     that waits (a phone's confirmation) keeps the login pending there.
//   - Read time from Host.Now, so tests and demos can move it.
//   - A storage error is never the citizen's mistake: answer "try again
//     later", log it, and count nothing against the citizen.
//   - Log through Host.Logger without secrets or full identifiers
//     (Citizen.Masked).
package method
