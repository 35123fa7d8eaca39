// An origin written the way Cloudflare tells origin owners to protect themselves: it trusts a
// request only if `Cf-Access-Jwt-Assertion` verifies against the team's
// `/cdn-cgi/access/certs`, with the team URL as issuer and the application's AUD tag as audience,
// using node `jose` exactly as in Cloudflare's documented recipe. Nothing here knows Portcullis.
//
// On success it answers 200 with the verified header and payload and the identity headers it
// received, so the suite can check what reached the origin. On failure it answers 403.
// `GET /__e2e/stats` (answered before any check) says how many requests arrived and how many were
// refused, so the suite can prove that refused users never reached the origin.
//
// Run with the localhost resolver so that the team URL `http://auth.localhost:<port>` resolves:
//   TEAM_DOMAIN=http://auth.localhost:8080 POLICY_AUD=<aud> PORT=8090 \
//     node --import ./lib/localhost-resolver.mjs origin.mjs

import http from 'node:http';

import { createRemoteJWKSet, jwtVerify } from 'jose';

const TEAM_DOMAIN = process.env.TEAM_DOMAIN;
const POLICY_AUD = process.env.POLICY_AUD;
const PORT = Number(process.env.PORT ?? '8090');
if (!TEAM_DOMAIN || !POLICY_AUD) {
  console.error('origin: TEAM_DOMAIN and POLICY_AUD are required');
  process.exit(2);
}

// The documented recipe, unchanged.
const CERTS_URL = `${TEAM_DOMAIN}/cdn-cgi/access/certs`;
const JWKS = createRemoteJWKSet(new URL(CERTS_URL));

const stats = { requests: 0, verified: 0, refused: 0 };

const server = http.createServer(async (req, res) => {
  if (req.url === '/__e2e/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    return;
  }
  stats.requests += 1;
  const token = req.headers['cf-access-jwt-assertion'];
  if (!token) {
    stats.refused += 1;
    res.writeHead(403, { 'content-type': 'application/json' })
      .end(JSON.stringify({ verified: false, error: 'missing required cf authorization token' }));
    return;
  }
  try {
    const { payload, protectedHeader } = await jwtVerify(token, JWKS, {
      issuer: TEAM_DOMAIN,
      audience: POLICY_AUD,
    });
    stats.verified += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      verified: true,
      header: protectedHeader,
      payload,
      method: req.method,
      url: req.url,
      host: req.headers.host,
      email_header: req.headers['cf-access-authenticated-user-email'] ?? null,
      cookie_header: req.headers.cookie ?? null,
    }));
  } catch (err) {
    stats.refused += 1;
    console.error(`origin: refused token: ${err.code ?? ''} ${err.message}`);
    res.writeHead(403, { 'content-type': 'application/json' })
      .end(JSON.stringify({ verified: false, error: err.code ?? err.message }));
  }
});

server.listen(PORT, '127.0.0.1', () => {
  console.log(`origin ready http://127.0.0.1:${PORT} team=${TEAM_DOMAIN}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
