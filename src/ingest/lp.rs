//! Line protocol text to timestamped points that share the body's bytes, one result per line.
//!
//! The parser is InfluxData's `influxdb-line-protocol`; this module adds what it
//! leaves to callers: CRLF line ends, 1-based line numbers that count blank and
//! comment lines, duplicate tag keys, reserved names, and precision.

use std::fmt::Write as _;

use std::sync::Arc;

use influxdb_line_protocol::{FieldValue as LpFieldValue, split_lines};
pub use smol_str::SmolStr;

/// The unit of the timestamps in a write request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    Nanosecond,
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
}

impl Precision {
    /// Parses the spellings of the 1.x, 2.x and 3.x write APIs.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "n" | "ns" | "nanosecond" | "auto" => Self::Nanosecond,
            "u" | "us" | "µ" | "µs" | "microsecond" => Self::Microsecond,
            "ms" | "millisecond" => Self::Millisecond,
            "s" | "second" => Self::Second,
            "m" | "minute" => Self::Minute,
            "h" | "hour" => Self::Hour,
            _ => return None,
        })
    }

    fn nanos(self) -> i64 {
        match self {
            Self::Nanosecond => 1,
            Self::Microsecond => 1_000,
            Self::Millisecond => 1_000_000,
            Self::Second => 1_000_000_000,
            Self::Minute => 60_000_000_000,
            Self::Hour => 3_600_000_000_000,
        }
    }
}

/// A field value, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Float(f64),
    Integer(i64),
    UInteger(u64),
    String(String),
    Boolean(bool),
}

/// One parsed line: measurement, tags in line order, fields, time in nanoseconds.
///
/// Names and tag values are byte ranges of a shared text (the request body,
/// or for a line with escapes its own unescaped strings), not strings of
/// their own: copying thirty-one names and values out of every TSBS line
/// was a sixth of the server's CPU during a load.
#[derive(Debug, Clone)]
pub struct Point {
    text: Arc<str>,
    measurement: Span,
    tags: Vec<(Span, Span)>,
    fields: Vec<(Span, FieldValue)>,
    pub time: i64,
}

/// A byte range of a point's text.
type Span = (usize, usize);

impl Point {
    /// A point with its own text (tests, and lines that needed unescaping).
    pub fn new(measurement: &str, tags: &[(&str, &str)], fields: Vec<(&str, FieldValue)>, time: i64) -> Self {
        let mut text = String::new();
        let mut span = |s: &str| {
            text.push_str(s);
            (text.len() - s.len(), text.len())
        };
        let measurement = span(measurement);
        let tags = tags.iter().map(|(k, v)| (span(k), span(v))).collect();
        let fields = fields.into_iter().map(|(k, v)| (span(k), v)).collect();
        Self { text: Arc::from(text), measurement, tags, fields, time }
    }

    fn str(&self, (start, end): Span) -> &str {
        &self.text[start..end]
    }

    pub fn measurement(&self) -> &str {
        self.str(self.measurement)
    }

    /// (key, value) in line order.
    pub fn tags(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone + '_ {
        self.tags.iter().map(|&(k, v)| (self.str(k), self.str(v)))
    }

    /// (name, value) in line order, each name once.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&str, &FieldValue)> + Clone + '_ {
        self.fields.iter().map(|(k, v)| (self.str(*k), v))
    }
}

impl PartialEq for Point {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time
            && self.measurement() == other.measurement()
            && self.tags().eq(other.tags())
            && self.fields().eq(other.fields())
    }
}

/// A line that could not be stored, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedLine {
    /// 1-based, counting every line of the body.
    pub line_number: usize,
    pub original_line: String,
    pub reason: String,
    /// The line is not line protocol at all (as opposed to not fitting the schema).
    pub syntax: bool,
}

/// Longest prefix of a rejected line echoed back to the client, in bytes.
const ORIGINAL_LINE_MAX: usize = 100;

impl RejectedLine {
    pub fn new(line_number: usize, line: &str, reason: impl Into<String>) -> Self {
        let mut end = line.len().min(ORIGINAL_LINE_MAX);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        Self { line_number, original_line: line[..end].to_owned(), reason: reason.into(), syntax: false }
    }
}

