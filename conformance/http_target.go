package conformance

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// maxPage bounds what the kit reads of any page of the service.
const maxPage = 2 << 20

// HTTPTarget tests a running service over HTTP, as a browser and the gateway
// would see it: Login opens StartURL (a page that needs a login) in a fresh
// browser, reads the auto-submitting form the service answers with, and Post
// submits a response to the ACS URL of that form's AuthnRequest with the same
// cookies.
//
// Acceptance is decided, unless Accepted says otherwise, by this rule: the
// service accepted iff the ACS's own answer was not an error (status < 400),
// the page finally reached after following redirects is 2xx, and that page does
// not start another login (carry a SAMLRequest form), since a service that
// bounces a refused citizen back to a protected page lands there. A service
// that answers refusals with 200 and an error page needs Accepted.
type HTTPTarget struct {
	// StartURL is a page of the service that requires a login, e.g.
	// "http://127.0.0.1:8080/perfil". Required.
	StartURL string
	// Client returns the browser of one login; it is called once per case, so
	// it must return a client with a fresh cookie jar. Default: a client with
	// a new jar and a 30-second timeout, following redirects.
	Client func() *http.Client
	// Accepted overrides the acceptance rule. resp is the last response after
	// redirects (resp.Request.Response chains back to the ACS's own answer);
	// body is its content, at most 2 MiB.
	Accepted func(resp *http.Response, body []byte) bool
}

// String names the target in reports.
func (t HTTPTarget) String() string { return t.StartURL }

func (t HTTPTarget) client() (*http.Client, error) {
	if t.Client != nil {
		return t.Client(), nil
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}, nil
}

// Check opens StartURL once, as Login does first, and returns an
// *UnreachableError when the service does not answer within ctx (whatever it
// answers, even an error status, shows it runs). Give ctx a short deadline
// and call Check before Kit.Run, so that a service that is not started or
// not listening is one clear error instead of a run of failed cases.
func (t HTTPTarget) Check(ctx context.Context) error {
	if t.StartURL == "" {
		return errors.New("conformance: HTTPTarget needs StartURL")
	}
	c, err := t.client()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.StartURL, nil)
	if err != nil {
		return fmt.Errorf("conformance: %w", err)
	}
	if _, _, err := do(c, req); err != nil {
		return &UnreachableError{Target: t.String(), Err: err}
	}
	return nil
}

// Login implements Target.
func (t HTTPTarget) Login(ctx context.Context) (*Login, error) {
	if t.StartURL == "" {
		return nil, errors.New("conformance: HTTPTarget needs StartURL")
	}
	c, err := t.client()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.StartURL, nil)
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	resp, body, err := do(c, req)
	if err != nil {
		return nil, fmt.Errorf("conformance: opening %s: %w", t.StartURL, err)
	}
	fields, ok := samlRequestForm(body)
	if !ok {
		return nil, fmt.Errorf("conformance: %s (status %d at %s) has no form carrying SAMLRequest; StartURL must need a login",
			t.StartURL, resp.StatusCode, resp.Request.URL)
	}
	raw, err := saml.DecodeMessage(fields[saml.FieldSAMLRequest], 0)
	if err != nil {
		return nil, fmt.Errorf("conformance: SAMLRequest: %w", err)
	}
	ar, err := samlidp.PeekAuthnRequest(raw)
	if err != nil {
		return nil, fmt.Errorf("conformance: AuthnRequest: %w", err)
	}
	acs, err := url.Parse(ar.ACSURL)
	if err != nil || (acs.Scheme != "http" && acs.Scheme != "https") || acs.Host == "" {
		return nil, fmt.Errorf("conformance: AuthnRequest has no absolute ACS URL: %q", ar.ACSURL)
	}
	return &Login{
		RequestID:  ar.ID,
		ACSURL:     ar.ACSURL,
		RelayState: fields[saml.FieldRelayState],
		LoA:        ar.LoA,
		Post: func(ctx context.Context, field, relayState string) (Outcome, error) {
			return t.post(ctx, c, ar.ACSURL, field, relayState)
		},
	}, nil
}

func (t HTTPTarget) post(ctx context.Context, c *http.Client, acs, field, relayState string) (Outcome, error) {
	vals := url.Values{saml.FieldSAMLResponse: {field}}
	if relayState != "" {
		vals.Set(saml.FieldRelayState, relayState)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, acs, strings.NewReader(vals.Encode()))
	if err != nil {
		return Outcome{}, fmt.Errorf("conformance: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body, err := do(c, req)
	if err != nil {
		return Outcome{}, fmt.Errorf("conformance: posting to %s: %w", acs, err)
	}
	first := resp
	for first.Request != nil && first.Request.Response != nil {
		first = first.Request.Response
	}
	detail := fmt.Sprintf("ACS answered %d", first.StatusCode)
	if first != resp {
		detail += fmt.Sprintf(", then %d at %s", resp.StatusCode, resp.Request.URL)
	}
	var accepted bool
	if t.Accepted != nil {
		accepted = t.Accepted(resp, body)
	} else {
		_, relogin := samlRequestForm(body)
		accepted = first.StatusCode < 400 && resp.StatusCode/100 == 2 && !relogin
		if relogin {
			detail += " (a new login form)"
		}
	}
	return Outcome{Accepted: accepted, Detail: detail}, nil
}

// do runs req and reads a bounded body, draining the rest so the connection
// can be reused.
func do(c *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return nil, nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPage))
	return resp, body, nil
}

// The service's form is read with regular expressions: the module takes no HTML
// parser dependency, and a SAML POST form is a few hidden inputs. Attributes
// may come in any order and any quoting.
var (
	formRe  = regexp.MustCompile(`(?is)<form\b[^>]*>(.*?)</form\s*>`)
	inputRe = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRe  = regexp.MustCompile(`(?s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+))`)
)

// samlRequestForm returns the inputs of the first form carrying SAMLRequest;
// without any form element, the page's inputs are tried as one form.
func samlRequestForm(page []byte) (map[string]string, bool) {
	forms := formRe.FindAllSubmatch(page, -1)
	if len(forms) == 0 {
		return formFields(page)
	}
	for _, f := range forms {
		if fields, ok := formFields(f[1]); ok {
			return fields, true
		}
	}
	return nil, false
}

func formFields(part []byte) (map[string]string, bool) {
	fields := map[string]string{}
	for _, in := range inputRe.FindAllSubmatch(part, -1) {
		var name, value string
		for _, a := range attrRe.FindAllSubmatch(in[1], -1) {
			v := string(a[2]) + string(a[3]) + string(a[4])
			switch strings.ToLower(string(a[1])) {
			case "name":
				name = html.UnescapeString(v)
			case "value":
				value = html.UnescapeString(v)
			}
		}
		if name != "" {
			fields[name] = value
		}
	}
	_, ok := fields[saml.FieldSAMLRequest]
	return fields, ok
}
