package gateway_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/oktafed/oktafed/sandbox"
)

// extAuthzClient dials the gateway's port the way Envoy's ext_authz
// filter does: gRPC over h2c, calling envoy.service.auth.v3.Authorization.
func extAuthzClient(t *testing.T, gwURL string) authv3.AuthorizationClient {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(gwURL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

func checkRequest(method, path string, headers map[string]string) *authv3.CheckRequest {
	h := map[string]string{":authority": "app.example", "user-agent": "test"}
	for k, v := range headers {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Host: "app.example", Scheme: "https", Protocol: "HTTP/1.1", Headers: h},
	}}}
}

func TestExtAuthzGRPC(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, "")
	cfg.ForwardAuth.Only = true
	cfg.Routes = hostileRoutes()
	gw := startGateway(t, cfg)
	client := extAuthzClient(t, gw.url)
	reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("allow: identity headers to add, client spoofs to remove", func(t *testing.T) {
		resp, err := client.Check(ctx, checkRequest("GET", "/x?a=1", map[string]string{
			"authorization": "Bearer " + reader, "x-auth-role": "admin", "x_auth_user": "root", "x-forwarded_for": "10.6.6.6", "accept": "*/*",
		}))
		if err != nil {
			t.Fatal(err)
		}
		ok := resp.GetOkResponse()
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK || ok == nil {
			t.Fatalf("not allowed: %v", resp)
		}
		got := map[string]string{}
		for _, h := range ok.GetHeaders() {
			got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
		}
		if got["X-Auth-User"] != "alice@example.com" || got["X-Auth-Role"] != "read" || got["X-Auth-Groups"] != "readers" {
			t.Errorf("headers to add: %v", got)
		}
		rm := ok.GetHeadersToRemove()
		for _, want := range []string{"x-auth-role", "x_auth_user", "x-forwarded_for"} {
			if !slices.Contains(rm, want) {
				t.Errorf("headers to remove %v lack %q", rm, want)
			}
		}
		if slices.Contains(rm, "accept") || slices.Contains(rm, "authorization") {
			t.Errorf("removes ordinary headers: %v", rm)
		}
	})
	denied := func(t *testing.T, req *authv3.CheckRequest, wantHTTP int, wantCode codes.Code) *authv3.DeniedHttpResponse {
		t.Helper()
		resp, err := client.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetDeniedResponse()
		if d == nil || resp.GetOkResponse() != nil {
			t.Fatalf("not denied: %v", resp)
		}
		if int(d.GetStatus().GetCode()) != wantHTTP || codes.Code(resp.GetStatus().GetCode()) != wantCode {
			t.Fatalf("denied with HTTP %d / %v, want %d / %v (%s)", d.GetStatus().GetCode(), codes.Code(resp.GetStatus().GetCode()), wantHTTP, wantCode, d.GetBody())
		}
		return d
	}
	header := func(d *authv3.DeniedHttpResponse, name string) string {
		for _, h := range d.GetHeaders() {
			if strings.EqualFold(h.GetHeader().GetKey(), name) {
				return h.GetHeader().GetValue()
			}
		}
		return ""
	}
	t.Run("deny 401 without a token, with the challenge", func(t *testing.T) {
		d := denied(t, checkRequest("GET", "/x", nil), 401, codes.Unauthenticated)
		if !strings.HasPrefix(header(d, "WWW-Authenticate"), `Bearer realm="orders"`) {
			t.Errorf("challenge %q", header(d, "WWW-Authenticate"))
		}
	})
	t.Run("deny 401 for a forged token", func(t *testing.T) {
		denied(t, checkRequest("GET", "/x", map[string]string{"authorization": "Bearer " + reader[:len(reader)-4] + "AAAA"}), 401, codes.Unauthenticated)
	})
	t.Run("deny 403 for a reader's DELETE", func(t *testing.T) {
		d := denied(t, checkRequest("DELETE", "/x", map[string]string{"authorization": "Bearer " + reader}), 403, codes.PermissionDenied)
		if strings.Contains(d.GetBody(), reader) {
			t.Error("the token is echoed in the body")
		}
	})
	t.Run("deny 403 for the admin route in another case", func(t *testing.T) {
		denied(t, checkRequest("GET", "/ADMIN/users", map[string]string{"authorization": "Bearer " + reader}), 403, codes.PermissionDenied)
	})
	for _, p := range []string{"/public/%2e%2e/admin", "/public/..;/admin", "/public//admin", `/public\..\admin`, "/admin%00"} {
		t.Run("deny 400 for "+p, func(t *testing.T) {
			denied(t, checkRequest("GET", p, nil), 400, codes.InvalidArgument)
		})
	}
	t.Run("deny 400 for a lower-case method", func(t *testing.T) {
		denied(t, checkRequest("delete", "/orders/1", map[string]string{"authorization": "Bearer " + reader}), 400, codes.InvalidArgument)
	})
	t.Run("public route: allowed with no identity", func(t *testing.T) {
		resp, err := client.Check(ctx, checkRequest("GET", "/public/x", map[string]string{"x-auth-user": "root"}))
		if err != nil || resp.GetOkResponse() == nil {
			t.Fatalf("%v %v", resp, err)
		}
		if len(resp.GetOkResponse().GetHeaders()) != 0 || !slices.Contains(resp.GetOkResponse().GetHeadersToRemove(), "x-auth-user") {
			t.Errorf("public answer %v", resp.GetOkResponse())
		}
	})

	t.Run("an untrusted caller is refused", func(t *testing.T) {
		cfg2 := cfg
		cfg2.ForwardAuth.Trusted = []string{"192.0.2.0/24"}
		other := startGateway(t, cfg2)
		_, err := extAuthzClient(t, other.url).Check(ctx, checkRequest("GET", "/x", map[string]string{"authorization": "Bearer " + reader}))
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("Check from an untrusted address: %v", err)
		}
	})
}
