//! `/metrics` in Prometheus text format. Counts that live in the case store (reports by
//! channel, attempts by outcome and line) are read from it on each scrape; what only the
//! running engine knows is fed into [`Metrics`] (atomics, no locks) by the engine.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::{AdminError, AdminState};
use crate::call::DigitSource;
use crate::sip::SipCountersSnapshot;
use crate::store::WriterStats;

/// Engine-fed gauges and counters. Share one `Arc<Metrics>` between the engine and
/// [`AdminState`].
#[derive(Debug, Default)]
pub struct Metrics {
    calls_in_progress: AtomicI64,
    dtmf_rfc4733: AtomicU64,
    dtmf_inband: AtomicU64,
    dtmf_sip_info: AtomicU64,
    sip_errors: AtomicU64,
    untrusted_dropped: AtomicU64,
    invites_rejected_capacity: AtomicU64,
    invites_rejected_per_source: AtomicU64,
    rtp_refused: AtomicU64,
    planner_lag_ms: AtomicU64,
    /// The SIP layer's and the report writer's own counters, copied whole every few
    /// seconds (one short uncontended lock each, never on a call's path).
    sip: Mutex<SipCountersSnapshot>,
    writer: Mutex<WriterStats>,
}

impl Metrics {
    /// A call (either direction) was answered or accepted.
    pub fn call_started(&self) {
        self.calls_in_progress.fetch_add(1, Ordering::Relaxed);
    }

    /// A call counted by [`Metrics::call_started`] ended.
    pub fn call_ended(&self) {
        self.calls_in_progress.fetch_sub(1, Ordering::Relaxed);
    }

