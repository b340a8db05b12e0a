package federation_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/net/websocket"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

// cdp is a minimal Chrome DevTools Protocol client for one page: enough
// to navigate, read the page and run the scripts that fill and submit
// forms, as a person's browser would.
type cdp struct {
	ws      *websocket.Conn
	mu      sync.Mutex
	next    int
	pending map[int]chan cdpReply
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startChromium runs headless Chromium with a DevTools port and connects
// to its first page.
func startChromium(t *testing.T) *cdp {
	t.Helper()
	bin := testenv.Chromium(t)
	args := append(testenv.ChromiumFlags(t), "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--remote-allow-origins=http://127.0.0.1", "about:blank")
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		// Kill the group: renderers and the zygote outlive the browser.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	listening := regexp.MustCompile(`DevTools listening on ws://(127\.0\.0\.1:[0-9]+)/`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var addr string
	select {
	case addr = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not open its DevTools port within 60 s")
	}
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	resp, err := http.Get("http://" + addr + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			ws, err := websocket.Dial(tg.WS, "", "http://127.0.0.1")
			if err != nil {
				t.Fatalf("devtools websocket: %v", err)
			}
			c := &cdp{ws: ws, pending: map[int]chan cdpReply{}}
			go c.read()
			t.Cleanup(func() { ws.Close() })
			return c
		}
	}
	t.Fatal("chromium has no page target")
	return nil
}

func (c *cdp) read() {
	for {
		var msg struct {
			ID int `json:"id"`
			cdpReply
		}
		if err := websocket.JSON.Receive(c.ws, &msg); err != nil {
			c.mu.Lock()
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		ch := c.pending[msg.ID]
		delete(c.pending, msg.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- msg.cdpReply
		}
	}
}

func (c *cdp) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	c.next++
	id := c.next
	ch := make(chan cdpReply, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	if err := websocket.JSON.Send(c.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, errors.New("devtools connection closed")
		}
		if r.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// eval runs a script in the page and returns its string result.
func (c *cdp) eval(ctx context.Context, script string) (string, error) {
	raw, err := c.call(ctx, "Runtime.evaluate", map[string]any{"expression": script, "returnByValue": true})
	if err != nil {
		return "", err
	}
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return "", err
	}
	if r.Exception != nil {
		return "", fmt.Errorf("script failed: %s", r.Exception.Text)
	}
	return fmt.Sprint(r.Result.Value), nil
}

// waitFor polls until the page has an element with id, after a load.
func (c *cdp) waitFor(ctx context.Context, id string) error {
	for {
		v, err := c.eval(ctx, fmt.Sprintf(`document.readyState === "complete" && document.getElementById(%q) !== null ? "yes" : "no"`, id))
		if err == nil && v == "yes" {
			return nil
		}
		select {
		case <-ctx.Done():
			body, _ := c.eval(context.Background(), `document.body ? document.body.innerText : ""`)
			return fmt.Errorf("no #%s on the page: %w (page text: %q)", id, ctx.Err(), body)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// activateInBrowser is the person: open the link, sign in with password
// and TOTP through the HTML forms, confirm the code.
func activateInBrowser(ctx context.Context, c *cdp, srv *sandbox.Server, now func() time.Time, link string) error {
	if !strings.HasPrefix(link, srv.URL+"/") {
		return fmt.Errorf("refusing to load %s: only the sandbox on 127.0.0.1", link)
	}
	if _, err := c.call(ctx, "Page.navigate", map[string]any{"url": link}); err != nil {
		return err
	}
	steps := []struct{ wait, script string }{
		{"username", fmt.Sprintf(`document.getElementById("username").value = %q; document.getElementById("password").value = %q; document.getElementById("submit").click(); "ok"`, demoUser, demoPass)},
		{"passcode", ""},
		{"user_code", `document.getElementById("submit").click(); "ok"`},
		{"result", ""},
	}
	for _, s := range steps {
		if err := c.waitFor(ctx, s.wait); err != nil {
			return err
		}
		script := s.script
		if s.wait == "passcode" {
			code, err := totp.GenerateCode(demoSeed, now())
			if err != nil {
				return err
			}
			script = fmt.Sprintf(`document.getElementById("passcode").value = %q; document.getElementById("submit").click(); "ok"`, code)
		}
		if script == "" {
			continue
		}
		if _, err := c.eval(ctx, script); err != nil {
			return err
		}
	}
	title, err := c.eval(ctx, `document.getElementById("result").innerText`)
	if err != nil {
		return err
	}
	if title != "Device activated" {
		return fmt.Errorf("the page says %q", title)
	}
	return nil
}

// TestDeviceLoginInHeadlessChromium completes the device verification in
// a real browser while the Go side polls the token endpoint.
func TestDeviceLoginInHeadlessChromium(t *testing.T) {
	cfg := sandbox.DefaultConfig()
	cfg.Org.Pipeline = "idx"
	// The sandbox and the client share a clock that stands still while
	// the browser works and moves by one poll interval once it is done:
	// the client polls once, after the confirmation, without waiting.
	clk := clock.NewFake(time.Now())
	srv := sandbox.StartWithOptions(t, cfg, sandbox.Options{Clock: clk})
	browser := startChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	browserDone := make(chan error, 1)
	d := newDeviceLogin(t, srv, clk, &memTokens{}, func(_ context.Context, da *okta.DeviceAuthorization) error {
		go func() {
			err := activateInBrowser(ctx, browser, srv, clk.Now, da.VerificationURIComplete)
			browserDone <- err
			if err != nil {
				cancel() // no one will confirm the code
				return
			}
			for clk.Waiters() == 0 && ctx.Err() == nil {
				runtime.Gosched()
			}
			clk.Advance(da.Interval)
		}()
		return nil
	})
	out, err := d.Run(ctx, "all", nil, 0)
	if err != nil {
		select {
		case berr := <-browserDone:
			t.Fatalf("login: %v (browser: %v)", err, berr)
		default:
			t.Fatalf("login: %v", err)
		}
	}
	if berr := <-browserDone; berr != nil {
		t.Fatalf("browser: %v", berr)
	}
	if len(out.Written) != 3 {
		t.Fatalf("written %+v", out.Written)
	}
}
