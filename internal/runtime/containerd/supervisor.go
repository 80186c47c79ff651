package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Supervisor runs one containerd and keeps it running.
type Supervisor struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}
	once  sync.Once

	mu       sync.Mutex // guards the fields below
	starts   int
	lastPID  int
	startDur time.Duration
}

// New checks cfg and returns a Supervisor; nothing starts until Run.
func New(cfg Config, log *slog.Logger) (*Supervisor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{cfg: cfg, log: log.With("component", "containerd"), ready: make(chan struct{})}, nil
}

// Config is the configuration after defaults (detected cgroup driver,
// absolute paths).
func (s *Supervisor) Config() Config { return s.cfg }

// Endpoint is the CRI endpoint the supervised containerd serves.
func (s *Supervisor) Endpoint() string { return s.cfg.Endpoint() }

// Ready is closed once containerd first serves its socket.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// Stats reports how often containerd was started, the PID of the latest
// process and how long its socket took to appear.
func (s *Supervisor) Stats() (starts, pid int, startDuration time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts, s.lastPID, s.startDur
}

// Run writes the config, starts containerd and restarts it whenever it
// exits, until ctx ends; then it stops containerd and returns nil. It
// returns an error only when the very first start fails, since nothing
// could run on this node then (later failures are retried with back-off:
// 1s doubling to 30s, reset after a minute of uptime).
func (s *Supervisor) Run(ctx context.Context) error {
	if err := s.prepare(); err != nil {
		return err
	}
	backoff := time.Second
	for first := true; ; first = false {
		started := time.Now()
		cmd, exited, err := s.start(ctx)
		if err != nil {
			if first {
				return err
			}
			s.log.Error("containerd failed to start", "err", err)
		} else {
			s.once.Do(func() { close(s.ready) })
			select {
			case <-ctx.Done():
				return s.stop(cmd, exited)
			case err := <-exited:
				s.log.Error("containerd exited; restarting", "err", err, "backoff", backoff)
			}
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// prepare creates the directories and writes config.toml.
func (s *Supervisor) prepare() error {
	data, err := s.cfg.Render()
	if err != nil {
		return err
	}
	for _, dir := range []string{s.cfg.Dir, s.cfg.CNIConfDir} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return fmt.Errorf("containerd: %w", err)
		}
	}
	s.stopLeftover()
	if err := os.WriteFile(s.cfg.ConfigPath(), data, 0o644); err != nil {
		return fmt.Errorf("containerd: writing config: %w", err)
	}
	return nil
}

// start launches containerd and waits until its socket accepts
// connections. exited delivers the process's exit once.
func (s *Supervisor) start(ctx context.Context) (*exec.Cmd, <-chan error, error) {
	logFile, err := os.OpenFile(s.cfg.Dir+"/containerd.log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("containerd: log file: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	// A stale socket from a killed instance would make the readiness
	// check pass before the new one listens.
	_ = os.Remove(s.cfg.SocketPath())
	cmd := exec.Command(s.cfg.Binary, "--config", s.cfg.ConfigPath())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a terminal's ^C reaches the agent only, which
	// then stops containerd in order rather than mid-write.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("containerd: starting %s: %w", s.cfg.Binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := s.waitSocket(ctx, exited); err != nil {
		_ = s.stop(cmd, exited)
		return nil, nil, fmt.Errorf("containerd (pid %d, log %s/containerd.log): %w", cmd.Process.Pid, s.cfg.Dir, err)
	}
	if err := os.WriteFile(s.pidPath(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		s.log.Warn("containerd: writing pid file", "err", err)
	}
	s.mu.Lock()
	s.starts++
	s.lastPID = cmd.Process.Pid
	s.startDur = time.Since(begin)
	s.mu.Unlock()
	s.log.Info("containerd started", "pid", cmd.Process.Pid, "endpoint", s.cfg.Endpoint(), "took", time.Since(begin).Round(time.Millisecond))
	return cmd, exited, nil
}

// waitSocket polls the socket every 20ms until it accepts a connection,
// the process exits, or StartTimeout passes.
func (s *Supervisor) waitSocket(ctx context.Context, exited <-chan error) error {
	deadline := time.NewTimer(s.cfg.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if conn, err := net.DialTimeout("unix", s.cfg.SocketPath(), time.Second); err == nil {
			conn.Close()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before serving: %v", err)
		case <-deadline.C:
			return fmt.Errorf("socket %s not served after %s", s.cfg.SocketPath(), s.cfg.StartTimeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM, and SIGKILL after StopTimeout, and waits for the
// exit. An exit by our signal is not an error.
func (s *Supervisor) stop(cmd *exec.Cmd, exited <-chan error) error {
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.log.Warn("containerd: SIGTERM failed", "err", err)
	}
	select {
	case <-exited:
	case <-time.After(s.cfg.StopTimeout):
		s.log.Warn("containerd did not stop after SIGTERM; killing it", "pid", cmd.Process.Pid)
		_ = cmd.Process.Kill()
		<-exited
	}
	s.log.Info("containerd stopped", "pid", cmd.Process.Pid)
	return nil
}

func (s *Supervisor) pidPath() string { return filepath.Join(s.cfg.Dir, "containerd.pid") }

// stopLeftover stops a containerd that a previous agent started on this
// Dir and could not stop (the agent was SIGKILLed): it still holds the
// metadata database's lock, and a second instance would hang on it. The
// PID counts as ours only if that process is containerd running our
// config file, so a recycled PID is never signalled.
func (s *Supervisor) stopLeftover() {
	data, err := os.ReadFile(s.pidPath())
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "\x00--config\x00"+s.cfg.ConfigPath()) {
		return
	}
	s.log.Warn("Stopping the containerd a previous agent left running", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(s.cfg.StopTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !alive(pid) {
			return
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// alive reports whether pid runs; a zombie (exited, not yet reaped by
// its new parent) does not.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "123 (containerd) Z ...".
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
