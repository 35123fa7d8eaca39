// Loaded with `node --import` by the e2e origin (and anything else in node that must reach
// `*.localhost`): answers every lookup of `localhost` or a name under `.localhost` with loopback,
// as RFC 6761 §6.3 asks resolvers to do and as curl, browsers and systemd's nss-myhostname already
// do. Debian's default resolver (files, then DNS) does not, so without this node's fetch cannot
// reach `http://auth.localhost:<port>`, which is the team URL and therefore the token issuer.
//
// This keeps the origin code byte-for-byte the recipe Cloudflare documents (a plain
// `createRemoteJWKSet(new URL(TEAM + "/cdn-cgi/access/certs"))`), instead of bending the recipe
// with a custom fetch or Host header. It changes nothing for other names.

import dns from 'node:dns';

const isLocalhost = (name) => typeof name === 'string'
  && (name.toLowerCase() === 'localhost' || name.toLowerCase().endsWith('.localhost')
    || name.toLowerCase().endsWith('.localhost.'));

const originalLookup = dns.lookup;

function lookup(hostname, options, callback) {
  const cb = typeof options === 'function' ? options : callback;
  const opts = typeof options === 'function' ? {} : (typeof options === 'number' ? { family: options } : options ?? {});
  if (!isLocalhost(hostname)) {
    return originalLookup.call(dns, hostname, options, callback);
  }
  const family = opts.family === 6 ? 6 : 4;
  const address = family === 6 ? '::1' : '127.0.0.1';
  process.nextTick(() => {
    if (opts.all) cb(null, [{ address, family }]);
    else cb(null, address, family);
  });
  return undefined;
}

dns.lookup = lookup;

const originalPromiseLookup = dns.promises.lookup;
dns.promises.lookup = async (hostname, options) => {
  if (!isLocalhost(hostname)) return originalPromiseLookup.call(dns.promises, hostname, options);
  const opts = typeof options === 'number' ? { family: options } : options ?? {};
  const family = opts.family === 6 ? 6 : 4;
  const address = family === 6 ? '::1' : '127.0.0.1';
  return opts.all ? [{ address, family }] : { address, family };
};
