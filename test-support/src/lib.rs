//! Throwaway, real PostgreSQL clusters for Wardbook's tests.
//!
//! The central service's behaviour depends on what PostgreSQL really does
//! (transactions, constraints, replication, a server that goes away and comes
//! back), so its tests run against real servers rather than mocks. This crate
//! starts them: each [`PgCluster`] is a private postmaster in its own temporary
//! directory, listening on 127.0.0.1 on a free port with trust authentication,
//! stopped and deleted when dropped (also when the test panics). A
//! [`TestDatabase`] is one fresh database for one test, either on such a
//! cluster or, when `DATABASE_URL` names an existing server (CI service
//! containers, developers with a server of their own), on that server.
//!
//! Everything is synchronous (`std::process` driving `initdb`, `pg_ctl`,
//! `pg_isready`, `psql` and `pg_basebackup`) so that it works from plain
//! `#[test]` functions and from inside or outside any async runtime.
//!
//! The PostgreSQL binaries are found through, in order: the environment
//! variable `WARDBOOK_PG_BINDIR`, `pg_config --bindir` (when that directory
//! holds `initdb`), and the highest `/usr/lib/postgresql/*/bin` (Debian and
//! Ubuntu packages). PostgreSQL refuses to run as root, so when the tests run
//! as root (CI containers) the server programs run as the `postgres` user
//! through `runuser`, and the directories they write are handed to that user.
//!
//! Starting a cluster copies a template data directory instead of running
//! `initdb` every time (about twice as fast, more where the disk is slow):
//! the template is made once per PostgreSQL major version and user, as
//! `wardbook-pg-template-<major>-<uid>` in the temporary directory, and
//! shared by every test process. Every other directory made here records the
//! process it belongs to, so that when a test process is killed outright the
//! next one stops its servers and deletes its directories.
//!
//! The [`fault_proxy`] module holds a [`FaultProxy`]: a TCP proxy on loopback
//! that cuts connections at chosen or seeded random points (mid-request,
//! mid-response, after the request but before the response), for tests that
//! prove a client and server lose nothing when the network fails.

use std::collections::HashMap;
use std::env;
use std::fmt;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;

pub mod fault_proxy;
pub use fault_proxy::{Cut, FaultPlan, FaultProxy};

/// The only address the clusters listen on: tests never expose a trust-auth
/// server beyond the loopback interface.
const HOST: &str = "127.0.0.1";

/// The superuser role created by `initdb`, and the OS account the server runs
/// as when the tests run as root.
const SUPERUSER: &str = "postgres";

/// How long starting, stopping or a replica catching up may take before it is
/// reported as a failure rather than waited for forever.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The pause between two polls of a condition (readiness, replication). Short,
/// because every poll is cheap and tests should not wait longer than needed.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How many free ports a start tries: another process may take the port
/// between our probe releasing it and the postmaster binding it.
const PORT_ATTEMPTS: u32 = 8;

/// The `initdb` options of every template. They are recorded in the template
/// so that a template made with other options is made again, not reused.
const INITDB_ARGS: [&str; 4] = ["--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C"];

/// The file in a template directory that records [`INITDB_ARGS`]; written last,
/// so its presence also says the template is complete.
const TEMPLATE_MARKER: &str = "wardbook-initdb-args";

/// The per-cluster settings file, included from `postgresql.conf`. It is the
/// only thing that differs between clusters (and between a primary and the
/// replica whose `postgresql.conf` `pg_basebackup` copied from it).
const INSTANCE_CONF: &str = "wardbook_instance.conf";

/// Settings appended to every cluster's `postgresql.conf`: speed over
/// durability (a test cluster never outlives a crash), enough connections for
/// pooled servers under test, and what streaming replication needs.
const CLUSTER_CONF: &str = "
# wardbook-test-support: a throwaway test cluster, tuned for speed, not durability.
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 5
hot_standby = on
include = 'wardbook_instance.conf'
";

/// Trust for local and loopback connections, replication included: the
/// clusters are throwaway and listen on 127.0.0.1 only.
const PG_HBA: &str = "# wardbook-test-support: trust, for throwaway test clusters on 127.0.0.1 only.
local   all           all                  trust
local   replication   all                  trust
host    all           all    127.0.0.1/32  trust
host    replication   all    127.0.0.1/32  trust
";

