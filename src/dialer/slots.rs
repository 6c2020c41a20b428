//! Call slots (架電時間): the local hours a health centre calls at, and when each one
//! fires as an instant.
//!
//! The hours are enumerated with the `cron` crate (Quartz order: seconds first, e.g.
//! `0 0 9,11,14,16 * * *`), but evaluated on the *wall clock* (naive local time, fed to
//! cron as if it were UTC) and mapped to an instant here, in [`resolve_local`]. Feeding
//! cron the real zone would be wrong twice a year: it drops a local time that daylight
//! saving skips and yields a repeated local time twice. We want each slot exactly once
//! per local date: a skipped time fires as if the clock had not jumped (02:30 in a
//! 02:00→03:00 gap fires at 03:30, RFC 5545's rule) and a repeated time fires at its
//! first occurrence.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::DialerError;
use crate::store::{CallSlots, CallingHours};

/// One call slot: an hour of the local day (0–23) at which auto-calls start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct CallSlot(u8);

impl CallSlot {
    pub fn new(hour: u32) -> Result<Self, DialerError> {
        u8::try_from(hour)
            .ok()
            .filter(|h| *h < 24)
            .map(CallSlot)
            .ok_or(DialerError::InvalidHour(hour))
    }

    pub fn hour(self) -> u32 {
        u32::from(self.0)
    }

    /// The hour as the store keeps it (`slot_hour`, a bit of [`CallSlots`]).
    pub fn as_u8(self) -> u8 {
        self.0
    }
}

impl TryFrom<u32> for CallSlot {
    type Error = DialerError;
    fn try_from(hour: u32) -> Result<Self, DialerError> {
        CallSlot::new(hour)
    }
}

impl From<CallSlot> for u32 {
    fn from(s: CallSlot) -> u32 {
        s.hour()
    }
}

impl fmt::Display for CallSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:00", self.0)
    }
}

/// One firing of a slot: the local date and hour (what a job is keyed on) and the instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotInstant {
    pub date: NaiveDate,
    pub slot: CallSlot,
    pub at: DateTime<Utc>,
}

/// The instant of a local wall-clock time, once per local time even across daylight
/// saving: a repeated time maps to its first occurrence, a skipped one to the instant the
/// pre-transition offset gives (so 02:30 in a 02:00→03:00 gap is 03:30 after the jump).
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    // In a gap: use the offset in force a day earlier (transitions are months apart).
    let before = tz
        .offset_from_utc_datetime(&(local - TimeDelta::days(1)))
        .fix();
    let utc = local - TimeDelta::seconds(i64::from(before.local_minus_utc()));
    Utc.from_utc_datetime(&utc)
}

/// A centre's slot hours over time, in its time zone. Staff may change the hours at any
/// moment; a change applies to slots that fire strictly after it (the slot already
/// firing keeps running with the hours it fired under).
#[derive(Debug, Clone, PartialEq)]
pub struct SlotSchedule {
    tz: Tz,
    initial: CallSlots,
    /// Changes by time of change, oldest first.
    changes: Vec<(DateTime<Utc>, CallSlots)>,
}

impl SlotSchedule {
    pub fn new(tz: Tz, hours: CallSlots) -> Self {
        Self {
            tz,
            initial: hours,
            changes: Vec::new(),
        }
    }

    /// Asia/Tokyo with the default slots 9, 11, 14, 16.
    pub fn tokyo_default() -> Self {
        Self::new(chrono_tz::Asia::Tokyo, CallSlots::DEFAULT)
    }

    /// A zone by IANA name, e.g. `Asia/Tokyo`.
    pub fn parse_tz(name: &str) -> Result<Tz, DialerError> {
        name.parse()
            .map_err(|_| DialerError::UnknownTimeZone(name.to_string()))
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Staff changed the hours at `at`.
    pub fn change(&mut self, at: DateTime<Utc>, hours: CallSlots) {
        let pos = self.changes.partition_point(|(t, _)| *t <= at);
        self.changes.insert(pos, (at, hours));
    }

    /// The hours a slot firing at `at` runs under: the last change made before it.
    pub fn hours_at(&self, at: DateTime<Utc>) -> CallSlots {
        let n = self.changes.partition_point(|(t, _)| *t < at);
        n.checked_sub(1).map_or(self.initial, |i| self.changes[i].1)
    }

    /// The instant slot `slot` fires on local date `date`.
    pub fn instant(&self, date: NaiveDate, slot: CallSlot) -> SlotInstant {
        let local = date.and_time(NaiveTime::MIN) + TimeDelta::hours(i64::from(slot.hour()));
        SlotInstant {
            date,
            slot,
            at: resolve_local(self.tz, local),
        }
    }

    /// Every slot firing in `(after, until]`, in time order (slots sharing an instant,
    /// which only a daylight-saving gap causes, by hour).
    pub fn next_slots(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<SlotInstant>, DialerError> {
        if until <= after {
            return Ok(Vec::new());
        }
        // Every hour set that can be in force in the range; each firing is filtered by
        // the set in force at its own instant below.
        let mut hours = self.hours_at(after);
        for (t, h) in &self.changes {
            if *t >= after && *t < until {
                hours = CallSlots::from_mask(hours.mask() | h.mask()).unwrap_or(hours);
            }
        }
        let list: Vec<String> = hours.hours().iter().map(u8::to_string).collect();
        let expr = format!("0 0 {} * * *", list.join(","));
        let schedule = cron::Schedule::from_str(&expr).map_err(|e| DialerError::Cron {
            expr: expr.clone(),
            message: e.to_string(),
        })?;
        // Margin: a local time can land a few hours from where its offset suggests.
        let margin = TimeDelta::hours(4);
        let from = after.with_timezone(&self.tz).naive_local() - margin;
        let to = until.with_timezone(&self.tz).naive_local() + margin;
        let mut out = Vec::new();
        for wall in schedule.after(&Utc.from_utc_datetime(&from)) {
            let wall = wall.naive_utc();
            if wall > to {
                break;
            }
            let slot = CallSlot::new(wall.hour())?;
            let fired = self.instant(wall.date(), slot);
            if fired.at > after && fired.at <= until && self.hours_at(fired.at).contains(slot.0) {
                out.push(fired);
            }
        }
        out.sort_by_key(|s| (s.at, s.slot));
        Ok(out)
    }
}

/// Whether `at` falls inside the centre's calling hours (local time, end excluded): a
/// call never starts outside them, whatever the slot or retry rules say.
pub fn within_calling_hours(hours: CallingHours, tz: Tz, at: DateTime<Utc>) -> bool {
    let local = at.with_timezone(&tz).time();
    let minute = local.hour() * 60 + local.minute();
    u16::try_from(minute).is_ok_and(|m| hours.allows_minute(m))
}

/// The instant calling may start on the local date of `at`.
pub fn calling_starts_on(hours: CallingHours, tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
    let date = at.with_timezone(&tz).date_naive();
    let start = date.and_time(NaiveTime::MIN) + TimeDelta::minutes(i64::from(hours.from_minute));
    resolve_local(tz, start)
}

#[cfg(test)]
#[path = "slots_tests.rs"]
mod tests;
