//! [`Slapd`]: a throwaway OpenLDAP server for the tests of directory
//! sign-in, the system's `slapd` (Debian packages `slapd` and `ldap-utils`)
//! on two free loopback ports: `ldaps://` and `ldap://` (StartTLS, or clear
//! text, which only loopback allows). Its configuration (`slapd.conf`), its
//! mdb database, a test CA and the server's certificate (from rcgen) live
//! in a temporary directory, deleted with the server when the `Slapd` is
//! dropped. The synthetic people and groups it serves are in
//! [`directory`](crate::slapd::directory).
//!
//! As root (CI), slapd drops to the `openldap` user the package creates
//! (`-u`/`-g`), and `slapadd` runs as that user through `runuser`: the
//! server is never a root process while it serves. A test process killed
//! outright leaves its slapd running; the next `Slapd::start` stops it and
//! deletes its directory, as `PgCluster` does for PostgreSQL.

pub mod directory;

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use rand::distr::{Alphanumeric, SampleString};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tempfile::TempDir;

use crate::dirs::{OWNER_FILE, base_dir, new_private_dir, owner_tag, process_start_time};
use crate::install::{ServerUser, current_uid};
use crate::wait::{TIMEOUT, wait_until};
use directory::{ADMIN_DN, BASE_DN, LOCKED_FOREVER, Layout, SERVICE_DN};

/// The only address the server listens on.
const HOST: &str = "127.0.0.1";
/// The account slapd runs as when the tests run as root (made by the Debian package).
const SLAPD_USER: &str = "openldap";
const PREFIX: &str = "wardbook-slapd-";
/// Starts tried: another process may take a port between our probe and slapd's bind.
const PORT_ATTEMPTS: u32 = 8;

/// A running, throwaway OpenLDAP server with the synthetic directory of
/// [`directory`], stopped (SIGKILL: nothing in it is worth keeping) and
/// deleted when dropped.
#[derive(Debug)]
pub struct Slapd {
    child: Option<Child>,
    dir: Option<TempDir>,
    root: PathBuf,
    ldap_port: u16,
    ldaps_port: u16,
    ca_pem: String,
    service_password: String,
}

impl Slapd {
    /// Generates a CA and a certificate for `127.0.0.1` and `localhost`,
    /// writes the configuration, loads the directory with `slapadd`, starts
    /// slapd and returns once it answers on both ports (`ldapwhoami`,
    /// polled, 30 s deadline).
    pub fn start() -> Result<Slapd> {
        let slapd = program(&["/usr/sbin/slapd", "/usr/local/libexec/slapd", "/usr/libexec/slapd"], "slapd")?;
        let slapadd = slapd.with_file_name("slapadd");
        let layout = Layout::find()
            .ok_or_else(|| anyhow!("the OpenLDAP schema files were not found: install the slapd package"))?;
        let run_as = slapd_user()?;
        sweep_abandoned(run_as);
        let dir = new_private_dir(PREFIX, run_as)?;
        let root = dir.path().to_path_buf();
        let admin_password = Alphanumeric.sample_string(&mut rand::rng(), 24);
        let service_password = Alphanumeric.sample_string(&mut rand::rng(), 24);

        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(DnType::CommonName, "Wardbook test directory CA (SYNTHETIC)");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec![HOST.to_owned(), "localhost".to_owned()])?.signed_by(&key, &*ca)?;

        write_private(&root.join("ca.pem"), &ca.pem())?;
        write_private(&root.join("server.pem"), &cert.pem())?;
        write_private(&root.join("server.key"), &key.serialize_pem())?;
        write_private(&root.join("admin.password"), &admin_password)?;
        write_private(&root.join("service.password"), &service_password)?;
        write_private(&root.join("slapd.conf"), &directory::slapd_conf(&layout, &root, &admin_password))?;
        write_private(&root.join("directory.ldif"), &directory::ldif(&service_password))?;
        fs::create_dir(root.join("data")).context("creating the slapd data directory")?;
        hand_over(&root, run_as)?;

