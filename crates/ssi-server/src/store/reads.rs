//! The device API's hot-path reads, with one SQL text and one row mapping
//! for both backends, run the cheapest way each backend allows.
//!
//! On PostgreSQL they go through the sqlx pool like every other query (one
//! round trip; sqlx keeps each statement prepared per connection).
//!
//! On SQLite, sqlx runs every connection on a worker thread of its own and
//! hands each query there and back over channels: two cross-thread wake-ups
//! per query, which cost several times the query itself. These reads
//! instead use [`SqliteReaders`]: a small pool of `rusqlite` connections to
//! the same database file (the same `libsqlite3-sys` that sqlx links),
//! used on the calling thread with cached prepared statements. WAL lets them
//! read beside the one writer without waiting for it, and each statement
//! reads the latest committed state, so a deregistered device or a deleted
//! link is never served: there is nothing to invalidate. Writes stay on the
//! sqlx writer connection.
//!
//! `$n` placeholders are bound by name on SQLite (`$1` is a named parameter
//! there; its index follows the order of first appearance, not `n`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// A parameter of a hot-path read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

/// Reading a result column by name, the same on a sqlx `AnyRow` and on a
/// `rusqlite` row: the row mappings of the hot path are written once.
pub(crate) trait Columns {
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn text_opt(&self, name: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    fn int_opt(&self, name: &str) -> Result<Option<i64>, StoreError>;
    fn bytes(&self, name: &str) -> Result<Vec<u8>, StoreError>;
    /// A boolean selected as `CASE WHEN … THEN 1 ELSE 0 END` (see
    /// `store::accounts::flag`).
    fn flag(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.int(name)? != 0)
    }
}

impl Columns for AnyRow {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn text_opt(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn int_opt(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn bytes(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(name)?)
    }
}

/// A `rusqlite` row with its statement's column names, read once per
/// connection and statement (rusqlite's own lookup by name asks SQLite for
/// every column's name on every call).
struct SqliteColumns<'a> {
    row: &'a rusqlite::Row<'a>,
    names: &'a [Box<str>],
}

impl SqliteColumns<'_> {
    fn get<T: rusqlite::types::FromSql>(&self, name: &str) -> Result<T, StoreError> {
        let index = self
            .names
            .iter()
            .position(|column| **column == *name)
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.to_owned()))?;
        Ok(self.row.get(index)?)
    }
}

impl Columns for SqliteColumns<'_> {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.get(name)
    }
    fn text_opt(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.get(name)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.get(name)
    }
    fn int_opt(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.get(name)
    }
    fn bytes(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        self.get(name)
    }
}

/// Idle reader connections kept; more may be open while more threads read
/// at once (at most one per thread: a read never waits for a connection).
const MAX_IDLE_READERS: usize = 16;

/// Reader connections to the SQLite database file, opened on first use.
pub(crate) struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
}

/// A reader connection and the column names of the statements it ran, by
/// the address of their (static) SQL text.
struct Reader {
    conn: Connection,
    columns: HashMap<(usize, usize), Box<[Box<str>]>>,
}

impl std::fmt::Debug for SqliteReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteReaders")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteReaders {
    /// Readers of the database file that a sqlx `sqlite:` URL names, when it
    /// names an existing file (an in-memory database has no file to share:
    /// its reads stay on sqlx).
    pub(crate) fn for_url(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
            return None;
        }
        let path = Path::new(path);
        path.is_file().then(|| Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        })
    }

    fn connect(&self) -> Result<Reader, rusqlite::Error> {
        // Never creates the file; `query_only` refuses any write on it.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA query_only=ON;")?;
        // A WAL reader waits only in rare cases (WAL recovery after a crash).
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(Reader {
            conn,
            columns: HashMap::new(),
        })
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Reader>> {
        // The vector is consistent whatever a panicking holder did.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs one statement on this thread and maps every row.
    pub(crate) fn query<T>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        mut map: impl FnMut(&dyn Columns) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let idle = self.lock_idle().pop();
        let mut reader = match idle {
            Some(reader) => reader,
            None => self.connect()?,
        };
        let result = reader.run(sql, params, &mut map);
        let mut idle = self.lock_idle();
        if idle.len() < MAX_IDLE_READERS {
            idle.push(reader);
        }
        result
    }

    /// Closes the idle connections (the server is stopping).
    pub(crate) fn close(&self) {
        self.lock_idle().clear();
    }
}

/// The names of `$1`, `$2`, … as SQLite sees them (the hot path's
/// statements take a handful).
const PARAM_NAMES: [&str; 8] = ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8"];

impl Reader {
    fn run<T>(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
        map: &mut impl FnMut(&dyn Columns) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        assert!(
            params.len() <= PARAM_NAMES.len(),
            "a hot-path read binds at most 8 parameters"
        );
        let mut statement = self.conn.prepare_cached(sql)?;
        let names = self
            .columns
            .entry((sql.as_ptr() as usize, sql.len()))
            .or_insert_with(|| {
                statement
                    .column_names()
                    .into_iter()
                    .map(Box::from)
                    .collect()
            });
        for (name, param) in PARAM_NAMES.iter().zip(params) {
            let Some(index) = statement.parameter_index(name)? else {
                continue;
            };
            match *param {
                Param::Text(text) => statement.raw_bind_parameter(index, text)?,
                Param::Int(int) => statement.raw_bind_parameter(index, int)?,
            }
        }
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(map(&SqliteColumns { row, names })?);
        }
        Ok(out)
    }
}

impl Store {
    /// One read statement of the device API's hot path (`sql` uses `$n`
    /// placeholders for `params` in order): on SQLite on this thread through
    /// the reader connections, otherwise on the sqlx read pool.
    pub(crate) async fn read_rows<T>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        mut map: impl FnMut(&dyn Columns) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        if let Some(readers) = &self.sqlite_readers {
            return readers.query(sql, params, map);
        }
        let mut query = sqlx::query(sql);
        for param in params {
            query = match *param {
                Param::Text(text) => query.bind(text),
                Param::Int(int) => query.bind(int),
            };
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.iter().map(|row| map(row)).collect()
    }
}
