//! SDP offer/answer (RFC 3264) for one G.711 audio stream: pure functions, no I/O.
//!
//! We accept PCMU/PCMA and telephone-event on whatever payload type the peer numbered it,
//! choose the first of the peer's codecs we speak (its preference order), and always
//! send 20 ms packets.

use std::net::{IpAddr, SocketAddr};

use crate::call::{Codec, NegotiatedMedia};

/// Our packetisation time, always.
pub const PTIME_MS: u32 = 20;
/// The telephone-event payload type we offer on outbound calls.
pub const OFFER_TELEPHONE_EVENT_PT: u8 = 101;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP is not UTF-8 text")]
    NotText,
    #[error("SDP has no audio stream (m=audio)")]
    NoAudio,
    #[error("SDP has no connection address (c=) for the audio stream")]
    NoConnection,
    #[error("SDP line is malformed: {0}")]
    Malformed(String),
    /// Offer/answer failed: the caller gets 488 Not Acceptable Here.
    #[error("no codec in common (we speak PCMU and PCMA)")]
    NoCommonCodec,
    /// The audio stream is offered with port 0 (disabled): 488 as well.
    #[error("the audio stream is disabled (port 0)")]
    AudioDisabled,
}

/// Media direction (RFC 3264 §5.1); hold is signalled with sendonly or inactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction we answer with (the mirror of the peer's).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }
}

/// The audio stream of a peer's offer or answer, as far as we need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDescription {
    pub remote_rtp: SocketAddr,
    /// Payload types in the peer's preference order, as listed on the m= line.
    pub payload_types: Vec<u8>,
    /// `a=rtpmap` encodings by payload type, lower-cased name and clock rate.
    pub rtpmaps: Vec<(u8, String, u32)>,
    pub ptime_ms: Option<u32>,
    pub direction: Direction,
    /// Every m= line of the description, in order; an answer has the same lines
    /// (RFC 3264 §6), the ones we do not take with port 0.
    pub streams: Vec<MediaLine>,
    /// Which of `streams` is the audio stream described here.
    pub audio_index: usize,
}

/// One m= line as offered: media kind, transport protocol and first format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLine {
    pub kind: String,
    pub proto: String,
    pub format: String,
}

impl AudioDescription {
    /// Hold per RFC 3264 §8.4 (and the older RFC 2543 `c=0.0.0.0`).
    pub fn is_hold(&self) -> bool {
        matches!(self.direction, Direction::SendOnly | Direction::Inactive)
            || self.remote_rtp.ip().is_unspecified()
    }

    fn encoding(&self, pt: u8) -> Option<(&str, u32)> {
        self.rtpmaps
            .iter()
            .find(|(p, _, _)| *p == pt)
            .map(|(_, n, r)| (n.as_str(), *r))
    }

    fn codec_of(&self, pt: u8) -> Option<Codec> {
        match self.encoding(pt) {
            Some(("pcmu", 8000)) => Some(Codec::Pcmu),
            Some(("pcma", 8000)) => Some(Codec::Pcma),
            Some(_) => None,
            // Static payload types need no rtpmap (RFC 3551).
            None => match pt {
                0 => Some(Codec::Pcmu),
                8 => Some(Codec::Pcma),
                _ => None,
            },
        }
    }

    /// Codec by the peer's preference, telephone-event on the peer's PT.
    pub fn negotiate(&self) -> Result<NegotiatedMedia, SdpError> {
        if self.remote_rtp.port() == 0 {
            return Err(SdpError::AudioDisabled);
        }
        let codec = self
            .payload_types
            .iter()
            .find_map(|pt| self.codec_of(*pt))
            .ok_or(SdpError::NoCommonCodec)?;
        let telephone_event_pt = self
            .payload_types
            .iter()
            .copied()
            .find(|pt| matches!(self.encoding(*pt), Some(("telephone-event", 8000))));
        Ok(NegotiatedMedia {
            codec,
            telephone_event_pt,
            remote_rtp: self.remote_rtp,
            ptime_ms: PTIME_MS,
        })
    }
}

