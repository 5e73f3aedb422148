// Package mobile implements the rules and storage of Cl@ve Móvil: the
// citizen's phone, activated once, confirms each login by signing it.
//
//	svc, err := mobile.New(mobile.Config{Secret: secret}, mobile.NewMemoryStore())
//	// once, after the gateway checked the phone's certificate proof:
//	dev, err := svc.Activate(ctx, "12345678Z", mobile.ByCertificate, phonePublicKey)
//	// per login without QR; the page shows req.VerificationCode():
//	req, err := svc.NewRequest(ctx, mobile.RequestSpec{LoginID: l.ID, Requester: l.Requester,
//		Kind: mobile.KindPush, Citizen: "12345678Z"})
//	// on the phone, after the unlock factor released the key:
//	payload, sig, err := mobile.SignConfirmation(phoneKey, req.Confirmation(mobile.Confirm, time.Now()))
//	// back at the gateway:
//	req, err = svc.Decide(ctx, dev.ID, payload, sig) // req.State == mobile.StateConfirmed
//
// The pieces, each a plain type with its rules as methods:
//
//   - [Device] and [Account]: a citizen's phones, one active at a time;
//     activating another replaces the first, whose signatures are refused
//     from then on. Activation by a 6-digit SMS code (10 minutes, 3
//     attempts), by certificate or by DNIe with its CAN.
//   - [Request]: a login waiting for the phone, with or without QR, its
//     one-time nonce and its state machine (pending, then confirmed,
//     declined or expired after 5 minutes); for push requests, the SMS PIN
//     fallback, available 60 seconds after the push.
//   - [Confirmation]: what the device signs, with Ed25519, binding the
//     login, the request's nonce, the decision and the time.
//   - [VerificationCode]: the 3-digit code page and app both show.
//   - [Entry] and [Query]: the citizen's "My Cl@ve Móvil" history.
//
// [Service] applies the rules over a [Store], taking each decision inside one
// atomic store update. [MemoryStore] and [SQLStore] both pass the suite in
// mobile/mobiletest. The rules know nothing of HTTP, QR images, SMS or
// SAML: [Method] (the gateway's pages) and [API] (the app's API) compose
// them with those, and [Signals] wakes whoever waits for a request.
//
// Activation codes and SMS PINs are never stored: only an HMAC under
// [Config.Secret], so that a copy of the database reveals none and cannot be
// used to test guesses offline.
//
// # The app API
//
// [API] is the JSON API the citizen's app calls, version 1, under
// /app/v1/ on the gateway. Bodies are JSON objects of at most 16 KiB with no
// unknown field; times are RFC 3339 in UTC; keys, signatures, certificates
// and secrets are base64url without padding.
//
// Activation, unauthenticated and limited per client and per citizen:
//
//	POST   /app/v1/activation/sms        ask for an SMS activation code (202, same answer for everybody)
//	GET    /app/v1/activation/challenge  a stateless challenge for a certificate or DNIe proof
//	POST   /app/v1/activation            activate this phone's Ed25519 key by SMS code, certificate or DNIe (201)
//
// Every other call is signed by the activated phone with [SignCall], in the
// headers Clave-Device, Clave-Time, Clave-Nonce and Clave-Signature; the
// gateway checks the signature, that the device is still active, then the
// time (2 minutes of skew) and that the nonce is new:
//
//	GET    /app/v1/device                this device
//	DELETE /app/v1/device                deactivate it
//	GET    /app/v1/requests?wait=N       pending login requests, waiting up to N ≤ 60 s for one
//	POST   /app/v1/requests/scan         claim the request of a scanned QR code (QRPayload)
//	POST   /app/v1/requests/{id}/decision  confirm or decline (SignConfirmation)
//	GET    /app/v1/pins                  Cl@ve PIN codes pushed to the app (PushBox)
//	GET    /app/v1/history?state=&kind=&requester=&from=&to=&order=&limit=&offset=
//
// Cl@ve Permanente management, signed the same way, on a gateway whose
// [APIConfig.Permanente] is set (else 404 not_found). The signature, which
// only the unlock factor releases, is the proof of identity each asks for;
// the citizen's registration must be active:
//
//	GET    /app/v1/permanente                  its status: registered, activated, blocked, password expiry
//	POST   /app/v1/permanente/activation-code  a new activation code, the only valid one from then on
//	POST   /app/v1/permanente/password         change the password: {"current","new"}
//	POST   /app/v1/permanente/recovery         set a forgotten password, unblocking it: {"new"} (PermanenteRecovery)
//	DELETE /app/v1/permanente                  delete the Cl@ve Permanente user
//
// Password changes and recoveries are limited to 10 an hour per citizen and
// 30 per 10 minutes per client, new activation codes to 5 an hour per
// citizen; wrong current passwords also count towards the block of
// Cl@ve Permanente itself (5 in a row). No password or code is logged.
//
// Every refusal is {"error":{"code":"…","message":"…"}} with a stable code
// and its HTTP status: bad_request, too_large, unauthenticated,
// bad_signature, stale, replay, device_inactive, wrong_code,
// too_many_attempts, no_code, expired, bad_proof, not_found, claimed,
// not_claimed, already_decided, mismatch, bad_confirmation, wrong_device,
// method_not_allowed, and unavailable (503: the gateway's storage failed;
// nothing was counted against the citizen). No input gets a 500. The Cl@ve
// Permanente calls add registration_inactive, not_registered,
// not_activated, wrong_password, blocked, conflict, and weak_password
// (422), whose error also lists every broken rule of the password policy
// by its [permanente.Rule]: "rules":["too_short","no_digit"].
package mobile
