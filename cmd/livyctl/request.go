package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/livyha/livyha/internal/cli"
	"github.com/livyha/livyha/livyclient"
)

// listFlag is a repeatable flag; with split, each value is also split at
// commas.
type listFlag struct {
	vals  []string
	split bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }
func (l *listFlag) Set(s string) error {
	if !l.split {
		l.vals = append(l.vals, s)
		return nil
	}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l.vals = append(l.vals, p)
		}
	}
	return nil
}

// confFlag is the repeatable --conf k=v.
type confFlag struct {
	keys []string
	m    map[string]string
}

func (c *confFlag) String() string { return strings.Join(c.keys, ",") }
func (c *confFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if k = strings.TrimSpace(k); !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	if c.m == nil {
		c.m = map[string]string{}
	}
	if _, dup := c.m[k]; !dup {
		c.keys = append(c.keys, k)
	}
	c.m[k] = v
	return nil
}

// reqFlags are the request flags of batches and sessions.
type reqFlags struct {
	reqFile                                    string
	file, className                            string
	name, proxyUser, queue                     string
	driverMemory, executorMemory               string
	driverCores, executorCores, numExecutors   int
	kind, ttl, idleTimeout                     string
	heartbeat                                  int
	args, jars, pyFiles, files, archives, conf flag.Value
}

func (r *reqFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&r.reqFile, "f", "", "read the request from a JSON or YAML `PATH` (- for stdin)")
	fs.StringVar(&r.file, "file", "", "the application: a jar or .py `URL|PATH` the cluster can read (Livy's file)")
	fs.StringVar(&r.className, "class-name", "", "the application's main `CLASS` (className)")
	fs.StringVar(&r.name, "name", "", "the job's `NAME`, unique among live jobs (default: a generated livyctl-<hex>)")
	fs.StringVar(&r.proxyUser, "proxy-user", "", "run as `USER` (proxyUser)")
	fs.StringVar(&r.queue, "queue", "", "YARN `QUEUE`")
	fs.StringVar(&r.driverMemory, "driver-memory", "", "driver memory `SIZE`, e.g. 2g (driverMemory)")
	fs.StringVar(&r.executorMemory, "executor-memory", "", "executor memory `SIZE` (executorMemory)")
	fs.IntVar(&r.driverCores, "driver-cores", 0, "driver `CORES` (driverCores)")
	fs.IntVar(&r.executorCores, "executor-cores", 0, "`CORES` per executor (executorCores)")
	fs.IntVar(&r.numExecutors, "num-executors", 0, "`N` executors (numExecutors)")
	fs.StringVar(&r.kind, "kind", "", "session or statement `KIND`: spark, pyspark, sparkr, sql (sessions: also shared)")
	fs.StringVar(&r.ttl, "ttl", "", "session `TTL`, e.g. 2h: stop it after this long inactive (Livy ≥ 0.8)")
	fs.StringVar(&r.idleTimeout, "idle-timeout", "", "session idle `TIMEOUT` (idleTimeout)")
	fs.IntVar(&r.heartbeat, "heartbeat-timeout", 0, "session heartbeat timeout in `SECONDS` (heartbeatTimeoutInSecond)")
	r.args = &listFlag{}
	r.jars = &listFlag{split: true}
	r.pyFiles = &listFlag{split: true}
	r.files = &listFlag{split: true}
	r.archives = &listFlag{split: true}
	r.conf = &confFlag{}
	fs.Var(r.args, "args", "an application `ARG` (repeatable; also: arguments after --)")
	fs.Var(r.jars, "jars", "`JARS` to add, comma-separated or repeated")
	fs.Var(r.pyFiles, "py-files", "`FILES` for the Python path, comma-separated or repeated (pyFiles)")
	fs.Var(r.files, "files", "`FILES` for the working directory, comma-separated or repeated")
	fs.Var(r.archives, "archives", "`ARCHIVES` to extract, comma-separated or repeated")
	fs.Var(r.conf, "conf", "a Spark configuration entry `KEY=VALUE` (repeatable)")
}

func (r *reqFlags) list(f flag.Value) []string { return f.(*listFlag).vals }

// newName is a unique job name.
func newName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return "livyctl-" + hex.EncodeToString(b)
}

