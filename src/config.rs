//! The one TOML configuration file. Every key has a default, so no file is needed;
//! unknown keys are refused with their name (serde's `deny_unknown_fields`), because a
//! misspelt key silently ignored is how a trunk ends up dialled with the wrong settings.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cidr::Cidr;
use crate::sip::numbers::{CalledNumberSource, NumberFormat};
use crate::store::Language;

/// Where the configuration came from and why it was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub sip: SipConfig,
    pub trunk: TrunkConfig,
    pub caller_lines: Vec<CallerLine>,
    pub http: HttpConfig,
    pub media: MediaConfig,
    pub ivr: IvrConfig,
    /// How `serve` stops (SIGTERM, SIGINT, `kenkocall drain`).
    pub node: NodeConfig,
    /// Engine-wide dialer knobs; per-centre values live in the case store.
    pub dialer: crate::dialer::DialerSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` (embedded default) or `postgres://user@host/db`.
    pub url: String,
    /// Where report writes are spooled until they land; "" = `kenkocall-spool` next to
    /// the SQLite file, or in the working directory for PostgreSQL.
    pub spool_dir: String,
    /// Report writes held in memory until they land; past it a call waits (hearing
    /// "please wait").
    pub journal_capacity: usize,
    /// A database connection not obtained within this many seconds fails the query.
    pub acquire_timeout_secs: u64,
    /// One attempt to land report writes is abandoned (and retried) after this many seconds.
    pub write_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://kenkocall.db".into(),
            spool_dir: String::new(),
            journal_capacity: 10_000,
            acquire_timeout_secs: 5,
            write_timeout_secs: 10,
        }
    }
}

impl DatabaseConfig {
    /// The report spool directory; `None` for an in-memory SQLite database (which does not
    /// outlive the process either, so there is nothing to replay into).
    pub fn spool_dir(&self) -> Option<PathBuf> {
        if !self.spool_dir.is_empty() {
            return Some(PathBuf::from(&self.spool_dir));
        }
        let Some(rest) = self.url.strip_prefix("sqlite:") else {
            return Some(PathBuf::from("kenkocall-spool"));
        };
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") || self.url.contains("mode=memory") {
            return None;
        }
        let parent = Path::new(path).parent().unwrap_or(Path::new(""));
        Some(parent.join("kenkocall-spool"))
    }

    /// How the report writer is set up.
    pub fn writer(&self) -> crate::store::WriterConfig {
        crate::store::WriterConfig {
            spool_dir: self.spool_dir(),
            capacity: self.journal_capacity,
            write_timeout: std::time::Duration::from_secs(self.write_timeout_secs.max(1)),
            database: redact_url_password(&self.url),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    pub listen: SocketAddr,
    /// The health-call numbers we answer; other Request-URI users get 404.
    pub inbound_numbers: Vec<String>,
    /// RTP port range, `LOW-HIGH` inclusive.
    pub rtp_ports: String,
    /// Concurrent calls this node carries; past it INVITEs get 503.
    pub max_calls: usize,
    /// Inbound calls one source address may hold before they are confirmed (ACKed);
    /// past it INVITEs from that address get 503. Confirmed calls do not count, so a trunk
    /// or SBC carrying many calls from one address is not limited by it.
    pub max_unconfirmed_calls_per_source: usize,
    /// Ring timeout for outbound calls, seconds.
    pub ring_timeout_secs: u64,
    /// The address a NAT maps to us (cloud VM, Docker, office router): named in Via,
    /// Contact and SDP to peers outside `local_nets`. Unset: the interface's own address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_address: Option<IpAddr>,
    /// Peers reached without NAT (get our interface's address, never `public_address`).
    pub local_nets: Vec<Cidr>,
    /// Sources allowed to send SIP; anything else is dropped unanswered (empty = anyone).
    pub trusted_sources: Vec<Cidr>,
    /// Where an inbound INVITE names the dialled number, in the order to look; the first
    /// present decides (`"P-Called-Party-ID"`, `"To"`, `"Request-URI"`).
    pub called_number_from: Vec<CalledNumberSource>,
    /// Largest SIP header section accepted (UDP and TCP), bytes.
    pub max_header_bytes: usize,
    /// Largest SIP body accepted, bytes; a larger Content-Length gets 413 unread.
    pub max_body_bytes: usize,
    /// Accepted TCP connections open at once; past it new ones are reset.
    pub tcp_max_connections: usize,
    /// Accepted TCP connections one source (IPv4 address, IPv6 /64) may hold open.
    pub tcp_max_connections_per_source: usize,
    /// A message begun on TCP (and an accepted connection's first one) must arrive
    /// whole within this many seconds (slowloris).
    pub tcp_message_timeout_secs: u64,
    /// A TCP connection without a byte (keep-alives count) for this long is closed.
    pub tcp_idle_timeout_secs: u64,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            inbound_numbers: vec!["05031980214".into()],
            rtp_ports: "20000-29999".into(),
            max_calls: 3000,
            max_unconfirmed_calls_per_source: 4,
            ring_timeout_secs: 45,
            public_address: None,
            local_nets: Cidr::private_and_loopback(),
            trusted_sources: Vec::new(),
            called_number_from: CalledNumberSource::default_order(),
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            tcp_max_connections: 1024,
            tcp_max_connections_per_source: 32,
            tcp_message_timeout_secs: 10,
            tcp_idle_timeout_secs: 600,
        }
    }
}

