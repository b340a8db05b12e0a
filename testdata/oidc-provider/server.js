// Runs an independent OpenID provider (the npm package oidc-provider) for
// oktafed's tests, so token handling is checked against someone else's
// implementation rather than our own assumptions.
//
// Usage: node server.js CONFIG.json
//
// The Go helper (internal/testenv, OIDCProvider) writes CONFIG.json:
//
//   {
//     "clients":   [client metadata objects, passed to oidc-provider as is],
//     "resources": [{"audience": "api://...", "scopes": ["read"], "alg": "RS256", "ttl": 3600}],
//     "extraClaims": {"claim": "value"}
//   }
//
// The server listens on 127.0.0.1 on a port the kernel picks (so no other
// process can race us for it), then prints one JSON line that starts with
// {"ready":true and names the issuer and endpoints. It exits when its stdin
// closes, so it never outlives the test process that started it.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';

import Provider, { errors } from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node server.js CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));

// Fresh keys each run: tests fetch them from the JWKS endpoint like any
// relying party would, and stale keys from an earlier run can never verify.
function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`, alg, use: 'sig' };
}
const keys = [
  // RS256 first: it is what Okta signs with and the default for ID tokens.
  signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
  signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
];

const resources = new Map();
for (const r of config.resources || []) {
  resources.set(r.audience, r);
}
const defaultAudience = (config.resources || [])[0]?.audience;
const extraClaims = config.extraClaims || {};

const server = createServer();
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: config.clients || [],
  jwks: { keys },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A token request without a resource parameter gets the first
      // configured audience, as an Okta authorization server with one
      // audience would behave.
      defaultResource: async (_ctx, _client, oneOf) => oneOf || defaultAudience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        const r = resources.get(resourceIndicator);
        if (!r) {
          throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
        }
        return {
          audience: r.audience,
          scope: (r.scopes || []).join(' '),
          accessTokenTTL: r.ttl || 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: r.alg || 'RS256' } },
        };
      },
    },
  },
  formats: {
    customizers: {
      // Okta access tokens carry the client as "cid" and the scopes as the
      // array "scp"; adding them lets tests exercise Okta-shaped claims
      // while the standard claims stay as oidc-provider writes them.
      jwt: async (_ctx, token, jwt) => {
        jwt.payload.cid = token.clientId;
        jwt.payload.scp = token.scope ? token.scope.split(' ') : [];
        Object.assign(jwt.payload, extraClaims);
      },
    },
  },
});
provider.on('server_error', (_ctx, err) => {
  console.error('server_error', err);
});

server.on('request', provider.callback());

const discovery = {
  ready: true,
  issuer,
  token_endpoint: `${issuer}/token`,
  jwks_uri: `${issuer}/jwks`,
  kids: keys.map((k) => k.kid),
};
process.stdout.write(`${JSON.stringify(discovery)}\n`);

// The parent holds our stdin open; end of input means it has gone away.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
