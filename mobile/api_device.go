package mobile

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/park"
)

// historyZone is where the dates of a history query start and end: the
// citizen's "30 November" is Spain's.
var historyZone = func() *time.Location {
	if loc, err := time.LoadLocation("Europe/Madrid"); err == nil {
		return loc
	}
	return time.FixedZone("CET", 3600)
}()

// noQuery refuses a call with query parameters an endpoint does not take.
func (a *API) noQuery(w http.ResponseWriter, r *http.Request) bool {
	if _, err := apiQuery(r); err != nil {
		a.fail(w, r, errBadRequest("This endpoint takes no query parameters."))
		return false
	}
	return true
}

// device serves GET /app/v1/device.
func (a *API) device(w http.ResponseWriter, r *http.Request, dev Device, _ []byte) {
	if !a.noQuery(w, r) {
		return
	}
	writeAPIJSON(w, http.StatusOK, struct {
		DeviceID      string           `json:"device_id"`
		CitizenMasked string           `json:"citizen_masked"`
		Method        ActivationMethod `json:"method"`
		Status        DeviceStatus     `json:"status"`
		ActivatedAt   string           `json:"activated_at"`
	}{dev.ID, maskedID(dev.Citizen), dev.Method, dev.Status, apiTime(dev.ActivatedAt)})
}

// deactivate serves DELETE /app/v1/device: the citizen switches this phone
// off.
func (a *API) deactivate(w http.ResponseWriter, r *http.Request, dev Device, _ []byte) {
	if !a.noQuery(w, r) {
		return
	}
	if err := a.svc.Deactivate(r.Context(), dev.Citizen, dev.ID); err != nil {
		a.fail(w, r, a.refusal(r.Context(), "deactivate", err))
		return
	}
	a.log.InfoContext(r.Context(), "mobile api: device deactivated", "person", maskedID(dev.Citizen))
	writeAPIJSON(w, http.StatusOK, struct {
		Status DeviceStatus `json:"status"`
	}{DeviceDeactivated})
}

// wireRequest is a login request as the app receives it. Only the active
// device of the request's citizen ever gets one: the nonce and secret in it
// are what a confirmation binds.
type wireRequest struct {
	ID               string `json:"id"`
	LoginID          string `json:"login_id"`
	Requester        string `json:"requester"`
	Kind             Kind   `json:"kind"`
	Nonce            string `json:"nonce"`
	Secret           string `json:"secret"`
	VerificationCode string `json:"verification_code"`
	CreatedAt        string `json:"created_at"`
	ExpiresAt        string `json:"expires_at"`
}

func toWireRequest(r *Request) wireRequest {
	return wireRequest{
		ID:               r.ID,
		LoginID:          r.LoginID,
		Requester:        r.Requester,
		Kind:             r.Kind,
		Nonce:            r.Nonce,
		Secret:           token(r.Secret),
		VerificationCode: r.VerificationCode(),
		CreatedAt:        apiTime(r.CreatedAt),
		ExpiresAt:        apiTime(r.ExpiresAt),
	}
}

// requests serves GET /app/v1/requests?wait=N: the requests the device can
// answer, waiting up to N seconds for one when there is none.
//
// The subscription is taken before the store is read, so that a request
// made in between still wakes the wait. A waiting phone holds no handler:
// its connection is taken over from net/http (package park) and waits with
// a small goroutine, one subscription and one timer, so that thousands of
// phones can wait at once.
func (a *API) requests(w http.ResponseWriter, r *http.Request, dev Device, _ []byte) {
	q, err := apiQuery(r, "wait")
	if err != nil {
		a.fail(w, r, errBadRequest("The only query parameter is wait."))
		return
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || len(s) > 4 {
			a.fail(w, r, errBadRequest("wait must be a number of seconds from 0 to 60."))
			return
		}
		wait = min(time.Duration(n)*time.Second, a.limits.MaxWait)
	}
	ctx := r.Context()
	if wait <= 0 {
		list, err := a.svc.PendingRequests(ctx, dev.ID)
		a.answerRequests(w, r, list, err)
		return
	}
	topic := CitizenTopic(dev.Citizen)
	if c, err := park.Take(w); err == nil {
		stop := a.svc.Signals().Subscribe(topic, c.Wake)
		// What the answer needs of the call, and nothing more: thousands
		// of phones wait at once.
		h := w.Header()
		call := &http.Request{Method: r.Method, URL: &url.URL{Path: r.URL.Path}}
		respond := func(list []Request, err error) {
			_ = c.Respond(h, func(w http.ResponseWriter) { a.answerRequests(w, call, list, err) })
		}
		list, err := a.svc.PendingRequests(ctx, dev.ID)
		if err != nil || len(list) > 0 {
			stop()
			respond(list, err)
			return
		}
		go func() {
			defer stop()
			if _, err := c.Wait(time.Now().Add(wait)); err != nil {
				_ = c.Close()
				return // the phone left
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			respond(a.svc.PendingRequests(ctx, dev.ID))
		}()
		return
	}
	// Where the connection cannot be taken over (HTTP/2), the handler
	// waits itself, within the server's write timeout extended for it.
	wake, stop := wakeChannel(a.svc.Signals(), topic)
	defer stop()
	list, err := a.svc.PendingRequests(ctx, dev.ID)
	if err == nil && len(list) == 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 15*time.Second))
		if _, err := handlerWait(ctx.Done(), wake)(time.Now().Add(wait)); err != nil {
			return // the phone left
		}
		list, err = a.svc.PendingRequests(ctx, dev.ID)
	}
	a.answerRequests(w, r, list, err)
}

