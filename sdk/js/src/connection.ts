// The app's side of the app-socket protocol (docs/app-protocol.md): one connection,
// opened on first use and reused; concurrent requests told apart by their `id`; one
// JSON object per line, at most 64 KiB; a fresh connection after the agent restarts.
//
// Every call resolves with a seed response: a transport problem becomes a
// `requestStatus` plus a `message`, never a rejected promise.

import * as net from 'node:net';

import { RequestStatus } from './enums';
import type { SocketLocation } from './discovery';

/** The protocol version this package speaks. */
export const PROTOCOL_VERSION = 1;
/** One message on the socket, the `\n` included. */
export const MAX_MESSAGE_BYTES = 65536;

/** The shape every response shares; the four seed responses all read as it. */
export type StatusResult = { requestStatus: RequestStatus; message?: string };

const NEWLINE = 0x0a;

/** Connect errors that mean "no agent listening there" (so: retry later). */
const NO_AGENT_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTDIR', 'ENOTSOCK']);

export function failure(requestStatus: RequestStatus, message: string): StatusResult {
  return { requestStatus, message };
}

type Pending = (result: StatusResult) => void;

/** One socket and what is waiting on it. */
class Session {
  readonly socket: net.Socket;
  readonly pending = new Map<string, Pending>();
  /** Set once the socket can take no more requests (peer ended, error, violation). */
  done = false;
  private connected = false;
  private error: NodeJS.ErrnoException | undefined;
  /** Why this side closed the connection (the agent broke the protocol). */
  private violation: string | undefined;
  /** Set when the app closed the connection itself. */
  private closedByApp = false;
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;

  constructor(
    readonly path: string,
    private readonly onClosed: (session: Session) => void,
  ) {
    this.socket = net.createConnection({ path });
    this.socket.on('connect', () => {
      this.connected = true;
    });
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('end', () => {
      this.done = true;
    });
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      this.done = true;
      this.error ??= error;
    });
    this.socket.on('close', () => this.closed());
  }

  send(id: string, line: string, resolve: Pending): void {
    this.pending.set(id, resolve);
    this.socket.ref();
    this.socket.write(line);
  }

  private settle(id: string, result: StatusResult): void {
    const resolve = this.pending.get(id);
    if (!resolve) return; // not ours (any more): ignore
    this.pending.delete(id);
    // An idle connection must not keep the app's process alive.
    if (this.pending.size === 0) this.socket.unref();
    resolve(result);
  }

  private receive(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.bufferedBytes + piece.length + 1 > MAX_MESSAGE_BYTES) {
        return this.breakOff(`the agent at ${this.path} sent a line over ${MAX_MESSAGE_BYTES} bytes`);
      }
      const line = this.chunks.length === 0 ? piece : Buffer.concat([...this.chunks, piece]);
      this.chunks = [];
      this.bufferedBytes = 0;
      this.handleLine(line.toString('utf8'));
      if (this.violation) return;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    this.bufferedBytes += rest.length;
    // Without its `\n` a line may be at most MAX_MESSAGE_BYTES - 1 bytes.
    if (this.bufferedBytes >= MAX_MESSAGE_BYTES) {
      return this.breakOff(`the agent at ${this.path} sent a line over ${MAX_MESSAGE_BYTES} bytes`);
    }
    this.chunks.push(rest);
  }

  private handleLine(line: string): void {
    let envelope: unknown;
    try {
      envelope = JSON.parse(line);
    } catch {
      return this.breakOff(`the agent at ${this.path} sent a line that is not JSON`);
    }
    if (typeof envelope !== 'object' || envelope === null || !('id' in envelope) || !('result' in envelope)) {
      return this.breakOff(`the agent at ${this.path} sent a message without id or result`);
    }
    const { id, result } = envelope as { id: unknown; result: unknown };
    const status = typeof result === 'object' && result !== null ? (result as StatusResult).requestStatus : undefined;
    const answer =
      typeof status === 'string'
        ? (result as StatusResult)
        : failure(RequestStatus.FAILURE, `the agent at ${this.path} answered without a requestStatus`);
    if (typeof id === 'string') return this.settle(id, answer);
    if (id === null) {
      // The agent could not read one of our lines and cannot say which: every request
      // in flight gets its answer (this package writes only well-formed lines).
      for (const pendingId of [...this.pending.keys()]) this.settle(pendingId, answer);
    }
  }

  /** The app closes the connection. */
  shutdown(): void {
    this.closedByApp = true;
    this.done = true;
    this.socket.destroy();
  }

  /** The agent broke the protocol: the stream cannot be trusted any more. */
  private breakOff(reason: string): void {
    this.violation ??= reason;
    this.done = true;
    this.socket.destroy();
  }

  private closed(): void {
    this.done = true;
    this.onClosed(this);
    const answer = this.closeAnswer();
    for (const id of [...this.pending.keys()]) this.settle(id, answer);
  }

  private closeAnswer(): StatusResult {
    if (this.violation) return failure(RequestStatus.FAILURE, this.violation);
    if (this.closedByApp) {
      return failure(RequestStatus.RETRYABLE_FAILURE, `the app closed its connection to the agent at ${this.path}`);
    }
    if (!this.connected) {
      const code = this.error?.code ?? 'no connection';
      if (NO_AGENT_CODES.has(code)) {
        return failure(
          RequestStatus.RETRYABLE_FAILURE,
          `no Simple Sign-In agent at ${this.path} (${code}): is the agent running?`,
        );
      }
      return failure(RequestStatus.FAILURE, `cannot connect to the agent at ${this.path} (${code}: ${this.error?.message ?? ''})`);
    }
    return failure(
      RequestStatus.RETRYABLE_FAILURE,
      `the agent at ${this.path} closed the connection before answering (${this.error?.code ?? 'it may have restarted'})`,
    );
  }
}

/** The app's connection to its agent, opened when needed. */
export class AgentConnection {
  private session: Session | undefined;
  private nextId = 1;

  /** `locate` is asked for the socket each time a connection is opened. */
  constructor(private readonly locate: () => SocketLocation) {}

  /** Sends one request and resolves with its `result` (or a status saying why not). */
  call<T extends StatusResult>(method: string, params: unknown): Promise<T> {
    const id = `r${this.nextId++}`;
    const line = `${JSON.stringify({ protocol: PROTOCOL_VERSION, id, method, params })}\n`;
    const bytes = Buffer.byteLength(line, 'utf8');
    if (bytes > MAX_MESSAGE_BYTES) {
      return Promise.resolve(
        failure(
          RequestStatus.FAILURE,
          `message is ${bytes} bytes, over the limit of ${MAX_MESSAGE_BYTES} bytes (MAX_MESSAGE_BYTES)`,
        ) as T,
      );
    }
    if (!this.session || this.session.done) {
      const location = this.locate();
      if ('problem' in location) return Promise.resolve(failure(RequestStatus.FAILURE, location.problem) as T);
      this.session = new Session(location.path, (closed) => {
        if (this.session === closed) this.session = undefined;
      });
    }
    const session = this.session;
    return new Promise<T>((resolve) => session.send(id, line, (result) => resolve(result as T)));
  }

  /** Closes the connection; calls in flight resolve `RETRYABLE_FAILURE`. */
  close(): void {
    this.session?.shutdown();
    this.session = undefined;
  }
}
