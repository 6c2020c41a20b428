//! Runs the parts together: SIP signalling, media, the IVR and the case store. Inbound
//! calls to the health-call line are answered here; outbound calls are placed by
//! [`Engine::place_call`] for the dialer. Each call is one task running a
//! [`call_runner::CallRunner`].

pub mod answers;
pub mod call_runner;
pub mod identity;
pub mod in_flight;
pub mod registry;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::admin::Metrics;
use crate::config::Config;
use crate::ivr::{Dialplans, Interpreter, IvrError};
use crate::media::{EngineConfig, MediaEngine, MediaError, PromptError, PromptLibrary};
use crate::privacy::mask_phone;
use crate::sip::{DialRequest, DialResult, RejectReason, SipEndpoint, SipError, SipEvent};
use crate::store::{
    AlertThresholds, AttemptId, Channel, Language, Patient, ReportWriter, Store, WriterError,
};
use answers::{CallReports, KnownPerson};
use call_runner::{CallRunner, CallSummary};
use identity::LockoutPolicy;
use in_flight::InFlight;
use registry::CallRegistry;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    // Transparent: each cause already says what it is about, and anyhow's `{:#}` would
    // otherwise print it twice.
    #[error(transparent)]
    Ivr(#[from] IvrError),
    #[error(transparent)]
    Prompts(#[from] PromptError),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Sip(#[from] SipError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Reports(#[from] WriterError),
}

/// What every call task needs; shared read-only.
pub struct EngineShared {
    pub store: Store,
    /// The one path for report writes (answers, completions) of this node.
    pub report_writer: ReportWriter,
    /// A save not durable after this long plays "please wait".
    pub please_wait_after: Duration,
    pub sip: SipEndpoint,
    pub media: MediaEngine,
    pub plans: Arc<Dialplans>,
    pub prompts: PromptLibrary,
    pub lockout: LockoutPolicy,
    pub calls: CallRegistry,
    /// Calls in progress, for a draining node to wait on.
    pub in_flight: InFlight,
    /// The voiced languages (`ivr.languages`), menu order.
    pub languages: Vec<Language>,
    /// Counters the staff pages export at `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// The running engine. Dropping it does not stop calls in progress; call `shutdown`.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<EngineShared>,
}

/// The result of one outbound call, for the dialer's call record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedCall {
    pub sip_call_id: String,
    pub result: DialResult,
    /// Set when the call was answered and the IVR ran.
    pub summary: Option<CallSummary>,
}

impl Engine {
    /// Loads and checks dialplans and prompts (refusing to start on any problem), then
    /// starts media and SIP and begins answering the health-call line.
    pub async fn start(cfg: &Config, store: Store) -> Result<Engine, EngineError> {
        let plans = crate::ivr::load(
            &cfg.ivr.dialplans_dir,
            &cfg.ivr.prompts_dir,
            &cfg.ivr.languages,
        )?;
        let prompts = PromptLibrary::load_dir(&cfg.ivr.prompts_dir)?;
        cfg.sip.rtp_port_range()?;
        let media = MediaEngine::start(EngineConfig {
            // RTP binds where SIP does: with SIP on every interface (0.0.0.0 or ::), RTP
            // is too, and SIP names the interface toward each peer in the SDP.
            local_ip: cfg.sip.listen.ip(),
            port_range: cfg.sip.rtp_ports.clone(),
            session: (&cfg.media).into(),
            ..EngineConfig::default()
        })?;
        let report_writer = ReportWriter::start(store.clone(), cfg.database.writer()).await?;
        let (sip, events) = SipEndpoint::start(&cfg.sip, &cfg.trunk).await?;
        let shared = Arc::new(EngineShared {
            store,
            report_writer,
            please_wait_after: Duration::from_millis(cfg.ivr.please_wait_after_ms),
            sip,
            media,
            plans,
            prompts,
            lockout: LockoutPolicy::from(&cfg.ivr.lockout),
            calls: CallRegistry::default(),
            in_flight: InFlight::default(),
            languages: cfg.ivr.languages.clone(),
            metrics: Arc::new(Metrics::default()),
        });
        tokio::spawn(route_sip_events(shared.clone(), events));
        tokio::spawn(copy_counters(Arc::downgrade(&shared)));
        Ok(Engine { shared })
    }

