//! The voice-guidance languages, in the order the inbound language menu offers them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A voice-guidance language. The code (`ja`, `en`...) is what the case store and the
/// prompt folders use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Ja,
    En,
    Zh,
    Ko,
    Vi,
    Pt,
    Es,
    Ne,
}

impl Language {
    /// Every language, in menu order (1 = Japanese ... 8 = Nepali).
    pub const ALL: [Language; 8] = [
        Language::Ja,
        Language::En,
        Language::Zh,
        Language::Ko,
        Language::Vi,
        Language::Pt,
        Language::Es,
        Language::Ne,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Language::Ja => "ja",
            Language::En => "en",
            Language::Zh => "zh",
            Language::Ko => "ko",
            Language::Vi => "vi",
            Language::Pt => "pt",
            Language::Es => "es",
            Language::Ne => "ne",
        }
    }

    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code() == code)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A language code that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?} (expected one of ja en zh ko vi pt es ne)")]
pub struct UnknownLanguage(pub String);

impl FromStr for Language {
    type Err = UnknownLanguage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Language::from_code(s).ok_or_else(|| UnknownLanguage(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_is_an_error() {
        for l in Language::ALL {
            assert_eq!(l.code().parse::<Language>().unwrap(), l);
        }
        assert!("tl".parse::<Language>().is_err());
    }
}
