package conformance_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/conformance"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/saml"
)

const testACS = "https://sede.example.es/clave/acs"

var (
	kitOnce sync.Once
	spKeys  *pki.KeyPair
	kit     *conformance.Kit
	kitErr  error

	strongOnce sync.Once
	strong     *conformance.Report
	strongErr  error
)

// sharedKit is one kit for the whole package: its keys (and the agency's)
// take a moment to make, and it holds no state between runs, so the tests
// share it and run in parallel.
func sharedKit(t *testing.T) *conformance.Kit {
	t.Helper()
	kitOnce.Do(func() {
		spKeys, kitErr = pki.Generate("agencia de pruebas", 2048, time.Now().Add(-time.Hour), 48*time.Hour)
		if kitErr == nil {
			kit, kitErr = conformance.NewKit(conformance.KitConfig{EncryptionCertificate: spKeys.Certificate})
		}
	})
	require.NoError(t, kitErr)
	return kit
}

// strongReport is the SDK's full run, made once, which the weakness tests
// compare with: its Result.Err says why our SDK refused each case.
func strongReport(t *testing.T) *conformance.Report {
	t.Helper()
	k := sharedKit(t)
	target := sdkTarget(t, k, nil)
	strongOnce.Do(func() { strong, strongErr = k.Run(context.Background(), target) })
	require.NoError(t, strongErr)
	requireAllPass(t, strong)
	return strong
}

// sdkConfig is how an agency configures our SDK for the kit: only the trusted
// certificates change, the issuer is pre-production's.
func sdkConfig(k *conformance.Kit, acs string) clave.Config {
	return clave.Config{
		GatewayCertificates: saml.StaticCertificates(k.TrustedCertificates()),
		SPID:                "S0000000E_E00000000",
		ApplicationName:     "Pruebas",
		ACSURL:              acs,
		Key:                 spKeys.Key,
		Certificate:         spKeys.Certificate,
		CookieSecret:        []byte(strings.Repeat("s", 32)),
		Logger:              slog.New(slog.DiscardHandler), // refusals are the point here
		LoA:                 saml.LoASubstantial,
	}
}

// sdkTarget drives a clave.Client directly: NewLogin starts each login and
// ValidateResponse (with the client's replay cache) judges the answers. The
// weakness, if not nil, turns a refusal into a success, as a service that
// skips one check would.
func sdkTarget(t *testing.T, k *conformance.Kit, weakness func(error) bool) conformance.FuncTarget {
	c, err := clave.New(sdkConfig(k, testACS))
	require.NoError(t, err)
	return conformance.FuncTarget{
		ACSURL: testACS,
		Start: func(context.Context) (conformance.RequestInfo, error) {
			_, p, err := c.NewLogin(clave.LoginOptions{})
			return conformance.RequestInfo{ID: p.RequestID, RelayState: p.RelayState, LoA: p.LoA}, err
		},
		Validate: func(ctx context.Context, req conformance.RequestInfo, field, relay string) error {
			_, err := c.ValidateResponse(ctx, field, relay, clave.PendingLogin{RequestID: req.ID, RelayState: req.RelayState, LoA: req.LoA})
			if err != nil && weakness != nil && weakness(err) {
				return nil
			}
			return err
		},
	}
}

// newAgency is a small agency web service on our SDK: a protected page behind
// RequireLogin and the ACS handler.
func newAgency(t *testing.T, k *conformance.Kit) *httptest.Server {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := clave.New(sdkConfig(k, srv.URL+"/clave/acs"))
	require.NoError(t, err)
	mux.Handle("/clave/acs", c.ACSHandler())
	mux.Handle("/", c.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "hola %s", id.PersonIdentifier)
	})))
	return srv
}

func failures(rep *conformance.Report) []string {
	var out []string
	for _, r := range rep.Cases {
		if !r.Pass && !r.Skipped {
			out = append(out, r.ID)
		}
	}
	return out
}

