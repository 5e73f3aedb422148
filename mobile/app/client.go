package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// APIPath is where a gateway serves the app API, version 1, under its base
// URL.
const APIPath = "/app/v1"

const (
	// maxAnswer bounds what is read of an answer: the largest real one (a
	// page of history, a list of requests) is a few kilobytes, and a
	// broken or hostile gateway must not fill the phone's memory.
	maxAnswer = 1 << 20

	// defaultTimeout ends a call whose context has no deadline: longer
	// than the longest long-poll the API allows (60 seconds).
	defaultTimeout = 2 * time.Minute
)

// defaultHTTP is the client used when Client.HTTP is nil. It follows no
// redirect: the API answers every call itself, so a redirect means a wrong
// base URL, and following it would resend a signed call somewhere else.
var defaultHTTP = &http.Client{
	Timeout:       defaultTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Client makes the app API's calls that need no device: asking for an SMS
// activation code, fetching a challenge, activating the phone. The zero
// value is not usable: set BaseURL. A Client is safe for concurrent use.
type Client struct {
	// BaseURL is the gateway's URL, "https://clave.example" say; the API is
	// at BaseURL + APIPath. Calls are signed over the path as sent, so a
	// proxy in front of the gateway must not rewrite it.
	BaseURL string

	// HTTP sends the calls; nil means a client that follows no redirect
	// and gives up after 2 minutes. Deadlines and cancellation come from
	// each call's context.
	HTTP *http.Client

	// Now is the phone's clock, which stamps signed calls and
	// confirmations; nil means time.Now. The gateway refuses stamps more
	// than 2 minutes away from its own clock.
	Now func() time.Time

	// KDF is the cost of the passphrase derivation protecting the key of
	// phones this Client activates; zero fields take the defaults (3
	// passes over 64 MiB with 4 threads, RFC 9106's second recommended
	// setting).
	KDF KDFParams
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// endpoint returns the URL of path (under APIPath) with query.
func (c *Client) endpoint(path string, query url.Values) (string, error) {
	base, err := url.Parse(strings.TrimRight(c.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" ||
		base.RawQuery != "" || base.Fragment != "" || base.User != nil {
		return "", fmt.Errorf("app: base URL %q: want http(s)://host[:port][/path]", c.BaseURL)
	}
	u := base.String() + APIPath + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u, nil
}

// call sends one call of the API: in (nil for none) as the JSON body, sign
// (nil for none) to set headers over the exact body bytes, and decodes a 2xx
// answer into out (nil to ignore it).
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in any, sign func(*http.Request, []byte) error, out any) error {
	u, err := c.endpoint(path, query)
	if err != nil {
		return err
	}
	var body []byte
	if in != nil {
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("app: %s %s: %w", method, path, err)
		}
	}
	var rd io.Reader
	if in != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("app: %s %s: %w", method, path, err)
	}
	if in != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Accept", "application/json")
	if sign != nil {
		if err := sign(r, body); err != nil {
			return fmt.Errorf("app: signing %s %s: %w", method, path, err)
		}
	}
	resp, err := c.httpClient().Do(r)
	if err != nil {
		return fmt.Errorf("app: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("app: %s %s: reading the answer: %w", method, path, err)
	}
	if len(answer) > maxAnswer {
		return fmt.Errorf("%w: %s %s: answer over %d bytes", ErrBadAnswer, method, path, maxAnswer)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiErrorFrom(resp.StatusCode, answer)
	}
	if out == nil {
		return nil
	}
	if err := decodeLenient(answer, out); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrBadAnswer, method, path, err)
	}
	return nil
}

// decodeLenient decodes one JSON value, ignoring unknown fields: a newer
// gateway may add some.
func decodeLenient(data []byte, out any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(out); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// RequestActivationCode asks the gateway to send an SMS activation code to
// the phone number registered for citizen (a DNI or NIE), proven by its
// contrast datum: the DNI's validity date as dd/mm/yyyy, or the NIE's
// support number. It returns when the code stops being valid.
//
// The answer is the same whether or not a code was sent: the gateway never
// tells whether an identifier is registered or its contrast datum right, so
// a typo shows only as an activation that fails with [ErrWrongCode].
func (c *Client) RequestActivationCode(ctx context.Context, citizen, contrast string) (expiresAt time.Time, err error) {
	var out struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	in := struct {
		Citizen  string `json:"citizen"`
		Contrast string `json:"contrast"`
	}{citizen, contrast}
	if err := c.call(ctx, http.MethodPost, "/activation/sms", nil, in, nil, &out); err != nil {
		return time.Time{}, err
	}
	if out.ExpiresAt.IsZero() {
		return time.Time{}, fmt.Errorf("%w: no expires_at", ErrBadAnswer)
	}
	return out.ExpiresAt, nil
}

// Challenge fetches a fresh, single-use activation challenge, valid until
// expiresAt, for a certificate or DNIe activation to sign.
// [Client.ActivateCertificate] and [Client.ActivateDNIe] fetch their own.
func (c *Client) Challenge(ctx context.Context) (challenge string, expiresAt time.Time, err error) {
	var out struct {
		Challenge string    `json:"challenge"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := c.call(ctx, http.MethodGet, "/activation/challenge", nil, nil, nil, &out); err != nil {
		return "", time.Time{}, err
	}
	if out.Challenge == "" || out.ExpiresAt.IsZero() {
		return "", time.Time{}, fmt.Errorf("%w: no challenge", ErrBadAnswer)
	}
	return out.Challenge, out.ExpiresAt, nil
}
