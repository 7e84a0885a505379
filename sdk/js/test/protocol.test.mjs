// The package's side of docs/app-protocol.md on a real Unix socket, against a scripted
// peer playing the agent's side: the lines the package writes, one connection reused
// by sequential and concurrent calls, answers in any order, framing across chunks, the
// 64 KiB limit, and what a correct agent never does on purpose (garbage, oversize
// lines, a connection dropped mid-request, going away and coming back). The same
// behaviour against the real agent is in test/e2e/.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { RequestStatus, SSIEvent, SimpleSignInClient } from '@ssi/simplesignin';

/**
 * A scripted agent on `path`: `answer(request, reply, socket)` is called for each
 * request line; `reply(result)` writes the envelope for it, `reply.raw(bytes)` any bytes.
 */
async function startPeer(path, answer) {
  const peer = { lines: [], connections: 0, sockets: new Set() };
  peer.server = net.createServer((socket) => {
    peer.connections += 1;
    peer.sockets.add(socket);
    socket.on('close', () => peer.sockets.delete(socket));
    // The package may drop the connection (it must, on a broken stream).
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        peer.lines.push(line);
        const request = JSON.parse(line);
        const reply = (result) => socket.write(`${JSON.stringify({ protocol: 1, id: request.id, result })}\n`);
        reply.raw = (bytes) => socket.write(bytes);
        answer(request, reply, socket);
      }
    });
  });
  await new Promise((resolve) => peer.server.listen(path, resolve));
  peer.stop = () =>
    new Promise((resolve) => {
      for (const socket of peer.sockets) socket.destroy();
      peer.server.close(resolve);
    });
  return peer;
}

function socketPath(t) {
  const dir = mkdtempSync(join(tmpdir(), 'ssi-sdk-js-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'com.example.app.sock');
}

const ok = { requestStatus: 'SUCCESSFUL' };
const link = {
  partnerUserId: 'user-42',
  identityProviderName: 'acme',
  userLoginName: 'jo@example.com',
  linkToken: { token: 'a.b.c.d.e', schema: 'LINK-TOKEN-1.0' },
  linkSigningKey: 'x.y.z.w.v',
};

test('each method writes one line: protocol 1, a fresh id, the seed method name and the seed params', async (t) => {
  const path = socketPath(t);
  const peer = await startPeer(path, (_request, reply) => reply(ok));
  t.after(peer.stop);
  const client = new SimpleSignInClient({ socketPath: path });
  t.after(() => client.close());
  const now = Date.now();
  await client.getUserAndLinks('acme');
  // Fields the seed does not have are not sent.
  await client.linkUserAccount({ ...link, extra: 'dropped', linkToken: { ...link.linkToken, more: 1 } });
  await client.showLoginSelection([{ loginName: 'Jo', linkId: 'l1', avatar: 'x' }, { loginName: 'Sam', linkId: 'l2' }]);
  await client.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_FAILURE, epochTimestamp: String(now), failureReason: 'NOT_FOUND' });
  await client.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: now });
  assert.deepEqual(
    peer.lines.map((line) => JSON.parse(line)),
    [
      { protocol: 1, id: 'r1', method: 'getUserAndLinks', params: { identityProviderName: 'acme' } },
      { protocol: 1, id: 'r2', method: 'linkUserAccount', params: link },
      {
        protocol: 1,
        id: 'r3',
        method: 'showLoginSelection',
        params: [
          { loginName: 'Jo', linkId: 'l1' },
          { loginName: 'Sam', linkId: 'l2' },
        ],
      },
      {
        protocol: 1,
        id: 'r4',
        method: 'recordMetricEvent',
        params: { ssiEvent: 'LOGIN_FAILURE', timestamp: String(now), failureReason: 'NOT_FOUND' },
      },
      { protocol: 1, id: 'r5', method: 'recordMetricEvent', params: { ssiEvent: 'LOGIN_SUCCESS', timestamp: now } },
    ],
  );
  assert.equal(peer.connections, 1, 'one connection for every call');
});

