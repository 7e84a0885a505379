// The seed's sign-in flow ("Implementing the sign-in flow"), as an app would write it:
// the seed's code unchanged but for the import, its placeholders filled, and a line
// printed in each branch so that the end-to-end test can see which one ran.
//
// Run: IDP_NAME=<your SSI ID> SSI_PACKAGE_ID=<your package id> node build/examples/sign-in.js
import { Link, LoginNameValue, RequestStatus, SimpleSignInService, UserSelection } from '@ssi/simplesignin';

// Your Identity Provider Name, given at your app's onboarding in the Developer Console.
const IDP_NAME = process.env.IDP_NAME ?? 'my-idp';

// Your own code: the name your server knows the linked account by (login name, e-mail
// address or profile name). This sample shows the app's user id.
function loginNameForLink(link: Link): string {
  return link.partnerUserId;
}

function outcome(what: string, detail: unknown = {}): void {
  console.log(`outcome: ${what} ${JSON.stringify(detail)}`);
}

let getUserAndLinksPromise = SimpleSignInService.getUserAndLinks(IDP_NAME); // Calls the API
getUserAndLinksPromise.then( // Handle response
  (response) => {
    if (response.requestStatus != RequestStatus.SUCCESSFUL) {
      // Check the requestStatus.
      // Example, request is unsuccessul because user has disable Simple Sign-In for their account or this device or for this app.
      // Fallback to show standard login of your app
      outcome('standard login: getUserAndLinks not successful', response);
    } else if (response.links?.length! > 0) {
      // It means there are links present using which user can login
      /*
       * Prepeare to ShowLoginSelection.
       * This code is your customised code. You need to get the
       * login names to show for each link to the user.
       * You can the get the login names from the your server.
       */
      let request:LoginNameValue[] = [];
      response.links?.forEach((link) => {
        request.push({loginName: loginNameForLink(link), linkId: link.linkId});
      });
      // Call ShowLoginSelection API
      let showLoginSelectionPromise = SimpleSignInService.showLoginSelection(request);
      showLoginSelectionPromise.then((response) => { // Handle what user has selected
        if (response.userSelection == UserSelection.MANUAL_SIGN_IN) { // User selected to login with a new account
          // Show your app's standard login
          outcome('standard login: user chose manual sign-in', response);
        } else if (response.userSelection == UserSelection.LOGIN_SELECTED) { // User selected an existing link to login
          // Pass the link id to appropriate method or to your app's server to authenticate
          outcome('signed in with a link', { linkId: response.linkId });
        } else {
          // Means user hasn't selected anything for 15mins, or there was a failure in request
          // Fallback to show standard login of your app
          outcome('standard login: nothing selected or failure', response);
        }
      });
    } else {
      // It means there are no links created yet for the user
      // Fallback to show standard login of your app
      outcome('standard login: no links yet', response);
    }
  }
);
