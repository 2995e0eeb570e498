//! Schema migrations: numbered SQL files in `migrations/local/`, embedded in
//! the binary, applied by refinery and recorded with their checksums in
//! `refinery_schema_history`.
//!
//! Each migration runs in its own transaction *together with* its history
//! row: refinery's ungrouped mode commits the two separately (a crash
//! between them would re-run a migration), so we run it grouped, one target
//! version at a time. An edited shipped migration (checksum differs) and a
//! database that has migrations this build does not know are refused.

use refinery::error::Kind;
use refinery::{Migration, Runner, Target};
use rusqlite::Connection;

use super::StoreError;

mod embedded {
    refinery::embed_migrations!("migrations/local");
}

/// The migrations shipped in this build, in order.
pub fn shipped() -> Vec<Migration> {
    let mut all = embedded::migrations::runner().get_migrations().clone();
    all.sort();
    all
}

/// The newest schema version this build knows.
pub fn latest_version(migrations: &[Migration]) -> i64 {
    migrations.iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
}

/// Brings the database to the newest of `migrations`; returns the versions
/// applied now.
pub fn run(conn: &mut Connection, migrations: &[Migration]) -> Result<Vec<i64>, StoreError> {
    let app_version = latest_version(migrations);
    let mut applied_now = Vec::new();
    let mut sorted = migrations.to_vec();
    sorted.sort();
    for migration in &sorted {
        let version = migration.version();
        let report = Runner::new(migrations)
            .set_grouped(true)
            .set_target(Target::Version(version))
            .set_abort_divergent(true)
            .set_abort_missing(true)
            .run(conn)
            .map_err(|e| map_error(&e, app_version, i64::from(version)))?;
        applied_now.extend(report.applied_migrations().iter().map(|m| i64::from(m.version())));
    }
    Ok(applied_now)
}

/// The versions recorded in the database, oldest first.
pub fn applied_versions(conn: &mut Connection) -> Result<Vec<i64>, StoreError> {
    let runner = Runner::new(&[]);
    let applied = runner.get_applied_migrations(conn).map_err(|e| map_error(&e, 0, 0))?;
    Ok(applied.iter().map(|m| i64::from(m.version())).collect())
}

