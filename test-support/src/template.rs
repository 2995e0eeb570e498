//! The template data directory every cluster is copied from: made once per
//! PostgreSQL major version and user with `initdb` (copying it is about twice
//! as fast as running `initdb` for every cluster, more where the disk is
//! slow), checked before use, and shared by every test process.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use anyhow::{Context, Result, anyhow, bail};

use crate::dirs::{OWNER_FILE, base_dir, give_to, new_private_dir};
use crate::install::{Install, ServerUser, current_uid, run, server_command};

/// The `initdb` options of every template. They are recorded in the template
/// so that a template made with other options is made again, not reused.
const INITDB_ARGS: [&str; 4] = ["--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C"];

/// The file in a template directory that records [`INITDB_ARGS`]; written last,
/// so its presence also says the template is complete.
const TEMPLATE_MARKER: &str = "wardbook-initdb-args";

/// The template data directory for this PostgreSQL version and user, made
/// with `initdb` if no valid one exists. Made in a temporary name and renamed
/// into place, so concurrent test processes never see a partial one; the
/// process-wide lock makes the threads of one process wait for the first.
pub(crate) fn template_for(install: &Install, run_as: Option<ServerUser>) -> Result<PathBuf> {
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
