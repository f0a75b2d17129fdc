package zktest

import (
	"os/exec"
	"syscall"
	"time"
)

// Proc is a child process started for a test or a demo (a livy-sim, a
// livy-registrar): it is reaped by its own goroutine and dies with its
// parent (ProcAttr), and Signal can be called any number of times.
type Proc struct {
	Cmd    *exec.Cmd
	exited chan struct{}
}

// StartProc starts cmd with ProcAttr and reaps it when it exits.
func StartProc(cmd *exec.Cmd) (*Proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = ProcAttr()
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Exited is closed once the process has exited and been reaped.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Signal sends sig unless the process has exited, and waits for it to exit;
// after timeout it sends SIGKILL and waits again.
func (p *Proc) Signal(sig syscall.Signal, timeout time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = p.Cmd.Process.Kill()
		<-p.exited
	}
}
