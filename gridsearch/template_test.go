package gridsearch

import (
	"reflect"
	"testing"
)

func TestTemplate(t *testing.T) {
	g, err := NewGrid("p=1,2", "q=x")
	if err != nil {
		t.Fatal(err)
	}
	pt := g.Point(1) // p=2 q=x
	for _, tc := range []struct{ arg, want string }{
		{"{p}", "2"},
		{"--q={q}", "--q=x"},
		{"{#}", "1"},
		{"run-{#}-{%}", "run-1-7"},
		{"{{p}}", "{p}"},
		{"{{{p}}}", "{2}"},
		{"{{#}}", "{#}"},
		{"{{%}}", "{%}"},
		{"{p}}", "2}"},
		{"}", "}"},
		{"{", "{"},
		{"{}", "{}"},
		{"{ x }", "{ x }"},
		{"{zz}", "{zz}"},
		{`{"a": {"b": 1}}}}`, `{"a": {"b": 1}}`},
	} {
		if got := pt.ExpandSlot([]string{tc.arg}, 7)[0]; got != tc.want {
			t.Errorf("ExpandSlot(%q, 7) = %q, want %q", tc.arg, got, tc.want)
		}
		// What the master sends and the worker finishes: the same.
		argv, slots := pt.expandTask([]string{tc.arg})
		if got := withSlot(argv, slots, 7)[0]; got != tc.want {
			t.Errorf("task of %q on slot 7 = %q, want %q", tc.arg, got, tc.want)
		}
	}
	// A value that looks like a placeholder is not expanded again on the
	// worker.
	g2, _ := NewGrid("s={%}")
	argv, slots := g2.Point(0).expandTask([]string{"a{s}b", "{%}"})
	if got := withSlot(argv, slots, 3); !reflect.DeepEqual(got, []string{"a{%}b", "3"}) {
		t.Errorf("value {%%} on slot 3: %q", got)
	}
	// Pieces for an argument that is not there (hostile input) are ignored.
	if got := withSlot([]string{"a"}, []slotArg{{Arg: 5, Pieces: []string{"x", "y"}}, {Arg: -1}}, 0); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("bad slot args: %q", got)
	}
	if err := g.CheckCommand([]string{"echo", "{{r}}", "{#}", "{%}"}); err != nil {
		t.Errorf("escaped and numbered placeholders: %v", err)
	}
	if err := g.CheckCommand([]string{"echo", "{{{r}}}"}); err == nil {
		t.Error("{{{r}}} holds the unknown {r}, yet no error")
	}
	if got := g.Unused([]string{"echo", "{p}", "{{q}}", "{#}"}); !reflect.DeepEqual(got, []string{"q"}) {
		t.Errorf("Unused = %q, want [q]", got)
	}
	if got := g.Unused([]string{"echo", "{p}{q}"}); got != nil {
		t.Errorf("Unused = %q, want none", got)
	}
}
