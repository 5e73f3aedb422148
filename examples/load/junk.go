package main

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// junkKinds are the junk requests sent in turn.
var junkKinds = []struct {
	name string
	body func(spid, dest string) string
}{
	{"random bytes, base64 (2 KiB)", func(_, _ string) string {
		b := make([]byte, 2048)
		_, _ = crand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}},
	{"unsigned AuthnRequest claiming an unknown SPID (2 KiB)", func(spid, dest string) string {
		return encode(junkRequest(spid, dest, 2048, false))
	}},
	{"AuthnRequest claiming the registered SPID, forged signature (4 KiB)", func(_, dest string) string {
		return encode(junkRequest(agencySPID, dest, 4096, true))
	}},
	{"AuthnRequest claiming an unknown SPID, padded to ~250 KiB (under the 256 KiB limit)", func(spid, dest string) string {
		return encode(junkRequest(spid, dest, 250<<10, false))
	}},
	{"SAMLRequest field over the size limit (400 KiB)", func(_, _ string) string {
		return strings.Repeat("QUFB", 100<<10)
	}},
}

func encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// junkRequest is an AuthnRequest-looking document of about size bytes.
func junkRequest(spid, dest string, size int, signed bool) []byte {
	var id [12]byte
	_, _ = crand.Read(id[:])
	sig := ""
	if signed {
		sig = `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
			`<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>` +
			`<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"/>` +
			`<ds:Reference URI="#_` + fmt.Sprintf("%x", id) + `"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>` +
			`<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>` +
			`<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha512"/><ds:DigestValue>` + encode(id[:]) + `</ds:DigestValue></ds:Reference></ds:SignedInfo>` +
			`<ds:SignatureValue>` + encode(make([]byte, 256)) + `</ds:SignatureValue></ds:Signature>`
	}
	head := fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`+
		` ID="_%x" Version="2.0" IssueInstant="%s" Destination="%s" ProviderName="%s;Junk"`+
		` AssertionConsumerServiceURL="http://127.0.0.1:9/acs"><saml:Issuer>http://127.0.0.1:9/</saml:Issuer>%s`,
		id, time.Now().UTC().Format("2006-01-02T15:04:05Z"), dest, spid, sig)
	tail := `</samlp:AuthnRequest>`
	pad := max(0, size-len(head)-len(tail)-9)
	return []byte(head + "<!-- " + strings.Repeat("x", pad) + " -->" + tail)
}

type junkResult struct {
	sent              int
	before, after     runtime.MemStats
	peakHeapInuse     uint64
	inspectedServices int
}

// heap is the Go heap after a full collection.
func heap() runtime.MemStats {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m
}

// scenarioJunk is -scenario junk.
func scenarioJunk(ctx context.Context, w io.Writer, h *harness, o *options) (junkResult, error) {
	fmt.Fprintf(w, "== junk: %d junk POSTs to /Proxy2/ServiceProvider, claiming %d SPIDs, 32 at a time\n", o.junk, o.junkSPIDs)
	res := junkResult{before: heap()}
	dest := h.gw.Endpoint()
	var (
		next   atomic.Int64
		mu     sync.Mutex
		counts = map[string]int{}
		wg     sync.WaitGroup
		peak   atomic.Uint64
	)
	stop := make(chan struct{})
	go func() { // samples the heap as it is, uncollected
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	client := &http.Client{Transport: h.transport, Timeout: 30 * time.Second}
	t0 := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.junk {
					return
				}
				k := junkKinds[i%len(junkKinds)]
				spid := fmt.Sprintf("S%07dJ_E%08d", i%o.junkSPIDs, i%o.junkSPIDs)
				form := url.Values{"SAMLRequest": {k.body(spid, dest)}, "RelayState": {"junk"}}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, dest, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set(clientHeader, fmt.Sprintf("192.0.2.%d", i%250))
				answer := ""
				if resp, err := client.Do(req); err != nil {
					answer = errClass(err)
				} else {
					_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPage))
					resp.Body.Close()
					answer = fmt.Sprintf("HTTP %d", resp.StatusCode)
				}
				mu.Lock()
				counts[k.name+" → "+answer]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	elapsed := time.Since(t0)
	res.sent = min(int(next.Load()), o.junk)
	h.transport.CloseIdleConnections()
	res.after = heap()
	res.peakHeapInuse = peak.Load()
	res.inspectedServices = len(h.gw.InspectedServices())
	fmt.Fprintf(w, "sent %d in %s\n", res.sent, ms(elapsed))
	printCounts(w, "answers", counts)
	mb := func(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
	fmt.Fprintf(w, "Go heap in use after GC: before %s, after %s (growth %s; goal within 50 MB); peak uncollected %s\n",
		mb(res.before.HeapInuse), mb(res.after.HeapInuse), mb(res.after.HeapInuse-min(res.after.HeapInuse, res.before.HeapInuse)), mb(res.peakHeapInuse))
	fmt.Fprintf(w, "Go heap allocated (live objects) after GC: before %s, after %s\n", mb(res.before.HeapAlloc), mb(res.after.HeapAlloc))
	fmt.Fprintf(w, "services the gateway's inspector keeps exchanges for: %d\n", res.inspectedServices)
	return res, nil
}
