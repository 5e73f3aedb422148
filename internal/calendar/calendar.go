// Package calendar handles the calendar dates of a citizen's registration
// (DNI validity and issue, date of birth): a day, not an instant, kept and
// written as yyyy-mm-dd.
package calendar

import "time"

// Layout is the ISO form dates are stored and exchanged in.
const Layout = "2006-01-02"

// Date keeps the calendar date of t as seen in t's own location, at midnight
// UTC, so a date built in Europe/Madrid does not shift to the previous day in
// UTC. The zero time stays zero.
func Date(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Format writes t in Layout; the zero time is the empty string, "not set".
func Format(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(Layout)
}

// Parse reads what Format writes; the empty string is the zero time.
func Parse(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(Layout, s)
}
