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
)

func (r *batchRecord) failed() bool { return strings.Contains(r.Sim.File, "fail") }

// finishedAt is when the batch reaches success or dead.
func (r *batchRecord) finishedAt(step time.Duration) time.Time {
	return ms(r.Sim.Created).Add(batchEndSteps * step)
}

func (r *batchRecord) state(now time.Time, step time.Duration) string {
	if r.Sim.NoFile {
		return "starting"
	}
	el := now.Sub(ms(r.Sim.Created))
	switch {
	case el < batchStartSteps*step:
		return "starting"
	case el < batchEndSteps*step:
		return "running"
	case r.failed():
		return "dead"
	}
	return "success"
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
	final := "SUCCEEDED"
	if r.failed() {
		final = "FAILED"
	}
	return append(lines,
		"livytest: application report for "+app+" (state: FINISHED)",
		"livytest: final status: "+final,
		"\nstderr: ",
		"\nYARN Diagnostics: ")
}

// ---- interactive ----

// running reports whether Livy's server-side state is Running (the RSC
// driver is up), which statements and cancels require.
func (r *interactiveRecord) running(now time.Time, step time.Duration) bool {
	return !r.recoveredDead && now.Sub(ms(r.Sim.Created)) >= sessionUpSteps*step
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

// state is the reported session state: starting, then idle, or busy while
// a statement is pending.
func (r *interactiveRecord) state(now time.Time, step time.Duration) string {
	if r.recoveredDead {
		return "dead"
	}
	if !r.running(now, step) {
		return "starting"
	}
	for _, t := range r.timeline(step) {
		switch stmtStateAt(t, now) {
		case "waiting", "running", "cancelling":
			return "busy"
		}
	}
	return "idle"
}

func (r *interactiveRecord) appID(now time.Time, step time.Duration) *string {
	if !r.running(now, step) {
		return nil
	}
	return simAppID(r.Sim.Created, r.ID)
}

func (r *interactiveRecord) logLines(now time.Time, step time.Duration) []string {
	lines := []string{"stdout: ", "livytest: starting " + r.Kind + " session " + strconv.Itoa(r.ID)}
	if r.recoveredDead {
		return append(lines, "Cannot recover interactive session "+strconv.Itoa(r.ID)+" because its RSCDriver URI is unknown.")
	}
	if !r.running(now, step) {
		return lines
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

type appInfo struct {
	DriverLogURL    *string `json:"driverLogUrl"`
	SparkUIURL      *string `json:"sparkUiUrl"`
	ExecutorLogURLs *string `json:"executorLogUrls"`
}

// batchView is Livy's BatchSessionView.
type batchView struct {
	ID        int      `json:"id"`
	Name      *string  `json:"name"`
	Owner     *string  `json:"owner"`
	ProxyUser *string  `json:"proxyUser"`
	State     string   `json:"state"`
	AppID     *string  `json:"appId"`
	AppInfo   appInfo  `json:"appInfo"`
	Log       []string `json:"log"`
}

// sessionView is Livy's HttpMessages.SessionInfo, fields in its order.
type sessionView struct {
	ID                       int               `json:"id"`
	Name                     *string           `json:"name"`
	AppID                    *string           `json:"appId"`
	Owner                    *string           `json:"owner"`
	ProxyUser                *string           `json:"proxyUser"`
	State                    string            `json:"state"`
	Kind                     string            `json:"kind"`
	AppInfo                  appInfo           `json:"appInfo"`
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

func (d javaDouble) MarshalJSON() ([]byte, error) {
	s := strconv.FormatFloat(float64(d), 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return []byte(s), nil
}

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

func (r *batchRecord) view(now time.Time, step time.Duration) batchView {
	return batchView{
		ID: r.ID, Name: r.Name, Owner: r.Owner, ProxyUser: r.ProxyUser,
		State: r.state(now, step), AppID: r.appID(now, step),
		Log: lastLines(r.logLines(now, step)),
	}
}

func (r *interactiveRecord) view(now time.Time, step time.Duration) sessionView {
	conf := r.Conf
	if conf == nil {
		conf = map[string]string{}
	}
	return sessionView{
		ID: r.ID, Name: r.Name, AppID: r.appID(now, step), Owner: r.Owner, ProxyUser: r.ProxyUser,
		State: r.state(now, step), Kind: r.Kind, Log: lastLines(r.logLines(now, step)),
		TTL: r.TTL, IdleTimeout: r.IdleTimeout,
		DriverMemory: r.DriverMemory, DriverCores: intOr0(r.DriverCores),
		ExecutorMemory: r.ExecutorMemory, ExecutorCores: intOr0(r.ExecutorCores),
		Conf: conf, Archives: orEmpty(r.Archives), Files: orEmpty(r.Files),
		HeartbeatTimeoutInSecond: r.HeartbeatTimeoutS, Jars: orEmpty(r.Jars),
		NumExecutors: intOr0(r.NumExecutors), PyFiles: orEmpty(r.PyFiles), Queue: r.Queue,
	}
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
			v.Output = evaluate(st.Code, st.Kind, st.ID)
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
