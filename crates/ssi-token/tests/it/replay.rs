//! The replay store of verification step 10 (ENGINEERING.md 3.4):
//! `InMemoryReplayStore` semantics through one `check` helper over scripted
//! sequences, and N threads racing on the same `jti`.

use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};

use ssi_token::{InMemoryReplayStore, ReplayStore};

/// One call of the script: `check_and_remember(jti, keep_until, now)` and
/// the answer expected (`true` = fresh, `false` = replay).
struct Step {
    jti: &'static str,
    keep_until: i64,
    now: i64,
    fresh: bool,
}

const fn step(jti: &'static str, keep_until: i64, now: i64, fresh: bool) -> Step {
    Step {
        jti,
        keep_until,
        now,
        fresh,
    }
}

struct Case {
    name: &'static str,
    steps: Vec<Step>,
    /// `len(now)` after the script, when given.
    len_at: Option<(i64, usize)>,
}

fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let store = InMemoryReplayStore::new();
        for (index, s) in case.steps.iter().enumerate() {
            let got = store.check_and_remember(s.jti, s.keep_until, s.now);
            if got != s.fresh {
                failures.push(format!(
                    "{}: step {index} ({}, until {}, at {}): expected {}, got {got}",
                    case.name, s.jti, s.keep_until, s.now, s.fresh
                ));
            }
        }
        if let Some((now, expected)) = case.len_at {
            let got = store.len(now);
            if got != expected {
                failures.push(format!(
                    "{}: len({now}) expected {expected}, got {got}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn semantics() {
    check(&[
        Case {
            name: "fresh",
            steps: vec![step("a", 100, 0, true)],
            len_at: Some((0, 1)),
        },
        Case {
            name: "replay",
            steps: vec![step("a", 100, 0, true), step("a", 100, 0, false)],
            len_at: Some((0, 1)),
        },
        Case {
            name: "replay with another keep_until",
            steps: vec![step("a", 100, 0, true), step("a", 500, 10, false)],
            len_at: None,
        },
        Case {
            name: "distinct ids are independent",
            steps: vec![
                step("a", 100, 0, true),
                step("b", 100, 0, true),
                step("A", 100, 0, true),
                step("a ", 100, 0, true),
            ],
            len_at: Some((0, 4)),
        },
        Case {
            name: "kept until keep_until - 1",
            steps: vec![step("a", 100, 0, true), step("a", 100, 99, false)],
            len_at: Some((99, 1)),
        },
        Case {
            name: "forgotten at keep_until",
            steps: vec![step("a", 100, 0, true), step("a", 200, 100, true)],
            len_at: Some((100, 1)),
        },
        Case {
            name: "after expiry the id is remembered again, with the new deadline",
            steps: vec![
                step("a", 100, 0, true),
                step("a", 200, 150, true),
                step("a", 200, 199, false),
                step("a", 300, 200, true),
            ],
            len_at: Some((250, 1)),
        },
        Case {
            name: "purge keeps the unexpired",
            steps: vec![
                step("a", 100, 0, true),
                step("b", 200, 0, true),
                step("c", 300, 0, true),
                step("d", 400, 150, true),
                step("b", 200, 150, false),
                step("c", 300, 150, false),
                step("a", 100, 150, true),
            ],
            len_at: Some((250, 2)),
        },
        Case {
            name: "everything expires",
            steps: vec![step("a", 100, 0, true), step("b", 200, 0, true)],
            len_at: Some((200, 0)),
        },
        Case {
            name: "expiries out of insertion order are honoured",
            steps: vec![
                step("late", 300, 0, true),
                step("early", 100, 0, true),
                // `early` expired although `late`, in front, did not.
                step("early", 400, 150, true),
                step("late", 300, 150, false),
                step("early", 400, 299, false),
            ],
            len_at: None,
        },
        Case {
            name: "clock going backwards still sees the id",
            steps: vec![step("a", 100, 50, true), step("a", 100, -1000, false)],
            len_at: None,
        },
        Case {
            name: "an id recorded already expired is not remembered",
            steps: vec![step("a", 100, 100, true), step("a", 100, 100, true)],
            len_at: Some((100, 0)),
        },
        Case {
            name: "empty id",
            steps: vec![step("", 100, 0, true), step("", 100, 0, false)],
            len_at: None,
        },
    ]);
}

#[test]
fn is_empty_and_len() {
    let store = InMemoryReplayStore::new();
    assert!(store.is_empty(0));
    assert!(store.check_and_remember("a", 10, 0));
    assert!(!store.is_empty(9));
    assert!(store.is_empty(10));
    assert_eq!(store.len(10), 0);
    // Many entries purge in one pass.
    for i in 0..1000 {
        assert!(store.check_and_remember(&format!("jti-{i}"), 100 + i, 50));
    }
    assert_eq!(store.len(50), 1000);
    assert_eq!(store.len(600), 499);
    assert_eq!(store.len(1100), 0);
}

#[test]
fn concurrent_same_jti_exactly_one_wins() {
    const THREADS: usize = 16;
    for round in 0..20 {
        let store = InMemoryReplayStore::new();
        let barrier = Barrier::new(THREADS);
        let fresh = AtomicUsize::new(0);
        let jti = format!("jti-{round}");
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    barrier.wait();
                    if store.check_and_remember(&jti, 1_000, 0) {
                        fresh.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(fresh.load(Ordering::SeqCst), 1, "round {round}");
        assert_eq!(store.len(0), 1);
    }
}

#[test]
fn concurrent_distinct_jti_all_win() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 200;
    let store = InMemoryReplayStore::new();
    let fresh = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (store, fresh) = (&store, &fresh);
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    // Every id is offered twice by its own thread.
                    let jti = format!("{thread}-{i}");
                    for _ in 0..2 {
                        if store.check_and_remember(&jti, 1_000, 0) {
                            fresh.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(fresh.load(Ordering::SeqCst), THREADS * PER_THREAD);
    assert_eq!(store.len(0), THREADS * PER_THREAD);
}

#[test]
fn usable_as_a_shared_trait_object() {
    let store: std::sync::Arc<dyn ReplayStore> = std::sync::Arc::new(InMemoryReplayStore::new());
    let clone = store.clone();
    let handle = std::thread::spawn(move || clone.check_and_remember("x", 10, 0));
    assert!(handle.join().expect("thread"));
    assert!(!store.check_and_remember("x", 10, 0));
}
