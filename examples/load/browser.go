package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"

	"github.com/clave-go/clave/gateway"
)

// browser is a citizen's browser without JavaScript: cookies, redirects,
// and the auto-posting forms submitted as a person pressing their button
// would. client is the address it claims (see clientHeader).
type browser struct {
	h      *harness
	http   *http.Client
	client string
}

func (h *harness) browser(client string) *browser {
	jar, _ := cookiejar.New(nil)
	var rt http.RoundTripper = h.transportFrom(client)
	if len(h.backends) > 0 {
		rt = balancer{next: rt, backends: h.backends, turn: &h.turn}
	}
	return &browser{h: h, client: client, http: &http.Client{Jar: jar, Transport: rt}}
}

// transportFrom is a transport whose connections come from a loopback
// address of the client's own (127.x.y.z, from a hash of client), as a real
// browser's come from its own address: the gateway bounds connections per
// client address, and thousands of browsers on one address would all share
// one bound.
func (h *harness) transportFrom(client string) *http.Transport {
	sum := fnv.New32a()
	_, _ = sum.Write([]byte(client))
	v := sum.Sum32()
	return h.transportAt(&net.TCPAddr{IP: net.IPv4(127, byte(1+v>>16%254), byte(v>>8), byte(1+v%254))})
}

// transportAt is a transport whose connections come from the loopback
// address src.
func (h *harness) transportAt(src *net.TCPAddr) *http.Transport {
	t := h.transport.Clone()
	t.MaxIdleConnsPerHost = 2
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialLoopbackFrom(ctx, src, network, addr)
	}
	return t
}

// page is an answer as the browser shows it, after redirects.
type page struct {
	status int
	body   string
	url    *url.URL
}

var (
	formRe   = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	methodRe = regexp.MustCompile(`<a class="method" id="method-([A-Z]+)" href="([^"]+)">`)
	codeRe   = regexp.MustCompile(`<span class="code" id="request-code">([A-Z0-9]{4})</span>`)
)

// maxPage bounds what is read of one page.
const maxPage = 1 << 20

func (b *browser) do(ctx context.Context, method, u string, form url.Values) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return page{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set(clientHeader, b.client)
	resp, err := b.http.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return page{}, err
	}
	return page{status: resp.StatusCode, body: string(data), url: resp.Request.URL}, nil
}

// resolve makes an action or link of p absolute.
func (p page) resolve(ref string) string {
	u, err := p.url.Parse(html.UnescapeString(ref))
	if err != nil {
		return ref
	}
	return u.String()
}

// form is a <form method="post"> of a page: the absolute URL it posts to
// and its hidden fields (the SAML message, the gateway's anti-CSRF token).
type form struct {
	action string
	fields url.Values
}

// form finds the first form of p whose action's path ends with suffix (""
// for the first form of all).
func (p page) form(suffix string) (form, bool) {
	body := p.body
	for {
		m := formRe.FindStringSubmatchIndex(body)
		if m == nil {
			return form{}, false
		}
		action, rest := body[m[2]:m[3]], body[m[1]:]
		end := strings.Index(rest, "</form>")
		if end < 0 {
			end = len(rest)
		}
		path, _, _ := strings.Cut(html.UnescapeString(action), "?")
		if strings.HasSuffix(path, suffix) {
			return form{action: p.resolve(action), fields: hiddenFields(rest[:end])}, true
		}
		body = rest[end:]
	}
}

// fill posts the form of p whose action ends with suffix, with its hidden
// fields and typed, as a person filling it in would.
func (b *browser) fill(ctx context.Context, p page, suffix string, typed url.Values) (page, error) {
	f, ok := p.form(suffix)
	if !ok {
		return page{}, fmt.Errorf("%w: no form posting to …%s", errUnexpected, suffix)
	}
	for k, v := range typed {
		f.fields[k] = v
	}
	return b.do(ctx, http.MethodPost, f.action, f.fields)
}

// submit posts the first form of p with its hidden fields, as the
// auto-posting forms of SAML do.
func (b *browser) submit(ctx context.Context, p page) (page, error) {
	return b.fill(ctx, p, "", nil)
}

// hiddenFields reads the <input type="hidden" name="..." value="..."> of a
// page. It scans with strings rather than a regular expression: a SAML
// message is kilobytes of base64, and the load generator's CPU is taken
// from the gateway it measures.
func hiddenFields(body string) url.Values {
	const open, mid = `<input type="hidden" name="`, `" value="`
	vals := url.Values{}
	for {
		i := strings.Index(body, open)
		if i < 0 {
			return vals
		}
		body = body[i+len(open):]
		name, rest, ok := strings.Cut(body, `"`)
		if !ok || !strings.HasPrefix(rest, mid[1:]) {
			continue
		}
		value, _, ok := strings.Cut(rest[len(mid)-1:], `"`)
		if !ok {
			return vals
		}
		vals.Set(html.UnescapeString(name), html.UnescapeString(value))
	}
}

