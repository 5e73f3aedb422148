package app

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/clave-go/clave/mobile"
)

// KDFParams is the cost of deriving the key that encrypts the device key
// from the unlock passphrase, with Argon2id (RFC 9106). The cost is what
// makes guessing the passphrase of a copied state file slow; it is stored
// with the key, so a phone keeps opening after the defaults change.
type KDFParams struct {
	// Time is the number of passes over the memory; 0 means 3.
	Time uint32

	// MemoryKiB is the memory used, in KiB; 0 means 64 MiB. Lower it only
	// in tests: every halving halves an attacker's cost too.
	MemoryKiB uint32

	// Threads is the parallelism; 0 means 4.
	Threads uint8
}

// defaultKDF is the cost used for zero fields of [KDFParams]: RFC 9106's
// second recommended setting, a fraction of a second on a phone.
var defaultKDF = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// Bounds on the cost read from a state file, so that an altered file can
// neither ask for gigabytes of memory nor drop to no cost at all unnoticed.
const (
	maxKDFTime   = 16
	maxKDFMemory = 1 << 20 // 1 GiB
	maxKDFThread = 16
)

func (p KDFParams) withDefaults() KDFParams {
	if p.Time == 0 {
		p.Time = defaultKDF.Time
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = defaultKDF.MemoryKiB
	}
	if p.Threads == 0 {
		p.Threads = defaultKDF.Threads
	}
	return p
}

