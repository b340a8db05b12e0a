package secretsmanager

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oktafed/oktafed/internal/lazyregexp"
	"github.com/oktafed/oktafed/sandbox/internal/iam"
)

// Error codes, as Secrets Manager spells them in "__type".
const (
	CodeResourceNotFound  = "ResourceNotFoundException"
	CodeInvalidParameter  = "InvalidParameterException"
	CodeInvalidRequest    = "InvalidRequestException"
	CodeAccessDenied      = "AccessDeniedException"
	CodeSerialization     = "SerializationException"
	CodeUnknownOperation  = "UnknownOperationException"
	CodeResourceExists    = "ResourceExistsException"
	CodeInternalService   = "InternalServiceError"
	maxSecretValueBytes   = 65536
	maxListResults        = 100
	defaultListMaxResults = 100
)

// Error is an AWS JSON-protocol error.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// jsonAuthCodes renames IAM's query-protocol authentication errors to the
// names JSON-protocol services use for the same refusals.
var jsonAuthCodes = map[string]string{
	iam.CodeInvalidClientTokenID:       "UnrecognizedClientException",
	iam.CodeSignatureDoesNotMatch:      "InvalidSignatureException",
	iam.CodeExpiredToken:               "ExpiredTokenException",
	iam.CodeMissingAuthenticationToken: "MissingAuthenticationTokenException",
	iam.CodeIncompleteSignature:        "IncompleteSignatureException",
}

var operations = map[string]func(*Service, *iam.Caller, []byte) (any, error){
	"GetSecretValue": (*Service).getSecretValue,
	"DescribeSecret": (*Service).describeSecret,
	"ListSecrets":    (*Service).listSecrets,
	"PutSecretValue": (*Service).putSecretValue,
}

// ServeHTTP answers one JSON-protocol call.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := randomUUID()
	w.Header().Set("x-amzn-RequestId", reqID)
	out, err := s.serve(r)
	if err != nil {
		e := toError(err)
		s.log.Info("sandbox secretsmanager: refused", "target", r.Header.Get("X-Amz-Target"), "code", e.Code)
		writeJSON(w, e.Status, map[string]string{"__type": e.Code, "message": e.Message})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) serve(r *http.Request) (any, error) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, errorf(CodeInvalidRequest, "Secrets Manager takes POST / only.")
	}
	service, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	if !strings.EqualFold(service, "secretsmanager") {
		return nil, errorf(CodeUnknownOperation, "Unknown target prefix.")
	}
	handle, ok := operations[op]
	if !ok {
		return nil, errorf(CodeUnknownOperation, "The sandbox does not implement secretsmanager.%s.", truncate(op, 64))
	}
	caller, err := s.auth.Authenticate(r, "secretsmanager")
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body) // Authenticate bounded and restored it
	if err != nil {
		return nil, errorf(CodeSerialization, "The request body could not be read.")
	}
	s.log.Info("sandbox secretsmanager: call", "operation", op, "caller", caller.ARN)
	return handle(s, caller, body)
}

