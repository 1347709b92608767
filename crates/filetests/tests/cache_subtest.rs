//! `test cache` against `kiln_cache::mock::MockIsa`: the mock emits a
//! relocation per call naming its callee and a srcloc range per
//! instruction, so a reload must carry the new function's names and source
//! locations to equal a fresh compile. Also the real backend's verdicts.

use kiln_cache::mock::MockIsa;
use kiln_filetests::cache::{expectation, CacheTest, Expect};
use kiln_filetests::{FileResult, Runner};
use std::path::Path;
use std::sync::Arc;

fn runner() -> Runner {
    let mut r = Runner::empty();
    r.register(Box::new(CacheTest::with_isa(Arc::new(MockIsa::new()))));
    r
}

fn corpus(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../cranelift-like-ir/cache")
        .join(name)
}

fn assert_pass(name: &str) {
    let r = runner().run_file(&corpus(name), None);
    assert_eq!(r, FileResult::Pass, "{name}");
}

#[test]
fn names_file_passes() {
    assert_pass("names.clif");
}

#[test]
fn srclocs_file_passes() {
    assert_pass("srclocs.clif");
}

#[test]
fn edits_file_passes() {
    assert_pass("edits.clif");
}

/// The canonical stencil key (`kiln_ir::key`) ignores entity numbering.
#[test]
fn renumber_file_passes() {
    assert_pass("renumber.clif");
}

const WRONG: &str = "\
test cache
function %a(i32) -> i32 {
block0(v0: i32):
    return v0
}
; cache: hit

function %b(i32) -> i32 {
block0(v0: i32):
    return v0
}
; cache: miss
";

#[test]
fn wrong_expectations_fail_with_reasons() {
    match runner().run_text(WRONG, "wrong.clif", None) {
        FileResult::Fail(msgs) => {
            assert_eq!(msgs.len(), 2, "{msgs:?}");
            assert!(msgs[0].contains("%a") && msgs[0].contains("expected cache hit, got miss"));
            assert!(msgs[1].contains("%b") && msgs[1].contains("expected cache miss, got hit"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_expectations_fail() {
    let text = WRONG.replace("; cache: miss", "; cache: maybe");
    match runner().run_text(&text, "bad.clif", None) {
        FileResult::Fail(msgs) => assert!(msgs.iter().any(|m| m.contains("cache: maybe"))),
        other => panic!("{other:?}"),
    }
    let file = kiln_reader::parse_test(WRONG, "w").unwrap();
    assert_eq!(
        expectation(&file.functions[0].comments),
        Ok(Some(Expect::Hit))
    );
    assert_eq!(
        expectation(&file.functions[1].comments),
        Ok(Some(Expect::Miss))
    );
}

#[test]
fn with_the_real_backend_the_file_passes() {
    // The real x86-64 backend lowers everything in this file: a skip
    // (Unsupported) would be a regression.
    let r = Runner::with_builtin().run_file(&corpus("names.clif"), None);
    assert_eq!(r, FileResult::Pass);
}

#[test]
fn with_the_real_backend_bad_settings_fail_and_nothing_to_check_skips() {
    let body = "function %f(i64) -> i64 {\nblock0(v0: i64):\n    return v0\n}\n";
    let r = Runner::with_builtin();
    match r.run_text(
        &format!("test cache\ntarget x86_64\n{body}"),
        "n.clif",
        None,
    ) {
        FileResult::Skip(why) => assert!(why.contains("nothing to check"), "{why}"),
        other => panic!("{other:?}"),
    }
    let checked = format!("{body}; cache: miss\n");
    assert_eq!(
        r.run_text(
            &format!("test cache\ntarget x86_64\n{checked}"),
            "c.clif",
            None
        ),
        FileResult::Pass
    );
    match r.run_text(
        &format!("test cache\nset no_such_setting\ntarget x86_64\n{checked}"),
        "b.clif",
        None,
    ) {
        FileResult::Fail(m) => assert!(m[0].contains("no_such_setting"), "{m:?}"),
        other => panic!("{other:?}"),
    }
    // aarch64 has a backend now: the cache checks run for both targets.
    assert_eq!(
        r.run_text(
            &format!("test cache\ntarget x86_64\ntarget aarch64\n{checked}"),
            "a.clif",
            None
        ),
        FileResult::Pass
    );
}
