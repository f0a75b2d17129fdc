package discovery

import (
	"errors"
	"strings"
	"testing"
)

// Every error is wrapped once: its text never repeats the "discovery: "
// prefix, and errors.Is still matches each sentinel involved.
func TestErrorsWrappedOnce(t *testing.T) {
	_, err1 := NewResolver("127.0.0.1:1", WithRoot("a//b"))
	_, err2 := NewResolver("127.0.0.1:1/x//y")
	_, err3 := NewResolver("livy-conf:///nonexistent/livy.conf")
	_, err4 := NewResolver("zk://127.0.0.1:1?layout=hive&namespace=/")
	_, err5 := NewResolver("zk://127.0.0.1:1?layout=pr212&ids=a&hosts=h&scheme=ftp")
	for _, c := range []struct {
		err  error
		want []error
	}{
		{err1, []error{ErrBadOption, ErrBadPath}},
		{err2, []error{ErrBadConnectString, ErrBadPath}},
		{err3, []error{ErrBadTarget}},
		{err4, []error{ErrBadOption}},
		{err5, []error{ErrBadTarget}},
	} {
		if c.err == nil {
			t.Errorf("no error; want %v", c.want)
			continue
		}
		if n := strings.Count(c.err.Error(), "discovery:"); n != 1 {
			t.Errorf("%q has %d discovery: prefixes", c.err, n)
		}
		for _, w := range c.want {
			if !errors.Is(c.err, w) {
				t.Errorf("%q does not match %v", c.err, w)
			}
		}
	}
}
