package livytest

import (
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
)

// completion is POST /sessions/{id}/completion
// (InteractiveSessionServlet.scala@0.9:182-187; InteractiveSession.scala
// @0.9:602-609): the body is parsed first (Jackson: 400), then the
// session looked up (404), ensureRunning (500 "Session is in state …"),
// recordActivity, and the driver asked: Session.complete
// (repl/Session.scala@0.9:181-184) maps the kind (Kind.apply: an unknown
// one, or null, throws "Invalid kind", which reaches the client as a 500
// RpcException) to its interpreter and asks it. Only the Scala
// interpreter completes (PresentationCompilerCompleter,
// repl/scala-2.12/SparkInterpreter.scala@0.9:110-121); pyspark, sparkr and
// sql have Interpreter's default, no candidates
// (repl/Interpreter.scala@0.9:50-51), and "shared" names no interpreter
// (Session.interpreter's match fails: none, so no candidates either).
func (c *call) completion(idOrName string) {
	body, aerr := c.body()
	if aerr == nil {
		var req *completionRequest
		if req, aerr = parseCompletion(body); aerr == nil {
			aerr = c.complete(idOrName, req)
		}
	}
	if aerr != nil {
		c.fail(aerr)
	}
}

func (c *call) complete(idOrName string, req *completionRequest) *apiError {
	rec, aerr := c.findInteractive(idOrName)
	if aerr != nil {
		return aerr
	}
	now := time.Now()
	if st := serverSideState(rec, now, rec.meta().step(c.s.cfg.Step)); st != "running" {
		return notRunning(st)
	}
	c.s.recordActivity(rec.ID, now)
	kind := "null"
	if req.Kind != nil {
		kind = *req.Kind
	}
	k, ok := kindNames[kind]
	if !ok {
		return rpcErrorAt("org.apache.livy.sessions.Kind$.apply(Kind.scala)", "java.lang.IllegalArgumentException: Invalid kind: "+kind)
	}
	if req.Code == nil {
		return rpcErrorAt("org.apache.livy.repl.ReplDriver.handle(ReplDriver.scala)", "java.lang.NullPointerException")
	}
	cands := []string{}
	if k == "spark" {
		var err *apiError
		if cands, err = scalaComplete(*req.Code, req.Cursor); err != nil {
			return err
		}
	}
	c.json(http.StatusOK, struct {
		Candidates []string `json:"candidates"`
	}{cands})
	return nil
}

// scalaSymbols is what livytest's toy Scala completer knows: the names a
// Livy Scala session binds (sc, spark, sqlContext) and some of their
// members. The real completer knows the whole classpath; the shape of its
// answer (member names that start with the typed prefix) is the same.
var scalaSymbols = map[string][]string{
	"":           {"sc", "spark", "sqlContext"},
	"sc":         {"addFile", "addJar", "appName", "applicationId", "broadcast", "defaultParallelism", "getConf", "parallelize", "range", "setLogLevel", "stop", "textFile", "version"},
	"spark":      {"catalog", "conf", "createDataFrame", "range", "read", "sparkContext", "sql", "stop", "table", "udf", "version"},
	"sqlContext": {"createDataFrame", "read", "sql", "table", "tables"},
}

// scalaComplete completes the identifier that ends at cursor (a Java
// string index: UTF-16 code units). A cursor outside the code fails in
// the driver as String.substring does.
func scalaComplete(code string, cursor int) ([]string, *apiError) {
	u := utf16.Encode([]rune(code))
	if cursor < 0 || cursor > len(u) {
		return nil, rpcErrorAt("java.lang.String.substring(String.java)",
			"java.lang.StringIndexOutOfBoundsException: String index out of range: "+idString(cursor))
	}
	before := string(utf16.Decode(u[:cursor]))
	i := len(before)
	for i > 0 && identByte(before[i-1]) {
		i--
	}
	prefix, scope := before[i:], ""
	if i > 0 && before[i-1] == '.' {
		j := i - 1
		for j > 0 && identByte(before[j-1]) {
			j--
		}
		if scope = before[j : i-1]; scope == "" {
			return []string{}, nil
		}
	}
	out := []string{}
	for _, s := range scalaSymbols[scope] {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

func identByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}