/// A parsed point with where it came from, so later checks can name its line.
#[derive(Debug)]
pub struct NumberedPoint<'a> {
    pub line_number: usize,
    pub line: &'a str,
    pub point: Point,
}

/// Parses a whole body. Lines without a timestamp get `default_time` (nanoseconds).
///
/// Most bodies hold no quote and no backslash: their lines split at every
/// `\n` and take [`fast_line`]; the rest, and every line the fast path is
/// unsure of, go through InfluxData's parser, which owns the grammar's
/// corners (escapes, newlines in strings) and the error messages.
pub fn parse_body(body: &str, precision: Precision, default_time: i64) -> (Vec<NumberedPoint<'_>>, Vec<RejectedLine>) {
    // One copy of the body that the points share; their spans are offsets
    // into `body`, which holds the same bytes.
    let text: Arc<str> = Arc::from(body);
    let base = body.as_ptr() as usize;
    let mut points = Vec::new();
    let mut rejected = Vec::new();
    // Without quotes no newline can sit inside a string value.
    let plain = !body.bytes().any(|b| b == b'"' || b == b'\\');
    let lines: Box<dyn Iterator<Item = &str>> =
        if plain { Box::new(body.split('\n')) } else { Box::new(split_lines(body)) };
    for (index, raw) in lines.enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line_number = index + 1;
        let unescaped = plain || !line.as_bytes().contains(&b'\\');
        let parsed = match unescaped.then(|| fast_line(line)).flatten() {
            Some(raw) => raw.point(precision, default_time, &text, base).map(Some),
            None => parse_line(line, precision, default_time),
        };
        match parsed {
            Ok(None) => {}
            Ok(Some(point)) => points.push(NumberedPoint { line_number, line, point }),
            Err(reason) => rejected.push(RejectedLine { syntax: true, ..RejectedLine::new(line_number, line, reason) }),
        }
    }
    (points, rejected)
}

/// A line split into its parts, borrowing from the body.
struct RawLine<'a> {
    measurement: &'a str,
    tags: Vec<(&'a str, &'a str)>,
    fields: Vec<(&'a str, FieldValue)>,
    timestamp: Option<i64>,
}

impl RawLine<'_> {
    /// The point, after the checks InfluxData's parser leaves to callers.
    /// Its strings are spans of `text`, whose bytes start at address `base`
    /// in the body this line borrows from.
    fn point(mut self, precision: Precision, default_time: i64, text: &Arc<str>, base: usize) -> Result<Point, String> {
        let time = self.checked(precision, default_time)?;
        let span = |s: &str| {
            let start = s.as_ptr() as usize - base;
            (start, start + s.len())
        };
        let tags = self.tags.iter().map(|(k, v)| (span(k), span(v))).collect();
        let fields = self.fields.into_iter().map(|(k, v)| (span(k), v)).collect();
        Ok(Point { text: Arc::clone(text), measurement: span(self.measurement), tags, fields, time })
    }

    /// The point with a text of its own, for a line whose strings were unescaped.
    fn owned_point(mut self, precision: Precision, default_time: i64) -> Result<Point, String> {
        let time = self.checked(precision, default_time)?;
        Ok(Point::new(self.measurement, &self.tags, self.fields, time))
    }

    /// Checks names, folds repeated fields (InfluxDB keeps the last value),
    /// and answers the time in nanoseconds.
    fn checked(&mut self, precision: Precision, default_time: i64) -> Result<i64, String> {
        for (i, (key, _)) in self.tags.iter().enumerate() {
            if self.tags[..i].iter().any(|(k, _)| same_name(k, key)) {
                return Err(format!("duplicate tag key {key:?}"));
            }
            check_column_name(key, "tag key")?;
        }
        let mut i = 0;
        while i < self.fields.len() {
            let key = self.fields[i].0;
            check_column_name(key, "field key")?;
            if self.tags.iter().any(|(k, _)| same_name(k, key)) {
                return Err(format!("{key:?} is both a tag and a field"));
            }
            match self.fields[..i].iter().position(|(k, _)| same_name(k, key)) {
                Some(first) => {
                    let (_, value) = self.fields.remove(i);
                    self.fields[first].1 = value;
                }
                None => i += 1,
            }
        }
        match self.timestamp {
            Some(ts) => ts
                .checked_mul(precision.nanos())
                .ok_or_else(|| format!("timestamp {ts} is out of range for precision {precision:?}")),
            None => Ok(default_time),
        }
    }
}

