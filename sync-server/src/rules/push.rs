//! `POST /v1/sync/push`: mutations applied in order, each in its own savepoint, idempotent
//! by id; a rejection never aborts the ones after it.

use domain::wire::{Mutation, MutationEnvelope, MutationResult};
use domain::{RejectCode, RuleError};
use uuid::Uuid;

use super::access::Actor;
use super::{apply, ApplyError};
use crate::store::{StoreResult, Tx};

/// Counts for metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct PushStats {
    pub applied: u64,
    pub rejected: u64,
    pub replayed: u64,
}

pub fn push(
    tx: &mut dyn Tx,
    actor: &Actor,
    client_id: Uuid,
    mutations: &[MutationEnvelope],
) -> StoreResult<(Vec<MutationResult>, PushStats)> {
    let mut results = Vec::with_capacity(mutations.len());
    let mut stats = PushStats::default();
    for env in mutations {
        // A mutation sent again returns its first result and changes nothing, even when the
        // rule would reject it now (the lock has passed since).
        if let Some((owner, first)) = tx.mutation_outcome(env.id)? {
            stats.replayed += 1;
            if owner == actor.user.id {
                results.push(first);
            } else {
                let err = RuleError::new(RejectCode::InvalidInput, "this mutation id belongs to another user");
                results.push(MutationResult::rejected(env.id, &err));
            }
            continue;
        }
        let result = match Mutation::parse(&env.name, env.args.clone()) {
            Err(err) => MutationResult::rejected(env.id, &err),
            Ok(m) => {
                tx.savepoint()?;
                match apply::apply(tx, actor, &m) {
                    Ok(details) => {
                        tx.release_savepoint()?;
                        MutationResult::applied(env.id, details)
                    }
                    Err(ApplyError::Rule(err)) => {
                        tx.rollback_savepoint()?;
                        MutationResult::rejected(env.id, &err)
                    }
                    Err(ApplyError::Store(err)) => {
                        tx.rollback_savepoint()?;
                        return Err(err);
                    }
                }
            }
        };
        match result.status {
            domain::wire::MutationStatus::Applied => stats.applied += 1,
            domain::wire::MutationStatus::Rejected => stats.rejected += 1,
        }
        tx.store_mutation_outcome(env.id, actor.user.id, client_id, &env.name, &result, actor.now)?;
        results.push(result);
    }
    Ok((results, stats))
}