/// A throwaway PostgreSQL cluster (one postmaster and its data directory) for
/// tests, started by [`PgCluster::start`].
///
/// Dropping it stops the postmaster (immediate shutdown, then `kill -KILL` if
/// that did not work) and deletes its directory, so no server outlives its
/// test, including a test that panicked. A test process killed outright (by
/// SIGKILL, a CI timeout or `panic = "abort"`) runs no destructors: the next
/// process to start a cluster stops and deletes what it left behind.
#[derive(Debug)]
pub struct PgCluster {
    install: Install,
    /// The OS account the server programs run as when we are root.
    run_as: Option<ServerUser>,
    /// The temporary directory: `data/`, `postgres.log` and the Unix socket.
    /// An `Option` only so that `Drop` can close it and report failures.
    dir: Option<TempDir>,
    /// The path of `dir`, kept apart so that it is available after `dir` is closed.
    root: PathBuf,
    /// `root/data`.
    data: PathBuf,
    /// The running postmaster (as root, the `runuser` around it), started by
    /// us rather than by `pg_ctl start`: so that it is reaped when it exits
    /// (no zombies under a container's PID 1), an early exit is noticed at
    /// once, and Ctrl-C on the test run reaches it (same process group) and
    /// shuts it down instead of leaking it.
    postmaster: Mutex<Option<Child>>,
    port: u16,
    /// `cluster_name`, which also names a replica in the primary's
    /// `pg_stat_replication`.
    name: String,
}

impl PgCluster {
    /// Starts a fresh cluster: a copy of the `initdb` template (trust auth,
    /// superuser `postgres`, UTF8, C locale) in a new temporary directory,
    /// listening on 127.0.0.1 on a free port, with its Unix socket in that
    /// directory, tuned for tests (`fsync=off` and friends) and configured so
    /// that [`PgCluster::start_replica`] works. Returns once the server accepts
    /// connections (polled, with a 30 s deadline).
    pub fn start() -> Result<PgCluster> {
        let install = Install::find()?;
        let run_as = ServerUser::for_current_process()?;
        sweep_abandoned_clusters(&install, run_as);
        let template = template_for(&install, run_as)?;
        let dir = new_private_dir("wardbook-pg-", run_as)?;
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        let mut cluster = PgCluster {
            install,
            run_as,
            dir: Some(dir),
            root,
            data,
            port: 0,
            name: unique_name("wardbook"),
            postmaster: Mutex::new(None),
        };
        // As root, `cp -a` keeps the template's owner (the `postgres` user).
        run(
            Command::new("cp").arg("-a").arg(template.join("data")).arg(&cluster.data),
            "copying the template cluster",
        )?;
        append(&cluster.data.join("postgresql.conf"), CLUSTER_CONF)?;
        fs::write(cluster.data.join("pg_hba.conf"), PG_HBA).context("writing pg_hba.conf")?;
        cluster.start_on_a_free_port()?;
        Ok(cluster)
    }

