package gridsearch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// spawn runs argv and returns once it has exited and its output is read,
// or strayGrace after it exited with a child still holding its output open,
// or at ctx's end if sooner: then held is true, and the command's process
// group has been killed, as at a timeout, so that the child does not run
// on unseen.
//
// On Linux one goroutine does it all: it polls the read ends of the two
// pipes and a pidfd that becomes readable when the process exits. os/exec
// adds two goroutines and their wake-ups per command, which on a grid of
// quick commands costs some of the run time (2,000 /bin/true on 2 slots:
// 1.14x xargs -P2's time with os/exec, 1.07x this way, medians of several
// runs on a noisy 2-core VM).
//
// The command leads a process group of its own, which is what ctx's end
// kills: a shell script's children die with it (unless they left the group,
// with setsid). The command itself also dies with the worker's thread that
// started it (PR_SET_PDEATHSIG), so a worker killed with SIGKILL leaves no
// command running for a point that is run elsewhere; the command's own
// children are not followed there.
func spawn(ctx context.Context, argv []string, stdout, stderr *capped) (st *os.ProcessState, held bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	path, err := lookPath(argv[0])
	if err != nil {
		return nil, false, err
	}
	null, err := devNull()
	if err != nil {
		return nil, false, err
	}
	var outR, errR [2]int
	if err := newPipe(&outR); err != nil {
		return nil, false, err
	}
	if err := newPipe(&errR); err != nil {
		unix.Close(outR[0])
		unix.Close(outR[1])
		return nil, false, err
	}
	// PR_SET_PDEATHSIG fires when the thread that forked ends, not the
	// process: keep this goroutine on it until the command has exited.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	outW, errW := os.NewFile(uintptr(outR[1]), "stdout"), os.NewFile(uintptr(errR[1]), "stderr")
	pidfd := -1
	sys := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if pidfdWorks() {
		sys.PidFD = &pidfd
	}
	proc, err := os.StartProcess(path, argv, &os.ProcAttr{Files: []*os.File{null, outW, errW}, Sys: sys})
	outW.Close()
	errW.Close()
	if err != nil {
		unix.Close(outR[0])
		unix.Close(errR[0])
		return nil, false, err
	}

	// Kill the group at ctx's end, but never once the process is reaped:
	// its pid (the group's id) may then be another's.
	var mu sync.Mutex
	reaped := false
	kill := func() {
		mu.Lock()
		defer mu.Unlock()
		if !reaped {
			syscall.Kill(-proc.Pid, syscall.SIGKILL)
		}
	}
	// A ctx that ends while the output is read, after the command exited
	// by itself, kills only what it left holding its output: that is a
	// stray as much as one drain finds (cut).
	drained, cut := false, false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		if !drained && !reaped && exited(proc.Pid) {
			cut = true
		}
		mu.Unlock()
		kill()
	})
	defer stop()

	exitFd := pidfd
	var gone <-chan struct{}
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	} else {
		if exitFd, gone, err = exitPipe(proc.Pid); err != nil {
			unix.Close(outR[0])
			unix.Close(errR[0])
			kill()
			mu.Lock()
			reaped = true
			mu.Unlock()
			proc.Wait()
			return nil, false, err
		}
		defer unix.Close(exitFd)
	}
	held, err = drain(outR[0], errR[0], exitFd, stdout, stderr)
	mu.Lock()
	drained = true
	held = held || cut
	mu.Unlock()
	if err != nil || held {
		// Unheard, it must not run on: neither the command nor a child
		// that outlived it holding its output. The command has exited but
		// is not reaped, so its pid still names its group.
		kill()
	}
	if gone != nil {
		<-gone
	}
	mu.Lock()
	reaped = true
	mu.Unlock()
	st, werr := proc.Wait()
	if err == nil {
		err = werr
	}
	return st, held, err
}

// strayGrace is how long, on Linux, a point waits for a process other than
// its command that holds the command's output open once the command has
// exited and its output is read: a child that ends with the command, as
// bash's >(tee log) does, is still heard whole, while one that runs on
// costs the point no more than this. (A variable for the tests.)
var strayGrace = 500 * time.Millisecond

// exited reports whether process pid, a child not yet reaped, has exited.
func exited(pid int) bool {
	for {
		var info unix.Siginfo // stays zero when pid has not exited (WNOHANG)
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err == nil && info.Signo == int32(unix.SIGCHLD)
		}
	}
}

// exitPipe stands in for a pidfd where there is none (a kernel before 5.3,
// or one that denies them): a goroutine waits for process pid to exit,
// without reaping it, then closes the write end of a pipe whose read end,
// fd, drain polls, and closes gone.
func exitPipe(pid int) (fd int, gone <-chan struct{}, err error) {
	var p [2]int
	if err := newPipe(&p); err != nil {
		return -1, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(p[1])
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
	}()
	return p[0], done, nil
}

