package livytest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The magics of Livy's pyspark REPL (repl/src/main/resources/fake_shell.py,
// the same in 0.7, 0.8 and 0.9; line numbers @0.9): a statement with a
// line starting with "%" that is not Python is cut into chunks of normal
// code and magic lines (parse_code_into_nodes, :268-305), run in order;
// the output is the last chunk's (execute_request, :308-355). Magics take
// the name of a variable (MagicNode, :248-265):
//
//	%json x     {"application/json": x}                          (:492-500)
//	%table x    {"application/vnd.livy.table.v1+json": {...}}    (:431-489)
//	%matplot p  {"image/png": <base64 of p.gcf() as PNG>}        (:503-524)
//
// livytest's toy Python knows two kinds of normal lines: an assignment of
// a literal (None, True, False, numbers, '…'/"…" strings, lists, tuples,
// dicts), and "import matplotlib.pyplot as <name>"; they bind variables
// for the rest of the statement and for the session's later pyspark
// statements. Other normal lines are skipped; when the last chunk is
// normal code the statement's output is the toy interpreter's (evaluate).
//
// Where Livy's own code has quirks livytest reproduces them: a magic on a
// variable that does not exist (KeyError), a %table whose rows disagree on
// a column's type, and a %matplot that fails *return* an error reply
// instead of raising it, so the statement is "ok" and its data is that
// reply: {"msg_type":"execute_reply","content":{"ename":…,"evalue":…,
// "traceback":[…],"status":"error"}}. An unknown magic is a real error
// (UnknownMagic). Values travel as JSON from Python to the REPL, which
// renders them with json4s: floats in Java's Double.toString form.

type pyKind int

const (
	pyNone pyKind = iota
	pyBool
	pyInt
	pyFloat
	pyStr
	pyList  // list or tuple
	pyDict  // keys in insertion order
	pyPlotM // the matplotlib.pyplot module
)

type pyVal struct {
	kind  pyKind
	b     bool
	i     int64
	f     float64
	s     string
	tuple bool
	items []pyVal // list items, or dict values
	keys  []pyVal // dict keys
}

func (v pyVal) typeName() string {
	switch v.kind {
	case pyNone:
		return "NoneType"
	case pyBool:
		return "bool"
	case pyInt:
		return "int"
	case pyFloat:
		return "float"
	case pyStr:
		return "str"
	case pyList:
		if v.tuple {
			return "tuple"
		}
		return "list"
	case pyDict:
		return "dict"
	}
	return "module"
}

// hasMagic reports whether code has a magic line, which makes it invalid
// Python and so sends Livy down the chunk path.
func hasMagic(code string) bool {
	for _, l := range strings.Split(strings.TrimRight(code, " \t\r\n"), "\n") {
		if strings.HasPrefix(l, "%") {
			return true
		}
	}
	return false
}

