// Package grpcguard holds guard's gRPC server interceptors. It is its own
// package so that programs protecting only HTTP handlers with guard do not
// link grpc and protobuf; the policy (guard.Rule) and the verification
// (guard.Guard) are the same for both.
package grpcguard

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// MethodPolicy picks the rule for a full gRPC method name
// ("/package.Service/Method").
type MethodPolicy func(fullMethod string) guard.Rule

// Methods returns a MethodPolicy from a table keyed by full method name or
// by service prefix ("/package.Service/"), falling back to def.
func Methods(table map[string]guard.Rule, def guard.Rule) MethodPolicy {
	return func(full string) guard.Rule {
		if r, ok := table[full]; ok {
			return r
		}
		for i := len(full) - 1; i > 0; i-- {
			if full[i] == '/' {
				if r, ok := table[full[:i+1]]; ok {
					return r
				}
				break
			}
		}
		return def
	}
}

// UnaryServerInterceptor authenticates unary calls with g from the
// "authorization: Bearer ..." metadata and applies the method's rule.
func UnaryServerInterceptor(g *guard.Guard, policy MethodPolicy) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := check(ctx, g, policy(info.FullMethod))
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streams; the
// handler's stream context carries the principal.
func StreamServerInterceptor(g *guard.Guard, policy MethodPolicy) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := check(ss.Context(), g, policy(info.FullMethod))
		if err != nil {
			return err
		}
		return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
	}
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }

func check(ctx context.Context, g *guard.Guard, rule guard.Rule) (context.Context, error) {
	if rule.Public {
		return ctx, nil
	}
	var auth string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			if len(v) > 1 {
				return ctx, Status(&verify.Error{Code: verify.CodeInvalidRequest, Reason: verify.ErrInvalidRequest, Description: "more than one authorization value"}).Err()
			}
			auth = v[0]
		}
	}
	p, err := g.Check(ctx, auth, rule)
	if err != nil {
		return ctx, Status(err).Err()
	}
	return guard.WithPrincipal(ctx, p), nil
}

// Code maps a failure to its gRPC code as guard.GRPCCode does:
// Unauthenticated for a missing, malformed or invalid token,
// PermissionDenied for a missing scope or role, Unavailable when the
// issuer's keys cannot be had.
func Code(err error) codes.Code { return codes.Code(guard.GRPCCode(err)) }

// Status builds the status for a failure; its message is guard.Message(err).
func Status(err error) *status.Status {
	return status.New(Code(err), guard.Message(err))
}
