package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/telemetry"
)

// addProcess adds to p an actor that keeps worker id running as a process of
// this program (-role worker). When the process dies (a crash, kill -9) the
// actor fails and the pipeline's supervisor starts it again, with a new
// process; it gives up after five deaths in ten seconds, which ends the run.
func addProcess(p *patterns.Pipeline, self string, id int32, eps endpoints) {
	var ref actor.Ref[exited]
	policy := patterns.Restart{Intensity: 5, Window: 10 * time.Second, BackoffMin: 100 * time.Millisecond, BackoffMax: 2 * time.Second}
	ref = patterns.RestartingStage(p, fmt.Sprintf("worker %d process", id), policy, func() actor.Behavior[exited] {
		args := []string{"-role", "worker", "-id", strconv.Itoa(int(id)),
			"-tasks", eps.tasks, "-results", eps.results, "-control", eps.control, "-work", work.String()}
		return &process{id: id, self: self, args: args, ref: &ref}
	}, actor.WithMailbox(actor.Bounded(4)))
}

// exited is a worker process's end, told to the actor that started it.
type exited struct {
	pid int
	err error
}

// process is one incarnation of the actor that runs a worker process: Start
// starts the process, Receive hears of its end, Stop makes sure it has ended.
type process struct {
	id   int32
	self string
	args []string
	ref  *actor.Ref[exited]
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been waited for
}

func (p *process) Start(ctx context.Context) error {
	p.cmd = exec.Command(p.self, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	// A worker profiles to the same collector as this process, on the same
	// stderr: an absent collector is said once, by this process, for all.
	p.cmd.Env = append(os.Environ(), telemetry.ChildEnv()...)
	dieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "squares: worker %d started (pid %d)\n", p.id, p.cmd.Process.Pid)
	p.done = make(chan struct{})
	cmd, done, ref := p.cmd, p.done, *p.ref
	go func() {
		err := cmd.Wait()
		close(done)
		// A dead letter if the actor has gone: nobody waits for it then.
		ref.Tell(context.Background(), exited{cmd.Process.Pid, err})
	}()
	return nil
}

func (p *process) Receive(_ context.Context, e exited) error {
	if e.pid != p.cmd.Process.Pid {
		return nil // the end of an earlier incarnation's process
	}
	if e.err == nil {
		return nil // it got FINISH and quit
	}
	fmt.Fprintf(os.Stderr, "squares: worker %d (pid %d) died: %v\n", p.id, e.pid, e.err)
	return fmt.Errorf("worker %d (pid %d): %w", p.id, e.pid, e.err)
}

// Stop gives the process time to finish on FINISH, then kills it.
func (p *process) Stop() error {
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}
