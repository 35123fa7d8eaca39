// A real OpenID Provider for the end-to-end suite: node's `oidc-provider` (OpenID-certified), set up
// the way a typical company IdP is, so that Portcullis is checked against somebody else's
// implementation of the protocol rather than against our own demo IdP.
//
// What it offers:
// - one confidential client per ID-token signing alg (`portcullis-rs256`, `portcullis-es512`, …),
//   all with `client_secret_basic`, plus `portcullis-post` (RS256, `client_secret_post`);
// - PKCE required for every client (so a gateway that forgets it fails);
// - claims email, email_verified, name, groups, employee_id (string) and roles (array);
// - a minimal login form with password check and automatic consent, so that curl can drive it;
// - `GET /__e2e/issued`: which alg each client's last ID token was signed with, so the suite can
//   prove the gateway really verified a token of the alg under test.
//
// What it is not: a general test IdP. It keeps everything in memory and trusts its own keys,
// generated at every start.
//
// Usage: node idp.mjs --port 9000 --redirect-uri http://auth.localhost:8080/cdn-cgi/access/callback
//        [--secret S]   (prints "idp ready <issuer>" on stdout when it listens)

import crypto from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

// Every asymmetric signing alg oidc-provider 8 can put on an ID token on node 20, except ES256K
// (secp256k1), which no mainstream IdP uses and Portcullis does not accept. Left out on purpose:
// HS256/HS384/HS512 (symmetric: Portcullis refuses HMAC-signed ID tokens by design). oidc-provider 9
// adds the fully-specified `Ed25519` name and ML-DSA, but needs node 22; this machine has node 20.
export const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

// Demo accounts. `profile` carries the custom claims so that a gateway asking for the default
// scopes (openid email profile) receives them, as company IdPs commonly do.
const ACCOUNTS = {
  alice: {
    password: 'alice-password',
    claims: {
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Example',
      groups: ['staff', 'admins'],
      employee_id: 'E-1001',
      roles: ['reader', 'writer'],
    },
  },
  bob: {
    password: 'bob-password',
    claims: {
      email: 'bob@example.org',
      email_verified: true,
      name: 'Bob Outsider',
      groups: ['contractors'],
      employee_id: 'E-2002',
      roles: ['reader'],
    },
  },
};

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '9000' },
    host: { type: 'string', default: '127.0.0.1' },
    'redirect-uri': { type: 'string', multiple: true },
    secret: { type: 'string', default: 'e2e-client-secret-9f2c41' },
  },
});

if (!args['redirect-uri'] || args['redirect-uri'].length === 0) {
  console.error('idp: --redirect-uri is required');
  process.exit(2);
}

const issuer = `http://${args.host}:${args.port}`;

/** One private JWK per key type; oidc-provider picks the key that fits each client's alg. */
function signingKeys() {
  const make = (type, options, kid) => {
    const { privateKey } = crypto.generateKeyPairSync(type, options);
    return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
  };
  return [
    make('rsa', { modulusLength: 2048 }, 'e2e-rsa'),
    make('ec', { namedCurve: 'P-256' }, 'e2e-p256'),
    make('ec', { namedCurve: 'P-384' }, 'e2e-p384'),
    make('ec', { namedCurve: 'P-521' }, 'e2e-p521'),
    make('ed25519', {}, 'e2e-ed25519'),
  ];
}

const clients = ALGS.map((alg) => ({
  client_id: `portcullis-${alg.toLowerCase()}`,
  client_secret: args.secret,
  redirect_uris: args['redirect-uri'],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: alg,
}));
clients.push({
  client_id: 'portcullis-post',
  client_secret: args.secret,
  redirect_uris: args['redirect-uri'],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_post',
  id_token_signed_response_alg: 'RS256',
});

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: signingKeys() },
  enabledJWA: { idTokenSigningAlgValues: ALGS },
  pkce: { methods: ['S256'], required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'groups', 'employee_id', 'roles'],
  },
  features: { devInteractions: { enabled: false } },
  // Put the granted claims into the ID token even in the code flow: Cloudflare's generic OIDC
  // connector (and so Portcullis) reads claims from the ID token, not from userinfo.
  conformIdTokenClaims: false,
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const account = ACCOUNTS[sub];
    if (!account) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...account.claims }) };
  },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  ttl: { Session: 600, Interaction: 600, Grant: 600, AuthorizationCode: 60, IdToken: 300, AccessToken: 300 },
});

// Record the alg of every ID token the token endpoint hands out.
const issued = {};
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body && typeof ctx.body.id_token === 'string') {
    const header = JSON.parse(Buffer.from(ctx.body.id_token.split('.')[0], 'base64url').toString());
    const payload = JSON.parse(Buffer.from(ctx.body.id_token.split('.')[1], 'base64url').toString());
    issued[payload.aud] = { alg: header.alg, kid: header.kid, sub: payload.sub, at: Date.now() };
  }
});

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, clientId, error) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>e2e IdP sign-in</title></head><body>
<h1>e2e IdP</h1><p>Sign in to continue to ${escapeHtml(clientId)}</p>
${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<input name="login" autocomplete="username"><input name="password" type="password">
<button type="submit">Sign in</button></form></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 16384) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

/** Login with password check; consent granted automatically for whatever was asked. */
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    res.writeHead(400).end('interaction mismatch');
    return;
  }
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(uid, params.client_id));
      return;
    }
    if (req.method === 'POST' && action === 'login') {
      const form = await readForm(req);
      const account = ACCOUNTS[form.get('login') ?? ''];
      if (!account || account.password !== form.get('password')) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end(loginPage(uid, params.client_id, 'Wrong user name or password'));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: form.get('login') } }, {
        mergeWithLastSubmission: false,
      });
      return;
    }
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.writeHead(400).end(`unsupported prompt ${prompt.name}`);
}

const handle = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const m = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/);
    if (m) {
      await interaction(req, res, m[1], m[2]);
      return;
    }
    if (url.pathname === '/__e2e/issued') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(issued));
      return;
    }
    handle(req, res);
  } catch (err) {
    console.error('idp: interaction failed:', err);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`idp error: ${err.message}`);
  }
});

server.listen(Number(args.port), args.host, () => {
  console.log(`idp ready ${issuer}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
