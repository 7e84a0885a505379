//! The developer console (`/console/...`) over HTTP: onboarding through the
//! pages, isolation between developers as attacks (every console URL with
//! another developer's ids, by page and by API), CSRF on every form, hostile
//! text escaped everywhere it is shown, limits named and nothing written.
//! The browser journey is in `console_browser.rs`.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::AnyPool;

use crate::account_pages::escaped;
use crate::accounts::{Browser, Page, account_id, db, signed_up};
use crate::developers::PNG;
use crate::harness::TestServer;

/// A form as a browser sends it.
#[derive(Debug, Clone)]
pub(crate) enum Form {
    /// `application/x-www-form-urlencoded`.
    Url(Vec<(String, String)>),
    /// `multipart/form-data`, with an optional file part `icon`:
    /// `(file name, content type, bytes)`.
    Multipart(Vec<(String, String)>, Option<(String, String, Vec<u8>)>),
}

impl Form {
    pub(crate) fn url(fields: &[(&str, &str)]) -> Self {
        Self::Url(owned(fields))
    }

    pub(crate) fn multipart(fields: &[(&str, &str)], icon: Option<(&str, &str, &[u8])>) -> Self {
        Self::Multipart(
            owned(fields),
            icon.map(|(name, kind, bytes)| (name.to_owned(), kind.to_owned(), bytes.to_vec())),
        )
    }

    /// The same form with the CSRF field set to `csrf` (or left out).
    fn with_csrf(&self, csrf: Option<&str>) -> Self {
        let set = |fields: &[(String, String)]| {
            let mut fields: Vec<(String, String)> = fields
                .iter()
                .filter(|(k, _)| k != "csrf")
                .cloned()
                .collect();
            if let Some(csrf) = csrf {
                fields.insert(0, ("csrf".to_owned(), csrf.to_owned()));
            }
            fields
        };
        match self {
            Self::Url(fields) => Self::Url(set(fields)),
            Self::Multipart(fields, icon) => Self::Multipart(set(fields), icon.clone()),
        }
    }
}

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const BOUNDARY: &str = "----ssi-console-test-boundary";

