package gridsearch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// spawn runs argv and returns once it has exited and its output is read,
// or waitDelay after it exited with a child still holding its output open.
//
// On Linux one goroutine does it all: it polls the read ends of the two
// pipes and a pidfd that becomes readable when the process exits. os/exec
// would add two goroutines and their wake-ups per command, which costs
// about a tenth of the run time of a grid of quick commands (2,000
// /bin/true: 0.92 of xargs -P2's time this way, 1.01 with os/exec).
//
// The command leads a process group of its own, which is what ctx's end
// kills: a shell script's children die with it. Its parent's death kills
// it too (PR_SET_PDEATHSIG), so a worker killed with SIGKILL leaves no
// command running for a point that will be run elsewhere.
func spawn(ctx context.Context, argv []string, stdout, stderr *capped) (*os.ProcessState, error) {
	if !pidfdWorks() {
		return spawnExec(ctx, argv, stdout, stderr)
	}
	path, err := lookPath(argv[0])
	if err != nil {
		return nil, err
	}
	null, err := devNull()
	if err != nil {
		return nil, err
	}
	var outR, errR [2]int
	if err := newPipe(&outR); err != nil {
		return nil, err
	}
	if err := newPipe(&errR); err != nil {
		unix.Close(outR[0])
		unix.Close(outR[1])
		return nil, err
	}
	// PR_SET_PDEATHSIG fires when the thread that forked ends, not the
	// process: keep this goroutine on it until the command has exited.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	outW, errW := os.NewFile(uintptr(outR[1]), "stdout"), os.NewFile(uintptr(errR[1]), "stderr")
	pidfd := -1
	proc, err := os.StartProcess(path, argv, &os.ProcAttr{
		Files: []*os.File{null, outW, errW},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, PidFD: &pidfd},
	})
	outW.Close()
	errW.Close()
	if err != nil {
		unix.Close(outR[0])
		unix.Close(errR[0])
		return nil, err
	}
	defer unix.Close(pidfd)

	// Kill the group at ctx's end, but never once the process is reaped:
	// its pid (the group's id) may then be another's.
	var mu sync.Mutex
	reaped := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !reaped {
			syscall.Kill(-proc.Pid, syscall.SIGKILL)
		}
	})
	defer stop()

	err = drain(outR[0], errR[0], pidfd, stdout, stderr)
	mu.Lock()
	reaped = true
	mu.Unlock()
	st, werr := proc.Wait()
	if err == nil {
		err = werr
	}
	return st, err
}

// drain copies the two pipes to out and errw until both are at their end
// and the process has exited, or until waitDelay after it exited, and
// closes them.
func drain(outFd, errFd, pidfd int, out, errw *capped) error {
	defer unix.Close(outFd)
	defer unix.Close(errFd)
	fds := []unix.PollFd{
		{Fd: int32(outFd), Events: unix.POLLIN},
		{Fd: int32(errFd), Events: unix.POLLIN},
		{Fd: int32(pidfd), Events: unix.POLLIN},
	}
	sinks := []*capped{out, errw}
	buf := bufs.Get().(*[]byte)
	defer bufs.Put(buf)
	var deadline time.Time // waitDelay after the exit
	for {
		open := fds[0].Fd >= 0 || fds[1].Fd >= 0
		exited := fds[2].Fd < 0
		if exited && !open {
			return nil
		}
		timeout := -1
		if exited {
			left := time.Until(deadline)
			if left <= 0 {
				return nil // a child holds the pipes; leave it
			}
			timeout = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		if _, err := unix.Poll(fds, timeout); err != nil {
			if err == unix.EINTR {
				continue
			}
			return fmt.Errorf("gridsearch: poll: %w", err)
		}
		for i, s := range sinks {
			if fds[i].Fd < 0 || fds[i].Revents == 0 {
				continue
			}
			for {
				n, err := unix.Read(int(fds[i].Fd), *buf)
				if n > 0 {
					s.Write((*buf)[:n])
					continue
				}
				if err == unix.EINTR {
					continue
				}
				if err != unix.EAGAIN {
					fds[i].Fd = -1 // end of file, or an error: stop reading
				}
				break
			}
		}
		if fds[2].Revents != 0 {
			fds[2].Fd = -1
			deadline = time.Now().Add(waitDelay)
		}
	}
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

	// devNull is every command's stdin, opened once.
	devNull = sync.OnceValues(func() (*os.File, error) { return os.Open(os.DevNull) })

	// pidfdWorks: pidfds came with Linux 5.3 (2019); before, os/exec.
	pidfdWorks = sync.OnceValue(func() bool {
		fd, err := unix.PidfdOpen(os.Getpid(), 0)
		if err != nil {
			return false
		}
		unix.Close(fd)
		return true
	})

	paths sync.Map // command name -> path, for lookPath
)

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
