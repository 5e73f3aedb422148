package saml

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateGatewayShapedResponse(t *testing.T) {
	doc := buildSigned(t, gatewayParams(), ResponseSecurity{SignResponse: true})
	raw := docBytes(t, doc)
	a, err := testValidator().ValidateResponse(raw, Expectation{RequestID: testReqID, MinLoA: LoALow})
	require.NoError(t, err)
	assert.Equal(t, "12345678Z", a.NameID.Value)
	assert.Equal(t, LoASubstantial, a.LoA)
	assert.True(t, a.ResponseSigned)
	assert.False(t, a.AssertionSigned)
	assert.True(t, a.OneTimeUse)
	v, ok := a.Attribute(AttrCurrentFamilyName)
	require.True(t, ok)
	assert.Equal(t, "GARCIA LOPEZ", v)
	t.Logf("%s", raw)
}
