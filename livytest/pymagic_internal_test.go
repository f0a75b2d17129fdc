package livytest

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The magic cases of Livy's own PythonInterpreterSpec
// (repl/src/test/scala/org/apache/livy/repl/PythonInterpreterSpec.scala
// @0.9:103-187), each with the data Livy's test expects.
func TestPythonMagicsAsLivySpecs(t *testing.T) {
	for _, tc := range []struct {
		name, code, data string
	}{
		{"json magic (:103-115)", "x = [[1, 'a'], [3, 'b']]\n%json x\n      ",
			`{"application/json":[[1,"a"],[3,"b"]]}`},
		{"table magic (:117-135)", "x = [[1, 'a'], [3, 'b']]\n%table x\n      ",
			`{"application/vnd.livy.table.v1+json":{"headers":[{"type":"INT_TYPE","name":"0"},{"type":"STRING_TYPE","name":"1"}],"data":[[1,"a"],[3,"b"]]}}`},
		{"table magic with None type value (:137-155)", "x = [{\"a\":\"1\", \"b\":None}, {\"a\":\"2\", \"b\":2}]\n%table x\n      ",
			`{"application/vnd.livy.table.v1+json":{"headers":[{"type":"STRING_TYPE","name":"a"},{"type":"INT_TYPE","name":"b"}],"data":[["1",null],["2",2]]}}`},
		{"table magic with None type Row (:157-175)", "x = [{\"a\":None, \"b\":None}, {\"a\":\"2\", \"b\":2}]\n%table x\n      ",
			`{"application/vnd.livy.table.v1+json":{"headers":[{"type":"STRING_TYPE","name":"a"},{"type":"INT_TYPE","name":"b"}],"data":[[null,null],["2",2]]}}`},
		{"allow magic inside statements (:177-187)", "x = [[1, 'a'], [3, 'b']]\n%table x\n1 + 2\n      ",
			`{"text/plain":"3"}`},
	} {
		var out struct {
			Status string          `json:"status"`
			Data   json.RawMessage `json:"data"`
		}
		raw := evaluatePython(nil, tc.code, 0)
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: %s: %v", tc.name, raw, err)
		}
		var got, want any
		_ = json.Unmarshal(out.Data, &got)
		_ = json.Unmarshal([]byte(tc.data), &want)
		if out.Status != "ok" || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s, want data %s", tc.name, raw, tc.data)
		}
	}
	// Variables persist across statements; floats are rendered as Java does.
	raw := evaluatePython([]string{"y = {'k': (1.0, 1e7, 2.5e-7, -3)}"}, "%json y", 4)
	if want := `{"status":"ok","execution_count":4,"data":{"application/json":{"k":[1.0,1.0E7,2.5E-7,-3]}}}`; string(raw) != want {
		t.Errorf("got %s, want %s", raw, want)
	}
}