test('concurrent calls share the connection and each gets its own answer, in any order', async (t) => {
  const path = socketPath(t);
  const held = [];
  const peer = await startPeer(path, (request, reply) => {
    held.push([request, reply]);
    // Answer when all five have arrived, last first.
    if (held.length === 5) {
      for (const [r, answer] of held.reverse()) answer({ requestStatus: 'SUCCESSFUL', message: `answer to ${r.id} ${r.method}` });
    }
  });
  t.after(peer.stop);
  const client = new SimpleSignInClient({ socketPath: path });
  t.after(() => client.close());
  const answers = await Promise.all([
    client.getUserAndLinks('acme'),
    client.linkUserAccount(link),
    client.showLoginSelection([{ loginName: 'Jo', linkId: 'l1' }]),
    client.recordMetricEvent({ ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: Date.now() }),
    client.getUserAndLinks('other'),
  ]);
  assert.deepEqual(
    answers.map((a) => a.message),
    [
      'answer to r1 getUserAndLinks',
      'answer to r2 linkUserAccount',
      'answer to r3 showLoginSelection',
      'answer to r4 recordMetricEvent',
      'answer to r5 getUserAndLinks',
    ],
  );
  assert.equal(peer.connections, 1);
});

test('answers split across chunks, several in one chunk, and UTF-8 split inside a character are read whole', async (t) => {
  const path = socketPath(t);
  const pending = [];
  const peer = await startPeer(path, (request, reply, socket) => {
    pending.push(request.id);
    if (pending.length < 3) return;
    const lines = pending
      .map((id, i) => `${JSON.stringify({ protocol: 1, id, result: { requestStatus: 'FAILURE', message: `日本語 ${i} ✓` } })}\n`)
      .join('');
    // Every byte on its own write, with the answers back to back.
    const bytes = Buffer.from(lines, 'utf8');
    let i = 0;
    const drip = () => {
      if (i < bytes.length) socket.write(bytes.subarray(i, ++i), drip);
    };
    drip();
    reply.raw('');
  });
  t.after(peer.stop);
  const client = new SimpleSignInClient({ socketPath: path });
  t.after(() => client.close());
  const answers = await Promise.all([client.getUserAndLinks('a'), client.getUserAndLinks('b'), client.getUserAndLinks('c')]);
  assert.deepEqual(
    answers.map((a) => a.message),
    ['日本語 0 ✓', '日本語 1 ✓', '日本語 2 ✓'],
  );
});

/** A response line of exactly `bytes` bytes, `\n` included. */
function lineOfSize(id, bytes) {
  const empty = JSON.stringify({ protocol: 1, id, result: { requestStatus: 'SUCCESSFUL', message: '' } });
  const message = 'm'.repeat(bytes - empty.length - 1);
  const line = `${JSON.stringify({ protocol: 1, id, result: { requestStatus: 'SUCCESSFUL', message } })}\n`;
  assert.equal(Buffer.byteLength(line), bytes);
  return line;
}

test('an answer of 65536 bytes is read; one of 65537 fails the calls in flight and the connection is replaced', async (t) => {
  const path = socketPath(t);
  const peer = await startPeer(path, (request, reply) => {
    if (request.params.identityProviderName === 'exact') reply.raw(lineOfSize(request.id, 65536));
    else if (request.params.identityProviderName === 'over') reply.raw(lineOfSize(request.id, 65537));
    else if (request.params.identityProviderName === 'hold') return;
    else reply(ok);
  });
  t.after(peer.stop);
  const client = new SimpleSignInClient({ socketPath: path });
  t.after(() => client.close());
  const exact = await client.getUserAndLinks('exact');
  assert.equal(exact.requestStatus, 'SUCCESSFUL');
  assert.equal(Buffer.byteLength(`${JSON.stringify({ protocol: 1, id: 'r1', result: exact })}\n`), 65536);
  const held = client.getUserAndLinks('hold');
  const over = await client.getUserAndLinks('over');
  const violation = { requestStatus: 'FAILURE', message: `the agent at ${path} sent a line over 65536 bytes` };
  assert.deepEqual(over, violation);
  assert.deepEqual(await held, violation, 'every call in flight on the broken stream');
  assert.deepEqual(await client.getUserAndLinks('next'), ok);
  assert.equal(peer.connections, 2, 'a new connection after the broken one');
});

