package livytest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Session types, as Livy names them in the state store.
const (
	typeBatch       = "batch"
	typeInteractive = "interactive"
)

// simMeta is what livytest adds to Livy's recovery metadata (Livy reads it
// with ignoreUnknown=true, so extra fields are harmless). Every state is
// derived from the creation time, so any server that reads the record
// reports the same state: progress survives a failover.
type simMeta struct {
	Created     int64  `json:"created"`     // creation time, Unix ms
	Server      int    `json:"server"`      // id of the server that created it
	Incarnation string `json:"incarnation"` // random id of that server process
	StepNS      int64  `json:"stepNs"`      // Config.Step of that server

	// zver is the store version the record was read at (active-active
	// mode writes back with it, so that a concurrent change is not lost).
	zver int32

	// What the server holding the record in memory adds (never stored):
	//   - lc: the server plays Livy's session lifecycle (the Livy
	//     profiles; see lifecycle.go): recovering, shutting_down, error,
	//     killed and the conf hooks;
	//   - recoveredAt: when it recovered the session from the store (its
	//     driver, or YARN for a batch, answers some steps later);
	//   - stoppingAt: when a DELETE (or the GC) began stopping it.
	lc          bool
	recoveredAt time.Time
	stoppingAt  time.Time
}

// step is the record's progression step (the creating server's Step), so
// that every server derives the same states.
func (m *simMeta) step(def time.Duration) time.Duration {
	if m.StepNS > 0 {
		return time.Duration(m.StepNS)
	}
	return def
}

// record is a stored batch or interactive session.
type record interface {
	meta() *simMeta
	sessionID() int
	sessionName() *string
}

// batchRecord is Livy's BatchRecoveryMetadata plus livytest's extras.
type batchRecord struct {
	ID        int      `json:"id"`
	Name      *string  `json:"name"`
	AppID     *string  `json:"appId"`
	AppTag    string   `json:"appTag"`
	Owner     *string  `json:"owner"`
	ProxyUser *string  `json:"proxyUser"`
	Version   int      `json:"version"`
	Sim       batchSim `json:"livytest"`
}

type batchSim struct {
	simMeta
	File      string   `json:"file"`
	ClassName *string  `json:"className"`
	Args      []string `json:"args"`
	// NoFile marks Livy's quirk: a batch without "file" is registered
	// (id and name taken, state starting forever) although the create is
	// rejected with 400; it never reaches Livy's own state store, so other
	// servers do not recover it.
	NoFile bool `json:"noFile,omitempty"`
}

func (r *batchRecord) meta() *simMeta       { return &r.Sim.simMeta }
func (r *batchRecord) sessionID() int       { return r.ID }
func (r *batchRecord) sessionName() *string { return r.Name }

// interactiveRecord is Livy's InteractiveRecoveryMetadata plus extras.
type interactiveRecord struct {
	ID                int               `json:"id"`
	Name              *string           `json:"name"`
	AppID             *string           `json:"appId"`
	AppTag            string            `json:"appTag"`
	Kind              string            `json:"kind"`
	HeartbeatTimeoutS int               `json:"heartbeatTimeoutS"`
	Owner             *string           `json:"owner"`
	TTL               *string           `json:"ttl"`
	IdleTimeout       *string           `json:"idleTimeout"`
	DriverMemory      *string           `json:"driverMemory"`
	DriverCores       *int              `json:"driverCores"`
	ExecutorMemory    *string           `json:"executorMemory"`
	ExecutorCores     *int              `json:"executorCores"`
	Conf              map[string]string `json:"conf"`
	Archives          []string          `json:"archives"`
	Files             []string          `json:"files"`
	Jars              []string          `json:"jars"`
	NumExecutors      *int              `json:"numExecutors"`
	PyFiles           []string          `json:"pyFiles"`
	Queue             *string           `json:"queue"`
	ProxyUser         *string           `json:"proxyUser"`
	RSCDriverURI      *string           `json:"rscDriverUri"`
	Version           int               `json:"version"`
	Sim               interactiveSim    `json:"livytest"`

	// recoveredDead is set by the reading server: Livy recovers a session
	// whose RSC driver URI was not yet known as dead.
	recoveredDead bool
}

