// The seed's `SimpleSignInService`: four static methods returning Promises, plus
// `SimpleSignInClient`, the same four on an explicit socket (this package's extension).

import { AgentConnection, failure, type StatusResult } from './connection';
import { findAppSocket, type SocketLocation } from './discovery';
import { RequestStatus } from './enums';
import type {
  GetUserAndLinksResponse,
  LinkUserAccountRequest,
  LinkUserAccountResponse,
  LoginNameValue,
  RecordMetricsEventResponse,
  ShowLoginSelectionResponse,
  SSIEventRequest,
} from './types';
import {
  ValidationError,
  validateEventRequest,
  validateIdentityProviderName,
  validateLinkUserAccountRequest,
  validateLoginSelection,
} from './validate';

/** Options of a {@link SimpleSignInClient}. */
export type SimpleSignInClientOptions = {
  /** The app's socket; without it the environment says where (see the README). */
  socketPath?: string;
  /** The environment to find the socket in (default: `process.env`, read at each connect). */
  env?: Record<string, string | undefined>;
  /** The clock that bounds metric timestamps, epoch ms (default: `Date.now`). */
  now?: () => number;
};

function refused(error: ValidationError): StatusResult {
  return failure(RequestStatus.FAILURE, error.toString());
}

/** Answers FAILURE instead of throwing: the seed's callers only look at `requestStatus`. */
async function guarded<T extends StatusResult>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    return failure(RequestStatus.FAILURE, `simplesignin: ${String(error)}`) as T;
  }
}

/**
 * The four calls on one connection to the agent. `SimpleSignInService` uses one
 * instance that finds its socket from the environment.
 */
export class SimpleSignInClient {
  private readonly connection: AgentConnection;
  private readonly now: () => number;

  constructor(options: SimpleSignInClientOptions = {}) {
    const { socketPath, env } = options;
    const locate = (): SocketLocation => (socketPath ? { path: socketPath } : findAppSocket(env ?? process.env));
    this.connection = new AgentConnection(locate);
    this.now = options.now ?? Date.now;
  }

  /** The current platform user's directed id and active links for `idpName`, each with a fresh SSI token. */
  getUserAndLinks(idpName: string): Promise<GetUserAndLinksResponse> {
    return guarded(async () => {
      const invalid = validateIdentityProviderName(idpName);
      if (invalid) return refused(invalid);
      return this.connection.call<GetUserAndLinksResponse>('getUserAndLinks', { identityProviderName: idpName });
    });
  }

  /** Links the app account to the platform account, asking the user's consent on a system screen. */
  linkUserAccount(request: LinkUserAccountRequest): Promise<LinkUserAccountResponse> {
    return guarded(async () => {
      const invalid = validateLinkUserAccountRequest(request);
      if (invalid) return refused(invalid);
      const { partnerUserId, identityProviderName, userLoginName, linkToken, linkSigningKey } = request;
      const params = {
        partnerUserId,
        identityProviderName,
        userLoginName,
        linkToken: { token: linkToken.token, schema: linkToken.schema },
        linkSigningKey,
      };
      return this.connection.call<LinkUserAccountResponse>('linkUserAccount', params);
    });
  }

  /** Shows the login-selection screen with these names; resolves with what the user chose. */
  showLoginSelection(request: LoginNameValue[]): Promise<ShowLoginSelectionResponse> {
    return guarded(async () => {
      const invalid = validateLoginSelection(request);
      if (invalid) return refused(invalid);
      const params = request.map(({ loginName, linkId }) => ({ loginName, linkId }));
      return this.connection.call<ShowLoginSelectionResponse>('showLoginSelection', params);
    });
  }

  /** Records a business-metric event; the agent keeps it and answers at once. */
  recordMetricEvent(request: SSIEventRequest): Promise<RecordMetricsEventResponse> {
    return guarded(async () => {
      const checked = validateEventRequest(request, this.now());
      if (checked instanceof ValidationError) return refused(checked);
      return this.connection.call<RecordMetricsEventResponse>('recordMetricEvent', checked);
    });
  }

  /** Closes the connection (the next call opens a new one); calls in flight resolve `RETRYABLE_FAILURE`. */
  close(): void {
    this.connection.close();
  }
}

let shared: SimpleSignInClient | undefined;

function client(): SimpleSignInClient {
  shared ??= new SimpleSignInClient();
  return shared;
}

/**
 * The seed's API. Every method resolves (never rejects) with the seed's response;
 * `requestStatus` says how it went and the extension `message` says why on failure.
 */
export class SimpleSignInService {
  /** Fetches the current platform user's directed id and active links for the IDP. */
  static getUserAndLinks(idpName: string): Promise<GetUserAndLinksResponse> {
    return client().getUserAndLinks(idpName);
  }

  /** Links the app account after the user's consent (or finds the existing link). */
  static linkUserAccount(request: LinkUserAccountRequest): Promise<LinkUserAccountResponse> {
    return client().linkUserAccount(request);
  }

  /** Shows the login-selection screen. */
  static showLoginSelection(request: LoginNameValue[]): Promise<ShowLoginSelectionResponse> {
    return client().showLoginSelection(request);
  }

  /** Records a business-metric event. */
  static recordMetricEvent(request: SSIEventRequest): Promise<RecordMetricsEventResponse> {
    return client().recordMetricEvent(request);
  }
}