func (p KDFParams) check() error {
	if p.Time < 1 || p.Time > maxKDFTime || p.Threads < 1 || p.Threads > maxKDFThread ||
		p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemory {
		return fmt.Errorf("%w: key derivation cost out of bounds (time %d, memory %d KiB, threads %d)",
			ErrBadState, p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

const (
	stateVersion = 1
	kdfName      = "argon2id"
	aeadName     = "chacha20poly1305"
	saltLen      = 16

	// keyLabel opens the additional data of the sealed key, naming this
	// use of the passphrase-derived key.
	keyLabel = "clave-app-device-key-v1"

	// maxStateFile bounds what Load reads: a state file is under 1 KiB.
	maxStateFile = 64 << 10
)

// sealedKey is the device key's seed encrypted under a key derived from the
// unlock passphrase.
type sealedKey struct {
	kdf        KDFParams
	salt       []byte
	nonce      []byte
	ciphertext []byte
}

// derivedKey is the passphrase's encryption key with the salt and cost that
// made it.
type derivedKey struct {
	kdf  KDFParams
	salt []byte
	key  []byte
}

// deriveNew derives an encryption key from passphrase with a fresh salt.
func deriveNew(passphrase []byte, p KDFParams) (*derivedKey, error) {
	if len(passphrase) == 0 {
		return nil, ErrNoPassphrase
	}
	p = p.withDefaults()
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("app: Client.KDF: %w", err)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("app: reading randomness: %w", err)
	}
	return &derivedKey{kdf: p, salt: salt, key: derive(passphrase, p, salt)}, nil
}

func derive(passphrase []byte, p KDFParams, salt []byte) []byte {
	return argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, chacha20poly1305.KeySize)
}

// seal encrypts the seed of priv for the phone whose identity is bound in
// the additional data, so that the key cannot be moved to another device
// ID or citizen in the file without the decryption failing.
func (d *derivedKey) seal(priv ed25519.PrivateKey, deviceID, citizen string) (sealedKey, error) {
	aead, err := chacha20poly1305.New(d.key)
	if err != nil {
		return sealedKey{}, fmt.Errorf("app: %w", err)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return sealedKey{}, fmt.Errorf("app: reading randomness: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	ct := aead.Seal(nil, nonce, priv.Seed(), additionalData(deviceID, citizen, pub))
	return sealedKey{kdf: d.kdf, salt: d.salt, nonce: nonce, ciphertext: ct}, nil
}

// open decrypts the key with passphrase, for the phone deviceID of citizen
// whose public key is pub.
func (s sealedKey) open(passphrase []byte, deviceID, citizen string, pub ed25519.PublicKey) (ed25519.PrivateKey, error) {
	if len(passphrase) == 0 {
		return nil, ErrNoPassphrase
	}
	aead, err := chacha20poly1305.New(derive(passphrase, s.kdf, s.salt))
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	seed, err := aead.Open(nil, s.nonce, s.ciphertext, additionalData(deviceID, citizen, pub))
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	priv := ed25519.NewKeyFromSeed(seed)
	clear(seed)
	if subtle.ConstantTimeCompare(priv.Public().(ed25519.PublicKey), pub) != 1 {
		clear(priv)
		return nil, fmt.Errorf("%w: the key does not match the public key", ErrBadState)
	}
	return priv, nil
}

// additionalData binds the sealed key to the phone's identity: each field
// length-prefixed, so that no two identities give the same bytes.
func additionalData(deviceID, citizen string, pub ed25519.PublicKey) []byte {
	var b []byte
	for _, f := range [][]byte{[]byte(keyLabel), []byte(deviceID), []byte(citizen), pub} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// Phone is an activated phone as it is kept between runs of the app: the
// gateway, the device's identity and public key, and the private key
// encrypted under the unlock passphrase. It holds no secret in clear: the
// key exists in memory only in a [Session] that [Phone.Unlock] opens.
type Phone struct {
	// Gateway is the base URL of the gateway the phone was activated with.
	Gateway string

	// DeviceID names the device in its signed calls.
	DeviceID string

	// Citizen is the DNI or NIE the device was activated for.
	Citizen string

	// Method is how the device was activated.
	Method mobile.ActivationMethod

	// ActivatedAt is when the gateway activated it.
	ActivatedAt time.Time

	// PublicKey is the device's Ed25519 public key, as the gateway knows
	// it.
	PublicKey ed25519.PublicKey

	key sealedKey

	// client is the Client that activated the phone, whose transport and
	// clock its sessions keep using; nil for a loaded phone.
	client *Client
}

// phoneJSON is a state file.
type phoneJSON struct {
	Version     int       `json:"version"`
	Gateway     string    `json:"gateway"`
	DeviceID    string    `json:"device_id"`
	Citizen     string    `json:"citizen"`
	Method      string    `json:"method"`
	ActivatedAt time.Time `json:"activated_at"`
	PublicKey   string    `json:"public_key"`
	Key         keyJSON   `json:"key"`
}

type keyJSON struct {
	KDF        string `json:"kdf"`
	Time       uint32 `json:"time"`
	MemoryKiB  uint32 `json:"memory_kib"`
	Threads    uint8  `json:"threads"`
	Salt       string `json:"salt"`
	AEAD       string `json:"aead"`
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"`
}

var b64 = base64.RawURLEncoding

// MarshalJSON encodes p as its state file: the key stays encrypted.
func (p Phone) MarshalJSON() ([]byte, error) {
	return json.Marshal(phoneJSON{
		Version: stateVersion, Gateway: p.Gateway, DeviceID: p.DeviceID, Citizen: p.Citizen,
		Method: string(p.Method), ActivatedAt: p.ActivatedAt.UTC(), PublicKey: b64.EncodeToString(p.PublicKey),
		Key: keyJSON{
			KDF: kdfName, Time: p.key.kdf.Time, MemoryKiB: p.key.kdf.MemoryKiB, Threads: p.key.kdf.Threads,
			Salt: b64.EncodeToString(p.key.salt), AEAD: aeadName,
			Nonce: b64.EncodeToString(p.key.nonce), Ciphertext: b64.EncodeToString(p.key.ciphertext),
		},
	})
}

// UnmarshalJSON decodes a state file made by MarshalJSON, refusing
// anything else with [ErrBadState].
func (p *Phone) UnmarshalJSON(data []byte) error {
	var j phoneJSON
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return fmt.Errorf("%w: %w", ErrBadState, err)
	}
	if j.Version != stateVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrBadState, j.Version, stateVersion)
	}
	if j.Key.KDF != kdfName || j.Key.AEAD != aeadName {
		return fmt.Errorf("%w: key sealed with %s/%s, want %s/%s", ErrBadState, j.Key.KDF, j.Key.AEAD, kdfName, aeadName)
	}
	kdf := KDFParams{Time: j.Key.Time, MemoryKiB: j.Key.MemoryKiB, Threads: j.Key.Threads}
	if err := kdf.check(); err != nil {
		return err
	}
	pub, err1 := b64.DecodeString(j.PublicKey)
	salt, err2 := b64.DecodeString(j.Key.Salt)
	nonce, err3 := b64.DecodeString(j.Key.Nonce)
	ct, err4 := b64.DecodeString(j.Key.Ciphertext)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("%w: %w", ErrBadState, err)
	}
	if len(pub) != ed25519.PublicKeySize || len(salt) != saltLen || len(nonce) != chacha20poly1305.NonceSize ||
		len(ct) != ed25519.SeedSize+chacha20poly1305.Overhead {
		return fmt.Errorf("%w: key material of the wrong size", ErrBadState)
	}
	if j.Gateway == "" || j.DeviceID == "" || j.Citizen == "" {
		return fmt.Errorf("%w: gateway, device ID or citizen missing", ErrBadState)
	}
	switch m := mobile.ActivationMethod(j.Method); m {
	case mobile.BySMS, mobile.ByCertificate, mobile.ByDNIe:
	default:
		return fmt.Errorf("%w: unknown activation method %q", ErrBadState, m)
	}
	*p = Phone{
		Gateway: j.Gateway, DeviceID: j.DeviceID, Citizen: j.Citizen, Method: mobile.ActivationMethod(j.Method),
		ActivatedAt: j.ActivatedAt, PublicKey: ed25519.PublicKey(pub),
		key: sealedKey{kdf: kdf, salt: salt, nonce: nonce, ciphertext: ct},
	}
	return nil
}

