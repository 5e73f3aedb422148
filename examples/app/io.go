package main

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Madrid on systems without a zone database

	"github.com/clave-go/clave/mobile/app"
)

// madrid is where the citizen reads the times: Cl@ve is a Spanish service.
var madrid = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		return time.UTC
	}
	return loc
}()

// when is t as a Spanish reader expects it, in Madrid time.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(madrid).Format("02/01/2006 15:04")
}

// masked hides all but the last four characters of a DNI or NIE, as the
// gateway does: the terminal may be seen, or recorded, by others.
func masked(id string) string {
	if len(id) <= 4 {
		return id
	}
	return strings.Repeat("*", len(id)-4) + id[len(id)-4:]
}

// info tells the citizen what is going on, on standard error so that
// standard output keeps only results (and -json stays parseable).
func (a *cli) info(format string, args ...any) {
	fmt.Fprintf(a.stderr, format+"\n", args...)
}

// out prints a human result line.
func (a *cli) out(format string, args ...any) {
	fmt.Fprintf(a.stdout, format+"\n", args...)
}

// printJSON prints v as the command's machine output.
func (a *cli) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// readLine prompts on standard error and reads one line of standard input.
func (a *cli) readLine(prompt string) (string, error) {
	fmt.Fprint(a.stderr, prompt)
	line, err := a.stdin.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("app: nothing more on standard input")
		}
		return "", fmt.Errorf("app: reading standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// maxSmallFile bounds the files the app reads: passphrases and PEM.
const maxSmallFile = 1 << 20

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSmallFile+1))
	if err != nil {
		return nil, fmt.Errorf("app: reading %s: %w", path, err)
	}
	if len(data) > maxSmallFile {
		return nil, fmt.Errorf("app: %s: file too large", path)
	}
	return data, nil
}

// passphrase returns the unlock passphrase: the first line of
// -passphrase-file, else $CLAVE_APP_PASSPHRASE, else a line of standard
// input. There is no hidden prompt; the notice says the input is echoed.
func (a *cli) passphrase() ([]byte, error) {
	var p string
	switch {
	case a.passphraseFile != "":
		data, err := readSmall(a.passphraseFile)
		if err != nil {
			return nil, err
		}
		p, _, _ = strings.Cut(string(data), "\n")
		p = strings.TrimRight(p, "\r")
	case os.Getenv(passphraseEnv) != "":
		p = os.Getenv(passphraseEnv)
	default:
		a.info("Reading the unlock passphrase from standard input; it is shown as you type " +
			"(use -passphrase-file or $" + passphraseEnv + " to avoid that).")
		var err error
		if p, err = a.readLine("Unlock passphrase: "); err != nil {
			return nil, err
		}
	}
	if p == "" {
		return nil, app.ErrNoPassphrase
	}
	return []byte(p), nil
}

// newPassphrase returns the passphrase that will protect a new key. Typed
// on standard input, it is asked twice: a typo would lock the key for good.
func (a *cli) newPassphrase() ([]byte, error) {
	fromStdin := a.passphraseFile == "" && os.Getenv(passphraseEnv) == ""
	p, err := a.passphrase()
	if err != nil || !fromStdin {
		return p, err
	}
	again, err := a.readLine("Unlock passphrase again: ")
	if err != nil {
		return nil, err
	}
	if again != string(p) {
		return nil, errors.New("app: the two passphrases differ")
	}
	return p, nil
}

// loadPhone reads the phone's state.
func (a *cli) loadPhone() (*app.Phone, error) {
	phone, err := app.Load(a.statePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("app: no phone state in %s: activate first (app activate -h)", a.statePath)
	}
	return phone, err
}

// unlock reads the phone's state and opens its key with the passphrase.
func (a *cli) unlock() (*app.Phone, *app.Session, error) {
	phone, err := a.loadPhone()
	if err != nil {
		return nil, nil, err
	}
	pass, err := a.passphrase()
	if err != nil {
		return nil, nil, err
	}
	s, err := phone.Unlock(pass)
	clear(pass)
	if err != nil {
		return nil, nil, err
	}
	if a.gatewaySet {
		s.Client.BaseURL = a.gateway
	}
	return phone, s, nil
}

// readPEM reads the certificates ("CERTIFICATE" blocks, leaf first) and
// the private key ("PRIVATE KEY" in PKCS #8, or the older "EC PRIVATE KEY"
// and "RSA PRIVATE KEY") of a PEM file. Either may be absent.
func readPEM(path string) ([]*x509.Certificate, crypto.Signer, error) {
	data, err := readSmall(path)
	if err != nil {
		return nil, nil, err
	}
	var chain []*x509.Certificate
	var key crypto.Signer
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var k any
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("app: %s: %w", path, err)
			}
			chain = append(chain, c)
			continue
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("app: %s: private key: %w", path, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, nil, fmt.Errorf("app: %s: private key of type %T cannot sign", path, k)
		}
		key = s
	}
	return chain, key, nil
}
