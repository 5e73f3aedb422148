package pages

import (
	"context"
	"fmt"
)

// Textf returns the text of key in lang (as T) with args in its fmt verbs:
// the SMS and app messages, which live with the page texts so that one test
// checks that every language has them, with the same verbs.
func Textf(lang, key string, args ...any) string {
	return fmt.Sprintf(T(lang, key), args...)
}

type langKey struct{}

// WithLang returns ctx carrying lang, the language of the page that started
// what runs under it: a message sent deep inside (a Cl@ve PIN issued through
// an interface that takes no request) is written in it.
func WithLang(ctx context.Context, lang string) context.Context {
	return context.WithValue(ctx, langKey{}, lang)
}

// LangOf is the language WithLang put in ctx, Spanish when none (a call
// from a service's API that named none, a test).
func LangOf(ctx context.Context) string {
	if l, ok := ctx.Value(langKey{}).(string); ok && supported(l) {
		return l
	}
	return "es"
}