test('what the agent must not send: not JSON, no id, no requestStatus; unknown ids are ignored', async (t) => {
  const path = socketPath(t);
  const peer = await startPeer(path, (request, reply) => {
    switch (request.params.identityProviderName) {
      case 'garbage':
        return reply.raw('this is not json\n');
      case 'no-id':
        return reply.raw('{"protocol":1,"result":{"requestStatus":"SUCCESSFUL"}}\n');
      case 'no-status':
        return reply({ links: [] });
      case 'unknown-id':
        reply.raw(`${JSON.stringify({ protocol: 1, id: 'r999', result: { requestStatus: 'FAILURE' } })}\n`);
        return reply(ok);
      default:
        return reply(ok);
    }
  });
  t.after(peer.stop);
  const client = new SimpleSignInClient({ socketPath: path });
  t.after(() => client.close());
  assert.deepEqual(await client.getUserAndLinks('garbage'), {
    requestStatus: 'FAILURE',
    message: `the agent at ${path} sent a line that is not JSON`,
  });
  assert.deepEqual(await client.getUserAndLinks('no-id'), {
    requestStatus: 'FAILURE',
    message: `the agent at ${path} sent a message without id or result`,
  });
  assert.deepEqual(await client.getUserAndLinks('no-status'), {
    requestStatus: 'FAILURE',
    message: `the agent at ${path} answered without a requestStatus`,
  });
  assert.deepEqual(await client.getUserAndLinks('unknown-id'), ok);
  assert.equal(peer.connections, 3, 'garbage and a missing id each end a connection; the rest keep it');
});

test('an answer with id null (a line the agent could not read) answers the calls in flight', async (t) => {
  const path = socketPath(t);
  const peer = await startPeer(path, (_request, reply) => {
    reply.raw(`${JSON.stringify({ protocol: 1, id: null, result: { requestStatus: 'FAILURE', message: 'the line is not JSON' } })}\n`);
  });
  t.after(peer.stop);
  const client = new SimpleSignInClient({ socketPath: path });
  t.after(() => client.close());
  assert.deepEqual(await client.getUserAndLinks('acme'), { requestStatus: 'FAILURE', message: 'the line is not JSON' });
});

test('the agent going away mid-request answers RETRYABLE_FAILURE; after it comes back the next call reconnects', async (t) => {
  const path = socketPath(t);
  let peer = await startPeer(path, () => {
    // Restarting: drop every connection without answering.
    void peer.stop();
  });
  const client = new SimpleSignInClient({ socketPath: path });
  t.after(() => client.close());
  const dropped = await Promise.all([client.linkUserAccount(link), client.getUserAndLinks('acme')]);
  for (const answer of dropped) {
    assert.equal(answer.requestStatus, RequestStatus.RETRYABLE_FAILURE);
    assert.match(answer.message, new RegExp(`^the agent at ${path} closed the connection before answering`));
  }
  // Down: nothing listens on the path any more.
  rmSync(path, { force: true });
  assert.deepEqual(await client.getUserAndLinks('acme'), {
    requestStatus: 'RETRYABLE_FAILURE',
    message: `no Simple Sign-In agent at ${path} (ENOENT): is the agent running?`,
  });
  // Back up.
  peer = await startPeer(path, (_request, reply) => reply(ok));
  t.after(peer.stop);
  assert.deepEqual(await client.getUserAndLinks('acme'), ok);
  assert.deepEqual(await client.getUserAndLinks('acme'), ok);
  assert.equal(peer.connections, 1);
});

