package federation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// AliasLookup finds an account's alias with credentials from that account.
type AliasLookup func(ctx context.Context, accountID string, creds aws.Credentials, partition string) (string, error)

// iamEndpoints are IAM's global endpoint and signing region per partition.
var iamEndpoints = map[string]struct{ url, region string }{
	"aws":        {"https://iam.amazonaws.com", "us-east-1"},
	"aws-cn":     {"https://iam.cn-north-1.amazonaws.com.cn", "cn-north-1"},
	"aws-us-gov": {"https://iam.us-gov.amazonaws.com", "us-gov-west-1"},
}

// NewAliasLookup returns an AliasLookup that calls IAM ListAccountAliases,
// at endpoint when it is set (AWS_ENDPOINT_URL_IAM, the sandbox). It signs
// one small query-protocol request itself rather than linking the IAM
// service client, whose start-up cost every oktafed command would pay.
func NewAliasLookup(hc *http.Client, endpoint string) AliasLookup {
	signer := v4.NewSigner()
	return func(ctx context.Context, accountID string, creds aws.Credentials, partition string) (string, error) {
		ep, ok := iamEndpoints[partition]
		if !ok {
			ep = iamEndpoints["aws"]
		}
		url := ep.url
		if endpoint != "" {
			url = strings.TrimRight(endpoint, "/") + "/"
		}
		body := "Action=ListAccountAliases&Version=2010-05-08"
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte(body))
		if err := signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "iam", ep.region, time.Now()); err != nil {
			return "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			// Commonly AccessDenied: the role may not list aliases.
			return "", fmt.Errorf("IAM ListAccountAliases for %s: HTTP %d", accountID, resp.StatusCode)
		}
		var out struct {
			Aliases []string `xml:"ListAccountAliasesResult>AccountAliases>member"`
		}
		if err := xml.Unmarshal(data, &out); err != nil {
			return "", fmt.Errorf("IAM ListAccountAliases for %s: %w", accountID, err)
		}
		if len(out.Aliases) == 0 {
			return "", nil
		}
		return out.Aliases[0], nil
	}
}

// lookupAliases fills aliases for the accounts of assumed roles that have
// none yet, one call per account, in parallel. Accounts whose alias cannot
// be read keep their id in profile names; it returns the aliases it found.
func lookupAliases(ctx context.Context, lookup AliasLookup, known map[string]string, assumed []Assumed) map[string]string {
	byAccount := map[string]Assumed{}
	for _, a := range assumed {
		if a.Err == nil && known[a.Role.AccountID] == "" {
			if _, seen := byAccount[a.Role.AccountID]; !seen {
				byAccount[a.Role.AccountID] = a
			}
		}
	}
	found := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for acct, a := range byAccount {
		wg.Add(1)
		go func() {
			defer wg.Done()
			alias, err := lookup(ctx, acct, a.Credentials, a.Role.Partition)
			if err == nil && alias != "" {
				mu.Lock()
				found[acct] = alias
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return found
}
