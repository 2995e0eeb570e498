// A real OpenID provider on loopback for wardbook-server's sign-in tests:
// panva's certified oidc-provider, with synthetic accounts and a minimal
// login page of its own. Started by test-support/src/oidc.rs (OidcProvider).
//
//   node tests/oidc/provider.mjs [--port N] [--claims-in-id-token]
//        [--confidential-client ID] [--public-client ID] [--redirect-uri URI]...
//
// The confidential client's secret comes from OIDC_CLIENT_SECRET (not argv,
// which every process can read). --port 0 (the default, or OIDC_PORT) takes
// a free port. Both clients are native apps (RFC 8252) with the redirect URI
// http://127.0.0.1/callback by default: oidc-provider lets a native client's
// loopback redirect URI use any port (RFC 8252 section 7.3), so the test's
// listener may take any free port. PKCE is required of both.
//
// Stdout is the harness's: one JSON line {"issuer": "http://127.0.0.1:PORT",
// "kid": KID} once listening (KID: the key that signs), then one JSON line per command read from stdin:
//   {"cmd": "rotate"}  a new signing key is published and signs from now on
//                      (the old one stays published) -> {"rotated": KID}
//   {"cmd": "forge", "key": "current" | "rogue", "kid"?: KID, "claims": {...}}
//                      a JWT signed with the key that signs now, or with a
//                      key never published; iss, iat and exp (in 5 minutes)
//                      are filled in unless given; a null claim is left out
//                      -> {"token": JWT}
// Errors answer {"error": MESSAGE}. The provider stops when stdin closes.

import http from 'node:http';
import readline from 'node:readline';
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { parseArgs } from 'node:util';

import * as jose from 'jose';
import Provider from 'oidc-provider';

// oidc-provider's notices go to console.info: keep stdout for the harness.
console.info = console.error;
console.log = console.error;

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.OIDC_PORT ?? '0' },
    'confidential-client': { type: 'string', default: 'wardbook-confidential' },
    'public-client': { type: 'string', default: 'wardbook-public' },
    'redirect-uri': { type: 'string', multiple: true, default: ['http://127.0.0.1/callback'] },
    // By default (as the spec intends when an access token is issued) the ID
    // token carries no profile or groups claims: they come from userinfo.
    'claims-in-id-token': { type: 'boolean', default: false },
  },
});
const clientSecret = process.env.OIDC_CLIENT_SECRET ?? 'synthetic-client-secret';

// Synthetic people only. The passwords guard nothing; preferred_username is
// mixed case on purpose (Wardbook lower-cases it).
const ACCOUNTS = new Map([
  ['nurse.oidc', {
    sub: 'synthetic-oidc-0001', password: 'synthetic-nurse-password', synthetic: true,
    name: 'Synthetic Nurse (OIDC)', preferred_username: 'Nurse.OIDC', groups: ['wardbook-clinicians'],
  }],
  ['privacy.oidc', {
    sub: 'synthetic-oidc-0002', password: 'synthetic-privacy-password', synthetic: true,
    name: 'Synthetic Privacy Officer (OIDC)', preferred_username: 'privacy.oidc', groups: ['wardbook-privacy'],
  }],
  ['nobody.oidc', {
    sub: 'synthetic-oidc-0003', password: 'synthetic-nobody-password', synthetic: true,
    name: 'Synthetic Nobody (OIDC)', preferred_username: 'nobody.oidc', groups: [],
  }],
]);
const bySub = new Map([...ACCOUNTS.values()].map((a) => [a.sub, a]));

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  return { kid, privateKey, jwk: { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' } };
}

// Newest first: oidc-provider signs with the first key that fits.
const signingKeys = [await newKey()];
const rogueKey = await newKey();
const cookieKeys = [randomBytes(32).toString('hex')];

function configuration() {
  const native = { application_type: 'native', redirect_uris: opts['redirect-uri'], grant_types: ['authorization_code'], response_types: ['code'] };
  return {
    clients: [
      { ...native, client_id: opts['confidential-client'], client_secret: clientSecret, token_endpoint_auth_method: 'client_secret_basic' },
      { ...native, client_id: opts['public-client'], token_endpoint_auth_method: 'none' },
    ],
    jwks: { keys: signingKeys.map((k) => k.jwk) },
    cookies: { keys: cookieKeys },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], groups: ['groups'] },
    conformIdTokenClaims: !opts['claims-in-id-token'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const account = bySub.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, name: account.name, preferred_username: account.preferred_username, groups: account.groups };
        },
      };
    },
  };
}

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(opts.port), '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

