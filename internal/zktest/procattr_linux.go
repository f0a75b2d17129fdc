package zktest

import "syscall"

// ProcAttr returns the attributes used for every child JVM: its own process
// group (so the whole group can be signalled) and SIGKILL when the parent
// dies, so a crashed test binary leaves no JVM behind.
func ProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
