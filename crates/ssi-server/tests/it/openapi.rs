//! The OpenAPI document against the code: the checked-in file is the
//! generated one; every route registered in the code is documented and every
//! documented operation is a route of the running server; the statuses,
//! media types, security and error bodies it answers to an anonymous request
//! are documented; the served document is the generated one; and an
//! independent validator (Python `openapi-spec-validator`) accepts it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use ssi_server::http::openapi::{document, document_json};

use crate::harness::TestServer;

const UPDATE_VAR: &str = "SSI_UPDATE_OPENAPI";
const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];
/// Tags whose errors are the `Error` body and whose secured operations
/// answer 401 without credentials.
const JSON_API_TAGS: [&str; 4] = ["device", "developer", "partner", "public"];

fn checked_in_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/ssi-server.json")
}

fn document_value() -> Value {
    serde_json::to_value(document()).expect("the document is JSON")
}

#[test]
fn checked_in_document_is_the_generated_one() {
    let generated = document_json();
    let path = checked_in_path();
    if std::env::var_os(UPDATE_VAR).is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/ssi-server.json is not the document the code generates (an \
         annotation, a route or a wire type changed). Regenerate it with \
         `{UPDATE_VAR}=1 cargo test -p ssi-server openapi` and review the diff."
    );
}

/// (method, path template) of every operation in the document.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// The text of a call's arguments: `s` starts right after the opening
/// parenthesis; the result ends before the matching closing one.
fn call_arguments(s: &str) -> &str {
    let mut depth = 1usize;
    let mut in_string = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return &s[..i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced call: {}", &s[..s.len().min(80)]);
}

/// The methods of a method router expression such as `get(a).post(b)`:
/// each method name that stands alone (not part of a longer identifier)
/// and is called.
fn router_methods(expression: &str) -> Vec<String> {
    let bytes = expression.as_bytes();
    let mut found = Vec::new();
    for method in METHODS {
        let call = format!("{method}(");
        let mut from = 0;
        while let Some(at) = expression[from..].find(&call) {
            let start = from + at;
            let is_alone = start == 0 || {
                let before = bytes[start - 1];
                !(before.is_ascii_alphanumeric() || before == b'_')
            };
            if is_alone {
                found.push(method.to_owned());
            }
            from = start + call.len();
        }
    }
    found
}

/// (method, path) of every `.route("…", get(…).post(…))` in `src/http/*.rs`,
/// comments left out.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut out = BTreeSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("src/http")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for file in files {
        let source: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        // Routes registered another way would escape this scan.
        for other in [".nest(", ".nest_service(", ".route_service("] {
            assert!(
                !source.contains(other),
                "{}: `{other}` registers routes this test does not see; extend it",
                file.display()
            );
        }
        let mut rest = source.as_str();
        while let Some(at) = rest.find(".route(") {
            let after = &rest[at + ".route(".len()..];
            let arguments = call_arguments(after);
            let open = arguments.find('"').expect("a path literal");
            let close = open + 1 + arguments[open + 1..].find('"').expect("a path literal");
            let path = &arguments[open + 1..close];
            let methods = router_methods(&arguments[close + 1..]);
            assert!(
                !methods.is_empty(),
                "{}: no method in .route({arguments})",
                file.display()
            );
            for method in methods {
                out.insert((method, path.to_owned()));
            }
            rest = &after[arguments.len()..];
        }
    }
    out
}

#[test]
fn every_route_in_the_code_is_documented_and_nothing_else() {
    let in_code = routes_in_source();
    let documented = documented_operations(&document_value());
    assert!(
        in_code.len() > 40,
        "the scan found too few routes: {in_code:?}"
    );
    let undocumented: Vec<_> = in_code.difference(&documented).collect();
    let not_routed: Vec<_> = documented.difference(&in_code).collect();
    assert!(
        undocumented.is_empty() && not_routed.is_empty(),
        "routes without a documented operation (add `#[utoipa::path]` to the handler \
         and list it in its area's `ApiDoc`): {undocumented:?}; documented operations \
         without a route: {not_routed:?}"
    );
}

