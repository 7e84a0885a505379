// The package against a real `ssi agent` and `ssi server`, with Chromium answering the
// screens: every method, every status the agent can return, and the seed's samples
// (examples/, built to build/examples/) run end to end.
//
// Started by the Rust test crates/ssi/tests/it/js_sdk.rs (see test/e2e/README.md),
// which runs the server and the agent, installs the apps, drives Chromium as the
// device's user and passes everything in SSI_E2E (JSON). The user on the screen acts on
// what it reads there:
// - consent: "[allow]" in the login name: Allow; "[deny]": Not now; else nothing;
// - login selection: the entry with "[pick]" in its name; else "Sign in manually" when
//   an entry has "[manual]"; else nothing (the screen times out).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import {
  FailureReason,
  LinkAccountSuccessCode,
  RequestStatus,
  SSIEvent,
  SimpleSignInClient,
  SimpleSignInService,
  UserSelection,
} from '@ssi/simplesignin';

import { sealToAppKey } from './seal.mjs';

const run = promisify(execFile);

assert.ok(process.env.SSI_E2E, 'SSI_E2E is not set: these tests run from `cargo test -p ssi --test it js_sdk` (test/e2e/README.md)');
/** @type {{bin: string, issuer: string, idp: string, serverPid: number, control: string,
 *  screenTimeoutSecs: number, serverTimeoutMs: number,
 *  apps: Record<string, {socket: string, packageId: string}>}} */
const e2e = JSON.parse(process.env.SSI_E2E);
const { apps, idp } = e2e;
const sdkDir = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'ssi-sdk-e2e-'));
const linkTokenKey = join(work, 'ltk.jwk');
const otherAppKey = join(work, 'other-app.jwk');
const otherAppPublicKey = join(work, 'other-app.pub.jwk');
const appPublicKey = join(work, 'app.pub.jwk');
let appPublicJwk;
let amazonUserId;

/** A client of one installed app, as that app's process would have. */
const clients = new Map();
function appClient(name) {
  if (!clients.has(name)) clients.set(name, new SimpleSignInClient({ socketPath: apps[name].socket }));
  return clients.get(name);
}

async function ssi(...args) {
  const { stdout } = await run(e2e.bin, args, { maxBuffer: 1 << 20 });
  return stdout;
}

/** What the partner backend hands the app for linkUserAccount (`ssi token link-token`). */
async function linkMaterial(partnerUserId, publicKeyFile = appPublicKey) {
  const out = await ssi(
    'token', 'link-token',
    '--partner-user-id', partnerUserId,
    '--platform-user-id', amazonUserId,
    '--link-token-key', linkTokenKey,
    '--app-public-key', publicKeyFile,
  );
  const { linkToken, linkSigningKey } = JSON.parse(out);
  return { linkToken, linkSigningKey };
}

async function linkRequest(partnerUserId, userLoginName) {
  return { partnerUserId, identityProviderName: idp, userLoginName, ...(await linkMaterial(partnerUserId)) };
}

/** The partner backend's verification of an SSI token (`ssi token verify`). */
async function verify(ssiToken) {
  const out = await ssi(
    'token', 'verify',
    '--token', JSON.stringify(ssiToken),
    '--link-token-key', linkTokenKey,
    '--idp', idp,
    '--issuer', e2e.issuer,
  );
  return JSON.parse(out);
}

/** Runs a compiled seed sample as the app's process; returns its `outcome:` line. */
async function runExample(name, env) {
  const { stdout } = await run(process.execPath, [join(sdkDir, 'build/examples', `${name}.js`)], {
    cwd: sdkDir,
    env: { ...process.env, SSI_APP_SOCKET: apps.full.socket, IDP_NAME: idp, ...env },
  });
  const line = stdout.split('\n').find((l) => l.startsWith('outcome: '));
  assert.ok(line, `${name} printed no outcome:\n${stdout}`);
  const rest = line.slice('outcome: '.length);
  const brace = rest.indexOf('{');
  return { what: rest.slice(0, brace).trim(), detail: JSON.parse(rest.slice(brace)) };
}