// answerRequests writes the answer of GET /app/v1/requests.
func (a *API) answerRequests(w http.ResponseWriter, r *http.Request, list []Request, err error) {
	if err != nil {
		a.fail(w, r, a.refusal(r.Context(), "requests", err))
		return
	}
	out := make([]wireRequest, 0, len(list))
	slices.SortFunc(list, func(x, y Request) int { return x.CreatedAt.Compare(y.CreatedAt) })
	for i := range list {
		out = append(out, toWireRequest(&list[i]))
	}
	writeAPIJSON(w, http.StatusOK, struct {
		Requests []wireRequest `json:"requests"`
	}{out})
}

// scanCall is the body of POST /app/v1/requests/scan.
type scanCall struct {
	Payload string `json:"payload"`
}

// scan serves POST /app/v1/requests/scan: the phone read a QR code.
func (a *API) scan(w http.ResponseWriter, r *http.Request, dev Device, body []byte) {
	var in scanCall
	if !a.noQuery(w, r) || !a.decodeJSON(w, r, body, &in) {
		return
	}
	id, nonce, err := ParseQRPayload(in.Payload)
	if err != nil {
		a.fail(w, r, errBadRequest("payload is not a Cl@ve Móvil QR code."))
		return
	}
	req, err := a.svc.Claim(r.Context(), id, nonce, dev.ID)
	if err != nil {
		a.fail(w, r, a.refusal(r.Context(), "scan", err))
		return
	}
	writeAPIJSON(w, http.StatusOK, toWireRequest(&req))
}

// decisionCall is the body of POST /app/v1/requests/{id}/decision.
type decisionCall struct {
	Confirmation string `json:"confirmation"`
	Signature    string `json:"signature"`
}

// decide serves POST /app/v1/requests/{id}/decision: the citizen confirmed
// or declined, and the unlock factor released the key that signed it.
func (a *API) decide(w http.ResponseWriter, r *http.Request, dev Device, body []byte, id string) {
	var in decisionCall
	if !a.noQuery(w, r) || !a.decodeJSON(w, r, body, &in) {
		return
	}
	payload, err1 := apiB64.DecodeString(in.Confirmation)
	sig, err2 := apiB64.DecodeString(in.Signature)
	if err1 != nil || err2 != nil || len(payload) == 0 || len(sig) == 0 {
		a.fail(w, r, errBadRequest("confirmation and signature are required, in base64url."))
		return
	}
	// Verified here as well as in Decide, so that the request of the path
	// is compared with the one signed before anything changes.
	c, err := VerifyConfirmation(dev.PublicKey, payload, sig)
	if err != nil {
		a.fail(w, r, a.refusal(r.Context(), "decision", err))
		return
	}
	if c.RequestID != id {
		a.fail(w, r, a.refusal(r.Context(), "decision", ErrMismatch))
		return
	}
	req, err := a.svc.Decide(r.Context(), dev.ID, payload, sig)
	if err != nil {
		a.fail(w, r, a.refusal(r.Context(), "decision", err))
		return
	}
	a.log.InfoContext(r.Context(), "mobile api: request decided", "person", maskedID(dev.Citizen), "state", req.State)
	writeAPIJSON(w, http.StatusOK, struct {
		ID    string `json:"id"`
		State State  `json:"state"`
	}{req.ID, req.State})
}

// wirePIN is a Cl@ve PIN in the app's inbox.
type wirePIN struct {
	PIN         string `json:"pin"`
	Text        string `json:"text"`
	SentAt      string `json:"sent_at"`
	ExpiresAt   string `json:"expires_at"`
	SecondsLeft int64  `json:"seconds_left"`
}

