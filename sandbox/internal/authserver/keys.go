package authserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxPublishedKeys bounds how many replaced keys a ring keeps, so a fake
// clock jumped far ahead with a short interval and a long overlap does not
// generate thousands of keys.
const maxPublishedKeys = 8

// newRSAKey makes a signing key. Tests replace it with a cheaper source.
var newRSAKey = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// signingKey is one RS256 key of an authorization server.
type signingKey struct {
	kid    string
	priv   *rsa.PrivateKey
	signer jose.Signer
	// retireAt is when a replaced key leaves the JWKS; zero while current.
	retireAt time.Time
}

func newSigningKey() (*signingKey, error) {
	priv, err := newRSAKey()
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey}
	// The RFC 7638 thumbprint makes a kid that is unique per key and looks
	// like Okta's (43 base64url characters).
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("key thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, nil)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return &signingKey{kid: kid, priv: priv, signer: signer}, nil
}

// publicJWK is the key as the JWKS endpoint publishes it.
func (k *signingKey) publicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.RS256), Use: "sig"}
}

// keyRing is a server's current signing key and the replaced keys still
// published. Its methods need the owning server's lock.
type keyRing struct {
	interval time.Duration // 0: rotate on demand only
	overlap  time.Duration
	next     time.Time // next scheduled rotation, when interval > 0
	current  *signingKey
	retired  []*signingKey
}

func newKeyRing(now time.Time, interval, overlap time.Duration) (*keyRing, error) {
	k, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	kr := &keyRing{interval: interval, overlap: overlap, current: k}
	if interval > 0 {
		kr.next = now.Add(interval)
	}
	return kr, nil
}

// advance performs the scheduled rotations due by now. Time moves only when
// the clock says so, so rotation is checked lazily whenever keys are used
// rather than by a timer; that keeps fake-clock tests deterministic.
func (kr *keyRing) advance(now time.Time) error {
	if kr.interval > 0 && !now.Before(kr.next) {
		due := int64(now.Sub(kr.next)/kr.interval) + 1
		first := kr.next
		// Rotations whose key was itself replaced and dropped from the JWKS
		// before now need no key at all: skip straight past them.
		skip := int64(0)
		if d := now.Sub(first) - kr.overlap; d >= 0 {
			skip = int64(d / kr.interval)
		}
		// Past the cap, the oldest rotations are skipped too.
		if lo := due - maxPublishedKeys - 1; skip < lo {
			skip = lo
		}
		if skip > due-1 {
			skip = due - 1
		}
		if skip > 0 {
			// The current key was replaced at the first boundary, and its
			// overlap has ended or it falls past the cap.
			kr.current = nil
		}
		for i := skip; i < due; i++ {
			if err := kr.rotateAt(first.Add(time.Duration(i) * kr.interval)); err != nil {
				return err
			}
		}
		kr.next = first.Add(time.Duration(due) * kr.interval)
	}
	kr.prune(now)
	return nil
}

// rotateAt makes a new current key as of at; the old one stays published
// for the overlap.
func (kr *keyRing) rotateAt(at time.Time) error {
	k, err := newSigningKey()
	if err != nil {
		return err
	}
	if old := kr.current; old != nil {
		old.retireAt = at.Add(kr.overlap)
		kr.retired = append(kr.retired, old)
	}
	kr.current = k
	if extra := len(kr.retired) - maxPublishedKeys; extra > 0 {
		kr.retired = append([]*signingKey(nil), kr.retired[extra:]...)
	}
	return nil
}

// rotateNow is an on-demand rotation; the schedule restarts from now.
func (kr *keyRing) rotateNow(now time.Time) error {
	if err := kr.advance(now); err != nil {
		return err
	}
	if err := kr.rotateAt(now); err != nil {
		return err
	}
	if kr.interval > 0 {
		kr.next = now.Add(kr.interval)
	}
	kr.prune(now)
	return nil
}

func (kr *keyRing) prune(now time.Time) {
	kept := kr.retired[:0]
	for _, k := range kr.retired {
		if now.Before(k.retireAt) {
			kept = append(kept, k)
		}
	}
	for i := len(kept); i < len(kr.retired); i++ {
		kr.retired[i] = nil
	}
	kr.retired = kept
}

// published lists the keys in the JWKS, current first.
func (kr *keyRing) published() []*signingKey {
	out := []*signingKey{kr.current}
	for i := len(kr.retired) - 1; i >= 0; i-- {
		out = append(out, kr.retired[i])
	}
	return out
}

// find returns the published key with kid, or nil.
func (kr *keyRing) find(kid string) *signingKey {
	for _, k := range kr.published() {
		if k.kid == kid {
			return k
		}
	}
	return nil
}
