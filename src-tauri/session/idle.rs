//! The idle lock (DESIGN.md section 8): the time of the last keyboard or
//! pointer activity, and whether the policy's idle period has passed since.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Activity of one unlocked session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Idle {
    last_activity: DateTime<Utc>,
    limit: Duration,
}

impl Idle {
    pub(crate) fn starting(now: DateTime<Utc>, limit: Duration) -> Idle {
        Idle { last_activity: now, limit }
    }

    /// Has the session been idle for the whole period? (At exactly the
    /// limit it has.)
    pub(crate) fn is_due(&self, now: DateTime<Utc>) -> bool {
        let limit = chrono::Duration::from_std(self.limit).unwrap_or(chrono::Duration::MAX);
        now.signed_duration_since(self.last_activity) >= limit
    }

    /// Activity postpones the lock, unless the lock is already due: a
    /// session idle past the period is locked at the next check, whatever
    /// happens in between.
    pub(crate) fn touch(&mut self, now: DateTime<Utc>) {
        if !self.is_due(now) && now > self.last_activity {
            self.last_activity = now;
        }
    }

    /// Starts the period again (after an unlock).
    pub(crate) fn restart(&mut self, now: DateTime<Utc>) {
        self.last_activity = now;
    }
}

/// The idle period in whole minutes for the UI, rounded up (a period of a
/// few seconds, in tests, shows as one minute).
pub(crate) fn minutes(limit: Duration) -> u32 {
    u32::try_from(limit.as_secs().div_ceil(60)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_352_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn due_at_the_limit_and_postponed_by_activity_before_it() {
        let mut idle = Idle::starting(at(0), Duration::from_secs(600));
        assert!(!idle.is_due(at(599)));
        assert!(idle.is_due(at(600)));
        idle.touch(at(300));
        assert!(!idle.is_due(at(899)));
        assert!(idle.is_due(at(900)));
    }

    #[test]
    fn activity_after_the_limit_does_not_resurrect_the_session() {
        let mut idle = Idle::starting(at(0), Duration::from_secs(600));
        idle.touch(at(601));
        assert!(idle.is_due(at(601)));
        idle.restart(at(700));
        assert!(!idle.is_due(at(1000)));
    }

    #[test]
    fn a_clock_going_backwards_does_not_move_activity_back() {
        let mut idle = Idle::starting(at(100), Duration::from_secs(600));
        idle.touch(at(50));
        assert!(idle.is_due(at(700)));
    }

    #[test]
    fn minutes_round_up() {
        assert_eq!(minutes(Duration::from_secs(2)), 1);
        assert_eq!(minutes(Duration::from_secs(600)), 10);
        assert_eq!(minutes(Duration::from_secs(601)), 11);
    }
}
