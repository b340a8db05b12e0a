package cli

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/verify"
)

// maxJWKSInput bounds a key set read from a URL, file or standard input;
// it matches the verifier's own cap on fetched key sets.
const maxJWKSInput = verify.DefaultMaxJWKSBytes

// pemKeyJSON is one key of jwk2pem's --output json.
type pemKeyJSON struct {
	KeyID string `json:"kid"`
	Alg   string `json:"alg,omitempty"`
	PEM   string `json:"pem"`
}

func newJWK2PEMCmd(ios *IOStreams) *cobra.Command {
	var (
		kid, output    string
		headers, plain bool
	)
	cmd := &cobra.Command{
		Use:   "jwk2pem [URL|FILE|-]",
		Short: "Convert a JWK Set (URL or file) to PEM public keys",
		Long: `Convert a JWK Set, or a single JWK, to PEM "PUBLIC KEY" blocks, one per key,
for databases and proxies that take PEM rather than a JWKS address. The
source is an https URL (plain http only to loopback hosts; redirects are
followed only on the same host and never from https to http), a file, or
standard input with '-' (or no argument when standard input is not a
terminal).

The blocks are plain RFC 7468 PEM, which OpenSSL, Node.js and other
tools read. --headers adds each key's kid and alg as PEM headers (RFC 1421
style); 'oktafed token verify --pem' reads them back and so picks keys by
kid, but most other programs refuse such blocks. Every key must convert,
so nothing is dropped silently: use --kid to pick one key from a set that
holds others.`,
		Example: `  oktafed jwk2pem https://example.okta.com/oauth2/default/v1/keys > okta.pem
  oktafed jwk2pem --kid 'abc123' keys.json | openssl pkey -pubin -noout -text
  oktafed jwk2pem --headers https://idp.example.com/jwks > keys.pem
  curl -s https://idp.example.com/jwks | oktafed jwk2pem -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFlag(output); err != nil {
				return err
			}
			if headers && plain {
				return errors.New("--headers and --plain contradict each other; plain PEM is the default, drop --plain")
			}
			if plain {
				fmt.Fprintln(ios.ErrOut, "oktafed: --plain is no longer needed: plain PEM is the default (--headers adds kid and alg)")
			}
			src := "-"
			if len(args) == 1 {
				src = args[0]
			} else if ios.InTTY {
				return errors.New("no key set: pass a JWKS URL or file, or pipe it in with '-'")
			}
			data, err := readJWKSSource(cmd.Context(), ios, src)
			if err != nil {
				return err
			}
			if kid != "" {
				if data, err = selectKID(data, kid); err != nil {
					return err
				}
			}
			out, err := verify.JWKSToPEM(data)
			if err != nil {
				return fmt.Errorf("%s: %w", src, err)
			}
			var keys []pemKeyJSON
			var text []byte
			for rest := out; ; {
				var blk *pem.Block
				blk, rest = pem.Decode(rest)
				if blk == nil {
					break
				}
				k := pemKeyJSON{KeyID: blk.Headers["kid"], Alg: blk.Headers["alg"]}
				if !headers || output == "json" {
					blk.Headers = nil
				}
				k.PEM = string(pem.EncodeToMemory(blk))
				text = append(text, k.PEM...)
				keys = append(keys, k)
			}
			if output == "json" {
				return writeJSON(ios.Out, keys)
			}
			_, err = ios.Out.Write(text)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&kid, "kid", "", "convert only the key with this key id")
	f.BoolVar(&headers, "headers", false, "add kid and alg PEM headers (read by 'oktafed token verify --pem'; OpenSSL and Node.js refuse them)")
	f.BoolVar(&plain, "plain", false, "plain PEM without headers (the default)")
	// Hidden rather than marked deprecated: cobra prints deprecation
	// notices on the command's output, which here is the PEM itself.
	_ = f.MarkHidden("plain")
	f.StringVarP(&output, "output", "o", "text", "output format: text (PEM) or json (kid, alg and PEM per key)")
	return cmd
}

// readJWKSSource reads a key set from a URL, a file or standard input.
// URLs are fetched by verify.FetchKeySet, with the verifier's own rules for
// plain http and redirects.
func readJWKSSource(ctx context.Context, ios *IOStreams, src string) ([]byte, error) {
	var r io.Reader
	switch {
	case src == "-":
		r = ios.In
	case strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://"):
		b, err := verify.FetchKeySet(ctx, httpClientFor(ios), src)
		if err != nil {
			return nil, fmt.Errorf("fetch key set: %w; check the address (Okta: https://DOMAIN/oauth2/default/v1/keys)", err)
		}
		return b, nil
	default:
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxJWKSInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", src, err)
	}
	if len(b) > maxJWKSInput {
		return nil, fmt.Errorf("%s is larger than %d bytes; it is not a key set", src, maxJWKSInput)
	}
	return b, nil
}

// selectKID returns a JWK Set holding only the keys whose kid is kid,
// keeping each key's JSON exactly as given so the strict converter sees
// the original text.
func selectKID(data []byte, kid string) ([]byte, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("--kid needs a JWK Set: %w", err)
	}
	var kept []json.RawMessage
	var seen []string
	for _, k := range set.Keys {
		// A map, not a struct: encoding/json matches struct fields
		// without regard to case, so "KID" or "Kid" would pass for
		// "kid" (and the last of them win). Only the member named
		// exactly kid counts; the strict converter then refuses a key
		// that names it twice.
		var members map[string]json.RawMessage
		if err := json.Unmarshal(k, &members); err != nil {
			return nil, fmt.Errorf("key set entry: %w", err)
		}
		var id string
		if raw, ok := members["kid"]; ok {
			if err := json.Unmarshal(raw, &id); err != nil {
				return nil, fmt.Errorf("key set entry: kid: %w", err)
			}
		}
		if id == kid {
			kept = append(kept, k)
		}
		seen = append(seen, id)
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("no key with kid %q; the set holds %s", kid, strings.Join(quoteAll(seen), ", "))
	}
	return json.Marshal(struct {
		Keys []json.RawMessage `json:"keys"`
	}{kept})
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	if len(out) == 0 {
		return []string{"no keys"}
	}
	return out
}
