//! Cleaning up after test processes that were killed outright (SIGKILL, a CI
//! timeout, `panic = "abort"`): they run no destructors, so their postmasters
//! keep running and their directories stay. Every directory made here records
//! the process it belongs to; the first cluster a later process starts stops
//! and deletes those whose process is gone. Also the last-resort stop that
//! `Drop` uses.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::dirs::{OWNER_FILE, base_dir, owner_tag, process_start_time};
use crate::install::{Install, ServerUser, server_command};
use crate::wait::TIMEOUT;

/// Once per process: stops the servers and deletes the directories of test
/// processes that died without running their destructors (killed by a
/// timeout or SIGKILL; Ctrl-C stops the servers, which share the test's
/// process group, but leaves their directories of some 40 MB each).
pub(crate) fn sweep_abandoned_clusters(install: &Install, run_as: Option<ServerUser>) {
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

/// `pg_ctl stop -m immediate`, then `kill -KILL` if the pid file is still
/// there and names the postmaster of `data` (never a process that reused the
/// pid). Errors are ignored: this is the last resort of `Drop` and the sweep.
pub(crate) fn stop_by_pid_file(install: &Install, run_as: Option<ServerUser>, cwd: &Path, data: &Path) {
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