    /// The TCP port the server listens on (on 127.0.0.1); it stays the same
    /// across [`PgCluster::stop`] and [`PgCluster::start_again`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on: always `127.0.0.1`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The superuser URL of `database` on this cluster,
    /// `postgres://postgres@127.0.0.1:PORT/DATABASE` (no password: trust).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@{HOST}:{}/{}", self.port, percent_encode(database))
    }

    /// Runs `sql` (one or more statements, or psql meta-commands) with `psql`
    /// as the superuser against `database`, stopping at the first error.
    /// Returns what psql printed in unaligned, tuples-only mode (`-At`: one
    /// row a line, columns separated by `|`), without the final newline; an
    /// error carries psql's stderr.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        run_psql(&self.install.bindir.join("psql"), &self.url(database), database, sql)
    }

    /// Creates a database with a fresh, unique name and returns the name, so
    /// that tests sharing one cluster do not see each other's data.
    pub fn create_database(&self) -> Result<String> {
        let name = unique_name("wardbook_test");
        self.psql("postgres", &format!("CREATE DATABASE {}", quote_ident(&name)))?;
        Ok(name)
    }

    /// Stops the server (fast shutdown) and keeps its data, for tests of a
    /// database that goes away; [`PgCluster::start_again`] brings it back.
    pub fn stop(&self) -> Result<()> {
        let timeout = TIMEOUT.as_secs().to_string();
        let mut pg_ctl = self.server_command("pg_ctl");
        pg_ctl.arg("stop").arg("-D").arg(&self.data).args(["-m", "fast", "-w", "-t", &timeout]);
        run(&mut pg_ctl, "pg_ctl stop")?;
        if let Some(mut child) = self.child().take() {
            wait_until(TIMEOUT, "the stopped postmaster to exit", || Ok(child.try_wait()?))?;
        }
        Ok(())
    }

    /// Starts the server again after [`PgCluster::stop`], on the same port
    /// (so URLs taken before stay valid), and waits until it accepts
    /// connections. Fails if something else took the port meanwhile.
    pub fn start_again(&self) -> Result<()> {
        self.launch().map_err(|failure| failure.error)
    }

    /// Starts a streaming replica of this cluster: `pg_basebackup -R -X
    /// stream` into a new temporary directory, started as a hot standby on
    /// another free port. Returns once the replica accepts (read-only)
    /// connections and the primary's `pg_stat_replication` shows it streaming
    /// (under the replica's [`PgCluster::cluster_name`]). The replica is a
    /// cluster of its own: dropping it stops it and deletes its directory.
    pub fn start_replica(&self) -> Result<PgCluster> {
        let dir = new_private_dir("wardbook-pg-replica-", self.run_as)?;
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        let mut replica = PgCluster {
            install: self.install.clone(),
            run_as: self.run_as,
            dir: Some(dir),
            root,
            data,
            port: 0,
            name: unique_name("wardbook_replica"),
            postmaster: Mutex::new(None),
        };
        let port = self.port.to_string();
        let mut basebackup = replica.server_command("pg_basebackup");
        basebackup
            .arg("-D")
            .arg(&replica.data)
            .args(["-R", "-X", "stream", "--checkpoint=fast", "--no-sync"])
            .args(["-h", HOST, "-p", &port, "-U", SUPERUSER]);
        run(&mut basebackup, "pg_basebackup")?;
        replica.start_on_a_free_port()?;
        let query = format!(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = {} AND state = 'streaming'",
            quote_literal(&replica.name)
        );
        wait_until(TIMEOUT, "the replica to show in the primary's pg_stat_replication", || {
            Ok((self.psql("postgres", &query)? == "1").then_some(()))
        })?;
        Ok(replica)
    }

    /// The server's `cluster_name`, unique per cluster. A replica's walreceiver
    /// uses it as its `application_name`, which is how tests find a given
    /// replica in the primary's `pg_stat_replication`.
    pub fn cluster_name(&self) -> &str {
        &self.name
    }

    /// The temporary directory holding the data directory, the server log
    /// (`postgres.log`, worth reading when a test fails) and the Unix socket.
    /// It is deleted when the cluster is dropped.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The data directory (`PGDATA`), inside [`PgCluster::dir`].
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// A command running one of the server programs, as the `postgres` user
    /// when we are root, from a directory that user can read.
    fn server_command(&self, program: &str) -> Command {
        server_command(&self.install, self.run_as, program, &self.root)
    }

    /// First start: picks a free port, retrying with another when the
    /// postmaster lost the port to a concurrent process.
    fn start_on_a_free_port(&mut self) -> Result<()> {
        let mut attempt = 1;
        loop {
            self.port = free_port()?;
            self.write_instance_conf()?;
            match self.launch() {
                Ok(()) => return Ok(()),
                Err(failure) if failure.port_in_use && attempt < PORT_ATTEMPTS => attempt += 1,
                Err(failure) => return Err(failure.error),
            }
        }
    }

    fn write_instance_conf(&self) -> Result<()> {
        // A Unix socket path is limited to 107 bytes; with a long TMPDIR the
        // cluster goes without a socket (everything here connects over TCP).
        let socket = self.root.join(format!(".s.PGSQL.{}", self.port));
        let socket_dir =
            if socket.as_os_str().len() < 100 { self.root.to_string_lossy().into_owned() } else { String::new() };
        let conf = format!(
            "# wardbook-test-support: this cluster's own settings.\nport = {}\nunix_socket_directories = {}\ncluster_name = {}\n",
            self.port,
            quote_literal(&socket_dir),
            quote_literal(&self.name)
        );
        let path = self.data.join(INSTANCE_CONF);
        fs::write(&path, conf).with_context(|| format!("writing {}", path.display()))?;
        give_to(&path, self.run_as)
    }

    /// Starts the postmaster on the configured port, then polls until it
    /// accepts connections (`pg_isready`, and its `postmaster.pid` saying it
    /// is ready on our port, so that another server that took the port is not
    /// mistaken for ours), all within [`TIMEOUT`].
    fn launch(&self) -> Result<(), LaunchFailure> {
        let mut postmaster = self.child();
        if let Some(child) = postmaster.as_mut()
            && child.try_wait().map_err(|e| LaunchFailure::other(e.into()))?.is_none()
        {
            return Err(LaunchFailure::other(anyhow!("the server on port {} is already running", self.port)));
        }
        let log = self.log_path();
        let log_start = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let spawned = (|| -> Result<Child> {
            let log_file = fs::OpenOptions::new().create(true).append(true).open(&log)?;
            let mut command = self.server_command("postgres");
            command.arg("-D").arg(&self.data).stdout(log_file.try_clone()?).stderr(log_file);
            Ok(command.spawn()?)
        })()
        .with_context(|| format!("could not start {}", self.install.bindir.join("postgres").display()))
        .map_err(LaunchFailure::other)?;
        let child = postmaster.insert(spawned);

        let pg_isready = self.install.bindir.join("pg_isready");
        let port = self.port.to_string();
        let outcome = wait_until(TIMEOUT, &format!("PostgreSQL to accept connections on port {port}"), || {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(Err(status)));
            }
            let status = Command::new(&pg_isready)
                .args(["-q", "-h", HOST, "-p", &port, "-U", SUPERUSER, "-d", "postgres", "-t", "2"])
                .stdin(Stdio::null())
                .status()
                .context("could not run pg_isready")?;
            match status.code() {
                Some(0) if self.pid_file_says_ready() => Ok(Some(Ok(()))),
                // 1: still starting up (or recovering); 2: no answer yet.
                Some(0..=2) => Ok(None),
                _ => bail!("pg_isready failed ({status})"),
            }
        });
        let server_log = || last_lines(&read_from(&log, log_start), 30);
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(status)) => {
                let server_log = server_log();
                let port_in_use = ["Address already in use", "could not bind", "could not create any TCP/IP sockets"]
                    .iter()
                    .any(|needle| server_log.contains(needle));
                let error = anyhow!(
                    "PostgreSQL exited while starting on port {} ({status}); server log ({}):\n{server_log}",
                    self.port,
                    log.display()
                );
                Err(LaunchFailure { port_in_use, error })
            }
            // Still starting (or stuck): `Drop` stops it.
            Err(error) => {
                Err(LaunchFailure::other(error.context(format!("server log ({}):\n{}", log.display(), server_log()))))
            }
        }
    }

    /// Whether `postmaster.pid` says the server is up on our port, accepting
    /// connections ("ready", or "standby" for a hot standby).
    fn pid_file_says_ready(&self) -> bool {
        let Ok(text) = fs::read_to_string(self.data.join("postmaster.pid")) else { return false };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        lines.get(3) == Some(&self.port.to_string().as_str()) && matches!(lines.get(7), Some(&("ready" | "standby")))
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        self.postmaster.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the postmaster however it can, ignoring errors: used by `Drop`,
    /// where there is nobody to report to and the server must not survive.
    fn shut_down_hard(&self) {
        let mut child = self.child().take();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            // Repeated: a postmaster that has only just been spawned may not
            // have written its pid file yet.
            stop_by_pid_file(&self.install, self.run_as, &self.root, &self.data);
            let Some(running) = child.as_mut() else { return };
            if !matches!(running.try_wait(), Ok(None)) {
                return;
            }
            if Instant::now() >= deadline {
                let _ = running.kill();
                let _ = running.wait();
                return;
            }
            thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.shut_down_hard();
        if let Some(dir) = self.dir.take()
            && let Err(error) = dir.close()
        {
            eprintln!("wardbook-test-support: could not delete {}: {error}", self.root.display());
        }
    }
}

