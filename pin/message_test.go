package pin_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/pin"
)

// The SMS speaks the language of the page that asked for the PIN, and says
// the same in each: the PIN, the request code, until when.
func TestSMSInThePagesLanguage(t *testing.T) {
	for _, lang := range pages.Languages {
		t.Run(lang, func(t *testing.T) {
			r := newMethodRig(t, pin.Config{}, pin.Limits{})
			issued, err := r.m.Issue(pages.WithLang(context.Background(), lang), "10.0.0.1", citizen, "09/03/2031", "")
			require.NoError(t, err)
			sms := r.out.last(t)
			assert.Equal(t, pages.Textf(lang, "sms.pin", sms.Code, issued.RequestCode, issued.ExpiresAt.Format("15:04")), sms.Text)
			assert.Contains(t, sms.Text, "Cl@ve PIN: "+sms.Code+". ")
			assert.Contains(t, sms.Text, issued.RequestCode)
		})
	}
	r := newMethodRig(t, pin.Config{}, pin.Limits{})
	_, err := r.m.Issue(context.Background(), "10.0.0.1", citizen, "09/03/2031", "")
	require.NoError(t, err)
	assert.Contains(t, r.out.last(t).Text, "Código de solicitud", "Spanish when nothing says otherwise")
}