async function control(action) {
  const response = await fetch(`${e2e.control}/${action}`, { method: 'POST' });
  assert.equal(response.status, 200, `control ${action}: ${await response.text()}`);
}

before(async () => {
  await ssi('token', 'keygen', 'link-token', '--out', linkTokenKey);
  await ssi('token', 'keygen', 'app', '--out', otherAppKey, '--public-out', otherAppPublicKey);
  const jwks = await (await fetch(`${e2e.issuer}/v1/apps/${apps.full.packageId}/jwks.json`)).json();
  appPublicJwk = jwks.keys[0];
  writeFileSync(appPublicKey, JSON.stringify(appPublicJwk));
  // The seed's API as an app uses it: SimpleSignInService, its socket from the environment.
  process.env.SSI_APP_SOCKET = apps.full.socket;
});

after(() => {
  for (const client of clients.values()) client.close();
  rmSync(work, { recursive: true, force: true });
});

test('getUserAndLinks: SUCCESSFUL with the directed user id and no links yet', async () => {
  const response = await SimpleSignInService.getUserAndLinks(idp);
  assert.equal(response.requestStatus, RequestStatus.SUCCESSFUL, JSON.stringify(response));
  assert.match(response.amazonUserId, /^.{8,}$/);
  assert.deepEqual(response.links, []);
  amazonUserId = response.amazonUserId;
});

test('the sign-in sample with no links yet falls back to the standard login', async () => {
  const outcome = await runExample('sign-in');
  assert.equal(outcome.what, 'standard login: no links yet');
});

test('the linking sample: Allow gives LINK_ESTABLISHED; again gives LINK_ALREADY_EXISTS with no screen', async () => {
  const material = await linkMaterial('jo [pick]');
  const env = {
    PARTNER_USER_ID: 'jo [pick]',
    USER_LOGIN_NAME: 'Jo [allow]',
    LINK_TOKEN: material.linkToken.token,
    LINK_SIGNING_KEY: material.linkSigningKey,
  };
  const first = await runExample('link', env);
  assert.equal(first.what, 'link established');
  assert.equal(first.detail.requestStatus, RequestStatus.SUCCESSFUL);
  assert.equal(first.detail.successCode, LinkAccountSuccessCode.LINK_ESTABLISHED);
  assert.match(first.detail.linkId, /^[A-Za-z0-9_-]+$/);
  // A screen would be left unanswered ("[ignore]") and time out: none may show.
  const again = await runExample('link', { ...env, USER_LOGIN_NAME: 'Jo [ignore]' });
  assert.deepEqual(again.detail, {
    requestStatus: RequestStatus.SUCCESSFUL,
    successCode: LinkAccountSuccessCode.LINK_ALREADY_EXISTS,
    linkId: first.detail.linkId,
  });
});

test('getUserAndLinks lists the link with an SSI token that the partner backend verifies', async () => {
  const response = await SimpleSignInService.getUserAndLinks(idp);
  assert.equal(response.requestStatus, RequestStatus.SUCCESSFUL);
  assert.equal(response.links.length, 1);
  const [link] = response.links;
  assert.equal(link.partnerUserId, 'jo [pick]');
  assert.equal(link.identityProviderName, idp);
  assert.equal(link.amazonUserId, amazonUserId);
  assert.equal(link.ssiToken.schema, 'SSI-TOKEN-1.0');
  assert.match(link.linkedTimestamp, /^[0-9]{13}$/, 'a string of epoch milliseconds');
  assert.ok(Math.abs(Number(link.linkedTimestamp) - Date.now()) < 10 * 60_000);
  const claims = await verify(link.ssiToken);
  assert.equal(claims.partnerUserId, 'jo [pick]');
});

test('the sign-in sample: the user picks the link on the screen: LOGIN_SELECTED with its linkId', async () => {
  const { links } = await SimpleSignInService.getUserAndLinks(idp);
  const outcome = await runExample('sign-in');
  assert.equal(outcome.what, 'signed in with a link');
  assert.deepEqual(outcome.detail, { linkId: links[0].linkId });
});

