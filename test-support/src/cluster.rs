//! [`PgCluster`]: one private postmaster in a temporary directory, copied from
//! the template data directory (`template.rs`), listening on a free loopback
//! port with trust authentication, stopped and deleted when dropped. Also the
//! settings that set one cluster apart from the template, how a start is
//! noticed (and a port lost to another process retried), replicas, and
//! clusters with `ssl = on` for tests of TLS clients.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;

use crate::dirs::{give_to, new_private_dir};
use crate::install::{Install, SUPERUSER, ServerUser, run, server_command};
use crate::psql::{percent_encode, quote_ident, quote_literal, run_psql, unique_name};
use crate::sweeping::{stop_by_pid_file, sweep_abandoned_clusters};
use crate::template::template_for;
use crate::wait::{POLL_INTERVAL, TIMEOUT, wait_until};

/// The only address the clusters listen on: tests never expose a trust-auth
/// server beyond the loopback interface.
const HOST: &str = "127.0.0.1";

/// How many free ports a start tries: another process may take the port
/// between our probe releasing it and the postmaster binding it.
const PORT_ATTEMPTS: u32 = 8;

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

/// What [`PgCluster::start_durable`] writes into the instance conf (included
/// last, so it overrides [`CLUSTER_CONF`]): the durability of production.
const DURABLE_CONF: &str = "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n";

/// What [`PgCluster::start_with_ssl`] adds to `postgresql.conf`: TLS with the
/// certificate and key it writes into the data directory (paths relative to it).
const SSL_CONF: &str = "
# wardbook-test-support: TLS with the test's own certificate.
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
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
    /// Started by [`PgCluster::start_durable`]: fsync and synchronous commit on.
    durable: bool,
}

impl PgCluster {
    /// Starts a fresh cluster: a copy of the `initdb` template (trust auth,
    /// superuser `postgres`, UTF8, C locale) in a new temporary directory,
    /// listening on 127.0.0.1 on a free port, with its Unix socket in that
    /// directory, tuned for tests (`fsync=off` and friends) and configured so
    /// that [`PgCluster::start_replica`] works. Returns once the server accepts
    /// connections (polled, with a 30 s deadline).
    pub fn start() -> Result<PgCluster> {
        PgCluster::start_inner(None, false)
    }

    /// Starts a fresh cluster as [`PgCluster::start`] does, but as durable as
    /// production: `fsync = on`, `synchronous_commit = on` and
    /// `full_page_writes = on` (in its instance settings, which override the
    /// tests' speed settings). For benchmarks whose numbers must be honest
    /// about the cost of a commit; tests keep the fast cluster.
    pub fn start_durable() -> Result<PgCluster> {
        PgCluster::start_inner(None, true)
    }

    /// Starts a fresh cluster as [`PgCluster::start`] does, with `ssl = on`
    /// and the server certificate chain `cert_pem` and its private key
    /// `key_pem` (both PEM, e.g. from rcgen), written into the data directory
    /// as `server.crt` and `server.key` (mode 0600, owned by the user the
    /// server runs as, as PostgreSQL requires of a key). Clients may connect
    /// with TLS or without (`pg_hba.conf` trusts both), so a test can compare
    /// the two. The certificate should name `127.0.0.1`, where the cluster
    /// listens, for clients that verify the host name.
    pub fn start_with_ssl(cert_pem: &str, key_pem: &str) -> Result<PgCluster> {
        PgCluster::start_inner(Some((cert_pem, key_pem)), false)
    }

    fn start_inner(ssl: Option<(&str, &str)>, durable: bool) -> Result<PgCluster> {
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
            durable,
        };
        // As root, `cp -a` keeps the template's owner (the `postgres` user).
        run(
            Command::new("cp").arg("-a").arg(template.join("data")).arg(&cluster.data),
            "copying the template cluster",
        )?;
        append(&cluster.data.join("postgresql.conf"), CLUSTER_CONF)?;
        fs::write(cluster.data.join("pg_hba.conf"), PG_HBA).context("writing pg_hba.conf")?;
        if let Some((cert_pem, key_pem)) = ssl {
            write_private(&cluster.data.join("server.crt"), cert_pem, cluster.run_as)?;
            write_private(&cluster.data.join("server.key"), key_pem, cluster.run_as)?;
            append(&cluster.data.join("postgresql.conf"), SSL_CONF)?;
        }
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

    /// A program of this cluster's PostgreSQL installation (`pg_dump`, ...).
    pub fn program(&self, name: &str) -> std::path::PathBuf {
        self.install.bindir.join(name)
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
            durable: self.durable,
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
        let mut conf = format!(
            "# wardbook-test-support: this cluster's own settings.\nport = {}\nunix_socket_directories = {}\ncluster_name = {}\n",
            self.port,
            quote_literal(&socket_dir),
            quote_literal(&self.name)
        );
        if self.durable {
            conf.push_str(DURABLE_CONF);
        }
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

/// A port that was free a moment ago on 127.0.0.1. The listener is closed
/// before returning, so another process may take it: callers retry.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("looking for a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

/// Writes `text` to a new file of mode 0600 (never readable by others, not
/// even for a moment), owned by the server's user: PostgreSQL refuses a key
/// file that others can read or that another user owns.
fn write_private(path: &Path, text: &str, run_as: Option<ServerUser>) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    give_to(path, run_as)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("a\nb\nc", 2), "b\nc");
        assert_eq!(last_lines("a", 2), "a");
    }
}
