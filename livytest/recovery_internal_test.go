package livytest

import (
	"testing"
	"time"
)

// TestRecoveryRules checks what a server that takes over knows about
// sessions written by another server process (Livy's recovery semantics).
func TestRecoveryRules(t *testing.T) {
	const step = 10 * time.Millisecond
	now := time.Now()
	s := &Server{incarnation: "new", cfg: Config{Step: step}}
	s.activeSince.Store(now.UnixMilli())
	meta := func(inc string, age time.Duration) simMeta {
		return simMeta{Created: now.Add(-age).UnixMilli(), Incarnation: inc, StepNS: int64(step)}
	}
	batch := func(inc, file string, age time.Duration, noFile bool) *batchRecord {
		return &batchRecord{Sim: batchSim{simMeta: meta(inc, age), File: file, NoFile: noFile}}
	}
	for _, tc := range []struct {
		name string
		rec  record
		want bool
	}{
		{"succeeded batch of the old active", batch("old", "ok.py", time.Second, false), true},
		{"batch that died before the takeover", batch("old", "fail.py", time.Second, false), false},
		{"batch that dies after the takeover", batch("old", "fail.py", 2*step, false), true},
		{"batch without file of the old active", batch("old", "", time.Second, true), false},
		{"own batch without file", batch("new", "", time.Second, true), true},
		{"own dead batch", batch("new", "fail.py", time.Second, false), true},
	} {
		if got := s.recovered(tc.rec); got != tc.want {
			t.Errorf("%s: known=%v, want %v", tc.name, got, tc.want)
		}
	}

	up := &interactiveRecord{Kind: "spark", Sim: interactiveSim{simMeta: meta("old", time.Second)}}
	young := &interactiveRecord{ID: 7, Kind: "spark", Sim: interactiveSim{simMeta: meta("old", step)}}
	if !s.recovered(up) || !s.recovered(young) {
		t.Fatal("interactive sessions are always recovered")
	}
	if up.recoveredDead || up.state(now, step) != "idle" {
		t.Fatalf("session that was up: dead=%v state=%s", up.recoveredDead, up.state(now, step))
	}
	if !young.recoveredDead || young.state(now.Add(time.Second), step) != "dead" {
		t.Fatalf("session still starting at takeover: dead=%v state=%s", young.recoveredDead, young.state(now, step))
	}
	lines := young.logLines(now, step)
	if want := "Cannot recover interactive session 7 because its RSCDriver URI is unknown."; lines[len(lines)-1] != want {
		t.Fatalf("log %q", lines)
	}
}

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct{ code, kind, want string }{
		{"1+1", "spark", `{"status":"ok","execution_count":3,"data":{"text/plain":"res3: Int = 2"}}`},
		{" (2+3) * -4 ", "pyspark", `{"status":"ok","execution_count":3,"data":{"text/plain":"-20"}}`},
		{"7/2", "sparkr", `{"status":"ok","execution_count":3,"data":{"text/plain":"[1] 3"}}`},
		{"1/0", "spark", `{"status":"error","execution_count":3,"ename":"Error","evalue":"java.lang.ArithmeticException: / by zero","traceback":["livytest: error raised by statement 3\n"]}`},
		{"val x = 1", "spark", `{"status":"ok","execution_count":3,"data":{"text/plain":"val x = 1"}}`},
		{"print('<a&b>')", "pyspark", `{"status":"ok","execution_count":3,"data":{"text/plain":"print('<a&b>')"}}`},
		{"throw new Exception(\"x\")", "spark", `{"status":"error","execution_count":3,"ename":"Error","evalue":"throw new Exception(\"x\")","traceback":["livytest: error raised by statement 3\n"]}`},
	} {
		if got := string(evaluate(tc.code, tc.kind, 3)); got != tc.want {
			t.Errorf("evaluate(%q, %s) = %s, want %s", tc.code, tc.kind, got, tc.want)
		}
	}
}

func TestJavaParseInt(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "+5": 5, "-5": -5, "2147483647": 2147483647, "-2147483648": -2147483648} {
		if v, ok := javaParseInt(s); !ok || v != want {
			t.Errorf("javaParseInt(%q) = %d, %v", s, v, ok)
		}
	}
	for _, s := range []string{"", "+", "-", "2147483648", "1x", " 1", "99999999999999999999"} {
		if _, ok := javaParseInt(s); ok {
			t.Errorf("javaParseInt(%q) accepted", s)
		}
	}
}
