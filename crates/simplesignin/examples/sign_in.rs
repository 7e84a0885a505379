//! The seed's sign-in flow ("Implementing the sign-in flow"): getUserAndLinks,
//! then showLoginSelection with names the app's backend would provide, then
//! what to do with each answer.
//!
//! Run on a device with the agent, as an installed app:
//!     SSI_PACKAGE_ID=com.example.app cargo run -p simplesignin --example sign_in -- IDP_NAME

use simplesignin::{
    LoginNameValue, RequestStatus, SimpleSignIn, SsiEvent, SsiEventRequest, UserSelection,
};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let idp_name = std::env::args().nth(1).unwrap_or_else(|| "acme".to_owned());
    let ssi = match SimpleSignIn::from_env() {
        Ok(ssi) => ssi,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let response = ssi.get_user_and_links(&idp_name).await;
    if response.request_status != RequestStatus::Successful {
        // E.g. the owner turned Simple Sign-In off for the account, this device or
        // this app: fall back to the app's standard login.
        println!(
            "getUserAndLinks: {} ({}): show the standard login",
            response.request_status,
            response.message.unwrap_or_default()
        );
        return;
    }
    let links = response.links.unwrap_or_default();
    if links.is_empty() {
        println!("no links yet: show the standard login (then link, see link_account)");
        return;
    }
    // The login names come from the app's backend; here, the partner user ids.
    let entries: Vec<LoginNameValue> = links
        .iter()
        .map(|link| LoginNameValue::new(link.partner_user_id.clone(), link.link_id.clone()))
        .collect();
    let selection = ssi.show_login_selection(&entries).await;
    match selection.user_selection {
        Some(UserSelection::LoginSelected) => {
            let link_id = selection.link_id.unwrap_or_default();
            // Prefer the fresh token of the selection (extension); the one from
            // getUserAndLinks may have expired while the screen was open.
            let token = selection
                .ssi_token
                .or_else(|| {
                    links
                        .iter()
                        .find(|l| l.link_id == link_id)
                        .map(|l| l.ssi_token.clone())
                })
                .map(|t| t.token)
                .unwrap_or_default();
            println!(
                "selected {link_id}: send its SSI token ({} bytes) to the backend",
                token.len()
            );
            // Once the backend signed the user in:
            let now_ms = std::time::UNIX_EPOCH
                .elapsed()
                .map_or(0, |d| d.as_millis() as i64);
            let recorded = ssi
                .record_metric_event(&SsiEventRequest {
                    ssi_event: SsiEvent::LoginSuccess,
                    timestamp: now_ms,
                    failure_reason: None,
                })
                .await;
            println!("recordMetricEvent: {}", recorded.request_status);
        }
        Some(UserSelection::ManualSignIn) => println!("the user chose to sign in manually"),
        _ => println!(
            "nothing selected ({}): show the standard login",
            selection.message.unwrap_or_else(|| "timed out".to_owned())
        ),
    }
}