    /// The counters for `/metrics` (calls in progress, digits by source, SIP errors).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    pub fn shared(&self) -> &Arc<EngineShared> {
        &self.shared
    }

    /// Where SIP listens (useful when configured with port 0).
    pub fn sip_addr(&self) -> std::net::SocketAddr {
        self.shared.sip.local_addr()
    }

    /// Dials a patient and, if they answer, runs the auto-call questionnaire in their
    /// language. Returns once the call is over. `sip_call_id` is the Call-ID to use, as
    /// already recorded with the attempt ([`Engine::new_sip_call_id`]); `None` makes one.
    pub async fn place_call(
        &self,
        patient: &Patient,
        caller_line: &str,
        attempt: Option<AttemptId>,
        sip_call_id: Option<String>,
        thresholds: AlertThresholds,
        ring_timeout: Option<Duration>,
    ) -> Result<PlacedCall, EngineError> {
        let shared = &self.shared;
        let _in_flight = shared.in_flight.enter();
        let reservation = shared.media.reserve()?;
        let request = DialRequest {
            // Japanese trunks take national numbers; anything else goes as stored (E.164).
            to: crate::store::national_form(&patient.phone)
                .unwrap_or_else(|| patient.phone.clone()),
            caller_line: caller_line.to_string(),
            local_rtp: reservation.local_addr(),
            ring_timeout,
            call_id: sip_call_id,
        };
        tracing::info!(to = %mask_phone(&patient.phone), line = caller_line, "dialling");
        let outcome = shared.sip.dial(request).await?;
        let DialResult::Answered(media) = &outcome.result else {
            return Ok(PlacedCall {
                sip_call_id: outcome.sip_call_id,
                result: outcome.result,
                summary: None,
            });
        };
        let signals = shared.calls.register(outcome.call);
        let (handle, media_events) = match shared.media.start_session(reservation, media) {
            Ok(started) => started,
            Err(e) => {
                shared.calls.unregister(outcome.call);
                let _ = shared.sip.hangup(outcome.call).await;
                return Err(e.into());
            }
        };
        // A language the deployment does not voice falls back to the first one it does
        // (Japanese by default) rather than leaving the patient in silence.
        let lang = if shared.languages.contains(&patient.language) {
            patient.language
        } else {
            shared.languages.first().copied().unwrap_or(Language::Ja)
        };
        let interpreter = Interpreter::outbound(shared.plans.clone(), lang, thresholds);
        let mut reports = CallReports::new(
            shared.report_writer.clone(),
            Channel::AutoCall,
            interpreter.question_set_version(),
            &outcome.sip_call_id,
            attempt,
        );
        reports.set_person(
            0,
            KnownPerson {
                patient: patient.id,
                hersys_id: patient.hersys_id.clone(),
            },
        );
        let summary = CallRunner {
            shared: shared.clone(),
            call: outcome.call,
            caller: None,
            interpreter,
            media: handle,
            media_events,
            signals,
            reports,
        }
        .run()
        .await;
        Ok(PlacedCall {
            sip_call_id: outcome.sip_call_id,
            result: outcome.result,
            summary: Some(summary),
        })
    }

    /// Stops taking new calls (new INVITEs and OPTIONS probes get 503); calls in progress
    /// go on. The dialer is stopped separately.
    pub async fn drain(&self) -> Result<(), EngineError> {
        Ok(self.shared.sip.drain().await?)
    }

    /// Calls in progress (inbound and outbound, answered or not).
    pub fn calls_in_progress(&self) -> usize {
        self.shared.in_flight.count()
    }

    /// Waits until no call is in progress, at most `limit`; true when none is left.
    pub async fn wait_calls_finished(&self, limit: Duration) -> bool {
        self.shared.in_flight.wait_idle(limit).await
    }

    /// Ends every call (BYE) and stops answering. Each call's task then journals what was
    /// keyed ([`Engine::wait_calls_finished`] waits for that); writes still pending stay in
    /// the journal: call [`Engine::close_reports`] last.
    pub async fn shutdown(&self) {
        self.shared.sip.shutdown().await;
    }

    /// Waits up to `deadline` for journaled report writes to land, then stops the writer;
    /// what did not land stays in the spool and is replayed at the next start. Returns
    /// how many writes were left pending. Call once, when no call is running any more.
    pub async fn close_reports(&self, deadline: tokio::time::Instant) -> usize {
        self.shared.report_writer.close(deadline).await
    }

    /// The node's report writer (for `flush` and its counters).
    pub fn report_writer(&self) -> &ReportWriter {
        &self.shared.report_writer
    }

    /// A fresh SIP Call-ID for an outbound call, to record with the attempt before
    /// the INVITE leaves (see [`Engine::place_call`]).
    pub fn new_sip_call_id(&self) -> String {
        self.shared.sip.new_call_id()
    }
}

