package mobile

import (
	"container/list"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/pages"
)

const (
	// challengeValidity is how long an activation challenge can be used.
	challengeValidity = 5 * time.Minute

	// challengeRandom, challengeTime and challengeMAC are the parts of a
	// challenge: random bytes, the issue time, and a truncated HMAC of
	// both under the API's key, which makes the challenge stateless.
	challengeRandom = 16
	challengeTime   = 8
	challengeMAC    = 16
	challengeLen    = challengeRandom + challengeTime + challengeMAC

	// maxChain bounds the certificates of an activation by certificate:
	// the leaf and a few intermediates.
	maxChain = 4

	// proofLabel starts every activation proof, so that a signature made
	// for it can pass for nothing else.
	proofLabel = "clave-mobile-activation-v1"

	// citizenSerialPrefix starts the Subject serialNumber of Spanish
	// citizen certificates (ETSI EN 319 412-1 "IDC" + country + "-").
	citizenSerialPrefix = "IDCES-"
)

// apiB64 decodes the binary values of the wire, in the one encoding each
// value has.
var apiB64 = base64.RawURLEncoding.Strict()

// ActivationProof is what the certificate's or the DNIe's key signs, with
// SHA-256, to activate a phone by certificate or DNIe: four lines separated
// by "\n", with no trailing newline,
//
//	clave-mobile-activation-v1
//	method=<m>
//	challenge=<challenge, as GET /app/v1/activation/challenge gave it>
//	key=<publicKey in base64url without padding>
//
// It binds the phone's new key to a fresh challenge of the gateway, so that
// a proof cannot be replayed, nor lent to another phone.
func ActivationProof(challenge string, publicKey ed25519.PublicKey, m ActivationMethod) []byte {
	return []byte(proofLabel + "\nmethod=" + string(m) + "\nchallenge=" + challenge +
		"\nkey=" + base64.RawURLEncoding.EncodeToString(publicKey))
}

// errBadProof refuses a certificate, card, CAN or proof.
func errBadProof(message string) *apiError {
	return apiErr(http.StatusUnauthorized, "bad_proof", message)
}

// limited is the refusal of a per-client or per-citizen limit.
func limited(retryAt time.Time) *apiError {
	e := *errTooMany
	e.retryAt = retryAt
	return &e
}

// codeCall is the body of POST /app/v1/activation/sms.
type codeCall struct {
	Citizen  string `json:"citizen"`
	Contrast string `json:"contrast"`
}

// requestCode serves POST /app/v1/activation/sms. Its answer is the same
// whether the identifier is registered with that contrast datum, registered
// with another, blocked, or unknown: only the registered phone learns which,
// by receiving the SMS or not.
func (a *API) requestCode(w http.ResponseWriter, r *http.Request) {
	var in codeCall
	if !a.readJSON(w, r, &in) {
		return
	}
	id, err := parseCitizen(in.Citizen)
	if err != nil {
		a.fail(w, r, a.refusal(r.Context(), "activation code", ErrBadCitizen))
		return
	}
	if strings.TrimSpace(in.Contrast) == "" || len(in.Contrast) > maxTypedLen {
		a.fail(w, r, errBadRequest("The contrast datum (DNI validity date or NIE support number) is required."))
		return
	}
	client := a.client(r)
	if ok, at := a.clientCodes.Allow(client); !ok {
		a.fail(w, r, limited(at))
		return
	}
	if ok, at := a.clientIDs.Allow(client, id); !ok {
		a.log.WarnContext(r.Context(), "mobile api: client asking codes for many identifiers; refused")
		a.fail(w, r, limited(at))
		return
	}
	if ok, at := a.citizenCodes.Allow(id); !ok {
		a.fail(w, r, limited(at))
		return
	}
	// The SMS speaks the language the app asks for in Accept-Language.
	expires, err := a.issueCode(pages.WithLang(r.Context(), pages.Lang(r)), id, in.Contrast)
	if err != nil {
		a.fail(w, r, a.refusal(r.Context(), "activation code", err))
		return
	}
	writeAPIJSON(w, http.StatusAccepted, struct {
		ExpiresAt string `json:"expires_at"`
		Attempts  int    `json:"attempts"`
	}{apiTime(expires), a.svc.cfg.ActivationAttempts})
}