/// Why a start failed, and whether retrying on another port may help.
struct LaunchFailure {
    port_in_use: bool,
    error: anyhow::Error,
}

impl LaunchFailure {
    fn other(error: anyhow::Error) -> LaunchFailure {
        LaunchFailure { port_in_use: false, error }
    }
}

/// A fresh database for one test.
///
/// Without `DATABASE_URL` it lives on a [`PgCluster`] started for it (and
/// gone with it). With `DATABASE_URL` set to a superuser URL of an existing
/// server, it is created on that server and dropped (`WITH (FORCE)`) when the
/// `TestDatabase` is dropped, so CI can point every test at one service
/// container without tests seeing each other's data.
pub struct TestDatabase {
    name: String,
    url: String,
    server: Server,
}

enum Server {
    Cluster(PgCluster),
    External { admin_url: String, psql: PathBuf },
}

impl TestDatabase {
    /// A fresh database: on the server named by `DATABASE_URL` when that is
    /// set (and not empty), otherwise on a new [`PgCluster`].
    pub fn new() -> Result<TestDatabase> {
        match env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => TestDatabase::on_server(url.trim()),
            Ok(_) | Err(env::VarError::NotPresent) => {
                let cluster = PgCluster::start()?;
                let name = cluster.create_database()?;
                let url = cluster.url(&name);
                Ok(TestDatabase { name, url, server: Server::Cluster(cluster) })
            }
            Err(env::VarError::NotUnicode(_)) => bail!("DATABASE_URL is not valid Unicode"),
        }
    }

    /// A fresh database on the existing server whose superuser URL is
    /// `admin_url` (`postgres://` or `postgresql://`): what [`TestDatabase::new`]
    /// does with `DATABASE_URL`, callable directly, for example to share a
    /// server between a test's databases without touching the environment.
    pub fn on_server(admin_url: &str) -> Result<TestDatabase> {
        let name = unique_name("wardbook_test");
        let url = url_with_database(admin_url, &name)?;
        let psql = Install::psql();
        run_psql(&psql, admin_url, "the DATABASE_URL server", &format!("CREATE DATABASE {}", quote_ident(&name)))?;
        Ok(TestDatabase { name, url, server: Server::External { admin_url: admin_url.to_owned(), psql } })
    }

    /// The superuser URL of this database (with `DATABASE_URL`, that URL with
    /// its database name replaced).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name, unique per test.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` with `psql` as the superuser against this database; see
    /// [`PgCluster::psql`] for the output format.
    pub fn psql(&self, sql: &str) -> Result<String> {
        match &self.server {
            Server::Cluster(cluster) => cluster.psql(&self.name, sql),
            Server::External { psql, .. } => run_psql(psql, &self.url, &self.name, sql),
        }
    }

    /// The cluster the database lives on, for tests that stop the server or
    /// start a replica; `None` with `DATABASE_URL`, where the server is not
    /// ours to control.
    pub fn cluster(&self) -> Option<&PgCluster> {
        match &self.server {
            Server::Cluster(cluster) => Some(cluster),
            Server::External { .. } => None,
        }
    }
}