impl SipConfig {
    /// The RTP port range, validated (even bounds not required; RTCP is ignored).
    pub fn rtp_port_range(&self) -> Result<RangeInclusive<u16>, ConfigError> {
        let bad = || {
            ConfigError::Invalid(format!(
                "sip.rtp_ports = {:?}: expected LOW-HIGH, e.g. 20000-29999",
                self.rtp_ports
            ))
        };
        let (lo, hi) = self.rtp_ports.split_once('-').ok_or_else(bad)?;
        let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
        if lo == 0 || lo > hi {
            return Err(bad());
        }
        Ok(lo..=hi)
    }

    /// Zero for any transport limit would refuse everything (or close every connection
    /// at once): a typo, not a policy.
    pub fn validate_limits(&self) -> Result<(), ConfigError> {
        let keys = [
            ("max_header_bytes", self.max_header_bytes as u64),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("tcp_max_connections", self.tcp_max_connections as u64),
            (
                "tcp_max_connections_per_source",
                self.tcp_max_connections_per_source as u64,
            ),
            ("tcp_message_timeout_secs", self.tcp_message_timeout_secs),
            ("tcp_idle_timeout_secs", self.tcp_idle_timeout_secs),
        ];
        match keys.iter().find(|(_, v)| *v == 0) {
            Some((key, _)) => Err(ConfigError::Invalid(format!("sip.{key} must be above 0"))),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrunkConfig {
    /// Where outbound INVITEs go; its host is also the domain unless `domain` is set.
    pub uri: String,
    /// Where requests are sent when not `uri`'s host: `host[:port][;transport=tcp]`
    /// (an outbound proxy or SBC; "" = `uri`'s host).
    pub proxy: String,
    /// The host of Request-URI and To (and REGISTER's Request-URI and AOR); "" = `uri`'s.
    pub domain: String,
    /// The host of From on outbound calls; "" = `domain`.
    pub from_domain: String,
    /// Callee and caller numbers as `"national"` (`090…`) or `"e164"` (`+8190…`).
    pub number_format: NumberFormat,
    pub username: String,
    pub password: String,
    /// Concurrent calls the trunk allows, counted across every node on this case store
    /// (each node's dialer holds a leased channel row per call, `src/store/trunk.rs`).
    pub channels: usize,
    /// How long a held channel stays held without renewal (the holder renews it at a
    /// third of this): a node that dies gives its channels back within this time.
    pub channel_lease_secs: u64,
    /// REGISTER to the trunk (refreshed before expiry) when true.
    pub register: bool,
    /// Seconds between CRLF keep-alives to the trunk, which keep a NAT's mapping open
    /// so the trunk can reach us (0 = off).
    pub keepalive_secs: u64,
}

impl Default for TrunkConfig {
    fn default() -> Self {
        Self {
            uri: "sip:127.0.0.1:5070".into(),
            proxy: String::new(),
            domain: String::new(),
            from_domain: String::new(),
            number_format: NumberFormat::National,
            username: String::new(),
            password: String::new(),
            channels: 2600,
            channel_lease_secs: 30,
            register: false,
            keepalive_secs: 25,
        }
    }
}

/// One outbound caller line; patients are told these numbers, so only these are used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerLine {
    pub number: String,
    /// Concurrent calls this line may carry (0 = limited by the trunk only).
    #[serde(default)]
    pub channels: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Mark session cookies `Secure` (HTTPS only; browsers also accept them on
    /// localhost). Turn off only for plain HTTP on a trusted network.
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client. Empty: the socket's peer
    /// is the client (login throttling per source address uses it).
    pub trusted_proxies: Vec<IpAddr>,
    /// Password checks (argon2, on the blocking pool) running at once; logins beyond them
    /// and a short queue get 503 at once. 0 = half the CPU cores, at least 1.
    pub login_checks_at_once: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            secure_cookies: true,
            trusted_proxies: Vec::new(),
            login_checks_at_once: 0,
        }
    }
}

impl HttpConfig {
    /// [`Self::login_checks_at_once`] with 0 resolved to half the cores (at least 1).
    pub fn login_checks(&self) -> usize {
        if self.login_checks_at_once > 0 {
            return self.login_checks_at_once;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / 2).max(1)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// No RTP from the peer for this long ends the call as a media timeout.
    pub timeout_secs: u64,
    /// RTP from another source than the SDP's is accepted only after this many
    /// consecutive packets of one SSRC (strict RTP probation).
    pub rtp_probation_packets: u16,
    /// ... and only once the current source has been silent this long (milliseconds).
    pub rtp_source_quiet_ms: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 30,
            rtp_probation_packets: 4,
            rtp_source_quiet_ms: 2000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IvrConfig {
    /// Folder holding `<lang>/<prompt>.wav` and `<lang>/prompts.toml`.
    pub prompts_dir: PathBuf,
    /// Folder holding the dialplan TOML files.
    pub dialplans_dir: PathBuf,
    /// Voice-guidance languages; every prompt must exist in each (checked at start-up),
    /// and the inbound language menu may offer only these.
    pub languages: Vec<Language>,
    /// A save not durable after this many milliseconds plays "please wait" to the caller.
    pub please_wait_after_ms: u64,
    /// When wrong HER-SYS ID + birthday answers lock the health-call line.
    pub lockout: LockoutConfig,
}

impl Default for IvrConfig {
    fn default() -> Self {
        Self {
            prompts_dir: "prompts".into(),
            dialplans_dir: "dialplans".into(),
            languages: Language::ALL.to_vec(),
            please_wait_after_ms: 700,
            lockout: LockoutConfig::default(),
        }
    }
}

/// Identification failures on the health-call line within `window_minutes` that lock it
/// for `window_minutes`: for one calling number and HER-SYS ID together, for one calling
/// number whatever the ID, and (higher, so strangers cannot easily lock a patient out) for
/// one HER-SYS ID whatever the number. The rule itself is `engine::identity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutConfig {
    pub window_minutes: u32,
    pub per_number_and_id: u32,
    pub per_number: u32,
    pub per_id: u32,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            window_minutes: 60,
            per_number_and_id: 5,
            per_number: 10,
            per_id: 20,
        }
    }
}

