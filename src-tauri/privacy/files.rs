//! Where an export is saved: the user's Downloads folder (the window has no
//! file dialog: no filesystem permission is granted to the WebView), else
//! `exports/` in the data directory. A new file each time, never one
//! overwritten, readable by its owner only (it holds patient identifiers).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use wardbook_protocol::api::ExportFormat;

use super::PrivacyError;
use crate::config::Config;

/// The folder exports go to.
pub fn export_dir(config: &Config) -> PathBuf {
    directories::UserDirs::new()
        .and_then(|dirs| dirs.download_dir().map(Path::to_path_buf))
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(|| config.data_dir.join("exports"))
}

/// Writes `bytes` to a new file in `dir` named after the time; answers its path.
pub(super) fn save(
    dir: &Path,
    format: ExportFormat,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<PathBuf, PrivacyError> {
    let failed = |e: std::io::Error| PrivacyError::Save { dir: dir.display().to_string(), cause: e.kind().to_string() };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let extension = match format {
        ExportFormat::Csv => "csv",
        ExportFormat::Fhir => "json",
    };
    let stem = format!("wardbook-access-report-{}", now.format("%Y%m%dT%H%M%SZ"));
    for n in 0..100 {
        let name = if n == 0 { format!("{stem}.{extension}") } else { format!("{stem}-{n}.{extension}") };
        let path = dir.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(bytes).and_then(|()| file.sync_all()).map_err(failed)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(e)),
        }
    }
    Err(failed(std::io::Error::from(std::io::ErrorKind::AlreadyExists)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_export_is_a_new_private_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = Utc::now();
        let first = save(dir.path(), ExportFormat::Csv, b"a,b\r\n", now).expect("saved");
        let second = save(dir.path(), ExportFormat::Csv, b"c,d\r\n", now).expect("saved again");
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).expect("read"), b"a,b\r\n");
        assert!(first.extension().is_some_and(|e| e == "csv"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&second).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let fhir = save(dir.path(), ExportFormat::Fhir, b"{}", now).expect("saved");
        assert!(fhir.extension().is_some_and(|e| e == "json"));
    }
}