impl fmt::Debug for TestDatabase {
    // By hand: the `DATABASE_URL` may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("cluster", &self.cluster())
            .finish_non_exhaustive()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Server::External { admin_url, psql } = &self.server {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&self.name));
            if let Err(error) = run_psql(psql, admin_url, "the DATABASE_URL server", &sql) {
                eprintln!("wardbook-test-support: could not drop test database {}: {error:#}", self.name);
            }
        }
        // A cluster of our own goes with its directory when `server` drops.
    }
}

/// Polls `attempt` every few milliseconds until it returns `Some`, an error,
/// or `timeout` passes (then fails naming `what`). Tests wait for conditions
/// this way instead of sleeping a fixed time, which is both slower and flaky.
pub fn wait_until<T>(timeout: Duration, what: &str, mut attempt: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = attempt()? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Where the PostgreSQL programs are, and which version they are.
#[derive(Debug, Clone)]
struct Install {
    bindir: PathBuf,
    /// The major version, for example `15`: templates are per major version
    /// (a data directory is compatible across minor releases, so a minor
    /// upgrade does not leave the old template behind).
    version: String,
}

impl Install {
    fn find() -> Result<Install> {
        let bindir = find_bindir("initdb")?.ok_or_else(|| {
            anyhow!("PostgreSQL binaries not found: install the postgresql package or set WARDBOOK_PG_BINDIR")
        })?;
        let output = run(Command::new(bindir.join("initdb")).arg("--version"), "initdb --version")?;
        let text = String::from_utf8_lossy(&output.stdout);
        // "initdb (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"; "9.6.24" is 9.6.
        let full = text.split_whitespace().skip_while(|word| *word != "(PostgreSQL)").nth(1).unwrap_or("unknown");
        let major = match full.split_once('.') {
            Some(("9", rest)) => format!("9.{}", rest.split('.').next().unwrap_or_default()),
            Some((major, _)) => major.to_owned(),
            None => full.to_owned(),
        };
        let version: String = major.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
        Ok(Install { bindir, version })
    }

    /// The psql to use, also where only the client is installed (a
    /// `DATABASE_URL` server needs no server binaries): the one next to the
    /// server programs if any, else the first on `PATH`.
    fn psql() -> PathBuf {
        match find_bindir("psql") {
            Ok(Some(bindir)) => bindir.join("psql"),
            _ => PathBuf::from("psql"),
        }
    }
}

/// The first PostgreSQL `bin` directory holding `program`: `WARDBOOK_PG_BINDIR`
/// (an error if it lacks `program`), `pg_config --bindir`, then the highest
/// `/usr/lib/postgresql/<major>/bin`.
fn find_bindir(program: &str) -> Result<Option<PathBuf>> {
    if let Some(dir) = env::var_os("WARDBOOK_PG_BINDIR").filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dir.join(program).is_file() {
            bail!("WARDBOOK_PG_BINDIR is {}, which has no {program}", dir.display());
        }
        return Ok(Some(dir));
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").stdin(Stdio::null()).stderr(Stdio::null()).output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join(program).is_file() {
            return Ok(Some(dir));
        }
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name.split('.').map(str::parse).collect::<Result<Vec<u32>, _>>().ok()?;
            let dir = entry.path().join("bin");
            dir.join(program).is_file().then_some((version, dir))
        })
        .collect();
    versions.sort();
    Ok(versions.pop().map(|(_, dir)| dir))
}

/// The OS account the server programs run as when this process is root.
#[derive(Debug, Clone, Copy)]
struct ServerUser {
    uid: u32,
    gid: u32,
}

impl ServerUser {
    /// `None` when we are not root (the programs run as we are), otherwise the
    /// `postgres` account, which must exist.
    fn for_current_process() -> Result<Option<ServerUser>> {
        static USER: OnceLock<Result<Option<ServerUser>, String>> = OnceLock::new();
        USER.get_or_init(|| {
            if current_uid()? != 0 {
                return Ok(None);
            }
            let id = |flag: &str| -> Result<u32, String> {
                let output = Command::new("id").args([flag, SUPERUSER]).stdin(Stdio::null()).output();
                match output {
                    Ok(output) if output.status.success() => {
                        String::from_utf8_lossy(&output.stdout).trim().parse().map_err(|e| format!("id {flag}: {e}"))
                    }
                    _ => Err(format!(
                        "running as root, but there is no `{SUPERUSER}` user to run PostgreSQL as \
                         (PostgreSQL refuses to run as root): install the postgresql package or create the user"
                    )),
                }
            };
            Ok(Some(ServerUser { uid: id("-u")?, gid: id("-g")? }))
        })
        .clone()
        .map_err(|message| anyhow!(message))
    }
}

