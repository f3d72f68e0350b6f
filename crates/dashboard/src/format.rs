//! Filters the templates use to show numbers and times as people read them.

use minijinja::Value;

/// `1536` → `1.5 KiB`.
pub fn bytes(n: Value) -> String {
    let n = value_f64(&n);
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{v:.0} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// `used|pct(total)` → a whole percentage, 0 when the total is 0.
pub fn pct(used: Value, total: Value) -> u64 {
    let (u, t) = (value_f64(&used), value_f64(&total));
    if t <= 0.0 { 0 } else { ((u / t) * 100.0).clamp(0.0, 100.0).round() as u64 }
}

/// A time (Unix seconds or RFC 3339) as a `<time>` element in UTC; the page's script shows it
/// in the reader's zone, and without script it still reads correctly.
pub fn when(v: Value) -> Value {
    let ts = if let Some(s) = v.as_str() {
        s.parse::<jiff::Timestamp>().ok()
    } else {
        i64::try_from(v.clone())
            .ok()
            .filter(|n| *n > 0)
            .and_then(|n| jiff::Timestamp::from_second(n).ok())
    };
    match ts {
        Some(t) => {
            let iso = t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            let text = t.strftime("%Y-%m-%d %H:%M UTC").to_string();
            Value::from_safe_string(format!("<time datetime=\"{iso}\">{text}</time>"))
        }
        None if v.is_undefined() || v.is_none() => Value::from("–"),
        None => Value::from(v.to_string()),
    }
}

/// Seconds as `2d 3h`, `4h 12m`, `5m 10s`.
pub fn duration(secs: Value) -> String {
    let s = value_f64(&secs).max(0.0) as u64;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn value_f64(v: &Value) -> f64 {
    f64::try_from(v.clone()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_times_and_shares_read_as_people_write_them() {
        assert_eq!(bytes(Value::from(512)), "512 B");
        assert_eq!(bytes(Value::from(1536)), "1.5 KiB");
        assert_eq!(bytes(Value::from(3u64 << 30)), "3.0 GiB");
        assert_eq!(pct(Value::from(1), Value::from(4)), 25);
        assert_eq!(pct(Value::from(1), Value::from(0)), 0);
        assert_eq!(duration(Value::from(59)), "59s");
        assert_eq!(duration(Value::from(3 * 3600 + 120)), "3h 2m");
        assert_eq!(duration(Value::from(2 * 86_400 + 3600)), "2d 1h");
        let t = when(Value::from(1_700_000_000)).to_string();
        assert!(t.contains("datetime=\"2023-11-14T22:13:20Z\""), "{t}");
        assert!(
            when(Value::from("2026-12-03T00:00:00Z")).to_string().contains("2026-12-03 00:00 UTC")
        );
        assert_eq!(when(Value::from("soon")).to_string(), "soon");
        assert_eq!(when(Value::UNDEFINED).to_string(), "–");
    }
}
