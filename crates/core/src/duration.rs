//! Go-style duration strings (`300ms`, `2h45m`, `1.5h`), the format of Cloudflare's
//! `session_duration` fields.

use std::fmt::Write as _;
use std::time::Duration;

use crate::error::{DurationError, excerpt};

const UNITS_HELP: &str = "units are ns, us (or µs), ms, s, m, h";

/// Go rejects durations above the largest signed 64-bit nanosecond count; so do we, so that a
/// value accepted here is accepted by every Go tool reading the same configuration.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Reads a duration written the way Go's `time.ParseDuration` reads it: one or more decimal
/// numbers, each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), e.g. `2h45m` or `1.5h`; a
/// bare `0` is also accepted.
///
/// Called when configuration is loaded. Refuses negative durations (a session cannot last less
/// than nothing), missing or unknown units and values above about 292 years, with a message saying
/// what would be valid.
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason: String| DurationError::InvalidDuration {
        input: excerpt(input),
        reason,
    };
    let mut rest = input.trim();
    if rest.is_empty() {
        return Err(fail("it is empty; write e.g. 30m, 24h or 2h45m".to_owned()));
    }
    if rest.starts_with('-') {
        return Err(fail("negative durations are not allowed".to_owned()));
    }
    rest = rest.strip_prefix('+').unwrap_or(rest);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(fail("expected a number after the sign".to_owned()));
    }

    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole_digits, after) = rest.split_at(digits_end);
        let (fraction_digits, after) = match after.strip_prefix('.') {
            Some(after_dot) => {
                let end = after_dot
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after_dot.len());
                after_dot.split_at(end)
            }
            None => ("", after),
        };
        if whole_digits.is_empty() && fraction_digits.is_empty() {
            return Err(fail(format!(
                "expected a number where {:?} starts; write e.g. 30m, 24h or 2h45m",
                excerpt(rest)
            )));
        }
        let unit_end = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(fail(format!(
                    "missing unit after {whole_digits}{}{fraction_digits}; {UNITS_HELP}",
                    if fraction_digits.is_empty() { "" } else { "." }
                )));
            }
            other => {
                let hint = if other == "d" || other == "w" {
                    " (write days in hours, e.g. 168h for a week)"
                } else {
                    ""
                };
                return Err(fail(format!(
                    "unknown unit {:?}{hint}; {UNITS_HELP}",
                    excerpt(other)
                )));
            }
        };

        let too_large = || fail("it is too large (at most about 292 years)".to_owned());
        // More than 20 digits cannot fit; checking first keeps the parse below infallible.
        let whole: u128 = if whole_digits.is_empty() {
            0
        } else if whole_digits.len() > 20 {
            return Err(too_large());
        } else {
            whole_digits.parse().map_err(|_| too_large())?
        };
        // Digits past the 18th are below a nanosecond for every unit and are dropped, as Go does.
        let kept = &fraction_digits[..fraction_digits.len().min(18)];
        let fraction_nanos = if kept.is_empty() {
            0
        } else {
            let numerator: u128 = kept.parse().map_err(|_| too_large())?;
            numerator * unit_nanos / 10u128.pow(kept.len() as u32)
        };
        total = whole
            .checked_mul(unit_nanos)
            .and_then(|nanos| nanos.checked_add(fraction_nanos))
            .and_then(|nanos| nanos.checked_add(total))
            .filter(|nanos| *nanos <= MAX_NANOS)
            .ok_or_else(too_large)?;
        rest = after;
    }
    let secs = (total / 1_000_000_000) as u64;
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Writes a duration the way Go's `Duration.String` does (`2h45m0s`, `1.5s`, `300ms`, `0s`), so
/// that values shown in the admin API and logs read back through [`parse_go_duration`].
pub fn format_go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    let mut out = String::new();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        let _ = write!(out, "{nanos}ns");
        return out;
    }
    if nanos < 1_000_000 {
        write_decimal(&mut out, nanos, 3);
        out.push_str("\u{b5}s");
        return out;
    }
    if nanos < 1_000_000_000 {
        write_decimal(&mut out, nanos, 6);
        out.push_str("ms");
        return out;
    }
    let total_secs = nanos / 1_000_000_000;
    let hours = total_secs / 3600;
    let minutes = total_secs / 60 % 60;
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    write_decimal(&mut out, nanos % 60_000_000_000, 9);
    out.push('s');
    out
}

/// Writes `value / 10^scale` with the fractional digits it needs and no trailing zeros.
fn write_decimal(out: &mut String, value: u128, scale: u32) {
    let divisor = 10u128.pow(scale);
    let _ = write!(out, "{}", value / divisor);
    let fraction = value % divisor;
    if fraction != 0 {
        let digits = format!("{fraction:0width$}", width = scale as usize);
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Duration {
        parse_go_duration(text).unwrap()
    }

    fn error(text: &str) -> String {
        parse_go_duration(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_go_examples() {
        assert_eq!(parse("0"), Duration::ZERO);
        assert_eq!(parse("0s"), Duration::ZERO);
        assert_eq!(parse("300ms"), Duration::from_millis(300));
        assert_eq!(parse("2h45m"), Duration::from_secs(2 * 3600 + 45 * 60));
        assert_eq!(parse("1.5h"), Duration::from_secs(5400));
        assert_eq!(parse("24h"), Duration::from_secs(86_400));
        assert_eq!(parse("1h2m3s4ms5us6ns"), Duration::new(3723, 4_005_006));
        assert_eq!(parse("1µs"), Duration::from_micros(1));
        assert_eq!(parse("1\u{3bc}s"), Duration::from_micros(1));
        assert_eq!(parse("7ns"), Duration::from_nanos(7));
        assert_eq!(parse(".5s"), Duration::from_millis(500));
        assert_eq!(parse("1.s"), Duration::from_secs(1));
        assert_eq!(parse("+5m"), Duration::from_secs(300));
        assert_eq!(parse(" 30m "), Duration::from_secs(1800));
        assert_eq!(parse("1.0000000000000000000001s"), Duration::from_secs(1));
        assert_eq!(parse("0.333333333333s"), Duration::from_nanos(333_333_333));
        assert_eq!(parse("2562047h"), Duration::from_secs(2_562_047 * 3600));
    }

    #[test]
    fn refuses_with_clear_messages() {
        assert!(error("").contains("empty"));
        assert!(error("-1h").contains("negative"));
        assert!(error("10").contains("missing unit after 10"));
        assert!(error("1.5").contains("missing unit"));
        assert!(error("1d").contains("168h"));
        assert!(error("1x").contains("unknown unit \"x\""));
        assert!(error("h").contains("expected a number"));
        assert!(error(".s").contains("expected a number"));
        assert!(error("1h 30m").contains("unknown unit"));
        assert!(error("+").contains("number"));
        assert!(error("2562048h").contains("too large"));
        assert!(error("99999999999999999999999h").contains("too large"));
        assert!(error("1H").contains("unknown unit"));
    }

    #[test]
    fn formats_like_go() {
        for (duration, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_nanos(1_500), "1.5\u{b5}s"),
            (Duration::from_millis(300), "300ms"),
            (Duration::from_micros(1_250), "1.25ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(2 * 3600 + 45 * 60), "2h45m0s"),
            (Duration::from_secs(86_400), "24h0m0s"),
            (Duration::new(3723, 4_005_006), "1h2m3.004005006s"),
        ] {
            assert_eq!(format_go_duration(duration), text);
            assert_eq!(parse(text), duration, "{text} reads back");
        }
    }
}
