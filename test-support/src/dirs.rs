//! Where clusters and templates live: private directories in the temporary
//! directory, handed to the server's user when the tests run as root. Each
//! records the process it belongs to ([`OWNER_FILE`]), which is how
//! `sweeping.rs` tells an abandoned one from one in use.

use std::env;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::install::{SUPERUSER, ServerUser};

/// Where clusters and templates go: the temporary directory, or `/tmp` when
/// running as root and the `postgres` user could not reach the former.
pub(crate) fn base_dir(run_as: Option<ServerUser>) -> Result<PathBuf> {
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
pub(crate) fn new_private_dir(prefix: &str, run_as: Option<ServerUser>) -> Result<TempDir> {
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

/// Hands `path` to the server's user when we are root (no-op otherwise).
pub(crate) fn give_to(path: &Path, run_as: Option<ServerUser>) -> Result<()> {
    if let Some(user) = run_as {
        std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
            .with_context(|| format!("handing {} to the {SUPERUSER} user", path.display()))?;
    }
    Ok(())
}

/// The file in each directory made here that names the process it belongs to
/// (see [`owner_tag`]), so that a later process can tell it was abandoned.
pub(crate) const OWNER_FILE: &str = "wardbook-owner";

/// This process, as "<pid namespace> <pid> <start time>": the start time
/// tells a reused pid apart, the namespace a process in another container
/// sharing the directory. `None` without `/proc` (not Linux), where nothing
/// is recorded and nothing swept.
pub(crate) fn owner_tag() -> Option<String> {
    let namespace = fs::read_link("/proc/self/ns/pid").ok()?;
    let start = process_start_time("self")?;
    Some(format!("{} {} {start}", namespace.display(), std::process::id()))
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks
/// since boot.
pub(crate) fn process_start_time(pid: &str) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces and ")".
    let (_, fields) = stat.rsplit_once(") ")?;
    fields.split_whitespace().nth(19).map(str::to_owned)
}
