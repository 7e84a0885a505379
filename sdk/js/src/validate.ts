// Client-side checks of the limits of DESIGN.md section 9, with the messages of the
// Rust side (`ssi_proto::validate`): `field: limit (what was found)`. The agent checks
// everything again; these spare a round trip and name the field the app got wrong.
// Messages give sizes and positions, never a token's or key's content.

import { FailureReason, SSIEvent } from './enums';

export const IDENTITY_PROVIDER_NAME_MAX_CHARS = 64;
export const PARTNER_USER_ID_MAX_BYTES = 256;
export const LOGIN_NAME_MAX_CHARS = 64;
export const LINK_TOKEN_MAX_BYTES = 8192;
export const LINK_SIGNING_KEY_MAX_BYTES = 4096;
export const LINK_ID_MAX_CHARS = 128;
export const LOGIN_SELECTION_MAX_ENTRIES = 32;
export const METRIC_TIMESTAMP_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
export const METRIC_TIMESTAMP_MAX_AHEAD_MS = 5 * 60 * 1000;
export const LINK_TOKEN_SCHEMA = 'LINK-TOKEN-1.0';
/** Longest decimal epoch-ms string the agent reads (an i64). */
const MAX_MILLIS_DIGITS = 19;
/** Longest part of a refused value echoed in a message. */
const ECHO_MAX_CHARS = 64;

/** A value outside its limit; `toString()` is the Rust side's `field: limit (message)`. */
export class ValidationError {
  constructor(
    readonly field: string,
    readonly limit: string,
    readonly message: string,
  ) {}

  toString(): string {
    return `${this.field}: ${this.limit} (${this.message})`;
  }
}

type Unit = 'bytes' | 'characters';

/** A length range (from 1) plus an alphabet; every text field is checked with one. */
type Rule = {
  max: number;
  unit: Unit;
  /** `any`: opaque bytes; `no-control`: no Unicode control characters (Cc); else an alphabet. */
  allowed: 'any' | 'no-control' | { set: string; test: (c: string) => boolean };
};

function ruleLimit(rule: Rule): string {
  if (rule.allowed === 'any') return `must be 1-${rule.max} ${rule.unit}`;
  if (rule.allowed === 'no-control') {
    const of = rule.unit === 'bytes' ? 'bytes of UTF-8' : 'characters';
    return `must be 1-${rule.max} ${of} without control characters`;
  }
  return `must be 1-${rule.max} ${rule.unit} of ${rule.allowed.set}`;
}

const isControl = (c: string): boolean => /^\p{Cc}$/u.test(c);

/** `c` as Rust's `{:?}` of a char writes it: `'a'`, `'\n'`, `'\u{1b}'`. */
function rustCharDebug(c: string): string {
  const named: Record<string, string> = { '\0': '\\0', '\t': '\\t', '\r': '\\r', '\n': '\\n', "'": "\\'", '\\': '\\\\' };
  if (named[c] !== undefined) return `'${named[c]}'`;
  if (c !== ' ' && /^[\p{C}\p{Z}\p{M}]$/u.test(c)) {
    return `'\\u{${c.codePointAt(0)!.toString(16)}}'`;
  }
  return `'${c}'`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'undefined':
      return 'nothing';
    case 'object':
      return 'an object';
    case 'string':
      return 'a string';
    default:
      return `a ${typeof value}`;
  }
}

function check(rule: Rule, field: string, value: unknown): ValidationError | undefined {
  if (typeof value !== 'string') {
    return new ValidationError(field, ruleLimit(rule), `got ${describe(value)}`);
  }
  // Code points, as Rust's chars(); an unpaired surrogate is not text at all.
  const chars = [...value];
  const len = rule.unit === 'bytes' ? Buffer.byteLength(value, 'utf8') : chars.length;
  if (len === 0 || len > rule.max) {
    return new ValidationError(field, ruleLimit(rule), `got ${len} ${rule.unit}`);
  }
  for (const [i, c] of chars.entries()) {
    if (/^[\uD800-\uDFFF]$/u.test(c)) {
      return new ValidationError(field, ruleLimit(rule), `got an unpaired surrogate at character ${i}`);
    }
    if (rule.allowed === 'any') continue;
    if (rule.allowed === 'no-control') {
      if (isControl(c)) {
        const hex = c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        return new ValidationError(field, ruleLimit(rule), `got control character U+${hex} at character ${i}`);
      }
    } else if (!rule.allowed.test(c)) {
      return new ValidationError(field, ruleLimit(rule), `got ${rustCharDebug(c)} at character ${i}`);
    }
  }
  return undefined;
}