// Save writes p to the file path atomically: to a temporary file in the
// same directory, readable by the owner only (0600), synced, then renamed
// over path, so that a crash leaves the old state or the new one, never half
// of either.
func (p *Phone) Save(path string) (err error) {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("app: saving the phone: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("app: saving the phone: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod says so, whatever the
	// platform's default.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("app: saving the phone: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("app: saving the phone: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("app: saving the phone: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("app: saving the phone: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("app: saving the phone: %w", err)
	}
	// The rename is durable once the directory is synced; not every
	// platform can sync a directory, and the file is complete either way.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Load reads a phone saved with [Phone.Save]. A file that is not one
// gives an error wrapping [ErrBadState]; a missing file, one wrapping
// [os.ErrNotExist].
func Load(path string) (*Phone, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("app: loading the phone: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, fmt.Errorf("app: loading the phone: %w", err)
	}
	if len(data) > maxStateFile {
		return nil, fmt.Errorf("app: loading the phone: %w: file over %d bytes", ErrBadState, maxStateFile)
	}
	p := new(Phone)
	if err := json.Unmarshal(data, p); err != nil {
		if !errors.Is(err, ErrBadState) {
			err = fmt.Errorf("%w: %w", ErrBadState, err)
		}
		return nil, fmt.Errorf("app: loading the phone from %s: %w", path, err)
	}
	return p, nil
}

// Unlock opens the device key with the unlock passphrase, the second factor
// of every confirmation, and returns a session that signs with it. A wrong
// passphrase, or a state file altered since it was saved, gives
// [ErrWrongPassphrase].
//
// The session's Client is the one that activated p, or for a loaded phone
// one for p.Gateway with the default transport and clock; set its fields to
// change them.
func (p *Phone) Unlock(passphrase []byte) (*Session, error) {
	priv, err := p.key.open(passphrase, p.DeviceID, p.Citizen, p.PublicKey)
	if err != nil {
		return nil, err
	}
	c := Client{BaseURL: p.Gateway}
	if p.client != nil {
		c = *p.client
		c.BaseURL = p.Gateway
	}
	phone := *p
	phone.client = nil
	return &Session{Client: c, phone: phone, priv: priv}, nil
}