test('showLoginSelection: LOGIN_SELECTED carries a fresh SSI token that verifies', async () => {
  const { links } = await SimpleSignInService.getUserAndLinks(idp);
  const response = await SimpleSignInService.showLoginSelection([{ loginName: 'Jo [pick]', linkId: links[0].linkId }]);
  assert.equal(response.requestStatus, RequestStatus.SUCCESSFUL, JSON.stringify(response));
  assert.equal(response.userSelection, UserSelection.LOGIN_SELECTED);
  assert.equal(response.linkId, links[0].linkId);
  const claims = await verify(response.ssiToken);
  assert.equal(claims.partnerUserId, 'jo [pick]');
});

test('showLoginSelection: "Sign in manually" gives MANUAL_SIGN_IN', async () => {
  const { links } = await SimpleSignInService.getUserAndLinks(idp);
  const response = await SimpleSignInService.showLoginSelection([{ loginName: 'Jo [manual]', linkId: links[0].linkId }]);
  assert.deepEqual(response, { requestStatus: RequestStatus.SUCCESSFUL, userSelection: UserSelection.MANUAL_SIGN_IN });
});

test('showLoginSelection left unanswered: SUCCESSFUL with NOT_APPLICABLE after the screen timeout', async () => {
  const { links } = await SimpleSignInService.getUserAndLinks(idp);
  const started = Date.now();
  const response = await SimpleSignInService.showLoginSelection([{ loginName: 'Jo [ignore]', linkId: links[0].linkId }]);
  assert.deepEqual(response, { requestStatus: RequestStatus.SUCCESSFUL, userSelection: UserSelection.NOT_APPLICABLE });
  assert.ok(Date.now() - started >= e2e.screenTimeoutSecs * 1000 - 100, 'answered after the timeout');
});

test('showLoginSelection of a link that is not the user\'s: FAILURE naming the entry, no screen', async () => {
  const { links } = await SimpleSignInService.getUserAndLinks(idp);
  const response = await SimpleSignInService.showLoginSelection([
    { loginName: 'Jo [pick]', linkId: links[0].linkId },
    { loginName: 'Eve [pick]', linkId: 'not-a-link-of-this-user' },
  ]);
  assert.equal(response.requestStatus, RequestStatus.FAILURE);
  assert.match(response.message, /^loginNames\[1\]\.linkId: /);
});

test('linkUserAccount: Not now gives CONSENT_DENIED; within the cool-down it is answered at once', async () => {
  const request = await linkRequest('sam', 'Sam [deny]');
  const denied = await SimpleSignInService.linkUserAccount(request);
  assert.deepEqual(denied, { requestStatus: RequestStatus.SUCCESSFUL, successCode: LinkAccountSuccessCode.CONSENT_DENIED });
  // A screen would be left unanswered and time out: none may show.
  const again = await SimpleSignInService.linkUserAccount({ ...request, userLoginName: 'Sam [ignore]' });
  assert.deepEqual(again, denied);
  const { links } = await SimpleSignInService.getUserAndLinks(idp);
  assert.deepEqual(links.map((l) => l.partnerUserId), ['jo [pick]'], 'no link for a denied consent');
});

test('the linking sample after Not now takes its consent-denied branch', async () => {
  const material = await linkMaterial('sam');
  const outcome = await runExample('link', {
    PARTNER_USER_ID: 'sam',
    USER_LOGIN_NAME: 'Sam [deny]',
    LINK_TOKEN: material.linkToken.token,
    LINK_SIGNING_KEY: material.linkSigningKey,
  });
  assert.equal(outcome.what, 'not linked: consent denied, or an error');
  assert.equal(outcome.detail.successCode, LinkAccountSuccessCode.CONSENT_DENIED);
});

test('linkUserAccount left unanswered: FAILURE with NOT_APPLICABLE after the screen timeout', async () => {
  const response = await SimpleSignInService.linkUserAccount(await linkRequest('kim', 'Kim [ignore]'));
  assert.equal(response.requestStatus, RequestStatus.FAILURE);
  assert.equal(response.successCode, LinkAccountSuccessCode.NOT_APPLICABLE);
  assert.match(response.message, /not answered within/);
});

