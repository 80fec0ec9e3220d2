//! RFC 3339 timestamps with nanoseconds, to and from ns since the epoch.

/// The wall clock, in ns since the epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A wall-clock time, in ns since the epoch, printed as RFC 3339 with ns
/// (`rfc3339_ns`) when it is serialized: an event that is never printed (a
/// folded repeat) never formats it, and a sink that wants the number (OTLP)
/// reads it without parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WallTime(pub i128);

impl std::fmt::Display for WallTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rfc3339_ns(self.0))
    }
}

impl serde::Serialize for WallTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&rfc3339_ns(self.0))
    }
}

/// Formats ns since the epoch as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
/// Written digit by digit: it runs several times per event.
pub fn rfc3339_ns(epoch_ns: i128) -> String {
    let secs = epoch_ns.div_euclid(1_000_000_000);
    let nanos = epoch_ns.rem_euclid(1_000_000_000) as u32;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let (y, m, d) = civil_from_days(days as i64);
    if !(0..=9999).contains(&y) {
        // Outside what four digits hold: the slow path, same shape.
        return format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        );
    }
    let mut out = [0u8; 30];
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (at..at + digits).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y as u32, 4);
    put(5, m, 2);
    put(8, d, 2);
    put(11, sod / 3600, 2);
    put(14, sod / 60 % 60, 2);
    put(17, sod % 60, 2);
    put(20, nanos, 9);
    for (at, sep) in
        [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (29, b'Z')]
    {
        out[at] = sep;
    }
    // ASCII digits and separators only.
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

/// Parses RFC 3339 (`2026-11-24T13:22:32.91Z`, `...+02:00`) to ns since
/// the epoch. None when malformed.
pub fn parse_rfc3339_ns(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut at = 19;
    let mut nanos: i128 = 0;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        at = start;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return None;
        }
        // The first nine digits, as nanoseconds (`.5` is 500 ms); more
        // are below a nanosecond. No allocation: it runs per exported record.
        for place in 0..9 {
            let digit = b.get(start + place).filter(|_| start + place < at).map_or(0, |c| c - b'0');
            nanos = nanos * 10 + i128::from(digit);
        }
    }
    let offset_secs: i64 = match text.get(at..)? {
        "Z" | "z" => 0,
        zone if zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':' =>
        {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (num(at + 1..at + 3)? * 3600 + num(at + 4..at + 6)? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_ns(0), "1970-01-01T00:00:00.000000000Z");
        // A leap day.
        assert_eq!(rfc3339_ns(951_827_696_000_000_789), "2000-02-29T12:34:56.000000789Z");
        assert_eq!(rfc3339_ns(1_795_525_897_500_000_000), "2026-11-24T13:11:37.500000000Z");
        assert_eq!(rfc3339_ns(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn the_digit_by_digit_form_is_the_formatted_one() {
        let reference = |ns: i128| {
            let secs = ns.div_euclid(1_000_000_000);
            let nanos = ns.rem_euclid(1_000_000_000);
            let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
            let (y, m, d) = civil_from_days(days as i64);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
                sod / 3600,
                sod / 60 % 60,
                sod % 60
            )
        };
        let mut ns: i128 = -62_167_219_200_000_000_000; // 0000-01-01
        while ns < 253_402_300_800_000_000_000 {
            // 9999-12-31 and beyond
            assert_eq!(rfc3339_ns(ns), reference(ns), "{ns}");
            ns += 7_777_777_777_777_777;
        }
        assert_eq!(rfc3339_ns(253_402_300_800_000_000_000), "10000-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn parses_what_it_formats_and_common_forms() {
        for ns in [0i128, 951_827_696_000_000_789, 1_795_525_897_500_000_000, -1] {
            assert_eq!(parse_rfc3339_ns(&rfc3339_ns(ns)), Some(ns));
        }
        assert_eq!(parse_rfc3339_ns("2027-01-01T00:00:00Z"), Some(1_798_761_600_000_000_000));
        assert_eq!(parse_rfc3339_ns("2027-01-01T02:00:00+02:00"), Some(1_798_761_600_000_000_000));
        assert_eq!(parse_rfc3339_ns("2027-01-01T00:00:00.5Z"), Some(1_798_761_600_500_000_000));
        // Past nine digits: below a nanosecond, dropped.
        assert_eq!(
            parse_rfc3339_ns("2027-01-01T00:00:00.1234567891Z"),
            Some(1_798_761_600_123_456_789)
        );
        for bad in [
            "",
            "2027-01-01",
            "2027-13-01T00:00:00Z",
            "2027-01-01T00:00:00",
            "2027-01-01T00:00:00.Z",
            "next tuesday",
        ] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad}");
        }
    }
}
