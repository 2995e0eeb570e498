//! Running SQL through `psql`, and the names, quoting and URL encoding that
//! go into it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

/// Runs `sql` with psql against `url` (see [`crate::PgCluster::psql`]);
/// `label` names the database in errors (the URL itself may hold a password).
pub(crate) fn run_psql(psql: &Path, url: &str, label: &str, sql: &str) -> Result<String> {
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

pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub(crate) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(byte).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A name unique within this machine (process id, counter) and, through the
/// clock, very likely across machines sharing one `DATABASE_URL` server.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clock = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{count}_{clock:08x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn unique_names_differ_and_are_valid_identifiers() {
        let (a, b) = (unique_name("wardbook_test"), unique_name("wardbook_test"));
        assert_ne!(a, b);
        assert!(a.len() < 63, "{a} is longer than PostgreSQL's identifier limit");
        assert!(a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    }
}
