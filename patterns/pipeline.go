package patterns

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"golang.org/x/sync/errgroup"
)

// DefaultBuffer is the capacity of the channels a Pipeline makes between
// stages: enough that a stage rarely waits for the next one to be scheduled,
// small enough that back-pressure reaches the source quickly.
const DefaultBuffer = 64

// Pipeline is a set of stages run together under one ctx, joined by
// channels (From, Map, To, Each, Merge make them) and by sockets (a Push
// stage in one place, a Pull stage connected to it in another, maybe in
// another process). It is the shape of errgroup's pipeline example, with the
// lifetime rules in one place:
//
//   - Run starts every stage, each in its own goroutine, under a ctx derived
//     from Run's. The derived ctx is cancelled the first time a stage
//     returns a non-nil error, or when every stage has returned.
//   - Run returns after every stage has returned (and every socket a stage
//     owns has been closed), with the first error; ErrStop, which a stage
//     returns to end the pipeline early, counts as success.
//   - A panic in a stage is recovered and becomes its error, a *PanicError.
//
// A zero Pipeline is valid and has no stages. Stages are added with Go (or
// the helpers) before Run, from one goroutine; Run may be called once.
type Pipeline struct {
	// Buffer is the capacity of each channel the helpers make; 0 means
	// DefaultBuffer.
	Buffer int

	mu      sync.Mutex
	stages  []func(context.Context) error
	running bool
}

// Go adds a stage: a function that runs until its work is done or ctx ends.
// It must return when ctx is cancelled. Go panics if Run has started.
func (p *Pipeline) Go(stage func(ctx context.Context) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		panic("patterns: Pipeline.Go after Run")
	}
	p.stages = append(p.stages, stage)
}

// Run runs every stage and returns after all of them have returned: nil if
// each returned nil or the first error was ErrStop, else the first error.
// If Run's ctx ends first, every stage is cancelled and Run returns the
// first error, which is then usually ctx's. A second Run returns ErrClosed.
func (p *Pipeline) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return fmt.Errorf("%w: Pipeline.Run called twice", ErrClosed)
	}
	p.running = true
	stages := p.stages
	p.mu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	for _, st := range stages {
		g.Go(func() error { return safely(gctx, st) })
	}
	err := g.Wait()
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// safely runs f, turning a panic into a *PanicError.
func safely(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return f(ctx)
}

func (p *Pipeline) buffer() int {
	if p.Buffer <= 0 {
		return DefaultBuffer
	}
	return p.Buffer
}