test('a second screen call while one is open: DUPLICATE_REQUEST; other calls are not held up', async () => {
  const { links } = await SimpleSignInService.getUserAndLinks(idp);
  const open = SimpleSignInService.linkUserAccount(await linkRequest('lee', 'Lee [ignore]'));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const [selection, link, user, metric] = await Promise.all([
    SimpleSignInService.showLoginSelection([{ loginName: 'Jo [pick]', linkId: links[0].linkId }]),
    SimpleSignInService.linkUserAccount(await linkRequest('max', 'Max [allow]')),
    SimpleSignInService.getUserAndLinks(idp),
    SimpleSignInService.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: Date.now() }),
  ]);
  assert.equal(selection.requestStatus, RequestStatus.DUPLICATE_REQUEST);
  assert.equal(link.requestStatus, RequestStatus.DUPLICATE_REQUEST);
  assert.equal(user.requestStatus, RequestStatus.SUCCESSFUL);
  assert.equal(metric.requestStatus, RequestStatus.SUCCESSFUL);
  const first = await open;
  assert.equal(first.successCode, LinkAccountSuccessCode.NOT_APPLICABLE);
});

test('a link signing key sealed to another key: INVALID_LINK_SIGNING_KEY_ENCRYPTION, no screen', async () => {
  const material = await linkMaterial('ann', otherAppPublicKey);
  const response = await SimpleSignInService.linkUserAccount({
    partnerUserId: 'ann',
    identityProviderName: idp,
    userLoginName: 'Ann [allow]',
    ...material,
  });
  assert.equal(response.requestStatus, RequestStatus.INVALID_LINK_SIGNING_KEY_ENCRYPTION, JSON.stringify(response));
});

test('a sealed link signing key that is not a P-256 private key: INVALID_LINK_SIGNING_KEY, no screen', async () => {
  const { linkToken } = await linkMaterial('bob');
  const notAKey = JSON.stringify({ kty: 'oct', k: Buffer.alloc(32, 7).toString('base64url') });
  const response = await SimpleSignInService.linkUserAccount({
    partnerUserId: 'bob',
    identityProviderName: idp,
    userLoginName: 'Bob [allow]',
    linkToken,
    linkSigningKey: sealToAppKey(notAKey, appPublicJwk),
  });
  assert.equal(response.requestStatus, RequestStatus.INVALID_LINK_SIGNING_KEY, JSON.stringify(response));
});

test('recordMetricEvent: SUCCESSFUL for every event, with timestamp or epochTimestamp; the seed sample too', async () => {
  const now = Date.now();
  const events = [
    { ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: now },
    { ssiEvent: SSIEvent.MANUAL_SIGNIN_SELECTED, epochTimestamp: String(now) },
    ...Object.values(FailureReason).map((failureReason) => ({ ssiEvent: SSIEvent.LOGIN_FAILURE, epochTimestamp: now, failureReason })),
  ];
  for (const event of events) {
    assert.deepEqual(await SimpleSignInService.recordMetricEvent(event), { requestStatus: RequestStatus.SUCCESSFUL }, JSON.stringify(event));
  }
  const outcome = await runExample('record-metric');
  assert.deepEqual(outcome, { what: 'recorded', detail: { requestStatus: RequestStatus.SUCCESSFUL } });
});

test('an app without a privilege gets FAILURE naming it, for the calls that need it', async () => {
  const request = await linkRequest('cy', 'Cy [allow]');
  const consent = await appClient('noConsent').linkUserAccount(request);
  assert.equal(consent.requestStatus, RequestStatus.FAILURE);
  assert.match(consent.message, /com\.amazon\.dms\.ssi\.consent/);
  assert.equal((await appClient('noConsent').getUserAndLinks(idp)).requestStatus, RequestStatus.SUCCESSFUL);

  const selection = await appClient('noLoginSelection').showLoginSelection([{ loginName: 'Jo [pick]', linkId: 'l1' }]);
  assert.equal(selection.requestStatus, RequestStatus.FAILURE);
  assert.match(selection.message, /com\.amazon\.dms\.ssi\.loginselection/);

  for (const call of [
    (c) => c.getUserAndLinks(idp),
    (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: Date.now() }),
  ]) {
    const response = await call(appClient('noService'));
    assert.equal(response.requestStatus, RequestStatus.FAILURE);
    assert.match(response.message, /com\.amazon\.dms\.ssi\.service/);
  }
});

