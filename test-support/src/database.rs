//! [`TestDatabase`]: one fresh database for one test, on a cluster of its own
//! or, when `DATABASE_URL` is set, on that server under a unique name.

use std::env;
use std::fmt;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};

use crate::cluster::PgCluster;
use crate::install::Install;
use crate::psql::{percent_encode, quote_ident, run_psql, unique_name};

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
}
