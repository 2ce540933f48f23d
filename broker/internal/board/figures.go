package board

import (
	"reflect"

	"github.com/zmqflow/zmqflow/actor"
)

// Report makes every Publish that changes the stats report them to obs, if
// obs takes figures (actor.Figures), as the actor named name: each exported
// unsigned integer field of S as a counter, each signed one as a level,
// under the field's name. Without an observer (obs nil) they go to the
// profiler when profiling is on (actor.ProfileFigures). Call it before the
// first Publish.
func (b *Board[S]) Report(obs actor.Observer, name string) {
	f, ok := obs.(actor.Figures)
	if obs == nil {
		f = actor.ProfileFigures()
		ok = f != nil
	}
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.figures, b.name = f, name
}

// Retire reports the stats' levels as zero, and nothing more after that:
// the component has closed, and its share of the levels that components
// of its name add up (actor.ProfileFigures) goes with it. Counters keep
// their totals. Call it once the component's actors have ended.
func (b *Board[S]) Retire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.figures == nil {
		return
	}
	var zero S
	b.send(zero, false)
	b.figures = nil
}

// send sends s's fields to the figures observer: its levels, and its
// counters too if counters. b.mu is held.
func (b *Board[S]) send(s S, counters bool) {
	v := reflect.ValueOf(s)
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := range t.NumField() {
		fd := t.Field(i)
		if !fd.IsExported() {
			continue
		}
		switch fv := v.Field(i); fv.Kind() {
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if counters {
				b.figures.Counter(b.name, fd.Name, fv.Uint())
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			b.figures.Level(b.name, fd.Name, fv.Int())
		}
	}
}