// stepError is a login that failed at one step.
type stepError struct {
	step   string
	status int
	err    error
	page   string
}

func (e *stepError) Error() string {
	if e.err != nil && !errors.Is(e.err, errUnexpected) {
		return fmt.Sprintf("%s: %v", e.step, e.err)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.step, e.status, snippet(e.page))
}

func (e *stepError) Unwrap() error { return e.err }

// kind groups failures for the report: the step and the HTTP status or the
// class of transport error.
func (e *stepError) kind() string {
	if e.err != nil && !errors.Is(e.err, errUnexpected) {
		return e.step + ": " + errClass(e.err)
	}
	return fmt.Sprintf("%s: HTTP %d", e.step, e.status)
}

func errClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "transport error"
}

// check turns an answer that is not the expected page into a stepError.
func check(step string, p page, err error, want func(page) bool) error {
	if err != nil {
		return &stepError{step: step, status: p.status, err: err}
	}
	if !want(p) {
		return &stepError{step: step, status: p.status, err: errUnexpected, page: p.body}
	}
	return nil
}

func has(s string) func(page) bool {
	return func(p page) bool { return p.status == http.StatusOK && strings.Contains(p.body, s) }
}

// startLogin opens the agency's protected page and follows its request to
// the gateway's chooser, then opens Cl@ve PIN: it returns the PIN form.
func (b *browser) startLogin(ctx context.Context) (page, error) {
	return b.startMethod(ctx, "AEAT", "pin page", func(p page) bool {
		_, ok := p.form("/pin/request")
		return p.status == http.StatusOK && ok
	})
}

// startMethod opens the agency's protected page, follows its request to the
// gateway's chooser and opens the method whose ID is id: it returns the
// method's page, which want must accept.
func (b *browser) startMethod(ctx context.Context, id, step string, want func(page) bool) (page, error) {
	p, err := b.do(ctx, http.MethodGet, b.h.agencyURL+"/tramite", nil)
	if err := check("agency page", p, err, has(`name="SAMLRequest"`)); err != nil {
		return p, err
	}
	p, err = b.submit(ctx, p)
	if err := check("gateway request", p, err, has(`id="method-`+id+`"`)); err != nil {
		return p, err
	}
	var href string
	for _, m := range methodRe.FindAllStringSubmatch(p.body, -1) {
		if m[1] == id {
			href = m[2]
		}
	}
	p, err = b.do(ctx, http.MethodGet, p.resolve(href), nil)
	return p, check(step, p, err, want)
}

// login logs in as citizen i through the Cl@ve PIN pages, the PIN read
// from the gateway's inbox, and checks that the agency shows who logged in.
func (b *browser) login(ctx context.Context, i int) error {
	// The citizen leaves when done: their browser's connections close, as
	// a tab's do, instead of waiting for the gateway's idle timeout.
	defer b.http.CloseIdleConnections()
	who := personOf(i)
	p, err := b.startLogin(ctx)
	if err != nil {
		return err
	}
	p, err = b.fill(ctx, p, "/pin/request", url.Values{"document": {who.id}, "contrast": {who.contrast}})
	if err := check("pin request", p, err, func(p page) bool {
		_, ok := p.form("/pin/verify")
		return p.status == http.StatusOK && codeRe.MatchString(p.body) && ok
	}); err != nil {
		return err
	}
	code := codeRe.FindStringSubmatch(p.body)[1]
	pin, err := b.h.pinFor(who.phone, code)
	if err != nil {
		return &stepError{step: "pin sms", err: err}
	}
	p, err = b.fill(ctx, p, "/pin/verify", url.Values{"pin": {pin}})
	if err := check("pin verify", p, err, has(`name="SAMLResponse"`)); err != nil {
		return err
	}
	p, err = b.submit(ctx, p)
	return check("agency acs", p, err, has("logged in: "+who.id))
}

// pinFor reads the PIN sent to phone with request code from the gateway's
// inbox (the SMS a citizen would read).
func (h *harness) pinFor(phone, code string) (string, error) {
	ms := h.gw.Inbox().Messages(gateway.ChannelSMS, phone)
	for i := len(ms) - 1; i >= 0; i-- {
		if strings.Contains(ms[i].Text, code) {
			return ms[i].Code, nil
		}
	}
	return "", errors.New("no SMS with the request code")
}
