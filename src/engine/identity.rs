//! The health-call line's identity check: HER-SYS ID and birthday against the case store,
//! with a lockout so that guessing does not work and strangers cannot lock patients out.
//!
//! # The lockout rule (the only place it lives)
//! Failures within the window are counted per (calling number, ID) pair, per calling number
//! and per ID. A caller who gets one patient's birthday wrong is locked out for that ID from
//! that number first (`per_number_and_id`); a number trying many IDs is locked at
//! `per_number`; the ID alone is locked only at the higher `per_id`, so someone who knows an
//! ID and calls from a couple of numbers cannot lock its patient out of their own phone.
//! Every lockout is recorded in the store for the patient's centre, which can lift it.
//! A locked-out caller is told so before any look-up, so the answer never reveals whether
//! an ID exists.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::answers::KnownPerson;
use crate::config::LockoutConfig;
use crate::ivr::{IdentityClaim, IdentityResult};
use crate::privacy::{mask_hersys_id, mask_phone};
use crate::store::{AuthFailureKey, IdentityCheck, LockoutScope, NewLockout, Store, StoreError};

/// How many failures within `window` lock the line, per scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub window: Duration,
    pub per_number_and_id: u64,
    pub per_number: u64,
    pub per_id: u64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self::from(&LockoutConfig::default())
    }
}

impl From<&LockoutConfig> for LockoutPolicy {
    fn from(c: &LockoutConfig) -> Self {
        Self {
            window: Duration::from_secs(u64::from(c.window_minutes) * 60),
            per_number_and_id: u64::from(c.per_number_and_id),
            per_number: u64::from(c.per_number),
            per_id: u64::from(c.per_id),
        }
    }
}

/// Failures counted in the window for one claim (a missing calling number counts 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts {
    pub number_and_id: u64,
    pub number: u64,
    pub id: u64,
}

impl LockoutPolicy {
    /// The lockout these counts impose, narrowest scope first, and the count behind it.
    pub fn decide(&self, c: FailureCounts) -> Option<(LockoutScope, u64)> {
        if c.number_and_id >= self.per_number_and_id {
            Some((LockoutScope::NumberAndId, c.number_and_id))
        } else if c.number >= self.per_number {
            Some((LockoutScope::Number, c.number))
        } else if c.id >= self.per_id {
            Some((LockoutScope::Id, c.id))
        } else {
            None
        }
    }

    fn window_chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::hours(1))
    }
}

/// The check's result for the interpreter, and for the shell the verified person.
pub struct IdentityOutcome {
    pub result: IdentityResult,
    pub person: Option<KnownPerson>,
}

impl IdentityOutcome {
    fn only(result: IdentityResult) -> Self {
        Self {
            result,
            person: None,
        }
    }
}

pub async fn check_identity(
    store: &Store,
    policy: LockoutPolicy,
    calling_number: Option<&str>,
    claim: &IdentityClaim,
) -> IdentityOutcome {
    match check(store, policy, calling_number, claim).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "identity check failed: case store unavailable");
            IdentityOutcome::only(IdentityResult::Unavailable)
        }
    }
}

async fn check(
    store: &Store,
    policy: LockoutPolicy,
    calling_number: Option<&str>,
    claim: &IdentityClaim,
) -> Result<IdentityOutcome, StoreError> {
    let now = Utc::now();
    if let Some(lockout) = store
        .active_lockout(calling_number, &claim.hersys_id, now)
        .await?
    {
        tracing::warn!(
            caller = %calling_number.map(mask_phone).unwrap_or_default(),
            id = %mask_hersys_id(&claim.hersys_id),
            lockout = lockout.id.0,
            "health-call identity locked out"
        );
        return Ok(IdentityOutcome::only(IdentityResult::LockedOut));
    }
    let patient = match store
        .verify_identity(&claim.hersys_id, &claim.birth_mmdd)
        .await?
    {
        IdentityCheck::Verified(p) => p,
        IdentityCheck::Mismatch => {
            store
                .record_auth_failure(now, calling_number, Some(&claim.hersys_id))
                .await?;
            lock_if_due(store, policy, calling_number, &claim.hersys_id, now).await?;
            return Ok(IdentityOutcome::only(IdentityResult::Mismatch));
        }
    };
    let centre = store.get_centre_by_id(patient.centre_id).await?;
    let today = now.with_timezone(&centre.settings.tz()?).date_naive();
    // Staff stopping auto-calls does not stop a patient from reporting by themselves;
    // only the end of observation does.
    if today > patient.observation_end {
        return Ok(IdentityOutcome::only(IdentityResult::ObservationEnded));
    }
    Ok(IdentityOutcome {
        result: IdentityResult::Verified {
            thresholds: Some(centre.settings.alerts),
        },
        person: Some(KnownPerson {
            patient: patient.id,
            hersys_id: patient.hersys_id.clone(),
        }),
    })
}

/// After a failure: counts the window's failures and records the lockout they call for.
async fn lock_if_due(
    store: &Store,
    policy: LockoutPolicy,
    calling_number: Option<&str>,
    hersys_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let since = now - policy.window_chrono();
    let mut counts = FailureCounts {
        id: store
            .count_auth_failures(AuthFailureKey::HersysId(hersys_id), since)
            .await?,
        ..FailureCounts::default()
    };
    if let Some(number) = calling_number {
        counts.number = store
            .count_auth_failures(AuthFailureKey::CallingNumber(number), since)
            .await?;
        counts.number_and_id = store
            .count_auth_failures(AuthFailureKey::NumberAndId(number, hersys_id), since)
            .await?;
    }
    let Some((scope, failures)) = policy.decide(counts) else {
        return Ok(());
    };
    let lockout = store
        .record_lockout(
            NewLockout {
                scope,
                calling_number,
                hersys_id,
                failures,
                until: now + policy.window_chrono(),
            },
            now,
        )
        .await?;
    tracing::warn!(
        caller = %calling_number.map(mask_phone).unwrap_or_default(),
        id = %mask_hersys_id(hersys_id),
        lockout = lockout.id.0,
        scope = scope.as_str(),
        "health-call identity lockout imposed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(number_and_id: u64, number: u64, id: u64) -> FailureCounts {
        FailureCounts {
            number_and_id,
            number,
            id,
        }
    }

    #[test]
    fn the_pair_locks_first_the_id_alone_only_at_the_higher_threshold() {
        let p = LockoutPolicy::default();
        assert_eq!(p.decide(counts(4, 4, 4)), None);
        assert_eq!(
            p.decide(counts(5, 5, 5)),
            Some((LockoutScope::NumberAndId, 5))
        );
        // Two strangers' numbers, four wrong birthdays each: the ID is not locked.
        assert_eq!(p.decide(counts(4, 4, 8)), None);
        assert_eq!(p.decide(counts(1, 10, 1)), Some((LockoutScope::Number, 10)));
        assert_eq!(p.decide(counts(0, 0, 20)), Some((LockoutScope::Id, 20)));
    }

    proptest::proptest! {
        #[test]
        fn no_lockout_below_every_threshold_and_the_id_alone_never_before_per_id(
            pair in 0u64..40, number in 0u64..40, id in 0u64..40,
        ) {
            let p = LockoutPolicy::default();
            let decided = p.decide(counts(pair, number, id));
            let below = pair < p.per_number_and_id && number < p.per_number && id < p.per_id;
            proptest::prop_assert_eq!(decided.is_none(), below);
            if let Some((LockoutScope::Id, n)) = decided {
                proptest::prop_assert!(n >= p.per_id);
            }
        }
    }
}
