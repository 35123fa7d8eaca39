//! How the admin commands lay out their answers: aligned tables and label/value blocks for
//! people, pretty JSON for scripts, instants as UTC dates.

use serde::Serialize;

use super::CliError;

/// Rows under a header, each column as wide as its widest cell, two spaces apart.
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table, every line indented by `indent` spaces and without trailing blanks.
    pub(crate) fn render(&self, indent: usize) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = " ".repeat(indent);
            for (cell, width) in row.iter().zip(&widths) {
                line.push_str(cell);
                line.push_str(&" ".repeat(width - cell.chars().count() + 2));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `label  value` lines with the values aligned; a multi-line value continues under itself.
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        for (i, line) in value.lines().enumerate() {
            let head = if i == 0 { *label } else { "" };
            let padding = " ".repeat(width - head.chars().count() + 2);
            out.push_str(format!("{head}{padding}{line}").trim_end());
            out.push('\n');
        }
    }
    out
}

/// The machine form of an answer: pretty JSON and a final newline.
pub(crate) fn json(value: &impl Serialize) -> Result<String, CliError> {
    let mut text = serde_json::to_string_pretty(value).map_err(CliError::Json)?;
    text.push('\n');
    Ok(text)
}

/// An instant (unix seconds) as people read it: `2024-05-01 12:00 UTC`.
pub(crate) fn when(unix: i64) -> String {
    let (year, month, day) = civil_date(unix.div_euclid(86_400));
    let second_of_day = unix.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        second_of_day / 3600,
        second_of_day % 3600 / 60
    )
}

/// An optional instant, or `none` in its place.
pub(crate) fn when_or(unix: Option<i64>, none: &str) -> String {
    unix.map_or_else(|| none.to_owned(), when)
}

/// The proleptic Gregorian date `days` after 1970-01-01, counting in 400-year eras that start
/// on 1 March so that the leap day falls at the end of each year.
fn civil_date(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `n thing` or `n things`.
pub(crate) fn count(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(when(1_709_251_199), "2024-02-29 23:59 UTC");
        assert_eq!(
            when(1_735_689_600 + 3 * 3600 + 25 * 60),
            "2025-01-01 03:25 UTC"
        );
        assert_eq!(when(-1), "1969-12-31 23:59 UTC");
        assert_eq!(when_or(None, "never"), "never");
    }

    #[test]
    fn tables_align_columns_and_trim_lines() {
        let mut t = Table::new(&["NAME", "STATUS", "NOTE"]);
        t.row(vec!["a".into(), "enabled".into(), String::new()]);
        t.row(vec!["longer-name".into(), "off".into(), "x".into()]);
        assert_eq!(
            t.render(2),
            "  NAME         STATUS   NOTE\n  a            enabled\n  longer-name  off      x\n"
        );
    }

    #[test]
    fn fields_align_values_and_continue_lines() {
        let text = fields(&[("id", "1".into()), ("groups", "a\nb".into())]);
        assert_eq!(text, "id      1\ngroups  a\n        b\n");
        assert_eq!(count(1, "session"), "1 session");
        assert_eq!(count(0, "session"), "0 sessions");
    }
}
