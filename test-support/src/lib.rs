//! Throwaway, real PostgreSQL clusters for Wardbook's tests.
//!
//! The central service's behaviour depends on what PostgreSQL really does
//! (transactions, constraints, replication, a server that goes away and comes
//! back), so its tests run against real servers rather than mocks. This crate
//! starts them: each [`PgCluster`] is a private postmaster in its own temporary
//! directory, listening on 127.0.0.1 on a free port with trust authentication,
//! stopped and deleted when dropped (also when the test panics). A
//! [`TestDatabase`] is one fresh database for one test, either on such a
//! cluster or, when `DATABASE_URL` names an existing server (CI service
//! containers, developers with a server of their own), on that server.
//!
//! Everything is synchronous (`std::process` driving `initdb`, `pg_ctl`,
//! `pg_isready`, `psql` and `pg_basebackup`) so that it works from plain
//! `#[test]` functions and from inside or outside any async runtime.
//!
//! The PostgreSQL binaries are found through, in order: the environment
//! variable `WARDBOOK_PG_BINDIR`, `pg_config --bindir` (when that directory
//! holds `initdb`), and the highest `/usr/lib/postgresql/*/bin` (Debian and
//! Ubuntu packages). PostgreSQL refuses to run as root, so when the tests run
//! as root (CI containers) the server programs run as the `postgres` user
//! through `runuser`, and the directories they write are handed to that user.
//!
//! Starting a cluster copies a template data directory instead of running
//! `initdb` every time (about twice as fast, more where the disk is slow):
//! the template is made once per PostgreSQL major version and user, as
//! `wardbook-pg-template-<major>-<uid>` in the temporary directory, and
//! shared by every test process. Every other directory made here records the
//! process it belongs to, so that when a test process is killed outright the
//! next one stops its servers and deletes its directories.
//!
//! The [`fault_proxy`] module holds a [`FaultProxy`]: a TCP proxy on loopback
//! that cuts connections at chosen or seeded random points (mid-request,
//! mid-response, after the request but before the response), for tests that
//! prove a client and server lose nothing when the network fails.
//!
//! The [`slapd`] module holds a [`Slapd`]: a throwaway OpenLDAP server (the
//! system's slapd, as an unprivileged process) on loopback, with LDAPS and
//! StartTLS from a test CA and a small synthetic directory, for the tests of
//! hospital directory sign-in.
//!
//! The [`oidc`] module holds an [`OidcProvider`]: a real OpenID provider
//! (panva's oidc-provider, from `tests/oidc/`) on loopback with synthetic
//! accounts, for the tests of OpenID Connect sign-in.
//!
//! The code is split by concern: `cluster.rs` (a running cluster: start,
//! stop, replicas, `Drop`), `template.rs` (the data directory clusters are
//! copied from), `sweeping.rs` (what killed test processes left behind),
//! `database.rs` (a database per test, `DATABASE_URL`), `dirs.rs` (where the
//! directories go, and which process each belongs to), `install.rs` (finding
//! and running the PostgreSQL programs), `psql.rs` (SQL through psql, unique
//! names, quoting), `wait.rs` (polling with a deadline) and `fault_proxy.rs`.

mod cluster;
mod database;
mod dirs;
pub mod fault_proxy;
mod install;
pub mod oidc;
mod psql;
pub mod slapd;
mod sweeping;
mod template;
mod wait;

pub use cluster::PgCluster;
pub use database::TestDatabase;
pub use fault_proxy::{Cut, FaultPlan, FaultProxy};
pub use oidc::OidcProvider;
pub use slapd::Slapd;
pub use wait::wait_until;
