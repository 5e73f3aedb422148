// Package permanente implements the rules and storage of Cl@ve Permanente:
// a password of the citizen's choosing, set up with an activation code and an
// SMS code, with an SMS code on top for the higher levels of assurance.
//
//	svc, err := permanente.New(permanente.Config{Secret: secret}, permanente.NewMemoryStore())
//	// at registration; code.Grouped() goes on the invitation letter:
//	code, err := svc.Register(ctx, "12345678Z")
//	// activation: the typed activation code, then the SMS code, then the password:
//	sms, err := svc.StartActivation(ctx, "12345678Z", "abcd efgh jkmn pqrs")
//	ticket, err := svc.VerifyActivationSMS(ctx, "12345678Z", typedSMS)
//	err = svc.CompleteActivation(ctx, "12345678Z", ticket, newPassword, profile)
//	// each login; for substantial or high, an SMS code too:
//	res, err := svc.Login(ctx, "12345678Z", password) // ErrPasswordExpired: force a change
//	sms, err = svc.IssueLoginSMS(ctx, "12345678Z", loginID)
//	err = svc.VerifyLoginSMS(ctx, "12345678Z", loginID, typedSMS)
//
// The rules, each enforced by [Service] inside one atomic store update:
//
//   - Activation code: 16 characters of [ActivationAlphabet], shown as
//     XXXX-XXXX-XXXX-XXXX and typed in any case, with or without
//     separators. It comes with registration and is kept: it also opens the
//     forgotten-password flow. Only the latest is valid
//     ([Service.RegenerateActivationCode]); more than 5 wrong entries block
//     it until a new one is issued.
//   - Activation and reset ([Flow]): activation code, then a 6-digit SMS
//     code (5 minutes, 3 attempts, after which the flow starts again), then
//     a single-use ticket that lets the new password be set.
//   - Password policy ([CheckPassword]): 8 to 128 characters; below 16, a
//     lower-case and an upper-case letter, a digit and a special character;
//     not containing the citizen's names or DNI/NIE; not the current or
//     previous password. Every broken rule is reported, each a
//     [*PolicyError] with a stable [Rule] for the pages to translate.
//   - Passwords expire after 2 years: [Service.Login] then returns
//     [ErrPasswordExpired] and the gateway forces [Service.ChangePassword].
//     5 consecutive failures block the password until it is reset.
//   - Reinforced login ([Service.IssueLoginSMS]): a 6-digit SMS code bound
//     to the login, 5 minutes, single use, 3 attempts.
//
// Nothing secret is stored in clear. Passwords are hashed with argon2id (a
// salt per password, the parameters of [Config.Argon2], the PHC string format)
// and compared in constant time; activation codes, SMS codes and tickets are
// kept only as an HMAC under a key derived from [Config.Secret], so that a
// copy of the database reveals none and cannot be used to test guesses
// offline. Where an answer could tell whether a citizen is registered (a
// login, an activation code typed on a public page), an unknown citizen gets
// the answer, and for logins the hashing work, of a wrong password or code.
//
// [MemoryStore] and [SQLStore] both pass the suite in
// permanente/permanentetest. The rules know nothing of HTTP, SMS or SAML.
// The pages sit on top, on the gateway's public method contract: [Method],
// the login on the gateway's chooser (password, the change an expired one
// forces, the SMS code of the reinforced step), and [AccountPages], the
// account services outside any login (activation, forgotten password,
// change, unsubscribe). They send the codes the rules return, check the
// contrast data of the gateway's registry, limit requests per client
// ([Limits]), and answer identifiers without an account as they answer a
// wrong password or activation code, blocked after as many.
package permanente
