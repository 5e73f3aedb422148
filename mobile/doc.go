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
//   - [Entry] and [Query]: the citizen's "My Cl@ve Mobile" history.
//
// [Service] applies the rules over a [Store], taking each decision inside one
// atomic store update. [MemoryStore] and [SQLStore] both pass the suite in
// mobile/mobiletest. The package knows nothing of HTTP, QR images, SMS or
// SAML: the gateway and the app API compose it with those.
//
// Activation codes and SMS PINs are never stored: only an HMAC under
// [Config.Secret], so that a copy of the database reveals none and cannot be
// used to test guesses offline.
package mobile
