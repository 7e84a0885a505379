//! The seed's account linking ("Account Linking Process"): after the user
//! signed in with the app's standard login, the app gets a link token and a
//! sealed link signing key from its backend and calls linkUserAccount.
//!
//! The backend's part can be played by the partner CLI:
//!     ssi token keygen …; ssi token link-token …  (see crates/ssi-token/README.md)
//! Run on a device with the agent, as an installed app:
//!     SSI_PACKAGE_ID=com.example.app cargo run -p simplesignin --example link_account -- \
//!         IDP_NAME PARTNER_USER_ID LOGIN_NAME LINK_TOKEN_FILE SEALED_KEY_FILE

use simplesignin::{
    LinkAccountSuccessCode, LinkUserAccountRequest, RequestStatus, SimpleSignIn, Token,
};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [idp_name, partner_user_id, login_name, token_file, key_file] = args.as_slice() else {
        eprintln!(
            "usage: link_account IDP_NAME PARTNER_USER_ID LOGIN_NAME LINK_TOKEN_FILE SEALED_KEY_FILE"
        );
        std::process::exit(1);
    };
    let read = |path: &str| match std::fs::read_to_string(path) {
        Ok(text) => text.trim().to_owned(),
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let ssi = match SimpleSignIn::from_env() {
        Ok(ssi) => ssi,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let request = LinkUserAccountRequest {
        partner_user_id: partner_user_id.clone(),
        identity_provider_name: idp_name.clone(),
        user_login_name: login_name.clone(),
        link_token: Token::link(read(token_file)),
        link_signing_key: read(key_file),
    };
    let response = ssi.link_user_account(&request).await;
    match (response.request_status, response.success_code) {
        (RequestStatus::Successful, Some(LinkAccountSuccessCode::LinkEstablished))
        | (RequestStatus::Successful, Some(LinkAccountSuccessCode::LinkAlreadyExists)) => {
            // Save the link id with the app's user account on the backend.
            println!("linked: {}", response.link_id.unwrap_or_default());
        }
        (RequestStatus::Successful, Some(LinkAccountSuccessCode::ConsentDenied)) => {
            // The user does not want to link this account: carry on.
            println!("the user chose not now");
        }
        (status, _) => println!(
            "not linked: {status} ({})",
            response.message.unwrap_or_default()
        ),
    }
}
