//! `ssi token vectors`: writes exactly the library's generated files.

use std::fs;

use crate::{case, check, temp_dir};

#[test]
fn vectors_writes_the_generated_files_byte_for_byte() {
    let dir = temp_dir();
    let want = ssi_token::vectors::generate();
    assert!(!want.is_empty());
    for out in ["vectors", "vectors"] {
        let printed = check(dir.path(), case(&["token", "vectors", "--out", out])).json();
        let names: Vec<&str> = want.iter().map(|(name, _)| *name).collect();
        assert_eq!(printed["files"], serde_json::json!(names));
        for (name, contents) in &want {
            assert_eq!(
                &fs::read_to_string(dir.path().join(out).join(name)).unwrap(),
                contents,
                "{name}"
            );
        }
    }
    assert_eq!(
        fs::read_dir(dir.path().join("vectors")).unwrap().count(),
        want.len()
    );
}