test('an app the owner turned SSI off for: FEATURE_TURNED_OFF', async () => {
  const response = await appClient('turnedOff').getUserAndLinks(idp);
  assert.equal(response.requestStatus, RequestStatus.FEATURE_TURNED_OFF, JSON.stringify(response));
});

test('an app the operator blocked: NOT_AVAILABLE', async () => {
  const response = await appClient('blocked').getUserAndLinks(idp);
  assert.equal(response.requestStatus, RequestStatus.NOT_AVAILABLE, JSON.stringify(response));
});

test('a request of another protocol version is answered NOT_SUPPORTED, in a result the package reads', async () => {
  // The package always speaks version 1; an older or newer SDK is played by hand.
  const socket = net.createConnection(apps.full.socket);
  const line = await new Promise((resolve, reject) => {
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk;
      if (buffered.includes('\n')) resolve(buffered.slice(0, buffered.indexOf('\n')));
    });
    socket.on('error', reject);
    socket.write(`${JSON.stringify({ protocol: 2, id: 'v2', method: 'getUserAndLinks', params: { identityProviderName: idp } })}\n`);
  });
  socket.destroy();
  const envelope = JSON.parse(line);
  assert.equal(envelope.id, 'v2');
  assert.equal(envelope.result.requestStatus, RequestStatus.NOT_SUPPORTED);
  assert.match(envelope.result.message, /protocol/);
});

test('the server not answering: RETRYABLE_FAILURE within the bound; metrics are still accepted', async () => {
  process.kill(e2e.serverPid, 'SIGSTOP');
  try {
    const started = Date.now();
    const response = await SimpleSignInService.getUserAndLinks(idp);
    const took = Date.now() - started;
    assert.equal(response.requestStatus, RequestStatus.RETRYABLE_FAILURE, JSON.stringify(response));
    assert.ok(took < e2e.serverTimeoutMs + 3000, `answered in ${took} ms`);
    const metric = await SimpleSignInService.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: Date.now() });
    assert.equal(metric.requestStatus, RequestStatus.SUCCESSFUL);
  } finally {
    process.kill(e2e.serverPid, 'SIGCONT');
  }
  assert.equal((await SimpleSignInService.getUserAndLinks(idp)).requestStatus, RequestStatus.SUCCESSFUL);
});

test('the agent stopped: RETRYABLE_FAILURE naming the socket; started again: the same client reconnects', async () => {
  const before = await SimpleSignInService.getUserAndLinks(idp);
  assert.equal(before.requestStatus, RequestStatus.SUCCESSFUL);
  await control('agent/stop');
  try {
    const down = await SimpleSignInService.getUserAndLinks(idp);
    assert.equal(down.requestStatus, RequestStatus.RETRYABLE_FAILURE);
    assert.equal(down.message, `no Simple Sign-In agent at ${apps.full.socket} (ENOENT): is the agent running?`);
  } finally {
    await control('agent/start');
  }
  const back = await SimpleSignInService.getUserAndLinks(idp);
  assert.equal(back.requestStatus, RequestStatus.SUCCESSFUL);
  assert.deepEqual(back.links.map((l) => l.linkId), before.links.map((l) => l.linkId));
});

test('many calls at once on one connection all get their own answer', async () => {
  const calls = Array.from({ length: 40 }, (_, i) =>
    i % 2 === 0
      ? SimpleSignInService.getUserAndLinks(idp)
      : SimpleSignInService.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: Date.now() }),
  );
  for (const response of await Promise.all(calls)) assert.equal(response.requestStatus, RequestStatus.SUCCESSFUL);
});
