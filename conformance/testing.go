package conformance

import "testing"

// Test runs the kit against target inside a Go test, one subtest per case
// (named by case ID, so "go test -run TestSP/XSW-03" replays one), failing
// each subtest whose case the service mishandles and skipping the cases the
// kit cannot run. When the service does not answer (an *UnreachableError),
// that subtest fails with the error and the remaining cases are not run.
func Test(t *testing.T, k *Kit, target Target) {
	t.Helper()
	done := 0
	for _, c := range k.cases {
		var down *UnreachableError
		t.Run(c.ID, func(t *testing.T) {
			r, err := k.runCase(t.Context(), c, target)
			if err != nil {
				err.Done, down = done, err
				t.Fatal(err)
			}
			switch {
			case r.Skipped:
				t.Skip(r.Detail)
			case !r.Pass:
				t.Errorf("%s: %s\nhow: %s\nexpected %s: %s", r.ID, r.Title, r.How, r.Expect, r.Detail)
			}
		})
		if down != nil {
			t.Fatalf("conformance: the service does not answer; the %d remaining cases were not run", len(k.cases)-done-1)
		}
		done++
	}
}
