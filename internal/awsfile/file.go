package awsfile

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// File is a parsed credentials or config file. Its zero value is not
// usable; get one from Parse, Load, or inside Update.
//
// A File remembers every line as it was read. Bytes writes unchanged
// sections back exactly, and edits touch only the lines of the settings and
// sections they name.
type File struct {
	path     string
	head     []rawLine // blank and comment lines before the first section
	sections []*Section
	eol      string // line terminator for lines that edits add
	// noFinalEOL records that the file's last line had no terminator;
	// Bytes keeps it that way, since byte for byte includes the end.
	noFinalEOL bool
}

// Section is one "[name]" section of a File.
type Section struct {
	name   string
	pre    []rawLine // separator lines written before the header of a new section
	header rawLine
	items  []*item
	line   int // 1-based header line; 0 for sections added by edits
	file   *File
}

// Load reads and parses the file at path. A missing file is an error that
// matches fs.ErrNotExist; Update treats it as empty instead.
func Load(path string) (*File, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

func readCapped(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: point AWS_SHARED_CREDENTIALS_FILE or AWS_CONFIG_FILE at a file", path)
	}
	if st.Size() > MaxFileSize {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("file is %d bytes, more than the %d a credentials or config file can be: check the path", st.Size(), MaxFileSize)}
	}
	return os.ReadFile(path)
}

// Path returns the file name given to Parse or Load.
func (f *File) Path() string { return f.path }

// Bytes returns the file's contents with all edits applied. A File that was
// not edited returns exactly the bytes it was parsed from.
func (f *File) Bytes() []byte {
	var b strings.Builder
	write := func(ls []rawLine) {
		for _, l := range ls {
			b.WriteString(l.text)
			b.WriteString(l.eol)
		}
	}
	write(f.head)
	for _, s := range f.sections {
		write(s.pre)
		write([]rawLine{s.header})
		for _, it := range s.items {
			write(it.lines)
		}
	}
	out := b.String()
	if f.noFinalEOL {
		if t, ok := strings.CutSuffix(out, "\r\n"); ok {
			out = t
		} else {
			out = strings.TrimSuffix(out, "\n")
		}
	}
	return []byte(out)
}

// Sections returns the sections in file order.
func (f *File) Sections() []*Section {
	return append([]*Section(nil), f.sections...)
}