// buildBatch builds the batch request from -f's file and the given flags
// (set reports whether a flag was given); extra are the arguments after
// "--".
func buildBatch(r *reqFlags, set func(string) bool, extra []string, stdin io.Reader) (*livyclient.CreateBatchRequest, error) {
	req := &livyclient.CreateBatchRequest{}
	if r.reqFile != "" {
		if err := readRequest(r.reqFile, stdin, req); err != nil {
			return nil, err
		}
	}
	str := map[string]*string{"file": &req.File, "class-name": &req.ClassName, "name": &req.Name,
		"proxy-user": &req.ProxyUser, "queue": &req.Queue, "driver-memory": &req.DriverMemory, "executor-memory": &req.ExecutorMemory}
	strFrom := map[string]string{"file": r.file, "class-name": r.className, "name": r.name, "proxy-user": r.proxyUser,
		"queue": r.queue, "driver-memory": r.driverMemory, "executor-memory": r.executorMemory}
	for k, p := range str {
		if set(k) {
			*p = strFrom[k]
		}
	}
	ints := map[string][2]*int{"driver-cores": {&req.DriverCores, &r.driverCores},
		"executor-cores": {&req.ExecutorCores, &r.executorCores}, "num-executors": {&req.NumExecutors, &r.numExecutors}}
	for k, p := range ints {
		if set(k) {
			*p[0] = *p[1]
		}
	}
	lists := map[string][2]any{"args": {&req.Args, r.args}, "jars": {&req.Jars, r.jars}, "py-files": {&req.PyFiles, r.pyFiles},
		"files": {&req.Files, r.files}, "archives": {&req.Archives, r.archives}}
	for k, p := range lists {
		if set(k) {
			*p[0].(*[]string) = r.list(p[1].(flag.Value))
		}
	}
	req.Args = append(req.Args, extra...)
	req.Conf = mergeConf(req.Conf, r.conf.(*confFlag))
	if err := checkCommon(set, r); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.File) == "" {
		return nil, cli.Usagef("missing the application: --file URL|PATH (or file: in -f's request)")
	}
	return req, nil
}

// buildSession builds the session request like buildBatch.
func buildSession(r *reqFlags, set func(string) bool, stdin io.Reader) (*livyclient.CreateSessionRequest, error) {
	req := &livyclient.CreateSessionRequest{}
	if r.reqFile != "" {
		if err := readRequest(r.reqFile, stdin, req); err != nil {
			return nil, err
		}
	}
	str := map[string][2]*string{"kind": {&req.Kind, &r.kind}, "name": {&req.Name, &r.name}, "proxy-user": {&req.ProxyUser, &r.proxyUser},
		"queue": {&req.Queue, &r.queue}, "driver-memory": {&req.DriverMemory, &r.driverMemory},
		"executor-memory": {&req.ExecutorMemory, &r.executorMemory}, "ttl": {&req.TTL, &r.ttl}, "idle-timeout": {&req.IdleTimeout, &r.idleTimeout}}
	for k, p := range str {
		if set(k) {
			*p[0] = *p[1]
		}
	}
	ints := map[string][2]*int{"driver-cores": {&req.DriverCores, &r.driverCores}, "executor-cores": {&req.ExecutorCores, &r.executorCores},
		"num-executors": {&req.NumExecutors, &r.numExecutors}, "heartbeat-timeout": {&req.HeartbeatTimeoutInSecond, &r.heartbeat}}
	for k, p := range ints {
		if set(k) {
			*p[0] = *p[1]
		}
	}
	lists := map[string][2]any{"jars": {&req.Jars, r.jars}, "py-files": {&req.PyFiles, r.pyFiles},
		"files": {&req.Files, r.files}, "archives": {&req.Archives, r.archives}}
	for k, p := range lists {
		if set(k) {
			*p[0].(*[]string) = r.list(p[1].(flag.Value))
		}
	}
	req.Conf = mergeConf(req.Conf, r.conf.(*confFlag))
	if err := checkCommon(set, r); err != nil {
		return nil, err
	}
	return req, nil
}