type interactiveSim struct {
	simMeta
	Statements []stmtRecord `json:"statements"`
}

// stmtRecord is one submitted statement; its state is derived from the
// times.
type stmtRecord struct {
	ID        int    `json:"id"`
	Code      string `json:"code"`
	Kind      string `json:"kind"`                // normalised code kind
	Created   int64  `json:"created"`             // Unix ms
	Cancelled int64  `json:"cancelled,omitempty"` // Unix ms of an effective cancel
}

func (r *interactiveRecord) meta() *simMeta       { return &r.Sim.simMeta }
func (r *interactiveRecord) sessionID() int       { return r.ID }
func (r *interactiveRecord) sessionName() *string { return r.Name }

func decodeRecord(typ string, data []byte) (record, error) {
	var r record
	if typ == typeBatch {
		r = new(batchRecord)
	} else {
		r = new(interactiveRecord)
	}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, err
	}
	return r, nil
}

func ms(t int64) time.Time { return time.UnixMilli(t) }

// ---- batch ----

const (
	batchStartSteps = 2 // starting for 2 steps
	batchEndSteps   = 6 // running until step 6
	sessionUpSteps  = 2 // interactive: starting for 2 steps

	// The Livy profiles' lifecycle (lifecycle.go):
	reconnectSteps    = 5 // a recovered interactive session is recovering until its RSC client reconnects
	batchRecoverSteps = 5 // a recovered batch is recovering until YARN is polled (livy.server.yarn.poll-interval 5s)
	stopSteps         = 1 // a DELETE (or the GC) takes a step to stop the session
	appEndSteps       = 6 // the conf hook livytest.app = killed|dead ends the YARN app at step 6
)

func (r *batchRecord) failed() bool { return strings.Contains(r.Sim.File, "fail") }

// finalState is how the batch ends: dead when its file name contains
// "fail"; in the Livy profiles killed when it contains "kill" (its YARN
// application killed by someone else: BatchSession.scala@0.9:191-194);
// else success.
func (r *batchRecord) finalState() string {
	switch {
	case r.failed():
		return "dead"
	case r.Sim.lc && strings.Contains(r.Sim.File, "kill"):
		return "killed"
	}
	return "success"
}

// removedFromStore reports whether Livy removed the batch's record from
// its store by t: on KILLED and FAILED (BatchSession.scala@0.9:191-198).
func (r *batchRecord) removedFromStore(t time.Time, step time.Duration) bool {
	return r.finalState() != "success" && r.finishedAt(step).Before(t)
}

// finishedAt is when the batch reaches success or dead.
func (r *batchRecord) finishedAt(step time.Duration) time.Time {
	return ms(r.Sim.Created).Add(batchEndSteps * step)
}

func (r *batchRecord) state(now time.Time, step time.Duration) string {
	if r.Sim.NoFile {
		return "starting"
	}
	if m := r.meta(); m.lc && !m.recoveredAt.IsZero() && now.Before(m.recoveredAt.Add(batchRecoverSteps*step)) {
		// BatchSession.recover starts in Recovering until the YARN
		// monitor reports the application (BatchSession.scala@0.9:126-143,182-202).
		return "recovering"
	}
	el := now.Sub(ms(r.Sim.Created))
	switch {
	case el < batchStartSteps*step:
		return "starting"
	case el < batchEndSteps*step:
		return "running"
	}
	return r.finalState()
}

func simAppID(created int64, id int) *string {
	s := fmt.Sprintf("application_%d_%04d", created, id%10000)
	return &s
}

