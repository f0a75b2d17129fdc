package livyclient

import "encoding/json"

// SessionState is the state of an interactive session or a batch, as Livy
// reports it.
type SessionState string

// Livy's session states (SessionState.scala).
const (
	StateNotStarted   SessionState = "not_started"
	StateStarting     SessionState = "starting"
	StateRecovering   SessionState = "recovering"
	StateIdle         SessionState = "idle"
	StateRunning      SessionState = "running"
	StateBusy         SessionState = "busy"
	StateShuttingDown SessionState = "shutting_down"
	StateError        SessionState = "error"
	StateDead         SessionState = "dead"
	StateKilled       SessionState = "killed"
	StateSuccess      SessionState = "success"
)

// Finished reports whether the state is final (error, dead, killed,
// success).
func (s SessionState) Finished() bool {
	switch s {
	case StateError, StateDead, StateKilled, StateSuccess:
		return true
	}
	return false
}

// StatementState is the state of a statement (StatementState.java).
type StatementState string

// Livy's statement states. A failed statement is "available" with an
// output whose Status is "error".
const (
	StatementWaiting    StatementState = "waiting"
	StatementRunning    StatementState = "running"
	StatementAvailable  StatementState = "available"
	StatementCancelling StatementState = "cancelling"
	StatementCancelled  StatementState = "cancelled"
)

// Finished reports whether the statement is done (available or cancelled).
func (s StatementState) Finished() bool { return s == StatementAvailable || s == StatementCancelled }

// AppInfo is a session's application info; values may be null.
type AppInfo struct {
	DriverLogURL    *string `json:"driverLogUrl"`
	SparkUIURL      *string `json:"sparkUiUrl"`
	ExecutorLogURLs *string `json:"executorLogUrls"`
}

// Batch is Livy's batch session view.
type Batch struct {
	ID        int          `json:"id"`
	Name      *string      `json:"name"`
	Owner     *string      `json:"owner"`
	ProxyUser *string      `json:"proxyUser"`
	State     SessionState `json:"state"`
	AppID     *string      `json:"appId"`
	AppInfo   AppInfo      `json:"appInfo"`
	Log       []string     `json:"log"`
}

// CreateBatchRequest is the body of POST /batches. Livy rejects unknown
// fields, so only set ones are sent.
type CreateBatchRequest struct {
	File           string   `json:"file"`
	ProxyUser      string   `json:"proxyUser,omitempty"`
	ClassName      string   `json:"className,omitempty"`
	Args           []string `json:"args,omitempty"`
	Jars           []string `json:"jars,omitempty"`
	PyFiles        []string `json:"pyFiles,omitempty"`
	Files          []string `json:"files,omitempty"`
	DriverMemory   string   `json:"driverMemory,omitempty"`
	DriverCores    int      `json:"driverCores,omitempty"`
	ExecutorMemory string   `json:"executorMemory,omitempty"`
	ExecutorCores  int      `json:"executorCores,omitempty"`
	NumExecutors   int      `json:"numExecutors,omitempty"`
	Archives       []string `json:"archives,omitempty"`
	Queue          string   `json:"queue,omitempty"`
	// Name must be unique among live batches; Livy accepts it in place of
	// the id in GET /batches/{name}. livyclient generates one when empty
	// (see WithGeneratedNames), which makes creation safe to retry.
	Name string            `json:"name,omitempty"`
	Conf map[string]string `json:"conf,omitempty"`
}

