//! The tyk CLI duration grammar: an integer with an optional unit `s`, `m`, `h` or
//! `d` (`30d 24h 1m 60s 60 0`). Stricter than humantime on purpose: no mixed units
//! (`1h30m`), fractions, signs or spaces, so that `get` can print every value back in
//! exactly one canonical spelling and `get → edit → apply` diffs stay minimal.

const UNITS: [(char, i64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// Parses a duration string into seconds. The error is a sentence without the field
/// name (the caller adds where the value came from).
pub fn parse(input: &str) -> Result<i64, String> {
    let shown = format!("{input:?}");
    if input.is_empty() {
        return Err(format!("invalid duration {shown}: empty; {}", expected()));
    }
    if input.chars().any(char::is_whitespace) {
        return Err(format!(
            "invalid duration {shown}: spaces are not allowed; {}",
            expected()
        ));
    }
    if input.starts_with('-') {
        return Err(format!(
            "invalid duration {shown}: negative durations are not allowed"
        ));
    }
    if input.starts_with('+') {
        return Err(format!(
            "invalid duration {shown}: a sign is not allowed; {}",
            expected()
        ));
    }
    let digits_end = input
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(input.len());
    let (digits, rest) = input.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "invalid duration {shown}: missing number before the unit; {}",
            expected()
        ));
    }
    let unit: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
    let tail = &rest[unit.len()..];
    let mult = match (unit.as_str(), rest.chars().next()) {
        ("", None) => 1,
        ("", Some('.' | ',')) => return Err(fraction_error(&shown, input)),
        ("", Some(c)) => {
            return Err(format!(
                "invalid duration {shown}: unexpected character {c:?}; {}",
                expected()
            ))
        }
        (u, _) => {
            let mut cs = u.chars();
            match (cs.next().and_then(unit_seconds), cs.next()) {
                (Some(m), None) => m,
                _ => {
                    return Err(format!(
                        "invalid duration {shown}: unknown unit {u:?}; {}",
                        expected()
                    ))
                }
            }
        }
    };
    if tail.starts_with(|c: char| c.is_ascii_digit()) {
        let hint = mixed_total(input)
            .map(|s| format!(" (e.g. {})", format(s)))
            .unwrap_or_default();
        return Err(format!(
            "invalid duration {shown}: mixed units are not allowed; use a single unit{hint}"
        ));
    }
    if let Some(c) = tail.chars().next() {
        return Err(format!(
            "invalid duration {shown}: unexpected character {c:?} after the unit; {}",
            expected()
        ));
    }
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("invalid duration {shown}: too large"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("invalid duration {shown}: too large"))
}

/// Validates a YAML integer used as a duration (plain seconds).
pub fn from_int(n: i128) -> Result<i64, String> {
    if n < 0 {
        return Err(format!(
            "invalid duration {n}: negative durations are not allowed"
        ));
    }
    i64::try_from(n).map_err(|_| format!("invalid duration {n}: too large"))
}

/// Formats seconds in the largest unit that divides them evenly: 86400 → `1d`,
/// 90 → `90s`, 0 → `0`. Negative values (not producible by `parse`) print as plain
/// integers so nothing is silently changed.
pub fn format(secs: i64) -> String {
    if secs == 0 {
        return "0".to_string();
    }
    if secs < 0 {
        return secs.to_string();
    }
    for (unit, mult) in UNITS {
        if secs % mult == 0 {
            return format!("{}{unit}", secs / mult);
        }
    }
    secs.to_string()
}

fn unit_seconds(c: char) -> Option<i64> {
    UNITS.iter().find(|(u, _)| *u == c).map(|(_, m)| *m)
}

fn expected() -> &'static str {
    "expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"
}

fn fraction_error(shown: &str, input: &str) -> String {
    // "1.5h" → 5400 s → suggest "90m" when the value is a whole number of seconds.
    let hint = input
        .strip_suffix(|c: char| c.is_ascii_alphabetic())
        .zip(input.chars().last())
        .and_then(|(num, u)| Some((num.replace(',', ".").parse::<f64>().ok()?, u)))
        .or_else(|| Some((input.replace(',', ".").parse::<f64>().ok()?, 's')))
        .and_then(|(v, u)| {
            let secs = v * unit_seconds(u)? as f64;
            (secs.fract() == 0.0 && secs > 0.0 && secs < 1e15).then(|| format(secs as i64))
        })
        .map(|s| format!(" (e.g. {s})"))
        .unwrap_or_default();
    format!("invalid duration {shown}: fractions are not allowed; use a smaller unit{hint}")
}