func (r *batchRecord) appID(now time.Time, step time.Duration) *string {
	if r.Sim.NoFile || now.Sub(ms(r.Sim.Created)) < batchStartSteps*step {
		return nil
	}
	return simAppID(r.Sim.Created, r.ID)
}

// logLines is the batch's spark-submit style log at time now.
func (r *batchRecord) logLines(now time.Time, step time.Duration) []string {
	if r.Sim.NoFile {
		return []string{}
	}
	name := "Livy"
	if r.Name != nil {
		name = *r.Name
	}
	cmd := "livytest: spark-submit --name " + name
	if r.Sim.ClassName != nil {
		cmd += " --class " + *r.Sim.ClassName
	}
	cmd += " " + r.Sim.File
	for _, a := range r.Sim.Args {
		cmd += " " + a
	}
	lines := []string{"stdout: ", cmd, "livytest: submitting application to the cluster"}
	el := now.Sub(ms(r.Sim.Created))
	if el < batchStartSteps*step {
		return lines
	}
	app := *simAppID(r.Sim.Created, r.ID)
	lines = append(lines, "livytest: application report for "+app+" (state: ACCEPTED)")
	for i := batchStartSteps; i < batchEndSteps && el >= time.Duration(i)*step; i++ {
		lines = append(lines, "livytest: application report for "+app+" (state: RUNNING)")
	}
	if el < batchEndSteps*step {
		return lines
	}
	final := map[string]string{"success": "SUCCEEDED", "dead": "FAILED", "killed": "KILLED"}[r.finalState()]
	return append(lines,
		"livytest: application report for "+app+" (state: FINISHED)",
		"livytest: final status: "+final,
		"\nstderr: ",
		"\nYARN Diagnostics: ")
}

// ---- interactive ----

// running reports whether Livy's server-side state is Running (the RSC
// driver is up and answered), which statements and cancels require.
func (r *interactiveRecord) running(now time.Time, step time.Duration) bool {
	return r.serverSide(now, step) == "running"
}

// driverUp reports whether the driver had come up by now (the appId is
// known from then on).
func (r *interactiveRecord) driverUp(now time.Time, step time.Duration) bool {
	return !r.recoveredDead && now.Sub(ms(r.Sim.Created)) >= sessionUpSteps*step
}

// serverSide is Livy's server-side state of the session
// (InteractiveSession.serverSideState; the reported state is the REPL's
// while it is Running, see state). Without the Livy lifecycle it is
// starting, running or (recovered without a driver) dead.
func (r *interactiveRecord) serverSide(now time.Time, step time.Duration) string {
	if r.recoveredDead {
		return "dead"
	}
	m := r.meta()
	if m.lc {
		if !m.stoppingAt.IsZero() {
			// stopSession: ShuttingDown, the store record removed, the
			// driver stopped, then Dead (InteractiveSession.scala@0.9:550-566).
			if now.Before(m.stoppingAt.Add(stopSteps * step)) {
				return "shutting_down"
			}
			return "dead"
		}
		if st, ok := r.hookState(now, step); ok {
			return st
		}
		if !m.recoveredAt.IsZero() && now.Before(m.recoveredAt.Add(reconnectSteps*step)) {
			// InteractiveSession.recover starts in Recovering; Running once
			// the ping job on the reconnected RSC client succeeds
			// (InteractiveSession.scala@0.9:176,496-510).
			return "recovering"
		}
	}
	if now.Sub(ms(r.Sim.Created)) < sessionUpSteps*step {
		return "starting"
	}
	return "running"
}

