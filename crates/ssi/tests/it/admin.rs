//! `ssi admin` on real databases (SQLite and PostgreSQL): the operator's
//! commands while a server runs, each audited as `operator`, and the master
//! key rotation, complete, interrupted and re-run, with the key file and
//! with configured keys; afterwards the server opens everything.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use sqlx::{AnyPool, Row};
use ssi_server::admin::Admin;
use ssi_server::clock::ManualClock;
use ssi_server::random::SystemRandomSource;
use ssi_server::secrets::MasterKeys;
use ssi_server::{ServerConfig, startup};

use crate::server::{Backend, Output, Place, Server, run_ssi, sign_in, strs, wait_for_status};

/// `ssi admin --data-dir … [--database-url …] ARGS`.
fn admin(place: &Place, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut all = vec!["admin".to_owned()];
    all.extend(place.args());
    all.extend(args.iter().map(|&a| a.to_owned()));
    run_ssi(&strs(&all), env, stdin)
}

/// One admin invocation and what it must print (exit 0), or the error
/// fragments (exit 1).
struct Case {
    args: &'static [&'static str],
    stdin: &'static str,
    ok: bool,
    has: &'static [&'static str],
}

fn check(place: &Place, case: &Case) -> Output {
    let output = admin(place, case.args, &[], case.stdin);
    let context = format!("ssi admin {}: {}", case.args.join(" "), output.context());
    assert_eq!(output.code, Some(if case.ok { 0 } else { 1 }), "{context}");
    let printed = if case.ok {
        &output.stdout
    } else {
        &output.stderr
    };
    for fragment in case.has {
        assert!(printed.contains(fragment), "lacks {fragment:?}: {context}");
    }
    output
}

const fn ok(
    args: &'static [&'static str],
    stdin: &'static str,
    has: &'static [&'static str],
) -> Case {
    Case {
        args,
        stdin,
        ok: true,
        has,
    }
}

const fn refused(args: &'static [&'static str], has: &'static [&'static str]) -> Case {
    Case {
        args,
        stdin: "",
        ok: false,
        has,
    }
}

async fn pool(place: &Place) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPool::connect(&place.sql_url())
        .await
        .expect("the test opens the database")
}

async fn scalar(pool: &AnyPool, sql: &'static str, bind: &str) -> Option<i64> {
    sqlx::query(sql)
        .bind(bind)
        .fetch_optional(pool)
        .await
        .expect("query")
        .map(|row| row.try_get::<i64, _>(0).expect("an integer"))
}

async fn text(pool: &AnyPool, sql: &'static str, bind: &str) -> String {
    sqlx::query(sql)
        .bind(bind)
        .fetch_one(pool)
        .await
        .expect("query")
        .try_get::<String, _>(0)
        .expect("text")
}

/// A developer with one app (`com.example.app`) bound to one IDP.
async fn insert_app(pool: &AnyPool, developer_id: &str) {
    for (sql, binds) in [
        (
            "INSERT INTO idps (id, developer_id, name, created_at) VALUES ('idp_ops', $1, 'ops-idp', 0)",
            [developer_id],
        ),
        (
            "INSERT INTO apps (id, developer_id, package_id, display_name, idp_id, blocked, created_at) \
             VALUES ('app_ops', $1, 'com.example.app', 'Example', 'idp_ops', FALSE, 0)",
            [developer_id],
        ),
    ] {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(bind);
        }
        query.execute(pool).await.expect("insert");
    }
}

