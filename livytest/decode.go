package livytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// apiError is a response Livy would give instead of the normal one.
// body is rendered as JSON: a msgBody becomes {"msg":...}, a plain string
// becomes a JSON string literal (Livy's JsonServlet rules).
type apiError struct {
	status int
	body   any
}

type msgBody struct {
	Msg string `json:"msg"`
}

func errMsg(status int, format string, a ...any) *apiError {
	return &apiError{status: status, body: msgBody{Msg: fmt.Sprintf(format, a...)}}
}

func errString(status int, s string) *apiError { return &apiError{status: status, body: s} }

// errNPE is what Livy answers when a JSON null reaches code that does not
// expect it.
var errNPE = errString(500, "java.lang.NullPointerException")

// Jackson-style class names used in error messages.
const (
	classBatch       = "org.apache.livy.server.batch.CreateBatchRequest"
	classInteractive = "org.apache.livy.server.interactive.CreateInteractiveRequest"
	classExecute     = "org.apache.livy.ExecuteRequest"
	classCompletion  = "org.apache.livy.CompletionRequest"
)

var (
	batchFields = []string{"file", "proxyUser", "args", "className", "jars", "pyFiles", "files",
		"driverMemory", "driverCores", "executorMemory", "executorCores", "numExecutors",
		"archives", "queue", "name", "conf"}
	// CreateInteractiveRequest's fields: 0.7's, then ttl (0.8) and
	// idleTimeout (0.9) (CreateInteractiveRequest.scala@0.7:23-37,
	// @0.8:23-38, @0.9:23-39).
	interactiveFields = []string{"kind", "proxyUser", "jars", "pyFiles", "files", "driverMemory",
		"driverCores", "executorMemory", "executorCores", "numExecutors", "archives", "queue",
		"name", "conf", "heartbeatTimeoutInSecond", "ttl", "idleTimeout"}
	executeFields = []string{"code", "kind"}
	// CompletionRequest(code: String, kind: String, cursor: Int)
	// (msgs.scala@0.9:63; the same in 0.7 and 0.8).
	completionFields = []string{"code", "kind", "cursor"}
)

type jsonField struct {
	name string
	raw  json.RawMessage
}

// readObject parses a request body the way Livy's Jackson mapper does for a
// bean: the top level must be an object; field names are case-sensitive
// and unknown ones are rejected (Go's encoding/json would match them
// case-insensitively, which Livy does not). It returns (nil, nil) for a
// JSON null body, which Livy turns into a NullPointerException.
func readObject(body []byte, class string, known []string) ([]jsonField, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errString(400, "No content to map due to end-of-input\n at [Source: (org.eclipse.jetty.server.HttpInputOverHTTP); line: 1, column: 0]")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, errString(400, "Unexpected character or end-of-input: "+err.Error())
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errString(400, fmt.Sprintf("Cannot construct instance of `%s`: expected a JSON object, got %s", class, tokenName(tok)))
	}
	fields := []jsonField{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errString(400, "Unexpected character or end-of-input: "+err.Error())
		}
		name, _ := t.(string)
		if !contains(known, name) {
			return nil, errString(400, fmt.Sprintf("Unrecognized field %q (class %s), not marked as ignorable (%d known properties: %s])",
				name, class, len(known), quoteList(known)))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errString(400, "Unexpected character or end-of-input: "+err.Error())
		}
		fields = append(fields, jsonField{name: name, raw: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, errString(400, "Unexpected end-of-input: "+err.Error())
	}
	return fields, nil
}

func tokenName(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "START_ARRAY"
		}
		return string(t)
	case string:
		return "VALUE_STRING"
	case json.Number:
		return "VALUE_NUMBER"
	case bool:
		return "VALUE_" + strings.ToUpper(strconv.FormatBool(t))
	}
	return "VALUE_NULL"
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

// binder converts raw field values to Go values with Jackson's default
// coercions (a scalar where a string is expected becomes its text) and
// records the first error.
type binder struct {
	class string
	err   *apiError
	npe   bool // a JSON null where Livy would later dereference it
}

func (b *binder) fail(field, typ string, raw json.RawMessage) {
	if b.err == nil {
		b.err = errString(400, fmt.Sprintf("Cannot deserialize value of type `%s` from %s (through reference chain: %s[%q])",
			typ, rawKind(raw), b.class, field))
	}
}

func rawKind(raw json.RawMessage) string {
	switch t := bytes.TrimSpace(raw); {
	case len(t) == 0:
		return "nothing"
	case t[0] == '{':
		return "Object value (token `JsonToken.START_OBJECT`)"
	case t[0] == '[':
		return "Array value (token `JsonToken.START_ARRAY`)"
	case t[0] == '"':
		return "String value " + string(t)
	}
	return "value " + string(bytes.TrimSpace(raw))
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// scalarText returns the text of a string, number or boolean.
func scalarText(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "", false
	}
	switch t[0] {
	case '"':
		var s string
		if json.Unmarshal(t, &s) != nil {
			return "", false
		}
		return s, true
	case '{', '[', 'n':
		return "", false
	}
	return string(t), true
}