        let mut load = as_user(&slapadd, run_as);
        load.arg("-q").arg("-f").arg(root.join("slapd.conf")).arg("-l").arg(root.join("directory.ldif"));
        run(&mut load, None, "slapadd")?;

        let mut server = Slapd {
            child: None,
            dir: Some(dir),
            root,
            ldap_port: 0,
            ldaps_port: 0,
            ca_pem: ca.pem(),
            service_password,
        };
        let mut attempt = 1;
        loop {
            match server.launch(&slapd, run_as) {
                Ok(()) => return Ok(server),
                Err(Launch::PortTaken(_)) if attempt < PORT_ATTEMPTS => attempt += 1,
                Err(Launch::PortTaken(e) | Launch::Failed(e)) => return Err(e),
            }
        }
    }

    /// `ldaps://127.0.0.1:PORT`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://{HOST}:{}", self.ldaps_port)
    }

    /// `ldap://127.0.0.1:PORT`, for StartTLS (or clear text: loopback).
    pub fn ldap_url(&self) -> String {
        format!("ldap://{HOST}:{}", self.ldap_port)
    }

    /// The test CA's certificate (PEM) in a file, what `ca_file` names.
    pub fn ca_file(&self) -> PathBuf {
        self.root.join("ca.pem")
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// `dc=wardbook,dc=test`.
    pub fn base_dn(&self) -> &'static str {
        BASE_DN
    }

    /// `ou=people,dc=wardbook,dc=test`, the `user_base`.
    pub fn people_dn(&self) -> String {
        format!("ou=people,{BASE_DN}")
    }

    /// `ou=groups,dc=wardbook,dc=test`, the `group_base`.
    pub fn groups_dn(&self) -> String {
        format!("ou=groups,{BASE_DN}")
    }

    /// The service account's DN, the `bind_dn`.
    pub fn bind_dn(&self) -> &'static str {
        SERVICE_DN
    }

    /// A file holding the service account's password, the `bind_password_file`.
    pub fn bind_password_file(&self) -> PathBuf {
        self.root.join("service.password")
    }

    pub fn bind_password(&self) -> &str {
        &self.service_password
    }

    /// The DN of a person of [`directory::PEOPLE`] (or of anyone, by `uid`).
    pub fn user_dn(&self, uid: &str) -> String {
        directory::user_dn(uid)
    }

    /// The DN of a group by its `cn`.
    pub fn group_dn(&self, cn: &str) -> String {
        directory::group_dn(cn)
    }

    /// Locks an account while the server runs (`pwdAccountLockedTime`,
    /// which [`directory::ENABLED_FILTER`] checks): a person who left.
    pub fn disable_user(&self, uid: &str) -> Result<()> {
        let dn = directory::user_dn(uid);
        self.modify(&format!(
            "dn: {dn}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: {LOCKED_FOREVER}\n"
        ))
    }

    /// Unlocks an account [`Slapd::disable_user`] locked.
    pub fn enable_user(&self, uid: &str) -> Result<()> {
        let dn = directory::user_dn(uid);
        self.modify(&format!("dn: {dn}\nchangetype: modify\ndelete: pwdAccountLockedTime\n"))
    }

    /// Deletes a person's entry while the server runs.
    pub fn delete_user(&self, uid: &str) -> Result<()> {
        self.modify(&format!("dn: {}\nchangetype: delete\n", directory::user_dn(uid)))
    }

    /// Applies `ldif` (changetype records) with `ldapmodify` as the
    /// directory's superuser, over loopback: e.g. to take someone out of a
    /// group (the memberof overlay updates their `memberOf`).
    pub fn modify(&self, ldif: &str) -> Result<()> {
        let mut ldapmodify = ldap_client("ldapmodify");
        ldapmodify.args(["-x", "-H", &self.ldap_url(), "-D", ADMIN_DN, "-y"]).arg(self.root.join("admin.password"));
        run(&mut ldapmodify, Some(ldif), "ldapmodify").map(drop)
    }

    /// The temporary directory: `slapd.conf`, `slapd.log` (worth reading
    /// when a test fails), the certificates and `data/`.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Starts slapd on two free ports and waits until both answer.
    fn launch(&mut self, slapd: &Path, run_as: Option<ServerUser>) -> Result<(), Launch> {
        let (ldap_port, ldaps_port) = free_ports().map_err(Launch::Failed)?;
        (self.ldap_port, self.ldaps_port) = (ldap_port, ldaps_port);
        let log = self.root.join("slapd.log");
        let spawned = (|| -> Result<Child> {
            let log_file = fs::OpenOptions::new().create(true).write(true).truncate(true).open(&log)?;
            let mut command = Command::new(slapd);
            // `-d none`: stay in the foreground (our child, reaped, in our
            // process group) and log only what goes wrong.
            command.args(["-d", "none", "-h", &format!("{}/ {}/", self.ldap_url(), self.ldaps_url())]);
            command.arg("-f").arg(self.root.join("slapd.conf"));
            if run_as.is_some() {
                command.args(["-u", SLAPD_USER, "-g", SLAPD_USER]);
            }
            command.stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file);
            Ok(command.spawn()?)
        })()
        .with_context(|| format!("could not start {}", slapd.display()))
        .map_err(Launch::Failed)?;
        let ca_file = self.root.join("ca.pem");
        let urls = [self.ldap_url(), self.ldaps_url()];
        let child = self.child.insert(spawned);
        let ready = wait_until(TIMEOUT, &format!("slapd to answer on ports {ldap_port} and {ldaps_port}"), || {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(Err(status)));
            }
            for url in &urls {
                let mut whoami = ldap_client("ldapwhoami");
                whoami.args(["-x", "-o", "nettimeout=2", "-H", url]).env("LDAPTLS_CACERT", &ca_file);
                if !whoami.stdin(Stdio::null()).output().context("could not run ldapwhoami")?.status.success() {
                    return Ok(None);
                }
            }
            Ok(Some(Ok(())))
        });
        let log_text = || fs::read_to_string(&log).unwrap_or_default();
        match ready {
            Ok(Ok(())) => Ok(()),
            Ok(Err(status)) => {
                let text = log_text();
                let error = anyhow!("slapd exited while starting ({status}); its log ({}):\n{text}", log.display());
                self.child = None;
                Err(if text.contains("errno=98") { Launch::PortTaken(error) } else { Launch::Failed(error) })
            }
            Err(e) => Err(Launch::Failed(e.context(format!("slapd log ({}):\n{}", log.display(), log_text())))),
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take()
            && let Err(error) = dir.close()
        {
            eprintln!("wardbook-test-support: could not delete {}: {error}", self.root.display());
        }
    }
}

