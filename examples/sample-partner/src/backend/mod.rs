//! The sample partner's backend: its own users, sign-in by password, link
//! tokens and sealed link signing keys for `linkUserAccount`, and sign-in
//! from an SSI token verified with the partner library.
//!
//! Routes (JSON, see [`crate::wire`]); "signed in" means
//! `Authorization: Bearer <session>`:
//!
//! | route | does |
//! |---|---|
//! | `POST /api/sign-in` | username + password → a session |
//! | `GET /api/me` | signed in: who, and how they signed in |
//! | `POST /api/sign-out` | signed in: ends the session |
//! | `POST /api/link-token` | signed in: a link token and a sealed link signing key for `amazonUserId` |
//! | `POST /api/links` | signed in: records the `linkId` of an established link |
//! | `POST /api/login-names` | the names to show for links, each proven by its SSI token |
//! | `POST /api/ssi-sign-in` | an SSI token → a session, after the ten verification steps |
//! | `GET /api/events` | what the backend did lately (for the TV page) |
//! | `GET /` | a page with the users and the activity log |

mod api;
pub mod keys;
pub mod store;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ssi_token::{InMemoryReplayStore, LinkTokenKeys, Random};
use thiserror::Error;

pub use self::keys::AppKeySource;
use self::keys::{AppKeys, KeyFileError, load_or_create_link_token_key};
use self::store::{Store, UserRow};
use crate::Clock;
use crate::wire::BackendEvent;

/// The database file and the link-token key file, in the backend's directory.
pub const DATABASE_FILE: &str = "sample-partner.db";
pub const LINK_TOKEN_KEY_FILE: &str = "link-token-key.jwk";
/// How many events the activity log keeps.
const EVENTS_KEPT: usize = 100;

/// A user the backend creates on first start (idempotent: an existing
/// username is left as it is).
#[derive(Clone)]
pub struct DemoUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
}

impl std::fmt::Debug for DemoUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoUser")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

pub struct BackendConfig {
    /// Holds the database and the link-token key (created if missing).
    pub dir: PathBuf,
    /// The partner's identity provider name: the `aud` of its SSI tokens.
    pub identity_provider_name: String,
    /// The platform's issuer URL: the `iss` of its SSI tokens.
    pub issuer: String,
    /// Where the app's public key comes from.
    pub app_key: AppKeySource,
    /// Users to create on first start.
    pub users: Vec<DemoUser>,
}

#[derive(Debug, Error)]
pub enum BackendError {
    #[error("backend directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("hashing a password failed")]
    Hashing,
}

/// The running backend; cheap to clone.
#[derive(Clone)]
pub struct Backend(Arc<Inner>);

struct Inner {
    identity_provider_name: String,
    issuer: String,
    store: Store,
    link_token_keys: LinkTokenKeys,
    /// The kid of the key new link tokens are made with.
    link_token_kid: String,
    app_keys: AppKeys,
    replay: InMemoryReplayStore,
    clock: Arc<dyn Clock>,
    rng: Mutex<Box<dyn Random + Send>>,
    events: Mutex<VecDeque<BackendEvent>>,
}

impl Backend {
    /// Opens the database and the link-token key (creating both on first
    /// start) and creates the demo users that do not exist yet.
    pub async fn open(
        config: BackendConfig,
        clock: Arc<dyn Clock>,
        mut rng: Box<dyn Random + Send>,
    ) -> Result<Self, BackendError> {
        std::fs::create_dir_all(&config.dir).map_err(|source| BackendError::Dir {
            path: config.dir.clone(),
            source,
        })?;
        let link_token_key =
            load_or_create_link_token_key(&config.dir.join(LINK_TOKEN_KEY_FILE), rng.as_mut())?;
        let link_token_kid = link_token_key.kid().to_owned();
        let store = Store::open(&config.dir.join(DATABASE_FILE)).await?;
        for user in &config.users {
            if store.find_user_by_name(&user.username).await?.is_some() {
                continue;
            }
            let mut salt = [0u8; 16];
            rng.fill(&mut salt);
            let password = user.password.clone();
            let password_hash =
                tokio::task::spawn_blocking(move || api::hash_password(&password, &salt))
                    .await
                    .map_err(|_| BackendError::Hashing)??;
            let row = UserRow {
                id: api::new_token(rng.as_mut(), "user_"),
                username: user.username.clone(),
                display_name: user.display_name.clone(),
                password_hash,
            };
            store.insert_user(&row, clock.now_secs()).await?;
        }
        Ok(Self(Arc::new(Inner {
            identity_provider_name: config.identity_provider_name,
            issuer: config.issuer,
            store,
            link_token_keys: LinkTokenKeys::single(link_token_key),
            link_token_kid,
            app_keys: AppKeys::new(config.app_key),
            replay: InMemoryReplayStore::new(),
            clock,
            rng: Mutex::new(rng),
            events: Mutex::new(VecDeque::new()),
        })))
    }

    /// The HTTP routes, to be served on a listener of the caller's choice.
    pub fn router(&self) -> axum::Router {
        api::routes(self.clone())
    }

    /// What the backend did lately, oldest first.
    pub fn events(&self) -> Vec<BackendEvent> {
        self.0
            .events
            .lock()
            .expect("events lock")
            .iter()
            .cloned()
            .collect()
    }

    /// Closes the database (after the server stopped).
    pub async fn close(&self) {
        self.0.store.close().await;
    }

    fn record(&self, text: String) {
        tracing::info!(target: "sample_partner", "{text}");
        let mut events = self.0.events.lock().expect("events lock");
        if events.len() == EVENTS_KEPT {
            events.pop_front();
        }
        events.push_back(BackendEvent {
            at: self.0.clock.now_secs(),
            text,
        });
    }
}
