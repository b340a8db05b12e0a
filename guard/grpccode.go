package guard

import (
	"net/http"

	"github.com/oktafed/oktafed/verify"
)

// gRPC status codes, numbered as the gRPC protocol numbers them (the
// values of google.golang.org/grpc/codes), so that HTTP users of guard do
// not link grpc for three numbers.
const (
	GRPCPermissionDenied uint32 = 7
	GRPCUnavailable      uint32 = 14
	GRPCUnauthenticated  uint32 = 16
)

// GRPCCode is the one mapping of an authentication or authorization
// failure to its gRPC status code, for grpcguard and for a gateway that
// answers gRPC clients itself: PermissionDenied for a missing scope or
// role, Unavailable when the issuer's keys cannot be had, Unauthenticated
// for anything else about the token (missing, malformed, invalid).
func GRPCCode(err error) uint32 {
	st, _ := verify.Challenge(err, "")
	switch st {
	case http.StatusForbidden:
		return GRPCPermissionDenied
	case http.StatusServiceUnavailable:
		return GRPCUnavailable
	}
	return GRPCUnauthenticated
}