/// Why a start failed, and whether another pair of ports may help.
enum Launch {
    PortTaken(anyhow::Error),
    Failed(anyhow::Error),
}

/// Two distinct ports that were free a moment ago on 127.0.0.1.
fn free_ports() -> Result<(u16, u16)> {
    let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("looking for a free TCP port")?;
    let second = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("looking for a free TCP port")?;
    Ok((first.local_addr()?.port(), second.local_addr()?.port()))
}

/// The first of `candidates` that exists, else `name` if it is on `PATH`.
fn program(candidates: &[&str], name: &str) -> Result<PathBuf> {
    if let Some(found) = candidates.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return Ok(found);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    on_path.ok_or_else(|| {
        anyhow!("{name} not found: install the Debian packages slapd and ldap-utils (scripts/install-deps.sh)")
    })
}

/// An OpenLDAP client program, reading neither the system's ldap.conf nor
/// an .ldaprc (not `LDAPNOINIT`, which would also ignore `LDAPTLS_CACERT`).
fn ldap_client(name: &str) -> Command {
    let mut command = Command::new(name);
    command.env("LDAPCONF", "/dev/null").env("LDAPRC", "wardbook-no-ldaprc").env("LC_ALL", "C");
    command
}

/// `None` when we are not root; otherwise the `openldap` account.
fn slapd_user() -> Result<Option<ServerUser>> {
    if current_uid().map_err(|e| anyhow!(e))? != 0 {
        return Ok(None);
    }
    let id = |flag: &str| -> Result<u32> {
        let output = Command::new("id").args([flag, SLAPD_USER]).stdin(Stdio::null()).output()?;
        if !output.status.success() {
            bail!("running as root, but there is no `{SLAPD_USER}` user to run slapd as: install the slapd package");
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
    };
    Ok(Some(ServerUser { uid: id("-u")?, gid: id("-g")? }))
}

/// `program`, as the `openldap` user (through `runuser`) when we are root.
fn as_user(program: &Path, run_as: Option<ServerUser>) -> Command {
    let mut command = match run_as {
        Some(_) => {
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser"].into_iter().find(|p| Path::new(p).exists());
            let mut command = Command::new(runuser.unwrap_or("runuser"));
            command.args(["-u", SLAPD_USER, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    };
    command.current_dir("/").env("LC_ALL", "C");
    command
}

/// Runs `command` with `input` on its stdin, failing with its stderr.
fn run(command: &mut Command, input: Option<&str>, what: &str) -> Result<String> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("{what}: could not run {}", command.get_program().to_string_lossy()))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    stdin.write_all(input.unwrap_or_default().as_bytes()).with_context(|| format!("{what}: writing its input"))?;
    drop(stdin);
    let output = child.wait_with_output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("{what} failed ({}): {}", output.status, stderr.trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A new file of mode 0600 holding `text`.
fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// Gives `root` and everything in it to slapd's user (when we are root).
fn hand_over(root: &Path, run_as: Option<ServerUser>) -> Result<()> {
    let Some(user) = run_as else { return Ok(()) };
    let mut paths = vec![root.to_path_buf()];
    for entry in fs::read_dir(root)? {
        paths.push(entry?.path());
    }
    for path in paths {
        std::os::unix::fs::chown(&path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("handing {} to the {SLAPD_USER} user", path.display()))?;
    }
    fs::set_permissions(root, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Once per process: kills the slapd of each test process that died
/// without dropping its `Slapd`, and deletes its directory. A pid is only
/// killed when its command line names that directory's slapd.conf.
fn sweep_abandoned(run_as: Option<ServerUser>) {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(|| {
        let (Some(ours), Ok(base)) = (owner_tag(), base_dir(run_as)) else { return };
        let our_namespace = ours.split(' ').next().unwrap_or_default();
        for entry in fs::read_dir(&base).into_iter().flatten().flatten() {
            let dir = entry.path();
            if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
                continue;
            }
            let Ok(owner) = fs::read_to_string(dir.join(OWNER_FILE)) else { continue };
            let [namespace, pid, start] = owner.split(' ').collect::<Vec<_>>()[..] else { continue };
            if namespace != our_namespace || process_start_time(pid).as_deref() == Some(start) {
                continue; // Another container's, or its process is alive.
            }
            if let Ok(slapd_pid) = fs::read_to_string(dir.join("slapd.pid")) {
                let slapd_pid = slapd_pid.trim();
                let conf = dir.join("slapd.conf");
                let cmdline = fs::read(format!("/proc/{slapd_pid}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&*conf.to_string_lossy()) {
                    let _ = Command::new("kill").args(["-KILL", slapd_pid]).stdin(Stdio::null()).status();
                }
            }
            let _ = fs::remove_dir_all(&dir);
        }
    });
}