// hookState applies the conf hook livytest.app of the Livy profiles:
//   - "error": the ping job fails when the driver comes up: Error, then
//     stop() — ShuttingDown, then Dead (InteractiveSession.scala@0.9:500-524);
//   - "killed" / "dead": YARN reports the application KILLED / FINISHED at
//     step 6 (stateChanged, @0.9:707-716).
func (r *interactiveRecord) hookState(now time.Time, step time.Duration) (string, bool) {
	c := ms(r.Sim.Created)
	switch h := r.Conf[confHook]; h {
	case "error":
		up := c.Add(sessionUpSteps * step)
		switch {
		case now.Before(up):
			return "", false
		case now.Before(up.Add(step)):
			return "error", true
		case now.Before(up.Add(2 * step)):
			return "shutting_down", true
		}
		return "dead", true
	case "killed", "dead":
		if now.Before(c.Add(appEndSteps * step)) {
			return "", false
		}
		return h, true
	}
	return "", false
}

// confHook is the conf key of the interactive lifecycle hook (Livy
// profiles; see hookState).
const confHook = "livytest.app"

// removedFromStore reports whether Livy removed the session's record from
// its store by t: on ShuttingDown, Dead and Killed (transition,
// InteractiveSession.scala@0.9:654-669), here through the conf hook.
func (r *interactiveRecord) removedFromStore(t time.Time, step time.Duration) bool {
	if !r.Sim.lc {
		return false
	}
	c := ms(r.Sim.Created)
	switch r.Conf[confHook] {
	case "error":
		return c.Add((sessionUpSteps + 1) * step).Before(t)
	case "killed", "dead":
		return c.Add(appEndSteps * step).Before(t)
	}
	return false
}

// finishedAt is when the session reached a finished state (dead, killed;
// the GC retains it StateRetain from then), or zero.
func (r *interactiveRecord) finishedAt(step time.Duration) time.Time {
	m := r.meta()
	switch {
	case !m.stoppingAt.IsZero():
		return m.stoppingAt.Add(stopSteps * step)
	case r.recoveredDead:
		return m.recoveredAt
	}
	c := ms(r.Sim.Created)
	switch r.Conf[confHook] {
	case "error":
		return c.Add((sessionUpSteps + 2) * step)
	case "killed", "dead":
		return c.Add(appEndSteps * step)
	}
	return time.Time{}
}

// stmtTimes is a statement's derived timeline. Statements run one at a
// time, in order, as in Livy's REPL.
type stmtTimes struct {
	start, end time.Time // run interval (start is zero if it never ran)
	cancel     time.Time // zero unless cancelled
	// doneAt is when it became available or cancelled.
	doneAt time.Time
}

func (r *interactiveRecord) timeline(step time.Duration) []stmtTimes {
	out := make([]stmtTimes, len(r.Sim.Statements))
	var prevEnd time.Time
	for i, st := range r.Sim.Statements {
		start := ms(st.Created).Add(step)
		if prevEnd.After(start) {
			start = prevEnd
		}
		var t stmtTimes
		if st.Cancelled != 0 {
			t.cancel = ms(st.Cancelled)
		}
		switch {
		case !t.cancel.IsZero() && t.cancel.Before(start):
			// Cancelled while waiting: never runs.
			t.doneAt = t.cancel
		case !t.cancel.IsZero() && t.cancel.Before(start.Add(step)):
			// Cancelled while running: cancelling for one step.
			t.start, t.end = start, t.cancel.Add(step)
			t.doneAt = t.end
			prevEnd = t.end
		default:
			t.start, t.end = start, start.Add(step)
			t.cancel = time.Time{}
			t.doneAt = t.end
			prevEnd = t.end
		}
		out[i] = t
	}
	return out
}

func stmtStateAt(t stmtTimes, now time.Time) string {
	switch {
	case t.start.IsZero(): // cancelled while waiting
		if now.Before(t.cancel) {
			return "waiting"
		}
		return "cancelled"
	case now.Before(t.start):
		return "waiting"
	case !t.cancel.IsZero():
		switch {
		case now.Before(t.cancel):
			return "running"
		case now.Before(t.end):
			return "cancelling"
		}
		return "cancelled"
	case now.Before(t.end):
		return "running"
	}
	return "available"
}

