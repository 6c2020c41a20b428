//! Typed domain values stored as text or integers: languages, channels, symptoms, attempt
//! states and outcomes, call slots. Each has one spelling, shared by the DB, JSON and the CLI.

use std::fmt;
use std::str::FromStr;

/// A stored or typed value outside its closed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// A closed set of snake_case names: `as_str`, `parse`, `ALL`, Display, FromStr and serde.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal,
     { $($(#[$vdoc:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
                 serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $var),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }

            pub fn parse(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(UnknownValue { what: $what, value: s.to_string() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                Self::parse(s)
            }
        }
    };
}

text_enum!(
    /// Voice-guidance language, in menu order (key 1 = Japanese ... key 8 = Nepali).
    Language, "language", {
    Ja => "ja", En => "en", Zh => "zh", Ko => "ko", Vi => "vi", Pt => "pt", Es => "es", Ne => "ne",
});

impl Language {
    /// The health-call language menu: key `1`..`8` in the order of [`Language::ALL`].
    pub fn from_menu_key(key: char) -> Option<Language> {
        let n = key.to_digit(10)? as usize;
        Language::ALL.get(n.checked_sub(1)?).copied()
    }
}

text_enum!(
    /// How a report came in.
    Channel, "channel", { AutoCall => "auto_call", HealthCall => "health_call" });

text_enum!(
    /// How a patient reports: called by us, or calling the health-call line themselves.
    ContactMethod, "contact method", { AutoCall => "auto_call", HealthCall => "health_call" });

text_enum!(
    /// The yes/no questions; ids shared by the store, the IVR and the JSON.
    Symptom, "symptom", {
    ShortnessOfBreath => "shortness_of_breath",
    Cough => "cough",
    Sputum => "sputum",
    SoreThroat => "sore_throat",
    Fatigue => "fatigue",
    Headache => "headache",
    TasteSmellLoss => "taste_smell_loss",
    Diarrhoea => "diarrhoea",
    ChestPain => "chest_pain",
});

text_enum!(
    /// Where an outbound call attempt is in its life.
    AttemptState, "attempt state", {
    Pending => "pending",
    Dialing => "dialing",
    Answered => "answered",
    Finished => "finished",
    Cancelled => "cancelled",
});

text_enum!(
    /// How an outbound call attempt ended.
    AttemptOutcome, "attempt outcome", {
    /// Answered and every question answered.
    Completed => "completed",
    /// Answered, some answers given, then the call dropped.
    Partial => "partial",
    /// Answered but nothing keyed: counts as not reached.
    NoInput => "no_input",
    NoAnswer => "no_answer",
    Busy => "busy",
    Failed => "failed",
    /// The person who answered pressed 9: not our patient.
    WrongNumber => "wrong_number",
    /// Not dialled: a stop rule applied when the attempt was claimed.
    Stopped => "stopped",
});

/// A set of call-slot hours (0..=23), e.g. 9, 11, 14, 16 o'clock in the centre's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallSlots(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotsError {
    #[error("no call slot given")]
    Empty,
    #[error("call slot {0:?} is not an hour 0-23")]
    BadHour(String),
}

impl CallSlots {
    /// 9, 11, 14 and 16 o'clock, the seeds' slots.
    pub const DEFAULT: CallSlots = CallSlots((1 << 9) | (1 << 11) | (1 << 14) | (1 << 16));

    /// Parses `9;11;14;16` (also `9,14` or with spaces). At least one hour.
    pub fn parse(s: &str) -> Result<CallSlots, SlotsError> {
        let mut mask = 0u32;
        for part in s.split([';', ',']).map(str::trim).filter(|p| !p.is_empty()) {
            let hour: u8 = part
                .parse()
                .map_err(|_| SlotsError::BadHour(part.to_string()))?;
            if hour > 23 {
                return Err(SlotsError::BadHour(part.to_string()));
            }
            mask |= 1 << hour;
        }
        if mask == 0 {
            return Err(SlotsError::Empty);
        }
        Ok(CallSlots(mask))
    }

    pub fn from_hours(hours: &[u8]) -> Result<CallSlots, SlotsError> {
        let text: Vec<String> = hours.iter().map(u8::to_string).collect();
        CallSlots::parse(&text.join(";"))
    }

    /// The stored bit set; refuses bits beyond hour 23 or an empty set.
    pub fn from_mask(mask: i64) -> Result<CallSlots, SlotsError> {
        if mask <= 0 || mask >= (1 << 24) {
            return Err(SlotsError::BadHour(format!("mask {mask}")));
        }
        Ok(CallSlots(mask as u32))
    }

    pub fn mask(self) -> i64 {
        i64::from(self.0)
    }

    pub fn contains(self, hour: u8) -> bool {
        hour < 24 && self.0 & (1 << hour) != 0
    }

    pub fn hours(self) -> Vec<u8> {
        (0..24).filter(|h| self.contains(*h)).collect()
    }
}

impl Default for CallSlots {
    fn default() -> Self {
        CallSlots::DEFAULT
    }
}

impl fmt::Display for CallSlots {
    /// `9;11;14;16`, the import format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hours: Vec<String> = self.hours().iter().map(u8::to_string).collect();
        f.write_str(&hours.join(";"))
    }
}

impl serde::Serialize for CallSlots {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.hours().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for l in Language::ALL {
            assert_eq!(Language::parse(l.as_str()), Ok(*l));
        }
        for s in Symptom::ALL {
            assert_eq!(s.as_str().parse::<Symptom>(), Ok(*s));
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        for o in AttemptOutcome::ALL {
            assert_eq!(AttemptOutcome::parse(o.as_str()), Ok(*o));
        }
        assert_eq!(Channel::parse("health_call"), Ok(Channel::HealthCall));
    }

    #[test]
    fn unknown_language_names_the_value() {
        let e = Language::parse("fr").unwrap_err();
        assert_eq!(e.to_string(), "unknown language \"fr\"");
    }

    #[test]
    fn language_menu_keys_follow_menu_order() {
        assert_eq!(Language::from_menu_key('1'), Some(Language::Ja));
        assert_eq!(Language::from_menu_key('8'), Some(Language::Ne));
        assert_eq!(Language::from_menu_key('0'), None);
        assert_eq!(Language::from_menu_key('9'), None);
        assert_eq!(Language::from_menu_key('*'), None);
    }

    #[test]
    fn slots_parse_and_print_in_import_format() {
        let s = CallSlots::parse("16;9; 11 ;14").unwrap();
        assert_eq!(s, CallSlots::DEFAULT);
        assert_eq!(s.to_string(), "9;11;14;16");
        assert_eq!(CallSlots::parse("9,14").unwrap().hours(), vec![9, 14]);
        assert!(s.contains(14) && !s.contains(10) && !s.contains(200));
        assert_eq!(CallSlots::from_mask(s.mask()), Ok(s));
    }

    #[test]
    fn bad_slots_are_refused() {
        assert_eq!(CallSlots::parse(""), Err(SlotsError::Empty));
        assert_eq!(CallSlots::parse(";"), Err(SlotsError::Empty));
        assert!(matches!(
            CallSlots::parse("24"),
            Err(SlotsError::BadHour(_))
        ));
        assert!(matches!(
            CallSlots::parse("9;x"),
            Err(SlotsError::BadHour(_))
        ));
        assert!(matches!(
            CallSlots::parse("-1"),
            Err(SlotsError::BadHour(_))
        ));
        assert!(CallSlots::from_mask(0).is_err());
        assert!(CallSlots::from_mask(1 << 24).is_err());
    }
}
