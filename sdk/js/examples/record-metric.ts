// The seed's RecordMetricEvent sample with its placeholders filled: a sign-in with a
// linked account that the app's backend refused.
import { FailureReason, SimpleSignInService, SSIEvent } from '@ssi/simplesignin';

let request = {
  ssiEvent: SSIEvent.LOGIN_FAILURE,
  timestamp : Date.now(),
  failureReason: FailureReason.UNAUTHORIZED // If SSIEvent is a Failure, then this field is mandatory.
};
let promise = SimpleSignInService.recordMetricEvent(request);
promise.then((response) => {
  // Usually nothing to handle in this API.
  console.log(`outcome: recorded ${JSON.stringify(response)}`);
});
