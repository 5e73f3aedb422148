package conformance

import "testing"

// Test runs the kit against target inside a Go test, one subtest per case
// (named by case ID, so "go test -run TestSP/XSW-03" replays one), failing
// each subtest whose case the service mishandles and skipping the cases the
// kit cannot run.
func Test(t *testing.T, k *Kit, target Target) {
	t.Helper()
	for _, c := range k.cases {
		t.Run(c.ID, func(t *testing.T) {
			r := k.runCase(t.Context(), c, target)
			switch {
			case r.Skipped:
				t.Skip(r.Detail)
			case !r.Pass:
				t.Errorf("%s: %s\nhow: %s\nexpected %s: %s", r.ID, r.Title, r.How, r.Expect, r.Detail)
			}
		})
	}
}
