// A real OAuth 2.0 authorization server (npm oauth2-mock-server) on 127.0.0.1, for the
// connection tests. It checks PKCE itself. On top of it, this script:
//   - keeps refresh tokens strictly: only issued, unrevoked ones are accepted (invalid_grant
//     otherwise); with `rotate` each refresh replaces the one used;
//   - takes JSON commands on stdin, one a line: {"set": {...}} changes the behaviour below and
//     answers {"ack": n}; {"invalidate": true} drops every refresh token;
//   - prints one JSON line per token, revocation or userinfo request on stdout (the test counts
//     them), and {"port": N} first.
// Behaviour: authorizeError (string|null), tokenError (string|null), omitRefresh (bool),
// rotate (bool), expiresIn (seconds), delayMs (token endpoint delay), userinfoStatus (number).
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import { OAuth2Server } from 'oauth2-mock-server';

const mode = {
  authorizeError: null,
  tokenError: null,
  omitRefresh: false,
  rotate: true,
  expiresIn: 3600,
  delayMs: 0,
  userinfoStatus: 200,
};
const validRefresh = new Set();
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
const service = server.service;

service.on('beforeAuthorizeRedirect', (redirect) => {
  if (mode.authorizeError) {
    redirect.url.searchParams.delete('code');
    redirect.url.searchParams.set('error', mode.authorizeError);
    redirect.url.searchParams.set('error_description', 'the user said no');
  }
});

service.on('beforeResponse', (response, req) => {
  const body = req.body ?? {};
  const auth = (req.headers.authorization ?? '').startsWith('Basic ') ? 'basic' : 'post';
  emit({
    event: 'token',
    grant: body.grant_type,
    refreshToken: body.refresh_token ?? null,
    codeVerifier: typeof body.code_verifier === 'string',
    clientAuth: auth,
    clientSecret: body.client_secret ?? null,
  });
  const fail = (error) => {
    response.statusCode = 400;
    response.body = { error, error_description: `mock says ${error}` };
  };
  if (mode.tokenError) return fail(mode.tokenError);
  if (body.grant_type === 'refresh_token') {
    if (!validRefresh.has(body.refresh_token)) return fail('invalid_grant');
    if (mode.rotate && !mode.omitRefresh) validRefresh.delete(body.refresh_token);
  }
  // Short opaque access tokens, so tests can compare them.
  response.body.access_token = `at-${randomUUID()}`;
  response.body.expires_in = mode.expiresIn;
  if (mode.omitRefresh) {
    delete response.body.refresh_token;
  } else {
    response.body.refresh_token = `rt-${randomUUID()}`;
    validRefresh.add(response.body.refresh_token);
  }
});

service.on('beforeRevoke', () => {
  emit({ event: 'revoke' });
});

service.on('beforeUserinfo', (response, req) => {
  emit({ event: 'userinfo', authorization: req.headers.authorization ?? null });
  response.statusCode = mode.userinfoStatus;
});

// The mock's own request handler behind a plain HTTP server of this script, which can slow the
// token endpoint down when asked (so concurrent callers overlap).
const handler = service.requestHandler;
const http = createServer((req, res) => {
  const go = () => handler(req, res);
  if (req.url.startsWith('/token') && mode.delayMs > 0) setTimeout(go, mode.delayMs);
  else go();
});
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
const port = http.address().port;
server.issuer.url = `http://127.0.0.1:${port}`;
emit({ port });

let acks = 0;
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line);
  if (cmd.set) Object.assign(mode, cmd.set);
  if (cmd.invalidate) validRefresh.clear();
  emit({ ack: ++acks });
}).on('close', () => process.exit(0));
