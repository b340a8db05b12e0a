package dbauth

import (
	"net/http"
	"sync"
	"time"
)

// activity is the set of requests to Okta and STS in progress, with when
// each started, on the Config's clock.
type activity struct {
	mu       sync.Mutex
	inFlight map[*http.Request]time.Time
}

func (v *activity) begin(r *http.Request, now time.Time) {
	v.mu.Lock()
	if v.inFlight == nil {
		v.inFlight = map[*http.Request]time.Time{}
	}
	v.inFlight[r] = now
	v.mu.Unlock()
}

func (v *activity) end(r *http.Request) {
	v.mu.Lock()
	delete(v.inFlight, r)
	v.mu.Unlock()
}

// hung reports whether a request has been waiting for its answer longer
// than after.
func (v *activity) hung(now time.Time, after time.Duration) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, started := range v.inFlight {
		if now.Sub(started) > after {
			return true
		}
	}
	return false
}

// trackedTransport reports each request to the Auth's activity.
type trackedTransport struct {
	rt http.RoundTripper
	a  *Auth
}

func (t *trackedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt := t.rt
	if rt == nil {
		rt = http.DefaultTransport
	}
	t.a.act.begin(r, t.a.cfg.Now())
	defer t.a.act.end(r)
	return rt.RoundTrip(r)
}

// replaceIfHung makes the next call for key start a new flight when a
// request to Okta or STS has hung for longer than HungAfter, at most once
// per HungAfter for each key. The AWS credentials cache is replaced too
// (around the same provider), since it collapses retrievals into one of
// its own that would still be the hung one. The hung request ends at its
// own deadline (HTTPTimeout for Okta, STSTimeout for STS); its result, if
// any, is dropped.
func (a *Auth) replaceIfHung(key string) {
	now := a.cfg.Now()
	if !a.act.hung(now, a.cfg.HungAfter) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.replaced == nil {
		a.replaced = map[string]time.Time{}
	}
	if last, ok := a.replaced[key]; ok && now.Sub(last) < a.cfg.HungAfter {
		return
	}
	a.replaced[key] = now
	a.sf.Forget(key)
	if a.credsInner != nil {
		a.creds = newCredentialsCache(a.credsInner)
	}
	a.log.Warn("dbauth: a request to Okta or STS is unanswered after "+a.cfg.HungAfter.String()+"; this connect starts a new login instead of waiting for it", "key", key)
}