func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ie *iam.Error
	if errors.As(err, &ie) {
		code := ie.Code
		if c, ok := jsonAuthCodes[code]; ok {
			code = c
		}
		return &Error{Code: code, Message: ie.Message, Status: ie.Status}
	}
	return &Error{Code: CodeInternalService, Message: "An internal error occurred.", Status: http.StatusInternalServerError}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"__type":"InternalServiceError","message":"An internal error occurred."}`)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decode reads a JSON request body into v. Unknown members are ignored, as
// AWS does for forward compatibility; wrong types are a SerializationException.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return errorf(CodeSerialization, "The request body is not a valid JSON document for this operation.")
	}
	if dec.More() {
		return errorf(CodeSerialization, "The request body has content after the JSON document.")
	}
	return nil
}

// epoch is how the JSON protocol writes timestamps: seconds, with a fraction.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(t).UnixMilli())/1000, 'f', 3, 64)), nil
}

func validation(field, constraint string) *Error {
	return errorf(CodeInvalidParameter, "1 validation error detected: Value at '%s' failed to satisfy constraint: %s", field, constraint)
}

func checkSecretID(id string) error {
	if id == "" || len(id) > 2048 {
		return validation("secretId", "Member must have length between 1 and 2048")
	}
	return nil
}

// lookup finds a secret the caller may use, answering as AWS does: a
// missing secret and one in another account look alike.
func (s *Service) lookup(c *iam.Caller, id, action string) (*secret, error) {
	if err := checkSecretID(id); err != nil {
		return nil, err
	}
	sec := s.find(id, c.Account)
	if sec == nil {
		return nil, errorf(CodeResourceNotFound, "Secrets Manager can't find the specified secret.")
	}
	if !sec.allowed(c) {
		return nil, errorf(CodeAccessDenied, "User: %s is not authorized to perform: secretsmanager:%s on resource: %s because no identity-based policy allows the secretsmanager:%s action", c.ARN, action, truncate(id, 256), action)
	}
	return sec, nil
}

type getSecretValueInput struct {
	SecretID     string `json:"SecretId"`
	VersionID    string `json:"VersionId"`
	VersionStage string `json:"VersionStage"`
}

func (s *Service) getSecretValue(c *iam.Caller, body []byte) (any, error) {
	var in getSecretValueInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(c, in.SecretID, "GetSecretValue")
	if err != nil {
		return nil, err
	}
	var v *version
	switch {
	case in.VersionID != "":
		v = sec.versions[in.VersionID]
		if v != nil && in.VersionStage != "" && !slices.Contains(v.stages, in.VersionStage) {
			return nil, errorf(CodeInvalidRequest, "You provided a VersionStage that is not associated to the provided VersionId.")
		}
	case in.VersionStage != "":
		v = sec.withStage(in.VersionStage)
	default:
		v = sec.withStage(StageCurrent)
	}
	if v == nil {
		return nil, errorf(CodeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s, VersionStage: %s", truncate(in.VersionID, 64), truncate(orDefault(in.VersionStage, StageCurrent), 256))
	}
	sec.accessed = s.clock.Now().UTC().Truncate(24 * time.Hour)
	out := map[string]any{
		"ARN": sec.arn, "Name": sec.name, "VersionId": v.id,
		"VersionStages": v.stages, "CreatedDate": epoch(v.created),
	}
	if v.str != nil {
		out["SecretString"] = *v.str
	} else {
		out["SecretBinary"] = base64.StdEncoding.EncodeToString(v.bin)
	}
	return out, nil
}

type describeSecretInput struct {
	SecretID string `json:"SecretId"`
}

func (s *Service) describeSecret(c *iam.Caller, body []byte) (any, error) {
	var in describeSecretInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(c, in.SecretID, "DescribeSecret")
	if err != nil {
		return nil, err
	}
	return s.describe(sec, "VersionIdsToStages"), nil
}

// describe is the metadata DescribeSecret and ListSecrets return; the two
// name the version map differently.
func (s *Service) describe(sec *secret, versionsKey string) map[string]any {
	out := map[string]any{
		"ARN": sec.arn, "Name": sec.name,
		"CreatedDate": epoch(sec.created), "LastChangedDate": epoch(sec.changed),
		versionsKey: sec.stagesByVersion(),
	}
	if sec.description != "" {
		out["Description"] = sec.description
	}
	if !sec.accessed.IsZero() {
		out["LastAccessedDate"] = epoch(sec.accessed)
	}
	return out
}

type listSecretsInput struct {
	MaxResults *int     `json:"MaxResults"`
	NextToken  string   `json:"NextToken"`
	SortOrder  string   `json:"SortOrder"`
	Filters    []filter `json:"Filters"`
}

type filter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

var filterKeys = map[string]bool{"description": true, "name": true, "tag-key": true, "tag-value": true, "primary-region": true, "owning-service": true, "all": true}

func (s *Service) listSecrets(c *iam.Caller, body []byte) (any, error) {
	var in listSecretsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit := defaultListMaxResults
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > maxListResults {
			return nil, validation("maxResults", "Member must have value between 1 and 100")
		}
		limit = *in.MaxResults
	}
	if in.SortOrder != "" && in.SortOrder != "asc" && in.SortOrder != "desc" {
		return nil, validation("sortOrder", "Member must satisfy enum value set: [asc, desc]")
	}
	for _, f := range in.Filters {
		if !filterKeys[f.Key] {
			return nil, validation("filters.key", "Member must satisfy enum value set: [description, name, tag-key, tag-value, primary-region, owning-service, all]")
		}
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 {
			return nil, errorf(CodeInvalidParameter, "Invalid NextToken.")
		}
		start = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var visible []*secret
	for _, sec := range sortedSecrets(s.secrets) {
		if sec.allowed(c) && matches(sec, in.Filters) {
			visible = append(visible, sec)
		}
	}
	if in.SortOrder == "desc" {
		for i, j := 0, len(visible)-1; i < j; i, j = i+1, j-1 {
			visible[i], visible[j] = visible[j], visible[i]
		}
	}
	list := []map[string]any{}
	for i := start; i < len(visible) && len(list) < limit; i++ {
		list = append(list, s.describe(visible[i], "SecretVersionsToStages"))
	}
	out := map[string]any{"SecretList": list}
	if next := start + len(list); next < len(visible) {
		out["NextToken"] = strconv.Itoa(next)
	}
	return out, nil
}

// matches applies ListSecrets filters: every filter must match; within one
// filter any value may, by prefix, and a "!" prefix negates.
func matches(sec *secret, filters []filter) bool {
	for _, f := range filters {
		var fields []string
		switch f.Key {
		case "name":
			fields = []string{sec.name}
		case "description":
			fields = []string{sec.description}
		case "all":
			fields = []string{sec.name, sec.description}
		default:
			return false // the sandbox has no tags, regions or owning services
		}
		ok := false
		for _, v := range f.Values {
			neg := strings.HasPrefix(v, "!")
			v = strings.TrimPrefix(v, "!")
			hit := false
			for _, field := range fields {
				if strings.HasPrefix(strings.ToLower(field), strings.ToLower(v)) {
					hit = true
				}
			}
			if hit != neg {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

type putSecretValueInput struct {
	SecretID           string   `json:"SecretId"`
	ClientRequestToken string   `json:"ClientRequestToken"`
	SecretString       *string  `json:"SecretString"`
	SecretBinary       []byte   `json:"SecretBinary"`
	VersionStages      []string `json:"VersionStages"`
}

var tokenPattern = lazyregexp.New(`^[A-Za-z0-9-]{32,64}$`)

func (s *Service) putSecretValue(c *iam.Caller, body []byte) (any, error) {
	var in putSecretValueInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	switch {
	case (in.SecretString == nil) == (in.SecretBinary == nil):
		return nil, errorf(CodeInvalidParameter, "You must provide either SecretString or SecretBinary, but not both.")
	case in.SecretString != nil && len(*in.SecretString) > maxSecretValueBytes:
		return nil, validation("secretString", "Member must have length less than or equal to 65536")
	case len(in.SecretBinary) > maxSecretValueBytes:
		return nil, validation("secretBinary", "Member must have length less than or equal to 65536")
	case in.ClientRequestToken != "" && !tokenPattern.MatchString(in.ClientRequestToken):
		return nil, validation("clientRequestToken", "Member must have length between 32 and 64")
	}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{StageCurrent}
	}
	for _, st := range stages {
		if st == "" || len(st) > 256 {
			return nil, validation("versionStages", "Member must have length between 1 and 256")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookup(c, in.SecretID, "PutSecretValue")
	if err != nil {
		return nil, err
	}
	token := in.ClientRequestToken
	if token == "" {
		token = randomUUID()
	}
	if id, seen := sec.tokens[token]; seen {
		// Idempotent retry: the same token and value give the same version.
		v := sec.versions[id]
		if !sameValue(v, in.SecretString, in.SecretBinary) {
			return nil, errorf(CodeResourceExists, "You can't modify an existing version, you can only create a new version.")
		}
		return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages}, nil
	}
	now := s.clock.Now()
	v := &version{id: derivedUUID(sec.arn + "\x00" + token), str: in.SecretString, bin: in.SecretBinary, stages: append([]string(nil), stages...), created: now}
	for _, st := range stages {
		if old := sec.withStage(st); old != nil {
			old.stages = remove(old.stages, st)
			if st == StageCurrent {
				// AWS moves AWSPREVIOUS to the version that was current.
				if prev := sec.withStage(StagePrevious); prev != nil {
					prev.stages = remove(prev.stages, StagePrevious)
				}
				old.stages = append(old.stages, StagePrevious)
			}
		}
	}
	sec.versions[v.id] = v
	sec.tokens[token] = v.id
	sec.changed = now
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages}, nil
}

func sameValue(v *version, str *string, bin []byte) bool {
	if (v.str == nil) != (str == nil) {
		return false
	}
	if str != nil {
		return *v.str == *str
	}
	return bytes.Equal(v.bin, bin)
}

func remove(list []string, s string) []string {
	out := list[:0:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
