//! Wall-clock time in the two shapes baseimg writes down: RFC 3339 for files people and tools read
//! (the lock file, image labels), and a compact UTC stamp that names a run's directory.

/// A run's identity, used for its log and report directories: `20261127T184501.042Z`. To the
/// millisecond: two runs one after the other within a second must not share a directory.
pub(crate) fn run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

/// The current UTC time in RFC 3339, to the second (what the lock file and the `created` label
/// record).
pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The current UTC time, to the second: what cool-down ages are measured against.
pub(crate) fn now() -> time::OffsetDateTime {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// An RFC 3339 time as baseimg writes it, for files it reads back (the lock file's `first_seen`).
pub(crate) fn parse_rfc3339(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// `time` in RFC 3339, as the lock file and reports write it.
pub(crate) fn rfc3339(time: time::OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Why an age (`--older-than`, `cooldown:`) was refused.
#[derive(Debug, thiserror::Error)]
#[error("expected a number and a unit: `30d`, `12h`, `90m` or `45s`")]
pub(crate) struct AgeError;

/// `30d`, `12h`, `90m`, `45s` (and `0`, no time at all): an age as people write one.
pub(crate) fn parse_age(text: &str) -> Result<std::time::Duration, AgeError> {
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(AgeError),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(seconds))
        .map(std::time::Duration::from_secs)
        .ok_or(AgeError)
}

/// An age as people read one: `3d`, `2d 4h`, `5h`, `12m`, `0s`.
pub(crate) fn format_age(age: std::time::Duration) -> String {
    let seconds = age.as_secs();
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, _) => format!("{h}h"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_take_a_unit() {
        assert_eq!(parse_age("30d").unwrap().as_secs(), 30 * 86_400);
        assert_eq!(parse_age("90m").unwrap().as_secs(), 5_400);
        assert_eq!(parse_age("0").unwrap().as_secs(), 0);
        assert!(parse_age("30").is_err());
        assert!(parse_age("d").is_err());
        assert!(parse_age("").is_err());
        assert!(parse_age("99999999999999999999d").is_err());
    }

    #[test]
    fn ages_read_back_in_the_largest_units() {
        assert_eq!(format_age(std::time::Duration::from_secs(3 * 86_400)), "3d");
        assert_eq!(
            format_age(std::time::Duration::from_secs(2 * 86_400 + 4 * 3_600 + 5)),
            "2d 4h"
        );
        assert_eq!(format_age(std::time::Duration::from_secs(720)), "12m");
        assert_eq!(format_age(std::time::Duration::from_secs(7)), "7s");
    }
}
