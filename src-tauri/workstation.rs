//! The open workstation (its settings and its store) and the one way the
//! parts that share it reach it.
//!
//! The window, the sessions and background sync share one
//! `Mutex<Workstation>`. Code that waits on the network (sign-in, unlock,
//! break-the-glass, a sync cycle, enrolment) takes `&Mutex<Workstation>`
//! and locks it only for each local step, through [`Workstation::lock`], so
//! the window keeps working meanwhile. Code that only does local work takes
//! the `&mut Store` (or `&Workstation`) of a caller that holds the lock.
//!
//! A leaf next to `store` and `config`: `startup` opens a workstation, and
//! `session`, `sync` and the commands use one, without depending on each
//! other through it.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::config::Config;
use crate::store::{OpenReport, Store};

/// An open workstation: its settings and its store.
#[derive(Debug)]
pub struct Workstation {
    pub config: Config,
    pub store: Store,
    pub open_report: OpenReport,
    /// The key store in words ([`crate::keys::KeyStore::describe`]).
    pub key_store: String,
}

impl Workstation {
    /// Locks the shared workstation for one local step. A panic of another
    /// holder does not stop the others: its store transaction rolled back
    /// when it unwound, so what the store holds is consistent.
    pub fn lock(shared: &Mutex<Workstation>) -> MutexGuard<'_, Workstation> {
        shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