func (b *binder) optString(f jsonField, dst **string) {
	if isNull(f.raw) {
		*dst = nil
		return
	}
	s, ok := scalarText(f.raw)
	if !ok {
		b.fail(f.name, "java.lang.String", f.raw)
		return
	}
	*dst = &s
}

// optInt is an Option[Int]: a JSON integer that fits Java's int, or null.
func (b *binder) optInt(f jsonField, dst **int) {
	if isNull(f.raw) {
		*dst = nil
		return
	}
	v, ok := jsonInt(f.raw)
	if !ok {
		b.fail(f.name, "int", f.raw)
		return
	}
	*dst = &v
}

// primInt is a Scala Int: null means 0.
func (b *binder) primInt(f jsonField, dst *int) {
	if isNull(f.raw) {
		*dst = 0
		return
	}
	v, ok := jsonInt(f.raw)
	if !ok {
		b.fail(f.name, "int", f.raw)
		return
	}
	*dst = v
}

func jsonInt(raw json.RawMessage) (int, bool) {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(string(n), 10, 32)
	if err != nil {
		return 0, false
	}
	return int(v), true
}

func (b *binder) list(f jsonField, dst *[]string) {
	if isNull(f.raw) {
		b.npe = true
		return
	}
	var raws []json.RawMessage
	if json.Unmarshal(f.raw, &raws) != nil {
		b.fail(f.name, "scala.collection.immutable.List<java.lang.String>", f.raw)
		return
	}
	out := make([]string, 0, len(raws))
	for _, r := range raws {
		s, ok := scalarText(r)
		if !ok {
			b.fail(f.name, "java.lang.String", r)
			return
		}
		out = append(out, s)
	}
	*dst = out
}

func (b *binder) dict(f jsonField, dst *map[string]string) {
	if isNull(f.raw) {
		b.npe = true
		return
	}
	var raws map[string]json.RawMessage
	if json.Unmarshal(f.raw, &raws) != nil {
		b.fail(f.name, "scala.collection.immutable.Map<java.lang.String,java.lang.String>", f.raw)
		return
	}
	out := make(map[string]string, len(raws))
	for k, r := range raws {
		s, ok := scalarText(r)
		if !ok {
			b.fail(f.name, "java.lang.String", r)
			return
		}
		out[k] = s
	}
	*dst = out
}

// sparkRequest holds the fields Livy's CreateBatchRequest and
// CreateInteractiveRequest share.
type sparkRequest struct {
	ProxyUser, DriverMemory, ExecutorMemory, Queue, Name *string
	Jars, PyFiles, Files, Archives                       []string
	DriverCores, ExecutorCores, NumExecutors             *int
	Conf                                                 map[string]string
}

// common binds a field of sparkRequest and reports whether f was one.
func (b *binder) common(f jsonField, r *sparkRequest) bool {
	switch f.name {
	case "proxyUser":
		b.optString(f, &r.ProxyUser)
	case "driverMemory":
		b.optString(f, &r.DriverMemory)
	case "executorMemory":
		b.optString(f, &r.ExecutorMemory)
	case "queue":
		b.optString(f, &r.Queue)
	case "name":
		b.optString(f, &r.Name)
	case "jars":
		b.list(f, &r.Jars)
	case "pyFiles":
		b.list(f, &r.PyFiles)
	case "files":
		b.list(f, &r.Files)
	case "archives":
		b.list(f, &r.Archives)
	case "driverCores":
		b.optInt(f, &r.DriverCores)
	case "executorCores":
		b.optInt(f, &r.ExecutorCores)
	case "numExecutors":
		b.optInt(f, &r.NumExecutors)
	case "conf":
		b.dict(f, &r.Conf)
	default:
		return false
	}
	return true
}

// done returns the binder's first error: a type error, else Livy's
// NullPointerException for a null field.
func (b *binder) done() *apiError {
	if b.err != nil {
		return b.err
	}
	if b.npe {
		return errNPE
	}
	return nil
}

// createBatchRequest is Livy's CreateBatchRequest.
type createBatchRequest struct {
	sparkRequest
	File, ClassName *string
	Args            []string
}

func parseCreateBatch(body []byte) (*createBatchRequest, *apiError) {
	fields, aerr := readObject(body, classBatch, batchFields)
	if aerr != nil {
		return nil, aerr
	}
	if fields == nil {
		return nil, errNPE
	}
	req := &createBatchRequest{}
	b := &binder{class: classBatch}
	for _, f := range fields {
		if b.common(f, &req.sparkRequest) {
			continue
		}
		switch f.name {
		case "file":
			b.optString(f, &req.File)
		case "className":
			b.optString(f, &req.ClassName)
		case "args":
			b.list(f, &req.Args)
		}
	}
	if err := b.done(); err != nil {
		return nil, err
	}
	return req, nil
}

// createInteractiveRequest is Livy's CreateInteractiveRequest.
type createInteractiveRequest struct {
	sparkRequest
	Kind                     string
	TTL, IdleTimeout         *string
	HeartbeatTimeoutInSecond int
}

