package awsfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sectionBytes is one section's text as it would be written.
func sectionBytes(s *Section) string {
	f := &File{sections: []*Section{s}}
	return string(f.Bytes())
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"config.input", "credentials.input", "crlf-noeol.input"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "[a]", "[a]\nk=v", "\xef\xbb\xbf[a]\r\nk : v\r\n", "[a]\n  [b]\n", "[a]\nk =\n  x = 1\n\n  y=2\n",
		"  [a]\n  k = v\n  \tc\n", "[a]\nk = v\r", "#\n;\n[ a ]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		if got := file.Bytes(); string(got) != string(data) {
			t.Fatalf("round trip changed the input:\n got %q\nwant %q", got, data)
		}
		before := map[string]string{}
		for _, s := range file.Sections() {
			before[s.Name()] = sectionBytes(s)
		}

		// An owned section is added and set; everything else must stay put.
		owned, err := file.AddSection("oktafed-fuzz-owned")
		if err != nil {
			t.Fatal(err)
		}
		if err := owned.Set("aws_access_key_id", "AKIDFUZZ"); err != nil {
			t.Fatal(err)
		}
		if err := owned.Set("aws_session_token", "token"); err != nil {
			t.Fatal(err)
		}
		var edited string
		if secs := file.Sections(); len(secs) > 1 {
			edited = secs[0].Name()
			if err := secs[0].Set("x_fuzz", "1"); err != nil {
				t.Fatal(err)
			}
		}
		out := file.Bytes()
		if len(data) > 0 && data[len(data)-1] != '\n' && len(out) > 0 && out[len(out)-1] == '\n' {
			t.Fatalf("the input lacked a final newline; the edited file has one:\n%q", out)
		}
		back, err := Parse("fuzz", out)
		if err != nil {
			t.Fatalf("edited file does not parse: %v\n%q", err, out)
		}
		if !sameModel(file, back) {
			t.Fatalf("edited file reads back differently:\n%q", out)
		}
		for _, s := range back.Sections() {
			want, ok := before[s.Name()]
			if !ok || s.Name() == edited || s.Name() == owned.Name() {
				continue
			}
			got := sectionBytes(s)
			// Appending may end a final line that had no newline and add a
			// blank separator line; nothing else may differ.
			if !strings.HasPrefix(got, want) || trim(got[len(want):]) != "" {
				t.Fatalf("section [%s] changed:\n got %q\nwant %q", s.Name(), got, want)
			}
		}
	})
}
