//! A test process killed outright (SIGKILL, a CI timeout) runs no destructors:
//! its postmaster keeps running and its directory stays. The next process to
//! start a cluster stops and deletes such abandoned clusters. In a file of its
//! own because that sweep runs once per process, at its first cluster.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use wardbook_test_support::PgCluster;

#[test]
fn a_later_process_sweeps_clusters_of_killed_ones() -> Result<()> {
    // This test binary again, running only the helper below, which starts a
    // cluster, reports it, and waits to be killed.
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--ignored", "--exact", "helper_start_a_cluster_and_wait", "--nocapture", "--test-threads=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    // Read on another thread, so that a helper that never reports fails the
    // test after a deadline instead of hanging it.
    let stdout = child.stdout.take().context("child stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // libtest prints "test <name> ... " without a newline before the
        // helper's own output: look for the marker anywhere in a line.
        let report = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.split_once("CLUSTER ").map(|(_, report)| report.to_owned()));
        let _ = tx.send(report);
    });
    let report = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Some(report)) => report,
        outcome => {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("the helper did not report a cluster: {outcome:?}");
        }
    };
    let mut words = report.split_whitespace();
    let port: u16 = words.next().context("port")?.parse()?;
    let dir = PathBuf::from(words.next().context("dir")?);

    child.kill()?; // SIGKILL: no destructors run.
    child.wait()?;
    ensure!(accepts_connections(port), "the killed process's postmaster is not running, nothing to sweep");
    ensure!(dir.is_dir());

    let _cluster = PgCluster::start()?;
    assert!(!accepts_connections(port), "the abandoned postmaster on port {port} still runs");
    assert!(!dir.exists(), "the abandoned directory {} still exists", dir.display());
    Ok(())
}

#[test]
#[ignore = "run by a_later_process_sweeps_clusters_of_killed_ones in a process of its own"]
fn helper_start_a_cluster_and_wait() -> Result<()> {
    let cluster = PgCluster::start()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "CLUSTER {} {}", cluster.port(), cluster.dir().display())?;
    stdout.flush()?;
    // Until the parent kills us (or goes away, closing our stdin).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_secs(2)).is_ok()
}