const IDP_NAME: Rule = {
  max: IDENTITY_PROVIDER_NAME_MAX_CHARS,
  unit: 'characters',
  allowed: { set: '[A-Za-z0-9._-]', test: (c) => /^[A-Za-z0-9._-]$/.test(c) },
};
const PARTNER_USER_ID: Rule = { max: PARTNER_USER_ID_MAX_BYTES, unit: 'bytes', allowed: 'no-control' };
const LOGIN_NAME: Rule = { max: LOGIN_NAME_MAX_CHARS, unit: 'characters', allowed: 'no-control' };
const LINK_ID: Rule = {
  max: LINK_ID_MAX_CHARS,
  unit: 'characters',
  allowed: { set: '[A-Za-z0-9_-]', test: (c) => /^[A-Za-z0-9_-]$/.test(c) },
};
const LINK_TOKEN: Rule = { max: LINK_TOKEN_MAX_BYTES, unit: 'bytes', allowed: 'any' };
const LINK_SIGNING_KEY: Rule = { max: LINK_SIGNING_KEY_MAX_BYTES, unit: 'bytes', allowed: 'any' };

function echo(value: string): string {
  const chars = [...value];
  return chars.length > ECHO_MAX_CHARS ? `${chars.slice(0, ECHO_MAX_CHARS).join('')}…` : value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mustBeObject(field: string, value: unknown, what: string): ValidationError | undefined {
  return isObject(value) ? undefined : new ValidationError(field, `must be ${what}`, `got ${describe(value)}`);
}

/** `identityProviderName`: 1-64 characters of `[A-Za-z0-9._-]`. */
export function validateIdentityProviderName(name: unknown): ValidationError | undefined {
  return check(IDP_NAME, 'identityProviderName', name);
}

/**
 * `linkUserAccount`'s request, in the seed's field order: `partnerUserId`,
 * `identityProviderName`, `userLoginName`, `linkToken`, `linkSigningKey`.
 */
export function validateLinkUserAccountRequest(request: unknown): ValidationError | undefined {
  if (!isObject(request)) return mustBeObject('request', request, 'a LinkUserAccountRequest object');
  const token = request['linkToken'];
  return (
    check(PARTNER_USER_ID, 'partnerUserId', request['partnerUserId']) ??
    check(IDP_NAME, 'identityProviderName', request['identityProviderName']) ??
    check(LOGIN_NAME, 'userLoginName', request['userLoginName']) ??
    mustBeObject('linkToken', token, 'a Token object {token, schema}') ??
    check(LINK_TOKEN, 'linkToken.token', (token as Record<string, unknown>)['token']) ??
    checkSchema('linkToken.schema', (token as Record<string, unknown>)['schema'], LINK_TOKEN_SCHEMA) ??
    check(LINK_SIGNING_KEY, 'linkSigningKey', request['linkSigningKey'])
  );
}

function checkSchema(field: string, schema: unknown, want: string): ValidationError | undefined {
  if (schema === want) return undefined;
  const got = typeof schema === 'string' ? JSON.stringify(echo(schema)) : describe(schema);
  return new ValidationError(field, `must be exactly ${want}`, `got ${got}`);
}

/**
 * `showLoginSelection`'s entries (`loginNames`): 1-32, each with a valid `loginName`
 * and `linkId`, no `linkId` twice. Whether each is an active link is for the agent.
 */
export function validateLoginSelection(entries: unknown): ValidationError | undefined {
  if (!Array.isArray(entries)) {
    return new ValidationError('loginNames', 'must be an array of LoginNameValue', `got ${describe(entries)}`);
  }
  if (entries.length === 0 || entries.length > LOGIN_SELECTION_MAX_ENTRIES) {
    return new ValidationError(
      'loginNames',
      `must have 1-${LOGIN_SELECTION_MAX_ENTRIES} entries`,
      `got ${entries.length} entries`,
    );
  }
  const seen = new Map<string, number>();
  for (const [i, entry] of entries.entries()) {
    const invalid =
      mustBeObject(`loginNames[${i}]`, entry, 'a LoginNameValue object {loginName, linkId}') ??
      check(LOGIN_NAME, `loginNames[${i}].loginName`, entry.loginName) ??
      check(LINK_ID, `loginNames[${i}].linkId`, entry.linkId);
    if (invalid) return invalid;
    const first = seen.get(entry.linkId);
    if (first !== undefined) {
      return new ValidationError(
        `loginNames[${i}].linkId`,
        'must be unique within the request',
        `same as loginNames[${first}].linkId`,
      );
    }
    seen.set(entry.linkId, i);
  }
  return undefined;
}

/** Reads epoch milliseconds from a non-negative safe integer or a string of 1-19 digits. */
function readMillis(field: string, value: unknown): number | ValidationError {
  const limit = 'must be epoch milliseconds as a non-negative integer or a string of digits';
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    return new ValidationError(field, limit, `got ${value}`);
  }
  if (typeof value === 'string') {
    if (/^[0-9]+$/.test(value) && value.length <= MAX_MILLIS_DIGITS) return Number(value);
    return new ValidationError(field, limit, 'got a string that is not digits');
  }
  return new ValidationError(field, limit, `got ${describe(value)}`);
}

