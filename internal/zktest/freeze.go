package zktest

import (
	"fmt"
	"syscall"
)

// Freeze stops the server with SIGSTOP: its process stays, its sockets
// keep accepting connections (the kernel completes TCP handshakes) and
// nothing is answered — a hung JVM, as a long GC pause or a frozen VM
// shows itself. Thaw resumes it.
func (n *Node) Freeze() error { return n.sendStop(syscall.SIGSTOP, "frozen") }

// Thaw resumes a frozen server with SIGCONT.
func (n *Node) Thaw() error { return n.sendStop(syscall.SIGCONT, "thawed") }

func (n *Node) sendStop(sig syscall.Signal, what string) error {
	p := n.current()
	if p == nil || p.exited() {
		return fmt.Errorf("zktest: node %d is not running", n.id)
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("zktest: node %d: %w", n.id, err)
	}
	n.c.logf("zktest: node %d %s", n.id, what)
	return nil
}
