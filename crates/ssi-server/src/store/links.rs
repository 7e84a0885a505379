//! Links as the device API sees them (DESIGN.md section 3, "Linking" and
//! "Sign-in"): the one-query context of a device API call, the active links of
//! (account, IDP), the de-duplicated insert, and the per-node cache of rebuilt
//! link signing keys.
//!
//! SQLite's Any driver cannot carry BOOLEAN columns, so every boolean is read
//! as `CASE WHEN … THEN 1 ELSE 0 END` (an integer on both backends).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};

use sqlx::{AnyConnection, Row};
use ssi_token::{AppKeyPair, LinkSigningKey};

use super::accounts::flag;
use super::audit::AuditRow;
use super::devices::{DEVICE_COLUMNS, DeviceRow, device_from_row};
use super::metrics::{MetricEventRow, insert_metric_event_on};
use super::reads::{Columns, Param};
use super::{Store, StoreError};

/// The account, region and app facts of one device API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceApiContext {
    pub is_account_enabled: bool,
    pub is_region_available: bool,
    /// `None`: no app with that package id.
    pub app: Option<DeviceApiApp>,
}

/// The calling device, the facts and the links of one `getUserAndLinks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceApiCall {
    pub device: DeviceRow,
    pub context: DeviceApiContext,
    /// The account's links of the app's IDP, oldest first.
    pub links: Vec<StoredLink>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceApiApp {
    pub id: String,
    pub developer_id: String,
    pub display_name: String,
    pub has_icon: bool,
    pub is_blocked: bool,
    /// The account's switch for this app (no row = on).
    pub is_enabled_by_owner: bool,
    pub idp_id: Option<String>,
    pub idp_name: Option<String>,
}

/// A stored link with what minting needs. `Debug` leaves out the link token
/// and the sealed key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredLink {
    pub id: String,
    pub partner_user_id: String,
    pub link_token: String,
    pub signing_key_sealed: Vec<u8>,
    pub signing_key_public: Vec<u8>,
    pub master_key_version: i64,
    pub created_at: i64,
}

impl fmt::Debug for StoredLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredLink")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A link to insert; the signing key's scalar is already sealed (AAD = id).
#[derive(Clone)]
pub struct NewLink<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub idp_id: &'a str,
    pub partner_user_id: &'a str,
    pub user_login_name: &'a str,
    pub link_token: &'a str,
    pub signing_key_sealed: &'a [u8],
    pub signing_key_public: &'a [u8],
    pub master_key_version: i64,
    pub app_id: &'a str,
    pub device_id: &'a str,
    pub now_ms: i64,
}

/// A sign-in through a link.
#[derive(Debug, Clone, Copy)]
pub struct NewSignIn<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub app_id: &'a str,
    pub device_id: &'a str,
    pub link_id: &'a str,
    pub now_ms: i64,
}

/// What [`Store::insert_link_deduplicated`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkInsertOutcome {
    /// This call inserted the link (and its `ENABLE_SSI` event).
    Established(String),
    /// (account, IDP, partner user) was linked already: that link's id.
    AlreadyExists(String),
    /// The account has `max_links` links for the IDP already.
    LimitReached,
    /// The owner turned SSI off for the account or the app meanwhile.
    TurnedOff,
    /// The account is gone.
    NoAccount,
}

/// An app key as stored: the private scalar sealed under the master key
/// (AAD = kid).
#[derive(Clone)]
pub struct SealedAppKey {
    pub kid: String,
    pub private_sealed: Vec<u8>,
    pub master_key_version: i64,
}

impl fmt::Debug for SealedAppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedAppKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// An audit entry written in the caller's transaction, so that a change and
/// its entry commit together (the same row as `Store::insert_audit`).
async fn insert_audit_on(conn: &mut AnyConnection, entry: &AuditRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, request_id, actor, action, account_id, subject, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&entry.id)
    .bind(entry.at)
    .bind(&entry.request_id)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.account_id)
    .bind(&entry.subject)
    .bind(&entry.detail)
    .execute(conn)
    .await?;
    Ok(())
}