func checkCommon(set func(string) bool, r *reqFlags) error {
	for k, v := range map[string]int{"driver-cores": r.driverCores, "executor-cores": r.executorCores,
		"num-executors": r.numExecutors, "heartbeat-timeout": r.heartbeat} {
		if set(k) && v < 0 {
			return cli.Usagef("bad --%s %d (must not be negative)", k, v)
		}
	}
	return nil
}

func mergeConf(file map[string]string, c *confFlag) map[string]string {
	if len(c.m) == 0 {
		return file
	}
	out := make(map[string]string, len(file)+len(c.m))
	for k, v := range file {
		out[k] = v
	}
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// maxRequestFile bounds a request file.
const maxRequestFile = 1 << 20

// readRequest decodes the request file at path ("-": stdin) into out (a
// *livyclient.CreateBatchRequest or *CreateSessionRequest), strictly: a
// field out does not have is an error naming it. JSON for .json and for
// content starting with "{", YAML otherwise.
func readRequest(path string, stdin io.Reader, out any) error {
	var (
		data []byte
		err  error
	)
	src := path
	if path == "-" {
		src = "stdin"
		data, err = io.ReadAll(io.LimitReader(stdin, maxRequestFile+1))
	} else {
		var fh *os.File
		if fh, err = os.Open(path); err == nil {
			data, err = io.ReadAll(io.LimitReader(fh, maxRequestFile+1))
			fh.Close()
		}
	}
	if err != nil {
		return cli.Usagef("-f: %s", err)
	}
	if len(data) > maxRequestFile {
		return cli.Usagef("-f %s: larger than %d bytes", src, maxRequestFile)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return cli.Usagef("-f %s: empty request", src)
	}
	ext := strings.ToLower(filepath.Ext(path))
	isJSON := ext == ".json" || (ext != ".yaml" && ext != ".yml" && bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")))
	if isJSON {
		err = decodeJSON(data, out)
	} else {
		err = decodeYAML(data, out)
	}
	if err != nil {
		return cli.Usagef("-f %s: %s", src, err)
	}
	return nil
}

// fieldNames are the JSON names of out's fields, sorted.
func fieldNames(out any) []string {
	t := reflect.TypeOf(out).Elem()
	var ns []string
	for i := 0; i < t.NumField(); i++ {
		n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if n != "" && n != "-" {
			ns = append(ns, n)
		}
	}
	sort.Strings(ns)
	return ns
}

func unknownField(field string, out any) error {
	return fmt.Errorf("unknown field %q (Livy rejects it; the fields are %s)", field, strings.Join(fieldNames(out), ", "))
}

func decodeJSON(data []byte, out any) error {
	// encoding/json matches names case-insensitively; Livy (Jackson) does
	// not: check the names exactly first.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err == nil {
		known := fieldNames(out)
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !containsString(known, k) {
				return unknownField(k, out)
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			if u, uerr := strconv.Unquote(f); uerr == nil {
				return unknownField(u, out)
			}
		}
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// decodeYAML checks the top-level keys against out's fields (so that an
// unknown one is named with its line), then decodes through JSON, so
// that the names and types are exactly the JSON ones. conf values may be
// YAML numbers or booleans: Livy's conf is strings.
func decodeYAML(data []byte, out any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return errors.New("want a mapping of Livy's request fields")
	}
	top := doc.Content[0]
	known := fieldNames(out)
	for i := 0; i+1 < len(top.Content); i += 2 {
		k := top.Content[i]
		if !containsString(known, k.Value) {
			return fmt.Errorf("line %d: %w", k.Line, unknownField(k.Value, out))
		}
		if k.Value == "conf" {
			if err := stringValues(top.Content[i+1]); err != nil {
				return err
			}
		}
	}
	var v any
	if err := top.Decode(&v); err != nil {
		return err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("not representable as JSON: %w", err)
	}
	return decodeJSON(js, out)
}

// stringValues turns the scalar values of the conf mapping into strings.
func stringValues(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: conf: want a mapping of KEY: VALUE", n.Line)
	}
	for i := 1; i < len(n.Content); i += 2 {
		v := n.Content[i]
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: conf value of %q: want a string", v.Line, n.Content[i-1].Value)
		}
		v.Tag = "!!str"
	}
	return nil
}

func containsString(ss []string, s string) bool {
	i := sort.SearchStrings(ss, s)
	return i < len(ss) && ss[i] == s
}