// issueCode issues an activation code for id and sends it by SMS in the
// language ctx carries (pages.WithLang), or a decoy that is never sent and
// never verifies; it returns the code's expiry, the same either way.
func (a *API) issueCode(ctx context.Context, id, contrast string) (time.Time, error) {
	c, err := a.citizens.Citizen(ctx, id)
	switch {
	case errors.Is(err, method.ErrUnknownCitizen), errors.Is(err, method.ErrInvalid):
		// Nothing is stored for a stranger: a decoy in bounded memory
		// answers its attempts as a registered citizen's would be.
		expires := a.svc.cfg.Now().Add(a.svc.cfg.ActivationValidity)
		a.strangers.issue(id, expires)
		return expires, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("mobile api: citizens: %w", err)
	}
	person := maskedID(id)
	reason := ""
	switch {
	case c.Status != method.StatusActive:
		reason = "registration not active"
	case c.Phone == "":
		reason = "no phone registered"
	case !c.MatchContrast(contrast):
		reason = "wrong contrast datum"
	}
	if reason != "" {
		code, err := a.svc.IssueActivationDecoy(ctx, id)
		if err != nil {
			return time.Time{}, err
		}
		a.log.InfoContext(ctx, "mobile api: activation code not sent", "person", person, "reason", reason)
		return code.ExpiresAt, nil
	}
	code, err := a.svc.IssueActivationCode(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	minutes := (a.svc.cfg.ActivationValidity + time.Minute - 1) / time.Minute
	msg := method.Message{
		Channel:   method.SMS,
		To:        c.Phone,
		Text:      pages.Textf(pages.LangOf(ctx), "sms.movil.activation", code.Value, minutes),
		Code:      code.Value,
		ExpiresAt: code.ExpiresAt,
	}
	if err := a.notifier.Send(ctx, msg); err != nil {
		// Answered as sent all the same: a different answer would tell
		// that the identifier is registered.
		a.log.ErrorContext(ctx, "mobile api: activation SMS not delivered", "person", person, "error", err)
		return code.ExpiresAt, nil
	}
	a.log.InfoContext(ctx, "mobile api: activation code sent", "person", person)
	return code.ExpiresAt, nil
}

// challenge serves GET /app/v1/activation/challenge: a challenge the gateway
// need not remember until it is used, so that asking for many costs it
// nothing.
func (a *API) challenge(w http.ResponseWriter, r *http.Request) {
	if _, err := apiQuery(r); err != nil {
		a.fail(w, r, errBadRequest("This endpoint takes no query parameters."))
		return
	}
	b := make([]byte, challengeLen)
	if _, err := rand.Read(b[:challengeRandom]); err != nil {
		a.fail(w, r, a.refusal(r.Context(), "challenge", err))
		return
	}
	issued := a.now().Unix()
	binary.BigEndian.PutUint64(b[challengeRandom:], uint64(issued))
	copy(b[challengeRandom+challengeTime:], a.challengeMAC(b[:challengeRandom+challengeTime]))
	writeAPIJSON(w, http.StatusOK, struct {
		Challenge string `json:"challenge"`
		ExpiresAt string `json:"expires_at"`
	}{token(b), apiTime(time.Unix(issued, 0).Add(challengeValidity))})
}

func (a *API) challengeMAC(msg []byte) []byte {
	h := hmac.New(sha256.New, a.key)
	h.Write(msg)
	return h.Sum(nil)[:challengeMAC]
}

// openChallenge checks that s is a challenge of this gateway, still valid,
// and returns its random part and the end of its validity. It does not
// check that it is unused.
func (a *API) openChallenge(s string) (random string, until time.Time, _ *apiError) {
	b, err := apiB64.DecodeString(s)
	if err != nil || len(b) != challengeLen ||
		!hmac.Equal(a.challengeMAC(b[:challengeRandom+challengeTime]), b[challengeRandom+challengeTime:]) {
		return "", time.Time{}, errBadProof("The challenge is not one this gateway issued.")
	}
	secs := binary.BigEndian.Uint64(b[challengeRandom:])
	if secs > 1<<40 {
		return "", time.Time{}, errBadProof("The challenge is not one this gateway issued.")
	}
	issued := time.Unix(int64(secs), 0)
	until = issued.Add(challengeValidity)
	now := a.now()
	if !now.Before(until) {
		return "", time.Time{}, apiErr(http.StatusGone, "expired", "The challenge expired; ask for another.")
	}
	if issued.After(now.Add(a.svc.cfg.Skew)) {
		return "", time.Time{}, errBadProof("The challenge is not one this gateway issued.")
	}
	return token(b[:challengeRandom]), until, nil
}

// activationCall is the body of POST /app/v1/activation; which fields
// apply depends on Method.
type activationCall struct {
	Method    ActivationMethod `json:"method"`
	Citizen   string           `json:"citizen"`
	PublicKey string           `json:"public_key"`
	Code      string           `json:"code"`
	Chain     []string         `json:"certificate_chain"`
	Challenge string           `json:"challenge"`
	Proof     string           `json:"proof"`
	CAN       string           `json:"can"`
}

// activate serves POST /app/v1/activation.
func (a *API) activate(w http.ResponseWriter, r *http.Request) {
	if ok, at := a.clientActivations.Allow(a.client(r)); !ok {
		a.fail(w, r, limited(at))
		return
	}
	var in activationCall
	if !a.readJSON(w, r, &in) {
		return
	}
	ctx := r.Context()
	id, err := parseCitizen(in.Citizen)
	if err != nil {
		a.fail(w, r, a.refusal(ctx, "activation", ErrBadCitizen))
		return
	}
	pub, err := apiB64.DecodeString(in.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		a.fail(w, r, errBadRequest("public_key must be an Ed25519 public key in base64url."))
		return
	}
	proofFields := len(in.Chain) > 0 || in.Challenge != "" || in.Proof != ""
	var dev Device
	switch in.Method {
	case BySMS:
		if in.Code == "" || len(in.Code) > maxTypedLen || proofFields || in.CAN != "" {
			a.fail(w, r, errBadRequest("Activation by SMS takes the code, and none of the certificate fields."))
			return
		}
		dev, err = a.activateByCode(ctx, id, in.Code, pub)
	case ByCertificate, ByDNIe:
		if in.Code != "" || (in.Method == ByCertificate && in.CAN != "") {
			a.fail(w, r, errBadRequest("A field of another activation method was given."))
			return
		}
		if e := a.checkProof(ctx, id, &in, pub); e != nil {
			a.fail(w, r, e)
			return
		}
		dev, err = a.svc.Activate(ctx, id, in.Method, pub)
	default:
		a.fail(w, r, errBadRequest(`method must be "sms", "certificate" or "dnie".`))
		return
	}
	if err != nil {
		a.fail(w, r, a.refusal(ctx, "activation", err))
		return
	}
	a.log.InfoContext(ctx, "mobile api: device activated", "person", maskedID(id), "method", dev.Method)
	writeAPIJSON(w, http.StatusCreated, struct {
		DeviceID    string           `json:"device_id"`
		Citizen     string           `json:"citizen"`
		Method      ActivationMethod `json:"method"`
		ActivatedAt string           `json:"activated_at"`
	}{dev.ID, dev.Citizen, dev.Method, apiTime(dev.ActivatedAt)})
}

// activateByCode checks an SMS activation code. For a stranger it answers
// from the decoys in memory exactly as the Service would for a registered
// citizen's code that never matches.
func (a *API) activateByCode(ctx context.Context, id, code string, pub ed25519.PublicKey) (Device, error) {
	c, err := a.citizens.Citizen(ctx, id)
	switch {
	case errors.Is(err, method.ErrUnknownCitizen), errors.Is(err, method.ErrInvalid):
		return Device{}, a.strangers.attempt(id, a.svc.cfg.Now(), a.svc.cfg.ActivationAttempts)
	case err != nil:
		return Device{}, fmt.Errorf("mobile api: citizens: %w", err)
	}
	if c.Status != method.StatusActive {
		// Blocked since the code was sent: an empty code never matches,
		// and counts as a wrong one, as for anybody else.
		code = ""
	}
	return a.svc.ActivateWithCode(ctx, id, code, pub)
}

// checkProof checks an activation by certificate or DNIe: the challenge is
// this gateway's and fresh, the chain leads to the method's roots and is
// valid now for client authentication, the leaf names the citizen, its key
// signed ActivationProof, the CAN is the card's (DNIe), the challenge was
// not used before, and the citizen is registered and active.
func (a *API) checkProof(ctx context.Context, id string, in *activationCall, pub ed25519.PublicKey) *apiError {
	roots, what := a.certRoots, "certificate"
	if in.Method == ByDNIe {
		roots, what = a.dnieRoots, "DNIe"
	}
	if len(in.Chain) == 0 || len(in.Chain) > maxChain || in.Challenge == "" || in.Proof == "" {
		return errBadRequest(fmt.Sprintf("Activation by %s takes certificate_chain (1 to %d certificates), challenge and proof.", what, maxChain))
	}
	ders := make([][]byte, len(in.Chain))
	for i, s := range in.Chain {
		der, err := apiB64.DecodeString(s)
		if err != nil || len(der) == 0 {
			return errBadRequest("certificate_chain holds DER certificates in base64url.")
		}
		ders[i] = der
	}
	sig, err := apiB64.DecodeString(in.Proof)
	if err != nil || len(sig) == 0 {
		return errBadRequest("proof must be a signature in base64url.")
	}
	if in.Method == ByDNIe && !sixDigits(in.CAN) {
		return errBadRequest("can must be the 6 digits of the card access number.")
	}
	if roots == nil || (in.Method == ByDNIe && a.can == nil) {
		a.log.WarnContext(ctx, "mobile api: activation method not configured", "method", in.Method)
		return errBadProof("This gateway does not accept activation by " + what + ".")
	}
	random, until, e := a.openChallenge(in.Challenge)
	if e != nil {
		return e
	}
	chain := make([]*x509.Certificate, len(ders))
	for i, der := range ders {
		if chain[i], err = x509.ParseCertificate(der); err != nil {
			return errBadProof("A certificate of the chain cannot be read.")
		}
	}
	leaf := chain[0]
	opts := x509.VerifyOptions{
		Roots:         roots,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   a.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return errBadProof("The " + what + " is not valid now or not issued by an accepted authority.")
	}
	if leaf.IsCA || (leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0) ||
		!(slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny)) {
		return errBadProof("The " + what + " is not one for authentication.")
	}
	if holder, ok := certificateCitizen(leaf); !ok || holder != id {
		return errBadProof("The " + what + " is not the citizen's.")
	}
	var alg x509.SignatureAlgorithm
	switch leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		alg = x509.SHA256WithRSA
	case *ecdsa.PublicKey:
		alg = x509.ECDSAWithSHA256
	default:
		return errBadProof("The " + what + "'s key type is not accepted.")
	}
	if err := leaf.CheckSignature(alg, ActivationProof(in.Challenge, pub, in.Method), sig); err != nil {
		return errBadProof("The proof does not verify under the " + what + "'s key.")
	}
	if in.Method == ByDNIe {
		want := a.can(leaf)
		if !sixDigits(want) || subtle.ConstantTimeCompare([]byte(in.CAN), []byte(want)) != 1 {
			return errBadProof("The card access number is not the card's.")
		}
	}
	// Spent only now, so that unsigned junk never fills the nonce store.
	err = a.svc.st.UseNonce(ctx, "challenge."+random, until)
	switch {
	case errors.Is(err, ErrConflict):
		return apiErr(http.StatusUnauthorized, "replay", "The challenge was already used; ask for another.")
	case err != nil:
		return a.refusal(ctx, "activation", fmt.Errorf("mobile api: challenge nonce: %w", err))
	}
	c, err := a.citizens.Citizen(ctx, id)
	switch {
	case errors.Is(err, method.ErrUnknownCitizen), errors.Is(err, method.ErrInvalid):
		return errBadProof("The citizen is not registered in Cl@ve or cannot use it.")
	case err != nil:
		return a.refusal(ctx, "activation", fmt.Errorf("mobile api: citizens: %w", err))
	case c.Status != method.StatusActive:
		return errBadProof("The citizen is not registered in Cl@ve or cannot use it.")
	}
	return nil
}

