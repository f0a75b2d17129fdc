package layout

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is the one place that reads (and writes) livy.conf the way Livy
// reads it. The PR #212, #189 and #276 layouts (pr212.go, pr189.go,
// pr276.go) take their paths and addresses from it.
//
// How Livy reads livy.conf (apache/incubator-livy; @PR212 = refs/pull/212/head
// cbdaaafa, @H = HEAD fc4202ea):
//   - LivyConf.loadFromFile looks the file up in $LIVY_CONF_DIR, else
//     $LIVY_HOME/conf, and silently does nothing when it is missing
//     (LivyConf.scala@PR212:372-377,396-405).
//   - Utils.getPropertiesFromFile/loadProperties: an InputStreamReader with
//     UTF-8 fed to java.util.Properties.load(Reader); every value is then
//     String.trim()med (core/.../Utils.scala@PR212:34-49, unchanged @H:42-44).
//     Keys are not trimmed.
//   - LivyConf.loadFromMap keeps only the keys that start with "livy."
//     (LivyConf.scala@PR212:407-413, @H:499).
//   - ClientConf.get(entry) returns the value when the key is set, even to
//     "", else the entry's default (client-common/.../ClientConf.java@PR212:
//     83-94,119-122); getBoolean is Boolean.parseBoolean ("true" in any
//     case, anything else false; :124-131); getInt is Integer.parseInt
//     (:133-140).
//   - configToSeq(entry) is get(entry).split("[, ]+"): separators are runs of
//     commas and spaces (not tabs); a leading separator gives a leading ""
//     and trailing empty strings are dropped; "" gives [""]; an unset entry
//     with a null default gives Nil (LivyConf.scala@PR212:415-417, @H:505-506).
//
// java.util.Properties.load (JDK 17/25 java/util/Properties.java, load0 and
// LineReader.readLine; checked against the JDK's own class): lines end at
// \n, \r or \r\n; leading ' ', '\t', '\f' of every natural line are
// skipped; blank lines and lines whose first non-blank character is '#' or
// '!' are comments (a comment never continues); a line ending in an odd
// number of backslashes continues on the next line, whose leading blanks are
// skipped; the key ends at the first unescaped '=', ':', ' ', '\t' or '\f';
// blanks and one '=' or ':' after it are skipped; escapes are \t \r \n \f,
// \uXXXX (exactly four hex digits, else IllegalArgumentException — Livy
// fails to start) and \x = x for any other x; a later key wins.
//
// Invalid UTF-8 decodes to U+FFFD, one per ill-formed subsequence as Java's
// decoder does; an escaped lone UTF-16 surrogate, which Java would keep,
// becomes U+FFFD (Go strings cannot hold one). Both were checked against
// JDK 17's Properties on 23,000 generated files (only the lone-surrogate
// difference remains).

// MaxLivyConfSize bounds a livy.conf (1 MiB).
const MaxLivyConfSize = 1 << 20

// Keys of Livy's own configuration that the layouts use (LivyConf.scala@PR212).
const (
	LivyKeyServerHost = "livy.server.host" // :61, default "0.0.0.0"
	LivyKeyServerPort = "livy.server.port" // :62, default 8998
	// LivyKeyKeystore switches the REST server to https when it is set at
	// all, even to "" (WebServer.scala@PR212:37-75).
	LivyKeyKeystore = "livy.keystore" // :83

	LivyKeyThriftEnabled   = "livy.server.thrift.enabled"   // :109, default false
	LivyKeyThriftTransport = KeyThriftTransport             // :115, default "binary"
	LivyKeyThriftPort      = "livy.server.thrift.port"      // :116, default 10090
	LivyKeyThriftBindHost  = "livy.server.thrift.bind.host" // :138, default null
	LivyKeyThriftUseSSL    = "livy.server.thrift.use.SSL"   // :148, default false
	LivyKeyThriftHTTPPath  = KeyThriftHTTPPath              // :159, default "cliservice"

	LivyDefaultServerHost     = "0.0.0.0"
	LivyDefaultPort           = 8998
	LivyDefaultThriftPort     = 10090
	LivyDefaultThriftHTTPPath = "cliservice"
)

// ErrBadLivyConf is wrapped by every error about a livy.conf that does not
// parse or whose values do not validate. Such errors also match
// ErrBadRecord.
var ErrBadLivyConf = errors.New("discovery: bad livy.conf")

type livyConfError struct{ msg string }

func (e *livyConfError) Error() string { return ErrBadLivyConf.Error() + ": " + e.msg }

func (e *livyConfError) Is(target error) bool {
	return target == ErrBadLivyConf || target == ErrBadRecord
}

func confErr(format string, args ...any) error {
	return &livyConfError{msg: fmt.Sprintf(format, args...)}
}

// LivyConf is a parsed livy.conf: the "livy." keys and their trimmed values,
// as LivyConf.loadFromFile leaves them.
type LivyConf map[string]string

