package verify

import (
	"context"
	"slices"
	"sync"
	"testing"
)

// TestPrincipalOwnSlices: a handler that rewrites its principal's slices
// in place (sort, reverse, overwrite, append) changes nothing that the
// next request for the same token, or for another token, sees. Run under
// -race, the writers and readers below would be reported if they shared
// memory with each other, the token cache or the policy's role lists.
func TestPrincipalOwnSlices(t *testing.T) {
	for _, cached := range []bool{false, true} {
		name := "uncached"
		if cached {
			name = "cached"
		}
		t.Run(name, func(t *testing.T) {
			v, _ := staticVerifier(t, func(c *Config) { c.TokenCache.Disabled = !cached })
			k := keys(t)
			writer := mint(t, RS256, k.rsa, "rsa1", baseClaims())
			other := baseClaims()
			other["sub"] = "bob@example.com"
			reader := mint(t, RS256, k.rsa, "rsa1", other)
			ctx := context.Background()

			first, err := v.Verify(ctx, writer)
			if err != nil {
				t.Fatal(err)
			}
			wantRoles := slices.Clone(first.Roles)
			wantScopes := slices.Clone(first.Scopes)
			wantGroups := slices.Clone(first.Groups)
			wantAud := slices.Clone(first.Audience)

			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					for range 50 {
						tok := reader
						if i%2 == 0 {
							tok = writer
						}
						p, err := v.Verify(ctx, tok)
						if err != nil {
							t.Error(err)
							return
						}
						if i%2 == 0 {
							// The careless handler.
							slices.Reverse(p.Roles)
							slices.Reverse(p.Scopes)
							for j := range p.Groups {
								p.Groups[j] = "Admins"
							}
							if len(p.Audience) > 0 {
								p.Audience[0] = "api://other"
							}
							p.Roles = append(p.Roles, RoleAdmin)
							p.Scopes = append(p.Scopes, "api.admin")
							continue
						}
						if !slices.Equal(p.Roles, wantRoles) || !slices.Equal(p.Scopes, wantScopes) ||
							!slices.Equal(p.Groups, wantGroups) || !slices.Equal(p.Audience, wantAud) {
							t.Errorf("a reader saw another handler's edits: roles %v scopes %v groups %v aud %v", p.Roles, p.Scopes, p.Groups, p.Audience)
							return
						}
					}
				})
			}
			wg.Wait()

			// The writer's own token, verified again, is as issued.
			p, err := v.Verify(ctx, writer)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Roles, wantRoles) || !slices.Equal(p.Scopes, wantScopes) || !slices.Equal(p.Groups, wantGroups) || !slices.Equal(p.Audience, wantAud) {
				t.Fatalf("cached principal changed by a handler: roles %v scopes %v groups %v aud %v", p.Roles, p.Scopes, p.Groups, p.Audience)
			}
			if p.Role != RoleWrite || !p.HasRole(RoleRead) || p.HasRole(RoleAdmin) {
				t.Fatalf("role = %q %v, want write (kept) and no admin (refused)", p.Role, p.Roles)
			}
			// The policy's shared role lists are intact.
			if !slices.Equal(rolesWrite, []string{RoleWrite, RoleRead}) || !slices.Equal(rolesAdmin, []string{RoleAdmin, RoleWrite, RoleRead}) {
				t.Fatalf("package role lists changed: %v %v", rolesWrite, rolesAdmin)
			}
		})
	}
}

// TestPrincipalCloneAppendIsolated: the slices of one principal share a
// backing array; an append to one must not write into the next.
func TestPrincipalCloneAppendIsolated(t *testing.T) {
	p := (&Principal{Audience: []string{"a"}, Scopes: []string{"s1", "s2"}, Groups: []string{"g"}, Roles: []string{RoleRead}}).Clone()
	p.Audience = append(p.Audience, "x")
	p.Scopes = append(p.Scopes, "y")
	if !slices.Equal(p.Scopes[:2], []string{"s1", "s2"}) || !slices.Equal(p.Groups, []string{"g"}) || !slices.Equal(p.Roles, []string{RoleRead}) {
		t.Fatalf("append leaked into a neighbour: %+v", p)
	}
	if q := (&Principal{}).Clone(); q.Scopes != nil || q.Roles != nil {
		t.Fatalf("empty principal grew slices: %+v", q)
	}
}
