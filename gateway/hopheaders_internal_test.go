package gateway

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// namedByTextproto is what Go's own parser reads as the Connection names
// of the final response head in data (after any 1xx heads), or false when
// it refuses data.
func namedByTextproto(data []byte) ([]string, bool) {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return nil, false
		}
		res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(line+"\r\n\r\n")), nil)
		if err != nil {
			return nil, false
		}
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return nil, false
		}
		if res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		var names []string
		for _, v := range h["Connection"] {
			for tok := range strings.SplitSeq(v, ",") {
				if tok = textproto.TrimString(tok); tok != "" {
					names = append(names, tok)
				}
			}
		}
		return names, true
	}
}

// FuzzHeadConn: whatever the bytes and however they are split between
// reads, headConn reads the final head's Connection names as Go's
// textproto does, for every response head textproto accepts; a line it
// cannot note whole makes it say so rather than guess.
func FuzzHeadConn(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: v\r\n\r\nbody",
		"HTTP/1.1 103 Early Hints\r\nConnection: X-Early\r\n\r\nHTTP/1.1 204 No Content\r\nconnection: x-a ,close\r\nConnection: X-B\r\n\r\n",
		"HTTP/1.1 200 OK\nConnection: close,\n X-Folded\n\tX-More\n\nHTTP/1.1 200 OK\r\nConnection: X-Body\r\n\r\n",
		"HTTP/1.0 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 1x3 Odd\r\nConnection: a\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		want, ok := namedByTextproto(data)
		if !ok {
			return
		}
		c := newHeadConn(nil)
		step := int(split%31) + 1
		for i := 0; i < len(data); i += step {
			c.scan(data[i:min(i+step, len(data))])
		}
		got, noted := c.connectionNamed()
		if !noted {
			if len(data) <= maxHeadLine {
				t.Fatalf("a %d-byte head was not noted", len(data))
			}
			return
		}
		if !slices.Equal(got, want) {
			t.Fatalf("headConn read Connection names %q, textproto %q, in %q", got, want, data)
		}
	})
}