fn map_error(err: &refinery::Error, app_version: i64, attempted: i64) -> StoreError {
    match err.kind() {
        Kind::DivergentVersion(applied, _) => {
            StoreError::MigrationEdited { version: i64::from(applied.version()), name: applied.name().to_owned() }
        }
        Kind::MissingVersion(missing) if i64::from(missing.version()) > app_version => {
            StoreError::DatabaseNewer { database_version: i64::from(missing.version()), app_version }
        }
        Kind::MissingVersion(missing) => {
            StoreError::MigrationEdited { version: i64::from(missing.version()), name: missing.name().to_owned() }
        }
        _ => {
            tracing::error!(step = attempted, error = %err, "schema migration failed");
            StoreError::MigrationFailed { version: attempted }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Connection {
        crate::store::sqlcipher::open_in_memory().expect("in-memory database")
    }

    fn migration(name: &str, sql: &str) -> Migration {
        Migration::unapplied(name, sql).expect("valid migration name")
    }

    #[test]
    fn shipped_migrations_apply_cleanly_and_are_idempotent() {
        let mut conn = memory();
        let all = shipped();
        assert!(!all.is_empty());
        let applied = run(&mut conn, &all).expect("first run");
        assert_eq!(applied.len(), all.len());
        assert!(run(&mut conn, &all).expect("second run").is_empty());
        assert_eq!(applied_versions(&mut conn).expect("versions"), applied);
    }

    #[test]
    fn each_migration_commits_with_its_history_row() {
        let mut conn = memory();
        let good = migration("V1__one", "CREATE TABLE one (x INTEGER);");
        let bad = migration("V2__two", "CREATE TABLE two (x INTEGER); SELECT no_such_function();");
        let err = run(&mut conn, &[good.clone(), bad]).expect_err("V2 fails");
        assert!(matches!(err, StoreError::MigrationFailed { version: 2 }), "{err:?}");
        assert_eq!(applied_versions(&mut conn).expect("versions"), vec![1]);
        let two_exists: bool =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'two'", [], |r| r.get(0)).expect("query");
        assert!(!two_exists, "the failed step was rolled back");
    }

    #[test]
    fn an_edited_shipped_migration_is_refused() {
        let mut conn = memory();
        run(&mut conn, &[migration("V1__one", "CREATE TABLE one (x INTEGER);")]).expect("apply");
        let edited = migration("V1__one", "CREATE TABLE one (x INTEGER, y TEXT);");
        let err = run(&mut conn, &[edited]).expect_err("edited");
        assert!(matches!(err, StoreError::MigrationEdited { version: 1, .. }), "{err:?}");
        assert!(err.to_string().contains("differs"), "{err}");
    }

    #[test]
    fn a_database_from_a_newer_app_is_refused() {
        let mut conn = memory();
        let v1 = migration("V1__one", "CREATE TABLE one (x INTEGER);");
        let v2 = migration("V2__two", "CREATE TABLE two (x INTEGER);");
        run(&mut conn, &[v1.clone(), v2]).expect("newer app");
        let err = run(&mut conn, &[v1]).expect_err("older app");
        assert!(matches!(err, StoreError::DatabaseNewer { database_version: 2, app_version: 1 }), "{err:?}");
        assert!(err.to_string().contains("newer version of Wardbook"), "{err}");
        assert!(!err.to_string().contains("CREATE"), "no SQL in messages: {err}");
    }

    #[test]
    fn v8_keeps_the_verifiers_as_passwords_and_takes_workstation_pins() {
        let mut conn = memory();
        let all = shipped();
        let before_v8: Vec<Migration> = all.iter().filter(|m| m.version() < 8).cloned().collect();
        run(&mut conn, &before_v8).expect("up to V7");
        conn.execute(
            "INSERT INTO offline_verifiers (username_key, user_id, display_name, phc, online_login_at, allowed_until,
                 failed_attempts, max_failed_attempts)
             VALUES ('nurse', 'u1', 'Nurse', '$argon2id$v=19$x', 't', 't', 2, 5)",
            [],
        )
        .expect("a password verifier of before");
        run(&mut conn, &all).expect("V8");
        let row: (String, Option<String>, i64) = conn
            .query_row("SELECT kind, provider, failed_attempts FROM offline_verifiers", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("the row");
        assert_eq!(row, ("password".to_owned(), None, 2), "kept as it was, a password's");
        assert!(conn.execute("UPDATE offline_verifiers SET kind = 'token'", []).is_err(), "a password or a PIN only");
        conn.execute("UPDATE offline_verifiers SET kind = 'pin', provider = 'hospital-sso'", []).expect("a PIN");
    }

    #[test]
    fn v7_keeps_waiting_edits_in_their_order_and_takes_the_medication_records() {
        let mut conn = memory();
        let all = shipped();
        let before_v7: Vec<Migration> = all.iter().filter(|m| m.version() < 7).cloned().collect();
        run(&mut conn, &before_v7).expect("up to V6");
        let insert = |conn: &Connection, id: &str, entity: &str| {
            conn.execute(
                "INSERT INTO outbox (mutation_id, created_at, entity, entity_id, patient_id, operation, author,
                     authored_at, payload_json, entry_id)
                 VALUES (?1, '2026-01-01T00:00:00.000000Z', ?2, 'e', 'p', 'create', 'a',
                     '2026-01-01T00:00:00.000000Z', '{}', NULL)",
                [id, entity],
            )
        };
        for id in ["b", "a", "c"] {
            insert(&conn, id, "observation").expect("an edit waiting");
        }
        assert!(insert(&conn, "m", "medication_administration").is_err(), "V6 knows no administrations");
        run(&mut conn, &all).expect("V7");
        let order: Vec<String> = conn
            .prepare("SELECT mutation_id FROM outbox ORDER BY created_at, rowid")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(order, ["b", "a", "c"], "the same entries, pushed in the same order");
        insert(&conn, "m", "medication_administration").expect("an administration");
        insert(&conn, "r", "dose_review").expect("a review");
        assert!(insert(&conn, "x", "medication_request").is_err(), "workstations never write orders");
    }
}
