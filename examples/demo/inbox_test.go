package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
)

var (
	inboxText  = regexp.MustCompile(`<span class="text">([^<]*)</span>`)
	inboxOlder = regexp.MustCompile(`<a id="older" rel="next" href="([^"]*)">`)
	inboxNewer = regexp.MustCompile(`<a id="newer" rel="prev" href="([^"]*)">`)
)

// TestInboxPages: the inbox shows 50 messages a page, newest first, with
// links to older and newer pages, filters by recipient and never reloads
// itself.
func TestInboxPages(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	in := gateway.NewInbox(0, nil)
	srv := httptest.NewServer(in.Page())
	defer srv.Close()
	page := func(query string) (string, []string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/" + html.UnescapeString(query))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var texts []string
		for _, m := range inboxText.FindAllStringSubmatch(string(b), -1) {
			texts = append(texts, html.UnescapeString(m[1]))
		}
		return string(b), texts
	}

	empty, _ := page("")
	assert.Contains(t, empty, `id="empty"`)
	assert.NotContains(t, empty, "http-equiv", "no meta refresh")

	// 120 messages to 40 phones: three each, interleaved in time.
	for i := range 120 {
		require.NoError(t, in.Send(context.Background(), gateway.Message{Channel: gateway.ChannelSMS,
			To: fmt.Sprintf("+346000000%02d", i%40), Text: fmt.Sprintf("PIN <%03d>", i), SentAt: t0.Add(time.Duration(i) * time.Second)}))
	}
	first, texts := page("")
	require.Len(t, texts, 50)
	assert.Equal(t, "PIN <119>", texts[0], "newest first, escaped")
	assert.Equal(t, "PIN <070>", texts[49])
	assert.Nil(t, inboxNewer.FindStringSubmatch(first), "no newer page than the first")
	assert.Contains(t, first, "Página 1 de 3")
	older := inboxOlder.FindStringSubmatch(first)
	require.NotNil(t, older, first)

	second, texts := page(older[1])
	require.Len(t, texts, 50)
	assert.Equal(t, "PIN <069>", texts[0])
	older = inboxOlder.FindStringSubmatch(second)
	require.NotNil(t, older)
	third, texts := page(older[1])
	require.Len(t, texts, 20)
	assert.Equal(t, "PIN <000>", texts[19])
	assert.Nil(t, inboxOlder.FindStringSubmatch(third), "no older page than the last")
	newer := inboxNewer.FindStringSubmatch(third)
	require.NotNil(t, newer)
	_, texts = page(newer[1])
	assert.Equal(t, "PIN <069>", texts[0])

	_, texts = page("?page=99")
	assert.Equal(t, "PIN <000>", texts[len(texts)-1], "past the last page shows the last")
	_, texts = page("?page=nope")
	assert.Equal(t, "PIN <119>", texts[0])

	filtered, texts := page("?to=%2B34600000007")
	assert.Equal(t, []string{"PIN <087>", "PIN <047>", "PIN <007>"}, texts)
	assert.Contains(t, html.UnescapeString(filtered), `value="+34600000007"`, "the filter stays in the form")
	_, texts = page("?to=%2B34699999999")
	assert.Empty(t, texts)
}