// ReadLivyConf reads and parses the livy.conf at path. Unlike Livy, which
// ignores a missing file, it returns the os error. Files over
// MaxLivyConfSize are refused.
func ReadLivyConf(path string) (LivyConf, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxLivyConfSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxLivyConfSize {
		return nil, confErr("%s is larger than %d bytes", truncate(path, 128), MaxLivyConfSize)
	}
	return ParseLivyConf(data)
}

// ParseLivyConf parses livy.conf data exactly as Livy reads it (see the file
// comment): Java Properties syntax, values trimmed, only "livy." keys kept.
// Errors (data over MaxLivyConfSize, a malformed \uXXXX escape) wrap
// ErrBadLivyConf.
func ParseLivyConf(data []byte) (LivyConf, error) {
	if len(data) > MaxLivyConfSize {
		return nil, confErr("%d bytes is larger than %d", len(data), MaxLivyConfSize)
	}
	in := decodeJavaUTF8(data)
	out := LivyConf{}
	for _, line := range propertiesLines(in) {
		k, v, err := splitPropertiesLine(line)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(k, "livy.") {
			out[k] = javaTrim(v)
		}
	}
	return out, nil
}

// decodeJavaUTF8 decodes UTF-8 as Java's UTF-8 decoder with REPLACE does:
// each maximal ill-formed subsequence becomes one U+FFFD.
func decodeJavaUTF8(b []byte) []rune {
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError || n > 1 {
			out = append(out, r)
			b = b[n:]
			continue
		}
		out = append(out, utf8.RuneError)
		b = b[illFormedLen(b):]
	}
	return out
}

// illFormedLen returns the length of the ill-formed subsequence at the
// start of b that Java's UTF-8 decoder replaces with one U+FFFD: the
// maximal subpart (Unicode 3.9), except for encoded surrogates.
func illFormedLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEF:
		// Java's decoder, unlike Unicode's recommendation, takes an
		// encoded surrogate (ED A0..BF xx) as one ill-formed sequence.
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c == 0xF4:
		need, hi = 3, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}

func isPropBlank(c rune) bool { return c == ' ' || c == '\t' || c == '\f' }

// propertiesLines splits input into Properties "logical lines", a port of
// java.util.Properties.LineReader.readLine: comments and blank lines are
// dropped, continuations joined, leading blanks skipped. Logical lines that
// end up empty are dropped too (Java would store the key "", which
// LivyConf drops as not "livy.").
func propertiesLines(in []rune) [][]rune {
	var lines [][]rune
	var line []rune
	skipBlank, appended, backslash := true, false, false
	for i := 0; i < len(in); i++ {
		c := in[i]
		if skipBlank {
			if isPropBlank(c) || (!appended && (c == '\r' || c == '\n')) {
				continue
			}
			skipBlank, appended = false, false
		}
		if len(line) == 0 && (c == '#' || c == '!') {
			for i+1 < len(in) && in[i+1] != '\n' && in[i+1] != '\r' {
				i++
			}
			i++ // the line terminator
			skipBlank = true
			continue
		}
		if c != '\n' && c != '\r' {
			line = append(line, c)
			backslash = c == '\\' && !backslash
			continue
		}
		// End of a natural line.
		if len(line) == 0 {
			skipBlank = true
			continue
		}
		if !backslash {
			lines = append(lines, line)
			line = nil
			skipBlank = true
			continue
		}
		line = line[:len(line)-1] // the continuation backslash
		skipBlank, appended, backslash = true, true, false
		if c == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			i++
		}
	}
	if backslash {
		line = line[:len(line)-1]
	}
	if len(line) > 0 {
		lines = append(lines, line)
	}
	return lines
}

// splitPropertiesLine is Properties.load0 for one logical line: the key,
// the separator, then loadConvert of key and value.
func splitPropertiesLine(line []rune) (string, string, error) {
	keyLen, valueStart := 0, len(line)
	hasSep, backslash := false, false
	for keyLen < len(line) {
		c := line[keyLen]
		if (c == '=' || c == ':') && !backslash {
			valueStart, hasSep = keyLen+1, true
			break
		}
		if isPropBlank(c) && !backslash {
			valueStart = keyLen + 1
			break
		}
		backslash = c == '\\' && !backslash
		keyLen++
	}
	for valueStart < len(line) {
		c := line[valueStart]
		if !isPropBlank(c) {
			if !hasSep && (c == '=' || c == ':') {
				hasSep = true
			} else {
				break
			}
		}
		valueStart++
	}
	k, err := loadConvert(line[:keyLen])
	if err != nil {
		return "", "", err
	}
	v, err := loadConvert(line[valueStart:])
	if err != nil {
		return "", "", err
	}
	return k, v, nil
}

// loadConvert is Properties.loadConvert: it resolves backslash escapes.
// Escaped UTF-16 surrogate pairs are joined; a lone one becomes U+FFFD.
func loadConvert(in []rune) (string, error) {
	var out []rune
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '\\' || i+1 >= len(in) {
			// A trailing lone backslash cannot reach here: the line
			// reader strips it as a continuation.
			out = append(out, c)
			continue
		}
		i++
		switch c = in[i]; c {
		case 'u':
			if i+4 >= len(in) {
				return "", confErr("malformed \\uxxxx encoding in %q", truncate(string(in), 64))
			}
			v := rune(0)
			for _, h := range in[i+1 : i+5] {
				d, ok := hexDigit(h)
				if !ok {
					return "", confErr("malformed \\uxxxx encoding in %q", truncate(string(in), 64))
				}
				v = v<<4 | d
			}
			i += 4
			out = append(out, v)
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 'f':
			out = append(out, '\f')
		default:
			out = append(out, c)
		}
	}
	return joinSurrogates(out), nil
}

