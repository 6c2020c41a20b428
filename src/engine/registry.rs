//! Routes SIP events to the task that runs each call. An event can arrive before its
//! call's task registers (an INFO digit right after the 200 OK of an outbound call), so
//! such events wait, bounded, until the task registers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::call::{Digit, NegotiatedMedia};
use crate::sip::{CallRef, EndReason, SipEvent};

/// What the SIP side tells a running call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallSignal {
    Digit(Digit),
    /// The caller acknowledged our answer (ACK).
    Confirmed,
    /// New media; `on_hold`: the peer put us on hold (sendonly/inactive).
    MediaChanged {
        media: NegotiatedMedia,
        on_hold: bool,
    },
    Ended(EndReason),
}

/// Events kept for a call whose task has not registered yet, per call.
const MAX_WAITING_PER_CALL: usize = 32;
/// Calls with waiting events; past this they are all dropped: they belong to calls that
/// ended before any task took them, since a live call registers within milliseconds.
const MAX_WAITING_CALLS: usize = 4096;

#[derive(Default)]
struct Routes {
    live: HashMap<CallRef, UnboundedSender<CallSignal>>,
    waiting: HashMap<CallRef, Vec<CallSignal>>,
}

/// Shared between the SIP event loop (which routes) and call tasks (which register).
#[derive(Clone, Default)]
pub struct CallRegistry {
    routes: Arc<Mutex<Routes>>,
}

impl CallRegistry {
    /// The call's task takes its signals from here; waiting ones come first.
    pub fn register(&self, call: CallRef) -> UnboundedReceiver<CallSignal> {
        let (tx, rx) = unbounded_channel();
        let mut routes = self.lock();
        if let Some(waiting) = routes.waiting.remove(&call) {
            for s in waiting {
                let _ = tx.send(s);
            }
        }
        routes.live.insert(call, tx);
        rx
    }

    pub fn unregister(&self, call: CallRef) {
        let mut routes = self.lock();
        routes.live.remove(&call);
        routes.waiting.remove(&call);
    }

    /// Routes one SIP event; returns the event back when it is not about a known call
    /// (an incoming call, which the caller of `route` handles).
    pub fn route(&self, event: SipEvent) -> Option<SipEvent> {
        let (call, signal) = match event {
            SipEvent::IncomingCall { .. } => return Some(event),
            SipEvent::Digit { call, digit } => (call, CallSignal::Digit(digit)),
            SipEvent::CallConfirmed { call } => (call, CallSignal::Confirmed),
            SipEvent::MediaChanged {
                call,
                media,
                on_hold,
            } => (call, CallSignal::MediaChanged { media, on_hold }),
            SipEvent::CallEnded { call, reason } => (call, CallSignal::Ended(reason)),
        };
        let mut routes = self.lock();
        if let Some(tx) = routes.live.get(&call) {
            if tx.send(signal.clone()).is_ok() {
                return None;
            }
            routes.live.remove(&call);
            return None;
        }
        if routes.waiting.len() >= MAX_WAITING_CALLS && !routes.waiting.contains_key(&call) {
            tracing::warn!(
                calls = routes.waiting.len(),
                "dropping SIP events of calls no task took"
            );
            routes.waiting.clear();
        }
        let queue = routes.waiting.entry(call).or_default();
        if queue.len() < MAX_WAITING_PER_CALL {
            queue.push(signal);
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Routes> {
        // A poisoned lock only means another task panicked mid-update of plain maps;
        // the maps are still usable.
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::DigitSource;

    fn digit(call: u64, key: char) -> SipEvent {
        SipEvent::Digit {
            call: CallRef(call),
            digit: Digit {
                key,
                source: DigitSource::SipInfo,
            },
        }
    }

    #[test]
    fn digit_before_registration_is_delivered_after_it() {
        let reg = CallRegistry::default();
        assert!(reg.route(digit(7, '5')).is_none());
        let mut rx = reg.register(CallRef(7));
        assert_eq!(
            rx.try_recv().ok(),
            Some(CallSignal::Digit(Digit {
                key: '5',
                source: DigitSource::SipInfo
            }))
        );
    }

    #[test]
    fn events_go_only_to_their_own_call() {
        let reg = CallRegistry::default();
        let mut a = reg.register(CallRef(1));
        let mut b = reg.register(CallRef(2));
        reg.route(SipEvent::CallEnded {
            call: CallRef(2),
            reason: EndReason::RemoteHangup,
        });
        assert!(a.try_recv().is_err());
        assert_eq!(
            b.try_recv().ok(),
            Some(CallSignal::Ended(EndReason::RemoteHangup))
        );
    }

    #[test]
    fn waiting_events_are_bounded() {
        let reg = CallRegistry::default();
        for i in 0..(MAX_WAITING_CALLS as u64 + 100) {
            reg.route(digit(i, '1'));
        }
        assert!(reg.lock().waiting.len() <= MAX_WAITING_CALLS);
        for _ in 0..100 {
            reg.route(digit(1_000_000, '1'));
        }
        assert_eq!(
            reg.lock().waiting[&CallRef(1_000_000)].len(),
            MAX_WAITING_PER_CALL
        );
    }
}
