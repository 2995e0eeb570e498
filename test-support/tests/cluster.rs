//! The throwaway clusters against real PostgreSQL: start, databases, stop and
//! start again, streaming replication, and cleanup on drop.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Result, ensure};
use wardbook_test_support::{PgCluster, TestDatabase, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn starts_and_answers_queries() -> Result<()> {
    let cluster = PgCluster::start()?;
    assert_eq!(cluster.psql("postgres", "select 1")?, "1");
    assert_eq!(cluster.host(), "127.0.0.1");
    assert_eq!(cluster.url("postgres"), format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port()));
    // The settings tests rely on.
    let settings = "select current_setting('max_connections'), current_setting('wal_level'), \
                    current_setting('fsync'), current_user, pg_encoding_to_char(encoding) \
                    from pg_database where datname = current_database()";
    assert_eq!(cluster.psql("postgres", settings)?, "200|replica|off|postgres|UTF8");
    // Several statements, and errors carry psql's message.
    assert_eq!(
        cluster.psql("postgres", "create temp table t (x int); insert into t values (1), (2); select sum(x) from t")?,
        "3"
    );
    let error = cluster.psql("postgres", "select * from no_such_table").expect_err("a failing query");
    assert!(format!("{error:#}").contains("no_such_table"), "{error:#}");
    Ok(())
}

#[test]
fn create_database_gives_fresh_names() -> Result<()> {
    let cluster = PgCluster::start()?;
    let first = cluster.create_database()?;
    let second = cluster.create_database()?;
    assert_ne!(first, second);
    assert_eq!(cluster.psql(&first, "select current_database()")?, first);
    assert_eq!(cluster.psql(&second, "select current_database()")?, second);
    Ok(())
}

#[test]
fn stop_and_start_again_keep_the_data() -> Result<()> {
    let cluster = PgCluster::start()?;
    let database = cluster.create_database()?;
    cluster.psql(&database, "create table kept (note text); insert into kept values ('before the restart')")?;
    let port = cluster.port();

    cluster.stop()?;
    assert!(cluster.psql(&database, "select 1").is_err(), "the stopped server still answers");
    assert!(!accepts_connections(port), "port {port} still accepts connections");

    cluster.start_again()?;
    assert_eq!(cluster.port(), port);
    assert_eq!(cluster.psql(&database, "select note from kept")?, "before the restart");
    Ok(())
}

#[test]
fn replica_streams_from_the_primary() -> Result<()> {
    let primary = PgCluster::start()?;
    let database = primary.create_database()?;
    primary.psql(&database, "create table notes (id int primary key, body text)")?;

    let replica = primary.start_replica()?;
    assert_ne!(replica.port(), primary.port());
    let streaming = format!(
        "select count(*) from pg_stat_replication where application_name = '{}' and state = 'streaming'",
        replica.cluster_name()
    );
    assert_eq!(primary.psql("postgres", &streaming)?, "1");
    assert_eq!(replica.psql(&database, "select pg_is_in_recovery()")?, "t");
    assert!(replica.psql(&database, "insert into notes values (0, 'no')").is_err(), "a hot standby is read-only");

    primary.psql(&database, "insert into notes values (1, 'written on the primary')")?;
    let body = wait_until(DEADLINE, "the row to reach the replica", || {
        let body = replica.psql(&database, "select body from notes where id = 1")?;
        Ok((!body.is_empty()).then_some(body))
    })?;
    assert_eq!(body, "written on the primary");
    Ok(())
}

#[test]
fn drop_stops_the_server_and_deletes_its_directory() -> Result<()> {
    let cluster = PgCluster::start()?;
    let port = cluster.port();
    let dir = cluster.dir().to_path_buf();
    let pid_file = fs::read_to_string(cluster.data_dir().join("postmaster.pid"))?;
    let pid: u32 = pid_file.lines().next().unwrap_or_default().trim().parse()?;
    ensure!(accepts_connections(port), "port {port} does not accept connections while the cluster runs");
    ensure!(dir.is_dir());

    drop(cluster);

    assert!(!accepts_connections(port), "port {port} still accepts connections after drop");
    assert!(!dir.exists(), "{} survived the drop", dir.display());
    assert!(!process_alive(pid), "postmaster {pid} survived the drop");
    Ok(())
}

#[test]
fn drop_after_a_panic_stops_the_server() -> Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let cluster = PgCluster::start().expect("cluster");
        tx.send((cluster.port(), cluster.dir().to_path_buf())).expect("send");
        panic!("a failing test");
    })
    .join();
    assert!(result.is_err());
    let (port, dir) = rx.recv()?;
    assert!(!accepts_connections(port), "port {port} still accepts connections after the panic");
    assert!(!dir.exists(), "{} survived the panic", dir.display());
    Ok(())
}

#[test]
fn test_database_on_its_own_cluster() -> Result<()> {
    if std::env::var_os("DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        return Ok(()); // Covered by `test_database_on_an_existing_server` then.
    }
    let db = TestDatabase::new()?;
    let cluster = db.cluster().expect("without DATABASE_URL the database has its own cluster");
    assert_eq!(db.url(), cluster.url(db.name()));
    assert_eq!(db.psql("select current_database()")?, db.name());
    Ok(())
}

#[test]
fn test_database_on_an_existing_server() -> Result<()> {
    let server = PgCluster::start()?;
    let db = TestDatabase::on_server(&server.url("postgres"))?;
    assert!(db.cluster().is_none());
    assert_eq!(db.url(), server.url(db.name()));
    db.psql("create table t (x int); insert into t values (42)")?;
    assert_eq!(server.psql(db.name(), "select x from t")?, "42");
    let name = db.name().to_owned();

    drop(db);

    let exists = format!("select count(*) from pg_database where datname = '{name}'");
    assert_eq!(server.psql("postgres", &exists)?, "0", "the test database was not dropped");
    Ok(())
}

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_secs(2)).is_ok()
}

/// Alive and not a zombie (an orphaned postmaster is reaped by whoever is
/// PID 1, which in some containers never reaps).
fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()).is_some_and(|state| state != 'Z'),
        Err(_) => false,
    }
}
