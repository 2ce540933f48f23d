package gridsearch

import (
	"fmt"
	"strconv"
	"strings"
)

// A command's arguments are templates. Their placeholders:
//
//	{name}   the point's value of parameter name
//	{#}      the point's index in the grid (the results file's "point"), from 0
//	{%}      the number of the worker slot that runs it (the slot in the
//	         results file's "worker"), from 0, filled in by the worker
//	{{ }}    a literal { and }: "{{p}}" is the text {p}
//
// (GNU parallel's {#} and {%} count from 1; these count from 0, as the
// results file does.) A { that starts none of these is taken as written,
// as is a lone }: "{ x }" and "{}" stay.

// Kinds of template part.
const (
	partText  = iota // text, escapes undone
	partName         // {name}
	partIndex        // {#}
	partSlot         // {%}
)

type part struct {
	kind int
	text string // the text, or the name
}

// parseTemplate splits one argument into its text and placeholders.
func parseTemplate(arg string) []part {
	var parts []part
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, part{partText, lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(arg); {
		c := arg[i]
		switch {
		case (c == '{' || c == '}') && i+1 < len(arg) && arg[i+1] == c:
			lit.WriteByte(c)
			i += 2
			continue
		case c == '{':
			if j := strings.IndexByte(arg[i+1:], '}'); j >= 0 {
				inner := arg[i+1 : i+1+j]
				kind := -1
				switch {
				case inner == "#":
					kind = partIndex
				case inner == "%":
					kind = partSlot
				case nameRE.MatchString(inner):
					kind = partName
				}
				if kind >= 0 {
					flush()
					parts = append(parts, part{kind, inner})
					i += j + 2
					continue
				}
			}
		}
		lit.WriteByte(c)
		i++
	}
	flush()
	return parts
}

// expandParts expands arg for point p, cut where the slot number goes:
// the argument is the pieces joined with the slot's number.
func (p Point) expandParts(arg string) []string {
	var pieces []string
	var b strings.Builder
	for _, pt := range parseTemplate(arg) {
		switch pt.kind {
		case partText:
			b.WriteString(pt.text)
		case partName:
			if v, ok := p.Get(pt.text); ok {
				b.WriteString(v.Text)
			} else {
				b.WriteString("{" + pt.text + "}")
			}
		case partIndex:
			b.WriteString(strconv.Itoa(p.Index))
		case partSlot:
			pieces = append(pieces, b.String())
			b.Reset()
		}
	}
	return append(pieces, b.String())
}

// ExpandSlot is Expand with {%} replaced by slot too.
func (p Point) ExpandSlot(command []string, slot int) []string {
	out := make([]string, len(command))
	for i, a := range command {
		out[i] = strings.Join(p.expandParts(a), strconv.Itoa(slot))
	}
	return out
}

// slotArg is an argument of a task's command that holds {%}: the worker
// joins its pieces with its slot's number.
type slotArg struct {
	Arg    int      `json:"arg"`
	Pieces []string `json:"pieces"`
}

// expandTask is the command of point p as a task carries it: every
// placeholder but {%} filled in, and the arguments with {%} in pieces.
func (p Point) expandTask(command []string) (argv []string, slots []slotArg) {
	argv = make([]string, len(command))
	for i, a := range command {
		pieces := p.expandParts(a)
		argv[i] = strings.Join(pieces, "{%}")
		if len(pieces) > 1 {
			slots = append(slots, slotArg{Arg: i, Pieces: pieces})
		}
	}
	return argv, slots
}

// withSlot fills in slot where the task's command has {%}. Pieces for an
// argument the command does not have are ignored.
func withSlot(argv []string, slots []slotArg, slot int) []string {
	if len(slots) == 0 {
		return argv
	}
	argv = append([]string(nil), argv...)
	n := strconv.Itoa(slot)
	for _, s := range slots {
		if s.Arg >= 0 && s.Arg < len(argv) {
			argv[s.Arg] = strings.Join(s.Pieces, n)
		}
	}
	return argv
}

// Unused returns the names of g's parameters that no {name} of command
// uses: each of their values runs the same command, bar {#} and {%}.
func (g Grid) Unused(command []string) []string {
	used := map[string]bool{}
	for _, a := range command {
		for _, pt := range parseTemplate(a) {
			if pt.kind == partName {
				used[pt.text] = true
			}
		}
	}
	var out []string
	for _, p := range g.Params {
		if !used[p.Name] {
			out = append(out, p.Name)
		}
	}
	return out
}

// checkTemplate reports a {name} in command that names no parameter of g.
func (g Grid) checkTemplate(command []string) error {
	known := map[string]bool{}
	for _, p := range g.Params {
		known[p.Name] = true
	}
	for _, a := range command {
		for _, pt := range parseTemplate(a) {
			if pt.kind == partName && !known[pt.text] {
				return fmt.Errorf("%w: placeholder {%s} in %q names no parameter (have %s; {{ and }} are a literal { and })",
					ErrBadTemplate, pt.text, a, strings.Join(g.Names(), ", "))
			}
		}
	}
	return nil
}
