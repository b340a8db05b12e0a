package gateway

import (
	"errors"
	"net/textproto"
)

// Informational (1xx) responses are relayed by allow-list and within a
// bound. httputil.ReverseProxy relays every 1xx an upstream sends, with
// all its headers (hop-by-hop ones and those named in Connection
// included), and once it asks for them Go's transport no longer limits
// how many it reads. The gateway's writer relays at most
// maxInformational of them per request, with maxInformationalBytes of
// header bytes between them all, and only the headers 103 Early Hints
// uses (RFC 8297: Link; browsers also apply Content-Security-Policy to
// the hints). Past the bound nothing more is relayed, the round trip is
// aborted (the upstream connection is closed or its stream reset) and the
// client gets 502.
const (
	maxInformational      = 5
	maxInformationalBytes = 16 << 10
)

// informationalHeaders are the headers a relayed 1xx keeps.
var informationalHeaders = [...]string{"Link", "Content-Security-Policy"}

// errInformational aborts a round trip whose upstream sent more 1xx
// responses, or more of their header bytes, than the bound.
var errInformational = errors.New("the upstream sent more informational (1xx) responses than the gateway relays")

// informational relays one 1xx response the proxy hands to WriteHeader;
// its headers are in the response's header map until the proxy clears
// them after the call.
func (w *logWriter) informational(code int) {
	h := w.Header()
	w.infos++
	for k, vv := range h {
		for _, v := range vv {
			w.infoBytes += len(k) + len(v) + 4 // "k: v\r\n"
		}
	}
	if w.infos > maxInformational || w.infoBytes > maxInformationalBytes || w.wroteHeader {
		w.overInfos = true
		clear(h)
		return
	}
	var keep [len(informationalHeaders)][]string
	for i, name := range informationalHeaders {
		keep[i] = h[name]
	}
	clear(h)
	for i, name := range informationalHeaders {
		if keep[i] != nil {
			h[name] = keep[i]
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// got1xx is the request's httptrace hook; the proxy's own hook, which
// hands the response to the writer, runs first. It aborts the round trip
// once the writer stopped relaying.
func (f *forward) got1xx(int, textproto.MIMEHeader) error {
	if f.lw.overInfos {
		return errInformational
	}
	return nil
}