// pins serves GET /app/v1/pins: the codes pushed to the citizen's app that
// can still be used, newest first.
func (a *API) pins(w http.ResponseWriter, r *http.Request, dev Device, _ []byte) {
	if !a.noQuery(w, r) {
		return
	}
	out := []wirePIN{}
	if a.inbox != nil {
		now := a.now()
		msgs, err := a.inbox.AppMessages(r.Context(), dev.Citizen)
		if err != nil {
			a.fail(w, r, a.refusal(r.Context(), "pins", err))
			return
		}
		slices.SortStableFunc(msgs, func(x, y method.Message) int { return y.SentAt.Compare(x.SentAt) })
		for _, m := range msgs {
			if m.Channel != method.App || m.To != dev.Citizen || m.Code == "" || m.ExpiresAt.IsZero() || !now.Before(m.ExpiresAt) {
				continue
			}
			out = append(out, wirePIN{
				PIN:         m.Code,
				Text:        m.Text,
				SentAt:      apiTime(m.SentAt),
				ExpiresAt:   apiTime(m.ExpiresAt),
				SecondsLeft: int64(m.ExpiresAt.Sub(now) / time.Second),
			})
		}
	}
	writeAPIJSON(w, http.StatusOK, struct {
		PINs []wirePIN `json:"pins"`
	}{out})
}

// wireEntry is a line of the citizen's history.
type wireEntry struct {
	RequestID string `json:"request_id"`
	At        string `json:"at"`
	Requester string `json:"requester"`
	Kind      Kind   `json:"kind"`
	Outcome   State  `json:"outcome"`
}

// history serves GET /app/v1/history.
func (a *API) history(w http.ResponseWriter, r *http.Request, dev Device, _ []byte) {
	q, ok := a.historyQuery(w, r)
	if !ok {
		return
	}
	entries, err := a.svc.History(r.Context(), dev.Citizen, q)
	if err != nil {
		a.fail(w, r, a.refusal(r.Context(), "history", err))
		return
	}
	out := make([]wireEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, wireEntry{e.RequestID, apiTime(e.At), e.Requester, e.Kind, e.Outcome})
	}
	writeAPIJSON(w, http.StatusOK, struct {
		Entries []wireEntry `json:"entries"`
	}{out})
}

// historyQuery reads the query of GET /app/v1/history:
// state, kind, requester, from, to, order (newest or oldest), limit, offset.
// from and to are dates (yyyy-mm-dd, a day of Spain's calendar, both
// inclusive) or RFC 3339 times, taken to the second as the wire shows
// entries, both inclusive too.
func (a *API) historyQuery(w http.ResponseWriter, r *http.Request) (Query, bool) {
	v, err := apiQuery(r, "state", "kind", "requester", "from", "to", "order", "limit", "offset")
	if err != nil {
		a.fail(w, r, errBadRequest("Unknown, repeated or malformed query parameter."))
		return Query{}, false
	}
	bad := func(msg string) (Query, bool) {
		a.fail(w, r, errBadRequest(msg))
		return Query{}, false
	}
	q := Query{Outcome: State(v.Get("state")), Kind: Kind(v.Get("kind")), Requester: v.Get("requester")}
	if len(q.Requester) > maxRequesterLen {
		return bad("requester is too long.")
	}
	switch v.Get("order") {
	case "", "newest":
		q.Order = NewestFirst
	case "oldest":
		q.Order = OldestFirst
	default:
		return bad("order must be newest or oldest.")
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"limit", &q.Limit}, {"offset", &q.Offset}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || len(s) > 9 {
			return bad(p.name + " must be a whole number from 0.")
		}
		*p.dst = n
	}
	var ok bool
	if s := v.Get("from"); s != "" {
		if q.From, ok = historyBound(s, false); !ok {
			return bad("from must be a date (2026-11-30) or an RFC 3339 time.")
		}
	}
	if s := v.Get("to"); s != "" {
		if q.To, ok = historyBound(s, true); !ok {
			return bad("to must be a date (2026-11-30) or an RFC 3339 time.")
		}
	}
	q, err = q.Normalized()
	if err != nil {
		return bad("Unknown state, kind or order, or to before from.")
	}
	return q, true
}

// historyBound reads from (end false) or to (end true) as the bound Query
// takes: from is the first instant kept, to the first instant no longer
// kept.
func historyBound(s string, end bool) (time.Time, bool) {
	if len(s) == len("2006-01-02") {
		d, err := time.ParseInLocation("2006-01-02", s, historyZone)
		if err != nil {
			return time.Time{}, false
		}
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, true
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || len(s) > 40 {
		return time.Time{}, false
	}
	t = t.Truncate(time.Second)
	if end {
		t = t.Add(time.Second)
	}
	return t, true
}
