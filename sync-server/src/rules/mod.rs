//! The server side of every rule: who may do what, and what a mutation changes. Pure rule
//! checks come from `domain`; this layer looks things up in a [`Tx`] and writes entities.

pub mod access;
pub mod apply;
pub mod devices;
pub mod entities;
pub mod notify;
pub mod pins;
pub mod pull;
pub mod push;
pub mod scope;

use domain::RuleError;

use crate::store::StoreError;

/// Why a mutation or a request did not go through: a broken rule (a rejection the client
/// shows the user) or a storage failure (a 5xx the client retries).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type ApplyResult<T> = Result<T, ApplyError>;

/// A rule's answer to an applied mutation: `value` as the mutation's `details`.
pub fn details<T: serde::Serialize + ?Sized>(value: &T) -> ApplyResult<Option<domain::wire::Details>> {
    match domain::wire::Details::new(value) {
        Ok(d) => Ok(Some(d)),
        Err(e) => Err(StoreError::Database(format!("cannot write a mutation's details: {e}")).into()),
    }
}

/// A rule's answer as the result of a write job, so that the job commits even when the
/// answer is a rejection (a wrong pairing code must stay counted); storage failures still
/// fail the job.
pub fn committed<T>(r: ApplyResult<T>) -> crate::store::StoreResult<Result<T, RuleError>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(ApplyError::Rule(e)) => Ok(Err(e)),
        Err(ApplyError::Store(e)) => Err(e),
    }
}