/// `a == b` for column names, which a line compares pairwise (ten tags and
/// ten fields make 145 pairs) and which mostly differ in length or in
/// their last byte (`usage_user`, `usage_idle`): check those before `memcmp`.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().last() == b.as_bytes().last() && a == b
}

/// Splits a line without backslashes in one pass, or `None` where
/// anything is unusual (a comment, an empty name, a tab, two spaces, a value
/// it does not recognise): InfluxData's parser then decides, so both paths
/// accept exactly the same lines and reject with the same messages.
fn fast_line(line: &str) -> Option<RawLine<'_>> {
    let bytes = line.as_bytes();
    if matches!(bytes.first(), None | Some(b'#' | b' ' | b'\t')) {
        return None;
    }
    let name_end = bytes.iter().position(|&b| b == b',' || b == b' ')?;
    let measurement = &line[..name_end];
    if name_end == 0 || measurement.bytes().any(|b| matches!(b, b'=' | b'\t' | b'"')) {
        return None;
    }
    let mut at = name_end;
    let mut tags = Vec::with_capacity(16);
    while bytes[at] == b',' {
        let key_start = at + 1;
        let eq = key_end(bytes, key_start)?;
        let value_start = eq + 1;
        let end = value_start + bytes[value_start..].iter().position(|&b| matches!(b, b',' | b' ' | b'=' | b'\t'))?;
        if bytes[end] == b'=' || bytes[end] == b'\t' || end == value_start {
            return None;
        }
        tags.push((&line[key_start..eq], &line[value_start..end]));
        at = end;
    }
    // One space, then the fields.
    at += 1;
    let mut fields = Vec::with_capacity(16);
    loop {
        let key_start = at;
        let eq = key_end(bytes, key_start)?;
        let value_start = eq + 1;
        let (value, end) = if bytes.get(value_start) == Some(&b'"') {
            let close = value_start + 1 + bytes[value_start + 1..].iter().position(|&b| b == b'"')?;
            (FieldValue::String(line[value_start + 1..close].to_owned()), close + 1)
        } else {
            let end = value_start
                + bytes[value_start..]
                    .iter()
                    .position(|&b| matches!(b, b',' | b' '))
                    .unwrap_or(bytes.len() - value_start);
            (field_value(&line[value_start..end])?, end)
        };
        fields.push((&line[key_start..eq], value));
        match bytes.get(end) {
            Some(b',') => at = end + 1,
            Some(b' ') => {
                let ts = &line[end + 1..];
                return Some(RawLine { measurement, tags, fields, timestamp: Some(integer(ts)?) });
            }
            None => return Some(RawLine { measurement, tags, fields, timestamp: None }),
            Some(_) => return None,
        }
    }
}

/// The `=` ending a non-empty tag or field key that starts at `start`; `None`
/// when a separator or the end of the line comes first.
fn key_end(bytes: &[u8], start: usize) -> Option<usize> {
    let eq = start + bytes.get(start..)?.iter().position(|&b| matches!(b, b'=' | b',' | b' ' | b'\t'))?;
    (bytes[eq] == b'=' && eq > start).then_some(eq)
}

