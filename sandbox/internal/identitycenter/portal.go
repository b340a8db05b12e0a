package identitycenter

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

func (s *Service) handleRoleCredentials(w http.ResponseWriter, r *http.Request) {
	g, e := s.bearer(r)
	if e != nil {
		writeError(w, e)
		return
	}
	q := r.URL.Query()
	roleName, account := q.Get("role_name"), q.Get("account_id")
	if roleName == "" || account == "" {
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "InvalidRequestException", message: "role_name and account_id are required"})
		return
	}
	var found *assignment
	for i := range s.assignments {
		a := &s.assignments[i]
		if a.account == account && a.roleName == roleName && a.grants(g.user) {
			found = a
			break
		}
	}
	if found == nil {
		writeError(w, errNoAccess)
		return
	}
	creds, err := s.issuer.IssueCredentials(found.roleARN, g.user.Login, found.duration)
	if err != nil {
		s.log.Error("identitycenter: issuing role credentials failed", "role", found.roleARN, "err", err)
		writeError(w, &apiError{status: http.StatusInternalServerError, typ: "InternalServerException", message: "The role credentials could not be issued; check that the role exists in the aws section."})
		return
	}
	s.log.Info("identitycenter: role credentials issued", "login", g.user.Login, "account", account, "role", roleName)
	writeJSON(w, http.StatusOK, map[string]any{"roleCredentials": map[string]any{
		"accessKeyId":     creds.AccessKeyID,
		"secretAccessKey": creds.SecretAccessKey,
		"sessionToken":    creds.SessionToken,
		"expiration":      creds.Expires.UnixMilli(),
	}})
}

// page applies the portal's next_token/max_result paging to n items. The
// token is an opaque offset.
func page(r *http.Request, n int) (start, end int, next string, e *apiError) {
	q := r.URL.Query()
	size := 20
	if v := q.Get("max_result"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > 1000 {
			return 0, 0, "", &apiError{status: http.StatusBadRequest, typ: "InvalidRequestException", message: "max_result must be between 1 and 1000"}
		}
		size = m
	}
	if v := q.Get("next_token"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		off, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "o:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(raw), "o:") || off < 0 || off > n {
			return 0, 0, "", &apiError{status: http.StatusBadRequest, typ: "InvalidRequestException", message: "next_token is not valid"}
		}
		start = off
	}
	end = min(start+size, n)
	if end < n {
		next = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(end)))
	}
	return start, end, next, nil
}

func (s *Service) handleListAccounts(w http.ResponseWriter, r *http.Request) {
	g, e := s.bearer(r)
	if e != nil {
		writeError(w, e)
		return
	}
	var ids []string
	for _, a := range s.assignments {
		if a.grants(g.user) && !slices.Contains(ids, a.account) {
			ids = append(ids, a.account)
		}
	}
	slices.Sort(ids)
	start, end, next, e := page(r, len(ids))
	if e != nil {
		writeError(w, e)
		return
	}
	list := []map[string]string{}
	for _, id := range ids[start:end] {
		acc := s.accounts[id]
		name := acc.Name
		if name == "" {
			name = id
		}
		m := map[string]string{"accountId": id, "accountName": name}
		if acc.Email != "" {
			m["emailAddress"] = acc.Email
		}
		list = append(list, m)
	}
	body := map[string]any{"accountList": list}
	if next != "" {
		body["nextToken"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Service) handleListRoles(w http.ResponseWriter, r *http.Request) {
	g, e := s.bearer(r)
	if e != nil {
		writeError(w, e)
		return
	}
	account := r.URL.Query().Get("account_id")
	if account == "" {
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "InvalidRequestException", message: "account_id is required"})
		return
	}
	var names []string
	for _, a := range s.assignments {
		if a.account == account && a.grants(g.user) {
			names = append(names, a.roleName)
		}
	}
	slices.Sort(names)
	start, end, next, e := page(r, len(names))
	if e != nil {
		writeError(w, e)
		return
	}
	list := []map[string]string{}
	for _, n := range names[start:end] {
		list = append(list, map[string]string{"roleName": n, "accountId": account})
	}
	body := map[string]any{"roleList": list}
	if next != "" {
		body["nextToken"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

// handleLogout ends the access token's session; its refresh tokens go too.
func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	g, e := s.bearer(r)
	if e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	for k, v := range s.access {
		if v.user.Login == g.user.Login && v.client == g.client {
			delete(s.access, k)
		}
	}
	for k, v := range s.refresh {
		if v.user.Login == g.user.Login && v.client == g.client {
			delete(s.refresh, k)
		}
	}
	s.mu.Unlock()
	s.log.Info("identitycenter: signed out", "login", g.user.Login)
	w.WriteHeader(http.StatusOK)
}
