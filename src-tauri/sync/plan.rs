//! Plan, then act (as Atuin's sync does): a pure function of what the cache
//! holds decides what to upload, push, purge and prune; `engine` carries the
//! plan out and plans again until nothing is left to push.

use std::collections::HashSet;

use uuid::Uuid;

/// Mutations in one push request (the service accepts up to 1,000).
pub const PUSH_BATCH: usize = 500;

/// An outbox entry waiting to be pushed, in the order it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingEdit {
    pub mutation_id: Uuid,
    pub entity_id: Uuid,
    pub patient_id: Uuid,
}

/// What the planner reads from the cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Pending edits, oldest first.
    pub pending: Vec<PendingEdit>,
    /// Patients that left scope while they had edits to push.
    pub pending_purges: Vec<Uuid>,
    pub audit_acknowledged: i64,
    pub audit_head: i64,
    pub pruned_through: i64,
    /// The newest event recorded before the retention cutoff.
    pub retention_boundary: i64,
}

/// What one round does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Audit events after the acknowledged sequence go up first: they never
    /// wait behind clinical pushes or pulls.
    pub upload_audit: bool,
    /// Batches of mutation ids, in order. Only the oldest pending edit of
    /// each entity goes in a round: the next one's base version is the
    /// version the server gives this one.
    pub push: Vec<Vec<Uuid>>,
    /// Edits held back for the next round (later edits of an entity).
    pub held_back: usize,
    /// Patients to purge now: out of scope, nothing left to push.
    pub purge: Vec<Uuid>,
    /// Remove acknowledged audit events through this sequence.
    pub prune_through: Option<i64>,
}

pub fn plan(s: &Snapshot) -> Plan {
    let mut seen = HashSet::new();
    let mut first_edits = Vec::new();
    for edit in &s.pending {
        if seen.insert(edit.entity_id) {
            first_edits.push(edit.mutation_id);
        }
    }
    let held_back = s.pending.len() - first_edits.len();
    let push = first_edits.chunks(PUSH_BATCH).map(<[Uuid]>::to_vec).collect();
    let busy: HashSet<Uuid> = s.pending.iter().map(|e| e.patient_id).collect();
    let purge = s.pending_purges.iter().copied().filter(|p| !busy.contains(p)).collect();
    // Never the newest event: the next one links to its hash.
    let prunable = s.audit_acknowledged.min(s.retention_boundary).min(s.audit_head - 1);
    Plan {
        upload_audit: s.audit_head > s.audit_acknowledged,
        push,
        held_back,
        purge,
        prune_through: (prunable > s.pruned_through).then_some(prunable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(n: u128, entity: u128, patient: u128) -> PendingEdit {
        PendingEdit {
            mutation_id: Uuid::from_u128(n),
            entity_id: Uuid::from_u128(entity),
            patient_id: Uuid::from_u128(patient),
        }
    }

    #[test]
    fn only_the_oldest_edit_of_each_entity_is_pushed_in_a_round() {
        let s = Snapshot {
            pending: vec![edit(1, 10, 100), edit(2, 11, 100), edit(3, 10, 100), edit(4, 12, 101)],
            ..Snapshot::default()
        };
        let p = plan(&s);
        assert_eq!(p.push, vec![vec![Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(4)]]);
        assert_eq!(p.held_back, 1);
    }

    #[test]
    fn pushes_are_batched_in_order() {
        let pending: Vec<_> = (0..(PUSH_BATCH as u128 * 2 + 3)).map(|n| edit(n, n + 10_000, 1)).collect();
        let p = plan(&Snapshot { pending: pending.clone(), ..Snapshot::default() });
        assert_eq!(p.push.len(), 3);
        let flat: Vec<Uuid> = p.push.concat();
        assert_eq!(flat, pending.iter().map(|e| e.mutation_id).collect::<Vec<_>>());
    }

    #[test]
    fn a_patient_with_pending_edits_is_not_purged() {
        let s = Snapshot {
            pending: vec![edit(1, 10, 100)],
            pending_purges: vec![Uuid::from_u128(100), Uuid::from_u128(101)],
            ..Snapshot::default()
        };
        assert_eq!(plan(&s).purge, vec![Uuid::from_u128(101)]);
    }

    #[test]
    fn audit_upload_and_pruning_follow_acknowledgement_and_retention() {
        let s = Snapshot {
            audit_head: 50,
            audit_acknowledged: 40,
            retention_boundary: 30,
            pruned_through: 10,
            ..Snapshot::default()
        };
        let p = plan(&s);
        assert!(p.upload_audit);
        assert_eq!(p.prune_through, Some(30), "only acknowledged events past retention");
        let s = Snapshot { audit_acknowledged: 20, ..s };
        assert_eq!(plan(&s).prune_through, Some(20), "never an unacknowledged event");
        let s = Snapshot { audit_head: 20, audit_acknowledged: 20, retention_boundary: 20, ..s };
        let p = plan(&s);
        assert!(!p.upload_audit);
        assert_eq!(p.prune_through, Some(19), "never the newest event");
        let s = Snapshot { pruned_through: 19, ..s };
        assert_eq!(plan(&s).prune_through, None, "nothing new to prune");
    }
}
