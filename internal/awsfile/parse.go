package awsfile

import (
	"bytes"
	"fmt"
	"strings"
)

// MaxFileSize bounds what Parse accepts. Real credentials and config files
// are a few kilobytes; anything this large is not one, and refusing it keeps
// a mistaken path (a log file, a disk image) from eating memory.
const MaxFileSize = 8 << 20

// ParseError reports a line the AWS CLI would also reject. It names the file
// and line and says what to change, but never quotes the line: it may hold a
// secret key.
type ParseError struct {
	Path string // file name as given to Parse or Load
	Line int    // 1-based; 0 when the problem is the whole file
	Msg  string
}

func (e *ParseError) Error() string {
	name := e.Path
	if name == "" {
		name = "<input>"
	}
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", name, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", name, e.Line, e.Msg)
}

// rawLine is one physical line exactly as read. The terminator is kept apart
// from the text so edits can reuse a line's own "\n" or "\r\n".
type rawLine struct {
	text string // without the terminator
	eol  string // "\n", "\r\n", or "" for a last line with no newline
}

// item is a run of lines inside a section: either a setting (its key line
// plus any continuation lines, with the blank and comment lines between
// them) or a single blank or comment line ("trivia").
type item struct {
	lines  []rawLine
	key    string // as written; "" for trivia
	value  string // as the AWS CLI sees it: stripped, continuations joined with "\n"
	indent string // leading whitespace of the key line
	line   int    // 1-based line of the key line; 0 for lines added by edits
}

func (it *item) isSetting() bool { return it.key != "" }

// bom is the UTF-8 byte order mark some Windows editors put first.
const bom = "\xef\xbb\xbf"

// isSpace reports the whitespace that Python's str.strip removes from ASCII
// text, which is what the AWS CLI's parser trims.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

func trim(s string) string {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

func leadingSpace(s string) string {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return s[:i]
}

func splitLines(data []byte) []rawLine {
	var out []rawLine
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, rawLine{text: string(data)})
			break
		}
		text, eol := string(data[:i]), "\n"
		if strings.HasSuffix(text, "\r") {
			text, eol = text[:len(text)-1], "\r\n"
		}
		out = append(out, rawLine{text: text, eol: eol})
		data = data[i+1:]
	}
	return out
}

// Parse reads a credentials or config file's contents. path only names the
// file in errors. A file the AWS CLI would refuse is an error here too, so
// oktafed never rewrites a file it misunderstood.
func Parse(path string, data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("file is %d bytes, more than the %d a credentials or config file can be: check the path", len(data), MaxFileSize)}
	}
	f := &File{path: path, eol: "\n", noFinalEOL: len(data) > 0 && data[len(data)-1] != '\n'}
	lines := splitLines(data)
	for _, l := range lines {
		if l.eol != "" {
			f.eol = l.eol
			break
		}
	}

	var (
		cur     *Section
		setting *item     // the setting continuation lines would extend
		pending []rawLine // blank and comment lines not yet placed
		parts   []string  // value lines of setting, for joining
		// Maps keep duplicate checks linear on large or hostile input.
		sectionLine = map[string]int{}
		keyLine     map[string]int
	)
	bad := func(n int, format string, args ...any) error {
		return &ParseError{Path: path, Line: n, Msg: fmt.Sprintf(format, args...)}
	}
	finishSetting := func() {
		if setting == nil {
			return
		}
		setting.value = strings.TrimRight(strings.Join(parts, "\n"), " \t\r\n\v\f")
		setting, parts = nil, nil
	}
	flushPending := func() {
		for _, l := range pending {
			if cur == nil {
				f.head = append(f.head, l)
			} else {
				cur.items = append(cur.items, &item{lines: []rawLine{l}})
			}
		}
		pending = nil
	}

	for i, l := range lines {
		n := i + 1
		text := l.text
		if i == 0 {
			text = strings.TrimPrefix(text, bom)
		}
		s := trim(text)
		if s == "" || s[0] == '#' || s[0] == ';' {
			pending = append(pending, l)
			continue
		}
		indent := leadingSpace(text)
		if setting != nil && len(indent) > len(setting.indent) {
			// A deeper-indented line continues the value, and so do the
			// blank lines before it; comment lines in between are skipped
			// by the AWS CLI but stay part of the setting's bytes.
			for _, p := range pending {
				if trim(p.text) == "" {
					parts = append(parts, "")
				}
			}
			setting.lines = append(setting.lines, pending...)
			setting.lines = append(setting.lines, l)
			parts = append(parts, s)
			pending = nil
			continue
		}
		finishSetting()
		flushPending()

		if s[0] == '[' {
			end := strings.LastIndexByte(s, ']')
			if end < 0 {
				return nil, bad(n, "section header has no closing \"]\": write it as [name]")
			}
			name := s[1:end]
			if name == "" {
				return nil, bad(n, "section header has no name: write it as [name]")
			}
			if first, dup := sectionLine[name]; dup {
				return nil, bad(n, "section [%s] appears again (first at line %d): the AWS CLI rejects duplicates, so merge the two or delete one", name, first)
			}
			sectionLine[name] = n
			keyLine = map[string]int{}
			cur = &Section{name: name, header: l, line: n, file: f}
			f.sections = append(f.sections, cur)
			continue
		}
		if cur == nil {
			return nil, bad(n, "setting outside any section: add a [section] header above it, or delete or comment out the line")
		}
		at := strings.IndexAny(s, "=:")
		if at < 0 {
			return nil, bad(n, "in section [%s], expected \"key = value\", a [section] header or a comment starting with # or ;", cur.name)
		}
		key := strings.TrimRight(s[:at], " \t\v\f\r")
		if key == "" {
			return nil, bad(n, "in section [%s], the setting has no name before %q: write it as key = value", cur.name, s[at])
		}
		if first, dup := keyLine[strings.ToLower(key)]; dup {
			return nil, bad(n, "in section [%s], %q is set again (first at line %d): the AWS CLI rejects duplicates, so delete one", cur.name, key, first)
		}
		keyLine[strings.ToLower(key)] = n
		setting = &item{lines: []rawLine{l}, key: key, indent: indent, line: n}
		parts = []string{trim(s[at+1:])}
		cur.items = append(cur.items, setting)
	}
	finishSetting()
	flushPending()

	// The AWS CLI reads a setting with an empty first line and indented
	// lines below as nested "key = value" pairs and fails the whole file
	// when one of them has no "=".
	for _, sec := range f.sections {
		for _, it := range sec.items {
			if !it.isSetting() || !strings.HasPrefix(it.value, "\n") {
				continue
			}
			if _, ok := parseNested(it.value); !ok {
				return nil, bad(it.line, "in section [%s], the nested settings under %q must each be an indented \"key = value\" line", sec.name, it.key)
			}
		}
	}
	return f, nil
}

func parseNested(v string) (map[string]string, bool) {
	m := map[string]string{}
	for _, l := range strings.Split(v, "\n") {
		l = trim(l)
		if l == "" {
			continue
		}
		k, val, ok := strings.Cut(l, "=")
		if !ok {
			return nil, false
		}
		m[trim(k)] = trim(val)
	}
	return m, true
}