// certificateCitizen reads the DNI or NIE a citizen certificate names in
// its Subject serialNumber, "IDCES-12345678Z" or "12345678Z", in
// normalised form only.
func certificateCitizen(c *x509.Certificate) (string, bool) {
	s := strings.TrimPrefix(c.Subject.SerialNumber, citizenSerialPrefix)
	id, err := parseCitizen(s)
	return id, err == nil && id == s
}

func sixDigits(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maskedID is a normalised identifier fit for logs.
func maskedID(id string) string {
	p, err := dni.Parse(id)
	if err != nil {
		return "(invalid)"
	}
	return p.Masked()
}

// apiStrangers remembers the decoy activation codes of identifiers that are
// not registered, in bounded memory, so that the store holds nothing for
// them while their answers stay those of a registered citizen: wrong code,
// then too many attempts, expired, no code.
type apiStrangers struct {
	mu    sync.Mutex
	max   int
	codes map[string]*list.Element // of *strangerCode
	order *list.List               // oldest issue first
}

type strangerCode struct {
	citizen   string
	expiresAt time.Time
	failures  int
}

func newAPIStrangers(max int) *apiStrangers {
	return &apiStrangers{max: max, codes: map[string]*list.Element{}, order: list.New()}
}

// issue records a decoy code for citizen, superseding any earlier one, as
// Service.IssueActivationDecoy does; the oldest is forgotten when full.
func (s *apiStrangers) issue(citizen string, expiresAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.codes[citizen]; ok {
		c := e.Value.(*strangerCode)
		c.expiresAt, c.failures = expiresAt, 0
		s.order.MoveToBack(e)
		return
	}
	for s.order.Len() >= s.max {
		oldest := s.order.Front()
		s.order.Remove(oldest)
		delete(s.codes, oldest.Value.(*strangerCode).citizen)
	}
	s.codes[citizen] = s.order.PushBack(&strangerCode{citizen: citizen, expiresAt: expiresAt})
}

// attempt is Service.checkActivation for a code that never matches.
func (s *apiStrangers) attempt(citizen string, now time.Time, attempts int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.codes[citizen]
	if !ok {
		return ErrNoCode
	}
	c := e.Value.(*strangerCode)
	switch {
	case !now.Before(c.expiresAt):
		s.order.Remove(e)
		delete(s.codes, citizen)
		return ErrExpired
	case c.failures >= attempts:
		return ErrTooManyAttempts
	}
	c.failures++
	if c.failures >= attempts {
		return ErrTooManyAttempts
	}
	return ErrWrongCode
}