let provider = new Provider(issuer, configuration());
let handle = provider.callback();

server.on('request', async (req, res) => {
  try {
    if (/^\/interaction\/[^/?]+(\?.*)?$/.test(req.url)) {
      await interaction(req, res);
    } else {
      handle(req, res);
    }
  } catch (e) {
    console.error(e);
    if (!res.headersSent) res.statusCode = 400;
    res.end('The sign-in cannot go on: start again.');
  }
});

// The login page: a form posting `login` and `password` back to itself.
async function interaction(req, res) {
  const { uid, prompt, params, session } = await provider.interactionDetails(req, res);
  if (prompt.name === 'consent' && session?.accountId) {
    // Already signed in at the provider: Wardbook is first-party, grant at once.
    return finish(req, res, session.accountId, params, false);
  }
  if (req.method === 'GET') return page(res, uid, 200, '');
  if (req.method !== 'POST') return page(res, uid, 405, 'Use the form.');
  const form = new URLSearchParams(await body(req));
  const account = ACCOUNTS.get((form.get('login') ?? '').trim().toLowerCase());
  if (!account || !sameText(account.password, form.get('password') ?? '')) {
    return page(res, uid, 401, 'Wrong user name or password.');
  }
  return finish(req, res, account.sub, params, true);
}

async function finish(req, res, accountId, params, login) {
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  const grantId = await grant.save();
  const result = { consent: { grantId }, ...(login ? { login: { accountId } } : {}) };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

function page(res, uid, status, message) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><title>Synthetic sign-in</title>
<p>${message}</p>
<form method="post" action="/interaction/${encodeURIComponent(uid)}">
<label>User name <input name="login" autofocus></label>
<label>Password <input name="password" type="password"></label>
<button>Sign in</button></form>`);
}

function body(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      text += chunk;
      if (text.length > 10_000) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

function sameText(a, b) {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

async function command(cmd) {
  switch (cmd.cmd) {
    case 'rotate': {
      signingKeys.unshift(await newKey());
      // A new instance with the new key set, on the same port and issuer;
      // sessions and codes live in oidc-provider's module-wide memory store.
      provider = new Provider(issuer, configuration());
      handle = provider.callback();
      return { rotated: signingKeys[0].kid };
    }
    case 'forge': {
      const key = cmd.key === 'rogue' ? rogueKey : signingKeys[0];
      const now = Math.floor(Date.now() / 1000);
      const claims = Object.fromEntries(
        Object.entries({ iss: issuer, iat: now, exp: now + 300, ...cmd.claims }).filter(([, v]) => v !== null),
      );
      const token = await new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: cmd.kid ?? key.kid })
        .sign(key.privateKey);
      return { token };
    }
    default:
      return { error: `unknown command ${JSON.stringify(cmd.cmd)}` };
  }
}

const reply = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const commands = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
commands.on('line', (line) => {
  // One at a time, answered in order.
  queue = queue.then(async () => {
    try {
      reply(await command(JSON.parse(line)));
    } catch (e) {
      reply({ error: String(e?.message ?? e) });
    }
  });
});
commands.on('close', () => process.exit(0));

reply({ issuer, kid: signingKeys[0].kid });
