//! Wall-clock time in the two shapes baseimg writes down: RFC 3339 for files people and tools read
//! (the lock file, image labels), and a compact UTC stamp that names a run's directory.

/// A run's identity, used for its log directory: `20261127T184501Z`.
pub fn run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// The current UTC time in RFC 3339, to the second (what the lock file and the `created` label
/// record).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