// interactiveFields returns the CreateInteractiveRequest fields of the
// surface's release.
func (sf *surface) interactiveFields() []string {
	n := len(interactiveFields) - 2
	if sf.ttl {
		n++
	}
	if sf.idleTimeout {
		n++
	}
	return interactiveFields[:n]
}

func parseCreateInteractive(body []byte, known []string) (*createInteractiveRequest, *apiError) {
	fields, aerr := readObject(body, classInteractive, known)
	if aerr != nil {
		return nil, aerr
	}
	if fields == nil {
		return nil, errNPE
	}
	req := &createInteractiveRequest{Kind: "shared"}
	b := &binder{class: classInteractive}
	for _, f := range fields {
		if b.common(f, &req.sparkRequest) {
			continue
		}
		switch f.name {
		case "kind":
			if isNull(f.raw) {
				b.npe = true
				continue
			}
			var s string
			if json.Unmarshal(f.raw, &s) != nil {
				if b.err == nil {
					b.err = errString(400, fmt.Sprintf("requirement failed: Kind should be a string. (through reference chain: %s[\"kind\"])", classInteractive))
				}
				continue
			}
			k, ok := kindNames[s]
			if !ok && b.err == nil {
				b.err = errString(400, fmt.Sprintf("Invalid kind: %s (through reference chain: %s[\"kind\"])", s, classInteractive))
			}
			req.Kind = k
		case "ttl":
			b.optString(f, &req.TTL)
		case "idleTimeout":
			b.optString(f, &req.IdleTimeout)
		case "heartbeatTimeoutInSecond":
			b.primInt(f, &req.HeartbeatTimeoutInSecond)
		}
	}
	if err := b.done(); err != nil {
		return nil, err
	}
	return req, nil
}

// executeRequest is Livy's ExecuteRequest(code, kind).
type executeRequest struct {
	Code *string
	Kind *string
}

// completionRequest is Livy's CompletionRequest(code, kind, cursor).
type completionRequest struct {
	executeRequest
	Cursor int
}

func parseExecute(body []byte) (*executeRequest, *apiError) {
	return parseCode(body, classExecute, executeFields, nil)
}

func parseCompletion(body []byte) (*completionRequest, *apiError) {
	req := &completionRequest{}
	er, aerr := parseCode(body, classCompletion, completionFields, func(b *binder, f jsonField) {
		if f.name == "cursor" {
			b.primInt(f, &req.Cursor)
		}
	})
	if aerr != nil {
		return nil, aerr
	}
	req.executeRequest = *er
	return req, nil
}

// parseCode parses a body of Livy's with code and kind fields; more binds
// the others.
func parseCode(body []byte, class string, known []string, more func(*binder, jsonField)) (*executeRequest, *apiError) {
	fields, aerr := readObject(body, class, known)
	if aerr != nil {
		return nil, aerr
	}
	if fields == nil {
		return nil, errNPE
	}
	req := &executeRequest{}
	b := &binder{class: class}
	for _, f := range fields {
		switch f.name {
		case "code":
			b.optString(f, &req.Code)
		case "kind":
			b.optString(f, &req.Kind)
		default:
			if more != nil {
				more(b, f)
			}
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	return req, nil
}

// javaParseInt is Java's Integer.parseInt; ok is false where Java throws
// NumberFormatException("For input string: \"<s>\"").
func javaParseInt(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	i, neg := 0, false
	if s[0] == '+' || s[0] == '-' {
		neg, i = s[0] == '-', 1
		if len(s) == 1 {
			return 0, false
		}
	}
	var v int64
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
		if v > math.MaxInt32+1 {
			return 0, false
		}
	}
	if neg {
		v = -v
	}
	if v > math.MaxInt32 || v < math.MinInt32 {
		return 0, false
	}
	return int(v), true
}

func numberFormat(s string) *apiError { return errMsg(400, "For input string: \"%s\"", s) }

var timeStringRE = regexp.MustCompile(`^(-?[0-9]+)([a-z]+)?$`)

// timeString converts a valid Livy time string (ClientConf.getTimeAsMs: no
// suffix means milliseconds) into a duration.
func timeString(t string) (time.Duration, bool) {
	if checkTimeString(t) != "" {
		return 0, false
	}
	m := timeStringRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(t)))
	v, _ := strconv.ParseInt(m[1], 10, 64)
	unit := map[string]time.Duration{"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "m": time.Minute, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	return time.Duration(v) * unit, true
}

// checkTimeString is ClientConf.getTimeAsMs's validation (ttl,
// idleTimeout); it returns the IllegalArgumentException message.
func checkTimeString(t string) string {
	if strings.TrimSpace(t) == "" {
		return "Invalid time string: " + t
	}
	m := timeStringRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(t)))
	if m == nil {
		return "Invalid time string: " + t
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return "For input string: \"" + m[1] + "\""
	}
	switch m[2] {
	case "", "us", "ms", "s", "m", "min", "h", "d":
	default:
		return "Invalid suffix: \"" + m[2] + "\""
	}
	if v < 0 {
		return "Invalid value: " + strconv.FormatInt(v, 10)
	}
	return ""
}