// Section returns the section whose header is exactly "[name]", or nil.
func (f *File) Section(name string) *Section {
	for _, s := range f.sections {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Kind says which of the two shared files a File is, since they name
// profiles differently.
type Kind int

const (
	// Credentials is the shared credentials file, where profile dev is [dev].
	Credentials Kind = iota + 1
	// Config is the shared config file, where profile dev is [profile dev]
	// and the default profile is [default].
	Config
)

// ProfileSection returns the section name that holds profile in a file of
// kind k: "dev" or "profile dev".
func ProfileSection(k Kind, profile string) string {
	if k == Config && profile != "default" {
		return "profile " + profile
	}
	return profile
}

// SSOSessionSection returns the config section name of an SSO session.
func SSOSessionSection(name string) string { return "sso-session " + name }

// Profile returns the section of profile in a file of kind k, or nil. In a
// config file it accepts the spellings the AWS CLI accepts: extra spaces
// after "profile", a quoted name, and "[profile default]" for the default
// profile when there is no "[default]".
func (f *File) Profile(k Kind, profile string) *Section {
	if k != Config {
		return f.Section(profile)
	}
	if profile == "default" {
		if s := f.Section("default"); s != nil {
			return s
		}
	}
	for _, s := range f.sections {
		if name, ok := configProfileName(s.name); ok && name == profile {
			return s
		}
	}
	return nil
}

// configProfileName extracts the profile name from a config header such as
// "profile  dev" or `profile "my dev"`, as the AWS CLI's shell-style split
// of the header does for the common cases.
func configProfileName(header string) (string, bool) {
	rest, ok := strings.CutPrefix(header, "profile")
	if !ok || rest == "" || !isSpace(rest[0]) {
		return "", false
	}
	rest = trim(rest)
	if len(rest) >= 2 && (rest[0] == '"' || rest[0] == '\'') && rest[len(rest)-1] == rest[0] {
		return rest[1 : len(rest)-1], true
	}
	if rest == "" || strings.ContainsAny(rest, " \t\"'") {
		return "", false
	}
	return rest, true
}

// AddSection returns the section [name], appending an empty one at the end
// of the file when there is none.
func (f *File) AddSection(name string) (*Section, error) {
	if err := checkSectionName(name); err != nil {
		return nil, err
	}
	if s := f.Section(name); s != nil {
		return s, nil
	}
	s := &Section{name: name, header: rawLine{text: "[" + name + "]", eol: f.eol}, file: f}
	if last := f.lastLine(); last != nil {
		if last.eol == "" {
			last.eol = f.eol
		}
		// Keep a blank line between sections, as people write them.
		if trim(last.text) != "" {
			s.pre = []rawLine{{eol: f.eol}}
		}
	}
	f.sections = append(f.sections, s)
	return s, nil
}

// lastLine returns the file's final line, so appends can end it first.
func (f *File) lastLine() *rawLine {
	if len(f.sections) > 0 {
		s := f.sections[len(f.sections)-1]
		if n := len(s.items); n > 0 {
			ls := s.items[n-1].lines
			return &ls[len(ls)-1]
		}
		return &s.header
	}
	if n := len(f.head); n > 0 {
		return &f.head[n-1]
	}
	return nil
}

// RemoveSection deletes [name] with its settings and the blank lines after
// them. Comments that trail the section stay, since they usually describe
// the section that follows. It reports whether the section existed.
func (f *File) RemoveSection(name string) bool {
	for i, s := range f.sections {
		if s.name != name {
			continue
		}
		lastSetting := -1
		for j, it := range s.items {
			if it.isSetting() {
				lastSetting = j
			}
		}
		var kept []*item
		for j := lastSetting + 1; j < len(s.items); j++ {
			it := s.items[j]
			if len(kept) == 0 && trim(it.lines[0].text) == "" {
				continue
			}
			kept = append(kept, it)
		}
		if len(kept) > 0 {
			if i == 0 {
				for _, it := range kept {
					f.head = append(f.head, it.lines...)
				}
			} else {
				prev := f.sections[i-1]
				prev.items = append(prev.items, kept...)
			}
		}
		if i == len(f.sections)-1 && len(kept) == 0 {
			f.dropSeparatorBefore(i)
		}
		f.sections = append(f.sections[:i], f.sections[i+1:]...)
		return true
	}
	return false
}

// dropSeparatorBefore removes one blank line that ends whatever precedes
// section i, the last section. AddSection puts exactly that line before a
// section it appends, so adding a section and removing it again gives back
// the file as it was, byte for byte.
func (f *File) dropSeparatorBefore(i int) {
	if i > 0 {
		prev := f.sections[i-1]
		if n := len(prev.items); n > 0 && !prev.items[n-1].isSetting() && trim(prev.items[n-1].lines[0].text) == "" {
			prev.items = prev.items[:n-1]
		}
		return
	}
	if n := len(f.head); n > 0 && trim(f.head[n-1].text) == "" {
		f.head = f.head[:n-1]
	}
}

// Name returns the text between the brackets of the section's header.
func (s *Section) Name() string { return s.name }

// Line returns the 1-based line of the section's header, or 0 for a
// section added since the file was read.
func (s *Section) Line() int { return s.line }

// item finds the setting key, compared case-insensitively as the AWS CLI
// lower-cases keys.
func (s *Section) item(key string) *item {
	for _, it := range s.items {
		if it.isSetting() && strings.EqualFold(it.key, key) {
			return it
		}
	}
	return nil
}

// Keys returns the section's setting names as written, in file order.
func (s *Section) Keys() []string {
	var keys []string
	for _, it := range s.items {
		if it.isSetting() {
			keys = append(keys, it.key)
		}
	}
	return keys
}

// Get returns the value of key as the AWS CLI reads it: trimmed, with any
// continuation lines joined by "\n". Keys compare case-insensitively.
func (s *Section) Get(key string) (string, bool) {
	it := s.item(key)
	if it == nil {
		return "", false
	}
	return it.value, true
}

// Nested returns the nested settings under key, such as the s3 block of a
// config profile. ok is false when key is absent or holds a plain value.
func (s *Section) Nested(key string) (map[string]string, bool) {
	it := s.item(key)
	if it == nil || !strings.HasPrefix(it.value, "\n") {
		return nil, false
	}
	return parseNested(it.value)
}

// Set gives key the single-line value, rewriting only that setting's lines
// (keeping how its key was spelled and spaced) or adding it after the
// section's last setting.
func (s *Section) Set(key, value string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(key, value); err != nil {
		return err
	}
	if it := s.item(key); it != nil {
		kl := it.lines[0]
		text := kl.text
		at := strings.IndexAny(text, "=:")
		prefix := text[:at+1]
		rest := text[at+1:]
		prefix += leadingSpace(rest)
		if trim(rest) == "" && !strings.HasSuffix(prefix, " ") {
			prefix = it.indent + it.key + " = "
		}
		eol := kl.eol
		if eol == "" && len(it.lines) > 1 {
			eol = it.lines[len(it.lines)-1].eol
		}
		it.lines = []rawLine{{text: prefix + value, eol: eol}}
		it.value = value
		return nil
	}

	at, indent := 0, ""
	for j, it := range s.items {
		if it.isSetting() {
			at, indent = j+1, it.indent
		}
	}
	// The next non-comment line after the insertion point is the following
	// section's header; were it indented deeper than the new line, the AWS
	// CLI would read it as a continuation of the new value.
	for i, sec := range s.file.sections {
		if sec == s && i+1 < len(s.file.sections) {
			if next := leadingSpace(s.file.sections[i+1].header.text); len(next) > len(indent) {
				indent = next
			}
		}
	}
	var before *rawLine
	if at == 0 {
		before = &s.header
	} else {
		ls := s.items[at-1].lines
		before = &ls[len(ls)-1]
	}
	if before.eol == "" {
		before.eol = s.file.eol
	}
	it := &item{lines: []rawLine{{text: indent + key + " = " + value, eol: s.file.eol}}, key: key, value: value, indent: indent}
	s.items = append(s.items[:at], append([]*item{it}, s.items[at:]...)...)
	return nil
}

// Delete removes key and its continuation lines, reporting whether it was
// there.
func (s *Section) Delete(key string) bool {
	for j, it := range s.items {
		if it.isSetting() && strings.EqualFold(it.key, key) {
			s.items = append(s.items[:j], s.items[j+1:]...)
			return true
		}
	}
	return false
}

var errBadName = errors.New("awsfile: invalid name")

func checkSectionName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty section name", errBadName)
	case name != trim(name):
		return fmt.Errorf("%w: section name %q has leading or trailing spaces, which the AWS CLI would keep as part of the name", errBadName, name)
	case strings.ContainsAny(name, "[]\r\n"):
		return fmt.Errorf("%w: section name %q contains a bracket or a line break", errBadName, name)
	}
	return nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", errBadName)
	case key != trim(key):
		return fmt.Errorf("%w: key %q has leading or trailing spaces", errBadName, key)
	case strings.ContainsAny(key, "=:\r\n"):
		return fmt.Errorf("%w: key %q contains '=', ':' or a line break", errBadName, key)
	case key[0] == '#' || key[0] == ';' || key[0] == '[':
		return fmt.Errorf("%w: key %q starts with a comment or section character", errBadName, key)
	}
	return nil
}

// checkValue refuses values that would not read back as written. The value
// itself never appears in the error: it is often a secret.
func checkValue(key, value string) error {
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("awsfile: value for %q contains a line break", key)
	}
	if value != trim(value) {
		return fmt.Errorf("awsfile: value for %q has leading or trailing spaces, which the AWS CLI would drop", key)
	}
	return nil
}
