//! RFC 4733 telephone-event decoding: one event (one RTP timestamp) is one digit, however many
//! packets carry it (duration updates, volume changes, the three end packets, retransmissions)
//! and whichever of them are lost.

/// How many recent event timestamps we remember to recognise late retransmissions.
const HISTORY: usize = 8;
/// A segment this long (in samples) may be followed by a continuation segment (RFC 4733 §2.5.1.3).
const LONG_EVENT_SEGMENT: u16 = 0x8000;

/// Maps an RFC 4733 event code to its key (0-9, *, #, A-D); other events are not digits.
pub fn event_key(code: u8) -> Option<char> {
    match code {
        0..=9 => Some(char::from(b'0' + code)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + code - 12)),
        _ => None,
    }
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub code: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event of a payload; `None` if shorter than 4 bytes.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let [code, flags, d0, d1, ..] = *payload else {
            return None;
        };
        Some(Self {
            code,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }
}

/// Turns the telephone-event packets of one stream into digits.
#[derive(Debug, Default)]
pub struct TelephoneEventDecoder {
    /// Timestamps of events already reported, newest last.
    seen: [Option<u32>; HISTORY],
    next: usize,
    /// The event in progress: (timestamp, code, ended).
    current: Option<(u32, u8, bool)>,
    /// Longest duration seen for the event in progress.
    current_duration: u16,
}

impl TelephoneEventDecoder {
    /// Feeds one telephone-event packet; returns the key when it starts a new event.
    pub fn on_packet(&mut self, timestamp: u32, marker: bool, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::parse(payload)?;
        let key = event_key(event.code)?;
        if self.seen.contains(&Some(timestamp)) {
            if let Some((ts, _, ended)) = &mut self.current
                && *ts == timestamp
            {
                *ended |= event.end;
                self.current_duration = self.current_duration.max(event.duration);
            }
            return None;
        }
        // RFC 4733 §2.5.1.3: a long event is split into segments with new timestamps and no
        // marker once the duration field is about to overflow; such a segment of the same
        // unfinished event is not a new digit.
        let continues = matches!(self.current, Some((_, code, false)) if code == event.code)
            && !marker
            && self.current_duration >= LONG_EVENT_SEGMENT;
        self.remember(timestamp);
        self.current = Some((timestamp, event.code, event.end));
        self.current_duration = event.duration;
        if continues { None } else { Some(key) }
    }

    fn remember(&mut self, timestamp: u32) {
        self.seen[self.next] = Some(timestamp);
        self.next = (self.next + 1) % HISTORY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: u8, end: bool, volume: u8, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [code, if end { 0x80 } else { 0 } | volume, d[0], d[1]]
    }

    /// A well-behaved sender: marker on the first packet, duration updates, three end packets.
    fn press(dec: &mut TelephoneEventDecoder, ts: u32, code: u8, updates: u16) -> Vec<char> {
        let mut out = Vec::new();
        for i in 0..updates {
            out.extend(dec.on_packet(ts, i == 0, &ev(code, false, 10, 160 * (i + 1))));
        }
        for _ in 0..3 {
            out.extend(dec.on_packet(ts, false, &ev(code, true, 10, 160 * (updates + 1))));
        }
        out
    }

    #[test]
    fn star_three_six_five_gives_four_digits() {
        let mut dec = TelephoneEventDecoder::default();
        let mut keys = Vec::new();
        for (i, code) in [10u8, 3, 6, 5].into_iter().enumerate() {
            keys.extend(press(&mut dec, 1000 + 1600 * i as u32, code, 5));
        }
        assert_eq!(keys, vec!['*', '3', '6', '5']);
    }

    #[test]
    fn lost_first_packet_still_gives_the_digit_once() {
        let mut dec = TelephoneEventDecoder::default();
        let mut keys = Vec::new();
        for i in 1..4u16 {
            keys.extend(dec.on_packet(500, false, &ev(7, false, 10, 160 * i)));
        }
        keys.extend(dec.on_packet(500, false, &ev(7, true, 10, 800)));
        assert_eq!(keys, vec!['7']);
    }

    #[test]
    fn only_end_packets_arrive_gives_the_digit_once() {
        let mut dec = TelephoneEventDecoder::default();
        let keys: Vec<char> = (0..3)
            .filter_map(|_| dec.on_packet(900, false, &ev(11, true, 10, 800)))
            .collect();
        assert_eq!(keys, vec!['#']);
    }

    #[test]
    fn lost_end_packets_then_next_digit_gives_both() {
        let mut dec = TelephoneEventDecoder::default();
        let mut keys = Vec::new();
        keys.extend(dec.on_packet(100, true, &ev(1, false, 10, 160)));
        keys.extend(dec.on_packet(100, false, &ev(1, false, 10, 320)));
        // End packets lost; the next press is the same key with a new timestamp and a marker.
        keys.extend(press(&mut dec, 2000, 1, 3));
        assert_eq!(keys, vec!['1', '1']);
    }

    #[test]
    fn long_press_with_volume_updates_is_one_digit() {
        let mut dec = TelephoneEventDecoder::default();
        let mut keys = Vec::new();
        for i in 0..400u16 {
            keys.extend(dec.on_packet(42, i == 0, &ev(9, false, (i % 30) as u8, 160 * (i + 1))));
        }
        // Duration overflow: the sender starts a new segment (new timestamp, no marker).
        keys.extend(dec.on_packet(42 + 64000, false, &ev(9, false, 10, 160)));
        keys.extend(dec.on_packet(42 + 64000, false, &ev(9, true, 10, 320)));
        assert_eq!(keys, vec!['9']);
    }

    #[test]
    fn lost_end_and_lost_start_of_a_repeated_key_still_gives_two_digits() {
        let mut dec = TelephoneEventDecoder::default();
        let mut keys = Vec::new();
        keys.extend(dec.on_packet(100, true, &ev(3, false, 10, 160)));
        keys.extend(dec.on_packet(100, false, &ev(3, false, 10, 320)));
        keys.extend(dec.on_packet(1800, false, &ev(3, false, 10, 480)));
        keys.extend(dec.on_packet(1800, false, &ev(3, true, 10, 800)));
        assert_eq!(keys, vec!['3', '3']);
    }

    #[test]
    fn late_retransmission_of_an_old_event_is_not_a_new_digit() {
        let mut dec = TelephoneEventDecoder::default();
        let mut keys = press(&mut dec, 100, 2, 2);
        keys.extend(press(&mut dec, 1700, 4, 2));
        keys.extend(dec.on_packet(100, false, &ev(2, true, 10, 480)));
        assert_eq!(keys, vec!['2', '4']);
    }

    #[test]
    fn same_key_pressed_twice_gives_two_digits() {
        let mut dec = TelephoneEventDecoder::default();
        let mut keys = press(&mut dec, 100, 5, 3);
        keys.extend(press(&mut dec, 1700, 5, 3));
        assert_eq!(keys, vec!['5', '5']);
    }

    #[test]
    fn short_payloads_and_non_digit_events_are_ignored() {
        let mut dec = TelephoneEventDecoder::default();
        assert_eq!(dec.on_packet(1, true, &[1, 2, 3]), None);
        assert_eq!(dec.on_packet(2, true, &ev(16, false, 10, 160)), None); // flash
        assert_eq!(dec.on_packet(3, true, &[]), None);
        assert_eq!(dec.on_packet(4, true, &ev(0, false, 10, 160)), Some('0'));
    }

    #[test]
    fn event_codes_map_to_keys() {
        let keys: String = (0..=16).filter_map(event_key).collect();
        assert_eq!(keys, "0123456789*#ABCD");
    }
}
