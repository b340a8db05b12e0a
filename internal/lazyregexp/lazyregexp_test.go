package lazyregexp

import "testing"

func TestLazy(t *testing.T) {
	r := New(`^a(b+)$`)
	if r.re != nil {
		t.Fatal("compiled before use")
	}
	if !r.MatchString("abb") || r.MatchString("ac") {
		t.Fatal("wrong matches")
	}
	if m := r.FindStringSubmatch("abbb"); len(m) != 2 || m[1] != "bbb" {
		t.Fatalf("submatch %v", m)
	}
	if r.String() != `^a(b+)$` {
		t.Fatal("source lost")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a bad pattern did not panic on use")
		}
	}()
	New(`(`).MatchString("x")
}
