//! Server-drawn trend charts (temperature, SpO2) over the observation period: plain SVG,
//! no scripts, readable on an old browser. Threshold lines mark the centre's alert levels.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};

use super::html::esc;

const W: f64 = 640.0;
const H: f64 = 160.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 24.0;

/// One chart's series and scale.
pub struct Chart<'a> {
    pub title: &'a str,
    pub unit: &'a str,
    pub min: f64,
    pub max: f64,
    /// Dashed horizontal lines (thresholds), with their colour.
    pub marks: Vec<(f64, &'a str)>,
    /// Points in time order: local date, fraction of that day (0..1), value.
    pub points: Vec<(NaiveDate, f64, f64)>,
}

/// Fraction of the day elapsed at `t` in the zone `tz` (for placing a point inside its day).
pub fn day_point(t: DateTime<Utc>, tz: chrono_tz::Tz) -> (NaiveDate, f64) {
    let local = t.with_timezone(&tz);
    let secs = f64::from(chrono::Timelike::num_seconds_from_midnight(&local));
    (local.date_naive(), secs / 86_400.0)
}

/// Draws `chart` with one column per day from `start` to `end` (inclusive).
pub fn trend(chart: &Chart<'_>, start: NaiveDate, end: NaiveDate) -> String {
    let days = (end - start).num_days().max(0) + 1;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let span = (chart.max - chart.min).max(f64::EPSILON);
    let x = |d: NaiveDate, frac: f64| {
        LEFT + ((d - start).num_days() as f64 + frac) / days as f64 * plot_w
    };
    let y = |v: f64| TOP + (1.0 - (v.clamp(chart.min, chart.max) - chart.min) / span) * plot_h;
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        r##"<svg class="trend" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{title}"><rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#999"/>"##,
        title = esc(chart.title)
    );
    for i in 0..days {
        let d = start + chrono::Days::new(i as u64);
        let xi = x(d, 0.0);
        let _ = write!(
            s,
            r##"<line x1="{xi:.1}" y1="{TOP}" x2="{xi:.1}" y2="{}" stroke="#eee"/><text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            xi + plot_w / days as f64 / 2.0,
            H - 8.0,
            d.format("%m/%d")
        );
    }
    for (v, colour) in &chart.marks {
        let yv = y(*v);
        let _ = write!(
            s,
            r#"<line x1="{LEFT}" y1="{yv:.1}" x2="{}" y2="{yv:.1}" stroke="{colour}" stroke-dasharray="4 3"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">{v}</text>"#,
            W - RIGHT,
            LEFT - 4.0,
            yv + 3.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="4" y="{}" font-size="11">{} ({})</text>"#,
        TOP + 10.0,
        esc(chart.title),
        esc(chart.unit)
    );
    let pts: Vec<String> = chart
        .points
        .iter()
        .filter(|(d, _, _)| *d >= start && *d <= end)
        .map(|(d, f, v)| format!("{:.1},{:.1}", x(*d, *f), y(*v)))
        .collect();
    if pts.len() > 1 {
        let _ = write!(
            s,
            r##"<polyline fill="none" stroke="#1f5fa8" stroke-width="2" points="{}"/>"##,
            pts.join(" ")
        );
    }
    for p in &pts {
        if let Some((px, py)) = p.split_once(',') {
            let _ = write!(s, r##"<circle cx="{px}" cy="{py}" r="3" fill="#1f5fa8"/>"##);
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn points_inside_the_period_are_drawn_and_others_dropped() {
        let chart = Chart {
            title: "SpO2 <%>",
            unit: "%",
            min: 85.0,
            max: 100.0,
            marks: vec![(93.0, "red")],
            points: vec![
                (d("2026-11-14"), 0.5, 97.0),
                (d("2026-11-15"), 0.5, 97.0),
                (d("2026-11-16"), 0.5, 92.0),
            ],
        };
        let svg = trend(&chart, d("2026-11-15"), d("2026-11-16"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("SpO2 &lt;%&gt;"), "title escaped");
        assert!(svg.contains("11/15") && svg.contains("11/16") && !svg.contains("11/14"));
        assert!(svg.contains("stroke=\"red\""));
    }

    #[test]
    fn lower_value_is_drawn_lower() {
        let chart = Chart {
            title: "t",
            unit: "°C",
            min: 35.0,
            max: 40.0,
            marks: vec![],
            points: vec![(d("2026-11-15"), 0.0, 39.0), (d("2026-11-15"), 0.5, 36.0)],
        };
        let svg = trend(&chart, d("2026-11-15"), d("2026-11-15"));
        let ys: Vec<f64> = svg
            .split("cy=\"")
            .skip(1)
            .map(|r| r.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(ys.len(), 2);
        assert!(ys[1] > ys[0], "36 °C below 39 °C: {ys:?}");
    }
}
