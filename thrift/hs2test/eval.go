package hs2test

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/beltran/gohive/hiveserver"
)

// result is a statement's result set, column by column.
type result struct {
	cols []column
	rows int
}

type column struct {
	name  string
	typ   hiveserver.TTypeId
	ints  []int32
	longs []int64
	strs  []string
	bools []bool
}

// slice returns rows [from, to) as a columnar TColumn.
func (c column) slice(from, to int) *hiveserver.TColumn {
	nulls := []byte{}
	switch c.typ {
	case hiveserver.TTypeId_INT_TYPE:
		return &hiveserver.TColumn{I32Val: &hiveserver.TI32Column{Values: c.ints[from:to], Nulls: nulls}}
	case hiveserver.TTypeId_BIGINT_TYPE:
		return &hiveserver.TColumn{I64Val: &hiveserver.TI64Column{Values: c.longs[from:to], Nulls: nulls}}
	case hiveserver.TTypeId_BOOLEAN_TYPE:
		return &hiveserver.TColumn{BoolVal: &hiveserver.TBoolColumn{Values: c.bools[from:to], Nulls: nulls}}
	}
	return &hiveserver.TColumn{StringVal: &hiveserver.TStringColumn{Values: c.strs[from:to], Nulls: nulls}}
}

// evalEnv is what a statement can see.
type evalEnv struct {
	server, user, database string
}

// compileError is a statement hs2test cannot run, worded like Hive.
type compileError struct{ msg string }

func (e *compileError) Error() string {
	return "Error while compiling statement: FAILED: " + e.msg
}

func parseErr(stmt, near string) error {
	return &compileError{fmt.Sprintf("ParseException line 1:0 cannot recognize input near '%s' in statement %q"+
		" (hs2test runs SELECT <literal|current_server()|current_user()|current_database()>[, ...], USE <db> and SET k=v)",
		near, stmt)}
}

// evaluate runs one statement. It returns the result set (nil for USE and
// SET) and, for USE, the new current database.
func evaluate(stmt string, env evalEnv) (res *result, useDB string, err error) {
	text := strings.TrimSpace(stmt)
	text = strings.TrimSpace(strings.TrimSuffix(text, ";"))
	toks, err := tokenize(text)
	if err != nil {
		return nil, "", &compileError{fmt.Sprintf("ParseException line 1:0 %v in statement %q", err, stmt)}
	}
	if len(toks) == 0 {
		return nil, "", parseErr(stmt, "<EOF>")
	}
	switch strings.ToUpper(toks[0].text) {
	case "USE":
		if len(toks) != 2 || toks[1].kind != tokIdent {
			return nil, "", parseErr(stmt, tokText(toks, 1))
		}
		return nil, toks[1].text, nil
	case "SET":
		if !strings.Contains(text, "=") {
			return nil, "", &compileError{"hs2test: SET without a value is not supported"}
		}
		return nil, "", nil
	case "SELECT":
	default:
		return nil, "", parseErr(stmt, toks[0].text)
	}
	res = &result{rows: 1}
	p := toks[1:]
	for {
		if len(p) == 0 {
			return nil, "", parseErr(stmt, "<EOF>")
		}
		col, rest, err := expr(p, env)
		if err != nil {
			return nil, "", parseErr(stmt, err.Error())
		}
		p = rest
		col.name = fmt.Sprintf("_c%d", len(res.cols))
		if len(p) > 0 && strings.EqualFold(p[0].text, "AS") && p[0].kind == tokIdent {
			p = p[1:]
			if len(p) == 0 || p[0].kind != tokIdent {
				return nil, "", parseErr(stmt, tokText(p, 0))
			}
		}
		if len(p) > 0 && p[0].kind == tokIdent {
			col.name = strings.ToLower(p[0].text)
			p = p[1:]
		}
		res.cols = append(res.cols, col)
		if len(p) == 0 {
			return res, "", nil
		}
		if p[0].text != "," {
			return nil, "", parseErr(stmt, p[0].text)
		}
		p = p[1:]
	}
}

