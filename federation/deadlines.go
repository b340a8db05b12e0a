package federation

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// Network deadlines of every Okta and STS call. A firewall or a dropped
// VPN often accepts a connection and never answers; without a deadline a
// login shows a blank screen and every credential_process blocks.
const (
	// EnvConnectTimeout sets how long opening a connection (TCP and TLS)
	// may take, as a Go duration ("10s") or seconds.
	EnvConnectTimeout = "OKTAFED_CONNECT_TIMEOUT"
	// EnvResponseTimeout sets how long a connected service may take to
	// answer one request.
	EnvResponseTimeout = "OKTAFED_RESPONSE_TIMEOUT"

	DefaultConnectTimeout  = 10 * time.Second
	DefaultResponseTimeout = 30 * time.Second
)

// Deadlines bound each network call: Connect the TCP connection and TLS
// handshake, Response the wait for an answer once the request is sent.
// Zero fields take the defaults.
type Deadlines struct {
	Connect, Response time.Duration
}

// DeadlinesFromEnv reads EnvConnectTimeout and EnvResponseTimeout.
func DeadlinesFromEnv(getenv func(string) string) (Deadlines, error) {
	var d Deadlines
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{EnvConnectTimeout, &d.Connect}, {EnvResponseTimeout, &d.Response}} {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		t, err := time.ParseDuration(s)
		if err != nil {
			var secs int
			if _, serr := fmt.Sscanf(s, "%d", &secs); serr != nil || fmt.Sprint(secs) != s {
				return Deadlines{}, fmt.Errorf("%s=%q: give a duration such as 10s or a number of seconds", v.name, s)
			}
			t = time.Duration(secs) * time.Second
		}
		if t <= 0 {
			return Deadlines{}, fmt.Errorf("%s=%q: give a positive duration such as 10s", v.name, s)
		}
		*v.dst = t
	}
	return d.withDefaults(), nil
}

func (d Deadlines) withDefaults() Deadlines {
	if d.Connect <= 0 {
		d.Connect = DefaultConnectTimeout
	}
	if d.Response <= 0 {
		d.Response = DefaultResponseTimeout
	}
	return d
}

// Total is the longest one call can take: connecting, then the answer.
func (d Deadlines) Total() time.Duration {
	d = d.withDefaults()
	return d.Connect + d.Response
}

// HTTPClient is a client that holds every call to d: the dial and the TLS
// handshake to Connect, the wait for the answer's headers to Response,
// the whole exchange to both together.
func (d Deadlines) HTTPClient() *http.Client {
	d = d.withDefaults()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.DialContext = (&net.Dialer{Timeout: d.Connect, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = d.Connect
	tr.ResponseHeaderTimeout = d.Response
	return &http.Client{Timeout: d.Total(), Transport: tr}
}
