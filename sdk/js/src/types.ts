// The seed's type aliases, with its field names. `message` (every response) and
// `ssiToken` (a `LOGIN_SELECTED` selection) are this implementation's extensions.

import type {
  FailureReason,
  LinkAccountSuccessCode,
  RequestStatus,
  SSIEvent,
  UserSelection,
} from './enums';

/** A link token (`LINK-TOKEN-1.0`) or an SSI token (`SSI-TOKEN-1.0`) with its schema. */
export type Token = {
  /** The encoded token (JWE or JWS compact serialization). */
  token: string;
  /** `LINK-TOKEN-1.0` for link tokens, `SSI-TOKEN-1.0` for SSI tokens. */
  schema: string;
};

/** One active link, with an SSI token minted for this call. */
export type Link = {
  /** The platform's id of the link. */
  linkId: string;
  /** The platform account's directed id (the seed's name, kept for compatibility). */
  amazonUserId: string;
  /** The app's own id of its user. */
  partnerUserId: string;
  /** The identity provider (SSI ID) the link belongs to. */
  identityProviderName: string;
  /** A freshly minted SSI token for this link; the app's backend verifies it. */
  ssiToken: Token;
  /** When the link was made: epoch milliseconds as a string of digits. */
  linkedTimestamp: string;
};

/** Result of `getUserAndLinks`. */
export type GetUserAndLinksResponse = {
  requestStatus: RequestStatus;
  /** The platform account's directed id; set when `SUCCESSFUL`. */
  amazonUserId?: string;
  /** The active links of this user for the IDP (maybe none); set when `SUCCESSFUL`. */
  links?: Link[];
  /** Extension: why, when not `SUCCESSFUL`. */
  message?: string;
};

/** Argument of `linkUserAccount`. */
export type LinkUserAccountRequest = {
  /** The app's own id of its user; with the platform user and IDP, the de-duplication key. */
  partnerUserId: string;
  /** The app's identity provider name (SSI ID). */
  identityProviderName: string;
  /** The name of the app account shown on the consent screen. */
  userLoginName: string;
  /** The link token from the app's backend (schema `LINK-TOKEN-1.0`). */
  linkToken: Token;
  /** The link signing key from the app's backend, sealed to the app's public key (JWE compact). */
  linkSigningKey: string;
};

/** Result of `linkUserAccount`. */
export type LinkUserAccountResponse = {
  requestStatus: RequestStatus;
  /** Finer outcome. */
  successCode?: LinkAccountSuccessCode | undefined;
  /** The new or existing link; absent when consent was denied. */
  linkId?: string;
  /** Extension: why, when not `SUCCESSFUL`. */
  message?: string;
};

/** One entry of the login-selection screen. */
export type LoginNameValue = {
  /** The name shown for the link (login name, e-mail address or profile name). */
  loginName: string;
  /** The link this entry selects. */
  linkId: string;
};

/** Result of `showLoginSelection`. */
export type ShowLoginSelectionResponse = {
  requestStatus: RequestStatus;
  /** What the user did. */
  userSelection?: UserSelection;
  /** The chosen link when `LOGIN_SELECTED`. */
  linkId?: string;
  /**
   * Extension: a fresh SSI token for the chosen link when `LOGIN_SELECTED` (the one from
   * `getUserAndLinks` may have expired while the screen was open).
   */
  ssiToken?: Token;
  /** Extension: why, when not `SUCCESSFUL`. */
  message?: string;
};

/** Epoch milliseconds: a non-negative integer, or a string of digits. */
export type EpochMillis = number | string;

/**
 * Argument of `recordMetricEvent`. The time is `timestamp` (the seed's sample) or
 * `epochTimestamp` (the seed's type list): either spelling, epoch milliseconds.
 */
export type SSIEventRequest = {
  /** What happened. */
  ssiEvent: SSIEvent;
  /** Mandatory with `LOGIN_FAILURE`, refused with any other event. */
  failureReason?: FailureReason;
} & (
  | { timestamp: EpochMillis; epochTimestamp?: EpochMillis }
  | { epochTimestamp: EpochMillis; timestamp?: EpochMillis }
);

/** Result of `recordMetricEvent`. */
export type RecordMetricsEventResponse = {
  requestStatus: RequestStatus;
  /** Extension: why, when not `SUCCESSFUL`. */
  message?: string;
};