test('an idle connection is replaced after the agent restarts between two calls', async (t) => {
  const path = socketPath(t);
  let peer = await startPeer(path, (_request, reply) => reply({ requestStatus: 'SUCCESSFUL', message: 'first agent' }));
  const client = new SimpleSignInClient({ socketPath: path });
  t.after(() => client.close());
  assert.equal((await client.getUserAndLinks('acme')).message, 'first agent');
  await peer.stop();
  rmSync(path, { force: true });
  peer = await startPeer(path, (_request, reply) => reply({ requestStatus: 'SUCCESSFUL', message: 'second agent' }));
  t.after(peer.stop);
  // Let the old connection's close arrive, as it would while the app is idle.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal((await client.getUserAndLinks('acme')).message, 'second agent');
});

test('a stale socket of a killed agent (connection refused) answers RETRYABLE_FAILURE naming it', async (t) => {
  const path = socketPath(t);
  // An "agent" killed with SIGKILL leaves its socket file behind, with nobody accepting.
  const agent = spawn(
    process.execPath,
    ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('listening'))`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise((resolve) => agent.stdout.once('data', resolve));
  agent.kill('SIGKILL');
  await new Promise((resolve) => agent.on('exit', resolve));
  const client = new SimpleSignInClient({ socketPath: path });
  t.after(() => client.close());
  assert.deepEqual(await client.getUserAndLinks('acme'), {
    requestStatus: 'RETRYABLE_FAILURE',
    message: `no Simple Sign-In agent at ${path} (ECONNREFUSED): is the agent running?`,
  });
});

test('close() answers the calls in flight RETRYABLE_FAILURE; the next call opens a new connection', async (t) => {
  const path = socketPath(t);
  const peer = await startPeer(path, (request, reply) => {
    if (request.method !== 'showLoginSelection') reply(ok);
  });
  t.after(peer.stop);
  const client = new SimpleSignInClient({ socketPath: path });
  t.after(() => client.close());
  const open = client.showLoginSelection([{ loginName: 'Jo', linkId: 'l1' }]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  client.close();
  assert.deepEqual(await open, {
    requestStatus: 'RETRYABLE_FAILURE',
    message: `the app closed its connection to the agent at ${path}`,
  });
  assert.deepEqual(await client.getUserAndLinks('acme'), ok);
  assert.equal(peer.connections, 2);
});

test('an idle connection does not keep the app process alive; one waiting for an answer does', async (t) => {
  const path = socketPath(t);
  const peer = await startPeer(path, (request, reply) => {
    // The screen call is answered late; the others at once.
    if (request.method === 'showLoginSelection') setTimeout(() => reply({ requestStatus: 'SUCCESSFUL', userSelection: 'MANUAL_SIGN_IN' }), 300);
    else reply(ok);
  });
  t.after(peer.stop);
  const app = `
    const { SimpleSignInService } = require('@ssi/simplesignin');
    (async () => {
      console.log(JSON.stringify(await SimpleSignInService.getUserAndLinks('acme')));
      console.log(JSON.stringify(await SimpleSignInService.showLoginSelection([{ loginName: 'Jo', linkId: 'l1' }])));
    })();
  `;
  const child = spawn(process.execPath, ['-e', app], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, SSI_APP_SOCKET: path },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  const timer = setTimeout(() => child.kill(), 10_000);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, 'the app exits by itself once its calls are answered (killed after 10 s otherwise)');
  assert.deepEqual(
    out.trim().split('\n').map((line) => JSON.parse(line)),
    [ok, { requestStatus: 'SUCCESSFUL', userSelection: 'MANUAL_SIGN_IN' }],
  );
  assert.equal(peer.connections, 1);
});
