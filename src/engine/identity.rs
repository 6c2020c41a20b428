//! The health-call line's identity check: HER-SYS ID and birthday against the case store,
//! with a lockout so that guessing IDs does not work. Failures are counted per calling
//! number and per HER-SYS ID; a locked-out caller is told so before any look-up, so the
//! answer never reveals whether an ID exists.

use std::time::Duration;

use chrono::Utc;

use super::answers::KnownPerson;
use crate::ivr::{IdentityClaim, IdentityResult};
use crate::privacy::{mask_hersys_id, mask_phone};
use crate::store::{AuthFailureKey, IdentityCheck, Store, StoreError};

/// How many failures within `window` lock a calling number or an ID out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u64,
    pub window: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(3600),
        }
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
    let since =
        now - chrono::Duration::from_std(policy.window).unwrap_or(chrono::Duration::hours(1));
    let mut failures = store
        .count_auth_failures(AuthFailureKey::HersysId(&claim.hersys_id), since)
        .await?;
    if let Some(number) = calling_number {
        failures = failures.max(
            store
                .count_auth_failures(AuthFailureKey::CallingNumber(number), since)
                .await?,
        );
    }
    if failures >= policy.max_failures {
        tracing::warn!(
            caller = %calling_number.map(mask_phone).unwrap_or_default(),
            id = %mask_hersys_id(&claim.hersys_id),
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