func requireAllPass(t *testing.T, rep *conformance.Report) {
	t.Helper()
	for _, r := range rep.Cases {
		assert.True(t, r.Pass, "%s %s: %s", r.ID, r.Title, r.Detail)
	}
	assert.Zero(t, rep.Failed)
	assert.Zero(t, rep.Skipped)
	assert.Equal(t, len(rep.Cases), rep.Passed)
	assert.NotEmpty(t, rep.Cases)
}

// writeReport keeps a report where CI collects artefacts.
func writeReport(t *testing.T, rep *conformance.Report, name string) {
	dir := os.Getenv("CLAVE_CONFORMANCE_REPORT")
	if dir == "" {
		return
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for ext, write := range map[string]func(*os.File) error{
		".json": func(f *os.File) error { return rep.WriteJSON(f) },
		".html": func(f *os.File) error { return rep.WriteHTML(f) },
	} {
		f, err := os.Create(filepath.Join(dir, name+ext))
		require.NoError(t, err)
		require.NoError(t, write(f))
		require.NoError(t, f.Close())
	}
}

// TestSDK proves our SDK passes the whole catalogue, in-process and over HTTP.
func TestSDK(t *testing.T) {
	t.Parallel()
	k := sharedKit(t)
	t.Run("FuncTarget", func(t *testing.T) {
		t.Parallel()
		conformance.Test(t, k, sdkTarget(t, k, nil))
	})
	t.Run("HTTPTarget", func(t *testing.T) {
		t.Parallel()
		srv := newAgency(t, k)
		rep, err := k.Run(t.Context(), conformance.HTTPTarget{StartURL: srv.URL + "/perfil"})
		require.NoError(t, err)
		requireAllPass(t, rep)
		writeReport(t, rep, "report")
		t.Logf("SDK over HTTP: %d passed, %d failed, %d skipped", rep.Passed, rep.Failed, rep.Skipped)
	})
}

// TestWeakenedSP shows the kit pins a weakness on exactly the cases it should:
// a service that skips one check fails the cases our SDK refused for that
// check's reason, and no other.
func TestWeakenedSP(t *testing.T) {
	t.Parallel()
	k := sharedKit(t)
	strong := strongReport(t)
	for _, w := range []struct {
		name string
		skip error
	}{
		{"ignores the audience", saml.ErrAudience},
		{"ignores the assertion count (reads the first)", saml.ErrAssertionCount},
		{"skips InResponseTo", saml.ErrInResponseTo},
		{"ignores the RelayState", saml.ErrRelayState},
		{"keeps no replay cache", saml.ErrReplay},
	} {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel() // each run has its own client and replay cache
			var want []string
			for _, r := range strong.Cases {
				if r.Expect == conformance.Refuse && errors.Is(r.Err, w.skip) {
					want = append(want, r.ID)
				}
			}
			require.NotEmpty(t, want, "the catalogue has no case for this weakness")
			weak, err := k.Run(t.Context(), sdkTarget(t, k, func(err error) bool { return errors.Is(err, w.skip) }))
			require.NoError(t, err)
			assert.Equal(t, want, failures(weak))
			for _, r := range weak.Cases {
				if !r.Pass {
					assert.Equal(t, conformance.Accept, r.Got, r.ID)
				}
			}
			t.Logf("flagged %v", want)
		})
	}
}

