// The seed's linking flow ("Account Linking Process"), as an app would write it after
// its own standard login: the seed's code unchanged but for the import and its
// placeholders filled, with a line printed in each branch.
//
// The link token and the sealed link signing key come from your server (see the
// partner library, `ssi token`); this sample takes them from the environment:
// IDP_NAME, PARTNER_USER_ID, USER_LOGIN_NAME, LINK_TOKEN, LINK_SIGNING_KEY.
import { LinkAccountSuccessCode, SimpleSignInService } from '@ssi/simplesignin';

const IDP_NAME = process.env.IDP_NAME ?? 'my-idp';
const env = (name: string): string => process.env[name] ?? '';

function outcome(what: string, detail: unknown = {}): void {
  console.log(`outcome: ${what} ${JSON.stringify(detail)}`);
}

let request = {
  partnerUserId: env('PARTNER_USER_ID'),
  identityProviderName: IDP_NAME,
  userLoginName: env('USER_LOGIN_NAME'),
  linkToken: {
    token: env('LINK_TOKEN'),
    schema: "LINK-TOKEN-1.0"
  },
  linkSigningKey: env('LINK_SIGNING_KEY')
};
// Call LinkUserAccount API
let promise = SimpleSignInService.linkUserAccount(request);
promise.then((response) => { // Handle response
  if (response.successCode == LinkAccountSuccessCode.LINK_ESTABLISHED) {
    // Save the link id returned in the response corresponding the your app's user account on server.
    // Use `response.linkId`.
    outcome('link established', response);
  } else if (response.successCode == LinkAccountSuccessCode.LINK_ALREADY_EXISTS) {
    // Save the link id returned in the response corresponding the your app's user account on server as this is new link created.
    // Use `response.linkId`.
    outcome('link already exists', response);
  } else if (response.successCode != LinkAccountSuccessCode.CONSENT_DENIED) {
    // Means user doesn't want to link this account.
    // Nothing to do at this point. Proceed with after login process of your app.
    // (The seed's sample compares with != here; == is what its comment means, so a
    // denied consent lands in the last branch and a failure here.)
    outcome('not linked: no consent, or a failure', response);
  } else {
    // There was some error from Simple Sign-In service. Check the requestStatus
    // and report to Amazon if issue persists.
    outcome('not linked: consent denied, or an error', response);
  }
});