/// Parses the first audio stream of an SDP body (offer or answer).
pub fn parse(body: &[u8]) -> Result<AudioDescription, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let mut session_addr: Option<IpAddr> = None;
    let mut session_dir = Direction::SendRecv;
    let mut audio: Option<(u16, Vec<u8>)> = None;
    let mut media_addr: Option<IpAddr> = None;
    let mut media_dir: Option<Direction> = None;
    let mut rtpmaps = Vec::new();
    let mut ptime = None;
    let mut streams = Vec::new();
    let mut audio_index = 0;
    // Past the first audio stream's section, other m= sections are only listed.
    let mut section = Section::Session;

    for line in text.lines() {
        let line = line.trim_end();
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match (kind, &section) {
            ("m", _) => {
                let mut it = value.split_ascii_whitespace();
                let kind = it.next().unwrap_or_default();
                let port = it.next().unwrap_or_default();
                let proto = it.next().unwrap_or_default();
                let formats: Vec<&str> = it.collect();
                streams.push(MediaLine {
                    kind: kind.to_string(),
                    proto: proto.to_string(),
                    format: formats.first().copied().unwrap_or("0").to_string(),
                });
                if kind == "audio" && audio.is_none() {
                    let port = port
                        .split('/')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok())
                        .ok_or_else(|| SdpError::Malformed(line.to_string()))?;
                    let pts = formats
                        .iter()
                        .filter_map(|p| p.parse::<u8>().ok())
                        .collect();
                    audio = Some((port, pts));
                    audio_index = streams.len() - 1;
                    section = Section::Audio;
                } else {
                    section = Section::Other;
                }
            }
            ("c", Section::Session) => session_addr = Some(parse_connection(value, line)?),
            ("c", Section::Audio) => media_addr = Some(parse_connection(value, line)?),
            ("a", Section::Session) => {
                if let Some(d) = parse_direction(value) {
                    session_dir = d;
                }
            }
            ("a", Section::Audio) => {
                if let Some(d) = parse_direction(value) {
                    media_dir = Some(d);
                } else if let Some(map) = value.strip_prefix("rtpmap:") {
                    if let Some(entry) = parse_rtpmap(map) {
                        rtpmaps.push(entry);
                    }
                } else if let Some(p) = value.strip_prefix("ptime:") {
                    ptime = p.trim().parse().ok();
                }
            }
            _ => {}
        }
    }
    let (port, payload_types) = audio.ok_or(SdpError::NoAudio)?;
    let ip = media_addr.or(session_addr).ok_or(SdpError::NoConnection)?;
    Ok(AudioDescription {
        remote_rtp: SocketAddr::new(ip, port),
        payload_types,
        rtpmaps,
        ptime_ms: ptime,
        direction: media_dir.unwrap_or(session_dir),
        streams,
        audio_index,
    })
}

enum Section {
    Session,
    Audio,
    Other,
}

fn parse_connection(value: &str, line: &str) -> Result<IpAddr, SdpError> {
    let mut it = value.split_ascii_whitespace();
    let (Some("IN"), Some(_), Some(addr)) = (it.next(), it.next(), it.next()) else {
        return Err(SdpError::Malformed(line.to_string()));
    };
    // Multicast TTL suffix (`224.2.1.1/127`) is not for us, but must not break parsing.
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse()
        .map_err(|_| SdpError::Malformed(line.to_string()))
}

fn parse_direction(value: &str) -> Option<Direction> {
    match value.trim() {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    }
}

fn parse_rtpmap(map: &str) -> Option<(u8, String, u32)> {
    let (pt, enc) = map.split_once(' ')?;
    let mut parts = enc.trim().split('/');
    let name = parts.next()?.to_ascii_lowercase();
    let rate = parts.next()?.parse().ok()?;
    Some((pt.trim().parse().ok()?, name, rate))
}