/// `-?[0-9]+` as an i64; `None` otherwise (or on overflow).
fn integer(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The field values the fast path takes: plain decimals (`12`, `-0.5`),
/// `12i`, `12u`, `true`/`false`/`t`/`f`. Exponents, `+`, `.5`, `1.` and the
/// other boolean spellings are left to InfluxData's parser.
fn field_value(token: &str) -> Option<FieldValue> {
    match token {
        "true" | "t" => return Some(FieldValue::Boolean(true)),
        "false" | "f" => return Some(FieldValue::Boolean(false)),
        _ => {}
    }
    if let Some(i) = token.strip_suffix('i') {
        return integer(i).map(FieldValue::Integer);
    }
    if let Some(u) = token.strip_suffix('u') {
        return if !u.is_empty() && u.bytes().all(|b| b.is_ascii_digit()) {
            u.parse().ok().map(FieldValue::UInteger)
        } else {
            None
        };
    }
    let digits = token.strip_prefix('-').unwrap_or(token);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !plain(whole) || !plain(fraction) {
        return None;
    }
    token.parse().ok().map(FieldValue::Float)
}

fn parse_line(line: &str, precision: Precision, default_time: i64) -> Result<Option<Point>, String> {
    let Some(parsed) = influxdb_line_protocol::parse_lines(line).next() else {
        return Ok(None);
    };
    let parsed = parsed.map_err(|e| e.to_string())?;
    let tags = parsed.series.tag_set.iter().flatten().map(|(key, value)| (key.as_str(), value.as_str())).collect();
    let fields = parsed
        .field_set
        .iter()
        .map(|(key, value)| {
            let value = match value {
                LpFieldValue::F64(v) => FieldValue::Float(*v),
                LpFieldValue::I64(v) => FieldValue::Integer(*v),
                LpFieldValue::U64(v) => FieldValue::UInteger(*v),
                LpFieldValue::String(v) => FieldValue::String(v.as_str().to_owned()),
                LpFieldValue::Boolean(v) => FieldValue::Boolean(*v),
            };
            (key.as_str(), value)
        })
        .collect();
    let raw = RawLine { measurement: parsed.series.measurement.as_str(), tags, fields, timestamp: parsed.timestamp };
    raw.owned_point(precision, default_time).map(Some)
}

/// The name rule that holds for every line; the catalog's own rules
/// (length, control characters) are checked only for new columns, in
/// `validate`, since the catalog's columns already obey them.
fn check_column_name(name: &str, what: &str) -> Result<(), String> {
    if name == sediment_catalog::TIME_COLUMN {
        return Err(format!("{what} \"time\" is reserved for the timestamp"));
    }
    Ok(())
}

/// Writes `point` back as one canonical line (nanosecond timestamp), for the WAL.
pub fn write_line(out: &mut String, point: &Point) {
    escape(out, point.measurement(), &[',', ' ']);
    for (k, v) in point.tags() {
        out.push(',');
        escape(out, k, &[',', '=', ' ']);
        out.push('=');
        escape(out, v, &[',', '=', ' ']);
    }
    for (i, (k, v)) in point.fields().enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        escape(out, k, &[',', '=', ' ']);
        out.push('=');
        // Writing to a String cannot fail.
        let _ = match v {
            FieldValue::Float(f) => write!(out, "{f:?}"),
            FieldValue::Integer(i) => write!(out, "{i}i"),
            FieldValue::UInteger(u) => write!(out, "{u}u"),
            FieldValue::Boolean(b) => write!(out, "{b}"),
            FieldValue::String(s) => {
                out.push('"');
                escape(out, s, &['"', '\\']);
                out.push('"');
                Ok(())
            }
        };
    }
    let _ = write!(out, " {}", point.time);
}