// expr parses one select expression.
func expr(p []token, env evalEnv) (column, []token, error) {
	t := p[0]
	switch t.kind {
	case tokString:
		return column{typ: hiveserver.TTypeId_STRING_TYPE, strs: []string{t.text}}, p[1:], nil
	case tokNumber:
		return number(t.text, p[1:])
	case tokPunct:
		if t.text == "-" && len(p) > 1 && p[1].kind == tokNumber {
			return number("-"+p[1].text, p[2:])
		}
	case tokIdent:
		switch strings.ToLower(t.text) {
		case "true", "false":
			return column{typ: hiveserver.TTypeId_BOOLEAN_TYPE, bools: []bool{strings.EqualFold(t.text, "true")}}, p[1:], nil
		}
		if len(p) >= 3 && p[1].text == "(" && p[2].text == ")" {
			var v string
			switch strings.ToLower(t.text) {
			case "current_server":
				v = env.server
			case "current_user":
				v = env.user
			case "current_database":
				v = env.database
			default:
				return column{}, nil, fmt.Errorf("%s", t.text)
			}
			return column{typ: hiveserver.TTypeId_STRING_TYPE, strs: []string{v}}, p[3:], nil
		}
	}
	return column{}, nil, fmt.Errorf("%s", t.text)
}

func number(text string, rest []token) (column, []token, error) {
	n, err := strconv.ParseInt(text, 10, 64)
	switch {
	case err != nil:
		return column{}, nil, fmt.Errorf("%s", text)
	case n >= math.MinInt32 && n <= math.MaxInt32:
		return column{typ: hiveserver.TTypeId_INT_TYPE, ints: []int32{int32(n)}}, rest, nil
	}
	return column{typ: hiveserver.TTypeId_BIGINT_TYPE, longs: []int64{n}}, rest, nil
}

type tokKind int

const (
	tokIdent tokKind = iota
	tokNumber
	tokString
	tokPunct
)

type token struct {
	kind tokKind
	text string // a string literal's value, unescaped
}

func tokText(toks []token, i int) string {
	if i < len(toks) {
		return toks[i].text
	}
	return "<EOF>"
}

// tokenize splits a statement into identifiers, integer literals, quoted
// strings (single or double quotes, backslash escapes, as in Hive) and
// punctuation.
func tokenize(s string) ([]token, error) {
	var toks []token
	r := []rune(s)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(r) && r[j] != c; j++ {
				if r[j] == '\\' && j+1 < len(r) {
					j++
					switch r[j] {
					case 'n':
						b.WriteRune('\n')
					case 't':
						b.WriteRune('\t')
					case '0':
						b.WriteRune(0)
					default:
						b.WriteRune(r[j])
					}
					continue
				}
				b.WriteRune(r[j])
			}
			if j >= len(r) {
				return nil, fmt.Errorf("unterminated string literal")
			}
			toks = append(toks, token{tokString, b.String()})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(r) && (unicode.IsDigit(r[j]) || unicode.IsLetter(r[j]) || r[j] == '.') {
				j++
			}
			toks = append(toks, token{tokNumber, string(r[i:j])})
			i = j
		case unicode.IsLetter(c) || c == '_' || c == '`':
			if c == '`' {
				j := strings.IndexRune(string(r[i+1:]), '`')
				if j < 0 {
					return nil, fmt.Errorf("unterminated quoted identifier")
				}
				name := []rune(string(r[i+1:])[:j])
				toks = append(toks, token{tokIdent, string(name)})
				i += len(name) + 2
				continue
			}
			j := i
			for j < len(r) && (unicode.IsLetter(r[j]) || unicode.IsDigit(r[j]) || r[j] == '_' || r[j] == '.') {
				j++
			}
			toks = append(toks, token{tokIdent, string(r[i:j])})
			i = j
		default:
			toks = append(toks, token{tokPunct, string(c)})
			i++
		}
	}
	return toks, nil
}