/// How often the SIP and media counters are copied into the exported metrics.
pub const METRICS_COPY_INTERVAL: Duration = Duration::from_secs(5);

/// Copies the SIP layer's, the media engine's and the report writer's counters into the exported metrics
/// every few seconds, until the engine is gone.
async fn copy_counters(shared: std::sync::Weak<EngineShared>) {
    let mut tick = tokio::time::interval(METRICS_COPY_INTERVAL);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let c = shared.sip.counters();
        shared.metrics.set_sip_errors(
            c.malformed_dropped + c.bad_request_sent + c.send_failures + c.register_failures,
        );
        shared.metrics.set_untrusted_dropped(c.untrusted_dropped);
        shared
            .metrics
            .set_invites_rejected(c.rejected_at_capacity, c.rejected_per_source);
        shared.metrics.set_sip_counters(c);
        let refused = shared.media.stats().rtp_refused.load(Ordering::Relaxed);
        shared.metrics.set_rtp_refused(refused);
        shared
            .metrics
            .set_writer_stats(shared.report_writer.stats());
    }
}

async fn route_sip_events(shared: Arc<EngineShared>, mut events: mpsc::Receiver<SipEvent>) {
    while let Some(event) = events.recv().await {
        if let Some(SipEvent::IncomingCall {
            call,
            sip_call_id,
            caller,
            media,
            ..
        }) = shared.calls.route(event)
        {
            let in_flight = shared.in_flight.enter();
            let signals = shared.calls.register(call);
            let (handle, media_events) = match shared.media.create_inbound_session(&media) {
                Ok(started) => started,
                Err(e) => {
                    tracing::warn!(error = %e, "no media for an incoming call: refusing it");
                    shared.calls.unregister(call);
                    let _ = shared.sip.reject(call, RejectReason::Unavailable).await;
                    continue;
                }
            };
            if let Err(e) = shared.sip.answer(call, handle.local_addr()).await {
                tracing::warn!(error = %e, "cannot answer an incoming call");
                shared.calls.unregister(call);
                continue;
            }
            let interpreter =
                Interpreter::inbound(shared.plans.clone(), AlertThresholds::default());
            let reports = CallReports::new(
                shared.report_writer.clone(),
                Channel::HealthCall,
                interpreter.question_set_version(),
                &sip_call_id,
                None,
            );
            tracing::info!(caller = %mask_phone(&caller), call = call.0, "health-call answered");
            let runner = CallRunner {
                shared: shared.clone(),
                call,
                caller: Some(caller),
                interpreter,
                media: handle,
                media_events,
                signals,
                reports,
            };
            tokio::spawn(async move {
                runner.run().await;
                drop(in_flight);
            });
        }
    }
}