/// A `$ref` inside the document, resolved (`#/components/...`).
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            resolve(doc, doc.pointer(pointer).expect("the reference resolves"))
        }
        None => value,
    }
}

/// The documented response for a status: exact, or its class (`4XX`).
fn documented_response<'a>(doc: &'a Value, operation: &'a Value, status: u16) -> Option<&'a Value> {
    let responses = &operation["responses"];
    responses
        .get(status.to_string())
        .or_else(|| responses.get(format!("{}XX", status / 100)))
        .map(|response| resolve(doc, response))
}

fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Checks a JSON body against an object schema: every required property is
/// there, and nothing that is not a documented property.
fn check_body(doc: &Value, schema: &Value, body: &Value, what: &str) {
    let schema = resolve(doc, schema);
    let properties: BTreeSet<&str> = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: the schema has properties"))
        .keys()
        .map(String::as_str)
        .collect();
    let keys: BTreeSet<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: the body is an object: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.is_subset(&properties),
        "{what}: undocumented members {:?} in {body}",
        keys.difference(&properties).collect::<Vec<_>>()
    );
    for required in schema["required"].as_array().into_iter().flatten() {
        let required = required.as_str().unwrap();
        assert!(
            keys.contains(required),
            "{what}: `{required}` missing in {body}"
        );
    }
}

server_test!(
    documented_operations_are_served_as_documented,
    |server: TestServer| async move {
        let doc = document_value();
        for (method, path) in documented_operations(&doc) {
            let operation = &doc["paths"][&path][&method];
            let what = format!("{} {path}", method.to_uppercase());
            // Path parameters filled with a value that names nothing.
            let url: String = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        "dummy"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let response = server
                .http
                .request(
                    reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    server.url(&url),
                )
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let text = response.text().await.unwrap();
            let json: Option<Value> = serde_json::from_str(&text).ok();
            // 1. A route of the server, not the router's fallbacks.
            assert_ne!(
                status, 405,
                "{what}: documented, but no route takes this method"
            );
            let error = json.as_ref().and_then(|j| j["error"].as_str());
            assert!(
                !(status == 404 && error == Some("NO_ROUTE")),
                "{what}: documented, but no route has this path"
            );
            // 2. Anonymous callers of a secured JSON operation are refused.
            let tags: Vec<&str> = operation["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let is_json_api = tags.iter().any(|t| JSON_API_TAGS.contains(t));
            let is_secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            if is_json_api && is_secured {
                assert_eq!(
                    status, 401,
                    "{what}: secured, but answered {status}: {text}"
                );
                assert_eq!(error, Some("UNAUTHORIZED"), "{what}: {text}");
            }
            // 3. The status, its media type and its body are documented.
            let documented = documented_response(&doc, operation, status)
                .unwrap_or_else(|| panic!("{what}: answered {status}, not documented: {text}"));
            if let Some(content) = documented.get("content").and_then(Value::as_object) {
                let media_types: Vec<&str> = content.keys().map(|k| media_type(k)).collect();
                assert!(
                    media_types.contains(&media_type(&content_type)),
                    "{what}: {status} as {content_type}, documented as {media_types:?}"
                );
                if let (Some(schema), Some(body)) = (
                    content
                        .get("application/json")
                        .and_then(|c| c.get("schema"))
                        .filter(|s| s.get("$ref").is_some()),
                    json.as_ref().filter(|_| status >= 400),
                ) {
                    check_body(&doc, schema, body, &what);
                }
            }
        }
    }
);

server_test!(
    served_document_is_the_generated_one,
    |server: TestServer| async move {
        let response = server
            .http
            .get(server.url("/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let text = response.text().await.unwrap();
        assert_eq!(text, document_json());
        let served: Value = serde_json::from_str(&text).expect("the served document parses");
        assert_eq!(served, document_value());
        assert_eq!(served["openapi"], "3.1.0");
    }
);

#[test]
fn an_independent_validator_accepts_the_document() {
    let has_validator = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        has_validator,
        "this test needs Python's openapi-spec-validator: \
         python3 -m pip install openapi-spec-validator (scripts/test.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ssi-server.json");
    std::fs::write(&file, document_json()).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