/// The total of a mixed-unit spelling such as `1h30m`, for the hint in its error.
fn mixed_total(input: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut num = String::new();
    for c in input.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: i64 = num.parse().ok()?;
            total = total.checked_add(n.checked_mul(unit_seconds(c)?)?)?;
            num.clear();
        }
    }
    if !num.is_empty() {
        total = total.checked_add(num.parse().ok()?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_valid_form() {
        let cases: &[(&str, i64)] = &[
            ("30d", 2_592_000),
            ("24h", 86_400),
            ("1m", 60),
            ("60s", 60),
            ("60", 60),
            ("0", 0),
            ("0s", 0),
            ("0d", 0),
            ("1d", 86_400),
            ("90m", 5_400),
            ("007", 7),
            ("9223372036854775807", i64::MAX),
            ("106751991167300d", 106_751_991_167_300 * 86_400),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Ok(*want), "{input:?}");
        }
    }

    #[test]
    fn every_invalid_form_with_its_message() {
        let cases: &[(&str, &str)] = &[
            ("1h30m", "invalid duration \"1h30m\": mixed units are not allowed; use a single unit (e.g. 90m)"),
            ("1d12h", "invalid duration \"1d12h\": mixed units are not allowed; use a single unit (e.g. 36h)"),
            ("1.5h", "invalid duration \"1.5h\": fractions are not allowed; use a smaller unit (e.g. 90m)"),
            ("0.5", "invalid duration \"0.5\": fractions are not allowed; use a smaller unit"),
            ("-1", "invalid duration \"-1\": negative durations are not allowed"),
            ("-1d", "invalid duration \"-1d\": negative durations are not allowed"),
            ("+5", "invalid duration \"+5\": a sign is not allowed; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("10w", "invalid duration \"10w\": unknown unit \"w\"; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("10ms", "invalid duration \"10ms\": unknown unit \"ms\"; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("5min", "invalid duration \"5min\": unknown unit \"min\"; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("5%", "invalid duration \"5%\": unexpected character '%'; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("5s!", "invalid duration \"5s!\": unexpected character '!' after the unit; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("1H", "invalid duration \"1H\": unknown unit \"H\"; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("", "invalid duration \"\": empty; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("1 h", "invalid duration \"1 h\": spaces are not allowed; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            (" 60", "invalid duration \" 60\": spaces are not allowed; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("m", "invalid duration \"m\": missing number before the unit; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("abc", "invalid duration \"abc\": missing number before the unit; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
            ("9223372036854775808", "invalid duration \"9223372036854775808\": too large"),
            ("106751991167301d", "invalid duration \"106751991167301d\": too large"),
            ("99999999999999999999999d", "invalid duration \"99999999999999999999999d\": too large"),
            ("١٠s", "invalid duration \"١٠s\": missing number before the unit; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)"),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Err(want.to_string()), "{input:?}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(from_int(0), Ok(0));
        assert_eq!(from_int(60), Ok(60));
        assert_eq!(
            from_int(-1),
            Err("invalid duration -1: negative durations are not allowed".into())
        );
        assert_eq!(
            from_int(i128::from(i64::MAX) + 1),
            Err("invalid duration 9223372036854775808: too large".into())
        );
    }

    #[test]
    fn formats_in_the_largest_clean_unit() {
        let cases: &[(i64, &str)] = &[
            (0, "0"),
            (1, "1s"),
            (59, "59s"),
            (60, "1m"),
            (90, "90s"),
            (120, "2m"),
            (3_600, "1h"),
            (5_400, "90m"),
            (86_400, "1d"),
            (90_000, "25h"),
            (2_592_000, "30d"),
            (-5, "-5"),
        ];
        for (secs, want) in cases {
            assert_eq!(format(*secs), *want, "{secs}");
        }
    }

    #[test]
    fn format_then_parse_round_trips() {
        for secs in [
            0,
            1,
            59,
            60,
            61,
            3_599,
            3_600,
            86_399,
            86_400,
            2_592_000,
            i64::MAX,
        ] {
            assert_eq!(parse(&format(secs)), Ok(secs), "{secs}");
        }
    }
}
