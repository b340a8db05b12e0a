package gateway

import (
	"context"
	"net/http"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// extAuthzCheckPath is the gRPC method Envoy's ext_authz filter calls.
const extAuthzCheckPath = "/envoy.service.auth.v3.Authorization/Check"

// ExtAuthz is the gateway's Envoy ext_authz gRPC service
// (envoy.service.auth.v3.Authorization). Envoy sends the original
// request's attributes; the answer applies the gateway's rules exactly as
// the proxy does. Register it on a grpc.Server of your own with
// authv3.RegisterAuthorizationServer, or let Gateway serve it on its own
// port (see ForwardAuthConfig).
type ExtAuthz struct {
	authv3.UnimplementedAuthorizationServer
	g *Gateway
}

// ExtAuthz returns the gateway's ext_authz service. Callers that register
// it on their own server must restrict who can reach it: the request
// described is whatever the caller says it is.
func (g *Gateway) ExtAuthz() *ExtAuthz { return &ExtAuthz{g: g} }

// Check answers one ext_authz call: OK with the identity headers to add
// upstream (and every client header that could be read as one of them to
// remove), or a denial carrying 401 with WWW-Authenticate, 403, 400 or 503.
func (s *ExtAuthz) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	g := s.g
	hr := req.GetAttributes().GetRequest().GetHttp()
	headers := checkHeaders(hr)
	var authz []string
	if a, ok := headers["authorization"]; ok {
		// Envoy joins repeated headers with ','; no single bearer
		// credential holds one, so a comma means two headers.
		authz = strings.Split(a, ",")
	}
	d := g.tracedDecide(ctx, hr.GetMethod(), hr.GetPath(), authz, isGRPCContentType(headers["content-type"]))
	route := "ext_authz"
	if d.rt != nil {
		route = "ext_authz " + d.rt.name
	}
	resp := s.answer(d, headers, hr.GetPath())
	st := http.StatusOK
	if dr := resp.GetDeniedResponse(); dr != nil {
		st = int(dr.GetStatus().GetCode())
	}
	g.metrics.request(route, st, 0)
	if g.accessLog && g.log.Enabled(ctx, 0) {
		remote := ""
		if p, ok := peer.FromContext(ctx); ok {
			remote = p.Addr.String()
		}
		g.log.Info("ext_authz", "method", hr.GetMethod(), "path", d.path, "route", route, "status", st, "remote", remote)
	}
	return resp, nil
}

func (s *ExtAuthz) answer(d decision, headers map[string]string, target string) *authv3.CheckResponse {
	g := s.g
	if d.verdict == verdictAllow {
		ok := &authv3.OkHttpResponse{}
		// Client headers the decision table marks as carrying trust
		// (any case, '_' for '-'), removed before the verified ones are
		// added, and the query parameters a framework would read as
		// access_token.
		var remove []string
		for k := range headers {
			if trustBearing(k, g.idPrefixes) {
				remove = append(remove, k)
			}
		}
		sort.Strings(remove)
		ok.HeadersToRemove = remove
		if q := queryOf(target); len(q) > 1 {
			ok.QueryParametersToRemove = accessTokenKeys(q[1:])
		}
		if d.p != nil {
			h := http.Header{}
			g.setIdentity(h, d.p)
			names := make([]string, 0, len(h))
			for k := range h {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
					Header:       &corev3.HeaderValue{Key: k, Value: h.Get(k)},
					AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
				})
			}
		}
		return &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
		}
	}
	status := d.status()
	code := codes.InvalidArgument
	body := d.msg
	var hdrs []*corev3.HeaderValueOption
	set := func(k, v string) {
		hdrs = append(hdrs, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	switch d.verdict {
	case verdictAuth:
		var challenge string
		status, challenge = verify.Challenge(d.authErr, g.cfg.Realm)
		set("WWW-Authenticate", challenge)
		body = guard.Message(d.authErr)
		code = codes.Code(guard.GRPCCode(d.authErr))
	case verdictNoRoute:
		status, code = http.StatusForbidden, codes.PermissionDenied
	case verdictUnavailable:
		code = codes.Unavailable
		set("Retry-After", "5")
	}
	set("Content-Type", "text/plain; charset=utf-8")
	set("Cache-Control", "no-store")
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code), Message: body},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(status)},
			Headers: hdrs,
			Body:    body + "\n",
		}},
	}
}

// checkHeaders returns the request headers with lower-case names, from
// the headers map or, when Envoy encodes raw headers, the header map.
func checkHeaders(hr *authv3.AttributeContext_HttpRequest) map[string]string {
	if h := hr.GetHeaders(); len(h) > 0 {
		return h
	}
	out := map[string]string{}
	for _, hv := range hr.GetHeaderMap().GetHeaders() {
		v := hv.GetValue()
		if raw := hv.GetRawValue(); len(raw) > 0 {
			v = string(raw)
		}
		k := lowerASCII(hv.GetKey())
		if prev, ok := out[k]; ok {
			v = prev + "," + v
		}
		out[k] = v
	}
	return out
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isGRPCContentType(ct string) bool {
	return len(ct) >= len("application/grpc") && lowerASCII(ct[:len("application/grpc")]) == "application/grpc"
}

// newExtAuthzServer builds the gRPC server the gateway hands ext_authz
// calls to (through its ServeHTTP, on the gateway's own port).
func (g *Gateway) newExtAuthzServer() *grpc.Server {
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, g.ExtAuthz())
	return srv
}