    /// One DTMF digit accepted, by how it arrived.
    pub fn digit(&self, source: DigitSource) {
        let c = match source {
            DigitSource::Rfc4733 => &self.dtmf_rfc4733,
            DigitSource::InBand => &self.dtmf_inband,
            DigitSource::SipInfo => &self.dtmf_sip_info,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A SIP transaction failed (transport error, timeout, unexpected final response).
    pub fn sip_error(&self) {
        self.sip_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The SIP layer's own error total (malformed input, 400s sent, send and REGISTER
    /// failures), copied from its counters.
    pub fn set_sip_errors(&self, total: u64) {
        self.sip_errors.store(total, Ordering::Relaxed);
    }

    /// SIP messages dropped unanswered because their source is not in
    /// `sip.trusted_sources`, copied from the SIP layer's counters.
    pub fn set_untrusted_dropped(&self, total: u64) {
        self.untrusted_dropped.store(total, Ordering::Relaxed);
    }

    /// INVITEs refused with 503: at `max_calls`, and because their source held too many
    /// calls not yet ACKed; copied from the SIP layer's counters.
    pub fn set_invites_rejected(&self, at_capacity: u64, per_source: u64) {
        self.invites_rejected_capacity
            .store(at_capacity, Ordering::Relaxed);
        self.invites_rejected_per_source
            .store(per_source, Ordering::Relaxed);
    }

    /// Valid RTP refused by strict source latching, copied from the media engine.
    pub fn set_rtp_refused(&self, total: u64) {
        self.rtp_refused.store(total, Ordering::Relaxed);
    }

    /// The SIP layer's counters (hostile and oversized input, TCP caps and timeouts).
    pub fn set_sip_counters(&self, c: SipCountersSnapshot) {
        if let Ok(mut s) = self.sip.lock() {
            *s = c;
        }
    }

    /// The report writer's counters (answers pending, landed, retried, set aside).
    pub fn set_writer_stats(&self, w: WriterStats) {
        if let Ok(mut s) = self.writer.lock() {
            *s = w;
        }
    }

    /// How far the dialer's planner is behind its schedule (0 when on time).
    pub fn set_planner_lag(&self, lag: Duration) {
        let ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX);
        self.planner_lag_ms.store(ms, Ordering::Relaxed);
    }

    /// The exposition text, with the store's counts passed in.
    pub fn render(&self, reports: &[(String, i64)], attempts: &[(String, String, i64)]) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP kenkocall_calls_in_progress Calls currently connected.\n\
             # TYPE kenkocall_calls_in_progress gauge\n\
             kenkocall_calls_in_progress {}",
            self.calls_in_progress.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP kenkocall_dtmf_digits_total DTMF digits accepted, by source.\n\
             # TYPE kenkocall_dtmf_digits_total counter\n\
             kenkocall_dtmf_digits_total{{source=\"rfc4733\"}} {}\n\
             kenkocall_dtmf_digits_total{{source=\"inband\"}} {}\n\
             kenkocall_dtmf_digits_total{{source=\"sip_info\"}} {}",
            load(&self.dtmf_rfc4733),
            load(&self.dtmf_inband),
            load(&self.dtmf_sip_info)
        );
        let _ = writeln!(
            out,
            "# HELP kenkocall_sip_errors_total Failed SIP transactions.\n\
             # TYPE kenkocall_sip_errors_total counter\n\
             kenkocall_sip_errors_total {}",
            load(&self.sip_errors)
        );
        let _ = writeln!(
            out,
            "# HELP kenkocall_sip_untrusted_dropped_total SIP messages and connections from sources outside sip.trusted_sources, dropped unanswered.\n\
             # TYPE kenkocall_sip_untrusted_dropped_total counter\n\
             kenkocall_sip_untrusted_dropped_total {}",
            load(&self.untrusted_dropped)
        );
        let _ = writeln!(
            out,
            "# HELP kenkocall_sip_invites_rejected_total INVITEs refused with 503, by reason.\n\
             # TYPE kenkocall_sip_invites_rejected_total counter\n\
             kenkocall_sip_invites_rejected_total{{reason=\"capacity\"}} {}\n\
             kenkocall_sip_invites_rejected_total{{reason=\"per_source\"}} {}",
            load(&self.invites_rejected_capacity),
            load(&self.invites_rejected_per_source)
        );
        let _ = writeln!(
            out,
            "# HELP kenkocall_rtp_refused_packets_total Valid RTP refused by strict source latching (another source, or on probation).\n\
             # TYPE kenkocall_rtp_refused_packets_total counter\n\
             kenkocall_rtp_refused_packets_total {}",
            load(&self.rtp_refused)
        );
        self.render_sip(&mut out);
        self.render_writer(&mut out);
        let _ = writeln!(
            out,
            "# HELP kenkocall_planner_lag_seconds How far the dialer planner is behind.\n\
             # TYPE kenkocall_planner_lag_seconds gauge\n\
             kenkocall_planner_lag_seconds {:.3}",
            load(&self.planner_lag_ms) as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "# HELP kenkocall_reports Health reports in the case store, by channel.\n\
             # TYPE kenkocall_reports gauge"
        );
        for (channel, n) in reports {
            let _ = writeln!(
                out,
                "kenkocall_reports{{channel=\"{}\"}} {n}",
                label(channel)
            );
        }
        let _ = writeln!(
            out,
            "# HELP kenkocall_call_attempts Finished call attempts in the case store, by outcome and caller line.\n\
             # TYPE kenkocall_call_attempts gauge"
        );
        for (outcome, line, n) in attempts {
            let _ = writeln!(
                out,
                "kenkocall_call_attempts{{outcome=\"{}\",line=\"{}\"}} {n}",
                label(outcome),
                label(line)
            );
        }
        out
    }
}

impl Metrics {
    fn render_sip(&self, out: &mut String) {
        let c = self.sip.lock().map(|s| *s).unwrap_or_default();
        let _ = writeln!(
            out,
            "# HELP kenkocall_sip_dropped_total SIP input dropped or cut off, by reason.\n\
             # TYPE kenkocall_sip_dropped_total counter\n\
             kenkocall_sip_dropped_total{{reason=\"malformed\"}} {}\n\
             kenkocall_sip_dropped_total{{reason=\"too_large\"}} {}\n\
             kenkocall_sip_dropped_total{{reason=\"tcp_at_cap\"}} {}\n\
             kenkocall_sip_dropped_total{{reason=\"tcp_timed_out\"}} {}\n\
             kenkocall_sip_dropped_total{{reason=\"tcp_evicted\"}} {}\n\
             kenkocall_sip_dropped_total{{reason=\"events_dropped\"}} {}",
            c.malformed_dropped,
            c.too_large,
            c.tcp_refused_at_cap,
            c.tcp_timed_out,
            c.tcp_evicted,
            c.events_dropped
        );
        let _ = writeln!(
            out,
            "# HELP kenkocall_sip_responses_sent_total SIP error responses we sent, by class.\n\
             # TYPE kenkocall_sip_responses_sent_total counter\n\
             kenkocall_sip_responses_sent_total{{class=\"4xx\"}} {}\n\
             kenkocall_sip_responses_sent_total{{class=\"5xx\"}} {}\n\
             # HELP kenkocall_sip_unknown_number_total INVITEs for a number that is not ours (404).\n\
             # TYPE kenkocall_sip_unknown_number_total counter\n\
             kenkocall_sip_unknown_number_total {}\n\
             # HELP kenkocall_sip_send_failures_total Messages the transport failed to send.\n\
             # TYPE kenkocall_sip_send_failures_total counter\n\
             kenkocall_sip_send_failures_total {}\n\
             # HELP kenkocall_sip_register_failures_total REGISTERs to the trunk refused or unanswered.\n\
             # TYPE kenkocall_sip_register_failures_total counter\n\
             kenkocall_sip_register_failures_total {}",
            c.responses_4xx_sent,
            c.responses_5xx_sent,
            c.unknown_number,
            c.send_failures,
            c.register_failures
        );
    }

    fn render_writer(&self, out: &mut String) {
        let w = self.writer.lock().map(|s| *s).unwrap_or_default();
        let _ = writeln!(
            out,
            "# HELP kenkocall_report_writes_pending Keyed answers accepted and not yet in the case store.\n\
             # TYPE kenkocall_report_writes_pending gauge\n\
             kenkocall_report_writes_pending {}\n\
             # HELP kenkocall_report_writes_total Answer writes by what became of them.\n\
             # TYPE kenkocall_report_writes_total counter\n\
             kenkocall_report_writes_total{{result=\"landed\"}} {}\n\
             kenkocall_report_writes_total{{result=\"retried\"}} {}\n\
             kenkocall_report_writes_total{{result=\"set_aside\"}} {}\n\
             kenkocall_report_writes_total{{result=\"replayed\"}} {}\n\
             # HELP kenkocall_report_spool_errors_total Spool appends that failed (the write then held in memory only).\n\
             # TYPE kenkocall_report_spool_errors_total counter\n\
             kenkocall_report_spool_errors_total {}",
            w.pending, w.landed, w.retries, w.set_aside, w.replayed, w.spool_errors
        );
    }
}

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(super) async fn handler(
    State(state): State<AdminState>,
) -> Result<impl IntoResponse, AdminError> {
    let reports = state.store.count_reports_by_channel().await?;
    let attempts = state.store.count_attempts_by_outcome_and_line().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&reports, &attempts),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_hooks_show_in_the_exposition() {
        let m = Metrics::default();
        m.call_started();
        m.call_started();
        m.call_ended();
        m.digit(DigitSource::InBand);
        m.digit(DigitSource::InBand);
        m.digit(DigitSource::SipInfo);
        m.sip_error();
        m.set_planner_lag(Duration::from_millis(1500));
        m.set_untrusted_dropped(7);
        m.set_sip_counters(SipCountersSnapshot {
            too_large: 3,
            tcp_refused_at_cap: 2,
            responses_5xx_sent: 9,
            ..Default::default()
        });
        m.set_writer_stats(WriterStats {
            pending: 5,
            landed: 11,
            retries: 4,
            ..Default::default()
        });
        let text = m.render(
            &[("auto_call".into(), 4)],
            &[("no_answer".into(), "+815031980215".into(), 2)],
        );
        assert!(text.contains("kenkocall_calls_in_progress 1\n"));
        assert!(text.contains("kenkocall_dtmf_digits_total{source=\"inband\"} 2\n"));
        assert!(text.contains("kenkocall_dtmf_digits_total{source=\"sip_info\"} 1\n"));
        assert!(text.contains("kenkocall_dtmf_digits_total{source=\"rfc4733\"} 0\n"));
        assert!(text.contains("kenkocall_sip_errors_total 1\n"));
        assert!(text.contains("kenkocall_sip_untrusted_dropped_total 7\n"));
        assert!(text.contains("kenkocall_planner_lag_seconds 1.500\n"));
        assert!(text.contains("kenkocall_sip_dropped_total{reason=\"too_large\"} 3\n"));
        assert!(text.contains("kenkocall_sip_dropped_total{reason=\"tcp_at_cap\"} 2\n"));
        assert!(text.contains("kenkocall_sip_responses_sent_total{class=\"5xx\"} 9\n"));
        assert!(text.contains("kenkocall_report_writes_pending 5\n"));
        assert!(text.contains("kenkocall_report_writes_total{result=\"landed\"} 11\n"));
        assert!(text.contains("kenkocall_report_writes_total{result=\"retried\"} 4\n"));
        assert!(text.contains("kenkocall_reports{channel=\"auto_call\"} 4\n"));
        assert!(
            text.contains(
                "kenkocall_call_attempts{outcome=\"no_answer\",line=\"+815031980215\"} 2\n"
            )
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
