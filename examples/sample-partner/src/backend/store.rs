//! The sample partner's own database: users with argon2id password hashes,
//! sessions (stored as SHA-256 hashes of the bearer token) and the links its
//! users made. One SQLite file in the backend's directory.

use std::path::Path;
use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::wire::{SignInMethod, UserView};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    method TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS links (
    link_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    last_sign_in_at INTEGER
);
";

/// A user row, with the password hash.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
}

impl UserRow {
    pub fn view(&self) -> UserView {
        UserView {
            partner_user_id: self.id.clone(),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

fn method_name(method: SignInMethod) -> &'static str {
    match method {
        SignInMethod::Password => "PASSWORD",
        SignInMethod::SimpleSignIn => "SIMPLE_SIGN_IN",
    }
}

fn method_from_name(name: &str) -> SignInMethod {
    if name == "SIMPLE_SIGN_IN" {
        SignInMethod::SimpleSignIn
    } else {
        SignInMethod::Password
    }
}

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
    })
}

impl Store {
    /// Opens (creating) the database file and its tables.
    pub async fn open(path: &Path) -> Result<Self, sqlx::Error> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        // One connection: a sample's load, and no writer contention.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Inserts a user unless the username exists; true when inserted.
    pub async fn insert_user(&self, user: &UserRow, now: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(&user.password_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn find_user_by_name(&self, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
        sqlx::query(
            "SELECT id, username, display_name, password_hash FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    pub async fn find_user(&self, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
        sqlx::query("SELECT id, username, display_name, password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    pub async fn insert_session(
        &self,
        token_hash: &str,
        user_id: &str,
        method: SignInMethod,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, method, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(method_name(method))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session's user and how it signed in.
    pub async fn find_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<(UserRow, SignInMethod)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.password_hash, s.method \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let method: String = row.try_get("method")?;
        Ok(Some((user_from_row(&row)?, method_from_name(&method))))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records (or keeps) a link of this user. False when the link id is
    /// already recorded for another user: the platform never hands one link
    /// id to two partner users, so that is a confused or hostile app.
    pub async fn record_link(
        &self,
        link_id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query(
            "INSERT INTO links (link_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (link_id) DO NOTHING",
        )
        .bind(link_id)
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        let owner: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM links WHERE link_id = $1")
                .bind(link_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(owner.as_deref() == Some(user_id))
    }

    /// Notes a sign-in through this link (recording the link if the app never did).
    pub async fn touch_link(
        &self,
        link_id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO links (link_id, user_id, created_at, last_sign_in_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (link_id) DO UPDATE SET last_sign_in_at = excluded.last_sign_in_at",
        )
        .bind(link_id)
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The link ids recorded for a user, oldest first.
    pub async fn list_links(&self, user_id: &str) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT link_id FROM links WHERE user_id = $1 ORDER BY created_at, link_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }
}
