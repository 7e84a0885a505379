//! The account pages: CSRF on every form, escaping, the SSI switches and
//! what they delete, link removal, cross-account isolation, history.

use sqlx::AnyPool;
use ssi_server::encoding::secret_hash;

use crate::accounts::{Browser, PASSWORD, account_id, audit_text, db, signed_up};
use crate::device_grant::register_device;
use crate::harness::{TEST_NOW_MS, TestServer};

/// Rows other areas create (developers, IDPs, apps, links), written
/// directly.
struct World {
    pool: AnyPool,
}

impl World {
    async fn new(server: &TestServer) -> Self {
        let world = Self {
            pool: db(server).await,
        };
        world
            .exec(&format!(
                "INSERT INTO accounts (id, email, password_hash, created_at) \
                 VALUES ('acct_dev', 'dev@example.com', 'x', {TEST_NOW_MS})"
            ))
            .await;
        world
    }

    async fn exec(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn idp(&self, id: &str, name: &str) {
        self.exec(&format!(
            "INSERT INTO idps (id, developer_id, name, created_at) \
             VALUES ('{id}', 'acct_dev', '{name}', {TEST_NOW_MS})"
        ))
        .await;
    }

    async fn app(&self, id: &str, name: &str, idp: &str) {
        sqlx::query(
            "INSERT INTO apps (id, developer_id, package_id, display_name, idp_id, created_at) \
             VALUES ($1, 'acct_dev', $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(format!("com.example.{id}"))
        .bind(name)
        .bind(idp)
        .bind(TEST_NOW_MS)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    async fn link(&self, id: &str, account: &str, idp: &str, login_name: &str) {
        sqlx::query(
            "INSERT INTO links (id, account_id, idp_id, partner_user_id, user_login_name, \
             link_token, signing_key_sealed, signing_key_public, master_key_version, \
             created_by_app_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 'app', $9)",
        )
        .bind(id)
        .bind(account)
        .bind(idp)
        .bind(format!("partner-user-{id}"))
        .bind(login_name)
        .bind(format!("LINK-TOKEN-SECRET-{id}"))
        .bind(b"sealed".to_vec())
        .bind(b"public".to_vec())
        .bind(TEST_NOW_MS)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    async fn links(&self) -> Vec<String> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM links ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap();
        rows.into_iter().map(|(id,)| id).collect()
    }

    /// Everything a refused form post must leave unchanged.
    async fn snapshot(&self) -> String {
        let mut out = String::new();
        for sql in [
            "SELECT id || ':' || CASE WHEN ssi_enabled THEN 'on' ELSE 'off' END FROM devices ORDER BY id",
            "SELECT id FROM links ORDER BY id",
            "SELECT id || ':' || CASE WHEN ssi_enabled THEN 'on' ELSE 'off' END FROM accounts ORDER BY id",
            "SELECT app_id || ':' || CASE WHEN ssi_enabled THEN 'on' ELSE 'off' END FROM app_settings ORDER BY app_id",
            "SELECT token_hash FROM sessions ORDER BY token_hash",
            "SELECT user_code || ':' || status FROM device_authorizations ORDER BY user_code",
            "SELECT action FROM audit_log ORDER BY id",
        ] {
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&self.pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            out.push_str(&format!("{rows:?}\n"));
        }
        out
    }
}

/// Text as the templates escape it (askama: numeric character references).
pub(crate) fn escaped(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' | '>' | '&' | '"' | '\'' => format!("&#{};", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

async fn device_id(server: &TestServer, credential: &str) -> String {
    server
        .state
        .store
        .find_device_by_credential(&secret_hash(credential))
        .await
        .unwrap()
        .expect("device")
        .id
}

server_test!(
    every_form_requires_the_session_csrf_token,
    |server: TestServer| async move {
        let world = World::new(&server).await;
        let mut owner = signed_up(&server, "owner@example.com").await;
        let mut other = signed_up(&server, "other@example.com").await;
        let owner_id = account_id(&server, "owner@example.com").await;
        let credential = register_device(&server, &mut owner, "TV").await;
        let device = device_id(&server, &credential).await;
        world.idp("idp_1", "example-idp").await;
        world.app("app_1", "Example", "idp_1").await;
        world.link("lnk_1", &owner_id, "idp_1", "alice").await;
        let pending = crate::device_grant::start_grant(&server, "Pending box").await;

        // In an order in which each works when sent with the right token.
        let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
            ("/device".into(), vec![("user_code", &pending.user_code)]),
            (
                "/device/confirm".into(),
                vec![("user_code", &pending.user_code), ("decision", "approve")],
            ),
            (
                format!("/account/devices/{device}/ssi"),
                vec![("enabled", "false")],
            ),
            ("/account/links/lnk_1/delete".into(), vec![]),
            (
                "/account/settings/apps/app_1".into(),
                vec![("enabled", "false")],
            ),
            (
                "/account/settings/account".into(),
                vec![("enabled", "false")],
            ),
            (format!("/account/devices/{device}/delete"), vec![]),
            ("/account/signout".into(), vec![]),
        ];
        let others_token = other.csrf().await;
        let before = world.snapshot().await;
        for (path, fields) in &forms {
            for (name, token) in [
                ("no token", None),
                ("another session's token", Some(&others_token)),
            ] {
                let mut fields = fields.clone();
                if let Some(token) = token {
                    fields.push(("csrf", token));
                }
                let page = owner.post(path, &fields).await;
                assert_eq!(page.status, 403, "{path} with {name}: {}", page.body);
                assert!(page.body.contains("security token"), "{path}");
            }
        }
        assert_eq!(
            world.snapshot().await,
            before,
            "a refused form changed something"
        );
        assert_eq!(owner.get("/account").await.status, 200, "still signed in");

        // The same forms with the right token do their work.
        let csrf = owner.csrf().await;
        for (path, fields) in &forms {
            let mut fields = fields.clone();
            fields.push(("csrf", &csrf));
            let page = owner.post(path, &fields).await;
            assert!(
                matches!(page.status, 200 | 303),
                "{path}: {} {}",
                page.status,
                page.body
            );
        }
        assert_ne!(world.snapshot().await, before);
        assert_eq!(owner.get("/account").await.status, 303, "signed out last");
    }
);

server_test!(pages_escape_user_text, |server: TestServer| async move {
    let world = World::new(&server).await;
    let hostile = "<script>alert(1)</script>";
    let email = "<b>x</b>@example.com";
    let mut owner = signed_up(&server, email).await;
    let owner_id = account_id(&server, email).await;
    world.idp("idp_1", "idp-<i>").await;
    world
        .app("app_1", "<img src=x onerror=alert(2)>", "idp_1")
        .await;
    world
        .link("lnk_1", &owner_id, "idp_1", "\"><svg onload=alert(3)>")
        .await;

    // The confirmation page shows the device's name, escaped.
    let grant = crate::device_grant::start_grant(&server, hostile).await;
    let confirm = crate::device_grant::enter_code(&mut owner, &grant.user_code).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains(&escaped(hostile)), "{}", confirm.body);
    let credential = crate::device_grant::register_device(&server, &mut owner, hostile).await;
    let device = device_id(&server, &credential).await;
    world
        .exec(&format!(
            "INSERT INTO sign_ins (id, account_id, app_id, device_id, link_id, at) \
             VALUES ('sgn_1', '{owner_id}', 'app_1', '{device}', 'lnk_1', {TEST_NOW_MS})"
        ))
        .await;

    for path in [
        "/account",
        "/account/devices",
        "/account/links",
        "/account/settings",
        "/account/history",
        "/device",
    ] {
        let page = owner.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("style-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
        let body = &page.body;
        assert!(body.contains(r#"<link rel="stylesheet" href="/static/style.css">"#));
        for raw in [hostile, "<img src=x", "<svg", "<b>x</b>", "idp-<i>"] {
            assert!(!body.contains(raw), "{path} shows {raw} unescaped:\n{body}");
        }
        assert!(!body.contains("<script"), "{path} has a script element");
        assert!(!body.contains("style="), "{path} has inline style");
        assert!(body.contains(&escaped(email)), "{path}: e-mail in the nav");
    }
    assert!(
        owner
            .get("/account/devices")
            .await
            .body
            .contains(&escaped(hostile))
    );
    let links = owner.get("/account/links").await.body;
    assert!(
        links.contains(&escaped("\"><svg onload=alert(3)>")),
        "{links}"
    );
    let history = owner.get("/account/history").await.body;
    assert!(
        history.contains(&escaped("<img src=x onerror=alert(2)>")),
        "{history}"
    );
});

server_test!(
    switches_delete_exactly_what_they_should,
    |server: TestServer| async move {
        let world = World::new(&server).await;
        let mut owner = signed_up(&server, "owner@example.com").await;
        let session = owner.session().unwrap().to_owned();
        signed_up(&server, "bystander@example.com").await;
        let owner_id = account_id(&server, "owner@example.com").await;
        let bystander_id = account_id(&server, "bystander@example.com").await;
        world.idp("idp_1", "shared-idp").await;
        world.idp("idp_2", "other-idp").await;
        world.app("app_1", "Video", "idp_1").await;
        world.app("app_2", "Music", "idp_1").await;
        world.app("app_3", "Games", "idp_2").await;
        world.link("lnk_a1", &owner_id, "idp_1", "alice").await;
        world.link("lnk_a2", &owner_id, "idp_1", "alice-kids").await;
        world
            .link("lnk_a3", &owner_id, "idp_2", "alice-games")
            .await;
        world.link("lnk_b1", &bystander_id, "idp_1", "bob").await;
        let credential = register_device(&server, &mut owner, "TV").await;
        let device = device_id(&server, &credential).await;
        let store = &server.state.store;
        let csrf = owner.csrf().await;

        // Device switch: only the flag, nothing deleted.
        let page = owner
            .post(
                &format!("/account/devices/{device}/ssi"),
                &[("csrf", &csrf), ("enabled", "false")],
            )
            .await;
        server.clock.advance_ms(1000);
        assert_eq!(page.status, 303, "{}", page.body);
        let row = store
            .find_device_by_credential(&secret_hash(&credential))
            .await
            .unwrap()
            .unwrap();
        assert!(!row.ssi_enabled);
        assert_eq!(
            world.links().await,
            ["lnk_a1", "lnk_a2", "lnk_a3", "lnk_b1"]
        );
        assert!(owner.get("/account/devices").await.body.contains("Turn on"));

        // The settings page lists the apps of the account's links.
        let settings = owner.get("/account/settings").await;
        for app in ["Video", "Music", "Games"] {
            assert!(
                settings.body.contains(app),
                "{app} missing: {}",
                settings.body
            );
        }

        // App switch: the account's links of that app's IDP, no others.
        let page = owner
            .post(
                "/account/settings/apps/app_1",
                &[("csrf", &csrf), ("enabled", "false")],
            )
            .await;
        server.clock.advance_ms(1000);
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(world.links().await, ["lnk_a3", "lnk_b1"]);
        assert!(!store.is_app_ssi_enabled(&owner_id, "app_1").await.unwrap());
        assert!(store.is_app_ssi_enabled(&owner_id, "app_2").await.unwrap());
        assert!(
            store
                .is_app_ssi_enabled(&bystander_id, "app_1")
                .await
                .unwrap()
        );
        // Still listed (to turn it back on), as off.
        let settings = owner.get("/account/settings").await;
        assert!(settings.body.contains("Video"), "{}", settings.body);
        let page = owner
            .post(
                "/account/settings/apps/app_1",
                &[("csrf", &csrf), ("enabled", "true")],
            )
            .await;
        server.clock.advance_ms(1000);
        assert_eq!(page.status, 303);
        assert!(store.is_app_ssi_enabled(&owner_id, "app_1").await.unwrap());
        assert_eq!(
            world.links().await,
            ["lnk_a3", "lnk_b1"],
            "turning on restores nothing"
        );

        // Account switch: all the account's links, no one else's.
        let page = owner
            .post(
                "/account/settings/account",
                &[("csrf", &csrf), ("enabled", "false")],
            )
            .await;
        server.clock.advance_ms(1000);
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(world.links().await, ["lnk_b1"]);
        assert!(
            !store
                .find_account(&owner_id)
                .await
                .unwrap()
                .unwrap()
                .ssi_enabled
        );
        assert!(
            store
                .find_account(&bystander_id)
                .await
                .unwrap()
                .unwrap()
                .ssi_enabled
        );
        assert!(
            owner
                .get("/account")
                .await
                .body
                .contains(r#"<span class="off">Off</span>"#)
        );
        let page = owner
            .post(
                "/account/settings/account",
                &[("csrf", &csrf), ("enabled", "true")],
            )
            .await;
        server.clock.advance_ms(1000);
        assert_eq!(page.status, 303);
        assert!(
            store
                .find_account(&owner_id)
                .await
                .unwrap()
                .unwrap()
                .ssi_enabled
        );
        assert!(
            store
                .find_device_by_credential(&secret_hash(&credential))
                .await
                .unwrap()
                .is_some()
        );

        // Each change is audited, with the request id, without secrets.
        let entries = store.list_audit(Some(&owner_id), 1000).await.unwrap();
        // One group per change (the clock moved between changes), sorted.
        let mut groups: Vec<(i64, Vec<(String, String)>)> = Vec::new();
        for entry in entries.iter().rev() {
            if !(entry.action.starts_with("settings.") || entry.action == "link.delete") {
                continue;
            }
            let item = (
                entry.action.clone(),
                entry.subject.clone().unwrap_or_default(),
            );
            match groups.last_mut() {
                Some((at, items)) if *at == entry.at => items.push(item),
                _ => groups.push((entry.at, vec![item])),
            }
        }
        let groups: Vec<Vec<(String, String)>> = groups
            .into_iter()
            .map(|(_, mut items)| {
                items.sort();
                items
            })
            .collect();
        let pair = |a: &str, s: &str| (a.to_owned(), s.to_owned());
        assert_eq!(
            groups,
            [
                vec![pair("settings.device", &device)],
                vec![
                    pair("link.delete", "lnk_a1"),
                    pair("link.delete", "lnk_a2"),
                    pair("settings.app", "app_1"),
                ],
                vec![pair("settings.app", "app_1")],
                vec![
                    pair("link.delete", "lnk_a3"),
                    pair("settings.account", &owner_id)
                ],
                vec![pair("settings.account", &owner_id)],
            ],
            "{entries:#?}"
        );
        for entry in entries.iter().filter(|e| e.action != "account.create") {
            let request_id = entry.request_id.as_deref().unwrap_or("");
            assert!(request_id.starts_with("req_"), "{entry:?}");
            assert!(
                entry.actor == format!("account:{owner_id}") || entry.actor.starts_with("device:"),
                "{entry:?}"
            );
        }
        let audit = audit_text(&server).await;
        for secret in [PASSWORD, &session, &csrf, &credential, "LINK-TOKEN-SECRET"] {
            assert!(!audit.contains(secret), "audit leaks {secret}: {audit}");
        }
    }
);

server_test!(removing_one_link, |server: TestServer| async move {
    let world = World::new(&server).await;
    let mut owner = signed_up(&server, "owner@example.com").await;
    let owner_id = account_id(&server, "owner@example.com").await;
    world.idp("idp_1", "example-idp").await;
    world.app("app_1", "Video", "idp_1").await;
    world.app("app_2", "Video Kids", "idp_1").await;
    world.link("lnk_1", &owner_id, "idp_1", "alice").await;
    world.link("lnk_2", &owner_id, "idp_1", "alice-work").await;
    let links = owner.get("/account/links").await;
    assert!(links.body.contains("Video, Video Kids"), "{}", links.body);
    assert!(links.body.contains("alice-work") && links.body.contains("2026-11-25 00:00 UTC"));
    let csrf = links.csrf();
    let page = owner
        .post("/account/links/lnk_1/delete", &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(world.links().await, ["lnk_2"]);
    let audit = server
        .state
        .store
        .list_audit(Some(&owner_id), 10)
        .await
        .unwrap();
    let removals: Vec<_> = audit.iter().filter(|e| e.action == "link.delete").collect();
    assert_eq!(removals.len(), 1, "{audit:?}");
    assert_eq!(removals[0].subject.as_deref(), Some("lnk_1"));
    let page = owner
        .post("/account/links/lnk_1/delete", &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, 404, "already removed");
});

server_test!(
    accounts_cannot_touch_each_other,
    |server: TestServer| async move {
        let world = World::new(&server).await;
        let mut alice = signed_up(&server, "alice@example.com").await;
        let mut bob = signed_up(&server, "bob@example.com").await;
        let alice_id = account_id(&server, "alice@example.com").await;
        world.idp("idp_1", "example-idp").await;
        world.app("app_1", "Video", "idp_1").await;
        world
            .link("lnk_alice", &alice_id, "idp_1", "alice-video-login")
            .await;
        let credential = register_device(&server, &mut alice, "Alice's TV").await;
        let device = device_id(&server, &credential).await;
        let before = world.snapshot().await;

        let csrf = bob.csrf().await;
        for (path, fields) in [
            (format!("/account/devices/{device}/delete"), vec![]),
            (
                format!("/account/devices/{device}/ssi"),
                vec![("enabled", "false")],
            ),
            ("/account/links/lnk_alice/delete".to_owned(), vec![]),
            (
                "/account/settings/apps/app_missing".to_owned(),
                vec![("enabled", "false")],
            ),
        ] {
            let mut fields = fields;
            fields.push(("csrf", &csrf));
            let page = bob.post(&path, &fields).await;
            assert_eq!(page.status, 404, "{path}: {}", page.body);
        }
        assert_eq!(world.snapshot().await, before, "bob changed alice's data");
        for path in [
            "/account/devices",
            "/account/links",
            "/account/settings",
            "/account",
        ] {
            let body = bob.get(path).await.body;
            for secret in [
                "Alice&#x27;s TV",
                "Alice's TV",
                "alice-video-login",
                "Video",
            ] {
                assert!(!body.contains(secret), "{path} shows alice's {secret}");
            }
        }
        // Alice sees her own.
        assert!(
            alice
                .get("/account/links")
                .await
                .body
                .contains("alice-video-login")
        );
    }
);

server_test!(
    history_lists_own_sign_ins,
    |server: TestServer| async move {
        let world = World::new(&server).await;
        let mut alice = signed_up(&server, "alice@example.com").await;
        signed_up(&server, "bob@example.com").await;
        let alice_id = account_id(&server, "alice@example.com").await;
        let bob_id = account_id(&server, "bob@example.com").await;
        world.idp("idp_1", "example-idp").await;
        world.app("app_1", "Video", "idp_1").await;
        world.app("app_2", "Bob's secret app", "idp_1").await;
        let credential = register_device(&server, &mut alice, "Kitchen tablet").await;
        let device = device_id(&server, &credential).await;
        for (id, account, app, at) in [
            ("sgn_1", &alice_id, "app_1", TEST_NOW_MS + 60_000),
            ("sgn_2", &bob_id, "app_2", TEST_NOW_MS),
        ] {
            world
                .exec(&format!(
                    "INSERT INTO sign_ins (id, account_id, app_id, device_id, at) \
                 VALUES ('{id}', '{account}', '{app}', '{device}', {at})"
                ))
                .await;
        }
        let history = alice.get("/account/history").await;
        assert!(history.body.contains("Video"));
        assert!(history.body.contains("Kitchen tablet"));
        assert!(history.body.contains("2026-11-25 00:01 UTC"));
        assert!(!history.body.contains("secret app"));
        let rows = server
            .state
            .store
            .list_sign_ins_for_account(&alice_id, 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].device_name.as_deref(), Some("Kitchen tablet"));
    }
);

server_test!(
    anonymous_visitors_and_redirects,
    |server: TestServer| async move {
        let mut visitor = Browser::new(&server);
        for path in [
            "/account",
            "/account/devices",
            "/account/links",
            "/account/settings",
            "/account/history",
            "/device",
        ] {
            let page = visitor.get(path).await;
            assert_eq!(page.status, 303, "{path}");
            let encoded = path.replace('/', "%2F");
            assert_eq!(page.location(), format!("/account/signin?next={encoded}"));
        }
        let css = visitor.get("/static/style.css").await;
        assert_eq!(css.status, 200);
        assert!(
            css.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/css")
        );

        // After sign-in, only local paths are followed: no open redirect.
        signed_up(&server, "alice@example.com").await;
        for (next, expected) in [
            ("/account/devices", "/account/devices"),
            ("//evil.example/", "/account"),
            ("https://evil.example/", "/account"),
            ("/\\evil.example", "/account"),
        ] {
            let mut browser = Browser::new(&server);
            let form = browser.get("/account/signin").await;
            let page = browser
                .post(
                    "/account/signin",
                    &[
                        ("csrf", &form.csrf()),
                        ("email", "alice@example.com"),
                        ("password", PASSWORD),
                        ("next", next),
                    ],
                )
                .await;
            assert_eq!(page.status, 303);
            assert_eq!(page.location(), expected, "next={next}");
        }
    }
);
