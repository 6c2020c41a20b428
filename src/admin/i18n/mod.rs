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
use crate::store::{
    AlertLevel, AttemptOutcome, Channel, ContactMethod, Finding, ImportProblem, Language,
    PatientStatus, Symptom,
};

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
    pub reasons: &'static str,
    pub age: &'static str,
    pub handled: &'static str,
    pub mark_handled: &'static str,
    pub handled_note: &'static str,
    pub search: &'static str,
    pub search_hint: &'static str,
    pub filter_status: &'static str,
    pub filter_default: &'static str,
    pub filter_all: &'static str,
    pub any_slot: &'static str,
    pub rest_group: &'static str,
    pub patients_total: &'static str,
    pub matching: &'static str,
    pub prev_page: &'static str,
    pub next_page: &'static str,
    pub fever: &'static str,
    pub export_reports: &'static str,
    pub date_from: &'static str,
    pub date_to: &'static str,
    pub download: &'static str,
    pub import_template: &'static str,
    pub import_hint: &'static str,
    pub undo_wrong_number: &'static str,
    /// In [`Language::ALL`] order.
    pub language_names: [&'static str; 8],
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
    pub fn language_name(&self, l: Language) -> &'static str {
        self.language_names[index(Language::ALL, &l)]
    }
    /// A flagged value or symptom, named for the follow-up list's reasons.
    pub fn reason(&self, f: Finding) -> String {
        match f {
            Finding::Spo2Urgent { spo2 } => {
                format!("SpO2 {spo2}% ({})", self.alert_level(AlertLevel::Urgent))
            }
            Finding::Spo2Recheck { spo2 } => {
                format!("SpO2 {spo2}% ({})", self.alert_level(AlertLevel::Recheck))
            }
            Finding::Fever { temperature_dc } => {
                format!("{} {:.1} °C", self.fever, temperature_dc as f64 / 10.0)
            }
            Finding::Symptom { symptom } => self.symptom(symptom).to_string(),
        }
    }
}

/// An import problem in the page's language (English is the problem's own text).
pub fn import_problem(lang: UiLang, p: &ImportProblem) -> String {
    use crate::store::{DateField, PhoneError, SlotsError};
    if lang == UiLang::En {
        return p.to_string();
    }
    let date_field = |f: &DateField| match f {
        DateField::BirthDate => JA.birth_date,
        DateField::ObservationStart => JA.observation_start,
        DateField::ObservationEnd => JA.observation_end,
    };
    match p {
        ImportProblem::Unreadable(_) => "ファイルを読み込めません".to_string(),
        ImportProblem::Encoding => "文字コードが UTF-8 でも Shift_JIS でもありません".to_string(),
        ImportProblem::BadHeader(_) => "見出し行を CSV として読めません".to_string(),
        ImportProblem::UnknownColumn(c) => format!("不明な列「{c}」"),
        ImportProblem::MissingColumn(c) => format!("列「{c}」がありません"),
        ImportProblem::BadCsv(_) => "CSV として読めない行です（列の数や引用符を確認）".to_string(),
        ImportProblem::BadDate(f, v) => format!(
            "{}「{v}」は日付ではありません（1980/1/5 または 1980-01-05）",
            date_field(f)
        ),
        ImportProblem::UnknownLanguage(v) => {
            format!("言語「{v}」は使えません（ja, en, zh, ko, vi, pt, es, ne）")
        }
        ImportProblem::Slots(SlotsError::Empty) => "架電時間がありません".to_string(),
        ImportProblem::Slots(SlotsError::BadHour(h)) => {
            format!("架電時間「{h}」は 0〜23 時ではありません")
        }
        ImportProblem::BadHersysId => "HER-SYS ID は 6〜8 桁の数字です".to_string(),
        ImportProblem::EmptyName => "氏名が空です".to_string(),
        ImportProblem::Phone(PhoneError::Empty) => "電話番号が空です".to_string(),
        ImportProblem::Phone(PhoneError::BadCharacter) => {
            "電話番号に数字・ハイフン以外の文字があります".to_string()
        }
        ImportProblem::Phone(PhoneError::NotJapanese) => {
            "電話番号が日本の番号（0… または +81…）ではありません".to_string()
        }
        ImportProblem::Phone(PhoneError::BadLength(n)) => {
            format!("電話番号の桁数が違います（市外局番の 0 を除き {n} 桁）")
        }
        ImportProblem::EmptyCentre => "保健所名が空です".to_string(),
        ImportProblem::EndBeforeStart => "療養終了日が療養開始日より前です".to_string(),
        ImportProblem::DuplicateInFile(l) => format!("HER-SYS ID が {l} 行目と重複しています"),
        ImportProblem::AlreadyEnrolled => "この HER-SYS ID は登録済みです".to_string(),
        ImportProblem::OtherCentre => "自保健所以外の保健所名です".to_string(),
        ImportProblem::Rejected(reason) => {
            if reason.contains("calling hours") {
                "架電時間が保健所の架電可能時間外です".to_string()
            } else {
                reason.clone()
            }
        }
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
        assert_eq!(JA.language_name(Language::Vi), "ベトナム語");
        assert_eq!(EN.language_name(Language::Ne), "Nepali");
        assert_eq!(
            JA.reason(Finding::Spo2Recheck { spo2: 95 }),
            "SpO2 95% (再測定)"
        );
        assert_eq!(
            EN.reason(Finding::Fever {
                temperature_dc: 382
            }),
            "fever 38.2 °C"
        );
    }
}