/// The `o=` identity of our side of one session; the version rises with every new
/// description we send in it (RFC 3264 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpOrigin {
    pub session_id: u64,
    pub version: u64,
}

impl SdpOrigin {
    pub fn new(session_id: u64) -> Self {
        Self {
            session_id,
            version: 1,
        }
    }

    /// The origin for the next description in this session.
    pub fn next(self) -> Self {
        Self {
            version: self.version + 1,
            ..self
        }
    }
}

/// Our answer: the negotiated codec plus telephone-event on the peer's payload type,
/// with every other stream of the `offer` refused (port 0) in its place. Without an
/// offer (a refresh we answer with an offer of our own) only the audio stream is listed.
pub fn answer(
    offer: Option<&AudioDescription>,
    media: &NegotiatedMedia,
    local_rtp: SocketAddr,
    origin: SdpOrigin,
    direction: Direction,
) -> String {
    let codec_pt = media.codec.payload_type();
    let mut pts = vec![(codec_pt, codec_name(media.codec))];
    if let Some(te) = media.telephone_event_pt {
        pts.push((te, "telephone-event/8000"));
    }
    let (before, after) = match offer {
        Some(o) => {
            let (b, a) = o.streams.split_at(o.audio_index.min(o.streams.len()));
            (b, a.get(1..).unwrap_or(&[]))
        }
        None => (&[][..], &[][..]),
    };
    render(local_rtp, origin, &pts, direction, (before, after))
}

/// Our offer for outbound calls: PCMU, PCMA, telephone-event.
pub fn offer(local_rtp: SocketAddr, origin: SdpOrigin) -> String {
    render(
        local_rtp,
        origin,
        &[
            (0, "PCMU/8000"),
            (8, "PCMA/8000"),
            (OFFER_TELEPHONE_EVENT_PT, "telephone-event/8000"),
        ],
        Direction::SendRecv,
        (&[], &[]),
    )
}

/// Reads the peer's answer to our offer; it must pick one of the codecs we offered.
pub fn read_answer(body: &[u8]) -> Result<NegotiatedMedia, SdpError> {
    parse(body)?.negotiate()
}

fn codec_name(codec: Codec) -> &'static str {
    match codec {
        Codec::Pcmu => "PCMU/8000",
        Codec::Pcma => "PCMA/8000",
    }
}

/// Streams we refuse, before and after our audio stream.
type Refused<'a> = (&'a [MediaLine], &'a [MediaLine]);

fn render(
    local_rtp: SocketAddr,
    origin: SdpOrigin,
    pts: &[(u8, &str)],
    direction: Direction,
    (before, after): Refused<'_>,
) -> String {
    let ip = local_rtp.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let list: Vec<String> = pts.iter().map(|(pt, _)| pt.to_string()).collect();
    let refuse = |m: &MediaLine| format!("m={} 0 {} {}\r\n", m.kind, m.proto, m.format);
    let mut sdp = format!(
        "v=0\r\no=kenkocall {} {} IN {family} {ip}\r\ns=kenkocall\r\nc=IN {family} {ip}\r\nt=0 0\r\n",
        origin.session_id, origin.version,
    );
    before.iter().for_each(|m| sdp.push_str(&refuse(m)));
    sdp.push_str(&format!(
        "m=audio {} RTP/AVP {}\r\n",
        local_rtp.port(),
        list.join(" ")
    ));
    for (pt, enc) in pts {
        sdp.push_str(&format!("a=rtpmap:{pt} {enc}\r\n"));
        if enc.starts_with("telephone-event") {
            sdp.push_str(&format!("a=fmtp:{pt} 0-16\r\n"));
        }
    }
    sdp.push_str(&format!(
        "a=ptime:{PTIME_MS}\r\na={}\r\n",
        direction.attribute()
    ));
    after.iter().for_each(|m| sdp.push_str(&refuse(m)));
    sdp
}

#[cfg(test)]
#[path = "sdp_tests.rs"]
mod tests;
