package sptest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
)

// RunSessionStoreTests runs the SessionStore conformance cases against
// target.
func RunSessionStoreTests(t *testing.T, target Target[clave.SessionStore]) {
	run(t, target, []testCase[clave.SessionStore]{
		{name: "missing session", run: testSessionMissing},
		{name: "save, load, replace", run: testSessionSaveLoad},
		{name: "stored data is a copy", run: testSessionCopy},
		{name: "any bytes", run: testSessionBinary},
		{name: "delete", run: testSessionDelete},
		{name: "replicas share sessions", run: testSessionReplicas},
		{name: "a past expiry saves nothing live", run: testSessionPastExpiry},
		{name: "expires exactly at its expiry", movesTime: true, run: testSessionExpiry},
		{name: "concurrent sessions on two replicas", run: testSessionConcurrent},
	})
}

var bg = context.Background()

func load(t *testing.T, s clave.SessionStore, id string) []byte {
	t.Helper()
	data, err := s.Load(bg, id)
	require.NoError(t, err, "Load(%q)", id)
	return data
}

func assertNoSession(t *testing.T, s clave.SessionStore, id string, msg string) {
	t.Helper()
	data, err := s.Load(bg, id)
	assert.ErrorIs(t, err, clave.ErrNoSession, msg)
	assert.Nil(t, data, msg)
}

func testSessionMissing(t *testing.T, e *env[clave.SessionStore]) {
	assertNoSession(t, e.s, "never-saved", "a session never saved")
	assertNoSession(t, e.s, "", "the empty ID")
}

func testSessionSaveLoad(t *testing.T, e *env[clave.SessionStore]) {
	exp := e.clock.Now().Add(time.Hour)
	require.NoError(t, e.s.Save(bg, "s1", []byte("one"), exp))
	require.NoError(t, e.s.Save(bg, "s2", []byte("two"), exp))
	assert.Equal(t, []byte("one"), load(t, e.s, "s1"))
	assert.Equal(t, []byte("two"), load(t, e.s, "s2"))
	require.NoError(t, e.s.Save(bg, "s1", []byte("uno"), exp.Add(time.Hour)))
	assert.Equal(t, []byte("uno"), load(t, e.s, "s1"), "replaced")
	assert.Equal(t, []byte("two"), load(t, e.s, "s2"), "the other is untouched")
}

func testSessionCopy(t *testing.T, e *env[clave.SessionStore]) {
	buf := []byte("original")
	require.NoError(t, e.s.Save(bg, "c", buf, e.clock.Now().Add(time.Hour)))
	copy(buf, "XXXXXXXX")
	got := load(t, e.s, "c")
	assert.Equal(t, []byte("original"), got, "changing the slice saved changes nothing stored")
	copy(got, "YYYYYYYY")
	assert.Equal(t, []byte("original"), load(t, e.s, "c"), "changing the slice loaded changes nothing stored")
}

func testSessionBinary(t *testing.T, e *env[clave.SessionStore]) {
	data := make([]byte, 0, 4096)
	for i := range 4096 {
		data = append(data, byte(i))
	}
	require.NoError(t, e.s.Save(bg, "bin", data, e.clock.Now().Add(time.Hour)))
	assert.True(t, bytes.Equal(data, load(t, e.s, "bin")))
}

func testSessionDelete(t *testing.T, e *env[clave.SessionStore]) {
	exp := e.clock.Now().Add(time.Hour)
	require.NoError(t, e.s.Save(bg, "d1", []byte("x"), exp))
	require.NoError(t, e.s.Save(bg, "d2", []byte("y"), exp))
	require.NoError(t, e.s.Delete(bg, "d1"))
	assertNoSession(t, e.s, "d1", "deleted")
	assert.Equal(t, []byte("y"), load(t, e.s, "d2"), "the other stays")
	assert.NoError(t, e.s.Delete(bg, "d1"), "deleting twice")
	assert.NoError(t, e.s.Delete(bg, "never-saved"), "deleting a missing session")
	require.NoError(t, e.s.Save(bg, "d1", []byte("z"), exp))
	assert.Equal(t, []byte("z"), load(t, e.s, "d1"), "saved again after a delete")
}

func testSessionReplicas(t *testing.T, e *env[clave.SessionStore]) {
	other := e.open()
	require.NoError(t, e.s.Save(bg, "r", []byte("shared"), e.clock.Now().Add(time.Hour)))
	assert.Equal(t, []byte("shared"), load(t, other, "r"), "saved on one replica, loaded on the other")
	require.NoError(t, other.Delete(bg, "r"))
	assertNoSession(t, e.s, "r", "deleted on one replica, gone on the other")
}

func testSessionPastExpiry(t *testing.T, e *env[clave.SessionStore]) {
	now := e.clock.Now()
	require.NoError(t, e.s.Save(bg, "p", []byte("x"), now.Add(-time.Second)))
	assertNoSession(t, e.s, "p", "saved already expired")
	require.NoError(t, e.s.Save(bg, "q", []byte("x"), now.Add(time.Hour)))
	require.NoError(t, e.s.Save(bg, "q", []byte("y"), time.Time{}))
	assertNoSession(t, e.s, "q", "replaced by an expired session")
}

func testSessionExpiry(t *testing.T, e *env[clave.SessionStore]) {
	t0 := e.clock.Now()
	require.NoError(t, e.s.Save(bg, "e", []byte("x"), t0.Add(time.Hour)))
	e.clock.Advance(time.Hour - time.Millisecond)
	assert.Equal(t, []byte("x"), load(t, e.s, "e"), "a millisecond before its expiry")
	e.clock.Advance(time.Millisecond)
	assertNoSession(t, e.s, "e", "at its expiry")
	require.NoError(t, e.s.Save(bg, "e", []byte("y"), t0.Add(2*time.Hour)))
	assert.Equal(t, []byte("y"), load(t, e.s, "e"), "saved again")
}

func testSessionConcurrent(t *testing.T, e *env[clave.SessionStore]) {
	replicas := []clave.SessionStore{e.s, e.open()}
	exp := e.clock.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for i := range 16 {
		a, b := replicas[i%2], replicas[(i+1)%2]
		wg.Go(func() {
			for j := range 10 {
				id := fmt.Sprintf("g%d-%d", i, j)
				want := []byte(id)
				if !assert.NoError(t, a.Save(bg, id, want, exp)) {
					return
				}
				got, err := b.Load(bg, id)
				assert.NoError(t, err)
				assert.Equal(t, want, got)
				assert.NoError(t, b.Delete(bg, id))
				_, err = a.Load(bg, id)
				assert.ErrorIs(t, err, clave.ErrNoSession)
			}
		})
	}
	wg.Wait()
}