impl LockoutConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let all = [
            self.window_minutes,
            self.per_number_and_id,
            self.per_number,
            self.per_id,
        ];
        if all.contains(&0) {
            return Err(ConfigError::Invalid(
                "ivr.lockout: every value must be at least 1".into(),
            ));
        }
        if self.per_id <= self.per_number_and_id {
            return Err(ConfigError::Invalid(
                "ivr.lockout.per_id must be higher than per_number_and_id, or anyone who knows \
                 an ID locks its patient out as fast as a wrong caller"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl IvrConfig {
    /// At least one language, none twice (unknown codes are refused when parsing).
    fn validate(&self) -> Result<(), ConfigError> {
        self.lockout.validate()?;
        if self.languages.is_empty() {
            return Err(ConfigError::Invalid(
                "ivr.languages: at least one language is needed".into(),
            ));
        }
        for (i, l) in self.languages.iter().enumerate() {
            if self.languages[..i].contains(l) {
                return Err(ConfigError::Invalid(format!(
                    "ivr.languages: {l} is listed twice"
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// On SIGTERM, SIGINT or `kenkocall drain`, calls in progress may go on this long
    /// (seconds) while new ones are refused; then the rest are ended with BYE.
    pub shutdown_grace_secs: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            shutdown_grace_secs: 30,
        }
    }
}

/// The two caller lines of the seed documents (050-3198-0215 and 050-3311-0008).
fn default_caller_lines() -> Vec<CallerLine> {
    ["05031980215", "05033110008"]
        .into_iter()
        .map(|n| CallerLine {
            number: n.into(),
            channels: 0,
        })
        .collect()
}

/// Command-line and environment overrides, applied on top of the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub database: Option<String>,
    pub sip_listen: Option<SocketAddr>,
    pub http_listen: Option<SocketAddr>,
}

impl Config {
    /// Parses a TOML document; unknown keys are an error naming the key.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        if cfg.caller_lines.is_empty() {
            cfg.caller_lines = default_caller_lines();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The defaults alone, as used when no file exists.
    pub fn defaults() -> Self {
        Self {
            caller_lines: default_caller_lines(),
            ..Self::default()
        }
    }

    /// Loads `explicit` if given (it must exist), else `./kenkocall.toml` if present,
    /// else the defaults; then applies the overrides.
    pub fn load(explicit: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let default_path = Path::new("kenkocall.toml");
        let path = match explicit {
            Some(p) => Some(p),
            None if default_path.exists() => Some(default_path),
            None => None,
        };
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                Self::from_toml(&text, p)?
            }
            None => Self::defaults(),
        };
        cfg.apply(overrides);
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn apply(&mut self, o: &Overrides) {
        if let Some(url) = &o.database {
            self.database.url = url.clone();
        }
        if let Some(a) = o.sip_listen {
            self.sip.listen = a;
        }
        if let Some(a) = o.http_listen {
            self.http.listen = a;
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.sip.rtp_port_range()?;
        self.sip.validate_limits()?;
        self.ivr.validate()?;
        self.dialer
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("dialer: {e}")))?;
        if self.caller_lines.iter().any(|l| l.number.trim().is_empty()) {
            return Err(ConfigError::Invalid(
                "caller_lines: every line needs a number".into(),
            ));
        }
        if self.database.journal_capacity == 0 {
            return Err(ConfigError::Invalid(
                "database.journal_capacity must be at least 1".into(),
            ));
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(format!(
                "database.url must start with sqlite:, postgres:// or postgresql:// (got {:?})",
                self.database.url.split(':').next().unwrap_or("")
            )));
        }
        Ok(())
    }

    /// The effective configuration as TOML, with the trunk password hidden.
    pub fn to_display_toml(&self) -> String {
        let mut shown = self.clone();
        if !shown.trunk.password.is_empty() {
            shown.trunk.password = "********".into();
        }
        shown.database.url = redact_url_password(&shown.database.url);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:********@host/db`.
fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:********@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    #[test]
    fn empty_file_gives_every_default() {
        let cfg = parse("").unwrap();
        assert_eq!(cfg, Config::defaults());
        assert_eq!(cfg.sip.listen.to_string(), "127.0.0.1:5060");
        assert_eq!(cfg.caller_lines.len(), 2);
        assert_eq!(cfg.trunk.channels, 2600);
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let err = parse("[sip]\nlisten = \"127.0.0.1:5060\"\nlistne = 1\n").unwrap_err();
        assert!(err.to_string().contains("listne"), "{err}");
    }

    #[test]
    fn documented_keys_parse() {
        let cfg = parse(
            r#"
[database]
url = "postgres://k@db/kc"
[sip]
listen = "0.0.0.0:5080"
inbound_numbers = ["05031980214", "0120000000"]
rtp_ports = "30000-30100"
[trunk]
uri = "sip:trunk.example:5060"
username = "u"
password = "p"
channels = 10
[[caller_lines]]
number = "0501"
[http]
listen = "127.0.0.1:9090"
"#,
        )
        .unwrap();
        assert_eq!(cfg.sip.rtp_port_range().unwrap(), 30000..=30100);
        assert_eq!(cfg.caller_lines.len(), 1);
        assert_eq!(cfg.trunk.channels, 10);
        assert_eq!(cfg.http.listen.port(), 9090);
    }

    #[test]
    fn overrides_win_over_file() {
        let mut cfg = parse("[database]\nurl = \"sqlite://a.db\"\n").unwrap();
        cfg.apply(&Overrides {
            database: Some("sqlite://b.db".into()),
            sip_listen: Some("127.0.0.1:5999".parse().unwrap()),
            http_listen: None,
        });
        assert_eq!(cfg.database.url, "sqlite://b.db");
        assert_eq!(cfg.sip.listen.port(), 5999);
    }

    #[test]
    fn bad_port_range_is_refused() {
        assert!(parse("[sip]\nrtp_ports = \"9-3\"\n").is_err());
        assert!(parse("[sip]\nrtp_ports = \"abc\"\n").is_err());
    }

    #[test]
    fn example_file_parses_to_the_defaults() {
        // The shipped example documents the defaults; this keeps it true.
        let text = include_str!("../kenkocall.example.toml");
        assert_eq!(parse(text).unwrap(), Config::defaults());
    }

    #[test]
    fn trunk_profiles_parse_and_defaults_behave_as_before() {
        use crate::sip::numbers::{CalledNumberSource, NumberFormat};
        let defaults = Config::defaults();
        assert_eq!(defaults.trunk.number_format, NumberFormat::National);
        assert_eq!(
            defaults.sip.called_number_from,
            [CalledNumberSource::RequestUri]
        );
        assert!(defaults.trunk.proxy.is_empty() && defaults.trunk.domain.is_empty());
        let hgw = parse(include_str!("../deploy/trunks/hikari-denwa-hgw.toml")).unwrap();
        assert_eq!(
            hgw.sip.called_number_from,
            [CalledNumberSource::To, CalledNumberSource::RequestUri]
        );
        let ip050 = parse(include_str!("../deploy/trunks/ip-phone-050.toml")).unwrap();
        assert_eq!(ip050.trunk.proxy, "sip.ip-phone.example.jp:5060");
        let twilio = parse(include_str!("../deploy/trunks/twilio-elastic-sip.toml")).unwrap();
        assert_eq!(twilio.trunk.number_format, NumberFormat::E164);
        let err = parse("[sip]\ncalled_number_from = [\"From\"]\n").unwrap_err();
        assert!(err.to_string().contains("From"), "{err}");
        assert!(parse("[trunk]\nnumber_format = \"intl\"\n").is_err());
    }

    #[test]
    fn ivr_languages_default_to_all_eight_in_menu_order() {
        let cfg = parse("[ivr]\n").unwrap();
        assert_eq!(cfg.ivr.languages, Language::ALL);
        let two = parse("[ivr]\nlanguages = [\"ja\", \"en\"]\n").unwrap();
        assert_eq!(two.ivr.languages, [Language::Ja, Language::En]);
    }

    #[test]
    fn unknown_empty_or_repeated_ivr_language_is_refused() {
        let unknown = parse("[ivr]\nlanguages = [\"ja\", \"tl\"]\n").unwrap_err();
        assert!(unknown.to_string().contains("tl"), "{unknown}");
        let empty = parse("[ivr]\nlanguages = []\n").unwrap_err();
        assert!(empty.to_string().contains("at least one"), "{empty}");
        let twice = parse("[ivr]\nlanguages = [\"en\", \"en\"]\n").unwrap_err();
        assert!(twice.to_string().contains("en is listed twice"), "{twice}");
    }

    #[test]
    fn lockout_and_http_keys_parse_and_nonsense_is_refused() {
        let cfg = parse(
            "[http]\ntrusted_proxies = [\"10.0.0.1\", \"::1\"]\nlogin_checks_at_once = 3\n\
             [ivr.lockout]\nper_id = 30\n",
        )
        .unwrap();
        assert_eq!(cfg.http.trusted_proxies.len(), 2);
        assert_eq!(cfg.http.login_checks(), 3);
        assert_eq!(cfg.ivr.lockout.per_id, 30);
        assert_eq!(cfg.ivr.lockout.per_number_and_id, 5);
        assert!(Config::defaults().http.login_checks() >= 1);
        assert!(parse("[http]\ntrusted_proxies = [\"proxy\"]\n").is_err());
        assert!(parse("[ivr.lockout]\nper_id = 5\n").is_err());
        assert!(parse("[ivr.lockout]\nwindow_minutes = 0\n").is_err());
    }

    #[test]
    fn display_hides_passwords() {
        let mut cfg = Config::defaults();
        cfg.trunk.password = "s3cret".into();
        cfg.database.url = "postgres://k:pw@h/db".into();
        let shown = cfg.to_display_toml();
        assert!(
            !shown.contains("s3cret") && !shown.contains(":pw@"),
            "{shown}"
        );
    }
}
