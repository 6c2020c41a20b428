//! The async shell of one IVR call: feeds the interpreter what SIP and media report, and
//! carries out what it asks (play, timers, identity checks, saves, hang-up). All flow
//! decisions are the interpreter's; this file only moves events and actions.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, sleep_until};

use super::EngineShared;
use super::answers::CallReports;
use super::identity::check_identity;
use super::registry::CallSignal;
use crate::ivr::{
    Action, CallOutcome, Event, Interpreter, PLEASE_WAIT, PlayId, PromptRef, TimerId,
};
use crate::media::{MediaEvent, MediaHandle, Prompt};
use crate::sip::CallRef;
use crate::store::WriterError;
use crate::store::journal::{ReportWrite, Seq};

/// Pause between two "please wait" prompts while a save is still not durable.
const PLEASE_WAIT_GAP: std::time::Duration = std::time::Duration::from_secs(2);

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
    /// Media events that came while a save was waited for, in order.
    deferred: VecDeque<Option<MediaEvent>>,
}

impl CallRunner {
    pub async fn run(mut self) -> CallSummary {
        let mut st = State {
            timers: BTreeMap::new(),
            playing: None,
            call_over: false,
            remote_hangup: false,
            deferred: VecDeque::new(),
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
                } => {
                    if let Some(write) = self.reports.answer_write(person, &question, value) {
                        self.journal(write, st).await;
                    }
                }
                Action::CompleteReport { person, .. } => {
                    if let Some(write) = self.reports.completion_write(person) {
                        self.journal(write, st).await;
                    }
                }
                Action::MarkWrongNumber => {
                    if let Some(write) = self.reports.wrong_number_write() {
                        self.journal(write, st).await;
                    }
                }
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

    /// Hands a report write to the node's writer and waits until it is durable (spooled):
    /// normally a few milliseconds. If it takes longer (slow disk, journal full while the
    /// database is down) the caller hears "please wait" instead of silence; keys pressed
    /// meanwhile are kept for the IVR in order.
    async fn journal(&mut self, write: ReportWrite, st: &mut State) {
        let writer = self.reports.writer().clone();
        let submit = writer.submit(write.clone());
        tokio::pin!(submit);
        let result = match tokio::time::timeout(self.shared.please_wait_after, &mut submit).await {
            Ok(r) => r,
            Err(_) => self.wait_with_prompt(submit, st).await,
        };
        if let Err(e) = result {
            self.reports.log_refused(&write, &e);
        }
    }

    async fn wait_with_prompt(
        &mut self,
        mut submit: std::pin::Pin<&mut impl Future<Output = Result<Seq, WriterError>>>,
        st: &mut State,
    ) -> Result<Seq, WriterError> {
        let lang = self.interpreter.language();
        // Only into silence: while an IVR prompt plays the caller is not left wondering.
        let prompt = st
            .playing
            .is_none()
            .then(|| self.shared.prompts.get(lang.as_str(), PLEASE_WAIT))
            .flatten();
        let mut ours_playing = false;
        let mut replay_at = prompt.as_ref().map(|_| Instant::now());
        tracing::info!(call = self.call.0, "report save slow: caller asked to wait");
        loop {
            tokio::select! {
                r = &mut submit => {
                    if ours_playing {
                        // No PlaybackFinished follows a stop: nothing stray reaches the IVR.
                        let _ = self.media.stop_playback();
                    }
                    return r;
                }
                _ = sleep_until(replay_at.unwrap_or_else(far_future)), if replay_at.is_some() => {
                    replay_at = None;
                    if let Some(p) = prompt.clone() {
                        tracing::debug!(call = self.call.0, prompts = PLEASE_WAIT, "play");
                        ours_playing = self.media.play(vec![p]).is_ok();
                    }
                }
                m = self.media_events.recv() => match m {
                    Some(MediaEvent::PlaybackFinished) if ours_playing => {
                        ours_playing = false;
                        replay_at = Some(Instant::now() + PLEASE_WAIT_GAP);
                    }
                    None => {
                        st.deferred.push_back(None);
                        // The media side is gone; wait for the write without it.
                        return submit.await;
                    }
                    other => st.deferred.push_back(other),
                },
            }
        }
    }

    /// What a media event means for the IVR (`None`: nothing yet).
    fn media_event(&mut self, media: Option<MediaEvent>, st: &mut State) -> Option<Event> {
        match media {
            Some(MediaEvent::Digit(d)) => {
                self.shared.metrics.digit(d.source);
                Some(Event::Digit(d.key))
            }
            Some(MediaEvent::PlaybackFinished) => st.playing.take().map(Event::PromptFinished),
            Some(MediaEvent::MediaTimeout) | None => {
                tracing::info!(call = self.call.0, "media timeout: ending the call");
                st.remote_hangup = true;
                Some(Event::HangUp)
            }
        }
    }

    /// Waits for the next thing that happened on the call.
    async fn next_event(&mut self, st: &mut State) -> Event {
        loop {
            if let Some(media) = st.deferred.pop_front() {
                if let Some(event) = self.media_event(media, st) {
                    return event;
                }
                continue;
            }
            let next_timer = st
                .timers
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(id, at)| (*id, *at));
            tokio::select! {
                media = self.media_events.recv() => {
                    if let Some(event) = self.media_event(media, st) {
                        return event;
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
