//! One text form for every value, reached from two sides: Arrow arrays (the
//! in-process engine) and Postgres binary-format values (the wire engine).
//! A file's expected rows are checked against both, so a difference between
//! what the engine computes and what pgwire sends is a failing test.
//!
//! The form: `NULL`, `(empty)` for an empty string, `true`/`false`, integers
//! and numerics in decimal, floats as Rust prints them (shortest round trip),
//! timestamps `YYYY-MM-DDTHH:MM:SS[.ffffff]` (microseconds: what Postgres
//! carries) with `Z` when they have a zone, dates `YYYY-MM-DD`, byte strings in
//! hex, lists `[a, b]`.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    IntervalMonthDayNanoType, IntervalUnit, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use chrono::{DateTime, NaiveDate, NaiveTime};
use sqllogictest::ColumnType;
use tokio_postgres::types::{FromSql, Kind, Type};

/// Column types as DataFusion's own .slt files spell them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SltType {
    Boolean,
    DateTime,
    Integer,
    Float,
    Text,
    Timestamp,
    Other,
}

impl ColumnType for SltType {
    fn from_char(value: char) -> Option<Self> {
        Some(match value {
            'B' => Self::Boolean,
            'D' => Self::DateTime,
            'I' => Self::Integer,
            'R' => Self::Float,
            'T' => Self::Text,
            'P' => Self::Timestamp,
            _ => Self::Other,
        })
    }

    fn to_char(&self) -> char {
        match self {
            Self::Boolean => 'B',
            Self::DateTime => 'D',
            Self::Integer => 'I',
            Self::Float => 'R',
            Self::Text => 'T',
            Self::Timestamp => 'P',
            Self::Other => '?',
        }
    }
}

pub(crate) const NULL: &str = "NULL";

pub(crate) fn arrow_type(dt: &DataType) -> SltType {
    match dt {
        DataType::Boolean => SltType::Boolean,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => SltType::Integer,
        DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => SltType::Float,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SltType::Text,
        DataType::Dictionary(_, value) => arrow_type(value),
        DataType::Timestamp(..) => SltType::Timestamp,
        DataType::Date32 | DataType::Date64 | DataType::Time32(_) | DataType::Time64(_) => SltType::DateTime,
        _ => SltType::Other,
    }
}

pub(crate) fn pg_type(ty: &Type) -> SltType {
    match *ty {
        Type::BOOL => SltType::Boolean,
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => SltType::Integer,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => SltType::Float,
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR | Type::CHAR => SltType::Text,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => SltType::Timestamp,
        Type::DATE | Type::TIME => SltType::DateTime,
        _ => SltType::Other,
    }
}

