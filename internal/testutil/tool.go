package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// NeedTool returns the path of the program path (looked up in PATH when
// it has no slash) after running it with check, if given, to see that it
// works. A missing or broken tool fails the test under CI=true (.ci/run
// installs them) and skips it otherwise, naming the Debian packages.
func NeedTool(t testing.TB, path string, check ...string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err == nil && len(check) > 0 {
		err = exec.Command(p, check...).Run()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s unusable: %v", path, err)
		}
		t.Skipf("%s unusable (%v): apt-get install curl python3-requests python3-requests-kerberos", path, err)
	}
	return p
}