async fn admin_commands_work_while_the_server_runs(backend: Backend) {
    let place = Place::new(backend).await;
    let server = Server::start(&strs(&place.args()), &[]);

    let created = check(
        &place,
        &ok(
            &[
                "create-account",
                "--email",
                " Dev@Example.com ",
                "--password-stdin",
                "--developer",
            ],
            "developer password\nignored second line\n",
            &[
                "account: acct_",
                "email: dev@example.com",
                "developer: true",
            ],
        ),
    );
    assert!(
        !created.stdout.contains("password:"),
        "a given password is not printed"
    );
    // Written by the CLI while the server runs; read back through the server.
    assert_eq!(
        sign_in(&server.base, "dev@example.com", "developer password").await,
        303
    );

    let generated = check(
        &place,
        &ok(
            &["create-account", "--email", "gen@example.com"],
            "",
            &["password: "],
        ),
    );
    let password = generated
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .and_then(|rest| rest.strip_suffix(" (shown once)"))
        .expect("the generated password");
    assert_eq!(
        sign_in(&server.base, "gen@example.com", password).await,
        303
    );

    let db = pool(&place).await;
    let developer_id = text(
        &db,
        "SELECT id FROM accounts WHERE email = $1",
        "dev@example.com",
    )
    .await;
    insert_app(&db, &developer_id).await;
    let blocked = "SELECT CASE WHEN blocked THEN 1 ELSE 0 END FROM apps WHERE package_id = $1";
    let available =
        "SELECT CASE WHEN ssi_available THEN 1 ELSE 0 END FROM region_settings WHERE region = $1";

    let cases = [
        refused(
            &["create-account", "--email", "dev@example.com"],
            &["an account with e-mail dev@example.com exists already"],
        ),
        refused(
            &["create-account", "--email", "not-an-email"],
            &["email: must be"],
        ),
        refused(
            &[
                "create-account",
                "--email",
                "short@example.com",
                "--password-stdin",
            ],
            &["--password-stdin: stdin has no password"],
        ),
        ok(
            &["block-app", "--package-id", "com.example.app"],
            "",
            &["blocked app com.example.app (app_ops)"],
        ),
        refused(
            &["block-app", "--package-id", "com.unknown"],
            &["no app with package id com.unknown"],
        ),
        ok(
            &["set-region", "--region", "eu-west", "--available", "false"],
            "",
            &["not available in region eu-west"],
        ),
        refused(
            &["set-region", "--region", "eu west!", "--available", "true"],
            &["region: must be 1 to 64"],
        ),
        refused(
            &["set-region", "--region", "eu", "--available", "maybe"],
            &["'--available <true|false>'"],
        ),
        ok(
            &[
                "set-account-region",
                "--email",
                "DEV@example.com",
                "--region",
                "eu-west",
            ],
            "",
            &["is in region eu-west"],
        ),
        refused(
            &[
                "set-account-region",
                "--email",
                "nobody@example.com",
                "--region",
                "eu",
            ],
            &["no account with e-mail nobody@example.com"],
        ),
        refused(
            &["list-audit", "--limit", "0"],
            &["limit: must be 1 to 10000"],
        ),
    ];
    for case in &cases {
        check(&place, case);
    }
    let short = admin(
        &place,
        &[
            "create-account",
            "--email",
            "short@example.com",
            "--password-stdin",
        ],
        &[],
        "short\n",
    );
    assert!(
        short.stderr.contains("password: must be 10 to 256"),
        "{}",
        short.context()
    );
    assert_eq!(scalar(&db, blocked, "com.example.app").await, Some(1));
    assert_eq!(scalar(&db, available, "eu-west").await, Some(0));
    assert_eq!(
        text(
            &db,
            "SELECT region FROM accounts WHERE id = $1",
            &developer_id
        )
        .await,
        "eu-west"
    );

    // Upserts and switches back.
    check(
        &place,
        &ok(
            &["unblock-app", "--package-id", "com.example.app"],
            "",
            &["unblocked"],
        ),
    );
    check(
        &place,
        &ok(
            &["set-region", "--region", "eu-west", "--available", "true"],
            "",
            &["is available"],
        ),
    );
    assert_eq!(scalar(&db, blocked, "com.example.app").await, Some(0));
    assert_eq!(scalar(&db, available, "eu-west").await, Some(1));

    // Every change is in the audit log, by `operator`.
    let listed = check(
        &place,
        &ok(&["list-audit", "--json", "--limit", "100"], "", &[]),
    );
    let entries: Vec<Value> = listed
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let by_operator: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["actor"] == "operator")
        .map(|e| {
            (
                e["action"].as_str().expect("action"),
                e["subject"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    for expected in [
        ("account.create", developer_id.as_str()),
        ("app.block", "app_ops"),
        ("app.unblock", "app_ops"),
        ("settings.region", "eu-west"),
        ("account.region", developer_id.as_str()),
    ] {
        assert!(
            by_operator.contains(&expected),
            "{expected:?} not in {by_operator:?}"
        );
    }
    assert_eq!(
        by_operator
            .iter()
            .filter(|(a, _)| *a == "account.create")
            .count(),
        2
    );
    assert_eq!(
        by_operator
            .iter()
            .filter(|(a, _)| *a == "settings.region")
            .count(),
        2,
        "refused commands change and audit nothing"
    );
    let secrets = ["developer password", password];
    for secret in secrets {
        assert!(
            !listed.stdout.contains(secret),
            "a password in the audit log"
        );
    }
    // One account's entries: its own and the operator's about it.
    let mine = check(
        &place,
        &ok(
            &["list-audit", "--email", "dev@example.com"],
            "",
            &["operator  account.region"],
        ),
    );
    assert!(mine.stdout.contains("account.signin"), "{}", mine.stdout);
    assert!(!mine.stdout.contains("settings.region"), "{}", mine.stdout);
    drop(server);
}

#[tokio::test]
async fn admin_commands_work_while_the_server_runs_on_sqlite() {
    admin_commands_work_while_the_server_runs(Backend::Sqlite).await;
}

#[tokio::test]
async fn admin_commands_work_while_the_server_runs_on_postgres() {
    admin_commands_work_while_the_server_runs(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------
// Master key rotation

const SEALED_TABLES: [(&str, &str, &str); 3] = [
    ("server_secrets", "name", "sealed"),
    ("app_keys", "kid", "private_sealed"),
    ("links", "id", "signing_key_sealed"),
];

/// Every sealed value: (table, row key) → (sealed, master key version).
async fn sealed_values(db: &AnyPool) -> BTreeMap<(String, String), (Vec<u8>, i64)> {
    let mut all = BTreeMap::new();
    for (table, key, column) in SEALED_TABLES {
        let sql = format!("SELECT {key}, {column}, master_key_version FROM {table}");
        for row in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(db)
            .await
            .expect("select")
        {
            all.insert(
                (table.to_owned(), row.try_get::<String, _>(0).expect("key")),
                (
                    row.try_get::<Vec<u8>, _>(1).expect("sealed"),
                    row.try_get::<i64, _>(2).expect("version"),
                ),
            );
        }
    }
    all
}

/// Opens every sealed value with `keys` (associated data = the row key).
async fn open_all(db: &AnyPool, keys: &MasterKeys) -> BTreeMap<(String, String), (Vec<u8>, i64)> {
    sealed_values(db)
        .await
        .into_iter()
        .map(|((table, id), (sealed, version))| {
            let plain = keys
                .open(version, id.as_bytes(), &sealed)
                .unwrap_or_else(|e| panic!("{table} {id} (version {version}): {e}"));
            ((table, id), (plain.to_vec(), version))
        })
        .collect()
}

/// `n` app keys and `n` links sealed under the current version of `keys`.
async fn seed_sealed_rows(db: &AnyPool, keys: &MasterKeys, n: usize) {
    let rng = SystemRandomSource;
    sqlx::query(
        "INSERT INTO accounts (id, email, password_hash, ssi_enabled, region, is_developer, created_at) \
         VALUES ('acct_seed', 'seed@example.com', 'x', TRUE, 'default', TRUE, 0)",
    )
    .execute(db)
    .await
    .expect("account");
    insert_app(db, "acct_seed").await;
    for i in 0..n {
        let mut secret = [0u8; 32];
        ssi_server::random::RandomSource::fill(&rng, &mut secret);
        let kid = format!("kid_{i:03}");
        let (sealed, version) = keys.seal(kid.as_bytes(), &secret, &rng);
        sqlx::query(
            "INSERT INTO app_keys (kid, app_id, private_sealed, master_key_version, public_jwk, created_at) \
             VALUES ($1, 'app_ops', $2, $3, '{}', 0)",
        )
        .bind(&kid)
        .bind(sealed)
        .bind(version)
        .execute(db)
        .await
        .expect("app key");
        let link = format!("lnk_{i:03}");
        let (sealed, version) = keys.seal(link.as_bytes(), &secret, &rng);
        sqlx::query(
            "INSERT INTO links (id, account_id, idp_id, partner_user_id, user_login_name, link_token, \
             signing_key_sealed, signing_key_public, master_key_version, created_by_app_id, created_at) \
             VALUES ($1, 'acct_seed', 'idp_ops', $1, 'user', 'token', $2, $3, $4, 'app_ops', 0)",
        )
        .bind(&link)
        .bind(sealed)
        .bind(vec![4u8; 65])
        .bind(version)
        .execute(db)
        .await
        .expect("link");
    }
}

fn versions(values: &BTreeMap<(String, String), (Vec<u8>, i64)>) -> Vec<i64> {
    let mut versions: Vec<i64> = values.values().map(|(_, v)| *v).collect();
    versions.sort_unstable();
    versions.dedup();
    versions
}

/// Starts a server (it creates the schema, the key file and the directed-id
/// secret), signs up an account, stops it, seeds sealed rows under version 1.
async fn populated(place: &Place, env: &[(&str, &str)], n: usize) -> AnyPool {
    let mut server = Server::start(&strs(&place.args()), env);
    assert_eq!(
        crate::server::sign_up(&server.base, "owner@example.com", "owner password").await,
        303
    );
    assert_eq!(server.stop_with("TERM").code(), Some(0));
    let db = pool(place).await;
    let keys = match env.iter().find(|(k, _)| *k == "SSI_MASTER_KEYS") {
        Some((_, value)) => MasterKeys::parse(value).expect("keys"),
        None => key_file(place),
    };
    seed_sealed_rows(&db, &keys, n).await;
    db
}

fn key_file(place: &Place) -> MasterKeys {
    MasterKeys::parse(&std::fs::read_to_string(place.key_file()).expect("key file"))
        .expect("a valid key file")
}

/// After a rotation: the server starts (it opens the directed-id secret,
/// else it refuses to start), is ready, and the account signs in.
async fn server_opens_everything(place: &Place, env: &[(&str, &str)]) {
    let server = Server::start(&strs(&place.args()), env);
    wait_for_status(&server.url("/readyz"), 200).await;
    assert_eq!(
        sign_in(&server.base, "owner@example.com", "owner password").await,
        303
    );
}

async fn rotation_with_the_key_file(backend: Backend) {
    let place = Place::new(backend).await;
    let db = populated(&place, &[], 23).await;
    let before = open_all(&db, &key_file(&place)).await;
    assert_eq!(
        before.len(),
        47,
        "23 app keys, 23 links, the directed-id secret"
    );
    assert_eq!(versions(&before), [1]);

    // Refused while a server runs on the data directory (it would keep
    // sealing under the old key).
    let server = Server::start(&strs(&place.args()), &[]);
    let refused = admin(&place, &["rotate-master-key"], &[], "");
    assert_eq!(refused.code, Some(1), "{}", refused.context());
    assert!(
        refused.stderr.contains("a server is running on"),
        "{}",
        refused.context()
    );
    assert_eq!(key_file(&place).versions(), [1], "nothing changed");
    drop(server);

    let rotated = admin(&place, &["rotate-master-key", "--batch-size", "5"], &[], "");
    let stdout = rotated.ok();
    assert!(stdout.contains("re-sealed 47 values"), "{stdout}");
    assert!(stdout.contains("now holds only version 2"), "{stdout}");
    let new_keys = key_file(&place);
    assert_eq!(new_keys.versions(), [2]);
    let mode = std::fs::metadata(place.key_file())
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("key file");
    assert_eq!(mode, 0o600);

    // Same secrets, all under version 2, opened with the new key alone.
    let after = open_all(&db, &new_keys).await;
    assert_eq!(versions(&after), [2]);
    for (row, (plain, _)) in &before {
        assert_eq!(&after[row].0, plain, "{row:?} changed content");
    }
    server_opens_everything(&place, &[]).await;

    let audit = admin(&place, &["list-audit", "--json"], &[], "");
    for action in ["master_key.add", "master_key.reseal", "master_key.drop"] {
        assert!(
            audit
                .ok()
                .lines()
                .any(|line| line.contains(action) && line.contains("\"operator\"")),
            "{action} not audited: {}",
            audit.stdout
        );
    }
}

#[tokio::test]
async fn rotation_with_the_key_file_on_sqlite() {
    rotation_with_the_key_file(Backend::Sqlite).await;
}

#[tokio::test]
async fn rotation_with_the_key_file_on_postgres() {
    rotation_with_the_key_file(Backend::Postgres).await;
}

async fn interrupted_rotation_completes_when_run_again(backend: Backend) {
    let place = Place::new(backend).await;
    let db = populated(&place, &[], 10).await;
    let before = open_all(&db, &key_file(&place)).await;

    // What a run killed after its first batch leaves behind: the key file
    // with both versions, and some values under the new one.
    let config = ServerConfig {
        data_dir: place.dir.path().to_owned(),
        database_url: place.database_url.clone(),
        ..ServerConfig::default()
    };
    let rng = Arc::new(SystemRandomSource);
    let operator = Admin::open(&config, Arc::new(ManualClock::new(0)), rng.clone())
        .await
        .expect("admin");
    let both = key_file(&place).with_new_version(rng.as_ref());
    startup::write_key_file(&place.key_file(), &both).expect("key file");
    let first_batch = operator.reseal_batch(&both, 4).await.expect("one batch");
    assert_eq!(first_batch, 1 + 4 + 4, "one batch per table");
    operator.close().await;
    let partial = sealed_values(&db).await;
    assert_eq!(versions(&partial), [1, 2]);

    let rerun = admin(&place, &["rotate-master-key", "--batch-size", "3"], &[], "");
    let stdout = rerun.ok();
    assert!(
        stdout.contains("re-sealed 12 values"),
        "the 9 done are skipped: {stdout}"
    );
    // Resumed with the version already made, not rotated once more.
    let final_keys = key_file(&place);
    assert_eq!(final_keys.serialize(), both.current_only().serialize());
    let after = open_all(&db, &final_keys).await;
    assert_eq!(versions(&after), [2]);
    for (row, (plain, _)) in &before {
        assert_eq!(&after[row].0, plain, "{row:?} changed content");
    }
    // The values of the first batch kept their (new) ciphertext.
    for (row, (sealed, version)) in &partial {
        if *version == 2 {
            assert_eq!(
                &sealed_values(&db).await[row].0,
                sealed,
                "{row:?} sealed twice"
            );
        }
    }
    server_opens_everything(&place, &[]).await;
}

#[tokio::test]
async fn interrupted_rotation_completes_when_run_again_on_sqlite() {
    interrupted_rotation_completes_when_run_again(Backend::Sqlite).await;
}

#[tokio::test]
async fn interrupted_rotation_completes_when_run_again_on_postgres() {
    interrupted_rotation_completes_when_run_again(Backend::Postgres).await;
}

/// With `SSI_MASTER_KEYS`, nothing is written: the first run makes the new
/// version, the servers get both, then `--finish` re-seals while they run and
/// gives the value without the old version.
async fn rotation_with_configured_keys(backend: Backend) {
    let place = Place::new(backend).await;
    let old = crate::server::master_keys_value(1);
    let db = populated(&place, &[("SSI_MASTER_KEYS", &old)], 6).await;
    let before = open_all(&db, &MasterKeys::parse(&old).expect("keys")).await;
    assert!(
        !place.key_file().exists(),
        "no key file with configured keys"
    );

    let refused = admin(
        &place,
        &["rotate-master-key", "--finish"],
        &[("SSI_MASTER_KEYS", &old)],
        "",
    );
    assert!(
        refused.stderr.contains("nothing to finish"),
        "{}",
        refused.context()
    );

    let first = admin(
        &place,
        &["rotate-master-key"],
        &[("SSI_MASTER_KEYS", &old)],
        "",
    );
    let both = value_line(first.ok(), "2:");
    assert!(
        both.ends_with(&format!(",{old}")),
        "both versions, old one kept"
    );
    assert!(
        first.stdout.contains("nothing was re-sealed"),
        "{}",
        first.stdout
    );
    assert_eq!(
        versions(&sealed_values(&db).await),
        [1],
        "servers cannot open 2 yet"
    );

    // A server with both versions runs while the values are re-sealed.
    let server = Server::start(&strs(&place.args()), &[("SSI_MASTER_KEYS", &both)]);
    let resealed = admin(
        &place,
        &["rotate-master-key"],
        &[("SSI_MASTER_KEYS", &both)],
        "",
    );
    assert!(
        resealed.ok().contains("re-sealed 13 values"),
        "{}",
        resealed.stdout
    );
    assert!(
        resealed.stdout.contains("run again with --finish"),
        "{}",
        resealed.stdout
    );
    let finished = admin(
        &place,
        &["rotate-master-key", "--finish"],
        &[("SSI_MASTER_KEYS", &both)],
        "",
    );
    let new_only = value_line(finished.ok(), "2:");
    assert!(
        !new_only.contains(','),
        "only the new version: {}",
        finished.stdout
    );
    assert!(
        finished.stdout.contains("dropped versions [1]"),
        "{}",
        finished.stdout
    );
    wait_for_status(&server.url("/readyz"), 200).await;
    drop(server);

    let new_keys = MasterKeys::parse(&new_only).expect("keys");
    let after = open_all(&db, &new_keys).await;
    assert_eq!(versions(&after), [2]);
    for (row, (plain, _)) in &before {
        assert_eq!(&after[row].0, plain, "{row:?} changed content");
    }
    for output in [&first, &resealed, &finished] {
        assert!(!output.stderr.contains(&old[2..]), "a key on stderr");
    }
    server_opens_everything(&place, &[("SSI_MASTER_KEYS", &new_only)]).await;
    assert!(!place.key_file().exists(), "still no key file");
}

/// The line of `stdout` that starts with `prefix` (the printed key value).
fn value_line(stdout: &str, prefix: &str) -> String {
    stdout
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}:\n{stdout}"))
        .to_owned()
}

#[tokio::test]
async fn rotation_with_configured_keys_on_sqlite() {
    rotation_with_configured_keys(Backend::Sqlite).await;
}

#[tokio::test]
async fn rotation_with_configured_keys_on_postgres() {
    rotation_with_configured_keys(Backend::Postgres).await;
}