func hexDigit(r rune) (rune, bool) {
	switch {
	case r >= '0' && r <= '9':
		return r - '0', true
	case r >= 'a' && r <= 'f':
		return r - 'a' + 10, true
	case r >= 'A' && r <= 'F':
		return r - 'A' + 10, true
	}
	return 0, false
}

func joinSurrogates(rs []rune) string {
	var b strings.Builder
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if utf16.IsSurrogate(r) {
			if i+1 < len(rs) {
				if d := utf16.DecodeRune(r, rs[i+1]); d != utf8.RuneError {
					b.WriteRune(d)
					i++
					continue
				}
			}
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// javaTrim is Java's String.trim: it strips every character <= U+0020 from
// both ends.
func javaTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}

// Get returns the value of key, or dflt when key is not set (a key set to
// "" returns ""), as ClientConf.get(entry).
func (c LivyConf) Get(key, dflt string) string {
	if v, ok := c[key]; ok {
		return v
	}
	return dflt
}

// Bool is ClientConf.getBoolean: Boolean.parseBoolean of the value ("true"
// in any case is true, anything else false), dflt when key is not set.
func (c LivyConf) Bool(key string, dflt bool) bool {
	v, ok := c[key]
	if !ok {
		return dflt
	}
	return strings.EqualFold(v, "true")
}

// Int is ClientConf.getInt: Integer.parseInt of the value (an optional sign
// and ASCII decimal digits, within 32 bits), dflt when key is not set.
// Errors, which Livy would raise as NumberFormatException, wrap
// ErrBadLivyConf and name the key.
func (c LivyConf) Int(key string, dflt int) (int, error) {
	v, ok := c[key]
	if !ok {
		return dflt, nil
	}
	n, err := javaParseInt(v)
	if err != nil {
		return 0, confErr("%s = %q is not an integer", key, truncate(v, 32))
	}
	return n, nil
}

func javaParseInt(s string) (int, error) {
	d := s
	if d != "" && (d[0] == '+' || d[0] == '-') {
		d = d[1:]
	}
	if d == "" || len(d) > 11 {
		return 0, errors.New("bad integer")
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, errors.New("bad integer")
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int(n), err
}

// Seq is configToSeq: the value of key split as Java's
// String.split("[, ]+") splits it, or nil when key is not set. "" gives
// [""], and a leading comma gives a leading "".
func (c LivyConf) Seq(key string) []string {
	v, ok := c[key]
	if !ok {
		return nil
	}
	return javaSplitList(v)
}

// javaSplitList is s.split("[, ]+") in Java: runs of commas and spaces
// separate, a leading run yields a leading "", trailing empty strings are
// removed, and a string with no separator is returned whole.
func javaSplitList(s string) []string {
	var out []string
	start, matched := 0, false
	for i := 0; i < len(s); {
		if s[i] != ',' && s[i] != ' ' {
			i++
			continue
		}
		j := i
		for j < len(s) && (s[j] == ',' || s[j] == ' ') {
			j++
		}
		out = append(out, s[start:i])
		start, i, matched = j, j, true
	}
	if !matched {
		return []string{s}
	}
	out = append(out, s[start:])
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// Marshal writes c in livy.conf syntax, one "key = value" line per key in
// sorted order, escaped so that ParseLivyConf (and Livy) read back exactly
// c. Keys must start with "livy." and values must be trimmed (Livy trims
// them) valid UTF-8; other entries are an error wrapping ErrBadLivyConf.
func (c LivyConf) Marshal() ([]byte, error) {
	keys := make([]string, 0, len(c))
	for k, v := range c {
		if !strings.HasPrefix(k, "livy.") {
			return nil, confErr("key %q does not start with \"livy.\" (Livy ignores it)", truncate(k, 64))
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, confErr("%q: not valid UTF-8", truncate(k, 64))
		}
		if javaTrim(v) != v {
			return nil, confErr("value of %s has leading or trailing blanks (Livy trims them)", truncate(k, 64))
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		writePropEscaped(&b, k, true)
		b.WriteString(" = ")
		writePropEscaped(&b, c[k], false)
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// writePropEscaped writes s with Properties escapes: backslash, control
// characters and non-ASCII always; in keys also the separators and comment
// characters.
func writePropEscaped(b *strings.Builder, s string, key bool) {
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\f':
			b.WriteString(`\f`)
		case key && strings.ContainsRune(" =:#!", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7e:
			var buf [2]uint16
			units := utf16.AppendRune(buf[:0], r)
			for _, u := range units {
				fmt.Fprintf(b, `\u%04X`, u)
			}
		default:
			b.WriteRune(r)
		}
	}
}
