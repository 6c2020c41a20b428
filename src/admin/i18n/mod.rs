//! The interface languages: Japanese (default) and English, one string table each. The
//! language comes from the `lang` cookie (set by `/lang/{ja,en}`), else `Accept-Language`.

mod en;
mod ja;

pub use en::EN;
pub use ja::JA;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::auth::cookie;
use crate::store::{AlertLevel, AttemptOutcome, Channel, ContactMethod, PatientStatus, Symptom};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiLang {
    Ja,
    En,
}

impl UiLang {
    pub fn code(self) -> &'static str {
        match self {
            UiLang::Ja => "ja",
            UiLang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<UiLang> {
        match code {
            "ja" => Some(UiLang::Ja),
            "en" => Some(UiLang::En),
            _ => None,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            UiLang::Ja => &JA,
            UiLang::En => &EN,
        }
    }

    /// Cookie first; then the first `Accept-Language` entry that is Japanese or English
    /// (entries are listed in preference order by browsers); Japanese otherwise.
    pub fn from_headers(headers: &HeaderMap) -> UiLang {
        if let Some(l) = cookie(headers, "lang").and_then(|c| UiLang::parse(&c)) {
            return l;
        }
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter_map(|entry| {
                let tag = entry.split(';').next()?.trim();
                UiLang::parse(tag.split('-').next()?.to_ascii_lowercase().as_str())
            })
            .next()
            .unwrap_or(UiLang::Ja)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UiLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<UiLang, Self::Rejection> {
        Ok(UiLang::from_headers(&parts.headers))
    }
}

/// Every interface string. Arrays follow the order of the store enum's `ALL` (or, for
/// alert levels, `Normal, Recheck, FollowUp, Urgent`).
pub struct Texts {
    pub app_title: &'static str,
    pub login: &'static str,
    pub logout: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub login_failed: &'static str,
    pub followup_title: &'static str,
    pub hersys_id: &'static str,
    pub name: &'static str,
    pub status: &'static str,
    pub alert: &'static str,
    pub latest_temp: &'static str,
    pub latest_spo2: &'static str,
    pub last_report: &'static str,
    pub reported_at: &'static str,
    pub today: &'static str,
    pub reported_today: &'static str,
    pub not_reported_today: &'static str,
    pub no_patients: &'static str,
    pub centre_settings: &'static str,
    pub default_slots: &'static str,
    pub call_slots: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub enrol: &'static str,
    pub import_csv: &'static str,
    pub export_csv: &'static str,
    pub upload: &'static str,
    pub imported: &'static str,
    pub import_refused: &'static str,
    pub line: &'static str,
    pub reason: &'static str,
    pub phone: &'static str,
    pub language: &'static str,
    pub birth_date: &'static str,
    pub observation_period: &'static str,
    pub observation_start: &'static str,
    pub observation_end: &'static str,
    pub contact_method: &'static str,
    pub stop_calls: &'static str,
    pub stop_reason: &'static str,
    pub resume_calls: &'static str,
    pub mark_wrong_number: &'static str,
    pub correct_phone: &'static str,
    pub trend: &'static str,
    pub temperature: &'static str,
    pub spo2: &'static str,
    pub symptoms: &'static str,
    pub reports: &'static str,
    pub attempts: &'static str,
    pub channel: &'static str,
    pub question_set: &'static str,
    pub complete: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub slot: &'static str,
    pub attempt_no: &'static str,
    pub caller_line: &'static str,
    pub started: &'static str,
    pub answered: &'static str,
    pub ended: &'static str,
    pub outcome: &'static str,
    pub retry_policy: &'static str,
    pub alert_thresholds: &'static str,
    pub calling_hours: &'static str,
    pub back: &'static str,
    pub alert_levels: [&'static str; 4],
    pub statuses: [&'static str; 5],
    pub channels: [&'static str; 2],
    pub contact_methods: [&'static str; 2],
    pub outcomes: [&'static str; 8],
    pub symptom_names: [&'static str; 9],
    pub lockouts: &'static str,
    pub lockouts_intro: &'static str,
    pub no_lockouts: &'static str,
    /// `number_and_id`, `number`, `id`.
    pub lockout_scopes: [&'static str; 3],
    pub locked_at: &'static str,
    pub locked_until: &'static str,
    pub calling_number: &'static str,
    pub failures: &'static str,
    pub lift: &'static str,
    pub lockout_active: &'static str,
    pub lockout_expired: &'static str,
    pub lockout_lifted_by: &'static str,
}

fn index<T: PartialEq>(all: &[T], v: &T) -> usize {
    all.iter().position(|x| x == v).unwrap_or(0)
}

impl Texts {
    pub fn lockout_scope(&self, s: crate::store::LockoutScope) -> &'static str {
        use crate::store::LockoutScope::*;
        self.lockout_scopes[index(&[NumberAndId, Number, Id], &s)]
    }
    pub fn alert_level(&self, l: AlertLevel) -> &'static str {
        self.alert_levels[l as usize]
    }
    pub fn status(&self, s: PatientStatus) -> &'static str {
        let all = [
            PatientStatus::Active,
            PatientStatus::NotStarted,
            PatientStatus::Ended,
            PatientStatus::Stopped,
            PatientStatus::WrongNumber,
        ];
        self.statuses[index(&all, &s)]
    }
    pub fn channel(&self, c: Channel) -> &'static str {
        self.channels[index(Channel::ALL, &c)]
    }
    pub fn contact_method(&self, c: ContactMethod) -> &'static str {
        self.contact_methods[index(ContactMethod::ALL, &c)]
    }
    pub fn outcome(&self, o: AttemptOutcome) -> &'static str {
        self.outcomes[index(AttemptOutcome::ALL, &o)]
    }
    pub fn symptom(&self, s: Symptom) -> &'static str {
        self.symptom_names[index(Symptom::ALL, &s)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cookie_wins_over_accept_language() {
        let h = headers(&[
            (header::COOKIE, "lang=en"),
            (header::ACCEPT_LANGUAGE, "ja-JP,ja;q=0.9"),
        ]);
        assert_eq!(UiLang::from_headers(&h), UiLang::En);
    }

    #[test]
    fn accept_language_picks_first_supported_else_japanese() {
        let h = headers(&[(header::ACCEPT_LANGUAGE, "fr-FR, en-GB;q=0.8, ja;q=0.5")]);
        assert_eq!(UiLang::from_headers(&h), UiLang::En);
        let h = headers(&[(header::ACCEPT_LANGUAGE, "de")]);
        assert_eq!(UiLang::from_headers(&h), UiLang::Ja);
        assert_eq!(UiLang::from_headers(&HeaderMap::new()), UiLang::Ja);
    }

    #[test]
    fn enum_labels_follow_store_order() {
        assert_eq!(EN.symptom(Symptom::ChestPain), "chest pain");
        assert_eq!(JA.outcome(AttemptOutcome::NoAnswer), "不応答");
        assert_eq!(EN.alert_level(AlertLevel::Urgent), "urgent");
        assert_eq!(EN.status(PatientStatus::WrongNumber), "wrong number");
        assert_eq!(EN.channel(Channel::HealthCall), "health-call");
    }
}