// TestCrewjam runs the kit against crewjam/saml's ServiceProvider configured as
// Cl@ve integrators do, and shows it catches that library's known weak spots.
func TestCrewjam(t *testing.T) {
	t.Parallel()
	k := sharedKit(t)
	acs, err := url.Parse(testACS)
	require.NoError(t, err)
	var kds []crewjam.KeyDescriptor
	for _, c := range k.TrustedCertificates() {
		kds = append(kds, crewjam.KeyDescriptor{Use: "signing", KeyInfo: crewjam.KeyInfo{X509Data: crewjam.X509Data{
			X509Certificates: []crewjam.X509Certificate{{Data: base64.StdEncoding.EncodeToString(c.Raw)}},
		}}})
	}
	sp := &crewjam.ServiceProvider{
		EntityID:    testACS, // the gateway's Audience is the ACS URL
		AcsURL:      *acs,
		Key:         spKeys.Key,
		Certificate: spKeys.Certificate,
		IDPMetadata: &crewjam.EntityDescriptor{
			EntityID: k.Issuer(),
			IDPSSODescriptors: []crewjam.IDPSSODescriptor{{SSODescriptor: crewjam.SSODescriptor{
				RoleDescriptor: crewjam.RoleDescriptor{
					ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
					KeyDescriptors:             kds,
				},
			}}},
		},
	}
	target := conformance.FuncTarget{ACSURL: testACS, LoA: saml.LoASubstantial,
		Validate: func(_ context.Context, req conformance.RequestInfo, field, relay string) error {
			// samlsp's request tracker finds the login by its RelayState.
			if relay != req.RelayState {
				return errors.New("unknown RelayState")
			}
			raw, err := base64.StdEncoding.DecodeString(field)
			if err != nil {
				return err
			}
			_, err = sp.ParseXMLResponse(raw, []string{req.ID}, *acs)
			// crewjam hides the cause behind "Authentication failed".
			if ire := new(crewjam.InvalidResponseError); errors.As(err, &ire) {
				return fmt.Errorf("%v: %v", err, ire.PrivateErr)
			}
			return err
		}}
	rep, err := k.Run(t.Context(), target)
	require.NoError(t, err)
	writeReport(t, rep, "crewjam-report")
	failed := failures(rep)
	t.Logf("crewjam/saml %s: %d passed, %d failed of %d: %v", "v0.6.3", rep.Passed, rep.Failed, len(rep.Cases), failed)
	assert.NotZero(t, rep.Failed)

	var sha1, loa []string
	for _, r := range strongReport(t).Cases {
		if r.Expect != conformance.Refuse {
			continue
		}
		if errors.Is(r.Err, saml.ErrLoA) {
			loa = append(loa, r.ID)
		}
		if errors.Is(r.Err, saml.ErrAlgorithm) && mentionsSHA1(r.CaseInfo) {
			sha1 = append(sha1, r.ID)
		}
	}
	for name, ids := range map[string][]string{"RSA-SHA1 signature accepted": sha1, "LoA below requested accepted": loa} {
		require.NotEmpty(t, ids, "catalogue has no case for %s", name)
		assert.True(t, slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(failed, id) }),
			"crewjam should fail one of %v (%s)", ids, name)
	}
}

func mentionsSHA1(c conformance.CaseInfo) bool {
	s := strings.ToLower(c.Title + " " + c.How)
	return strings.Contains(s, "sha-1") || strings.Contains(s, "sha1")
}

func TestSelection(t *testing.T) {
	t.Parallel()
	k := sharedKit(t)
	all := k.Cases()
	require.NotEmpty(t, all)
	assert.True(t, sort.SliceIsSorted(all, func(i, j int) bool { return all[i].ID < all[j].ID }))

	// The kits share one key directory: the first makes the keys, the others
	// load them, which is much faster than making their own.
	dir := t.TempDir()
	first := all[0]
	one, err := conformance.NewKit(conformance.KitConfig{KeyDir: dir, Cases: []string{first.ID}})
	require.NoError(t, err)
	assert.Equal(t, []conformance.CaseInfo{first}, one.Cases())

	grp, err := conformance.NewKit(conformance.KitConfig{KeyDir: dir, Cases: []string{first.Group}})
	require.NoError(t, err)
	for _, c := range grp.Cases() {
		assert.Equal(t, first.Group, c.Group)
	}
	family := strings.SplitN(first.ID, "-", 2)[0]
	fam, err := conformance.NewKit(conformance.KitConfig{KeyDir: dir, Cases: []string{family}})
	require.NoError(t, err)
	assert.Contains(t, fam.Cases(), first)

	_, err = conformance.NewKit(conformance.KitConfig{Cases: []string{"NO-SUCH-CASE"}})
	assert.ErrorContains(t, err, "NO-SUCH-CASE")
}

func TestKeyDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := conformance.NewKit(conformance.KitConfig{KeyDir: dir, Cases: []string{"SIG-01"}})
	require.NoError(t, err)
	b, err := conformance.NewKit(conformance.KitConfig{KeyDir: dir, Cases: []string{"SIG-01"}})
	require.NoError(t, err)
	// The second kit reuses the keys: a service configured once keeps working.
	assert.Equal(t, a.TrustedCertificates(), b.TrustedCertificates())
	pemCerts, err := os.ReadFile(filepath.Join(dir, conformance.TrustedCertificatesFile))
	require.NoError(t, err)
	certs, err := pki.ParseCertificates(pemCerts)
	require.NoError(t, err)
	assert.Equal(t, a.TrustedCertificates(), certs)
	st, err := os.Stat(filepath.Join(dir, "trusted.key.pem"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	doc, err := a.CertificatesDocument()
	require.NoError(t, err)
	pub, err := saml.ParseCertificatesDocument(doc)
	require.NoError(t, err)
	require.Len(t, pub, 2)
	assert.True(t, pub[0].Certificate.Equal(certs[0]))
	assert.True(t, pub[1].Certificate.Equal(certs[1]))

	// Half a key pair is not silently replaced.
	require.NoError(t, os.Remove(filepath.Join(dir, "next.crt.pem")))
	_, err = conformance.NewKit(conformance.KitConfig{KeyDir: dir})
	assert.ErrorContains(t, err, "next.crt.pem")
}

func TestReportRendering(t *testing.T) {
	t.Parallel()
	rep := &conformance.Report{Started: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Target: "<script>t</script>", Issuer: "https://gw",
		Cases: []conformance.Result{
			{CaseInfo: conformance.CaseInfo{ID: "X-01", Group: "g", Title: "t", Expect: conformance.Refuse}, Got: conformance.Accept,
				Detail: `accepted <img src=x onerror="alert(1)">`, Err: errors.New("not serialised")},
			{CaseInfo: conformance.CaseInfo{ID: "X-02", Group: "g", Title: "t2", Expect: conformance.Accept}, Got: conformance.Accept, Pass: true},
		}, Passed: 1, Failed: 1}
	var html, js strings.Builder
	require.NoError(t, rep.WriteHTML(&html))
	assert.NotContains(t, html.String(), "<img")
	assert.NotContains(t, html.String(), "<script>t")
	assert.Contains(t, html.String(), "&lt;img")
	assert.Contains(t, html.String(), "1 failed")
	require.NoError(t, rep.WriteJSON(&js))
	assert.Contains(t, js.String(), `"id": "X-01"`)
	assert.Contains(t, js.String(), `"got": "accept"`)
	assert.NotContains(t, js.String(), "not serialised")
}

// TestHTTPTargetForms checks the form reader on shapes other services write.
func TestHTTPTargetForms(t *testing.T) {
	t.Parallel()
	k := sharedKit(t)
	c, err := clave.New(sdkConfig(k, testACS))
	require.NoError(t, err)
	form, p, err := c.NewLogin(clave.LoginOptions{LoA: saml.LoAHigh})
	require.NoError(t, err)
	b64 := base64.StdEncoding.EncodeToString(form.Message)
	for name, page := range map[string]string{
		"ours": "",
		"single quotes, value first": `<html><body onload="document.forms[0].submit()"><FORM ACTION='https://gw/x' METHOD='POST'>
<INPUT VALUE='` + p.RelayState + `' TYPE='hidden' NAME='RelayState'/><input value='` + b64 + `' name='SAMLRequest' type='hidden' /></FORM></body></html>`,
		"no form element": `<input type=hidden name=SAMLRequest value="` + b64 + `"><input type=hidden name=RelayState value="` + p.RelayState + `">`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if page == "" {
					form.ServeHTTP(w, r)
					return
				}
				fmt.Fprint(w, page)
			}))
			defer srv.Close()
			login, err := conformance.HTTPTarget{StartURL: srv.URL}.Login(t.Context())
			require.NoError(t, err)
			assert.Equal(t, p.RequestID, login.RequestID)
			assert.Equal(t, p.RelayState, login.RelayState)
			assert.Equal(t, testACS, login.ACSURL)
			assert.Equal(t, saml.LoAHigh, login.LoA)
		})
	}
	t.Run("no login form", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hola") }))
		defer srv.Close()
		_, err := conformance.HTTPTarget{StartURL: srv.URL}.Login(t.Context())
		assert.ErrorContains(t, err, "no form carrying SAMLRequest")
	})
}