fn current_uid() -> Result<u32, String> {
    static UID: OnceLock<Result<u32, String>> = OnceLock::new();
    UID.get_or_init(|| {
        let output = Command::new("id").arg("-u").stdin(Stdio::null()).output().map_err(|e| format!("id -u: {e}"))?;
        String::from_utf8_lossy(&output.stdout).trim().parse().map_err(|e| format!("id -u: {e}"))
    })
    .clone()
}

/// A command running the server program `program`, via `runuser` as the
/// `postgres` user when we are root, in `cwd` (which that user can read:
/// PostgreSQL programs complain about an inaccessible working directory).
/// `LC_ALL=C` keeps their messages in English, which start failures are
/// matched against.
fn server_command(install: &Install, run_as: Option<ServerUser>, program: &str, cwd: &Path) -> Command {
    let executable = install.bindir.join(program);
    let mut command = match run_as {
        Some(_) => {
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser"].into_iter().find(|p| Path::new(p).exists());
            let mut command = Command::new(runuser.unwrap_or("runuser"));
            command.args(["-u", SUPERUSER, "--"]).arg(executable);
            command
        }
        None => Command::new(executable),
    };
    command.current_dir(cwd).env("LC_ALL", "C").stdin(Stdio::null());
    command
}

/// The template data directory for this PostgreSQL version and user, made
/// with `initdb` if no valid one exists. Made in a temporary name and renamed
/// into place, so concurrent test processes never see a partial one; the
/// process-wide lock makes the threads of one process wait for the first.
fn template_for(install: &Install, run_as: Option<ServerUser>) -> Result<PathBuf> {
    static TEMPLATES: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let mut templates = TEMPLATES.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = templates.get(&install.bindir)
        && path.join("data").join("PG_VERSION").is_file()
    {
        return Ok(path.clone());
    }
    let uid = current_uid().map_err(|message| anyhow!(message))?;
    let name = format!("wardbook-pg-template-{}-{uid}", install.version);
    let path = base_dir(run_as)?.join(&name);
    let owner = run_as.map_or(uid, |user| user.uid);
    if !template_is_valid(&path, owner)? {
        make_template(install, run_as, &path, &name)?;
        if !template_is_valid(&path, owner)? {
            bail!("the new template cluster {} is incomplete", path.display());
        }
    }
    templates.insert(install.bindir.clone(), path.clone());
    Ok(path)
}

/// Whether `path` is a complete template made by us with today's options.
/// Stale or partial ones (our own) are deleted; anything owned by someone else
/// or writable by others is refused, as the server would run its settings.
fn template_is_valid(path: &Path, owner: u32) -> Result<bool> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error).with_context(|| format!("inspecting {}", path.display())),
    };
    if !metadata.is_dir() || metadata.uid() != owner || metadata.mode() & 0o022 != 0 {
        bail!(
            "{} is not a template cluster made by this user (uid {owner}, not writable by others): refusing to use it; delete it",
            path.display()
        );
    }
    let marker = fs::read_to_string(path.join(TEMPLATE_MARKER)).unwrap_or_default();
    let data = path.join("data");
    if marker == INITDB_ARGS.join(" ") && data.join("PG_VERSION").is_file() && data.join("global/pg_control").is_file()
    {
        return Ok(true);
    }
    fs::remove_dir_all(path).with_context(|| format!("deleting the stale template cluster {}", path.display()))?;
    Ok(false)
}

fn make_template(install: &Install, run_as: Option<ServerUser>, path: &Path, name: &str) -> Result<()> {
    let base = path.parent().unwrap_or(Path::new("/"));
    let building = new_private_dir(&format!("{name}.tmp-"), run_as)?;
    let data = building.path().join("data");
    let mut initdb = server_command(install, run_as, "initdb", building.path());
    initdb.arg("-D").arg(&data).args(INITDB_ARGS);
    run(&mut initdb, "initdb")?;
    let marker = building.path().join(TEMPLATE_MARKER);
    fs::write(&marker, INITDB_ARGS.join(" ")).context("writing the template marker")?;
    give_to(&marker, run_as)?;
    // The template outlives this process: it must not look abandoned.
    let _ = fs::remove_file(building.path().join(OWNER_FILE));
    let built = building.keep();
    match fs::rename(&built, path) {
        Ok(()) => Ok(()),
        Err(error) => {
            let _ = fs::remove_dir_all(&built);
            // Another process won the race: its template is as good as ours.
            if path.join(TEMPLATE_MARKER).is_file() {
                return Ok(());
            }
            Err(error).with_context(|| format!("moving the template cluster into {}", base.display()))
        }
    }
}

