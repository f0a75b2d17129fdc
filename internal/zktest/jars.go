package zktest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrUnavailable is returned (wrapped) when java or the ZooKeeper jars are
// missing, so tests can skip instead of failing.
var ErrUnavailable = errors.New("zktest: ZooKeeper unavailable (need java and the ZooKeeper jars)")

// DefaultJarsDir is where Debian installs the ZooKeeper (and Curator) jars.
// The environment variable ZK_JARS_DIR overrides it.
const DefaultJarsDir = "/usr/share/java"

// serverJars are the jars a ZooKeeper server needs. An entry may list
// alternatives separated by "|" (the first existing one is used); a trailing
// "?" makes the entry optional.
var serverJars = []string{
	"zookeeper.jar",
	"zookeeper-jute.jar",
	"slf4j-api.jar",
	// A binding for slf4j: slf4j-simple logs to stderr (which ends up in
	// the node's log file); without any binding slf4j falls back to NOP.
	"slf4j-simple.jar|slf4j-nop.jar?",
	"netty-handler.jar",
	"netty-common.jar",
	"netty-buffer.jar",
	"netty-transport.jar",
	"netty-codec.jar",
	"netty-resolver.jar",
	"netty-transport-native-epoll.jar",
	"netty-transport-native-unix-common.jar",
	"metrics-core.jar",
}

// JarsDir returns the directory searched for jars: $ZK_JARS_DIR or
// DefaultJarsDir.
func JarsDir() string {
	if d := os.Getenv("ZK_JARS_DIR"); d != "" {
		return d
	}
	return DefaultJarsDir
}

// Classpath returns the Java class path for a ZooKeeper server (and client)
// plus the extra jars named, all looked up in JarsDir. Extra entries use the
// same syntax as the built-in list: "a.jar|b.jar" picks the first existing
// alternative, a trailing "?" marks the entry optional. A missing required
// jar yields an error wrapping ErrUnavailable.
func Classpath(extra ...string) (string, error) {
	dir := JarsDir()
	var paths, missing []string
	for _, entry := range append(append([]string(nil), serverJars...), extra...) {
		optional := strings.HasSuffix(entry, "?")
		entry = strings.TrimSuffix(entry, "?")
		found := ""
		for _, name := range strings.Split(entry, "|") {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				found = p
				break
			}
		}
		switch {
		case found != "":
			paths = append(paths, found)
		case !optional:
			missing = append(missing, entry)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: missing in %s: %s", ErrUnavailable, dir, strings.Join(missing, ", "))
	}
	return strings.Join(paths, string(os.PathListSeparator)), nil
}

// Java returns the path of the java executable: $JAVA_HOME/bin/java if it
// exists, otherwise "java" from PATH.
func Java() (string, error) {
	return javaTool("java")
}

// JavaTool is like Java for another JDK tool, e.g. "javac".
func JavaTool(name string) (string, error) {
	return javaTool(name)
}

func javaTool(name string) (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		p := filepath.Join(home, "bin", name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s not found in $JAVA_HOME/bin or PATH", ErrUnavailable, name)
	}
	return p, nil
}

// Available reports whether ZooKeeper servers can be started: nil if java
// and the jars exist, otherwise an error wrapping ErrUnavailable.
func Available() error {
	if _, err := Java(); err != nil {
		return err
	}
	_, err := Classpath()
	return err
}
