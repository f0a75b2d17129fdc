package livytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// Statement kinds (Livy's Kind, normalised).
var kindNames = map[string]string{
	"spark": "spark", "scala": "spark",
	"pyspark": "pyspark", "python": "pyspark",
	"sparkr": "sparkr", "r": "sparkr",
	"shared": "shared",
	"sql":    "sql",
}

// evaluate is livytest's toy interpreter. It returns the statement output
// in the REPL's shapes (keys in Livy's order):
//
//	{"status":"ok","execution_count":N,"data":{"text/plain":"..."}}
//	{"status":"error","execution_count":N,"ename":"Error","evalue":"...","traceback":[...]}
//
// Code containing "raise" or "throw" (or dividing by zero) fails; an
// integer expression such as 1+1 is computed (spark: "res<N>: Int = 2", pyspark: "2", sparkr:
// "[1] 2"); anything else is echoed.
func evaluate(code, kind string, id int) json.RawMessage {
	var b bytes.Buffer
	v, evalErr := evalInt(code)
	if strings.Contains(code, "raise") || strings.Contains(code, "throw") || evalErr == errDivZero {
		msg := strings.TrimSpace(code)
		if evalErr == errDivZero {
			msg = "java.lang.ArithmeticException: / by zero"
		}
		b.WriteString(`{"status":"error","execution_count":`)
		b.WriteString(strconv.Itoa(id))
		b.WriteString(`,"ename":"Error","evalue":`)
		writeJSONString(&b, msg)
		b.WriteString(`,"traceback":[`)
		writeJSONString(&b, "livytest: error raised by statement "+strconv.Itoa(id)+"\n")
		b.WriteString(`]}`)
		return b.Bytes()
	}
	text := code
	if evalErr == nil {
		switch kind {
		case "pyspark":
			text = strconv.FormatInt(v, 10)
		case "sparkr":
			text = "[1] " + strconv.FormatInt(v, 10)
		case "spark":
			typ := "Int"
			if v > math.MaxInt32 || v < math.MinInt32 {
				typ = "Long"
			}
			text = "res" + strconv.Itoa(id) + ": " + typ + " = " + strconv.FormatInt(v, 10)
		}
	}
	b.WriteString(`{"status":"ok","execution_count":`)
	b.WriteString(strconv.Itoa(id))
	b.WriteString(`,"data":{"text/plain":`)
	writeJSONString(&b, text)
	b.WriteString(`}}`)
	return b.Bytes()
}

// aborts reports whether code kills the interpreter in the Livy profiles
// (the session then reports error: see interactiveRecord.state).
func aborts(code string) bool { return strings.Contains(code, "sys.exit") }

// interpreterDied is the REPL's output for a statement during which the
// interpreter died (Interpreter.ExecuteAborted, Session.scala@0.9:303-310).
func interpreterDied(id int) json.RawMessage {
	var b bytes.Buffer
	b.WriteString(`{"status":"error","execution_count":`)
	b.WriteString(strconv.Itoa(id))
	b.WriteString(`,"ename":"Error","evalue":`)
	writeJSONString(&b, "Interpreter died:\nlivytest: the interpreter exited (sys.exit)")
	b.WriteString(`,"traceback":[]}`)
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}

var (
	errNotInt  = errors.New("not an integer expression")
	errDivZero = errors.New("division by zero")
)

// evalInt evaluates an integer expression with + - * / % and parentheses.
func evalInt(s string) (int64, error) {
	p := &intParser{s: s}
	v, err := p.expr()
	if err != nil {
		return 0, err
	}
	p.space()
	if p.i != len(p.s) || !p.sawDigit {
		return 0, errNotInt
	}
	return v, nil
}

type intParser struct {
	s        string
	i        int
	depth    int
	sawDigit bool
}

func (p *intParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *intParser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *intParser) expr() (int64, error) {
	v, err := p.term()
	for err == nil {
		switch p.peek() {
		case '+', '-':
			op := p.s[p.i]
			p.i++
			var w int64
			if w, err = p.term(); err == nil {
				if op == '+' {
					v += w
				} else {
					v -= w
				}
			}
		default:
			return v, nil
		}
	}
	return 0, err
}

func (p *intParser) term() (int64, error) {
	v, err := p.factor()
	for err == nil {
		switch p.peek() {
		case '*', '/', '%':
			op := p.s[p.i]
			p.i++
			var w int64
			if w, err = p.factor(); err != nil {
				break
			}
			switch {
			case op == '*':
				v *= w
			case w == 0:
				return 0, errDivZero
			case op == '/':
				v /= w
			default:
				v %= w
			}
		default:
			return v, nil
		}
	}
	return 0, err
}

func (p *intParser) factor() (int64, error) {
	switch c := p.peek(); {
	case c == '-':
		if p.depth++; p.depth > 100 {
			return 0, errNotInt
		}
		p.i++
		v, err := p.factor()
		p.depth--
		return -v, err
	case c == '(':
		if p.depth++; p.depth > 100 {
			return 0, errNotInt
		}
		p.i++
		v, err := p.expr()
		if err != nil {
			return 0, err
		}
		if p.peek() != ')' {
			return 0, errNotInt
		}
		p.i++
		p.depth--
		return v, nil
	case c >= '0' && c <= '9':
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		v, err := strconv.ParseInt(p.s[j:p.i], 10, 32)
		if err != nil {
			return 0, errNotInt
		}
		p.sawDigit = true
		return v, nil
	}
	return 0, errNotInt
}
