//! The digit schedule both processes agree on: phone `i` presses a key every second (staggered
//! by phone), each press a 100 ms RFC 4733 event (5 updates + 3 end packets), none in the
//! last second so every press completes before the run ends.

pub const FRAME_MS: u64 = 20;
pub const TE_PT: u8 = 101;
/// Frames ignored by the pacing measurement while calls are being set up.
pub const WARMUP_FRAMES: u64 = 100;
const PERIOD: u64 = 50;
const EVENT_PACKETS: u64 = 8;
const KEYS: &[u8; 12] = b"0123456789*#";

pub struct EventPacket {
    pub payload: [u8; 4],
    pub marker: bool,
    pub first_end_packet: bool,
    pub frames_into_event: u32,
}

fn first_frame(call: usize) -> u64 {
    PERIOD + (call as u64 % PERIOD)
}

fn last_start(total_frames: u64) -> u64 {
    total_frames.saturating_sub(PERIOD + EVENT_PACKETS)
}

pub fn event_at(call: usize, frame: u64, total_frames: u64) -> Option<EventPacket> {
    let start0 = first_frame(call);
    let rel = frame.checked_sub(start0)?;
    let (k, j) = (rel / PERIOD, rel % PERIOD);
    if j >= EVENT_PACKETS || start0 + k * PERIOD > last_start(total_frames) {
        return None;
    }
    let code = ((call as u64 + k) % 12) as u8;
    let end = j >= 5;
    let duration = (j.min(4) as u16 + 1) * 160;
    let d = duration.to_be_bytes();
    Some(EventPacket {
        payload: [code, if end { 0x8A } else { 0x0A }, d[0], d[1]],
        marker: j == 0,
        first_end_packet: j == 5,
        frames_into_event: j as u32,
    })
}

/// The keys phone `call` presses in a run of `total_frames`.
pub fn expected(call: usize, total_frames: u64) -> String {
    let start0 = first_frame(call);
    (0..)
        .map(|k| (k, start0 + k * PERIOD))
        .take_while(|(_, s)| *s <= last_start(total_frames))
        .map(|(k, _)| char::from(KEYS[((call as u64 + k) % 12) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_keys_match_the_events_the_generator_sends() {
        let total = 750;
        for call in [0usize, 7, 49, 50, 2599] {
            let mut keys = String::new();
            for frame in 0..total {
                if let Some(ev) = event_at(call, frame, total)
                    && ev.marker
                {
                    keys.push(char::from(KEYS[usize::from(ev.payload[0])]));
                    // Every started event completes within the run.
                    assert!(
                        event_at(call, frame + 7, total).is_some_and(|e| e.payload[1] & 0x80 != 0)
                    );
                }
            }
            assert_eq!(keys, expected(call, total), "call {call}");
            assert!(keys.len() >= 12);
        }
    }
}
