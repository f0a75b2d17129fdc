//go:build unix && !linux

package zktest

import "syscall"

// ProcAttr returns the attributes used for every child JVM: its own process
// group, so the whole group can be signalled.
func ProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
