//! How a placed call becomes a stored attempt outcome: the SIP result first, then what the
//! IVR saw. Answered with no key at all is `NoInput` (not reached, retried); key 9 is a
//! wrong number (never called again).

use crate::engine::{EngineError, PlacedCall};
use crate::ivr::CallOutcome;
use crate::sip::DialResult;
use crate::store::AttemptOutcome;

pub fn attempt_outcome(placed: &Result<PlacedCall, EngineError>) -> AttemptOutcome {
    let Ok(placed) = placed else {
        return AttemptOutcome::Failed;
    };
    match &placed.result {
        DialResult::Answered(_) => match placed.summary.as_ref().map(|s| &s.outcome) {
            Some(CallOutcome::NotReached) => AttemptOutcome::NoInput,
            Some(CallOutcome::WrongNumber) => AttemptOutcome::WrongNumber,
            Some(CallOutcome::Answered {
                reports_complete,
                reports_incomplete,
            }) => {
                if *reports_complete > 0 && *reports_incomplete == 0 {
                    AttemptOutcome::Completed
                } else {
                    AttemptOutcome::Partial
                }
            }
            // Answered but the IVR never ran (media failed).
            None => AttemptOutcome::Failed,
        },
        DialResult::NoAnswer => AttemptOutcome::NoAnswer,
        DialResult::Busy => AttemptOutcome::Busy,
        // Normally given back rather than recorded (see `worker::dial`).
        DialResult::Rejected | DialResult::Failed { .. } | DialResult::TrunkCongested { .. } => {
            AttemptOutcome::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::call_runner::CallSummary;

    fn placed(result: DialResult, outcome: Option<CallOutcome>) -> Result<PlacedCall, EngineError> {
        Ok(PlacedCall {
            sip_call_id: "x@127.0.0.1".into(),
            result,
            summary: outcome.map(|outcome| CallSummary {
                outcome,
                remote_hangup: false,
            }),
        })
    }

    fn answered() -> DialResult {
        DialResult::Answered(crate::call::NegotiatedMedia {
            codec: crate::call::Codec::Pcmu,
            telephone_event_pt: Some(101),
            remote_rtp: "127.0.0.1:4000".parse().unwrap(),
            ptime_ms: 20,
        })
    }

    #[test]
    fn answered_without_any_key_is_not_reached() {
        let p = placed(answered(), Some(CallOutcome::NotReached));
        assert_eq!(attempt_outcome(&p), AttemptOutcome::NoInput);
    }

    #[test]
    fn key_nine_is_a_wrong_number() {
        let p = placed(answered(), Some(CallOutcome::WrongNumber));
        assert_eq!(attempt_outcome(&p), AttemptOutcome::WrongNumber);
    }

    #[test]
    fn reports_decide_completed_or_partial() {
        let done = CallOutcome::Answered {
            reports_complete: 1,
            reports_incomplete: 0,
        };
        let dropped = CallOutcome::Answered {
            reports_complete: 0,
            reports_incomplete: 1,
        };
        assert_eq!(
            attempt_outcome(&placed(answered(), Some(done))),
            AttemptOutcome::Completed
        );
        assert_eq!(
            attempt_outcome(&placed(answered(), Some(dropped))),
            AttemptOutcome::Partial
        );
    }

    #[test]
    fn sip_results_map_to_retry_classes() {
        assert_eq!(
            attempt_outcome(&placed(DialResult::Busy, None)),
            AttemptOutcome::Busy
        );
        assert_eq!(
            attempt_outcome(&placed(DialResult::NoAnswer, None)),
            AttemptOutcome::NoAnswer
        );
        let failed = DialResult::Failed {
            status: Some(503),
            reason: "x".into(),
        };
        assert_eq!(
            attempt_outcome(&placed(failed, None)),
            AttemptOutcome::Failed
        );
        assert_eq!(
            attempt_outcome(&placed(answered(), None)),
            AttemptOutcome::Failed
        );
    }
}