// state is the reported session state: the server-side state until it is
// Running, then the REPL's (InteractiveSession.scala@0.9:540-548): idle,
// busy while a statement is pending, and in the Livy profiles error after
// a statement that killed the interpreter (Session.scala@0.9:303-310)
// until the next one runs.
func (r *interactiveRecord) state(now time.Time, step time.Duration) string {
	if ss := r.serverSide(now, step); ss != "running" {
		return ss
	}
	tl := r.timeline(step)
	for _, t := range tl {
		switch stmtStateAt(t, now) {
		case "waiting", "running", "cancelling":
			return "busy"
		}
	}
	if n := len(tl); r.Sim.lc && n > 0 && stmtStateAt(tl[n-1], now) == "available" && aborts(r.Sim.Statements[n-1].Code) {
		return "error"
	}
	return "idle"
}

func (r *interactiveRecord) appID(now time.Time, step time.Duration) *string {
	if !r.driverUp(now, step) {
		return nil
	}
	return simAppID(r.Sim.Created, r.ID)
}

func (r *interactiveRecord) logLines(now time.Time, step time.Duration) []string {
	lines := []string{"stdout: ", "livytest: starting " + r.Kind + " session " + strconv.Itoa(r.ID)}
	if r.recoveredDead {
		return append(lines, "Cannot recover interactive session "+strconv.Itoa(r.ID)+" because its RSCDriver URI is unknown.")
	}
	if !r.driverUp(now, step) {
		return lines
	}
	if !r.meta().recoveredAt.IsZero() {
		lines = append(lines, "livytest: recovered; reconnecting to the driver")
	}
	lines = append(lines, "livytest: interpreter ready")
	for i, t := range r.timeline(step) {
		switch stmtStateAt(t, now) {
		case "available":
			lines = append(lines, "livytest: statement "+strconv.Itoa(r.Sim.Statements[i].ID)+" finished")
		case "cancelled":
			lines = append(lines, "livytest: statement "+strconv.Itoa(r.Sim.Statements[i].ID)+" cancelled")
		}
	}
	return append(lines, "\nstderr: ")
}

// ---- views (the REST shapes) ----

// appInfo is Livy's AppInfo from 0.9 on (SparkApp.scala@0.9:24-41).
type appInfo struct {
	DriverLogURL    *string `json:"driverLogUrl"`
	SparkUIURL      *string `json:"sparkUiUrl"`
	ExecutorLogURLs *string `json:"executorLogUrls"`
}

// appInfo2 is AppInfo before 0.9: two keys (SparkApp.scala@0.8:24-33).
type appInfo2 struct {
	DriverLogURL *string `json:"driverLogUrl"`
	SparkUIURL   *string `json:"sparkUiUrl"`
}

func (sf *surface) appInfo() any {
	if sf.executorLogs {
		return appInfo{}
	}
	return appInfo2{}
}

// batchView is Livy's BatchSessionView (the same in every release,
// BatchSessionServlet.scala@0.7:28-36, @0.9:28-36; AppInfo differs).
type batchView struct {
	ID        int      `json:"id"`
	Name      *string  `json:"name"`
	Owner     *string  `json:"owner"`
	ProxyUser *string  `json:"proxyUser"`
	State     string   `json:"state"`
	AppID     *string  `json:"appId"`
	AppInfo   any      `json:"appInfo"`
	Log       []string `json:"log"`
}

