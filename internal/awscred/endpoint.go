package awscred

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Endpoint serves credentials the way the ECS container credentials
// endpoint does, on 127.0.0.1, so that a child process started with its
// Env() gets credentials from its SDK that refresh without a restart. Each
// request must carry the random authorization token, so other local users
// cannot read the credentials.
type Endpoint struct {
	provider aws.CredentialsProvider
	token    string
	ln       net.Listener
	srv      *http.Server
	done     chan struct{}
}

// NewEndpoint starts an endpoint backed by provider.
func NewEndpoint(provider aws.CredentialsProvider) (*Endpoint, error) {
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &Endpoint{provider: provider, token: hex.EncodeToString(tok), ln: ln, done: make(chan struct{})}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(e.done)
		_ = e.srv.Serve(ln)
	}()
	return e, nil
}

// URL is the address to put in AWS_CONTAINER_CREDENTIALS_FULL_URI.
func (e *Endpoint) URL() string { return "http://" + e.ln.Addr().String() + "/credentials" }

// Env returns the variables that point an SDK at the endpoint.
func (e *Endpoint) Env() map[string]string {
	return map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": e.URL(),
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":  e.token,
	}
}

// Close stops the endpoint.
func (e *Endpoint) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	<-e.done
	return err
}

type endpointResponse struct {
	AccessKeyId     string //nolint:revive // wire name
	SecretAccessKey string
	Token           string
	Expiration      string `json:",omitempty"`
}

type endpointError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Endpoint) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodGet || r.URL.Path != "/credentials" {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(endpointError{Code: "NotFound", Message: "GET /credentials"})
		return
	}
	got := r.Header.Get("Authorization")
	if subtle.ConstantTimeCompare([]byte(got), []byte(e.token)) != 1 {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(endpointError{Code: "AccessDenied", Message: "missing or wrong authorization token"})
		return
	}
	creds, err := e.provider.Retrieve(r.Context())
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		msg := err.Error()
		_ = json.NewEncoder(w).Encode(endpointError{Code: "CredentialsUnavailable", Message: msg})
		return
	}
	resp := endpointResponse{AccessKeyId: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, Token: creds.SessionToken}
	if creds.CanExpire {
		resp.Expiration = creds.Expires.UTC().Format(time.RFC3339)
	}
	_ = json.NewEncoder(w).Encode(resp)
}
