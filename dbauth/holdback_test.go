package dbauth_test

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
	"github.com/oktafed/oktafed/dbauth/pgxauth"
	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/secret"
)

// holdBackHelperEnv starts TestHoldBackHelperProcess as a helper: a
// service that starts, connects once and stops.
const holdBackHelperEnv = "DBAUTH_HOLDBACK_HELPER"

// TestHoldBackHelperProcess is not a test: TestHoldBackAcrossProcesses
// runs the test binary with it as a service process that connects once
// with the okta plugin and reports the outcome on stdout.
func TestHoldBackHelperProcess(t *testing.T) {
	if os.Getenv(holdBackHelperEnv) != "1" {
		t.Skip("helper process for TestHoldBackAcrossProcesses")
	}
	cfg := dbauth.Config{
		Plugin:      dbauth.PluginOkta,
		IdPEndpoint: os.Getenv("HELPER_ORG"), AppID: "0oa1demoawsapp0000001",
		IdPUsername: svcLogin, IdPPassword: secret.New(os.Getenv("HELPER_PASSWORD")),
		IAMRoleARN: appRole, IAMIdPARN: samlIdP, IAMRegion: "us-east-1",
	}
	c, err := pgxauth.NewConnector(os.Getenv("HELPER_DSN"), cfg)
	if err == nil {
		db := sql.OpenDB(c)
		err = dbtest.PingOnce(db)
		db.Close()
	}
	switch {
	case err == nil:
		fmt.Println("RESULT connected")
	case errors.Is(err, dbauth.ErrSignInRefused):
		fmt.Println("RESULT held:", err)
	default:
		fmt.Println("RESULT error:", err)
	}
}

// TestHoldBackAcrossProcesses: a service with a wrong idp_password is
// restarted five times against the sandbox org, which locks a user out
// after five failed sign-ins. Each start is a new process: only the first
// asks Okta, the other four find the refusal in the shared hold-back book
// and do not, so the account is not locked (three more failures leave it
// one short). Then the account is locked out; the correct password meets
// LOCKED_OUT, is held back only for the short re-probe, and once an admin
// unlocks the account it connects at the first re-probe, a minute later
// on the connector's clock rather than fifteen.
func TestHoldBackAcrossProcesses(t *testing.T) {
	if os.Getenv(holdBackHelperEnv) == "1" {
		t.Skip("in a helper process")
	}
	t.Parallel()
	r := newOktaRig(t, map[string][]string{dbUser: {appRole}}, map[string]string{dbUser: "alice-backend-password"})
	dsn := dbtest.PgURL(r.pg, r.pgCA, dbUser, nil)
	dir := t.TempDir()
	for i := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHoldBackHelperProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), holdBackHelperEnv+"=1", "OKTAFED_HOLDBACK_DIR="+dir,
			"HELPER_ORG="+r.srv.URL, "HELPER_PASSWORD=Wrong-Password-1", "HELPER_DSN="+dsn,
			"AWS_ENDPOINT_URL_STS="+r.srv.URL)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("process %d: %v\n%s", i+1, err, out)
		}
		line := resultLine(out)
		if !strings.HasPrefix(line, "RESULT held:") || strings.Contains(line, "Wrong-Password-1") {
			t.Fatalf("process %d: %s", i+1, line)
		}
		if asked := !strings.Contains(line, "did not ask Okta again"); asked != (i == 0) {
			t.Fatalf("process %d asked Okta: %v (%s)", i+1, asked, line)
		}
	}
	if ok := r.srv.UserActive(svcLogin); !ok {
		t.Fatal("the account is locked after five restarts with a wrong password")
	}
	// One failure so far: three more leave the account one short of the
	// lockout, which a fourth then reaches.
	for i := range 4 {
		wrongSignIn(t, r.srv.URL)
		if ok := r.srv.UserActive(svcLogin); ok != (i < 3) {
			t.Fatalf("after %d direct failures the account is locked=%v: the helpers made more than one", i+1, !ok)
		}
	}

	// The account is locked out. The correct password, in this process
	// (whose book is the test run's), on a fake clock.
	clk := clock.NewFake(time.Now())
	cfg := r.config(svcPassword)
	cfg.Now = clk.Now
	db := r.pgDB(t, dbUser, cfg)
	before := r.counter.authn.Load()
	err := db.Ping()
	if !errors.Is(err, dbauth.ErrSignInRefused) || !strings.Contains(err.Error(), "locked out") {
		t.Fatalf("correct password on a locked account: %v", err)
	}
	if err := db.Ping(); err == nil || !strings.Contains(err.Error(), "did not ask Okta again") {
		t.Fatalf("second connect while locked: %v", err)
	}
	if n := r.counter.authn.Load() - before; n != 1 {
		t.Fatalf("%d sign-ins while locked, want 1", n)
	}
	if err := r.srv.Unlock(svcLogin); err != nil {
		t.Fatal(err)
	}
	clk.Advance(dbauth.DefaultLockoutProbe)
	var user string
	if err := db.QueryRow("SELECT current_user").Scan(&user); err != nil || user != dbUser {
		t.Fatalf("correct password after the unlock, one re-probe later: %q, %v", user, err)
	}
}

func resultLine(out []byte) string {
	for _, l := range bytes.Split(out, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("RESULT")) {
			return string(l)
		}
	}
	return "no result in: " + string(out)
}

func wrongSignIn(t *testing.T, org string) {
	t.Helper()
	resp, err := http.Post(org+"/api/v1/authn", "application/json", strings.NewReader(`{"username":"`+svcLogin+`","password":"Not-It-9"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// TestWrongAppIDIsHeldBack: an app_id that leads to no app costs one
// Okta sign-in, not one per connect, and the error says to fix app_id.
func TestWrongAppIDIsHeldBack(t *testing.T) {
	t.Parallel()
	r := newOktaRig(t, map[string][]string{dbUser: {appRole}}, map[string]string{dbUser: "alice-backend-password"})
	cfg := r.config(svcPassword)
	cfg.AppID = "0oaWRONGapp" + strings.ReplaceAll(t.Name(), "/", "")
	db := r.pgDB(t, dbUser, cfg)
	for i := range 3 {
		err := db.Ping()
		if !errors.Is(err, dbauth.ErrSignInRefused) || !strings.Contains(err.Error(), "fix app_id") {
			t.Fatalf("connect %d: %v", i+1, err)
		}
	}
	if n := r.counter.authn.Load(); n != 1 {
		t.Fatalf("%d Okta sign-ins for 3 connects with a wrong app_id, want 1", n)
	}
	cfg.AppID = "0oa1demoawsapp0000001"
	if err := r.pgDB(t, dbUser, cfg).Ping(); err != nil {
		t.Fatalf("the right app_id: %v", err)
	}
}