fn text(s: &str) -> String {
    if s.is_empty() { "(empty)".to_owned() } else { s.to_owned() }
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity".to_owned() } else { "-Infinity".to_owned() }
    } else if v != 0.0 && (v.abs() >= 1e16 || v.abs() < 1e-4) {
        // Postgres switches to exponents at about these magnitudes too.
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

fn float32(v: f32) -> String {
    if !v.is_finite() {
        float(f64::from(v))
    } else if v != 0.0 && (v.abs() >= 1e16 || v.abs() < 1e-4) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

fn timestamp(micros: i64, zoned: bool) -> String {
    let zone = if zoned { "Z" } else { "" };
    match DateTime::from_timestamp_micros(micros) {
        Some(t) => format!("{}{zone}", t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f")),
        None => format!("<timestamp out of range: {micros}>"),
    }
}

fn date(days_since_unix_epoch: i64) -> String {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    match epoch.checked_add_signed(chrono::Duration::days(days_since_unix_epoch)) {
        Some(d) => d.to_string(),
        None => format!("<date out of range: {days_since_unix_epoch}>"),
    }
}

fn time_of_day(micros: i64) -> String {
    let secs = u32::try_from(micros.div_euclid(1_000_000)).unwrap_or(u32::MAX);
    let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0);
    NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
        .map_or_else(|| format!("<time out of range: {micros}>"), |t| t.format("%H:%M:%S%.f").to_string())
}

fn interval(months: i32, days: i32, micros: i64) -> String {
    format!("{months} mons {days} days {} secs", float(micros as f64 / 1e6))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One cell of an Arrow array in the common form.
pub(crate) fn arrow_cell(array: &dyn Array, row: usize) -> String {
    // Logical nulls: a `Null`-typed array has no validity buffer but is all null.
    if array.logical_nulls().is_some_and(|nulls| nulls.is_null(row)) {
        return NULL.to_owned();
    }
    match array.data_type() {
        DataType::Boolean => array.as_boolean().value(row).to_string(),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row).to_string(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row).to_string(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row).to_string(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).to_string(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).to_string(),
        DataType::Float32 => float32(array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, scale) => {
            let v = array.as_primitive::<Decimal128Type>().value(row);
            decimal(v, *scale)
        }
        DataType::Utf8 => text(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => text(array.as_string::<i64>().value(row)),
        DataType::Utf8View => text(array.as_string_view().value(row)),
        DataType::Binary => hex(array.as_binary::<i32>().value(row)),
        DataType::LargeBinary => hex(array.as_binary::<i64>().value(row)),
        DataType::Dictionary(..) => {
            let dict = array.as_any_dictionary();
            let key = dict.normalized_keys()[row];
            arrow_cell(dict.values().as_ref(), key)
        }
        DataType::Timestamp(unit, zone) => {
            let micros = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row) * 1_000_000,
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(row) * 1000,
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(row),
                // Postgres carries microseconds; the wire truncates the rest.
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row).div_euclid(1000),
            };
            timestamp(micros, zone.is_some())
        }
        DataType::Date32 => date(i64::from(array.as_primitive::<Date32Type>().value(row))),
        DataType::Time64(TimeUnit::Microsecond) => {
            time_of_day(array.as_primitive::<Time64MicrosecondType>().value(row))
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            time_of_day(array.as_primitive::<Time64NanosecondType>().value(row).div_euclid(1000))
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            interval(v.months, v.days, v.nanoseconds / 1000)
        }
        DataType::List(_) => list(&array.as_list::<i32>().value(row)),
        DataType::LargeList(_) => list(&array.as_list::<i64>().value(row)),
        other => format!("<arrow type {other} not in the runner>"),
    }
}

fn list(items: &dyn Array) -> String {
    let items: Vec<String> = (0..items.len()).map(|i| arrow_cell(items, i)).collect();
    format!("[{}]", items.join(", "))
}