// pyBind binds the variables of the toy's normal lines of code into vars.
func pyBind(code string, vars map[string]pyVal) {
	for _, l := range strings.Split(code, "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "import matplotlib.pyplot as "); ok && isIdent(strings.TrimSpace(rest)) {
			vars[strings.TrimSpace(rest)] = pyVal{kind: pyPlotM}
			continue
		}
		name, expr, ok := strings.Cut(l, "=")
		name = strings.TrimSpace(name)
		if !ok || !isIdent(name) || strings.HasPrefix(expr, "=") {
			continue
		}
		p := &pyParser{s: expr}
		v, err := p.value(0)
		p.space()
		if err == nil && p.i == len(p.s) {
			vars[name] = v
		}
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// evaluatePython is the output of a pyspark statement with magics; prior
// are the session's earlier pyspark statements that ran.
func evaluatePython(prior []string, code string, id int) json.RawMessage {
	vars := map[string]pyVal{}
	for _, p := range prior {
		pyBind(p, vars)
	}
	var chunks []string
	var normal []string
	for _, l := range strings.Split(strings.TrimRight(code, " \t\r\n"), "\n") {
		if strings.HasPrefix(l, "%") {
			if normal != nil {
				chunks = append(chunks, strings.Join(normal, "\n"))
				normal = nil
			}
			chunks = append(chunks, l)
		} else {
			normal = append(normal, l)
		}
	}
	if normal != nil {
		chunks = append(chunks, strings.Join(normal, "\n"))
	}
	var data []byte
	for _, ch := range chunks {
		if !strings.HasPrefix(ch, "%") {
			pyBind(ch, vars)
			data = nil
			continue
		}
		d, ename, evalue := runMagic(ch, vars)
		if ename != "" {
			return pyError(id, ename, evalue)
		}
		data = d
	}
	if data == nil { // the last chunk was normal code
		return evaluate(chunks[len(chunks)-1], "pyspark", id)
	}
	var b bytes.Buffer
	b.WriteString(`{"status":"ok","execution_count":`)
	b.WriteString(strconv.Itoa(id))
	b.WriteString(`,"data":`)
	b.Write(data)
	b.WriteString(`}`)
	return b.Bytes()
}

// pyError is execute_reply_error's shape once the REPL has it
// (fake_shell.py@0.9:76-93, Session.scala@0.9:295-302); traceback.
// format_exception with no traceback object gives one line.
func pyError(id int, ename, evalue string) json.RawMessage {
	var b bytes.Buffer
	b.WriteString(`{"status":"error","execution_count":`)
	b.WriteString(strconv.Itoa(id))
	b.WriteString(`,"ename":`)
	writeJSONString(&b, ename)
	b.WriteString(`,"evalue":`)
	writeJSONString(&b, evalue)
	b.WriteString(`,"traceback":[`)
	writeJSONString(&b, ename+": "+evalue+"\n")
	b.WriteString(`]}`)
	return b.Bytes()
}

// returnedError is the data of a statement whose magic returned an error
// reply instead of raising it (see above).
func returnedError(ename, evalue string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"msg_type":"execute_reply","content":{"ename":`)
	writeJSONString(&b, ename)
	b.WriteString(`,"evalue":`)
	writeJSONString(&b, evalue)
	b.WriteString(`,"traceback":[`)
	writeJSONString(&b, ename+": "+evalue+"\n")
	b.WriteString(`],"status":"error"}}`)
	return b.Bytes()
}

// runMagic runs one magic line: its data, or the error it raises.
func runMagic(line string, vars map[string]pyVal) (data []byte, ename, evalue string) {
	magic, rest, hasRest := strings.Cut(line[1:], " ")
	if magic == "" {
		return nil, "UnknownMagic", "magic command not specified"
	}
	switch magic {
	case "json", "table", "matplot":
	default:
		return nil, "UnknownMagic", fmt.Sprintf("unknown magic command '%s'", magic)
	}
	if !hasRest {
		// handler() without its argument raises a TypeError that nothing
		// in fake_shell catches: the Python process dies (livytest does
		// not model that; it answers the TypeError).
		return nil, "TypeError", fmt.Sprintf("magic_%s() missing 1 required positional argument: 'name'", magic)
	}
	v, ok := vars[rest] // the rest of the line, spaces included, is the name
	if !ok {
		return returnedError("KeyError", "'"+rest+"'"), "", ""
	}
	var b bytes.Buffer
	switch magic {
	case "json":
		if v.kind == pyPlotM {
			return nil, "TypeError", "Object of type module is not JSON serializable"
		}
		b.WriteString(`{"application/json":`)
		writePy(&b, v)
		b.WriteString(`}`)
	case "table":
		t, msg := pyTable(v)
		if msg != "" {
			return returnedError("Exception", msg), "", ""
		}
		b.WriteString(`{"application/vnd.livy.table.v1+json":`)
		b.Write(t)
		b.WriteString(`}`)
	case "matplot":
		if v.kind != pyPlotM {
			return returnedError("AttributeError", fmt.Sprintf("'%s' object has no attribute 'gcf'", v.typeName())), "", ""
		}
		b.WriteString(`{"image/png":`)
		writeJSONString(&b, plotPNG)
		b.WriteString(`}`)
	}
	return b.Bytes(), "", ""
}

// pyTable is magic_table (fake_shell.py@0.9:431-489): rows are the list's
// elements (a value that is not a list or tuple is one row); a row that is
// a list or tuple has columns 0, 1, …, a dict its keys (sorted); any
// other row is one column 0. Headers are sorted by name; a column whose
// type differs between rows (NULL_TYPE aside) fails.
func pyTable(v pyVal) ([]byte, string) {
	rows := []pyVal{v}
	if v.kind == pyList {
		rows = v.items
	}
	type header struct {
		key  pyVal
		name string
		typ  string
	}
	headers := map[string]*header{} // by the key's identity
	var data bytes.Buffer
	data.WriteString(`[`)
	for ri, row := range rows {
		if ri > 0 {
			data.WriteString(`,`)
		}
		var keys, cols []pyVal
		switch row.kind {
		case pyList:
			for i, c := range row.items {
				keys = append(keys, pyVal{kind: pyInt, i: int64(i)})
				cols = append(cols, c)
			}
		case pyDict:
			idx := make([]int, len(row.keys))
			for i := range idx {
				idx[i] = i
			}
			sort.SliceStable(idx, func(a, b int) bool { return pyLess(row.keys[idx[a]], row.keys[idx[b]]) })
			for _, i := range idx {
				keys = append(keys, row.keys[i])
				cols = append(cols, row.items[i])
			}
		default:
			keys, cols = []pyVal{{kind: pyInt}}, []pyVal{row}
		}
		data.WriteString(`[`)
		for ci, c := range cols {
			typ, ok := tableType(c)
			if !ok {
				return nil, "livytest: table cells of type " + c.typeName() + " are not modelled"
			}
			id := keyID(keys[ci])
			if h, seen := headers[id]; !seen {
				headers[id] = &header{key: keys[ci], name: pyStrOf(keys[ci]), typ: typ}
			} else if typ != "NULL_TYPE" && h.typ != typ {
				if h.typ != "NULL_TYPE" {
					return nil, "table rows have different types"
				}
				h.typ = typ
			}
			if ci > 0 {
				data.WriteString(`,`)
			}
			writePy(&data, c)
		}
		data.WriteString(`]`)
	}
	data.WriteString(`]`)
	hs := make([]*header, 0, len(headers))
	for _, h := range headers {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(a, b int) bool { return pyLess(hs[a].key, hs[b].key) })
	var b bytes.Buffer
	b.WriteString(`{"headers":[`)
	for i, h := range hs {
		if i > 0 {
			b.WriteString(`,`)
		}
		b.WriteString(`{"name":`)
		writeJSONString(&b, h.name)
		b.WriteString(`,"type":`)
		writeJSONString(&b, h.typ)
		b.WriteString(`}`)
	}
	b.WriteString(`],"data":`)
	b.Write(data.Bytes())
	b.WriteString(`}`)
	return b.Bytes(), ""
}

// tableType is magic_table_convert's type (fake_shell.py@0.9:358-420).
func tableType(v pyVal) (string, bool) {
	switch v.kind {
	case pyNone:
		return "NULL_TYPE", true
	case pyBool:
		return "BOOLEAN_TYPE", true
	case pyInt:
		return "INT_TYPE", true
	case pyFloat:
		return "DOUBLE_TYPE", true
	case pyStr:
		return "STRING_TYPE", true
	case pyList:
		var last string
		for _, it := range v.items {
			t, ok := tableType(it)
			if !ok || last != "" && t != last {
				return "", false // Livy raises ValueError, which kills the REPL
			}
			last = t
		}
		return "ARRAY_TYPE", true
	}
	return "", false // dicts: magic_table_convert_map iterates keys only (a Livy bug)
}

func keyID(k pyVal) string { return fmt.Sprint(k.kind, k.i, k.s, k.b, k.f) }

func pyStrOf(k pyVal) string {
	switch k.kind {
	case pyStr:
		return k.s
	case pyInt:
		return strconv.FormatInt(k.i, 10)
	}
	var b bytes.Buffer
	writePy(&b, k)
	return b.String()
}

// pyLess orders dict keys and column names as Python's sorted does for
// keys of one type (ints numerically, strings by code point).
func pyLess(a, b pyVal) bool {
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	if a.kind == pyStr {
		return a.s < b.s
	}
	return a.i < b.i || a.i == b.i && a.f < b.f
}

// writePy writes v as JSON, as json.dumps and then json4s render it.
func writePy(b *bytes.Buffer, v pyVal) {
	switch v.kind {
	case pyNone:
		b.WriteString("null")
	case pyBool:
		b.WriteString(strconv.FormatBool(v.b))
	case pyInt:
		b.WriteString(strconv.FormatInt(v.i, 10))
	case pyFloat:
		b.WriteString(javaDoubleString(v.f))
	case pyStr:
		writeJSONString(b, v.s)
	case pyList:
		b.WriteString("[")
		for i, it := range v.items {
			if i > 0 {
				b.WriteString(",")
			}
			writePy(b, it)
		}
		b.WriteString("]")
	case pyDict:
		b.WriteString("{")
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(",")
			}
			writeJSONString(b, pyStrOf(k))
			b.WriteString(":")
			writePy(b, v.items[i])
		}
		b.WriteString("}")
	}
}

// javaDoubleString formats f as Java's Double.toString (how Jackson, and
// so json4s, writes a double): "1.0", "0.001", "1.0E7", "1.5E-7".
func javaDoubleString(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "null"
	}
	if a := math.Abs(f); a == 0 || a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1.5e-07
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// plotPNG is the figure livytest's %matplot renders: a 4×3 PNG, base64.
var plotPNG = func() string {
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	for x := 0; x < 4; x++ {
		for y := 0; y < 3; y++ {
			img.Set(x, y, color.RGBA{R: uint8(60 * x), G: uint8(80 * y), B: 200, A: 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return base64.StdEncoding.EncodeToString(b.Bytes())
}()

// pyParser parses the Python literals of the toy's assignments.
type pyParser struct {
	s string
	i int
}

var errPySyntax = fmt.Errorf("livytest: not a Python literal")

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) value(depth int) (pyVal, error) {
	if depth > 50 {
		return pyVal{}, errPySyntax
	}
	p.space()
	if p.i >= len(p.s) {
		return pyVal{}, errPySyntax
	}
	switch c := p.s[p.i]; {
	case c == '[' || c == '(':
		end := byte(']')
		if c == '(' {
			end = ')'
		}
		p.i++
		v := pyVal{kind: pyList, tuple: c == '(', items: []pyVal{}}
		for {
			p.space()
			if p.i < len(p.s) && p.s[p.i] == end {
				p.i++
				return v, nil
			}
			it, err := p.value(depth + 1)
			if err != nil {
				return pyVal{}, err
			}
			v.items = append(v.items, it)
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
			} else if p.i >= len(p.s) || p.s[p.i] != end {
				return pyVal{}, errPySyntax
			}
		}
	case c == '{':
		p.i++
		v := pyVal{kind: pyDict, items: []pyVal{}, keys: []pyVal{}}
		for {
			p.space()
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return v, nil
			}
			k, err := p.value(depth + 1)
			if err != nil || k.kind == pyList || k.kind == pyDict {
				return pyVal{}, errPySyntax
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return pyVal{}, errPySyntax
			}
			p.i++
			val, err := p.value(depth + 1)
			if err != nil {
				return pyVal{}, err
			}
			replaced := false
			for j, old := range v.keys {
				if keyID(old) == keyID(k) {
					v.items[j], replaced = val, true
				}
			}
			if !replaced {
				v.keys, v.items = append(v.keys, k), append(v.items, val)
			}
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
			} else if p.i >= len(p.s) || p.s[p.i] != '}' {
				return pyVal{}, errPySyntax
			}
		}
	case c == '\'' || c == '"':
		return p.str(c)
	}
	j := p.i
	for p.i < len(p.s) && strings.IndexByte(",:)]} \t\r", p.s[p.i]) < 0 {
		p.i++
	}
	tok := p.s[j:p.i]
	switch tok {
	case "None":
		return pyVal{kind: pyNone}, nil
	case "True", "False":
		return pyVal{kind: pyBool, b: tok == "True"}, nil
	}
	if n, err := strconv.ParseInt(tok, 10, 64); err == nil {
		return pyVal{kind: pyInt, i: n}, nil
	}
	if strings.ContainsAny(tok, "0123456789") && !strings.ContainsAny(tok, "xXpP_") {
		if f, err := strconv.ParseFloat(tok, 64); err == nil {
			return pyVal{kind: pyFloat, f: f}, nil
		}
	}
	return pyVal{}, errPySyntax
}

func (p *pyParser) str(q byte) (pyVal, error) {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case q:
			return pyVal{kind: pyStr, s: b.String()}, nil
		case '\\':
			if p.i >= len(p.s) {
				return pyVal{}, errPySyntax
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\', '\'', '"':
				b.WriteByte(e)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return pyVal{}, errPySyntax
}