// sessionView is Livy's HttpMessages.SessionInfo of 0.9, fields in its
// order (HttpMessages.java@0.9:53-77).
type sessionView struct {
	ID                       int               `json:"id"`
	Name                     *string           `json:"name"`
	AppID                    *string           `json:"appId"`
	Owner                    *string           `json:"owner"`
	ProxyUser                *string           `json:"proxyUser"`
	State                    string            `json:"state"`
	Kind                     string            `json:"kind"`
	AppInfo                  any               `json:"appInfo"`
	Log                      []string          `json:"log"`
	TTL                      *string           `json:"ttl"`
	IdleTimeout              *string           `json:"idleTimeout"`
	DriverMemory             *string           `json:"driverMemory"`
	DriverCores              int               `json:"driverCores"`
	ExecutorMemory           *string           `json:"executorMemory"`
	ExecutorCores            int               `json:"executorCores"`
	Conf                     map[string]string `json:"conf"`
	Archives                 []string          `json:"archives"`
	Files                    []string          `json:"files"`
	HeartbeatTimeoutInSecond int               `json:"heartbeatTimeoutInSecond"`
	Jars                     []string          `json:"jars"`
	NumExecutors             int               `json:"numExecutors"`
	PyFiles                  []string          `json:"pyFiles"`
	Queue                    *string           `json:"queue"`
}

// sessionView08 is SessionInfo of 0.8: no idleTimeout
// (HttpMessages.java@0.8:53-76).
type sessionView08 struct {
	ID                       int               `json:"id"`
	Name                     *string           `json:"name"`
	AppID                    *string           `json:"appId"`
	Owner                    *string           `json:"owner"`
	ProxyUser                *string           `json:"proxyUser"`
	State                    string            `json:"state"`
	Kind                     string            `json:"kind"`
	AppInfo                  any               `json:"appInfo"`
	Log                      []string          `json:"log"`
	TTL                      *string           `json:"ttl"`
	DriverMemory             *string           `json:"driverMemory"`
	DriverCores              int               `json:"driverCores"`
	ExecutorMemory           *string           `json:"executorMemory"`
	ExecutorCores            int               `json:"executorCores"`
	Conf                     map[string]string `json:"conf"`
	Archives                 []string          `json:"archives"`
	Files                    []string          `json:"files"`
	HeartbeatTimeoutInSecond int               `json:"heartbeatTimeoutInSecond"`
	Jars                     []string          `json:"jars"`
	NumExecutors             int               `json:"numExecutors"`
	PyFiles                  []string          `json:"pyFiles"`
	Queue                    *string           `json:"queue"`
}

// sessionView07 is SessionInfo of 0.7 and of PR #212's base: nine fields
// (HttpMessages.java@0.7:53-76; InteractiveSessionServlet.scala@0.7:86-88).
type sessionView07 struct {
	ID        int      `json:"id"`
	Name      *string  `json:"name"`
	AppID     *string  `json:"appId"`
	Owner     *string  `json:"owner"`
	ProxyUser *string  `json:"proxyUser"`
	State     string   `json:"state"`
	Kind      string   `json:"kind"`
	AppInfo   any      `json:"appInfo"`
	Log       []string `json:"log"`
}

// shaped returns v in the shape of the surface's release.
func (v sessionView) shaped(sf *surface) any {
	switch sf.sessionInfo {
	case 9:
		return sessionView07{ID: v.ID, Name: v.Name, AppID: v.AppID, Owner: v.Owner, ProxyUser: v.ProxyUser,
			State: v.State, Kind: v.Kind, AppInfo: v.AppInfo, Log: v.Log}
	case 22:
		ttl := v.TTL
		if sf.ttlProxyUser {
			// 0.8 passes session.proxyUser.orNull as the ttl argument
			// (InteractiveSessionServlet.scala@0.8:95-103).
			ttl = v.ProxyUser
		}
		return sessionView08{ID: v.ID, Name: v.Name, AppID: v.AppID, Owner: v.Owner, ProxyUser: v.ProxyUser,
			State: v.State, Kind: v.Kind, AppInfo: v.AppInfo, Log: v.Log, TTL: ttl,
			DriverMemory: v.DriverMemory, DriverCores: v.DriverCores, ExecutorMemory: v.ExecutorMemory,
			ExecutorCores: v.ExecutorCores, Conf: v.Conf, Archives: v.Archives, Files: v.Files,
			HeartbeatTimeoutInSecond: v.HeartbeatTimeoutInSecond, Jars: v.Jars, NumExecutors: v.NumExecutors,
			PyFiles: v.PyFiles, Queue: v.Queue}
	}
	return v
}

