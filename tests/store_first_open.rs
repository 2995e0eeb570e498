//! The process's first stores, opened by several threads at once: SQLite
//! marks itself initialized before SQLCipher's own initialization has run,
//! and a `PRAGMA key` in that window failed with a bare SQLITE_ERROR (about
//! twice in a thousand processes of this test before `store::sqlcipher`).
//! This binary holds this one test so that its opens are the process's first.

mod common;

use common::TestDb;

#[test]
fn stores_opened_together_as_the_process_starts_all_open() {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let db = TestDb::new();
                barrier.wait();
                wardbook::store::Store::open(&db.path(), &db.key, &db.quarantine())
                    .map(drop)
                    .map_err(|e| format!("{e:?}"))
            })
        })
        .collect();
    let failures: Vec<String> = threads.into_iter().filter_map(|t| t.join().expect("opening thread").err()).collect();
    assert!(failures.is_empty(), "{} of 8 first opens failed: {failures:?}", failures.len());
}
