//! Developers' apps, identity providers, app keys and partner API keys.
//!
//! Every query a developer can reach is scoped by `developer_id`, so another
//! developer's rows are "not found", never "forbidden". The functions without
//! a developer (`find_app_by_package`, `find_idp_by_name`,
//! `unsealing_app_keys`, `set_app_blocked`) are for the device API and the
//! operator.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::domain::developers::{Icon, KeyRuleError, KeyState, check_new_key, plan_retirement};

/// An app with its IDP's name (joined), without the icon bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRow {
    pub id: String,
    pub developer_id: String,
    pub package_id: String,
    pub display_name: String,
    pub idp_id: Option<String>,
    /// The bound IDP's name: what the app passes as `IDP_NAME`.
    pub idp_name: Option<String>,
    /// Blocked by the operator: devices answer `NOT_AVAILABLE`.
    pub blocked: bool,
    pub has_icon: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpRow {
    pub id: String,
    pub developer_id: String,
    pub name: String,
    pub created_at: i64,
}

/// An app key without its sealed private half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppKeyRow {
    pub kid: String,
    pub app_id: String,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// A new app key: the private scalar sealed under the master key (AAD = kid).
pub struct NewAppKey {
    pub kid: String,
    pub private_sealed: Vec<u8>,
    pub master_key_version: i64,
    pub public_jwk: String,
}

impl std::fmt::Debug for NewAppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAppKey")
            .field("kid", &self.kid)
            .field("master_key_version", &self.master_key_version)
            .finish_non_exhaustive()
    }
}

/// A partner API key without the key (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: String,
    pub developer_id: String,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// What an app update changes; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct AppUpdate {
    pub display_name: Option<String>,
    /// `Some(None)` removes the icon, `Some(Some(icon))` replaces it.
    pub icon: Option<Option<Icon>>,
}

/// The outcome of a key operation on an app the developer owns.
#[derive(Debug)]
pub enum KeyOutcome<T> {
    Done(T),
    AppNotFound,
    Refused(KeyRuleError),
}

/// `blocked` is selected as an integer: sqlx's `Any` driver cannot read
/// SQLite's BOOLEAN columns.
const APP_COLUMNS: &str = "a.id, a.developer_id, a.package_id, a.display_name, a.idp_id, \
     i.name AS idp_name, CASE WHEN a.blocked THEN 1 ELSE 0 END AS blocked, a.icon_type, \
     a.created_at";
const APP_FROM: &str = "apps a LEFT JOIN idps i ON i.id = a.idp_id";

fn app_from_row(row: &AnyRow) -> Result<AppRow, sqlx::Error> {
    let icon_type: Option<String> = row.try_get("icon_type")?;
    Ok(AppRow {
        id: row.try_get("id")?,
        developer_id: row.try_get("developer_id")?,
        package_id: row.try_get("package_id")?,
        display_name: row.try_get("display_name")?,
        idp_id: row.try_get("idp_id")?,
        idp_name: row.try_get("idp_name")?,
        blocked: row.try_get::<i64, _>("blocked")? != 0,
        has_icon: icon_type.is_some(),
        created_at: row.try_get("created_at")?,
    })
}

