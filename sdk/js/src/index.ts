// @ssi/simplesignin: the seed's `@amazon-devices/simplesignin` API over the app socket
// of the on-device ssi agent (docs/app-protocol.md).

export { SimpleSignInService, SimpleSignInClient, type SimpleSignInClientOptions } from './service';
export { FailureReason, LinkAccountSuccessCode, RequestStatus, SSIEvent, UserSelection } from './enums';
export type {
  EpochMillis,
  GetUserAndLinksResponse,
  Link,
  LinkUserAccountRequest,
  LinkUserAccountResponse,
  LoginNameValue,
  RecordMetricsEventResponse,
  SSIEventRequest,
  ShowLoginSelectionResponse,
  Token,
} from './types';
export { DEFAULT_RUN_DIR, PACKAGE_ID_ENV, RUN_DIR_ENV, SOCKET_ENV, findAppSocket, type SocketLocation } from './discovery';
export { MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from './connection';