// Session is Livy's interactive session view.
type Session struct {
	ID                       int               `json:"id"`
	Name                     *string           `json:"name"`
	AppID                    *string           `json:"appId"`
	Owner                    *string           `json:"owner"`
	ProxyUser                *string           `json:"proxyUser"`
	State                    SessionState      `json:"state"`
	Kind                     string            `json:"kind"`
	AppInfo                  AppInfo           `json:"appInfo"`
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

// CreateSessionRequest is the body of POST /sessions.
type CreateSessionRequest struct {
	Kind                     string            `json:"kind,omitempty"` // spark, pyspark, sparkr, sql, shared (default)
	ProxyUser                string            `json:"proxyUser,omitempty"`
	Jars                     []string          `json:"jars,omitempty"`
	PyFiles                  []string          `json:"pyFiles,omitempty"`
	Files                    []string          `json:"files,omitempty"`
	DriverMemory             string            `json:"driverMemory,omitempty"`
	DriverCores              int               `json:"driverCores,omitempty"`
	ExecutorMemory           string            `json:"executorMemory,omitempty"`
	ExecutorCores            int               `json:"executorCores,omitempty"`
	NumExecutors             int               `json:"numExecutors,omitempty"`
	Archives                 []string          `json:"archives,omitempty"`
	Queue                    string            `json:"queue,omitempty"`
	Name                     string            `json:"name,omitempty"` // see CreateBatchRequest.Name
	Conf                     map[string]string `json:"conf,omitempty"`
	HeartbeatTimeoutInSecond int               `json:"heartbeatTimeoutInSecond,omitempty"`
	TTL                      string            `json:"ttl,omitempty"`
	IdleTimeout              string            `json:"idleTimeout,omitempty"`
}

// BatchList is the answer of GET /batches.
type BatchList struct {
	From     int     `json:"from"`
	Total    int     `json:"total"`
	Sessions []Batch `json:"sessions"`
}

// SessionList is the answer of GET /sessions.
type SessionList struct {
	From     int       `json:"from"`
	Total    int       `json:"total"`
	Sessions []Session `json:"sessions"`
}

// ListOptions page list calls (Livy's defaults: from 0, size 100).
type ListOptions struct {
	From int
	Size int
}

// LogOptions page log calls (Livy's defaults: the last 100 lines).
type LogOptions struct {
	From *int
	Size *int
}

// Log is the answer of GET /{sessions,batches}/{id}/log.
type Log struct {
	ID    int      `json:"id"`
	From  int      `json:"from"`
	Total int      `json:"total"`
	Log   []string `json:"log"`
}

// State is the answer of GET /{sessions,batches}/{id}/state.
type State struct {
	ID    int          `json:"id"`
	State SessionState `json:"state"`
}

// Statement is Livy's statement view.
type Statement struct {
	ID        int              `json:"id"`
	Code      string           `json:"code"`
	State     StatementState   `json:"state"`
	Output    *StatementOutput `json:"output"`
	Progress  float64          `json:"progress"`
	Started   int64            `json:"started"`
	Completed int64            `json:"completed"`
}

// StatementOutput is a statement's result: Status "ok" with Data by MIME
// type, or "error" with EName, EValue and Traceback.
type StatementOutput struct {
	Status         string                     `json:"status"`
	ExecutionCount int                        `json:"execution_count"`
	Data           map[string]json.RawMessage `json:"data,omitempty"`
	EName          string                     `json:"ename,omitempty"`
	EValue         string                     `json:"evalue,omitempty"`
	Traceback      []string                   `json:"traceback,omitempty"`
}

// Text returns the "text/plain" output, if any.
func (o *StatementOutput) Text() (string, bool) {
	if o == nil {
		return "", false
	}
	raw, ok := o.Data["text/plain"]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// StatementRequest is the body of POST /sessions/{id}/statements.
type StatementRequest struct {
	Code string `json:"code"`
	Kind string `json:"kind,omitempty"` // spark, pyspark, sparkr, sql; required for shared sessions
}

// StatementList is the answer of GET /sessions/{id}/statements.
type StatementList struct {
	TotalStatements int         `json:"total_statements"`
	Statements      []Statement `json:"statements"`
}

// VersionInfo is the answer of GET /version.
type VersionInfo struct {
	Version  string `json:"version"`
	User     string `json:"user"`
	Revision string `json:"revision"`
	Branch   string `json:"branch"`
	Date     string `json:"date"`
	URL      string `json:"url"`
}