fn escape(out: &mut String, s: &str, special: &[char]) {
    for c in s.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> (Vec<Point>, Vec<RejectedLine>) {
        let (points, rejected) = parse_body(body, Precision::Second, 42);
        (points.into_iter().map(|p| p.point).collect(), rejected)
    }

    #[test]
    fn precision_scales_timestamps_and_missing_ones_get_the_default() {
        let (points, rejected) = parse("cpu,host=a usage=1.5,n=3i 1704067200\ncpu v=1");
        assert!(rejected.is_empty(), "{rejected:?}");
        assert_eq!(points[0].time, 1_704_067_200_000_000_000);
        assert_eq!(points[0].fields().nth(1), Some(("n", &FieldValue::Integer(3))));
        assert_eq!(points[1].time, 42);
    }

    #[test]
    fn line_numbers_count_blank_and_comment_lines_and_crlf_is_accepted() {
        let (points, rejected) = parse("# comment\r\ncpu v=1 1\r\n\r\ncpu v= 2\r\ncpu v=2 3");
        assert_eq!(points.len(), 2);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].line_number, 4);
        assert_eq!(rejected[0].original_line, "cpu v= 2");
    }

    #[test]
    fn duplicate_tags_reserved_names_and_overflow_are_rejected_per_line() {
        let (_, rejected) = parse("a,t=1,t=2 v=1\na time=1\na,time=x v=1\na,v=1 v=2\na v=1 99999999999999999");
        let numbers: Vec<_> = rejected.iter().map(|r| r.line_number).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5], "{rejected:?}");
        assert!(rejected[0].reason.contains("duplicate tag key"), "{}", rejected[0].reason);
    }

    /// The fast path must take a line exactly as InfluxData's parser does, or leave it to it.
    fn assert_same_as_reference(line: &str) {
        let Some(fast) = fast_line(line) else { return };
        let fast = fast.point(Precision::Nanosecond, 7, &Arc::from(line), line.as_ptr() as usize);
        let reference = parse_line(line, Precision::Nanosecond, 7);
        match (&fast, &reference) {
            (Ok(f), Ok(Some(r))) => assert_eq!(f, r, "{line:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{line:?}: fast path {fast:?}, reference {reference:?}"),
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_reference_parser() {
        let lines = [
            "cpu,host=a,region=eu usage=1.5,n=3i,u=7u,b=true,c=f,s=\"x, y=z\" 1704067200",
            "cpu v=-0.25 -5",
            "cpu v=12 ",
            "cpu  v=1 1",
            "cpu,host=a  v=1",
            "cpu,=a v=1",
            "cpu,a= v=1",
            "cpu,a=b=c v=1",
            "cpu,a=b v=1,v=2 3",
            "cpu,a=b a=1",
            "cpu,time=b v=1",
            "cpu time=1",
            "cpu v=1e5",
            "cpu v=.5",
            "cpu v=1.",
            "cpu v=+1",
            "cpu v=inf",
            "cpu v=NaN",
            "cpu v=9223372036854775808i",
            "cpu v=-9223372036854775808i",
            "cpu v=18446744073709551615u",
            "cpu v=-1u",
            "cpu v=True",
            "cpu v=\"unterminated",
            "cpu v=\"a\"b",
            "cpu v=1 99999999999999999999",
            "cpu v=1 12x",
            "cpu v=1,",
            "cpu v=",
            "cpu =1",
            ",a=b v=1",
            "cpu",
            "cpu\tv=1",
            "cpu v=1\t1",
            "cp\"u v=1",
            "é,ü=ß v=\"ø\" 1",
        ];
        for line in lines {
            assert_same_as_reference(line);
        }
        assert!(fast_line(lines[0]).is_some() && fast_line(lines[1]).is_some(), "the common shapes take the fast path");
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_agrees_on_arbitrary_lines(line in "[a-c,=\" .0-9eitu#-]{0,24}") {
            assert_same_as_reference(&line);
        }
    }

    #[test]
    fn original_lines_are_cut_on_a_char_boundary() {
        let long = format!("{} v=", "é".repeat(80));
        let r = RejectedLine::new(1, &long, "x");
        assert!(r.original_line.len() <= 100);
        assert!(long.starts_with(&r.original_line));
    }

    #[test]
    fn written_lines_parse_back_to_the_same_point() {
        let body = r#"we\ ird\,m,t\=k=v\ 1\,x f\ 1="q\"uo\\te",i=-3i,u=7u,b=true,x=0.1 1"#;
        let (points, rejected) = parse_body(body, Precision::Nanosecond, 0);
        assert!(rejected.is_empty(), "{rejected:?}");
        let mut out = String::new();
        write_line(&mut out, &points[0].point);
        let (again, rejected) = parse_body(&out, Precision::Nanosecond, 0);
        assert!(rejected.is_empty(), "{out}: {rejected:?}");
        assert_eq!(again[0].point, points[0].point);
    }
}
