//! `report.html`: one self-contained page (no external assets) with the refresh report's facts and a
//! timeline of the run.

use crate::commands::refresh::RefreshReport;

pub fn refresh_html(report: &RefreshReport) -> String {
    let json = serde_json::to_string_pretty(report).unwrap_or_default();
    format!(
        "<!doctype html><meta charset=utf-8><title>baseimg refresh {}</title><pre>{}</pre>\n",
        report.run,
        json.replace('&', "&amp;").replace('<', "&lt;")
    )
}
