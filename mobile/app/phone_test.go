package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/mobile"
)

// testKDF keeps the key derivation cheap in tests; the cost is stored with
// the key, so unlocking uses it too.
var testKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

var testPassphrase = []byte("correct horse battery staple")

// newTestPhone makes a phone the way activation does, without a gateway.
func newTestPhone(t *testing.T) (*Phone, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	dk, err := deriveNew(testPassphrase, testKDF)
	require.NoError(t, err)
	key, err := dk.seal(priv, "dev-1234567890abcdef", "12345678Z")
	require.NoError(t, err)
	return &Phone{Gateway: "http://gateway.test", DeviceID: "dev-1234567890abcdef", Citizen: "12345678Z",
		Method: mobile.BySMS, ActivatedAt: time.Date(2026, 11, 30, 22, 50, 0, 0, time.UTC), PublicKey: pub, key: key}, priv
}

func TestPhoneSaveLoadUnlock(t *testing.T) {
	phone, priv := newTestPhone(t)
	path := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, phone.Save(path))

	loaded, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, phone.Gateway, loaded.Gateway)
	assert.Equal(t, phone.DeviceID, loaded.DeviceID)
	assert.Equal(t, phone.Citizen, loaded.Citizen)
	assert.Equal(t, phone.Method, loaded.Method)
	assert.True(t, phone.ActivatedAt.Equal(loaded.ActivatedAt))
	assert.Equal(t, phone.PublicKey, loaded.PublicKey)

	s, err := loaded.Unlock(testPassphrase)
	require.NoError(t, err)
	assert.Equal(t, priv, s.priv)
	assert.Equal(t, "http://gateway.test", s.Client.BaseURL)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(data), b64.EncodeToString(priv.Seed()), "the key is stored in clear")
}

func TestPhoneSaveIsOwnerOnlyAndAtomic(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions on Windows")
	}
	phone, _ := newTestPhone(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))

	require.NoError(t, phone.Save(path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "a temporary file was left behind")
}

func TestPhoneSaveFailsInMissingDirectory(t *testing.T) {
	phone, _ := newTestPhone(t)
	err := phone.Save(filepath.Join(t.TempDir(), "missing", "state.json"))
	require.Error(t, err)
}

func TestUnlockWrongPassphrase(t *testing.T) {
	phone, _ := newTestPhone(t)
	_, err := phone.Unlock([]byte("Tr0ub4dor&3"))
	require.ErrorIs(t, err, ErrWrongPassphrase)
	_, err = phone.Unlock(nil)
	require.ErrorIs(t, err, ErrNoPassphrase)
}

func TestDeriveRefusesEmptyPassphraseAndBadCost(t *testing.T) {
	_, err := deriveNew(nil, testKDF)
	require.ErrorIs(t, err, ErrNoPassphrase)
	_, err = deriveNew(testPassphrase, KDFParams{Time: 100})
	require.ErrorIs(t, err, ErrBadState)
}

// TestTamperedState alters one field of a saved state file at a time.
// Changes to what the key is bound to make the decryption fail, which
// Unlock cannot tell from a wrong passphrase; changes to the structure are
// refused by Load.
func TestTamperedState(t *testing.T) {
	phone, _ := newTestPhone(t)
	other, _ := newTestPhone(t)
	flip := func(s string) string {
		b, err := b64.DecodeString(s)
		require.NoError(t, err)
		b[len(b)-1] ^= 1
		return b64.EncodeToString(b)
	}
	tests := []struct {
		name    string
		edit    func(j map[string]any, key map[string]any)
		loadErr error
	}{
		{name: "ciphertext", edit: func(_, k map[string]any) { k["ciphertext"] = flip(k["ciphertext"].(string)) }},
		{name: "nonce", edit: func(_, k map[string]any) { k["nonce"] = flip(k["nonce"].(string)) }},
		{name: "salt", edit: func(_, k map[string]any) { k["salt"] = flip(k["salt"].(string)) }},
		{name: "device ID", edit: func(j, _ map[string]any) { j["device_id"] = "dev-someone-else-000" }},
		{name: "citizen", edit: func(j, _ map[string]any) { j["citizen"] = "87654321X" }},
		{name: "public key", edit: func(j, _ map[string]any) { j["public_key"] = b64.EncodeToString(other.PublicKey) }},
		{name: "time cost", edit: func(_, k map[string]any) { k["time"] = 2 }},
		{name: "version", edit: func(j, _ map[string]any) { j["version"] = 2 }, loadErr: ErrBadState},
		{name: "unknown field", edit: func(j, _ map[string]any) { j["extra"] = true }, loadErr: ErrBadState},
		{name: "kdf", edit: func(_, k map[string]any) { k["kdf"] = "pbkdf2" }, loadErr: ErrBadState},
		{name: "huge memory", edit: func(_, k map[string]any) { k["memory_kib"] = 1 << 30 }, loadErr: ErrBadState},
		{name: "short ciphertext", edit: func(_, k map[string]any) { k["ciphertext"] = "AAAA" }, loadErr: ErrBadState},
		{name: "bad base64", edit: func(_, k map[string]any) { k["salt"] = "!!" }, loadErr: ErrBadState},
		{name: "no citizen", edit: func(j, _ map[string]any) { j["citizen"] = "" }, loadErr: ErrBadState},
		{name: "method", edit: func(j, _ map[string]any) { j["method"] = "magic" }, loadErr: ErrBadState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(phone)
			require.NoError(t, err)
			var j map[string]any
			require.NoError(t, json.Unmarshal(data, &j))
			tc.edit(j, j["key"].(map[string]any))
			data, err = json.Marshal(j)
			require.NoError(t, err)
			path := filepath.Join(t.TempDir(), "state.json")
			require.NoError(t, os.WriteFile(path, data, 0o600))

			loaded, err := Load(path)
			if tc.loadErr != nil {
				require.ErrorIs(t, err, tc.loadErr)
				return
			}
			require.NoError(t, err)
			_, err = loaded.Unlock(testPassphrase)
			require.ErrorIs(t, err, ErrWrongPassphrase)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)

	big := filepath.Join(dir, "big.json")
	require.NoError(t, os.WriteFile(big, make([]byte, maxStateFile+1), 0o600))
	_, err = Load(big)
	require.ErrorIs(t, err, ErrBadState)

	junk := filepath.Join(dir, "junk.json")
	require.NoError(t, os.WriteFile(junk, []byte("{"), 0o600))
	_, err = Load(junk)
	require.ErrorIs(t, err, ErrBadState)
}

func TestMarshalValueKeepsTheSealedKey(t *testing.T) {
	phone, _ := newTestPhone(t)
	byValue, err := json.Marshal(*phone)
	require.NoError(t, err)
	byPointer, err := json.Marshal(phone)
	require.NoError(t, err)
	assert.JSONEq(t, string(byPointer), string(byValue))
	var back Phone
	require.NoError(t, json.Unmarshal(byValue, &back))
	_, err = back.Unlock(testPassphrase)
	require.NoError(t, err)
}

func TestLock(t *testing.T) {
	phone, _ := newTestPhone(t)
	s, err := phone.Unlock(testPassphrase)
	require.NoError(t, err)
	s.Lock()
	err = s.Decline(t.Context(), Request{ID: "r", LoginID: "l", Nonce: "n"})
	require.True(t, errors.Is(err, ErrLocked), "%v", err)
}
