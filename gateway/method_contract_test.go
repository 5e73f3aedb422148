package gateway_test

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/saml"
)

// trusting is the method of package method's doc, as a person outside this
// module would write it from that doc alone.
type trusting struct{}

func (trusting) ID() saml.Method  { return "TRUSTING" }
func (trusting) MaxLoA() saml.LoA { return saml.LoALow }
func (trusting) Slug() string     { return "trusting" }

var trustingForm = template.Must(template.New("trusting").Parse(`<form method="post" action="go">
	<input type="hidden" name="csrf" value="{{.}}">
	<input name="id"><button>Enter</button></form>`))

func (m trusting) Handler(h method.Host) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/{login}/trusting/{$}", func(w http.ResponseWriter, r *http.Request) {
		var body strings.Builder
		_ = trustingForm.Execute(&body, h.FormToken(r))
		h.Page(w, r, http.StatusOK, "Trusting", template.HTML(body.String()))
	})
	mux.HandleFunc("POST /login/{login}/trusting/go", func(w http.ResponseWriter, r *http.Request) {
		l, err := h.Login(r)
		if err != nil {
			http.Error(w, "no such login", http.StatusNotFound)
			return
		}
		c, err := h.Citizens().Citizen(r.Context(), r.PostFormValue("id"))
		if err != nil {
			h.Fail(w, r, l, &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusAuthnFailed})
			return
		}
		h.Complete(w, r, m, l, c, saml.LoALow)
	})
	return mux
}

// TestMethodOfOurOwn plugs the doc's method into a gateway through
// Config.Methods and logs in with it: the chooser offers it, its page is in
// the gateway's layout with the form token, a post without the token is
// refused, and the agency gets the citizen with the method's SelectedIdP.
// An unknown identifier ends the login with a failure status.
func TestMethodOfOurOwn(t *testing.T) {
	t.Parallel()
	gw, err := clavetest.Start(gateway.Config{Methods: []method.Method{trusting{}}})
	require.NoError(t, err)
	defer gw.Close()
	mux := http.NewServeMux()
	agency := httptest.NewServer(mux)
	defer agency.Close()
	client, err := clave.New(gw.Config(agency.URL + "/clave/acs"))
	require.NoError(t, err)
	mux.Handle("/clave/acs", client.ACSHandler())
	mux.Handle("/", client.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprint(w, id.PersonIdentifier, " ", id.Method, " ", id.LoA)
	})))

	for _, tc := range []struct {
		who    string
		status int
		page   string
	}{
		{clavetest.DemoCitizen.ID, http.StatusOK, "12345678Z TRUSTING low"},
		{"00000000T", http.StatusUnauthorized, ""}, // the SDK's answer to AuthnFailed
	} {
		b := gw.Browser()
		get := func(u string) (*http.Response, string) {
			resp, err := b.HTTP.Get(u)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, string(body)
		}
		post := func(u string, vals url.Values) (*http.Response, string) {
			resp, err := b.HTTP.PostForm(u, vals)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, string(body)
		}
		submit := func(page string) (*http.Response, string) {
			action := regexp.MustCompile(`<form method="post" action="([^"]*)"`).FindStringSubmatch(page)
			require.NotNil(t, action, page)
			vals := url.Values{}
			for _, in := range regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
				vals.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
			}
			return post(html.UnescapeString(action[1]), vals)
		}

		_, page := get(agency.URL + "/tramite")
		resp, chooser := submit(page) // to the gateway's chooser
		link := regexp.MustCompile(`<a class="method" id="method-TRUSTING" href="([^"]+)">`).FindStringSubmatch(chooser)
		require.NotNil(t, link, "the chooser offers the method: %s", chooser)
		methodURL := resp.Request.URL.ResolveReference(&url.URL{Path: html.UnescapeString(link[1])}).String()
		resp, page = get(methodURL)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, page, "<title>Trusting", "in the gateway's layout")
		token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
		require.NotNil(t, token, page)

		resp, _ = post(methodURL+"go", url.Values{"id": {tc.who}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "no form token, no login")
		_, page = post(methodURL+"go", url.Values{"id": {tc.who}, "csrf": {html.UnescapeString(token[1])}})
		require.Contains(t, page, `name="SAMLResponse"`, page)
		resp, page = submit(page) // back to the agency
		assert.Equal(t, tc.status, resp.StatusCode, tc.who)
		if tc.page != "" {
			assert.Equal(t, tc.page, page)
		}
	}
}