// drain copies the two pipes to out and errw until both are at their end
// and the process has exited, or until strayGrace after it exited with a
// pipe still open (held), and closes them. exitFd polls readable, or hung
// up, once the process has exited: a pidfd, or the read end of exitPipe's
// pipe.
//
// A process closes its files before its exit can be seen, so once exitFd
// says so, all the command wrote is in the pipes: read to their end or to
// what is not there yet, they are closed unless another process holds
// them. That one is given strayGrace, no more, however fast it writes.
func drain(outFd, errFd, exitFd int, out, errw *capped) (held bool, err error) {
	defer unix.Close(outFd)
	defer unix.Close(errFd)
	fds := []unix.PollFd{
		{Fd: int32(outFd), Events: unix.POLLIN},
		{Fd: int32(errFd), Events: unix.POLLIN},
		{Fd: int32(exitFd), Events: unix.POLLIN},
	}
	sinks := []*capped{out, errw}
	buf := bufs.Get().(*[]byte)
	defer bufs.Put(buf)
	// readAll reads what pipe i holds now, and marks it done at its end.
	// It reads no more than the pipe can hold, then returns to poll: a
	// stray that keeps the pipe full must not keep drain from the
	// command's exit, or from the deadline after it. (At the exit, so, it
	// still reads all the command wrote, which the pipe held.)
	sizes := [2]int{pipeSize(outFd), pipeSize(errFd)}
	readAll := func(i int) {
		read := 0
		for fds[i].Fd >= 0 {
			if read >= sizes[i] {
				// The command may have made its pipe larger.
				if sizes[i] = pipeSize(int(fds[i].Fd)); read >= sizes[i] {
					return
				}
			}
			n, err := readPipe(int(fds[i].Fd), *buf)
			if n > 0 {
				sinks[i].Write((*buf)[:n])
				read += n
				continue
			}
			if err == unix.EINTR {
				continue
			}
			if err != unix.EAGAIN {
				fds[i].Fd = -1 // end of file, or an error: stop reading
			}
			return
		}
	}
	var deadline time.Time // strayGrace after the exit
	for {
		open := fds[0].Fd >= 0 || fds[1].Fd >= 0
		exited := fds[2].Fd < 0
		if exited && !open {
			return false, nil
		}
		timeout := -1
		if exited {
			left := time.Until(deadline)
			if left <= 0 {
				// This goroutine may come late to the deadline: what
				// came before it is still taken.
				readAll(0)
				readAll(1)
				return fds[0].Fd >= 0 || fds[1].Fd >= 0, nil
			}
			timeout = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		if _, err := unix.Poll(fds, timeout); err != nil {
			if err == unix.EINTR {
				continue
			}
			return false, fmt.Errorf("gridsearch: poll: %w", err)
		}
		for i := range sinks {
			if fds[i].Fd >= 0 && fds[i].Revents != 0 {
				readAll(i)
			}
		}
		if fds[2].Fd >= 0 && fds[2].Revents != 0 {
			fds[2].Fd = -1
			// Whatever poll said of the pipes a moment before the exit,
			// the command's last output is in them now.
			readAll(0)
			readAll(1)
			deadline = time.Now().Add(strayGrace)
		}
	}
}

// readPipe reads a pipe's read end (a variable for the tests).
var readPipe = unix.Read

// pipeSize returns how many bytes pipe fd can hold.
func pipeSize(fd int) int {
	if n, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0); err == nil && n > 0 {
		return n
	}
	return 1 << 20 // Linux's default bound on a pipe's size
}

// newPipe makes a pipe whose read end, p[0], does not block; the write end
// is the child's stdout or stderr, and blocks as a child expects.
func newPipe(p *[2]int) error {
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("gridsearch: pipe: %w", err)
	}
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return fmt.Errorf("gridsearch: pipe: %w", err)
	}
	return nil
}

var (
	bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

	paths sync.Map // command name -> path, for lookPath

	// null is every command's stdin, opened once it can be.
	nullMu sync.Mutex
	null   *os.File

	// pidfds: 1 when they work, -1 when they cannot, 0 not known yet.
	pidfds atomic.Int32
)

// devNull opens /dev/null once; a failure (too many open files, say) is
// tried again next time.
func devNull() (*os.File, error) {
	nullMu.Lock()
	defer nullMu.Unlock()
	if null == nil {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		null = f
	}
	return null, nil
}

// pidfdWorks reports whether pidfd_open(2) works (Linux 5.3, 2019, and no
// seccomp filter against it). Only a definite answer is remembered: a
// failure for want of file descriptors is tried again next time.
func pidfdWorks() bool {
	switch pidfds.Load() {
	case 1:
		return true
	case -1:
		return false
	}
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	switch {
	case err == nil:
		unix.Close(fd)
		pidfds.Store(1)
		return true
	case err == unix.ENOSYS || err == unix.EPERM || err == unix.EACCES:
		pidfds.Store(-1)
	}
	return false
}

// lookPath is exec.LookPath, remembered: a worker runs the same few
// commands thousands of times, and PATH does not change under it.
func lookPath(name string) (string, error) {
	if v, ok := paths.Load(name); ok {
		return v.(string), nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	paths.Store(name, p)
	return p, nil
}
