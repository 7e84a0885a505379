// The seed's enumerations. Every value is its own name as a string, as on the agent's
// wire (DESIGN.md section 4), so a response's field compares equal to the member.

/** Outcome of every call. */
export enum RequestStatus {
  /** The request was processed. */
  SUCCESSFUL = 'SUCCESSFUL',
  /** Non-retryable error; the response's `message` says why. */
  FAILURE = 'FAILURE',
  /** Transient error (no agent, server unreachable, timeout, rate limited); retry later. */
  RETRYABLE_FAILURE = 'RETRYABLE_FAILURE',
  /** This package speaks a protocol version the agent does not. */
  NOT_SUPPORTED = 'NOT_SUPPORTED',
  /** Disabled by the operator for the region or app, or a device mode without SSI. */
  NOT_AVAILABLE = 'NOT_AVAILABLE',
  /** The app already has a screen-bearing call (`linkUserAccount`, `showLoginSelection`) in flight. */
  DUPLICATE_REQUEST = 'DUPLICATE_REQUEST',
  /** The owner turned SSI off for the account, this device or this app. */
  FEATURE_TURNED_OFF = 'FEATURE_TURNED_OFF',
  /** The sealed `linkSigningKey` cannot be decrypted with the app's keys. */
  INVALID_LINK_SIGNING_KEY_ENCRYPTION = 'INVALID_LINK_SIGNING_KEY_ENCRYPTION',
  /** The decrypted `linkSigningKey` is not a valid P-256 private key. */
  INVALID_LINK_SIGNING_KEY = 'INVALID_LINK_SIGNING_KEY',
}

/** Finer outcome of `linkUserAccount`. */
export enum LinkAccountSuccessCode {
  /** Consent granted, link created. */
  LINK_ESTABLISHED = 'LINK_ESTABLISHED',
  /** The link existed already; no consent asked. */
  LINK_ALREADY_EXISTS = 'LINK_ALREADY_EXISTS',
  /** The user chose "Not now". */
  CONSENT_DENIED = 'CONSENT_DENIED',
  /** The request failed or the consent screen timed out. */
  NOT_APPLICABLE = 'NOT_APPLICABLE',
}

/** What the user did on the login-selection screen. */
export enum UserSelection {
  /** The user picked one of the offered links (`linkId` set). */
  LOGIN_SELECTED = 'LOGIN_SELECTED',
  /** The user chose to sign in manually. */
  MANUAL_SIGN_IN = 'MANUAL_SIGN_IN',
  /** Nothing was selected (the screen timed out after 15 minutes, or the request failed). */
  NOT_APPLICABLE = 'NOT_APPLICABLE',
}

/** A business-metric event reported by the app. */
export enum SSIEvent {
  /** Sign-in with a linked account succeeded. */
  LOGIN_SUCCESS = 'LOGIN_SUCCESS',
  /** Sign-in with a linked account failed; needs a `FailureReason`. */
  LOGIN_FAILURE = 'LOGIN_FAILURE',
  /** The user chose manual sign-in over the linked accounts. */
  MANUAL_SIGNIN_SELECTED = 'MANUAL_SIGNIN_SELECTED',
}

/** Why a sign-in with a linked account failed (with `SSIEvent.LOGIN_FAILURE` only). */
export enum FailureReason {
  /** The user is not authorised to log in. */
  UNAUTHORIZED = 'UNAUTHORIZED',
  /** The request was corrupted. */
  BAD_REQUEST = 'BAD_REQUEST',
  /** The login page cannot be found. */
  NOT_FOUND = 'NOT_FOUND',
  /** No login opportunity is available. */
  FORBIDDEN = 'FORBIDDEN',
  /** Something is wrong with the login. */
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}