/// Where clusters and templates go: the temporary directory, or `/tmp` when
/// running as root and the `postgres` user could not reach the former.
fn base_dir(run_as: Option<ServerUser>) -> Result<PathBuf> {
    let temp = env::temp_dir();
    if run_as.is_none() || others_can_traverse(&temp) {
        return Ok(temp);
    }
    let tmp = PathBuf::from("/tmp");
    if others_can_traverse(&tmp) {
        return Ok(tmp);
    }
    bail!("neither {} nor /tmp can be entered by the `{SUPERUSER}` user, which runs PostgreSQL", temp.display())
}

fn others_can_traverse(path: &Path) -> bool {
    path.ancestors().all(|dir| fs::metadata(dir).is_ok_and(|m| m.is_dir() && m.mode() & 0o001 != 0))
}

/// A new directory (mode 0700) under [`base_dir`], owned by the server's user.
fn new_private_dir(prefix: &str, run_as: Option<ServerUser>) -> Result<TempDir> {
    let base = base_dir(run_as)?;
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .with_context(|| format!("creating a temporary directory in {}", base.display()))?;
    give_to(dir.path(), run_as)?;
    if let Some(owner) = owner_tag() {
        fs::write(dir.path().join(OWNER_FILE), owner).context("recording the directory's owner")?;
    }
    Ok(dir)
}

/// The file in each directory made here that names the process it belongs to
/// (see [`owner_tag`]), so that a later process can tell it was abandoned.
const OWNER_FILE: &str = "wardbook-owner";

/// This process, as "<pid namespace> <pid> <start time>": the start time
/// tells a reused pid apart, the namespace a process in another container
/// sharing the directory. `None` without `/proc` (not Linux), where nothing
/// is recorded and nothing swept.
fn owner_tag() -> Option<String> {
    let namespace = fs::read_link("/proc/self/ns/pid").ok()?;
    let start = process_start_time("self")?;
    Some(format!("{} {} {start}", namespace.display(), std::process::id()))
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks
/// since boot.
fn process_start_time(pid: &str) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces and ")".
    let (_, fields) = stat.rsplit_once(") ")?;
    fields.split_whitespace().nth(19).map(str::to_owned)
}

/// Once per process: stops the servers and deletes the directories of test
/// processes that died without running their destructors (killed by a
/// timeout or SIGKILL; Ctrl-C stops the servers, which share the test's
/// process group, but leaves their directories of some 40 MB each).
fn sweep_abandoned_clusters(install: &Install, run_as: Option<ServerUser>) {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| {
        let (Some(ours), Ok(base)) = (owner_tag(), base_dir(run_as)) else { return };
        let our_namespace = ours.split(' ').next().unwrap_or_default();
        for entry in fs::read_dir(&base).into_iter().flatten().flatten() {
            let dir = entry.path();
            if !entry.file_name().to_string_lossy().starts_with("wardbook-pg-") {
                continue;
            }
            let Ok(owner) = fs::read_to_string(dir.join(OWNER_FILE)) else { continue };
            let [namespace, pid, start] = owner.split(' ').collect::<Vec<_>>()[..] else { continue };
            if namespace != our_namespace || process_start_time(pid).as_deref() == Some(start) {
                continue; // Another container's, or its process is alive.
            }
            let data = dir.join("data");
            stop_by_pid_file(install, run_as, &dir, &data);
            let _ = fs::remove_dir_all(&dir);
        }
    });
}

/// Hands `path` to the server's user when we are root (no-op otherwise).
fn give_to(path: &Path, run_as: Option<ServerUser>) -> Result<()> {
    if let Some(user) = run_as {
        std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("handing {} to the {SUPERUSER} user", path.display()))?;
    }
    Ok(())
}

/// A port that was free a moment ago on 127.0.0.1. The listener is closed
/// before returning, so another process may take it: callers retry.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("looking for a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

/// Runs `command`, failing with `"<what> failed: <stderr>"` on a non-zero exit.
fn run(command: &mut Command, what: &str) -> Result<Output> {
    let program = command.get_program().to_owned();
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: could not run {}", Path::new(&program).display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let detail = if stderr.trim().is_empty() { stdout.trim() } else { stderr.trim() };
        bail!("{what} failed: {detail} ({})", output.status);
    }
    Ok(output)
}