// TestHTTPAcceptanceRule pins the default rule on an ACS that answers in
// different ways.
func TestHTTPAcceptanceRule(t *testing.T) {
	t.Parallel()
	k := sharedKit(t)
	c, err := clave.New(sdkConfig(k, testACS))
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		acs  http.HandlerFunc
		want bool
	}{
		"redirect to a page":    {func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusSeeOther) }, true},
		"200":                   {func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "bienvenido") }, true},
		"403":                   {func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) }, false},
		"redirect to an error":  {func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/missing", http.StatusFound) }, false},
		"redirect to new login": {func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", http.StatusFound) }, false},
	} {
		t.Run(name, func(t *testing.T) {
			mux := http.NewServeMux()
			srv := httptest.NewServer(mux)
			defer srv.Close()
			form, _, err := c.NewLogin(clave.LoginOptions{})
			require.NoError(t, err)
			// Point the request's ACS at this server.
			form.Message = []byte(strings.ReplaceAll(string(form.Message), testACS, srv.URL+"/acs"))
			mux.Handle("/login", form)
			mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
			mux.HandleFunc("/missing", http.NotFound)
			mux.Handle("/acs", tc.acs)
			login, err := conformance.HTTPTarget{StartURL: srv.URL + "/login"}.Login(t.Context())
			require.NoError(t, err)
			out, err := login.Post(t.Context(), "x", login.RelayState)
			require.NoError(t, err)
			assert.Equal(t, tc.want, out.Accepted, out.Detail)
		})
	}
}

// stoppingTarget is target until stopAfter logins, then a service that
// nothing answers for any more.
type stoppingTarget struct {
	conformance.Target
	logins, stopAfter int
}

func (s *stoppingTarget) Login(ctx context.Context) (*conformance.Login, error) {
	if s.logins++; s.logins > s.stopAfter {
		return nil, fmt.Errorf("conformance: opening the page: %w",
			&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	}
	return s.Target.Login(ctx)
}

func (s *stoppingTarget) String() string { return "http://sede.test/perfil" }

// A service that stops answering stops the run: the cases before are
// reported, the one that met the closed door is not, and the error says so.
func TestRunStopsWhenTheServiceStops(t *testing.T) {
	t.Parallel()
	k := sharedKit(t)
	target := &stoppingTarget{Target: sdkTarget(t, k, nil), stopAfter: 3}
	rep, err := k.Run(t.Context(), target)
	var ue *conformance.UnreachableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, 3, ue.Done)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Equal(t, "the service at http://sede.test/perfil stopped answering after 3 cases: "+
		"dial tcp: connection refused; start it, then run the kit again", err.Error())
	require.NotNil(t, rep)
	assert.Len(t, rep.Cases, 3)
	assert.Equal(t, 4, target.logins, "no login after the first refused connection")
}

// Check tells a service that is down from one that answers, whatever it
// answers.
func TestHTTPTargetCheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	assert.NoError(t, conformance.HTTPTarget{StartURL: srv.URL + "/perfil"}.Check(t.Context()))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + ln.Addr().String() + "/perfil"
	require.NoError(t, ln.Close())
	err = conformance.HTTPTarget{StartURL: down}.Check(t.Context())
	var ue *conformance.UnreachableError
	require.ErrorAs(t, err, &ue)
	assert.Zero(t, ue.Done)
	assert.Contains(t, err.Error(), "the service at "+down+" does not answer: dial tcp "+ln.Addr().String())
	assert.Contains(t, err.Error(), "connection refused; start it, then run the kit again")
}
