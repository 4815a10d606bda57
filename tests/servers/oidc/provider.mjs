// A real, certified OpenID provider (panva/node-oidc-provider) for NornFlow's single sign-on tests.
//
// Usage: node provider.mjs CONFIG.json
//   CONFIG: {"port": N, "issuer": "http://127.0.0.1:N", "usersFile": "users.json", "clients": [...]}
//   users.json: [{"sub", "username", "password", "email", "groups": [...]}, ...], read again on every
//   lookup, so a test changes a person's groups (or removes the person) by rewriting the file.
//
// Everything the gateway relies on is the library's own: discovery, the authorization endpoint,
// PKCE (required here), the token endpoint (code and refresh_token grants), JWKS, userinfo and
// RP-initiated logout. Only the login page is ours: a user name and password form checked against
// users.json, since the library's development login accepts any name without a password.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = () => JSON.parse(readFileSync(config.usersFile, 'utf8'));

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, RefreshToken: 86400 },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // First-party client: no consent page; the grant holds what the client asked for.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
    await grant.save();
    return grant;
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  // A person no longer in users.json has no account: logins and refreshes for them fail.
  async findAccount(ctx, sub) {
    const user = users().find((u) => u.sub === sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub, preferred_username: user.username, name: user.username, email: user.email,
          email_verified: true, groups: user.groups,
        };
      },
    };
  },
});

const loginPage = (uid, error) => `<!doctype html><html><head><meta charset=utf-8><title>Test IdP sign-in</title></head>
<body><h1>Test identity provider</h1>${error ? `<p role=alert>${escapeHtml(error)}</p>` : ''}
<form method=post action="/interaction/${escapeHtml(uid)}/login">
<label>User name <input name=username autocomplete=username></label>
<label>Password <input name=password type=password autocomplete=current-password></label>
<button type=submit>Sign in</button></form></body></html>`;

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!match) return next();
  ctx.set('cache-control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.prompt.name !== 'login') {
    // Consent is granted by loadExistingGrant; any other prompt finishes as is.
    return provider.interactionFinished(ctx.req, ctx.res, {}, { mergeWithLastSubmission: true });
  }
  if (ctx.method === 'GET' && !match[2]) {
    ctx.type = 'html';
    ctx.body = loginPage(details.uid, '');
    return undefined;
  }
  if (ctx.method === 'POST' && match[2]) {
    const form = await readForm(ctx.req);
    const user = users().find((u) => u.username === form.get('username') && u.password === form.get('password'));
    if (!user) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginPage(details.uid, 'Wrong user name or password.');
      return undefined;
    }
    return provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.sub } },
      { mergeWithLastSubmission: false });
  }
  return next();
});

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`READY ${config.issuer}`);
});
