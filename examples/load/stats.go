package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// latencies summarises durations by percentile.
type latencies []time.Duration

// at is the p-th percentile (nearest rank), 0 when empty.
func (l latencies) at(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}

func (l latencies) print(w io.Writer, title string) {
	if len(l) == 0 {
		fmt.Fprintf(w, "%s: no samples\n", title)
		return
	}
	fmt.Fprintf(w, "%s (%d): p50 %s  p95 %s  p99 %s  max %s\n", title, len(l),
		ms(l.at(50)), ms(l.at(95)), ms(l.at(99)), ms(l.at(100)))
}

// ms prints a duration rounded for reading.
func ms(d time.Duration) string {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

func percent(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}
