package saml

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultMaxMessageSize bounds a decoded SAML message. Real gateway responses are
// around 15 KB; a certificate-login response with PartialAfirma stays well below
// 100 KB, so 256 KiB leaves room without letting a sender make us parse megabytes.
const DefaultMaxMessageSize = 256 << 10

// MaxRelayState is the longest RelayState the gateway accepts, in bytes.
const MaxRelayState = 80

// Form field names of the gateway's POST binding.
const (
	FieldSAMLRequest    = "SAMLRequest"
	FieldSAMLResponse   = "SAMLResponse"
	FieldRelayState     = "RelayState"
	FieldLogoutRequest  = "logoutRequest"
	FieldLogoutResponse = "logoutResponse"
)

// CheckRelayState enforces the gateway's rules: not empty, at most 80 bytes,
// valid UTF-8 without control characters.
func CheckRelayState(s string) error {
	if s == "" || len(s) > MaxRelayState || !utf8.ValidString(s) {
		return errors.New("saml: RelayState must be 1 to 80 bytes of UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("saml: RelayState has control characters")
		}
	}
	return nil
}

var postForm = template.Must(template.New("post").Parse(`<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Cl@ve</title></head>
<body>
<form method="post" action="{{.Action}}" id="saml-post">
<input type="hidden" name="{{.Field}}" {{.Value}}>
{{- if .RelayState}}
<input type="hidden" name="RelayState" value="{{.RelayState}}">
{{- end}}
<noscript><p>Pulse el botón para continuar. / Press the button to continue.</p></noscript>
<button type="submit">Continuar / Continue</button>
</form>
<script nonce="{{.Nonce}}">document.getElementById("saml-post").submit();</script>
</body></html>
`))

// PostForm is an auto-submitting HTML form of the HTTP-POST binding.
type PostForm struct {
	// Action is the URL the browser posts to.
	Action string
	// Field is the form field of the message: SAMLRequest, SAMLResponse,
	// logoutRequest or logoutResponse.
	Field string
	// Message is the XML; it is sent base64-encoded, never deflated.
	Message []byte
	// RelayState travels beside the message; empty omits it.
	RelayState string
}

// Write renders the form. Action, Field and RelayState are escaped by
// html/template; the form also works without JavaScript through its visible
// button.
func (f PostForm) Write(w io.Writer) error {
	return f.write(w, "")
}

func (f PostForm) write(w io.Writer, nonce string) error {
	if f.Action == "" || f.Field == "" || len(f.Message) == 0 {
		return errors.New("saml: form needs an action, a field and a message")
	}
	return postForm.Execute(w, struct {
		Action, Field     string
		Value             template.HTMLAttr
		RelayState, Nonce string
	}{f.Action, f.Field, valueAttr(f.Message), f.RelayState, nonce})
}

// valueAttr is the value attribute of the message's hidden input, escaped as
// html/template would escape it but without walking its thousands of characters
// (a 15 KB response is 20,000 in base64) one rune at a time through the
// escaper's replacement table. Of the standard base64 alphabet [A-Za-z0-9+/=], only '+' is in that
// table (as "&#43;"); none of the characters can end a double-quoted attribute
// or start a reference. TestPostFormValueEscaping checks the result against
// html/template's own escaping for every character of the alphabet.
func valueAttr(msg []byte) template.HTMLAttr {
	enc := base64.StdEncoding.AppendEncode(nil, msg)
	plus := bytes.Count(enc, []byte{'+'})
	var b strings.Builder
	b.Grow(len(`value=""`) + len(enc) + plus*(len("&#43;")-1))
	b.WriteString(`value="`)
	for {
		i := bytes.IndexByte(enc, '+')
		if i < 0 {
			break
		}
		b.Write(enc[:i])
		b.WriteString("&#43;")
		enc = enc[i+1:]
	}
	b.Write(enc)
	b.WriteByte('"')
	return template.HTMLAttr(b.String())
}

// ServeHTTP writes the form as a response that caches nothing, under a
// Content-Security-Policy that lets only its own auto-submit script run (by
// a fresh nonce) and only its own action receive the post. The page is
// rendered before anything is written, so a failure is a clean 500 and a
// client gone mid-write is not answered twice.
func (f PostForm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nonce, err := NewID(nil)
	var buf bytes.Buffer
	if err == nil {
		buf.Grow(len(f.Message)*4/3 + 1024)
		err = f.write(&buf, nonce)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	if err != nil {
		http.Error(w, "cannot build form", http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; form-action "+formOrigin(f.Action)+
		"; frame-ancestors 'none'; base-uri 'none'")
	if r != nil && r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	_, _ = w.Write(buf.Bytes())
}

// formOrigin is the CSP source for a form's action: its origin when it is an
// absolute http(s) URL, 'self' otherwise.
func formOrigin(action string) string {
	u, err := url.Parse(action)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.ContainsAny(u.Host, " ;,'") {
		return "'self'"
	}
	return u.Scheme + "://" + u.Host
}

// MaxFormSize is the largest urlencoded POST body that can carry a message of
// maxMessage bytes (DefaultMaxMessageSize when zero or less) and a
// RelayState: base64 makes 4 characters of every 3 bytes, and URL-encoding
// may make 3 of each of them ('+', '/' and '=' become %XX).
func MaxFormSize(maxMessage int) int64 {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessageSize
	}
	return int64(maxMessage+2)/3*4*3 + 8192
}

// ReadPost reads field (and RelayState) from a POST form, bounding the body and
// decoding the base64 message.
func ReadPost(r *http.Request, field string, maxSize int) (msg []byte, relayState string, err error) {
	if r.Method != http.MethodPost {
		return nil, "", fmt.Errorf("%w: %s, not POST", ErrMalformed, r.Method)
	}
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	r.Body = http.MaxBytesReader(nil, r.Body, MaxFormSize(maxSize))
	if err := r.ParseForm(); err != nil {
		// Only an overflow of the bound is "too large"; a malformed body is not.
		if tooBig := new(http.MaxBytesError); errors.As(err, &tooBig) {
			return nil, "", fmt.Errorf("%w: form: %v", ErrTooLarge, err)
		}
		return nil, "", fmt.Errorf("%w: form: %v", ErrMalformed, err)
	}
	msg, err = DecodeMessage(r.PostForm.Get(field), maxSize)
	if err != nil {
		return nil, "", err
	}
	return msg, r.PostForm.Get(FieldRelayState), nil
}

// DecodeMessage decodes the base64 value of a SAMLRequest or SAMLResponse form
// field, refusing anything larger than maxSize bytes once decoded (maxSize <= 0
// means DefaultMaxMessageSize). Line breaks and spaces some senders insert are
// tolerated; any other non-base64 byte is refused.
func DecodeMessage(field string, maxSize int) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if field == "" {
		return nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	// Check the bound before decoding so a huge field costs nothing.
	if base64.StdEncoding.DecodedLen(len(field)) > maxSize+maxSize/8+64 {
		return nil, fmt.Errorf("%w: encoded message of %d bytes", ErrTooLarge, len(field))
	}
	clean := field
	if strings.ContainsAny(field, "\r\n \t") {
		clean = strings.Map(func(r rune) rune {
			switch r {
			case '\r', '\n', ' ', '\t':
				return -1
			}
			return r
		}, field)
	}
	out, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64: %v", ErrMalformed, err)
	}
	if len(out) > maxSize {
		return nil, fmt.Errorf("%w: message of %d bytes", ErrTooLarge, len(out))
	}
	return out, nil
}