// statementView is rsc's Statement.
type statementView struct {
	ID        int             `json:"id"`
	Code      string          `json:"code"`
	State     string          `json:"state"`
	Output    json.RawMessage `json:"output"` // raw JSON object or null
	Progress  javaDouble      `json:"progress"`
	Started   int64           `json:"started"`
	Completed int64           `json:"completed"`
}

// javaDouble marshals like Java's Double.toString for simple values
// ("1.0", not "1"), so a client that decodes progress into an integer
// fails here as it would against Livy.
type javaDouble float64

func (d javaDouble) MarshalJSON() ([]byte, error) { return []byte(javaDoubleString(float64(d))), nil }

// lastLines is what session views embed: the last 10 log lines.
func lastLines(lines []string) []string {
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return append([]string{}, lines...)
}

func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

func intOr0(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func (r *batchRecord) view(now time.Time, step time.Duration, sf *surface) batchView {
	return batchView{
		ID: r.ID, Name: r.Name, Owner: r.Owner, ProxyUser: r.ProxyUser,
		State: r.state(now, step), AppID: r.appID(now, step), AppInfo: sf.appInfo(),
		Log: lastLines(r.logLines(now, step)),
	}
}

func (r *interactiveRecord) view(now time.Time, step time.Duration, sf *surface) any {
	conf := r.Conf
	if conf == nil {
		conf = map[string]string{}
	}
	return sessionView{
		ID: r.ID, Name: r.Name, AppID: r.appID(now, step), Owner: r.Owner, ProxyUser: r.ProxyUser,
		State: r.state(now, step), Kind: r.Kind, AppInfo: sf.appInfo(), Log: lastLines(r.logLines(now, step)),
		TTL: r.TTL, IdleTimeout: r.IdleTimeout,
		DriverMemory: r.DriverMemory, DriverCores: intOr0(r.DriverCores),
		ExecutorMemory: r.ExecutorMemory, ExecutorCores: intOr0(r.ExecutorCores),
		Conf: conf, Archives: orEmpty(r.Archives), Files: orEmpty(r.Files),
		HeartbeatTimeoutInSecond: r.HeartbeatTimeoutS, Jars: orEmpty(r.Jars),
		NumExecutors: intOr0(r.NumExecutors), PyFiles: orEmpty(r.PyFiles), Queue: r.Queue,
	}.shaped(sf)
}

// statementViews returns every statement as seen at now.
func (r *interactiveRecord) statementViews(now time.Time, step time.Duration) []statementView {
	tl := r.timeline(step)
	out := make([]statementView, len(tl))
	for i, t := range tl {
		st := r.Sim.Statements[i]
		v := statementView{ID: st.ID, Code: st.Code, State: stmtStateAt(t, now)}
		if !t.start.IsZero() && !now.Before(t.start) {
			v.Started = t.start.UnixMilli()
		}
		switch v.State {
		case "available":
			if r.Sim.lc && aborts(st.Code) {
				v.Output = interpreterDied(st.ID)
			} else if st.Kind == "pyspark" && hasMagic(st.Code) {
				// Variables the session's earlier pyspark statements bound
				// (statements run one at a time, so those are done).
				var prior []string
				for j := range i {
					if p := r.Sim.Statements[j]; p.Kind == "pyspark" && stmtStateAt(tl[j], now) == "available" {
						prior = append(prior, p.Code)
					}
				}
				v.Output = evaluatePython(prior, st.Code, st.ID)
			} else {
				v.Output = evaluate(st.Code, st.Kind, st.ID)
			}
			v.Progress = 1
			v.Completed = t.doneAt.UnixMilli()
		case "cancelled":
			v.Progress = 1
			v.Completed = t.doneAt.UnixMilli()
		}
		out[i] = v
	}
	return out
}
