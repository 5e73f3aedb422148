package permanente

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/store/sqlite"
)

// TestNoSecretAtRest runs a citizen through registration, activation,
// logins with SMS codes, a change, a reset and a regeneration, leaving codes
// and tickets outstanding on the way, and after every step reads everything
// each store holds: every field of the memory store, every column of every
// permanente_ table, and the SQLite files themselves. No password (accepted
// or refused), activation code, SMS code or ticket may appear in clear.
func TestNoSecretAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := NewMemoryStore()
	path := filepath.Join(t.TempDir(), "permanente.db")
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	sqlStore, err := NewSQLStore(ctx, db)
	require.NoError(t, err)

	for _, c := range []struct {
		name  string
		st    Store
		dump  func(t *testing.T) []string
		files bool
	}{
		{"memory", mem, func(*testing.T) []string { return dumpMemory(mem) }, false},
		{"sqlite", sqlStore, func(t *testing.T) []string { return dumpSQL(t, db) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := time.Date(2030, 3, 1, 10, 0, 0, 0, time.UTC)
			svc := newTestService(t, c.st, func() time.Time { return now })
			var secrets []string
			keep := func(s ...string) { secrets = append(secrets, s...) }
			keepCode := func(code ActivationCode) {
				keep(code.Value, code.Grouped(), strings.ToLower(code.Value))
			}
			check := func(step string) {
				t.Helper()
				held := c.dump(t)
				require.NotEmpty(t, held, step)
				for _, s := range secrets {
					for _, h := range held {
						if strings.Contains(h, s) {
							t.Errorf("after %s: secret %q found at rest in %q", step, s, h)
						}
					}
				}
			}
			const who, other = "12345678Z", "X1234567L"
			profile := Profile{GivenName: "Ana", FirstSurname: "Pérez"}
			pw1, pw2, pw3, wrong, weak := "Cuervo#Azul42", "Lince!Iberico7", "Garza%Real2031", "Wrong#Pass1", "perez"
			keep(pw1, pw2, pw3, wrong, weak)

			code1, err := svc.Register(ctx, who)
			require.NoError(t, err)
			keepCode(code1)
			check("register")

			_, err = svc.StartActivation(ctx, who, "AAAAAAAAAAAAAAAA")
			require.Error(t, err)
			sms1, err := svc.StartActivation(ctx, who, strings.ToLower(code1.Grouped()))
			require.NoError(t, err)
			keep(sms1.Value)
			check("start activation")

			_, err = svc.VerifyActivationSMS(ctx, who, otherCode(sms1.Value))
			require.ErrorIs(t, err, ErrWrongCode)
			ticket1, err := svc.VerifyActivationSMS(ctx, who, sms1.Value)
			require.NoError(t, err)
			keep(ticket1)
			check("verify activation SMS")

			require.ErrorIs(t, svc.CompleteActivation(ctx, who, ticket1, weak, profile), ErrWeakPassword)
			require.NoError(t, svc.CompleteActivation(ctx, who, ticket1, pw1, profile))
			check("complete activation")

			_, err = svc.Login(ctx, who, wrong)
			require.ErrorIs(t, err, ErrWrongPassword)
			_, err = svc.Login(ctx, who, pw1)
			require.NoError(t, err)
			sms2, err := svc.IssueLoginSMS(ctx, who, "login-1")
			require.NoError(t, err)
			keep(sms2.Value)
			require.ErrorIs(t, svc.VerifyLoginSMS(ctx, who, "login-1", otherCode(sms2.Value)), ErrWrongCode)
			check("login SMS outstanding")
			require.NoError(t, svc.VerifyLoginSMS(ctx, who, "login-1", sms2.Value))
			check("login SMS used")

			require.NoError(t, svc.ChangePassword(ctx, who, pw1, pw2, profile))
			check("change password")

			sms3, err := svc.StartReset(ctx, who, code1.Value)
			require.NoError(t, err)
			keep(sms3.Value)
			check("start reset")
			ticket2, err := svc.VerifyResetSMS(ctx, who, sms3.Value)
			require.NoError(t, err)
			keep(ticket2)
			check("verify reset SMS")
			require.NoError(t, svc.CompleteReset(ctx, who, ticket2, pw3, profile))
			check("complete reset")

			code2, err := svc.RegenerateActivationCode(ctx, who)
			require.NoError(t, err)
			keepCode(code2)
			sms4, err := svc.StartReset(ctx, who, code2.Value)
			require.NoError(t, err)
			keep(sms4.Value)
			check("regenerate")

			code3, err := svc.Register(ctx, other)
			require.NoError(t, err)
			keepCode(code3)
			sms5, err := svc.StartActivation(ctx, other, code3.Value)
			require.NoError(t, err)
			keep(sms5.Value)
			ticket3, err := svc.VerifyActivationSMS(ctx, other, sms5.Value)
			require.NoError(t, err)
			keep(ticket3)
			check("second citizen with a ticket outstanding")

			require.NoError(t, svc.DeleteUser(ctx, who))
			check("delete")

			// The dump does see what is stored: keys, hashes and all.
			a, err := c.st.Account(ctx, other)
			require.NoError(t, err)
			held := strings.Join(c.dump(t), "\x00")
			assert.Contains(t, held, other)
			assert.Contains(t, held, string(a.Activation.Hash))
			assert.Contains(t, held, string(a.Flow.Hash))

			if c.files {
				for _, f := range []string{path, path + "-wal"} {
					raw, err := os.ReadFile(f)
					if os.IsNotExist(err) {
						continue
					}
					require.NoError(t, err)
					for _, s := range secrets {
						assert.NotContains(t, string(raw), s, "database file %s", filepath.Base(f))
					}
				}
			}
		})
	}
}

// otherCode returns a 6-digit code other than v.
func otherCode(v string) string {
	if v == "000000" {
		return "111111"
	}
	return "000000"
}

// dumpMemory returns every string, byte slice and number the store holds.
func dumpMemory(m *MemoryStore) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	collect(reflect.ValueOf(m.accounts), &out)
	return out
}

func collect(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, v.String())
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			for i := range b {
				b[i] = byte(v.Index(i).Uint())
			}
			*out = append(*out, string(b))
			return
		}
		for i := range v.Len() {
			collect(v.Index(i), out)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			collect(it.Key(), out)
			collect(it.Value(), out)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collect(v.Elem(), out)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range v.NumField() {
			collect(v.Field(i), out)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		*out = append(*out, fmt.Sprint(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		*out = append(*out, fmt.Sprint(v.Uint()))
	}
}

// dumpSQL returns every value of every column of every permanente_ table.
func dumpSQL(t *testing.T, db *sql.DB) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'permanente\_%' ESCAPE '\'`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	require.NotEmpty(t, tables)

	var out []string
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM `+table)
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			for _, v := range vals {
				switch v := v.(type) {
				case nil:
				case []byte:
					out = append(out, string(v))
				default:
					out = append(out, fmt.Sprint(v))
				}
			}
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return out
}
