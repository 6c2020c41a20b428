//! The async shell of one IVR call: feeds the interpreter what SIP and media report, and
//! carries out what it asks (play, timers, identity checks, saves, hang-up). All flow
//! decisions are the interpreter's; this file only moves events and actions.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, sleep_until};

use super::EngineShared;
use super::answers::{CallReports, KnownPerson};
use super::identity::check_identity;
use super::registry::CallSignal;
use crate::ivr::{Action, CallOutcome, Event, Interpreter, PlayId, PromptRef, TimerId};
use crate::media::{MediaEvent, MediaHandle, Prompt};
use crate::sip::CallRef;

/// One answered call with its media, ready to run.
pub struct CallRunner {
    pub shared: Arc<EngineShared>,
    pub call: CallRef,
    /// The caller's number, for the lockout (inbound only).
    pub caller: Option<String>,
    pub interpreter: Interpreter,
    pub media: MediaHandle,
    pub media_events: UnboundedReceiver<MediaEvent>,
    pub signals: UnboundedReceiver<CallSignal>,
    pub reports: CallReports,
}

/// How the call went, for the call record and the dialer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSummary {
    pub outcome: CallOutcome,
    /// The far end hung up (or vanished) before the IVR finished.
    pub remote_hangup: bool,
}

struct State {
    timers: BTreeMap<TimerId, Instant>,
    playing: Option<PlayId>,
    /// We or the far end ended the SIP call already.
    call_over: bool,
    remote_hangup: bool,
}

impl CallRunner {
    pub async fn run(mut self) -> CallSummary {
        let mut st = State {
            timers: BTreeMap::new(),
            playing: None,
            call_over: false,
            remote_hangup: false,
        };
        self.shared.metrics.call_started();
        let outcome = loop {
            if let Some(outcome) = self.carry_out_actions(&mut st).await {
                break outcome;
            }
            let event = self.next_event(&mut st).await;
            self.interpreter.handle_event(event);
        };
        if !st.call_over {
            let _ = self.shared.sip.hangup(self.call).await;
        }
        self.shared.calls.unregister(self.call);
        self.shared.metrics.call_ended();
        CallSummary {
            outcome,
            remote_hangup: st.remote_hangup,
        }
    }

    /// Runs every pending action; returns the outcome once the interpreter finished.
    async fn carry_out_actions(&mut self, st: &mut State) -> Option<CallOutcome> {
        while let Some(action) = self.interpreter.poll_action() {
            match action {
                Action::Play { id, prompts, .. } => {
                    tracing::debug!(call = self.call.0, prompts = %phrase_ids(&prompts), "play");
                    let audio = self.resolve(&prompts);
                    if audio.is_empty() {
                        // Nothing to wait for: finish the play at once.
                        self.interpreter.handle_event(Event::PromptFinished(id));
                        continue;
                    }
                    st.playing = Some(id);
                    if self.media.play(audio).is_err() {
                        self.interpreter.handle_event(Event::HangUp);
                    }
                }
                Action::StopPlayback(id) => {
                    if st.playing == Some(id) {
                        st.playing = None;
                        let _ = self.media.stop_playback();
                    }
                }
                Action::StartTimer { id, after } => {
                    st.timers.insert(id, Instant::now() + after);
                }
                Action::CancelTimer(id) => {
                    st.timers.remove(&id);
                }
                Action::VerifyIdentity { person, claim } => {
                    let outcome = check_identity(
                        &self.shared.store,
                        self.shared.lockout,
                        self.caller.as_deref(),
                        &claim,
                    )
                    .await;
                    if let Some(p) = outcome.person {
                        self.reports.set_person(person, p);
                    }
                    self.interpreter
                        .handle_event(Event::IdentityChecked(outcome.result));
                }
                Action::SaveAnswer {
                    person,
                    question,
                    value,
                } => self.reports.save(person, &question, value).await,
                Action::CompleteReport { person, .. } => self.reports.complete(person).await,
                Action::MarkWrongNumber => self.mark_wrong_number().await,
                Action::HangUp => {
                    if !st.call_over {
                        st.call_over = true;
                        let _ = self.shared.sip.hangup(self.call).await;
                    }
                }
                Action::Finished(outcome) => return Some(outcome),
            }
        }
        None
    }

    /// Waits for the next thing that happened on the call.
    async fn next_event(&mut self, st: &mut State) -> Event {
        loop {
            let next_timer = st
                .timers
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(id, at)| (*id, *at));
            tokio::select! {
                media = self.media_events.recv() => match media {
                    Some(MediaEvent::Digit(d)) => {
                        self.shared.metrics.digit(d.source);
                        return Event::Digit(d.key);
                    }
                    Some(MediaEvent::PlaybackFinished) => {
                        if let Some(id) = st.playing.take() {
                            return Event::PromptFinished(id);
                        }
                    }
                    Some(MediaEvent::MediaTimeout) | None => {
                        tracing::info!(call = self.call.0, "media timeout: ending the call");
                        st.remote_hangup = true;
                        return Event::HangUp;
                    }
                },
                signal = self.signals.recv() => match signal {
                    // INFO digits go through the media session so a digit that also
                    // came as RFC 4733 or tone is reported once.
                    Some(CallSignal::Digit(d)) => {
                        let _ = self.media.sip_info_digit(d.key);
                    }
                    Some(CallSignal::Confirmed) => {
                        let _ = self.media.confirm();
                    }
                    Some(CallSignal::MediaChanged(m)) => {
                        let _ = self.media.update_media(m);
                    }
                    Some(CallSignal::Ended(_)) | None => {
                        st.call_over = true;
                        st.remote_hangup = true;
                        return Event::HangUp;
                    }
                },
                _ = sleep_until(next_timer.map_or_else(far_future, |(_, at)| at)), if next_timer.is_some() => {
                    if let Some((id, _)) = next_timer {
                        st.timers.remove(&id);
                        return Event::TimerFired(id);
                    }
                }
            }
        }
    }

    fn resolve(&self, prompts: &[PromptRef]) -> Vec<Prompt> {
        prompts
            .iter()
            .filter_map(|p| {
                let found = self.shared.prompts.get(p.lang.as_str(), &p.id);
                if found.is_none() {
                    // Start-up checks every prompt; this is a bug, not a caller's problem.
                    tracing::error!(lang = p.lang.as_str(), prompt = %p.id, "prompt missing");
                }
                found
            })
            .collect()
    }

    async fn mark_wrong_number(&mut self) {
        let Some(KnownPerson { hersys_id, .. }) = self.reports.person(0).cloned() else {
            return;
        };
        if let Err(e) = self
            .shared
            .store
            .mark_wrong_number(&hersys_id, "ivr", chrono::Utc::now())
            .await
        {
            tracing::error!(error = %e, "cannot mark the number wrong");
        }
    }
}

/// The ids of a play without its read-back digits (the answers stay out of the logs).
fn phrase_ids(prompts: &[PromptRef]) -> String {
    let ids: Vec<&str> = prompts
        .iter()
        .map(|p| p.id.as_str())
        .filter(|id| !id.starts_with("digit_"))
        .collect();
    ids.join(",")
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400)
}
