package saml

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/clave-go/clave/internal/samlcore"
)

// TestCoreAgrees checks that the values this package publishes are the ones
// internal/samlcore signs, verifies and parses with: they are written out
// here so that go doc shows them, and must not drift.
func TestCoreAgrees(t *testing.T) {
	for name, pair := range map[string][2]string{
		"NSProtocol":   {NSProtocol, samlcore.NSProtocol},
		"NSAssertion":  {NSAssertion, samlcore.NSAssertion},
		"NSDSig":       {NSDSig, samlcore.NSDSig},
		"NSExcC14N":    {NSExcC14N, samlcore.NSExcC14N},
		"NameIDEntity": {NameIDEntity, samlcore.NameIDEntity},
		"AlgRSASHA1":   {AlgRSASHA1, samlcore.AlgRSASHA1},
		"AlgRSASHA256": {AlgRSASHA256, samlcore.AlgRSASHA256},
		"AlgRSASHA384": {AlgRSASHA384, samlcore.AlgRSASHA384},
		"AlgRSASHA512": {AlgRSASHA512, samlcore.AlgRSASHA512},
		"AlgSHA1":      {AlgSHA1, samlcore.AlgSHA1},
		"AlgSHA256":    {AlgSHA256, samlcore.AlgSHA256},
		"AlgSHA384":    {AlgSHA384, samlcore.AlgSHA384},
		"AlgSHA512":    {AlgSHA512, samlcore.AlgSHA512},
		"AlgExcC14N":   {AlgExcC14N, samlcore.AlgExcC14N},
		"AlgEnveloped": {AlgEnveloped, samlcore.AlgEnveloped},
	} {
		assert.Equal(t, pair[0], pair[1], name)
	}
	assert.Equal(t, DefaultMaxMessageSize, samlcore.DefaultMaxMessageSize)
	assert.Equal(t, AlgorithmPolicy{AllowSHA1: true}.core(), samlcore.AlgorithmPolicy{AllowSHA1: true})
}