const CONTEXT_COLUMNS: &str = "\
    CASE WHEN a.ssi_enabled THEN 1 ELSE 0 END AS account_enabled, \
    CASE WHEN r.ssi_available IS NULL OR r.ssi_available THEN 1 ELSE 0 END AS region_available, \
    p.id AS app_id, p.developer_id, p.display_name, \
    CASE WHEN p.icon IS NULL THEN 0 ELSE 1 END AS has_icon, \
    CASE WHEN p.blocked THEN 1 ELSE 0 END AS app_blocked, \
    CASE WHEN s.ssi_enabled IS NULL OR s.ssi_enabled THEN 1 ELSE 0 END AS app_enabled, \
    i.id AS idp_id, i.name AS idp_name";

/// From the device holding the credential `$1` to its account and the app
/// `$2`: authentication and context in one query, so that a deregistered
/// device (its row deleted) finds nothing at once.
const CONTEXT_JOINS: &str = "\
    FROM devices d \
    JOIN accounts a ON a.id = d.account_id \
    LEFT JOIN region_settings r ON r.region = a.region \
    LEFT JOIN apps p ON p.package_id = $2 \
    LEFT JOIN idps i ON i.id = p.idp_id \
    LEFT JOIN app_settings s ON s.account_id = a.id AND s.app_id = p.id";

const LINK_COLUMNS: &str = "l.id AS link_id, l.partner_user_id, l.link_token, \
    l.signing_key_sealed, l.signing_key_public, l.master_key_version, l.created_at AS link_created_at";

fn context_from_row(row: &dyn Columns) -> Result<DeviceApiContext, StoreError> {
    let app = match row.text_opt("app_id")? {
        None => None,
        Some(id) => Some(DeviceApiApp {
            id,
            developer_id: row.text("developer_id")?,
            display_name: row.text("display_name")?,
            has_icon: row.flag("has_icon")?,
            is_blocked: row.flag("app_blocked")?,
            is_enabled_by_owner: row.flag("app_enabled")?,
            idp_id: row.text_opt("idp_id")?,
            idp_name: row.text_opt("idp_name")?,
        }),
    };
    Ok(DeviceApiContext {
        is_account_enabled: row.flag("account_enabled")?,
        is_region_available: row.flag("region_available")?,
        app,
    })
}

fn link_from_row(row: &dyn Columns) -> Result<StoredLink, StoreError> {
    Ok(StoredLink {
        id: row.text("link_id")?,
        partner_user_id: row.text("partner_user_id")?,
        link_token: row.text("link_token")?,
        signing_key_sealed: row.bytes("signing_key_sealed")?,
        signing_key_public: row.bytes("signing_key_public")?,
        master_key_version: row.int("master_key_version")?,
        created_at: row.int("link_created_at")?,
    })
}

/// The statements of the device API's hot path, built once (`store::reads`).
static CONTEXT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {DEVICE_COLUMNS}, {CONTEXT_COLUMNS} {CONTEXT_JOINS} WHERE d.credential_hash = $1"
    )
});

static CONTEXT_WITH_LINKS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {DEVICE_COLUMNS}, {CONTEXT_COLUMNS}, {LINK_COLUMNS} {CONTEXT_JOINS} \
         LEFT JOIN links l ON l.account_id = a.id AND l.idp_id = i.id AND i.name = $3 \
         WHERE d.credential_hash = $1"
    )
});

static LINK_FOR_ACCOUNT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {LINK_COLUMNS} FROM links l \
         WHERE l.id = $1 AND l.account_id = $2 AND l.idp_id = $3"
    )
});

