// Type-level tests of the seed's API as declared in dist/*.d.ts: what seed code writes
// must type-check, and what the seed does not allow must not (`@ts-expect-error` fails
// the check when the line below it compiles).
import {
  FailureReason,
  GetUserAndLinksResponse,
  Link,
  LinkAccountSuccessCode,
  LinkUserAccountRequest,
  LinkUserAccountResponse,
  LoginNameValue,
  RecordMetricsEventResponse,
  RequestStatus,
  SSIEvent,
  SSIEventRequest,
  ShowLoginSelectionResponse,
  SimpleSignInService,
  Token,
  UserSelection,
} from '@ssi/simplesignin';

// The four methods return Promises of the seed's responses.
const a: Promise<GetUserAndLinksResponse> = SimpleSignInService.getUserAndLinks('acme');
const token: Token = { token: 't', schema: 'LINK-TOKEN-1.0' };
const linkRequest: LinkUserAccountRequest = {
  partnerUserId: 'u',
  identityProviderName: 'acme',
  userLoginName: 'n',
  linkToken: token,
  linkSigningKey: 'k',
};
const b: Promise<LinkUserAccountResponse> = SimpleSignInService.linkUserAccount(linkRequest);
const names: LoginNameValue[] = [{ loginName: 'n', linkId: 'l' }];
const c: Promise<ShowLoginSelectionResponse> = SimpleSignInService.showLoginSelection(names);

// SSIEventRequest: the sample's `timestamp` and the type list's `epochTimestamp`,
// as a number or a string.
const events: SSIEventRequest[] = [
  { ssiEvent: SSIEvent.LOGIN_SUCCESS, timestamp: Date.now() },
  { ssiEvent: SSIEvent.LOGIN_SUCCESS, epochTimestamp: String(Date.now()) },
  { ssiEvent: SSIEvent.LOGIN_FAILURE, timestamp: Date.now(), failureReason: FailureReason.NOT_FOUND },
  { ssiEvent: SSIEvent.MANUAL_SIGNIN_SELECTED, epochTimestamp: Date.now() },
];
const d: Promise<RecordMetricsEventResponse> = SimpleSignInService.recordMetricEvent(events[0]!);

// Responses: the seed's optional fields and the extensions.
function read(
  r1: GetUserAndLinksResponse,
  r2: LinkUserAccountResponse,
  r3: ShowLoginSelectionResponse,
): (string | undefined)[] {
  const link: Link | undefined = r1.links?.[0];
  const linked: string | undefined = link?.linkedTimestamp;
  const status: RequestStatus = r1.requestStatus;
  const code: LinkAccountSuccessCode | undefined = r2.successCode;
  const selection: UserSelection | undefined = r3.userSelection;
  return [linked, status, code, selection, r1.message, r3.ssiToken?.token, r3.linkId, r2.linkId, r1.amazonUserId];
}

// What must not type-check.
// @ts-expect-error: no time at all
const noTime: SSIEventRequest = { ssiEvent: SSIEvent.LOGIN_SUCCESS };
// @ts-expect-error: an event outside SSIEvent
const badEvent: SSIEventRequest = { ssiEvent: 'LOGGED_IN', timestamp: 1 };
// @ts-expect-error: linkToken must be a Token
const badToken: LinkUserAccountRequest = { ...linkRequest, linkToken: 'jwe' };
// @ts-expect-error: getUserAndLinks takes the IDP name
SimpleSignInService.getUserAndLinks({ identityProviderName: 'acme' });
// @ts-expect-error: linkedTimestamp is a string of epoch ms
const badLink: Link = { ...({} as Link), linkedTimestamp: 5 };

export { a, b, c, d, read, noTime, badEvent, badToken, badLink };
