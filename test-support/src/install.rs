//! Finding the PostgreSQL programs and running them: as this process's user,
//! or as the `postgres` user through `runuser` when the tests run as root
//! (PostgreSQL refuses to run as root).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};

/// The superuser role created by `initdb`, and the OS account the server runs
/// as when the tests run as root.
pub(crate) const SUPERUSER: &str = "postgres";

/// Where the PostgreSQL programs are, and which version they are.
#[derive(Debug, Clone)]
pub(crate) struct Install {
    pub(crate) bindir: PathBuf,
    /// The major version, for example `15`: templates are per major version
    /// (a data directory is compatible across minor releases, so a minor
    /// upgrade does not leave the old template behind).
    pub(crate) version: String,
}

impl Install {
    pub(crate) fn find() -> Result<Install> {
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
    pub(crate) fn psql() -> PathBuf {
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
pub(crate) struct ServerUser {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl ServerUser {
    /// `None` when we are not root (the programs run as we are), otherwise the
    /// `postgres` account, which must exist.
    pub(crate) fn for_current_process() -> Result<Option<ServerUser>> {
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

pub(crate) fn current_uid() -> Result<u32, String> {
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
pub(crate) fn server_command(install: &Install, run_as: Option<ServerUser>, program: &str, cwd: &Path) -> Command {
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

/// Runs `command`, failing with `"<what> failed: <stderr>"` on a non-zero exit.
pub(crate) fn run(command: &mut Command, what: &str) -> Result<Output> {
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