function checkEnum(field: string, kind: string, accepted: readonly string[], names: readonly string[], value: unknown) {
  if (typeof value === 'string' && accepted.includes(value)) return undefined;
  const got = typeof value === 'string' ? `\`${echo(value)}\`` : describe(value);
  return new ValidationError(field, `must be a ${kind} value`, `unknown ${kind} ${got}, expected one of ${names.join(', ')}`);
}

/** What `recordMetricEvent` sends, once its request is valid. */
export type CheckedEvent = { ssiEvent: string; timestamp: number | string; failureReason?: string };

// The spellings the agent also reads for each FailureReason (the Fire OS SDK's descriptions).
const FAILURE_REASON_ALIASES: readonly string[] = [
  'The user isn\u2019t authorized to do log in.',
  "The user isn't authorized to do log in.",
  'The request is corrupted.',
  'The login page the user is looking for cannot be found.',
  'No login opportunity is available.',
  'Something is wrong with the login.',
];

/**
 * `recordMetricEvent`'s request: a known `ssiEvent`; the time as `timestamp` or
 * `epochTimestamp` (both only if equal), within [now - 7 days, now + 5 minutes];
 * `failureReason` present exactly with `LOGIN_FAILURE`.
 */
export function validateEventRequest(request: unknown, nowMs: number): CheckedEvent | ValidationError {
  if (!isObject(request)) return mustBeObject('request', request, 'an SSIEventRequest object')!;
  const events = Object.values(SSIEvent) as string[];
  const reasons = Object.values(FailureReason) as string[];
  const badEvent = checkEnum('ssiEvent', 'SSIEvent', events, events, request['ssiEvent']);
  if (badEvent) return badEvent;
  const event = request['ssiEvent'] as string;

  const hasTimestamp = request['timestamp'] !== undefined;
  const hasEpoch = request['epochTimestamp'] !== undefined;
  if (!hasTimestamp && !hasEpoch) {
    return new ValidationError('timestamp', 'required (or spelled epochTimestamp), epoch milliseconds', 'missing');
  }
  const field = hasTimestamp ? 'timestamp' : 'epochTimestamp';
  const timestamp = readMillis(field, request[field]);
  if (timestamp instanceof ValidationError) return timestamp;
  if (hasTimestamp && hasEpoch) {
    const other = readMillis('epochTimestamp', request['epochTimestamp']);
    if (other instanceof ValidationError) return other;
    if (other !== timestamp) {
      return new ValidationError('epochTimestamp', 'must equal timestamp when both are given', `got ${other} and ${timestamp}`);
    }
  }

  const reason = request['failureReason'];
  if (reason !== undefined && reason !== null) {
    const badReason = checkEnum('failureReason', 'FailureReason', [...reasons, ...FAILURE_REASON_ALIASES], reasons, reason);
    if (badReason) return badReason;
  }

  // The window (ssi_proto::validate_metric_timestamp), then the reason's presence.
  const ahead = timestamp - nowMs;
  if (ahead < -METRIC_TIMESTAMP_MAX_AGE_MS || ahead > METRIC_TIMESTAMP_MAX_AHEAD_MS) {
    const limit = `must be within [now - ${METRIC_TIMESTAMP_MAX_AGE_MS / 86_400_000} days, now + ${METRIC_TIMESTAMP_MAX_AHEAD_MS / 60_000} minutes]`;
    const message = ahead < 0 ? `got ${-ahead} ms before now` : `got ${ahead} ms after now`;
    return new ValidationError(field, limit, message);
  }
  const hasReason = reason !== undefined && reason !== null;
  if (event === SSIEvent.LOGIN_FAILURE && !hasReason) {
    return new ValidationError('failureReason', 'required when ssiEvent is LOGIN_FAILURE', 'missing');
  }
  if (event !== SSIEvent.LOGIN_FAILURE && hasReason) {
    return new ValidationError('failureReason', 'allowed only when ssiEvent is LOGIN_FAILURE', `got ${reason} with ${event}`);
  }
  const checked: CheckedEvent = { ssiEvent: event, timestamp: request[field] as number | string };
  if (hasReason) checked.failureReason = reason as string;
  return checked;
}