fn idp_from_row(row: &AnyRow) -> Result<IdpRow, sqlx::Error> {
    Ok(IdpRow {
        id: row.try_get("id")?,
        developer_id: row.try_get("developer_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

const KEY_COLUMNS: &str = "kid, app_id, public_jwk, created_at, retired_at, expires_at";

fn key_from_row(row: &AnyRow) -> Result<AppKeyRow, sqlx::Error> {
    Ok(AppKeyRow {
        kid: row.try_get("kid")?,
        app_id: row.try_get("app_id")?,
        public_jwk: row.try_get("public_jwk")?,
        created_at: row.try_get("created_at")?,
        retired_at: row.try_get("retired_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

const API_KEY_COLUMNS: &str = "id, developer_id, label, created_at, revoked_at";

fn api_key_from_row(row: &AnyRow) -> Result<ApiKeyRow, sqlx::Error> {
    Ok(ApiKeyRow {
        id: row.try_get("id")?,
        developer_id: row.try_get("developer_id")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn collect<T>(
    rows: &[AnyRow],
    map: fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(map)
        .collect::<Result<_, _>>()
        .map_err(StoreError::Database)
}

async fn insert_key(
    conn: &mut sqlx::AnyConnection,
    app_id: &str,
    key: &NewAppKey,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO app_keys (kid, app_id, private_sealed, master_key_version, public_jwk, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.kid)
    .bind(app_id)
    .bind(&key.private_sealed)
    .bind(key.master_key_version)
    .bind(&key.public_jwk)
    .bind(now_ms)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Locks the app row for the rest of the transaction (so that key changes of
/// one app serialize on every backend); false when the developer has no such app.
async fn lock_app(
    conn: &mut sqlx::AnyConnection,
    developer_id: &str,
    app_id: &str,
) -> Result<bool, StoreError> {
    let locked =
        sqlx::query("UPDATE apps SET blocked = blocked WHERE id = $1 AND developer_id = $2")
            .bind(app_id)
            .bind(developer_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    Ok(locked == 1)
}

async fn key_states(
    conn: &mut sqlx::AnyConnection,
    app_id: &str,
) -> Result<Vec<KeyState>, StoreError> {
    let rows = sqlx::query("SELECT kid, retired_at FROM app_keys WHERE app_id = $1")
        .bind(app_id)
        .fetch_all(&mut *conn)
        .await?;
    collect(&rows, |row| {
        Ok(KeyState {
            kid: row.try_get("kid")?,
            retired_at: row.try_get("retired_at")?,
        })
    })
}

impl Store {
    /// Makes the account a developer; false when it already was one.
    pub async fn enroll_developer(&self, account_id: &str) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE accounts SET is_developer = $1 WHERE id = $2 AND is_developer = $3",
        )
        .bind(true)
        .bind(account_id)
        .bind(false)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    pub async fn count_apps(&self, developer_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM apps WHERE developer_id = $1")
            .bind(developer_id)
            .fetch_one(&self.read)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Inserts an app with its first key in one transaction. A unique
    /// violation means the package id is taken.
    pub async fn insert_app(
        &self,
        app: &AppRow,
        icon: Option<&Icon>,
        first_key: &NewAppKey,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO apps (id, developer_id, package_id, display_name, icon_type, icon, blocked, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&app.id)
        .bind(&app.developer_id)
        .bind(&app.package_id)
        .bind(&app.display_name)
        .bind(icon.map(|i| i.content_type))
        .bind(icon.map(|i| i.bytes.as_slice()))
        .bind(false)
        .bind(app.created_at)
        .execute(&mut *tx)
        .await?;
        insert_key(&mut tx, &app.id, first_key, app.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The developer's app; none for an unknown id or another developer's app.
    pub async fn find_app(
        &self,
        developer_id: &str,
        app_id: &str,
    ) -> Result<Option<AppRow>, StoreError> {
        let sql =
            format!("SELECT {APP_COLUMNS} FROM {APP_FROM} WHERE a.id = $1 AND a.developer_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(app_id)
            .bind(developer_id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(app_from_row).transpose()?)
    }

    /// Any developer's app by package id (device API, public routes, operator).
    pub async fn find_app_by_package(
        &self,
        package_id: &str,
    ) -> Result<Option<AppRow>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM {APP_FROM} WHERE a.package_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(package_id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(app_from_row).transpose()?)
    }

    /// The developer's apps, oldest first.
    pub async fn list_apps(&self, developer_id: &str) -> Result<Vec<AppRow>, StoreError> {
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM {APP_FROM} WHERE a.developer_id = $1 \
             ORDER BY a.created_at, a.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(developer_id)
            .fetch_all(&self.read)
            .await?;
        collect(&rows, app_from_row)
    }

    /// False when the developer has no such app.
    pub async fn update_app(
        &self,
        developer_id: &str,
        app_id: &str,
        update: &AppUpdate,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        if !lock_app(&mut tx, developer_id, app_id).await? {
            return Ok(false);
        }
        if let Some(name) = &update.display_name {
            sqlx::query("UPDATE apps SET display_name = $1 WHERE id = $2")
                .bind(name)
                .bind(app_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(icon) = &update.icon {
            sqlx::query("UPDATE apps SET icon_type = $1, icon = $2 WHERE id = $3")
                .bind(icon.as_ref().map(|i| i.content_type))
                .bind(icon.as_ref().map(|i| i.bytes.as_slice()))
                .bind(app_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes the app with its keys and the owners' per-app settings; the
    /// links stay with the IDP (other apps may share it). False when the
    /// developer has no such app.
    pub async fn delete_app(&self, developer_id: &str, app_id: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM apps WHERE id = $1 AND developer_id = $2")
            .bind(app_id)
            .bind(developer_id)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }

    /// The icon of an app: `(content type, bytes)`.
    pub async fn find_app_icon(
        &self,
        package_id: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "SELECT icon_type, icon FROM apps WHERE package_id = $1 AND icon_type IS NOT NULL",
        )
        .bind(package_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| Ok((row.try_get("icon_type")?, row.try_get("icon")?)))
            .transpose()
            .map_err(StoreError::Database)
    }

    /// The operator's switch; false when no app has this package id.
    pub async fn set_app_blocked(
        &self,
        package_id: &str,
        blocked: bool,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query("UPDATE apps SET blocked = $1 WHERE package_id = $2")
            .bind(blocked)
            .bind(package_id)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(changed == 1)
    }

    pub async fn count_idps(&self, developer_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM idps WHERE developer_id = $1")
            .bind(developer_id)
            .fetch_one(&self.read)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// A unique violation means the name is taken.
    pub async fn insert_idp(&self, idp: &IdpRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO idps (id, developer_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&idp.id)
        .bind(&idp.developer_id)
        .bind(&idp.name)
        .bind(idp.created_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Any developer's IDP by its global name (device API, partner API).
    pub async fn find_idp_by_name(&self, name: &str) -> Result<Option<IdpRow>, StoreError> {
        let row =
            sqlx::query("SELECT id, developer_id, name, created_at FROM idps WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.as_ref().map(idp_from_row).transpose()?)
    }

    /// The developer's IDPs, oldest first, each with the package ids bound to it.
    pub async fn list_idps(
        &self,
        developer_id: &str,
    ) -> Result<Vec<(IdpRow, Vec<String>)>, StoreError> {
        let idps = sqlx::query(
            "SELECT id, developer_id, name, created_at FROM idps WHERE developer_id = $1 \
             ORDER BY created_at, name",
        )
        .bind(developer_id)
        .fetch_all(&self.read)
        .await?;
        let idps = collect(&idps, idp_from_row)?;
        let bound = sqlx::query(
            "SELECT idp_id, package_id FROM apps WHERE developer_id = $1 AND idp_id IS NOT NULL \
             ORDER BY package_id",
        )
        .bind(developer_id)
        .fetch_all(&self.read)
        .await?;
        let bound: Vec<(String, String)> = collect(&bound, |row| {
            Ok((row.try_get("idp_id")?, row.try_get("package_id")?))
        })?;
        Ok(idps
            .into_iter()
            .map(|idp| {
                let apps = bound
                    .iter()
                    .filter(|(idp_id, _)| *idp_id == idp.id)
                    .map(|(_, package)| package.clone())
                    .collect();
                (idp, apps)
            })
            .collect())
    }

    /// Binds the developer's app to an IDP of the same developer; false when
    /// either is not the developer's.
    pub async fn bind_app_idp(
        &self,
        developer_id: &str,
        app_id: &str,
        idp_id: &str,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE apps SET idp_id = $1 WHERE id = $2 AND developer_id = $3 \
             AND EXISTS (SELECT 1 FROM idps WHERE id = $1 AND developer_id = $3)",
        )
        .bind(idp_id)
        .bind(app_id)
        .bind(developer_id)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Adds a key to the developer's app, within the limit of current keys.
    pub async fn insert_app_key(
        &self,
        developer_id: &str,
        app_id: &str,
        key: &NewAppKey,
        now_ms: i64,
    ) -> Result<KeyOutcome<()>, StoreError> {
        let mut tx = self.write.begin().await?;
        if !lock_app(&mut tx, developer_id, app_id).await? {
            return Ok(KeyOutcome::AppNotFound);
        }
        if let Err(e) = check_new_key(&key_states(&mut tx, app_id).await?) {
            return Ok(KeyOutcome::Refused(e));
        }
        insert_key(&mut tx, app_id, key, now_ms).await?;
        tx.commit().await?;
        Ok(KeyOutcome::Done(()))
    }

    /// Every key of an app (the caller has checked the app is the developer's),
    /// oldest first.
    pub async fn list_app_keys(&self, app_id: &str) -> Result<Vec<AppKeyRow>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM app_keys WHERE app_id = $1 ORDER BY created_at, kid"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(app_id)
            .fetch_all(&self.read)
            .await?;
        collect(&rows, key_from_row)
    }

    /// Retires a key of the developer's app: it leaves the JWKS now and stops
    /// unsealing at `now + grace`. Never the last current key.
    pub async fn retire_app_key(
        &self,
        developer_id: &str,
        app_id: &str,
        kid: &str,
        now_ms: i64,
        grace_secs: i64,
    ) -> Result<KeyOutcome<AppKeyRow>, StoreError> {
        let mut tx = self.write.begin().await?;
        if !lock_app(&mut tx, developer_id, app_id).await? {
            return Ok(KeyOutcome::AppNotFound);
        }
        let (retired_at, expires_at) =
            match plan_retirement(&key_states(&mut tx, app_id).await?, kid, now_ms, grace_secs) {
                Ok(times) => times,
                Err(e) => return Ok(KeyOutcome::Refused(e)),
            };
        sqlx::query(
            "UPDATE app_keys SET retired_at = $1, expires_at = $2 WHERE kid = $3 AND app_id = $4",
        )
        .bind(retired_at)
        .bind(expires_at)
        .bind(kid)
        .bind(app_id)
        .execute(&mut *tx)
        .await?;
        let sql = format!("SELECT {KEY_COLUMNS} FROM app_keys WHERE kid = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kid)
            .fetch_one(&mut *tx)
            .await?;
        let key = key_from_row(&row)?;
        tx.commit().await?;
        Ok(KeyOutcome::Done(key))
    }

    /// The public JWKs (JSON text) of the current keys of an app, oldest
    /// first; none when no app has this package id.
    pub async fn current_public_keys(
        &self,
        package_id: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let Some(app) = self.find_app_by_package(package_id).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT public_jwk FROM app_keys WHERE app_id = $1 AND retired_at IS NULL \
             ORDER BY created_at, kid",
        )
        .bind(&app.id)
        .fetch_all(&self.read)
        .await?;
        Ok(Some(collect(&rows, |row| row.try_get("public_jwk"))?))
    }

    /// The keys that may unseal a link signing key for this app at `now_ms`:
    /// current keys and retired keys whose `expires_at` is still ahead, as
    /// `(kid, sealed private scalar, master key version)`. Open each with
    /// [`crate::http::developer_api::open_app_key`].
    pub async fn unsealing_app_keys(
        &self,
        app_id: &str,
        now_ms: i64,
    ) -> Result<Vec<(String, Vec<u8>, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, private_sealed, master_key_version FROM app_keys \
             WHERE app_id = $1 AND (retired_at IS NULL OR expires_at > $2) \
             ORDER BY created_at DESC, kid",
        )
        .bind(app_id)
        .bind(now_ms)
        .fetch_all(&self.read)
        .await?;
        collect(&rows, |row| {
            Ok((
                row.try_get("kid")?,
                row.try_get("private_sealed")?,
                row.try_get("master_key_version")?,
            ))
        })
    }

    pub async fn count_active_api_keys(&self, developer_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM partner_api_keys WHERE developer_id = $1 AND revoked_at IS NULL",
        )
        .bind(developer_id)
        .fetch_one(&self.read)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Stores a partner API key by its hash only.
    pub async fn insert_api_key(&self, key: &ApiKeyRow, key_hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO partner_api_keys (id, developer_id, key_hash, label, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(&key.developer_id)
        .bind(key_hash)
        .bind(&key.label)
        .bind(key.created_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The developer's API keys, revoked ones included, oldest first.
    pub async fn list_api_keys(&self, developer_id: &str) -> Result<Vec<ApiKeyRow>, StoreError> {
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM partner_api_keys WHERE developer_id = $1 \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(developer_id)
            .fetch_all(&self.read)
            .await?;
        collect(&rows, api_key_from_row)
    }

    /// Revokes one of the developer's API keys (idempotent). Returns the key
    /// and whether this call revoked it; none for another developer's key.
    pub async fn revoke_api_key(
        &self,
        developer_id: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<(ApiKeyRow, bool)>, StoreError> {
        let changed = sqlx::query(
            "UPDATE partner_api_keys SET revoked_at = $1 \
             WHERE id = $2 AND developer_id = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms)
        .bind(id)
        .bind(developer_id)
        .execute(&self.write)
        .await?
        .rows_affected();
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM partner_api_keys WHERE id = $1 AND developer_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(developer_id)
            .fetch_optional(&self.write)
            .await?;
        Ok(row
            .as_ref()
            .map(api_key_from_row)
            .transpose()?
            .map(|key| (key, changed == 1)))
    }

    /// The unrevoked API key with this hash.
    pub async fn find_active_api_key(
        &self,
        key_hash: &str,
    ) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM partner_api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key_hash)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(api_key_from_row).transpose()?)
    }

    /// Deletes every link of `partner_user_id` under the IDP (all platform
    /// accounts), with their stored keys and tokens; returns `(link id,
    /// account id)` of each deleted link.
    pub async fn delete_partner_user_links(
        &self,
        idp_id: &str,
        partner_user_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "DELETE FROM links WHERE idp_id = $1 AND partner_user_id = $2 RETURNING id, account_id",
        )
        .bind(idp_id)
        .bind(partner_user_id)
        .fetch_all(&self.write)
        .await?;
        collect(&rows, |row| {
            Ok((row.try_get("id")?, row.try_get("account_id")?))
        })
    }
}