fn decimal(v: i128, scale: i8) -> String {
    if scale <= 0 {
        return (v * 10i128.pow(u32::from(scale.unsigned_abs()))).to_string();
    }
    let scale = usize::from(scale.unsigned_abs());
    let digits = v.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

/// A value in Postgres binary format, kept raw so the runner decodes it
/// itself: the point is to check what sediment puts on the wire.
#[derive(Debug)]
pub(crate) struct PgBinary(String);

impl PgBinary {
    pub(crate) fn into_text(self) -> String {
        self.0
    }
}

impl<'a> FromSql<'a> for PgBinary {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(pg_binary(ty, raw)?))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(NULL.to_owned()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

type DecodeResult = Result<String, Box<dyn std::error::Error + Sync + Send>>;

fn be<const N: usize>(raw: &[u8], ty: &Type) -> Result<[u8; N], Box<dyn std::error::Error + Sync + Send>> {
    raw.try_into().map_err(|_| format!("{ty}: {} bytes, expected {N}", raw.len()).into())
}

/// Postgres's epoch for timestamps and dates is 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i64 = 10_957;

fn pg_binary(ty: &Type, raw: &[u8]) -> DecodeResult {
    Ok(match *ty {
        Type::BOOL => match raw {
            [0] => "false".to_owned(),
            [1] => "true".to_owned(),
            _ => return Err(format!("bool: bytes {raw:?}").into()),
        },
        Type::INT2 => i16::from_be_bytes(be(raw, ty)?).to_string(),
        Type::INT4 => i32::from_be_bytes(be(raw, ty)?).to_string(),
        Type::INT8 => i64::from_be_bytes(be(raw, ty)?).to_string(),
        Type::OID => u32::from_be_bytes(be(raw, ty)?).to_string(),
        Type::FLOAT4 => float32(f32::from_be_bytes(be(raw, ty)?)),
        Type::FLOAT8 => float(f64::from_be_bytes(be(raw, ty)?)),
        Type::NUMERIC => numeric(raw)?,
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR | Type::UNKNOWN | Type::JSON => {
            text(std::str::from_utf8(raw)?)
        }
        Type::CHAR => text(std::str::from_utf8(raw)?),
        Type::BYTEA => hex(raw),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(be(raw, ty)?);
            timestamp(micros + PG_EPOCH_MICROS, *ty == Type::TIMESTAMPTZ)
        }
        Type::DATE => date(i64::from(i32::from_be_bytes(be(raw, ty)?)) + PG_EPOCH_DAYS),
        Type::TIME => time_of_day(i64::from_be_bytes(be(raw, ty)?)),
        Type::INTERVAL => {
            let raw: [u8; 16] = be(raw, ty)?;
            let micros = i64::from_be_bytes(raw[0..8].try_into()?);
            let days = i32::from_be_bytes(raw[8..12].try_into()?);
            let months = i32::from_be_bytes(raw[12..16].try_into()?);
            interval(months, days, micros)
        }
        _ => match ty.kind() {
            Kind::Array(element) => array(element, raw)?,
            _ => return Err(format!("type {ty} (oid {}) is not in the runner", ty.oid()).into()),
        },
    })
}

fn take<'a>(raw: &mut &'a [u8], n: usize) -> Result<&'a [u8], Box<dyn std::error::Error + Sync + Send>> {
    if raw.len() < n {
        return Err("binary value shorter than its header says".into());
    }
    let (head, rest) = raw.split_at(n);
    *raw = rest;
    Ok(head)
}

fn take_i32(raw: &mut &[u8]) -> Result<i32, Box<dyn std::error::Error + Sync + Send>> {
    Ok(i32::from_be_bytes(take(raw, 4)?.try_into()?))
}

fn take_i16(raw: &mut &[u8]) -> Result<i16, Box<dyn std::error::Error + Sync + Send>> {
    Ok(i16::from_be_bytes(take(raw, 2)?.try_into()?))
}

fn array(element: &Type, mut raw: &[u8]) -> DecodeResult {
    let dims = take_i32(&mut raw)?;
    let _has_nulls = take_i32(&mut raw)?;
    let _element_oid = take_i32(&mut raw)?;
    if dims == 0 {
        return Ok("[]".to_owned());
    }
    if dims != 1 {
        return Err(format!("{dims}-dimensional arrays are not in the runner").into());
    }
    let len = take_i32(&mut raw)?;
    let _lower_bound = take_i32(&mut raw)?;
    let mut items = Vec::new();
    for _ in 0..len {
        let n = take_i32(&mut raw)?;
        if n < 0 {
            items.push(NULL.to_owned());
        } else {
            items.push(pg_binary(element, take(&mut raw, usize::try_from(n)?)?)?);
        }
    }
    Ok(format!("[{}]", items.join(", ")))
}

/// NUMERIC: base-10000 digits with a weight and a display scale.
fn numeric(mut raw: &[u8]) -> DecodeResult {
    let ndigits = usize::try_from(take_i16(&mut raw)?)?;
    let weight = i32::from(take_i16(&mut raw)?);
    let sign = u16::from_be_bytes(take(&mut raw, 2)?.try_into()?);
    let dscale = usize::try_from(take_i16(&mut raw)?)?;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        _ => return Err(format!("numeric sign {sign:#x}").into()),
    }
    let digits: Vec<i16> = (0..ndigits).map(|_| take_i16(&mut raw)).collect::<Result<_, _>>()?;
    let digit = |i: i32| usize::try_from(i).ok().and_then(|i| digits.get(i)).copied().unwrap_or(0);
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit(0).to_string());
        for i in 1..=weight {
            out.push_str(&format!("{:04}", digit(i)));
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut i = weight + 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}
