//! Runs the parts together: SIP signalling, media, the IVR and the case store. Inbound
//! calls to the health-call line are answered here; outbound calls are placed by
//! [`Engine::place_call`] for the dialer. Each call is one task running a
//! [`call_runner::CallRunner`].

pub mod answers;
pub mod call_runner;
pub mod identity;
pub mod registry;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::admin::Metrics;
use crate::config::Config;
use crate::ivr::{Dialplans, Interpreter, IvrError};
use crate::media::{EngineConfig, MediaEngine, MediaError, PromptError, PromptLibrary};
use crate::privacy::mask_phone;
use crate::sip::{DialRequest, DialResult, RejectReason, SipEndpoint, SipError, SipEvent};
use crate::store::{AlertThresholds, AttemptId, Channel, Language, Patient, Store};
use answers::{CallReports, KnownPerson};
use call_runner::{CallRunner, CallSummary};
use identity::LockoutPolicy;
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
}

/// What every call task needs; shared read-only.
pub struct EngineShared {
    pub store: Store,
    pub sip: SipEndpoint,
    pub media: MediaEngine,
    pub plans: Arc<Dialplans>,
    pub prompts: PromptLibrary,
    pub lockout: LockoutPolicy,
    pub calls: CallRegistry,
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
        let (sip, events) = SipEndpoint::start(&cfg.sip, &cfg.trunk).await?;
        let shared = Arc::new(EngineShared {
            store,
            sip,
            media,
            plans,
            prompts,
            lockout: LockoutPolicy::default(),
            calls: CallRegistry::default(),
            languages: cfg.ivr.languages.clone(),
            metrics: Arc::new(Metrics::default()),
        });
        tokio::spawn(route_sip_events(shared.clone(), events));
        tokio::spawn(copy_sip_errors(Arc::downgrade(&shared)));
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
    /// language. Returns once the call is over.
    pub async fn place_call(
        &self,
        patient: &Patient,
        caller_line: &str,
        attempt: Option<AttemptId>,
        thresholds: AlertThresholds,
        ring_timeout: Option<Duration>,
    ) -> Result<PlacedCall, EngineError> {
        let shared = &self.shared;
        let reservation = shared.media.reserve()?;
        let request = DialRequest {
            // Japanese trunks take national numbers; anything else goes as stored (E.164).
            to: crate::store::national_form(&patient.phone)
                .unwrap_or_else(|| patient.phone.clone()),
            caller_line: caller_line.to_string(),
            local_rtp: reservation.local_addr(),
            ring_timeout,
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
            shared.store.clone(),
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

    /// Ends every call (BYE) and stops answering.
    pub async fn shutdown(&self) {
        self.shared.sip.shutdown().await;
    }
}

/// Copies the SIP layer's error counters into the exported metrics every few seconds,
/// until the engine is gone.
async fn copy_sip_errors(shared: std::sync::Weak<EngineShared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
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
            let signals = shared.calls.register(call);
            let (handle, media_events) = match shared.media.create_session(&media) {
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
                shared.store.clone(),
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
            tokio::spawn(runner.run());
        }
    }
}
