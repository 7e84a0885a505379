// The package's API against the seed (names, values), its client-side validation (the
// Rust side's messages), socket discovery and a missing agent. Runs on the built
// package (`npm run build` first), imported by its name as an app would.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as sdk from '@ssi/simplesignin';

const {
  FailureReason,
  LinkAccountSuccessCode,
  RequestStatus,
  SSIEvent,
  SimpleSignInClient,
  SimpleSignInService,
  UserSelection,
  findAppSocket,
} = sdk;

test('the enums have the seed values, in the seed order, each its own name', () => {
  const seed = {
    RequestStatus: [
      'SUCCESSFUL',
      'FAILURE',
      'RETRYABLE_FAILURE',
      'NOT_SUPPORTED',
      'NOT_AVAILABLE',
      'DUPLICATE_REQUEST',
      'FEATURE_TURNED_OFF',
      'INVALID_LINK_SIGNING_KEY_ENCRYPTION',
      'INVALID_LINK_SIGNING_KEY',
    ],
    LinkAccountSuccessCode: ['LINK_ESTABLISHED', 'LINK_ALREADY_EXISTS', 'CONSENT_DENIED', 'NOT_APPLICABLE'],
    UserSelection: ['LOGIN_SELECTED', 'MANUAL_SIGN_IN', 'NOT_APPLICABLE'],
    SSIEvent: ['LOGIN_SUCCESS', 'LOGIN_FAILURE', 'MANUAL_SIGNIN_SELECTED'],
    FailureReason: ['UNAUTHORIZED', 'BAD_REQUEST', 'NOT_FOUND', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'],
  };
  const actual = { RequestStatus, LinkAccountSuccessCode, UserSelection, SSIEvent, FailureReason };
  for (const [name, values] of Object.entries(seed)) {
    assert.deepEqual(Object.keys(actual[name]), values, `${name} members`);
    assert.deepEqual(Object.values(actual[name]), values, `${name} values`);
  }
});

test('SimpleSignInService has the four static methods of the seed, and nothing else public', () => {
  const statics = Object.getOwnPropertyNames(SimpleSignInService).filter(
    (name) => typeof SimpleSignInService[name] === 'function',
  );
  assert.deepEqual(statics.sort(), ['getUserAndLinks', 'linkUserAccount', 'recordMetricEvent', 'showLoginSelection']);
  for (const name of statics) assert.equal(SimpleSignInService[name].length, 1, `${name} takes one argument`);
});

test('the runtime exports are the seed names plus the documented extensions', () => {
  // (`default` and `__esModule` are how Node shows a CommonJS module to ESM.)
  const names = Object.keys(sdk).filter((name) => name !== 'default' && name !== '__esModule');
  assert.deepEqual(names.sort(), [
    'DEFAULT_RUN_DIR',
    'FailureReason',
    'LinkAccountSuccessCode',
    'MAX_MESSAGE_BYTES',
    'PACKAGE_ID_ENV',
    'PROTOCOL_VERSION',
    'RUN_DIR_ENV',
    'RequestStatus',
    'SOCKET_ENV',
    'SSIEvent',
    'SimpleSignInClient',
    'SimpleSignInService',
    'UserSelection',
    'findAppSocket',
  ]);
  assert.equal(sdk.PROTOCOL_VERSION, 1);
  assert.equal(sdk.MAX_MESSAGE_BYTES, 65536);
});

test('socket discovery follows docs/app-protocol.md', () => {
  const cases = [
    [{ SSI_APP_SOCKET: '/tmp/a.sock', SSI_PACKAGE_ID: 'com.x', SSI_AGENT_RUN_DIR: '/r' }, { path: '/tmp/a.sock' }],
    [{ SSI_PACKAGE_ID: 'com.example.app' }, { path: '/run/ssi-agent/apps/com.example.app.sock' }],
    [{ SSI_PACKAGE_ID: 'com.example.app', SSI_AGENT_RUN_DIR: '/tmp/run' }, { path: '/tmp/run/apps/com.example.app.sock' }],
    [{ SSI_APP_SOCKET: '', SSI_PACKAGE_ID: 'com.x', SSI_AGENT_RUN_DIR: '' }, { path: '/run/ssi-agent/apps/com.x.sock' }],
    [
      {},
      {
        problem:
          "no app socket configured: set SSI_APP_SOCKET to the socket's path, or SSI_PACKAGE_ID to find /run/ssi-agent/apps/<package id>.sock",
      },
    ],
    [{ SSI_PACKAGE_ID: '../other' }, { problem: 'SSI_PACKAGE_ID: must be a package id, one path segment without "/" (got "../other")' }],
    [{ SSI_PACKAGE_ID: '..' }, { problem: 'SSI_PACKAGE_ID: must be a package id, one path segment without "/" (got "..")' }],
  ];
  for (const [env, want] of cases) assert.deepEqual(findAppSocket(env), want, JSON.stringify(env));
});

const NOW = 1_800_000_000_000;
const DAY_MS = 86_400_000;
const NO_AGENT = '/nonexistent/ssi-agent/apps/com.example.app.sock';

function client() {
  return new SimpleSignInClient({ socketPath: NO_AGENT, now: () => NOW });
}

const token = { token: 'a.b.c.d.e', schema: 'LINK-TOKEN-1.0' };
const link = {
  partnerUserId: 'user-42',
  identityProviderName: 'acme',
  userLoginName: 'jo@example.com',
  linkToken: token,
  linkSigningKey: 'x.y.z.w.v',
};

/**
 * Each call with the message it must answer without reaching the socket (FAILURE), or
 * `null` when it is valid: then it reaches for the socket and answers "no agent".
 */
const validationCases = [
  ['idp empty', (c) => c.getUserAndLinks(''), 'identityProviderName: must be 1-64 characters of [A-Za-z0-9._-] (got 0 characters)'],
  ['idp space', (c) => c.getUserAndLinks('a b'), "identityProviderName: must be 1-64 characters of [A-Za-z0-9._-] (got ' ' at character 1)"],
  ['idp accent', (c) => c.getUserAndLinks('acmé'), "identityProviderName: must be 1-64 characters of [A-Za-z0-9._-] (got 'é' at character 3)"],
  ['idp newline', (c) => c.getUserAndLinks('a\nb'), "identityProviderName: must be 1-64 characters of [A-Za-z0-9._-] (got '\\n' at character 1)"],
  ['idp 65', (c) => c.getUserAndLinks('x'.repeat(65)), 'identityProviderName: must be 1-64 characters of [A-Za-z0-9._-] (got 65 characters)'],
  ['idp 64', (c) => c.getUserAndLinks('x'.repeat(64)), null],
  ['idp missing', (c) => c.getUserAndLinks(undefined), 'identityProviderName: must be 1-64 characters of [A-Za-z0-9._-] (got nothing)'],
  ['idp object', (c) => c.getUserAndLinks({ identityProviderName: 'acme' }), 'identityProviderName: must be 1-64 characters of [A-Za-z0-9._-] (got an object)'],
  ['link valid', (c) => c.linkUserAccount(link), null],
  ['link not an object', (c) => c.linkUserAccount('acme'), 'request: must be a LinkUserAccountRequest object (got a string)'],
  [
    'partnerUserId 258 bytes',
    (c) => c.linkUserAccount({ ...link, partnerUserId: 'é'.repeat(129) }),
    'partnerUserId: must be 1-256 bytes of UTF-8 without control characters (got 258 bytes)',
  ],
  ['partnerUserId 256 bytes', (c) => c.linkUserAccount({ ...link, partnerUserId: 'é'.repeat(128) }), null],
  [
    'partnerUserId control',
    (c) => c.linkUserAccount({ ...link, partnerUserId: 'a\u0007b' }),
    'partnerUserId: must be 1-256 bytes of UTF-8 without control characters (got control character U+0007 at character 1)',
  ],
  [
    'partnerUserId unpaired surrogate',
    (c) => c.linkUserAccount({ ...link, partnerUserId: 'a\uD800' }),
    'partnerUserId: must be 1-256 bytes of UTF-8 without control characters (got an unpaired surrogate at character 1)',
  ],
  [
    'idp checked second',
    (c) => c.linkUserAccount({ ...link, identityProviderName: 'a/b', userLoginName: '' }),
    "identityProviderName: must be 1-64 characters of [A-Za-z0-9._-] (got '/' at character 1)",
  ],
  [
    'userLoginName 65',
    (c) => c.linkUserAccount({ ...link, userLoginName: '名'.repeat(65) }),
    'userLoginName: must be 1-64 characters without control characters (got 65 characters)',
  ],
  ['userLoginName 64 emoji', (c) => c.linkUserAccount({ ...link, userLoginName: '😀'.repeat(64) }), null],
  ['linkToken missing', (c) => c.linkUserAccount({ ...link, linkToken: undefined }), 'linkToken: must be a Token object {token, schema} (got nothing)'],
  ['linkToken empty', (c) => c.linkUserAccount({ ...link, linkToken: { ...token, token: '' } }), 'linkToken.token: must be 1-8192 bytes (got 0 bytes)'],
  [
    'linkToken 8193',
    (c) => c.linkUserAccount({ ...link, linkToken: { ...token, token: 'a'.repeat(8193) } }),
    'linkToken.token: must be 1-8192 bytes (got 8193 bytes)',
  ],
  [
    'linkToken schema',
    (c) => c.linkUserAccount({ ...link, linkToken: { ...token, schema: 'SSI-TOKEN-1.0' } }),
    'linkToken.schema: must be exactly LINK-TOKEN-1.0 (got "SSI-TOKEN-1.0")',
  ],
  [
    'linkSigningKey 4097',
    (c) => c.linkUserAccount({ ...link, linkSigningKey: 'k'.repeat(4097) }),
    'linkSigningKey: must be 1-4096 bytes (got 4097 bytes)',
  ],
  [
    'link request over 64 KiB once escaped',
    (c) =>
      c.linkUserAccount({
        ...link,
        linkToken: { ...token, token: '\u0001'.repeat(8192) },
        linkSigningKey: '\u0001'.repeat(4096),
      }),
    'message is 73951 bytes, over the limit of 65536 bytes (MAX_MESSAGE_BYTES)',
  ],
  ['selection not an array', (c) => c.showLoginSelection({ l1: 'jo' }), 'loginNames: must be an array of LoginNameValue (got an object)'],
  ['selection empty', (c) => c.showLoginSelection([]), 'loginNames: must have 1-32 entries (got 0 entries)'],
  [
    'selection 33',
    (c) => c.showLoginSelection(Array.from({ length: 33 }, (_, i) => ({ loginName: 'n', linkId: `l${i}` }))),
    'loginNames: must have 1-32 entries (got 33 entries)',
  ],
  ['selection 32', (c) => c.showLoginSelection(Array.from({ length: 32 }, (_, i) => ({ loginName: 'n', linkId: `l${i}` }))), null],
  [
    'selection duplicate',
    (c) => c.showLoginSelection([{ loginName: 'a', linkId: 'l1' }, { loginName: 'b', linkId: 'l1' }]),
    'loginNames[1].linkId: must be unique within the request (same as loginNames[0].linkId)',
  ],
  [
    'selection linkId',
    (c) => c.showLoginSelection([{ loginName: 'a', linkId: 'l/1' }]),
    "loginNames[0].linkId: must be 1-128 characters of [A-Za-z0-9_-] (got '/' at character 1)",
  ],
  [
    'selection loginName control',
    (c) => c.showLoginSelection([{ loginName: 'ab\ncd', linkId: 'l1' }]),
    'loginNames[0].loginName: must be 1-64 characters without control characters (got control character U+000A at character 2)',
  ],
  [
    'selection entry not an object',
    (c) => c.showLoginSelection(['jo']),
    'loginNames[0]: must be a LoginNameValue object {loginName, linkId} (got a string)',
  ],
  [
    'event unknown',
    (c) => c.recordMetricEvent({ ssiEvent: 'LOGGED_IN', timestamp: NOW }),
    'ssiEvent: must be a SSIEvent value (unknown SSIEvent `LOGGED_IN`, expected one of LOGIN_SUCCESS, LOGIN_FAILURE, MANUAL_SIGNIN_SELECTED)',
  ],
  ['event no time', (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS }), 'timestamp: required (or spelled epochTimestamp), epoch milliseconds (missing)'],
  [
    'event fraction',
    (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: NOW + 0.5 }),
    'timestamp: must be epoch milliseconds as a non-negative integer or a string of digits (got 1800000000000.5)',
  ],
  [
    'event epochTimestamp not digits',
    (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, epochTimestamp: '-12' }),
    'epochTimestamp: must be epoch milliseconds as a non-negative integer or a string of digits (got a string that is not digits)',
  ],
  ['event epochTimestamp string', (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, epochTimestamp: String(NOW) }), null],
  ['event both equal', (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: NOW, epochTimestamp: String(NOW) }), null],
  [
    'event both differ',
    (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: NOW, epochTimestamp: NOW - 1 }),
    'epochTimestamp: must equal timestamp when both are given (got 1799999999999 and 1800000000000)',
  ],
  ['event oldest', (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: NOW - 7 * DAY_MS }), null],
  [
    'event too old',
    (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: NOW - 7 * DAY_MS - 1 }),
    'timestamp: must be within [now - 7 days, now + 5 minutes] (got 604800001 ms before now)',
  ],
  ['event latest', (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, epochTimestamp: NOW + 300_000 }), null],
  [
    'event too far ahead',
    (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, epochTimestamp: NOW + 300_001 }),
    'epochTimestamp: must be within [now - 7 days, now + 5 minutes] (got 300001 ms after now)',
  ],
  [
    'failure without reason',
    (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_FAILURE, timestamp: NOW }),
    'failureReason: required when ssiEvent is LOGIN_FAILURE (missing)',
  ],
  [
    'reason without failure',
    (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: NOW, failureReason: FailureReason.UNAUTHORIZED }),
    'failureReason: allowed only when ssiEvent is LOGIN_FAILURE (got UNAUTHORIZED with LOGIN_SUCCESS)',
  ],
  [
    'reason unknown',
    (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_FAILURE, timestamp: NOW, failureReason: 'TEAPOT' }),
    'failureReason: must be a FailureReason value (unknown FailureReason `TEAPOT`, expected one of UNAUTHORIZED, BAD_REQUEST, NOT_FOUND, FORBIDDEN, INTERNAL_SERVER_ERROR)',
  ],
  ['reason legacy text', (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_FAILURE, timestamp: NOW, failureReason: 'The request is corrupted.' }), null],
  ['failure with reason', (c) => c.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_FAILURE, timestamp: NOW, failureReason: FailureReason.FORBIDDEN }), null],
];