/// Runs `sql` with psql against `url` (see [`PgCluster::psql`]); `label` names
/// the database in errors (the URL itself may hold a password).
fn run_psql(psql: &Path, url: &str, label: &str, sql: &str) -> Result<String> {
    let mut child = Command::new(psql)
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-", "-d"])
        .arg(url)
        .env("PGCLIENTENCODING", "UTF8")
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not run {} (is the PostgreSQL client installed?)", psql.display()))?;
    let mut stdin = child.stdin.take().context("psql's stdin")?;
    // Written from another thread: psql's output may fill its pipe before it
    // has read all of a long script. A write error means psql stopped early,
    // and its stderr says why.
    let output = thread::scope(|scope| {
        scope.spawn(move || {
            let _ = stdin.write_all(sql.as_bytes());
        });
        child.wait_with_output()
    })
    .context("waiting for psql")?;
    if !output.status.success() {
        bail!("psql failed on {label}: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let stdout = String::from_utf8(output.stdout).context("psql printed something that is not UTF-8")?;
    Ok(stdout.trim_end_matches('\n').to_owned())
}

/// `url` with its database (the path) replaced by `database`, keeping the
/// user, password, host, port and query parameters.
fn url_with_database(url: &str, database: &str) -> Result<String> {
    let scheme_len = ["postgres://", "postgresql://"]
        .iter()
        .find(|scheme| url.starts_with(*scheme))
        .map(|scheme| scheme.len())
        .ok_or_else(|| anyhow!("DATABASE_URL must be a postgres:// or postgresql:// URL"))?;
    let rest = &url[scheme_len..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let after_authority = &rest[authority_len..];
    let suffix_start = after_authority.find(['?', '#']).unwrap_or(after_authority.len());
    Ok(format!(
        "{}{}/{}{}",
        &url[..scheme_len],
        &rest[..authority_len],
        percent_encode(database),
        &after_authority[suffix_start..]
    ))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(byte).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A name unique within this machine (process id, counter) and, through the
/// clock, very likely across machines sharing one `DATABASE_URL` server.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clock = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{count}_{clock:08x}", std::process::id())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn append(path: &Path, text: &str) -> Result<()> {
    let mut file =
        fs::OpenOptions::new().append(true).open(path).with_context(|| format!("opening {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// The server log from byte `start` on (what one start attempt wrote).
fn read_from(path: &Path, start: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut file) = fs::File::open(path)
        && file.seek(SeekFrom::Start(start)).is_ok()
    {
        let _ = file.read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// `pg_ctl stop -m immediate`, then `kill -KILL` if the pid file is still
/// there and names the postmaster of `data` (never a process that reused the
/// pid). Errors are ignored: this is the last resort of `Drop` and the sweep.
fn stop_by_pid_file(install: &Install, run_as: Option<ServerUser>, cwd: &Path, data: &Path) {
    let pid_file = data.join("postmaster.pid");
    if !pid_file.exists() {
        return;
    }
    let timeout = TIMEOUT.as_secs().to_string();
    let _ = server_command(install, run_as, "pg_ctl", cwd)
        .arg("stop")
        .arg("-D")
        .arg(data)
        .args(["-m", "immediate", "-w", "-t", &timeout])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Some(pid) = postmaster_pid(&pid_file)
        && is_postmaster_of(pid, data)
    {
        let _ =
            Command::new("kill").args(["-KILL", &pid.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

fn postmaster_pid(pid_file: &Path) -> Option<u32> {
    fs::read_to_string(pid_file).ok()?.lines().next()?.trim().parse().ok()
}

/// Whether process `pid` is a postmaster serving `data` (its command line
/// names the data directory), so that a stale pid file never kills a stranger.
fn is_postmaster_of(pid: u32, data: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let data = data.as_os_str().as_encoded_bytes();
    cmdline.split(|byte| *byte == 0).any(|arg| arg == data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_database_replaces_only_the_path() -> Result<()> {
        assert_eq!(url_with_database("postgres://u:p@h:5432/old", "new")?, "postgres://u:p@h:5432/new");
        assert_eq!(url_with_database("postgres://u@h", "new")?, "postgres://u@h/new");
        assert_eq!(
            url_with_database("postgresql://h/old?sslmode=disable", "new")?,
            "postgresql://h/new?sslmode=disable"
        );
        assert_eq!(url_with_database("postgres://h?sslmode=disable", "new")?, "postgres://h/new?sslmode=disable");
        assert_eq!(
            url_with_database("postgresql://%2Fvar%2Frun/old?host=/tmp", "a b")?,
            "postgresql://%2Fvar%2Frun/a%20b?host=/tmp"
        );
        assert!(url_with_database("host=localhost dbname=x", "new").is_err());
        Ok(())
    }

    #[test]
    fn unique_names_differ_and_are_valid_identifiers() {
        let (a, b) = (unique_name("wardbook_test"), unique_name("wardbook_test"));
        assert_ne!(a, b);
        assert!(a.len() < 63, "{a} is longer than PostgreSQL's identifier limit");
        assert!(a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
    }
}
