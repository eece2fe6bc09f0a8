// A real OpenID provider for chatapp's single sign-on tests: panva's oidc-provider (the
// certified Node.js implementation), configured from a JSON file, with a small sign-in page
// of its own (username and password) in place of the library's development pages.
//
//   node tests/oidc/provider.mjs CONFIG.json
//
// CONFIG: {"port": 0, "clients": [{client_id, client_secret, redirect_uris,
//          post_logout_redirect_uris}], "accounts": {"<login>": {"password": "…",
//          "claims": {"sub": "…", "email": "…", "email_verified": true, …}}}}
//
// Prints one line, `ready <issuer>`, once it listens. tests/oidc_provider.py starts and stops
// it; nothing here reaches any address but the loopback one it listens on (no web fonts, no
// scripts from elsewhere).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const port = config.port;
const issuer = `http://127.0.0.1:${port}`;
// Replaced by PUT /_test/accounts (a test changes someone's groups between two sign-ins).
let accounts = config.accounts;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"></head>
<body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

function accountFor(login) {
  const entry = Object.entries(accounts).find(([name]) => name === login);
  return entry ? entry[1] : undefined;
}

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource(ctx, form) {
        ctx.body = page(
          'Sign out of the test provider?',
          `${form}<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`,
        );
      },
      postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<p>You are signed out of the test provider.</p>');
      },
    },
  },
  // The application is first party: no consent screen, the grant is made at sign-in.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  async findAccount(ctx, sub) {
    const account = Object.values(accounts).find((candidate) => candidate.claims.sub === sub);
    if (!account) return undefined;
    return { accountId: sub, claims: async () => ({ ...account.claims }) };
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', Object.entries(out)
      .map(([key, value]) => `<p><strong>${escape(key)}</strong>: ${escape(value)}</p>`).join(''));
  },
});

function loginForm(uid, { login = '', error = '' } = {}) {
  return page('Test identity provider', `
${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
  <p><label for="login">Username</label> <input id="login" name="login" autocomplete="username" value="${escape(login)}" required></p>
  <p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
  <button type="submit">Sign in</button>
</form>`);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

const readForm = async (req) => new URLSearchParams(await readBody(req));

function send(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

const handleProtocol = provider.callback();

async function handleInteraction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Sign-in error', '<p>Wrong interaction.</p>'));
  if (details.prompt.name !== 'login') {
    // Consent is implied (loadExistingGrant); any other prompt just goes on.
    return provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
  }
  if (req.method === 'GET' && !action) return send(res, 200, loginForm(uid));
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const login = form.get('login') || '';
    const account = accountFor(login);
    if (!account || account.password !== form.get('password')) {
      return send(res, 200, loginForm(uid, { login, error: 'Wrong username or password.' }));
    }
    return provider.interactionFinished(
      req, res, { login: { accountId: account.claims.sub } }, { mergeWithLastSubmission: false },
    );
  }
  return send(res, 405, page('Sign-in error', '<p>Method not allowed.</p>'));
}

const server = http.createServer(async (req, res) => {
  if (req.url === '/_test/accounts' && req.method === 'PUT') {
    accounts = JSON.parse(await readBody(req));
    res.writeHead(204);
    return res.end();
  }
  const match = /^\/interaction\/([^/?]+)(?:\/(login))?(?:\?.*)?$/.exec(req.url);
  if (!match) return handleProtocol(req, res);
  try {
    await handleInteraction(req, res, match[1], match[2]);
  } catch (error) {
    send(res, 400, page('Sign-in error', `<p>${escape(error.message)}</p>`));
  }
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
