//! Simulated phones behind a loopback "trunk": a second [`SipEndpoint`] that answers the
//! patients' numbers, with a [`MediaEngine`] session per call that keys a script as
//! in-band DTMF audio. It can also place a call to the engine (a patient dialling the
//! health-call line). Everything goes over real SIP and RTP on 127.0.0.1.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::DemoError;
use super::tones::{KeyStep, script_audio};
use crate::config::{SipConfig, TrunkConfig};
use crate::media::{EngineConfig, MediaEngine, MediaEvent, MediaHandle, Prompt};
use crate::sip::{CallRef, DialRequest, DialResult, RejectReason, SipEndpoint, SipEvent};

/// How one simulated phone behaves when called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneBehaviour {
    /// Answers and keys the script.
    Answer(Vec<KeyStep>),
    /// Busy (486) the first time, then answers and keys the script.
    BusyThenAnswer(Vec<KeyStep>),
    /// Rings until the caller gives up.
    NeverAnswer,
}

/// Time after answering before the first key (the engine's media and IVR start).
const SETTLE: Duration = Duration::from_millis(800);
/// A phone hangs up by itself after this long, whatever the engine does.
const LONGEST_CALL: Duration = Duration::from_secs(120);

struct Inner {
    sip: SipEndpoint,
    media: MediaEngine,
    phones: HashMap<String, PhoneBehaviour>,
    calls_seen: Mutex<HashMap<String, u32>>,
    ended: Mutex<HashMap<CallRef, oneshot::Sender<()>>>,
}

#[derive(Clone)]
pub struct SimulatedPhones {
    inner: Arc<Inner>,
}

impl SimulatedPhones {
    /// Starts the phones' SIP on `listen`, sending their own calls to `trunk_uri` (the
    /// engine), with RTP on `rtp_ports`. `phones` maps national numbers to behaviours.
    pub async fn start(
        listen: SocketAddr,
        rtp_ports: &str,
        trunk_uri: String,
        phones: HashMap<String, PhoneBehaviour>,
    ) -> Result<SimulatedPhones, DemoError> {
        let media = MediaEngine::start(EngineConfig {
            port_range: rtp_ports.to_string(),
            realtime: false,
            shards: 1,
            ..EngineConfig::default()
        })?;
        let sip_cfg = SipConfig {
            listen,
            inbound_numbers: phones.keys().cloned().collect(),
            rtp_ports: rtp_ports.to_string(),
            max_calls: 100,
            // Every call comes from the engine under test: one source.
            max_unconfirmed_calls_per_source: 100,
            ring_timeout_secs: 30,
            ..SipConfig::default()
        };
        let trunk = TrunkConfig {
            uri: trunk_uri,
            channels: 100,
            ..TrunkConfig::default()
        };
        let (sip, events) = SipEndpoint::start(&sip_cfg, &trunk).await?;
        let inner = Arc::new(Inner {
            sip,
            media,
            phones,
            calls_seen: Mutex::new(HashMap::new()),
            ended: Mutex::new(HashMap::new()),
        });
        tokio::spawn(route(inner.clone(), events));
        Ok(SimulatedPhones { inner })
    }

    pub fn sip_addr(&self) -> SocketAddr {
        self.inner.sip.local_addr()
    }

    /// How many INVITEs reached `number`.
    pub fn calls_to(&self, number: &str) -> u32 {
        let seen = self.inner.calls_seen.lock().map(|m| m.get(number).copied());
        seen.ok().flatten().unwrap_or(0)
    }

    /// Dials `to` through the trunk (the engine) from `from`; if answered, keys `script`
    /// and waits for the engine to hang up. Returns the SIP result's label.
    pub async fn call(
        &self,
        to: &str,
        from: &str,
        script: Vec<KeyStep>,
    ) -> Result<&'static str, DemoError> {
        let inner = &self.inner;
        let reservation = inner.media.reserve()?;
        let outcome = inner
            .sip
            .dial(DialRequest {
                to: to.to_string(),
                caller_line: from.to_string(),
                local_rtp: reservation.local_addr(),
                ring_timeout: Some(Duration::from_secs(10)),
                call_id: None,
            })
            .await?;
        let label = outcome.result.label();
        if let DialResult::Answered(media) = &outcome.result {
            let ended = waiter(inner, outcome.call);
            let (handle, events) = inner.media.start_session(reservation, media)?;
            converse(inner, outcome.call, handle, events, &script, ended).await;
        }
        Ok(label)
    }

    pub async fn shutdown(&self) {
        self.inner.sip.shutdown().await;
    }
}

fn waiter(inner: &Inner, call: CallRef) -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    if let Ok(mut m) = inner.ended.lock() {
        m.insert(call, tx);
    }
    rx
}

async fn route(inner: Arc<Inner>, mut events: mpsc::Receiver<SipEvent>) {
    while let Some(event) = events.recv().await {
        match event {
            SipEvent::IncomingCall {
                call,
                callee,
                media,
                ..
            } => {
                let number = crate::store::national_form(&callee).unwrap_or(callee);
                let n = match inner.calls_seen.lock() {
                    Ok(mut m) => {
                        let n = m.entry(number.clone()).or_insert(0);
                        *n += 1;
                        *n
                    }
                    Err(_) => 1,
                };
                let script = match inner.phones.get(&number) {
                    Some(PhoneBehaviour::Answer(s)) => s.clone(),
                    Some(PhoneBehaviour::BusyThenAnswer(s)) if n > 1 => s.clone(),
                    Some(PhoneBehaviour::BusyThenAnswer(_)) => {
                        let _ = inner.sip.reject(call, RejectReason::Busy).await;
                        continue;
                    }
                    Some(PhoneBehaviour::NeverAnswer) => continue,
                    None => {
                        let _ = inner.sip.reject(call, RejectReason::Decline).await;
                        continue;
                    }
                };
                let ended = waiter(&inner, call);
                let inner = inner.clone();
                tokio::spawn(async move {
                    let Ok((handle, events)) = inner.media.create_session(&media) else {
                        let _ = inner.sip.reject(call, RejectReason::Unavailable).await;
                        return;
                    };
                    if inner.sip.answer(call, handle.local_addr()).await.is_ok() {
                        converse(&inner, call, handle, events, &script, ended).await;
                    }
                });
            }
            SipEvent::CallEnded { call, .. } => {
                let tx = inner.ended.lock().ok().and_then(|mut m| m.remove(&call));
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
            }
            SipEvent::MediaChanged { .. }
            | SipEvent::Digit { .. }
            | SipEvent::CallConfirmed { .. } => {}
        }
    }
}

/// Keys the script, then stays on the line until the far end hangs up.
async fn converse(
    inner: &Inner,
    call: CallRef,
    media: MediaHandle,
    mut events: tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
    script: &[KeyStep],
    ended: oneshot::Receiver<()>,
) {
    // What the engine says is not listened to; only drained.
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    tokio::time::sleep(SETTLE).await;
    let _ = media.play(vec![Prompt::from_samples(&script_audio(script))]);
    if tokio::time::timeout(LONGEST_CALL, ended).await.is_err() {
        let _ = inner.sip.hangup(call).await;
    }
    drain.abort();
    media.close();
}