impl Store {
    /// The device holding the credential (by its hash) and the facts of a
    /// device API call for the app `package_id`, in one query. `None` when no
    /// registered device holds the credential.
    pub async fn device_api_context(
        &self,
        credential_hash: &str,
        package_id: &str,
    ) -> Result<Option<(DeviceRow, DeviceApiContext)>, StoreError> {
        let rows = self
            .read_rows(
                CONTEXT_SQL.as_str(),
                &[Param::Text(credential_hash), Param::Text(package_id)],
                |row| Ok((device_from_row(row)?, context_from_row(row)?)),
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    /// [`Store::device_api_context`] plus, in the same query, the account's
    /// links of the app's IDP, oldest first — only when that IDP is named
    /// `idp_name` (an app never reads another IDP's links).
    pub async fn device_api_context_with_links(
        &self,
        credential_hash: &str,
        package_id: &str,
        idp_name: &str,
    ) -> Result<Option<DeviceApiCall>, StoreError> {
        // Device and context are decoded from the first row only.
        let mut is_first = true;
        let rows = self
            .read_rows(
                CONTEXT_WITH_LINKS_SQL.as_str(),
                &[
                    Param::Text(credential_hash),
                    Param::Text(package_id),
                    Param::Text(idp_name),
                ],
                |row| {
                    let first = if std::mem::take(&mut is_first) {
                        Some((device_from_row(row)?, context_from_row(row)?))
                    } else {
                        None
                    };
                    let link = match row.text_opt("link_id")? {
                        Some(_) => Some(link_from_row(row)?),
                        None => None,
                    };
                    Ok((first, link))
                },
            )
            .await?;
        let mut rows = rows.into_iter();
        let Some((Some((device, context)), link)) = rows.next() else {
            return Ok(None);
        };
        let mut links: Vec<StoredLink> = link
            .into_iter()
            .chain(rows.filter_map(|(_, link)| link))
            .collect();
        // Sorted here rather than by an ORDER BY, which costs SQLite a
        // temporary B-tree holding whole link rows (at most 32 of them).
        links.sort_unstable_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(Some(DeviceApiCall {
            device,
            context,
            links,
        }))
    }

    /// The app keys that unseal link signing keys at `now_ms`: current keys
    /// and retired keys not yet expired (a retired key without an expiry
    /// lasts `retired_grace_ms` after retirement).
    pub async fn device_api_unsealing_keys(
        &self,
        app_id: &str,
        now_ms: i64,
        retired_grace_ms: i64,
    ) -> Result<Vec<SealedAppKey>, StoreError> {
        self.read_rows(
            "SELECT kid, private_sealed, master_key_version FROM app_keys \
             WHERE app_id = $1 AND (retired_at IS NULL OR COALESCE(expires_at, retired_at + $3) > $2) \
             ORDER BY created_at DESC, kid",
            &[
                Param::Text(app_id),
                Param::Int(now_ms),
                Param::Int(retired_grace_ms),
            ],
            |row| {
                Ok(SealedAppKey {
                    kid: row.text("kid")?,
                    private_sealed: row.bytes("private_sealed")?,
                    master_key_version: row.int("master_key_version")?,
                })
            },
        )
        .await
    }

    /// The link of (account, IDP, partner user), if any.
    pub async fn find_link_id_by_partner_user(
        &self,
        account_id: &str,
        idp_id: &str,
        partner_user_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let ids = self
            .read_rows(
                "SELECT id FROM links WHERE account_id = $1 AND idp_id = $2 AND partner_user_id = $3",
                &[
                    Param::Text(account_id),
                    Param::Text(idp_id),
                    Param::Text(partner_user_id),
                ],
                |row| row.text("id"),
            )
            .await?;
        Ok(ids.into_iter().next())
    }

    /// One link, only if it is a link of this account under this IDP.
    pub async fn find_link_for_account(
        &self,
        link_id: &str,
        account_id: &str,
        idp_id: &str,
    ) -> Result<Option<StoredLink>, StoreError> {
        let links = self
            .read_rows(
                LINK_FOR_ACCOUNT_SQL.as_str(),
                &[
                    Param::Text(link_id),
                    Param::Text(account_id),
                    Param::Text(idp_id),
                ],
                link_from_row,
            )
            .await?;
        Ok(links.into_iter().next())
    }

    /// Inserts a link unless (account, IDP, partner user) is linked already,
    /// the account has `max_links` links for the IDP, or the owner turned SSI
    /// off for the account or the app. With the link, in the same
    /// transaction, the server event `ENABLE_SSI` (idempotency key
    /// `enable:<link id>`) and the `audit` entry (`link.create`).
    ///
    /// Concurrent calls for one account are serialised on the account's row
    /// (an `UPDATE` that changes nothing takes its lock on PostgreSQL; SQLite
    /// has one writer), and the insert is `ON CONFLICT DO NOTHING` on the
    /// unique (account, IDP, partner user): however many nodes race, one link
    /// results and every caller learns its id.
    pub async fn insert_link_deduplicated(
        &self,
        link: &NewLink<'_>,
        max_links: usize,
        audit: &AuditRow,
    ) -> Result<LinkInsertOutcome, StoreError> {
        crate::with_retry!(self.try_insert_link(link, max_links, audit))
    }

    async fn try_insert_link(
        &self,
        link: &NewLink<'_>,
        max_links: usize,
        audit: &AuditRow,
    ) -> Result<LinkInsertOutcome, StoreError> {
        let mut tx = self.write.begin().await?;
        let outcome = insert_link_on(&mut tx, link, max_links, audit).await?;
        if matches!(outcome, LinkInsertOutcome::Established(_)) {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(outcome)
    }

    /// A sign-in through a link (the account's sign-in history) and its
    /// audit entry (`token.mint`), in one transaction.
    pub async fn insert_sign_in_for_link(
        &self,
        sign_in: &NewSignIn<'_>,
        audit: &AuditRow,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO sign_ins (id, account_id, app_id, device_id, link_id, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(sign_in.id)
        .bind(sign_in.account_id)
        .bind(sign_in.app_id)
        .bind(sign_in.device_id)
        .bind(sign_in.link_id)
        .bind(sign_in.now_ms)
        .execute(&mut *tx)
        .await?;
        insert_audit_on(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The device's own switch, set by the device itself (device API).
    /// Returns whether the device still exists.
    pub async fn device_api_set_device_ssi_enabled(
        &self,
        device_id: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE devices SET ssi_enabled = $1 WHERE id = $2")
            .bind(enabled)
            .bind(device_id)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The statements of one de-duplicated link insert, on a transaction the
/// caller opened and ends: it commits only on `Established`; any other
/// outcome wrote nothing but a no-op `UPDATE` (the account lock), so a caller
/// batching several inserts in one transaction (`store::link_writer`) may
/// carry on after it. Later inserts of the same transaction see the earlier
/// ones (de-duplication and the count hold inside a batch).
pub(crate) async fn insert_link_on(
    tx: &mut AnyConnection,
    link: &NewLink<'_>,
    max_links: usize,
    audit: &AuditRow,
) -> Result<LinkInsertOutcome, StoreError> {
    // 1. Lock the account row and read its switch under the lock.
    let account = sqlx::query(
        "UPDATE accounts SET ssi_enabled = ssi_enabled WHERE id = $1 \
         RETURNING CASE WHEN ssi_enabled THEN 1 ELSE 0 END AS enabled",
    )
    .bind(link.account_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(account) = account else {
        return Ok(LinkInsertOutcome::NoAccount);
    };
    // 2. The app switch, an existing link, the count: in a statement of
    // its own, so that on PostgreSQL it reads after the lock was granted
    // (a RETURNING subquery would read the snapshot taken before waiting).
    let facts = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM app_settings \
                 WHERE account_id = $1 AND app_id = $2 AND NOT ssi_enabled) AS app_off, \
                (SELECT id FROM links \
                 WHERE account_id = $1 AND idp_id = $3 AND partner_user_id = $4) AS existing, \
                (SELECT COUNT(*) FROM links WHERE account_id = $1 AND idp_id = $3) AS n",
    )
    .bind(link.account_id)
    .bind(link.app_id)
    .bind(link.idp_id)
    .bind(link.partner_user_id)
    .fetch_one(&mut *tx)
    .await?;
    let outcome = if !flag(&account, "enabled")? || facts.try_get::<i64, _>("app_off")? > 0 {
        Some(LinkInsertOutcome::TurnedOff)
    } else if let Some(existing) = facts.try_get::<Option<String>, _>("existing")? {
        // 3. An existing link wins.
        Some(LinkInsertOutcome::AlreadyExists(existing))
    } else if usize::try_from(facts.try_get::<i64, _>("n")?).unwrap_or(usize::MAX) >= max_links {
        // 4. The limit of active links per (account, IDP).
        Some(LinkInsertOutcome::LimitReached)
    } else {
        None
    };
    if let Some(outcome) = outcome {
        return Ok(outcome);
    }
    // 5. Insert, de-duplicated by the unique key; a writer that got there
    // first (one that took no lock) wins.
    let inserted = sqlx::query(
        "INSERT INTO links (id, account_id, idp_id, partner_user_id, user_login_name, \
         link_token, signing_key_sealed, signing_key_public, master_key_version, \
         created_by_app_id, created_by_device_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (account_id, idp_id, partner_user_id) DO NOTHING",
    )
    .bind(link.id)
    .bind(link.account_id)
    .bind(link.idp_id)
    .bind(link.partner_user_id)
    .bind(link.user_login_name)
    .bind(link.link_token)
    .bind(link.signing_key_sealed)
    .bind(link.signing_key_public)
    .bind(link.master_key_version)
    .bind(link.app_id)
    .bind(link.device_id)
    .bind(link.now_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        let winner: String = sqlx::query(
            "SELECT id FROM links \
             WHERE account_id = $1 AND idp_id = $2 AND partner_user_id = $3",
        )
        .bind(link.account_id)
        .bind(link.idp_id)
        .bind(link.partner_user_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        return Ok(LinkInsertOutcome::AlreadyExists(winner));
    }
    // 6. The server's ENABLE_SSI event and the audit entry commit with the
    // link: exactly once per link, even across a crash.
    let event = MetricEventRow {
        source: "server".to_owned(),
        idempotency_key: format!("enable:{}", link.id),
        app_id: link.app_id.to_owned(),
        event: ssi_proto::InternalEvent::EnableSsi.as_str().to_owned(),
        failure_reason: None,
        occurred_at: link.now_ms,
        received_at: link.now_ms,
    };
    insert_metric_event_on(tx, &event).await?;
    insert_audit_on(tx, audit).await?;
    Ok(LinkInsertOutcome::Established(link.id.to_owned()))
}

/// Keys rebuilt from sealed secrets, kept per node: bounded, two
/// generations of at most `capacity / 2` entries each; when the young one is
/// full, the old one is dropped (approximately LRU, O(1)). Keyed by (id,
/// master key version). An entry is only ever used for a row that was read
/// from the database in the same request, so what the database no longer
/// holds (a deleted link, a retired or expired app key) is never served, on
/// any node, and nothing needs invalidating.
pub struct KeyCache<V> {
    capacity: usize,
    generations: Mutex<Generations<V>>,
}

type CacheKey = (String, i64);

struct Generations<V> {
    young: HashMap<CacheKey, Arc<V>>,
    old: HashMap<CacheKey, Arc<V>>,
}

/// Entries kept by each cache's `default()`.
pub const SIGNING_KEY_CACHE_CAPACITY: usize = 10_000;

impl<V> Default for KeyCache<V> {
    fn default() -> Self {
        Self::new(SIGNING_KEY_CACHE_CAPACITY)
    }
}

impl<V> fmt::Debug for KeyCache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl<V> KeyCache<V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(2),
            generations: Mutex::new(Generations {
                young: HashMap::new(),
                old: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations<V>> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached value for this id and master key version.
    fn lookup(&self, id: &str, master_key_version: i64) -> Option<Arc<V>> {
        let key = (id.to_owned(), master_key_version);
        let mut generations = self.lock();
        match generations.young.get(&key) {
            Some(found) => Some(found.clone()),
            None => {
                let found = generations.old.remove(&key)?;
                self.insert_young(&mut generations, key, found.clone());
                Some(found)
            }
        }
    }

    pub fn insert(&self, id: &str, master_key_version: i64, value: Arc<V>) {
        let mut generations = self.lock();
        self.insert_young(&mut generations, (id.to_owned(), master_key_version), value);
    }

    fn insert_young(&self, generations: &mut Generations<V>, key: CacheKey, value: Arc<V>) {
        if generations.young.len() >= self.capacity / 2 && !generations.young.contains_key(&key) {
            generations.old = std::mem::take(&mut generations.young);
        }
        generations.young.insert(key, value);
    }

    /// Drops an id's entries (any version) from this node's memory.
    pub fn forget(&self, id: &str) {
        let mut generations = self.lock();
        generations.young.retain(|(key, _), _| key != id);
        generations.old.retain(|(key, _), _| key != id);
    }

    pub fn len(&self) -> usize {
        let generations = self.lock();
        generations.young.len() + generations.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Link signing keys rebuilt from their sealed scalars, by link id.
/// Rebuilding costs an AES-GCM open and a scalar multiplication (the
/// `x,y = d·G` check), more than the signature itself; the cache makes a
/// repeated `getUserAndLinks` cost one signature per link. An entry is used
/// only if its public point equals the stored one.
pub type SigningKeyCache = KeyCache<LinkSigningKey>;

impl KeyCache<LinkSigningKey> {
    /// The cached key for this link and master key version, if its public
    /// point is `public_sec1`.
    pub fn get(
        &self,
        link_id: &str,
        master_key_version: i64,
        public_sec1: &[u8],
    ) -> Option<Arc<LinkSigningKey>> {
        let found = self.lookup(link_id, master_key_version)?;
        (found.public_sec1().as_slice() == public_sec1).then_some(found)
    }
}

/// App key pairs opened from their sealed scalars, by kid. Opening costs an
/// AES-GCM open, a scalar multiplication (the public point) and a SHA-256
/// thumbprint, on every link creation and pre-check otherwise. The kid is
/// the thumbprint of the public key, so it names one key pair; which kids
/// may unseal is read from the database on every request
/// (`Store::device_api_unsealing_keys`).
pub type AppKeyCache = KeyCache<AppKeyPair>;

impl KeyCache<AppKeyPair> {
    /// The cached key pair of `kid` sealed under `master_key_version`.
    pub fn get(&self, kid: &str, master_key_version: i64) -> Option<Arc<AppKeyPair>> {
        self.lookup(kid, master_key_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> Arc<LinkSigningKey> {
        Arc::new(LinkSigningKey::generate(&mut ssi_token::SeededRandom::new(
            &[seed],
        )))
    }

    #[test]
    fn cache_is_bounded_and_checks_the_public_point() {
        let cache = SigningKeyCache::new(4);
        let keys: Vec<_> = (0..6).map(key).collect();
        let public = |i: usize| keys[i].public_sec1().to_vec();
        for (i, k) in keys.iter().enumerate().take(2) {
            cache.insert(&format!("lnk_{i}"), 1, k.clone());
        }
        assert!(cache.get("lnk_0", 1, &public(0)).is_some());
        assert!(
            cache.get("lnk_0", 2, &public(0)).is_none(),
            "other master key version"
        );
        assert!(
            cache.get("lnk_0", 1, &public(1)).is_none(),
            "stored point differs"
        );
        // The young generation is full: it becomes the old one.
        cache.insert("lnk_2", 1, keys[2].clone());
        assert_eq!(cache.len(), 3);
        // A hit in the old generation moves the entry to the young one.
        assert!(cache.get("lnk_1", 1, &public(1)).is_some());
        for (i, k) in keys.iter().enumerate().skip(3) {
            cache.insert(&format!("lnk_{i}"), 1, k.clone());
            assert!(cache.len() <= 4, "bounded");
        }
        assert!(cache.get("lnk_5", 1, &public(5)).is_some());
        cache.forget("lnk_5");
        assert!(cache.get("lnk_5", 1, &public(5)).is_none());
    }

    #[test]
    fn app_key_cache_is_keyed_by_kid_and_master_key_version() {
        let cache = AppKeyCache::new(4);
        let pair = Arc::new(AppKeyPair::generate(&mut ssi_token::SeededRandom::new(&[
            7,
        ])));
        let kid = pair.kid().to_owned();
        cache.insert(&kid, 1, pair.clone());
        assert_eq!(
            cache.get(&kid, 1).map(|k| k.kid().to_owned()),
            Some(kid.clone())
        );
        assert!(
            cache.get(&kid, 2).is_none(),
            "sealed under another master key version"
        );
        assert!(cache.get("other-kid", 1).is_none());
    }
}