/// A multipart body as browsers write it.
fn multipart_body(
    fields: &[(String, String)],
    icon: Option<&(String, String, Vec<u8>)>,
) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((file_name, content_type, bytes)) = icon {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"icon\"; \
                 filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A browser on the console: signed up through the account pages.
pub(crate) struct Console {
    pub browser: Browser,
    pub account_id: String,
    pub csrf: String,
}

impl Console {
    /// A new account, not a developer yet.
    pub async fn signed_up(server: &TestServer, email: &str) -> Self {
        let mut browser = signed_up(server, email).await;
        let csrf = browser.csrf().await;
        Self {
            browser,
            account_id: account_id(server, email).await,
            csrf,
        }
    }

    /// A new account that became a developer on the console's start page.
    pub async fn developer(server: &TestServer, email: &str) -> Self {
        let mut console = Self::signed_up(server, email).await;
        let start = console.get("/console").await;
        assert_eq!(start.status, 200, "{}", start.body);
        assert!(start.body.contains("Become a developer"), "{}", start.body);
        let done = console
            .send(
                "/console/enroll",
                &Form::url(&[("csrf", &console.csrf.clone())]),
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location(), "/console?notice=enrolled");
        console
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.browser.get(path).await
    }

    /// Submits a form with whatever CSRF field it has.
    pub async fn send(&mut self, path: &str, form: &Form) -> Page {
        match form {
            Form::Url(fields) => {
                let fields: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                self.browser.post(path, &fields).await
            }
            Form::Multipart(fields, icon) => {
                let cookie = self
                    .browser
                    .cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let response = self
                    .browser
                    .http
                    .post(format!("{}{path}", self.browser.base))
                    .header("cookie", cookie)
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={BOUNDARY}"),
                    )
                    .body(multipart_body(fields, icon.as_ref()))
                    .send()
                    .await
                    .expect("request");
                page_of(response).await
            }
        }
    }

    /// Submits a form with this session's CSRF token.
    pub async fn submit(&mut self, path: &str, form: &Form) -> Page {
        let form = form.with_csrf(Some(&self.csrf.clone()));
        self.send(path, &form).await
    }

    /// Registers an app through the form; returns its id.
    pub async fn create_app(&mut self, package_id: &str, name: &str) -> String {
        let page = self
            .submit(
                "/console/apps",
                &Form::multipart(
                    &[("packageId", package_id), ("displayName", name)],
                    Some(("icon.png", "image/png", PNG)),
                ),
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let location = page.location().to_owned();
        let app_id = location
            .strip_prefix("/console/apps/")
            .and_then(|rest| rest.strip_suffix("?notice=created"))
            .unwrap_or_else(|| panic!("unexpected location {location}"));
        app_id.to_owned()
    }

    /// "Enable Simple Sign-In" with a name (empty: generated) and apps.
    pub async fn enable(&mut self, name: &str, apps: &[&str]) -> Page {
        let mut fields = vec![("identityProviderName", name)];
        fields.extend(apps.iter().map(|app| ("app", *app)));
        self.submit("/console/idps", &Form::url(&fields)).await
    }

    /// Creates a partner API key; returns `(id, key)` from the pages.
    pub async fn create_api_key(&mut self, label: &str) -> (String, String) {
        let page = self
            .submit("/console/api-keys", &Form::url(&[("label", label)]))
            .await;
        assert_eq!(page.status, 201, "{}", page.body);
        let key = between(
            &page.body,
            "<pre id=\"api-key\" class=\"secret\">",
            "</pre>",
        );
        // The new key's row, by its label (keys created in the same
        // millisecond are listed in id order).
        let list = self.get("/console/api-keys").await;
        let id = between(
            &list.body,
            &format!("<td>{}</td>\n    <td><code>", escaped(label)),
            "</code>",
        );
        (id, key)
    }

    /// The kids on an app's keys page, in page order.
    pub async fn kids(&mut self, app_id: &str) -> Vec<String> {
        let page = self.get(&format!("/console/apps/{app_id}/keys")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.body
            .split("<h2><code>")
            .skip(1)
            .map(|rest| rest.split('<').next().unwrap().to_owned())
            .collect()
    }
}

pub(crate) async fn page_of(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let headers: HeaderMap = response.headers().clone();
    let set_cookies = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let body = response.text().await.expect("body");
    Page {
        status,
        headers,
        body,
        set_cookies,
    }
}

/// The text between two markers.
pub(crate) fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in {text}"))
        + start.len();
    let to = text[from..].find(end).expect("end marker") + from;
    text[from..to].to_owned()
}

/// The app's published JWKS.
pub(crate) async fn jwks(server: &TestServer, package_id: &str) -> Value {
    let response = server
        .http
        .get(server.url(&format!("/v1/apps/{package_id}/jwks.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Every developer-owned row and the audit log: what a refused request must
/// leave unchanged.
pub(crate) async fn snapshot(pool: &AnyPool) -> String {
    let mut out = String::new();
    for sql in [
        "SELECT id || ':' || developer_id || ':' || package_id || ':' || display_name || ':' || \
         COALESCE(idp_id, '-') || ':' || COALESCE(icon_type, '-') FROM apps ORDER BY id",
        "SELECT id || ':' || developer_id || ':' || name FROM idps ORDER BY id",
        "SELECT kid || ':' || app_id || ':' || COALESCE(CAST(retired_at AS TEXT), '-') \
         FROM app_keys ORDER BY kid",
        "SELECT id || ':' || developer_id || ':' || label || ':' || \
         COALESCE(CAST(revoked_at AS TEXT), '-') FROM partner_api_keys ORDER BY id",
        "SELECT id || ':' || CASE WHEN is_developer THEN 'dev' ELSE '-' END FROM accounts ORDER BY id",
        "SELECT action || ':' || COALESCE(subject, '-') FROM audit_log ORDER BY id",
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        out.push_str(&format!("{rows:?}\n"));
    }
    out
}

/// A developer with an app bound to an IDP, a second key, an API key.
struct Owned {
    console: Console,
    app_id: String,
    package_id: String,
    kid: String,
    idp_name: String,
    api_key_id: String,
    api_key: String,
}

async fn owner_with_everything(server: &TestServer, email: &str, package_id: &str) -> Owned {
    let mut console = Console::developer(server, email).await;
    let app_id = console.create_app(package_id, "Owner's TV").await;
    let idp_name = format!("idp-{}", package_id.replace('.', "-"));
    let page = console.enable(&idp_name, &[&app_id]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let added = console
        .submit(&format!("/console/apps/{app_id}/keys"), &Form::url(&[]))
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let kid = console.kids(&app_id).await.remove(0);
    let (api_key_id, api_key) = console.create_api_key("owner backend").await;
    Owned {
        console,
        app_id,
        package_id: package_id.to_owned(),
        kid,
        idp_name,
        api_key_id,
        api_key,
    }
}

server_test!(
    onboarding_through_the_pages,
    |server: TestServer| async move {
        let pool = db(&server).await;
        let mut console = Console::developer(&server, "dev@example.com").await;
        // A second enrolment changes nothing (and is audited once).
        let again = console.submit("/console/enroll", &Form::url(&[])).await;
        assert_eq!(again.status, 303);
        let overview = console.get("/console").await;
        assert_eq!(overview.status, 200);
        assert!(
            overview.body.contains("Register your app"),
            "{}",
            overview.body
        );
        assert!(!overview.body.contains("class=\"card step done\""));

        // Register an app with an icon.
        let app_id = console.create_app("com.example.tv", "Example TV").await;
        let app_page = console
            .get(&format!("/console/apps/{app_id}?notice=created"))
            .await;
        assert_eq!(app_page.status, 200, "{}", app_page.body);
        assert!(app_page.body.contains("The app was registered"));
        assert!(app_page.body.contains("/v1/apps/com.example.tv/icon"));
        let icon = server
            .http
            .get(server.url("/v1/apps/com.example.tv/icon"))
            .send()
            .await
            .unwrap();
        assert_eq!(icon.headers()["content-type"], "image/png");
        assert_eq!(icon.bytes().await.unwrap().as_ref(), PNG);

        // Edit the name; remove the icon.
        let saved = console
            .submit(
                &format!("/console/apps/{app_id}"),
                &Form::multipart(
                    &[("displayName", "Example TV+"), ("removeIcon", "on")],
                    Some(("", "application/octet-stream", b"")),
                ),
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        assert_eq!(
            saved.location(),
            format!("/console/apps/{app_id}?notice=saved")
        );
        let apps = console.get("/console/apps").await;
        assert!(apps.body.contains("Example TV+"));
        assert!(!apps.body.contains("/v1/apps/com.example.tv/icon"));

        // Enable Simple Sign-In: a generated SSI ID, the app bound to it.
        let sign_in = console.get("/console/sign-in").await;
        assert!(
            sign_in
                .body
                .contains(&format!("value=\"{app_id}\" checked"))
        );
        let enabled = console.enable("", &[&app_id]).await;
        assert_eq!(enabled.status, 303, "{}", enabled.body);
        assert_eq!(enabled.location(), "/console/sign-in?notice=enabled");
        let sign_in = console.get("/console/sign-in?notice=enabled").await;
        let idp_name = between(
            &sign_in.body,
            "<code class=\"ssi-id\" id=\"idp-1\">",
            "</code>",
        );
        assert!(
            idp_name.starts_with("ssi.") && idp_name.len() == 20,
            "{idp_name}"
        );
        let app = server
            .state
            .store
            .find_app(&console.account_id, &app_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(app.idp_name.as_deref(), Some(idp_name.as_str()));
        let app_page = console.get(&format!("/console/apps/{app_id}")).await;
        assert!(
            app_page
                .body
                .contains(&format!("<code id=\"app-idp\">{idp_name}</code>"))
        );

        // A named second SSI ID, and the app moved to it from its page.
        let named = console.enable("example-tv", &[]).await;
        assert_eq!(named.status, 303, "{}", named.body);
        let bound = console
            .submit(
                &format!("/console/apps/{app_id}/idp"),
                &Form::url(&[("identityProviderName", "example-tv")]),
            )
            .await;
        assert_eq!(bound.status, 303, "{}", bound.body);
        let app_page = console.get(&format!("/console/apps/{app_id}")).await;
        assert!(
            app_page
                .body
                .contains("<code id=\"app-idp\">example-tv</code>")
        );

        // Keys: the page shows the published JWK; add one, retire the first.
        let keys = console.get(&format!("/console/apps/{app_id}/keys")).await;
        let shown: Value = serde_json::from_str(
            &between(&keys.body, "class=\"jwk-text\">", "</pre>").replace("&#34;", "\""),
        )
        .unwrap();
        let published = jwks(&server, "com.example.tv").await;
        assert_eq!(published["keys"], json!([shown]));
        assert!(
            !keys.body.contains(">Retire<"),
            "the only current key cannot be retired"
        );
        let added = console
            .submit(&format!("/console/apps/{app_id}/keys"), &Form::url(&[]))
            .await;
        assert_eq!(
            added.location(),
            format!("/console/apps/{app_id}/keys?notice=key-added")
        );
        let kids = console.kids(&app_id).await;
        assert_eq!(kids.len(), 2);
        let retired = console
            .submit(
                &format!("/console/apps/{app_id}/keys/{}/retire", kids[0]),
                &Form::url(&[]),
            )
            .await;
        assert_eq!(retired.status, 303, "{}", retired.body);
        let published = jwks(&server, "com.example.tv").await;
        assert_eq!(published["keys"][0]["kid"], json!(kids[1]));
        assert_eq!(published["keys"].as_array().unwrap().len(), 1);
        let keys = console.get(&format!("/console/apps/{app_id}/keys")).await;
        assert!(keys.body.contains("status retired"), "{}", keys.body);

        // Partner API keys: shown once, listed without the secret, revoked.
        let (key_id, key) = console.create_api_key("production backend").await;
        assert!(key.starts_with("ssi_pk_"), "{key}");
        let list = console.get("/console/api-keys").await;
        assert!(list.body.contains("production backend"));
        assert!(!list.body.contains(&key), "the list never shows a key");
        let partner_call = |key: String| {
            let http = server.http.clone();
            let url = server.url("/v1/partner/idps/example-tv/users/u1/links");
            async move {
                http.delete(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(partner_call(key.clone()).await, 200);
        let revoked = console
            .submit(
                &format!("/console/api-keys/{key_id}/revoke"),
                &Form::url(&[]),
            )
            .await;
        assert_eq!(revoked.status, 303, "{}", revoked.body);
        assert_eq!(partner_call(key.clone()).await, 401);
        let list = console.get("/console/api-keys").await;
        assert!(list.body.contains("revoked"));

        // The overview counts the steps done: all but the API key, revoked.
        let overview = console.get("/console").await;
        assert_eq!(
            overview.body.matches("class=\"card step done\"").count(),
            4,
            "{}",
            overview.body
        );

        // Audited like the JSON API, never with a secret.
        let mut actions: Vec<(String,)> = sqlx::query_as(
            "SELECT action FROM audit_log WHERE account_id = $1 AND action NOT LIKE 'account.%' \
         ORDER BY at, id",
        )
        .bind(&console.account_id)
        .fetch_all(&pool)
        .await
        .unwrap();
        actions.sort();
        let actions: Vec<&str> = actions.iter().map(|(a,)| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "api_key.create",
                "api_key.revoke",
                "app.bind_idp",
                "app.bind_idp",
                "app.create",
                "app.update",
                "app_key.create",
                "app_key.create",
                "app_key.retire",
                "developer.enroll",
                "idp.create",
                "idp.create",
            ]
        );
        let audit = crate::accounts::audit_text(&server).await;
        assert!(!audit.contains(&key));

        // Deleting the app takes its package id typed again.
        let path = format!("/console/apps/{app_id}/delete");
        let refused = console
            .submit(&path, &Form::url(&[("confirm", "com.example")]))
            .await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(
            refused.body.contains(
                "confirm: must be the app&#39;s package id, com.example.tv (got 11 characters)"
            ),
            "{}",
            refused.body
        );
        assert_eq!(
            jwks(&server, "com.example.tv").await["keys"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let deleted = console
            .submit(&path, &Form::url(&[("confirm", "com.example.tv")]))
            .await;
        assert_eq!(deleted.status, 303, "{}", deleted.body);
        assert_eq!(deleted.location(), "/console/apps?notice=deleted");
        let apps = console.get("/console/apps?notice=deleted").await;
        assert!(apps.body.contains("The app was deleted"));
        assert!(!apps.body.contains("com.example.tv"));
        let gone = server
            .http
            .get(server.url("/v1/apps/com.example.tv/jwks.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), 404);
        let page = console.get(&format!("/console/apps/{app_id}")).await;
        assert_eq!(page.status, 404);
    }
);

/// What a refused request must look like: the status, and a page (never a
/// JSON error or an empty body).
fn assert_refused(page: &Page, status: u16, what: &str) {
    assert_eq!(page.status, status, "{what}: {}", page.body);
    let content_type = page
        .headers
        .get("content-type")
        .map(|v| v.to_str().unwrap())
        .unwrap_or("");
    assert!(
        content_type.starts_with("text/html"),
        "{what}: {content_type}"
    );
}

server_test!(
    a_developer_cannot_reach_another_developers_apps_keys_or_api_keys,
    |server: TestServer| async move {
        let pool = db(&server).await;
        let mut owner = owner_with_everything(&server, "owner@example.com", "com.owner.tv").await;
        let mut attacker = Console::developer(&server, "attacker@example.com").await;
        let own_app = attacker.create_app("com.attacker.tv", "Attacker TV").await;
        let page = attacker.enable("attacker-idp", &[&own_app]).await;
        assert_eq!(page.status, 303);
        let own_kid = attacker.kids(&own_app).await.remove(0);
        let before = snapshot(&pool).await;

        let victim_app = owner.app_id.clone();
        let victim_kid = owner.kid.clone();
        let icon = Some(("x.png", "image/png", PNG));
        // Every console URL that names an id, with the owner's ids.
        let cases: Vec<(String, Option<Form>)> = vec![
            (format!("/console/apps/{victim_app}"), None),
            (format!("/console/apps/{victim_app}/keys"), None),
            (
                format!("/console/apps/{victim_app}"),
                Some(Form::multipart(&[("displayName", "pwned")], icon)),
            ),
            (
                format!("/console/apps/{victim_app}/idp"),
                Some(Form::url(&[("identityProviderName", "attacker-idp")])),
            ),
            // The attacker's own app onto the owner's SSI ID.
            (
                format!("/console/apps/{own_app}/idp"),
                Some(Form::url(&[("identityProviderName", &owner.idp_name)])),
            ),
            (
                format!("/console/apps/{victim_app}/keys"),
                Some(Form::url(&[])),
            ),
            (
                format!("/console/apps/{victim_app}/keys/{victim_kid}/retire"),
                Some(Form::url(&[])),
            ),
            // The owner's key under the attacker's own app.
            (
                format!("/console/apps/{own_app}/keys/{victim_kid}/retire"),
                Some(Form::url(&[])),
            ),
            (
                format!("/console/api-keys/{}/revoke", owner.api_key_id),
                Some(Form::url(&[])),
            ),
            (
                format!("/console/apps/{victim_app}/delete"),
                Some(Form::url(&[("confirm", "com.owner.tv")])),
            ),
            // The owner's app in a new SSI ID of the attacker.
            (
                "/console/idps".to_owned(),
                Some(Form::url(&[
                    ("identityProviderName", "grab"),
                    ("app", &victim_app),
                ])),
            ),
        ];
        for (path, form) in &cases {
            let page = match form {
                None => attacker.get(path).await,
                Some(form) => attacker.submit(path, form).await,
            };
            assert_refused(&page, 404, path);
            assert!(page.body.contains("Not found"), "{path}: {}", page.body);
            assert!(
                !page.body.contains("Owner&#39;s TV"),
                "{path}: leaks the name"
            );
        }
        // The attacker's key is still theirs to retire only with another key.
        let _ = own_kid;

        // Nothing of the owner in the attacker's lists.
        for path in [
            "/console",
            "/console/apps",
            "/console/sign-in",
            "/console/api-keys",
            "/console/reports",
        ] {
            let page = attacker.get(path).await;
            assert_eq!(page.status, 200, "{path}");
            for secret in [
                &owner.app_id,
                "com.owner.tv",
                &owner.idp_name,
                &owner.api_key_id,
                "owner backend",
                &owner.kid,
            ] {
                assert!(!page.body.contains(secret), "{path} shows {secret}");
            }
        }
        // Nor in the attacker's CSV.
        let csv = attacker.get("/console/reports.csv?month=2026-11").await;
        assert_eq!(csv.status, 200);
        assert!(
            !csv.body.contains(&owner.app_id) && !csv.body.contains("Owner"),
            "{}",
            csv.body
        );
        assert!(csv.body.contains("Attacker TV"));

        // By API: the JSON routes with the owner's ids.
        let api_client = |console: &Console| {
            let cookie = format!("ssi_session={}", console.browser.session().unwrap());
            (cookie, console.csrf.clone())
        };
        let (cookie, csrf) = api_client(&attacker);
        for (method, path, body) in [
            ("GET", format!("/v1/developer/apps/{victim_app}"), None),
            ("GET", format!("/v1/developer/apps/{victim_app}/keys"), None),
            (
                "PATCH",
                format!("/v1/developer/apps/{victim_app}"),
                Some(json!({"displayName": "x"})),
            ),
            (
                "POST",
                format!("/v1/developer/apps/{victim_app}/keys"),
                None,
            ),
            (
                "POST",
                format!("/v1/developer/apps/{victim_app}/keys/{victim_kid}/retire"),
                None,
            ),
            (
                "POST",
                format!("/v1/developer/apps/{own_app}/idp"),
                Some(json!({"identityProviderName": owner.idp_name})),
            ),
            (
                "POST",
                format!("/v1/developer/api-keys/{}/revoke", owner.api_key_id),
                None,
            ),
            ("DELETE", format!("/v1/developer/apps/{victim_app}"), None),
        ] {
            let mut request = server
                .http
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    server.url(&path),
                )
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 404, "{method} {path}");
        }
        // The owner's data is exactly as it was, and still works.
        assert_eq!(snapshot(&pool).await, before);
        let owner_page = owner
            .console
            .get(&format!("/console/apps/{}", owner.app_id))
            .await;
        assert_eq!(owner_page.status, 200);
        let partner = server
            .http
            .delete(server.url(&format!(
                "/v1/partner/idps/{}/users/u/links",
                owner.idp_name
            )))
            .bearer_auth(&owner.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(partner.status(), 200);
    }
);

server_test!(
    accounts_that_are_not_developers_and_strangers_get_nothing,
    |server: TestServer| async move {
        let pool = db(&server).await;
        let owner = owner_with_everything(&server, "owner@example.com", "com.owner.tv").await;
        let mut plain = Console::signed_up(&server, "plain@example.com").await;
        let mut stranger = Browser::new(&server);
        let before = snapshot(&pool).await;
        let app = &owner.app_id;
        let gets = [
            "/console/apps".to_owned(),
            "/console/apps/new".to_owned(),
            format!("/console/apps/{app}"),
            format!("/console/apps/{app}/keys"),
            "/console/sign-in".to_owned(),
            "/console/api-keys".to_owned(),
            "/console/reports".to_owned(),
            "/console/reports.csv?month=2026-11".to_owned(),
        ];
        for path in &gets {
            // Not a developer: to the console's start, which offers to become one.
            let page = plain.get(path).await;
            assert_eq!((page.status, page.location()), (303, "/console"), "{path}");
            // Not signed in: to the sign-in page.
            let page = stranger.get(path).await;
            assert_eq!(page.status, 303, "{path}");
            assert!(page.location().starts_with("/account/signin"), "{path}");
        }
        let forms = console_forms(&owner);
        for (path, form) in &forms {
            let page = plain.submit(path, form).await;
            assert_refused(&page, 403, path);
            let page = stranger.post(path, &[]).await;
            assert_eq!(page.status, 303, "{path}");
            assert!(page.location().starts_with("/account/signin"), "{path}");
        }
        assert_eq!(snapshot(&pool).await, before);
    }
);

/// Every console form, filled in for `owner`'s own app, key and API key.
fn console_forms(owner: &Owned) -> Vec<(String, Form)> {
    let app = &owner.app_id;
    vec![
        (
            "/console/apps".to_owned(),
            Form::multipart(
                &[("packageId", "com.new.app"), ("displayName", "New")],
                Some(("a.png", "image/png", PNG)),
            ),
        ),
        (
            format!("/console/apps/{app}"),
            Form::multipart(&[("displayName", "Renamed")], None),
        ),
        (
            format!("/console/apps/{app}/idp"),
            Form::url(&[("identityProviderName", &owner.idp_name)]),
        ),
        (format!("/console/apps/{app}/keys"), Form::url(&[])),
        (
            format!("/console/apps/{app}/keys/{}/retire", owner.kid),
            Form::url(&[]),
        ),
        (
            "/console/idps".to_owned(),
            Form::url(&[("identityProviderName", "another"), ("app", app)]),
        ),
        (
            "/console/api-keys".to_owned(),
            Form::url(&[("label", "new key")]),
        ),
        (
            format!("/console/api-keys/{}/revoke", owner.api_key_id),
            Form::url(&[]),
        ),
        // Last: it deletes the app the others use.
        (
            format!("/console/apps/{app}/delete"),
            Form::url(&[("confirm", &owner.package_id)]),
        ),
    ]
}

server_test!(
    every_form_requires_the_sessions_csrf_token,
    |server: TestServer| async move {
        let pool = db(&server).await;
        let mut owner = owner_with_everything(&server, "owner@example.com", "com.owner.tv").await;
        let other = Console::developer(&server, "other@example.com").await;
        let mut not_yet = Console::signed_up(&server, "later@example.com").await;
        let before = snapshot(&pool).await;
        let mut forms = console_forms(&owner);
        for (path, form) in forms.drain(..) {
            for (csrf, what) in [
                (None, "missing"),
                (Some(""), "empty"),
                (Some(other.csrf.as_str()), "another session's"),
                (Some("x"), "wrong"),
            ] {
                let page = owner.console.send(&path, &form.with_csrf(csrf)).await;
                assert_refused(&page, 403, &format!("{path} with a {what} token"));
                assert!(page.body.contains("Form expired"), "{path}: {}", page.body);
            }
        }
        for csrf in [None, Some(other.csrf.as_str())] {
            let form = Form::url(&[]).with_csrf(csrf);
            let page = not_yet.send("/console/enroll", &form).await;
            assert_refused(&page, 403, "/console/enroll");
        }
        assert_eq!(snapshot(&pool).await, before);
        // The same forms with the right token do their work.
        for (path, form) in console_forms(&owner) {
            let page = owner.console.submit(&path, &form).await;
            assert!(
                page.status == 303 || page.status == 201,
                "{path}: {} {}",
                page.status,
                page.body
            );
        }
        assert_ne!(snapshot(&pool).await, before);
    }
);

server_test!(
    hostile_text_is_escaped_on_every_page,
    |server: TestServer| async move {
        let hostile = "<script>alert(\"x\")</script>&'";
        let mut console = Console::developer(&server, "dev@example.com").await;
        let app_id = console.create_app("com.example.tv", hostile).await;
        let page = console.enable("hostile-idp", &[&app_id]).await;
        assert_eq!(page.status, 303);
        let created = console
            .submit("/console/api-keys", &Form::url(&[("label", hostile)]))
            .await;
        assert_eq!(created.status, 201);
        // A refused form shows the text it got back in its fields.
        let refused_app = console
            .submit(
                "/console/apps",
                &Form::multipart(&[("packageId", "Bad Id"), ("displayName", hostile)], None),
            )
            .await;
        assert_eq!(refused_app.status, 400);
        let refused_edit = console
            .submit(
                &format!("/console/apps/{app_id}"),
                &Form::multipart(
                    &[("displayName", hostile)],
                    Some(("x.png", "image/gif", b"GIF89a")),
                ),
            )
            .await;
        assert_eq!(refused_edit.status, 400);
        let refused_idp = console.enable("<img src=x onerror=alert(1)>", &[]).await;
        assert_eq!(refused_idp.status, 400);
        let refused_label = console
            .submit(
                "/console/api-keys",
                &Form::url(&[("label", &format!("{hostile}\u{7}"))]),
            )
            .await;
        assert_eq!(refused_label.status, 400);
        let mut pages = vec![
            ("created API key", created),
            ("refused app", refused_app),
            ("refused edit", refused_edit),
            ("refused SSI ID", refused_idp),
            ("refused label", refused_label),
        ];
        for path in [
            "/console".to_owned(),
            "/console/apps".to_owned(),
            format!("/console/apps/{app_id}"),
            format!("/console/apps/{app_id}/keys"),
            "/console/sign-in".to_owned(),
            "/console/api-keys".to_owned(),
            "/console/reports?month=2026-11".to_owned(),
            "/console/reports?month=<b>".to_owned(),
        ] {
            let page = console.get(&path).await;
            pages.push(("page", page));
        }
        for (what, page) in &pages {
            for raw in ["<script>", "<img src=x", "<b>"] {
                assert!(
                    !page.body.contains(raw),
                    "{what}: unescaped {raw}: {}",
                    page.body
                );
            }
        }
        let shows = |page: &Page| {
            page.body.contains(&escaped(hostile)) || page.body.contains("&lt;script&gt;")
        };
        for (what, page) in &pages[..3] {
            assert!(shows(page), "{what}: {}", page.body);
        }
        // The charts carry the name as escaped XML text.
        let reports = console.get("/console/reports?month=2026-11").await;
        assert!(
            reports
                .body
                .contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"),
            "{}",
            reports.body
        );
        // Every page keeps the strict policy: no inline script can run.
        let csp = reports.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        // The CSV quotes the name as one cell.
        let csv = console.get("/console/reports.csv?month=2026-11").await;
        let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
        let first = reader.records().next().unwrap().unwrap();
        assert_eq!(&first[2], hostile);
    }
);

/// A form refused with `status`, naming `message`, writing nothing.
struct LimitCase {
    what: &'static str,
    path: String,
    form: Form,
    status: u16,
    message: &'static str,
}

server_test!(
    limits_are_named_and_nothing_is_written,
    |server: TestServer| async move {
        let pool = db(&server).await;
        let mut owner = owner_with_everything(&server, "owner@example.com", "com.owner.tv").await;
        let taken_by_other = Console::developer(&server, "other@example.com").await;
        let _ = taken_by_other;
        let app = owner.app_id.clone();
        let big_png = [PNG, &vec![0u8; 65_537 - PNG.len()]].concat();
        let huge_png = [PNG, &vec![0u8; 100_000]].concat();
        let name65 = "n".repeat(65);
        let label65 = "l".repeat(65);
        let idp65 = "i".repeat(65);
        let new_app = |package_id: &str, name: &str, icon: Option<(&str, &str, &[u8])>| {
            Form::multipart(&[("packageId", package_id), ("displayName", name)], icon)
        };
        let edit = |name: &str, icon: Option<(&str, &str, &[u8])>| {
            Form::multipart(&[("displayName", name)], icon)
        };
        let cases = vec![
            LimitCase {
                what: "package id without a dot",
                path: "/console/apps".into(),
                form: new_app("example", "App", None),
                status: 400,
                message: "packageId: must be 3-128 characters of [a-z0-9._] in reverse-DNS form",
            },
            LimitCase {
                what: "package id with capitals",
                path: "/console/apps".into(),
                form: new_app("com.Example.tv", "App", None),
                status: 400,
                message: "packageId: must be 3-128 characters",
            },
            LimitCase {
                what: "package id taken",
                path: "/console/apps".into(),
                form: new_app("com.owner.tv", "App", None),
                status: 409,
                message: "packageId: &#34;com.owner.tv&#34; is already registered",
            },
            LimitCase {
                what: "empty display name",
                path: "/console/apps".into(),
                form: new_app("com.new.tv", "", None),
                status: 400,
                message: "displayName: must be 1-64 characters without control characters (got 0 characters)",
            },
            LimitCase {
                what: "display name over 64 characters",
                path: "/console/apps".into(),
                form: new_app("com.new.tv", &name65, None),
                status: 400,
                message: "displayName: must be 1-64 characters without control characters (got 65 characters)",
            },
            LimitCase {
                what: "icon one byte over",
                path: "/console/apps".into(),
                form: new_app(
                    "com.new.tv",
                    "App",
                    Some(("big.png", "image/png", &big_png)),
                ),
                status: 400,
                message: "icon: must be at most 65536 bytes (got 65537 bytes)",
            },
            LimitCase {
                what: "icon far over (the form's limit)",
                path: "/console/apps".into(),
                form: new_app(
                    "com.new.tv",
                    "App",
                    Some(("huge.png", "image/png", &huge_png)),
                ),
                status: 413,
                message: "icon: must be at most 65536 bytes (the form was over 73728 bytes)",
            },
            LimitCase {
                what: "icon of another type",
                path: "/console/apps".into(),
                form: new_app(
                    "com.new.tv",
                    "App",
                    Some(("a.jpg", "image/jpeg", b"\xff\xd8\xff")),
                ),
                status: 400,
                message: "icon: must be image/png or image/svg+xml",
            },
            LimitCase {
                what: "icon that is not what its type says",
                path: "/console/apps".into(),
                form: new_app("com.new.tv", "App", Some(("a.png", "image/png", b"<svg/>"))),
                status: 400,
                message: "icon: must be a PNG image (image/png) (got no PNG signature)",
            },
            LimitCase {
                what: "edit: display name over 64",
                path: format!("/console/apps/{app}"),
                form: edit(&name65, None),
                status: 400,
                message: "displayName: must be 1-64 characters",
            },
            LimitCase {
                what: "edit: control character",
                path: format!("/console/apps/{app}"),
                form: edit("TV\u{1b}", None),
                status: 400,
                message: "displayName: must be 1-64 characters without control characters (got control character U+001B at character 2)",
            },
            LimitCase {
                what: "edit: icon and remove together",
                path: format!("/console/apps/{app}"),
                form: Form::multipart(
                    &[("displayName", "TV"), ("removeIcon", "on")],
                    Some(("a.png", "image/png", PNG)),
                ),
                status: 400,
                message: "removeIcon: must not be checked together with a new icon",
            },
            LimitCase {
                what: "edit: SVG without an svg element",
                path: format!("/console/apps/{app}"),
                form: edit("TV", Some(("a.svg", "image/svg+xml", b"<html/>"))),
                status: 400,
                message: "icon: must be an SVG image",
            },
            LimitCase {
                what: "edit: icon over the form's limit",
                path: format!("/console/apps/{app}"),
                form: edit("TV", Some(("huge.png", "image/png", &huge_png))),
                status: 413,
                message: "icon: must be at most 65536 bytes",
            },
            LimitCase {
                what: "SSI ID name over 64",
                path: "/console/idps".into(),
                form: Form::url(&[("identityProviderName", &idp65), ("app", &app)]),
                status: 400,
                message: "identityProviderName: must be 1-64 characters of [A-Za-z0-9._-]",
            },
            LimitCase {
                what: "SSI ID name with a space",
                path: "/console/idps".into(),
                form: Form::url(&[("identityProviderName", "my idp")]),
                status: 400,
                message: "identityProviderName: must be 1-64 characters of [A-Za-z0-9._-]",
            },
            LimitCase {
                what: "SSI ID name taken",
                path: "/console/idps".into(),
                form: Form::url(&[("identityProviderName", &owner.idp_name), ("app", &app)]),
                status: 409,
                message: "is already taken",
            },
            LimitCase {
                what: "binding to a malformed name",
                path: format!("/console/apps/{app}/idp"),
                form: Form::url(&[("identityProviderName", "")]),
                status: 400,
                message: "identityProviderName: must be 1-64 characters",
            },
            LimitCase {
                what: "binding to an unknown SSI ID",
                path: format!("/console/apps/{app}/idp"),
                form: Form::url(&[("identityProviderName", "nobody-has-this")]),
                status: 404,
                message: "No such app or SSI ID in your developer account",
            },
            LimitCase {
                what: "label over 64",
                path: "/console/api-keys".into(),
                form: Form::url(&[("label", &label65)]),
                status: 400,
                message: "label: must be 1-64 characters without control characters (got 65 characters)",
            },
            LimitCase {
                what: "empty label",
                path: "/console/api-keys".into(),
                form: Form::url(&[("label", "")]),
                status: 400,
                message: "label: must be 1-64 characters",
            },
            LimitCase {
                what: "retiring an unknown key",
                path: format!("/console/apps/{app}/keys/nokey/retire"),
                form: Form::url(&[]),
                status: 404,
                message: "No such app key",
            },
        ];
        let before = snapshot(&pool).await;
        for case in &cases {
            let page = owner.console.submit(&case.path, &case.form).await;
            assert_refused(&page, case.status, case.what);
            assert!(
                page.body.contains(case.message),
                "{}: expected {:?} in {}",
                case.what,
                case.message,
                page.body
            );
            assert_eq!(
                snapshot(&pool).await,
                before,
                "{}: wrote something",
                case.what
            );
        }

        // Limits of counts: 10 current keys per app, the last current key,
        // an already retired key, 20 active API keys.
        let path = format!("/console/apps/{app}/keys");
        while owner.console.kids(&app).await.len() < 10 {
            let page = owner.console.submit(&path, &Form::url(&[])).await;
            assert_eq!(page.status, 303);
        }
        let before = snapshot(&pool).await;
        let page = owner.console.submit(&path, &Form::url(&[])).await;
        assert_refused(&page, 409, "11th key");
        assert!(
            page.body.contains("an app has at most 10 current keys"),
            "{}",
            page.body
        );
        assert_eq!(snapshot(&pool).await, before);
        let kids = owner.console.kids(&app).await;
        for kid in &kids[1..] {
            let page = owner
                .console
                .submit(&format!("{path}/{kid}/retire"), &Form::url(&[]))
                .await;
            assert_eq!(page.status, 303, "{}", page.body);
        }
        let before = snapshot(&pool).await;
        for (kid, message) in [
            (&kids[0], "cannot retire the last current key of an app"),
            (&kids[1], "the app key is already retired"),
        ] {
            let page = owner
                .console
                .submit(&format!("{path}/{kid}/retire"), &Form::url(&[]))
                .await;
            assert_refused(&page, 409, message);
            assert!(page.body.contains(message), "{}", page.body);
        }
        assert_eq!(snapshot(&pool).await, before);
        for i in 1..20 {
            owner.console.create_api_key(&format!("key {i}")).await;
        }
        let before = snapshot(&pool).await;
        let page = owner
            .console
            .submit(
                "/console/api-keys",
                &Form::url(&[("label", "one too many")]),
            )
            .await;
        assert_refused(&page, 409, "21st API key");
        assert!(
            page.body.contains("at most 20 active API keys"),
            "{}",
            page.body
        );
        assert_eq!(snapshot(&pool).await, before);

        // Exactly at the limits is accepted: a 64-character name, a
        // 65536-byte icon.
        let exact_png = [PNG, &vec![0u8; 65_536 - PNG.len()]].concat();
        let page = owner
            .console
            .submit(
                "/console/apps",
                &new_app(
                    "com.exact.tv",
                    &"n".repeat(64),
                    Some(("e.png", "image/png", &exact_png)),
                ),
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);

        // A month that is not one names the format.
        let page = owner.console.get("/console/reports?month=2026-13").await;
        assert_refused(&page, 400, "month 13");
        assert!(
            page.body.contains("month: expected YYYY-MM"),
            "{}",
            page.body
        );
        let page = owner
            .console
            .get("/console/reports.csv?month=11-2026")
            .await;
        assert_refused(&page, 400, "CSV month");
        assert!(
            page.body.contains("month: expected YYYY-MM"),
            "{}",
            page.body
        );
    }
);

server_test!(
    console_link_from_the_account_pages,
    |server: TestServer| async move {
        let mut browser = signed_up(&server, "someone@example.com").await;
        for path in ["/account", "/account/devices", "/account/settings"] {
            let page = browser.get(path).await;
            assert!(
                page.body
                    .contains("<a href=\"/console\">Developer console</a>"),
                "{path}"
            );
        }
        let console = browser.get("/console").await;
        assert!(
            console
                .body
                .contains("<a href=\"/console\" aria-current=\"page\">Developer console</a>")
        );
        let js = browser.get("/static/console.js").await;
        assert_eq!(js.status, 200);
        assert!(
            js.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        let css = browser.get("/static/console.css").await;
        assert_eq!(css.status, 200);
    }
);
