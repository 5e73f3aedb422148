package permanente

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Argon2 defaults: OWASP's minimum configuration for argon2id.
const (
	defaultArgon2Time    = 2
	defaultArgon2Memory  = 19 * 1024 // KiB
	defaultArgon2Threads = 1

	// saltLen and hashLen are those of the hashes this package makes; a
	// stored hash may have others within the bounds below.
	saltLen = 16
	hashLen = 32

	// Bounds on the parameters of a hash this package makes or verifies,
	// so that a corrupt or planted stored hash cannot make a login take
	// gigabytes or minutes.
	maxArgon2Time    = 64
	maxArgon2Memory  = 4 * 1024 * 1024 // KiB: 4 GiB
	minSaltLen       = 8
	maxSaltLen       = 64
	minHashLen       = 16
	maxHashLen       = 64
	maxEncodedLength = 256

	// argon2Version is the algorithm version of golang.org/x/crypto/argon2,
	// 0x13.
	argon2Version = 19
)

// Argon2Params are the cost parameters of argon2id. Every hash records its
// own, so they can be raised without invalidating stored passwords.
type Argon2Params struct {
	// Time is the number of passes over the memory; default 2.
	Time uint32

	// Memory is the memory used, in KiB; default 19456 (19 MiB).
	Memory uint32

	// Threads is the degree of parallelism; default 1.
	Threads uint8
}

func (p Argon2Params) withDefaults() Argon2Params {
	if p.Time == 0 {
		p.Time = defaultArgon2Time
	}
	if p.Memory == 0 {
		p.Memory = defaultArgon2Memory
	}
	if p.Threads == 0 {
		p.Threads = defaultArgon2Threads
	}
	return p
}

func (p Argon2Params) check() error {
	if p.Time < 1 || p.Time > maxArgon2Time || p.Memory < 1 || p.Memory > maxArgon2Memory || p.Threads < 1 {
		return errors.New("permanente: argon2 parameters out of range")
	}
	return nil
}

// encodeHash writes an argon2id hash in the PHC string format,
//
//	$argon2id$v=19$m=<memory KiB>,t=<time>,p=<threads>$<salt>$<hash>
//
// with salt and hash in standard base64 without padding, the format of the
// reference implementation and of most libraries, so a stored hash can be
// checked or migrated by other tools.
func encodeHash(p Argon2Params, salt, hash []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(hash))
}

// errBadHash reports a stored hash that is not an argon2id PHC string within
// bounds; it means a corrupt store, never a wrong password.
var errBadHash = errors.New("permanente: malformed stored password hash")

// decodeHash parses a PHC string written by encodeHash, with the parameters
// in that order.
func decodeHash(s string) (p Argon2Params, salt, hash []byte, err error) {
	if len(s) > maxEncodedLength {
		return p, nil, nil, errBadHash
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2Version) {
		return p, nil, nil, errBadHash
	}
	var params [3]uint64
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, errBadHash
	}
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return p, nil, nil, errBadHash
		}
		if params[i], err = strconv.ParseUint(v, 10, 32); err != nil {
			return p, nil, nil, errBadHash
		}
	}
	if params[2] > 255 {
		return p, nil, nil, errBadHash
	}
	p = Argon2Params{Memory: uint32(params[0]), Time: uint32(params[1]), Threads: uint8(params[2])}
	if p.check() != nil {
		return p, nil, nil, errBadHash
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.Strict().DecodeString(f[4]); err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, errBadHash
	}
	if hash, err = b64.Strict().DecodeString(f[5]); err != nil || len(hash) < minHashLen || len(hash) > maxHashLen {
		return p, nil, nil, errBadHash
	}
	return p, salt, hash, nil
}

// hashPassword hashes pw with a fresh random salt and the configured
// parameters.
func (s *Service) hashPassword(pw string) (string, error) {
	salt, err := s.random(saltLen)
	if err != nil {
		return "", err
	}
	p := s.cfg.Argon2
	return encodeHash(p, salt, s.kdf([]byte(pw), salt, p.Time, p.Memory, p.Threads, hashLen)), nil
}

// verifyPassword reports whether pw matches the stored hash encoded, and
// whether that hash should be remade with the configured parameters. The
// comparison takes the same time wherever the hashes differ.
func (s *Service) verifyPassword(pw, encoded string) (ok, stale bool, err error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	got := s.kdf([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, p != s.cfg.Argon2 || len(salt) != saltLen || len(want) != hashLen, nil
}

// dummyHash returns a well-formed hash with parameters p that no password
// matches: its hash part is random, not derived from any password. It is
// drawn from crypto/rand, not Config.Rand: a predictable dummy would be a
// password after all.
func dummyHash(p Argon2Params) (string, error) {
	b := make([]byte, saltLen+hashLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return encodeHash(p, b[:saltLen], b[saltLen:]), nil
}
