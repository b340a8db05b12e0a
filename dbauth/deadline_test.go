package dbauth_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// TestHungSTSDoesNotHoldBackTheNextConnect: the first AssumeRoleWithSAML
// hangs (STS stops answering) and then STS recovers. A connect that
// arrives once the hung call has waited longer than HungAfter (on the
// connector's clock) does not join it: it makes its own login, which
// succeeds, while the hung call is still waiting on its 10-minute
// deadline. Joining it would have failed this connect's 30-second bound.
func TestHungSTSDoesNotHoldBackTheNextConnect(t *testing.T) {
	t.Parallel()
	r := newOktaRig(t, map[string][]string{dbUser: {appRole}}, map[string]string{dbUser: "alice-backend-password"})
	target, _ := url.Parse(r.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	hung := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		first := false
		if strings.Contains(string(body), "Action=AssumeRoleWithSAML") {
			once.Do(func() { first = true })
		}
		if first {
			close(hung)
			select {
			case <-release:
			case <-req.Context().Done():
			}
			http.Error(w, "hung", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(sts.Close)
	t.Cleanup(func() { close(release) })

	clk := clock.NewFake(time.Now())
	cfg := r.config(svcPassword)
	cfg.Now = clk.Now
	cfg.STSTimeout = 10 * time.Minute
	cfg.STSEndpoint = sts.URL
	db := r.pgDB(t, dbUser, cfg)

	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	first := make(chan error, 1)
	go func() { first <- db.PingContext(ctx1) }()
	<-hung
	clk.Advance(2 * time.Second)

	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := db.PingContext(ctx2); err != nil {
		t.Fatalf("connect after STS recovered: %v", err)
	}
	select {
	case err := <-first:
		t.Fatalf("the hung connect ended before its deadline: %v", err)
	default:
	}
}
