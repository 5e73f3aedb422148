// Package app is the citizen's Cl@ve app as a Go library: the phone's side
// of the Cl@ve Móvil app API, version 1, which a gateway serves under
// /app/v1.
//
//	c := &app.Client{BaseURL: "http://127.0.0.1:9000"}
//	expires, err := c.RequestActivationCode(ctx, "12345678Z", "01/01/2040")
//	// the citizen reads the code in the SMS
//	phone, err := c.ActivateSMS(ctx, "12345678Z", code, passphrase)
//	err = phone.Save(statePath)
//	// later, at each login:
//	s, err := phone.Unlock(passphrase) // the second factor
//	defer s.Lock()
//	reqs, err := s.Pending(ctx, 30*time.Second) // or s.Scan(ctx, qrText)
//	err = s.Confirm(ctx, reqs[0])              // after the citizen checked requester and code
//
// Activation, by SMS code, electronic certificate or DNIe, makes an Ed25519
// key pair on the phone; the gateway keeps the public half. The private half
// never leaves the phone: [Phone], the state kept between runs, holds it
// encrypted with ChaCha20-Poly1305 under a key derived from the unlock
// passphrase with Argon2id, and bound to the device and citizen. Only
// [Phone.Unlock] decrypts it, into a [Session] that signs the device's calls
// ([mobile.SignCall]) and its answers to logins ([mobile.SignConfirmation]).
//
// Before confirming, a Session recomputes the request's verification code
// from its secret ([mobile.VerificationCode]) and refuses a request whose
// code differs, from the gateway's word or from what the citizen read on the
// login page ([ErrCodeMismatch]).
//
// Errors of the gateway are [*APIError] values that match a sentinel per
// error code of the API with [errors.Is] ([ErrReplay], [ErrExpired], ...).
// Nothing in this package logs; no error carries a code, key or passphrase.
package app