test('client-side validation answers FAILURE naming the field and the limit, as the Rust side does', async () => {
  const noAgent = `no Simple Sign-In agent at ${NO_AGENT} (ENOENT): is the agent running?`;
  for (const [name, call, message] of validationCases) {
    const response = await call(client());
    const want = message === null ? { requestStatus: 'RETRYABLE_FAILURE', message: noAgent } : { requestStatus: 'FAILURE', message };
    assert.deepEqual(response, want, name);
  }
});

test('a missing agent answers RETRYABLE_FAILURE naming the path found in the environment, for every method', async () => {
  const path = '/nonexistent/run/apps/com.example.missing.sock';
  process.env.SSI_AGENT_RUN_DIR = '/nonexistent/run';
  process.env.SSI_PACKAGE_ID = 'com.example.missing';
  delete process.env.SSI_APP_SOCKET;
  const answers = await Promise.all([
    SimpleSignInService.getUserAndLinks('acme'),
    SimpleSignInService.linkUserAccount(link),
    SimpleSignInService.showLoginSelection([{ loginName: 'jo', linkId: 'l1' }]),
    SimpleSignInService.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: Date.now() }),
  ]);
  for (const answer of answers) {
    assert.deepEqual(answer, {
      requestStatus: RequestStatus.RETRYABLE_FAILURE,
      message: `no Simple Sign-In agent at ${path} (ENOENT): is the agent running?`,
    });
  }
});
