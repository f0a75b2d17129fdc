package livyclient

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The MIME types of a statement's output data (repl/package.scala@0.9:25-28).
const (
	MIMEText  = "text/plain"
	MIMEJSON  = "application/json"
	MIMETable = "application/vnd.livy.table.v1+json"
	MIMEPNG   = "image/png"
)

// ErrNoOutput is returned by StatementOutput's decoders when the output
// has no data of the MIME type asked for: the statement failed (Status
// "error"), is not finished (a nil output), or produced another type.
var ErrNoOutput = errors.New("livyclient: no output of that type")

// data returns the output's data of type mime, or an ErrNoOutput error.
func (o *StatementOutput) data(mime string) (json.RawMessage, error) {
	switch {
	case o == nil:
		return nil, fmt.Errorf("%w: %s: the statement has no output (yet)", ErrNoOutput, mime)
	case o.Status == "error":
		return nil, fmt.Errorf("%w: %s: the statement failed: %s: %s", ErrNoOutput, mime, o.EName, o.EValue)
	}
	raw, ok := o.Data[mime]
	if !ok {
		return nil, fmt.Errorf("%w: %s (the output has %s)", ErrNoOutput, mime, o.types())
	}
	return raw, nil
}

func (o *StatementOutput) types() string {
	if len(o.Data) == 0 {
		return "no data"
	}
	return strings.Join(slices.Sorted(maps.Keys(o.Data)), ", ")
}

// JSON decodes the "application/json" output into v (as json.Unmarshal
// does). Livy produces it for the %json magic of pyspark and spark
// statements (repl/resources/fake_shell.py@0.9:492-500;
// AbstractSparkInterpreter.scala@0.9:130-145) and for every sql
// statement, whose value is {"schema": <Spark's StructType JSON>, "data":
// [[…], …]} (SQLInterpreter.scala@0.9:38-62,108-110).
func (o *StatementOutput) JSON(v any) error {
	raw, err := o.data(MIMEJSON)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("livyclient: decoding %s output: %w", MIMEJSON, err)
	}
	return nil
}

// Table is Livy's "application/vnd.livy.table.v1+json" output, made by
// the %table magic of pyspark and spark statements
// (repl/resources/fake_shell.py@0.9:431-489;
// AbstractSparkInterpreter.scala@0.9:181-236): one header per column,
// sorted by column name (a list row's columns are named "0", "1", …; a
// dict row's by its keys), and one row of values per element.
type Table struct {
	Headers []TableHeader `json:"headers"`
	// Data holds the rows, each value as JSON decodes it, numbers as
	// json.Number (BIGINT/INT and DOUBLE columns keep their digits).
	Data [][]any `json:"data"`
}

// TableHeader is one column of a Table.
type TableHeader struct {
	Name string `json:"name"`
	// Type is Livy's type name: NULL_TYPE, BOOLEAN_TYPE, INT_TYPE (Python
	// int), BIGINT_TYPE (Scala, Python 2 long), DOUBLE_TYPE, DECIMAL_TYPE,
	// STRING_TYPE, DATE_TYPE, TIMESTAMP_TYPE, ARRAY_TYPE or MAP_TYPE.
	Type string `json:"type"`
}

// Table decodes the "application/vnd.livy.table.v1+json" output.
func (o *StatementOutput) Table() (*Table, error) {
	raw, err := o.data(MIMETable)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var t Table
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("livyclient: decoding %s output: %w", MIMETable, err)
	}
	return &t, nil
}

// PNG returns the "image/png" output: the bytes of a PNG image, which
// Livy sends base64-encoded. pyspark's %matplot magic makes one
// (fake_shell.py@0.9:503-524), and so does a sparkr statement that plots
// (SparkRInterpreter.scala@0.9:235-246).
func (o *StatementOutput) PNG() ([]byte, error) {
	raw, err := o.data(MIMEPNG)
	if err != nil {
		return nil, err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("livyclient: decoding %s output: %w", MIMEPNG, err)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("livyclient: decoding %s output: %w", MIMEPNG, err)
	}
	return b, nil
}
