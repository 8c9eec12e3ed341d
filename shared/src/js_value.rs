//! Values as NocoBase's JavaScript sees them, and the JavaScript rules NocoBase's workflows
//! depend on: `String(v)`, `Number(v)`, `==` and `<` with their coercions, and `new Date(v)`.
//!
//! A placeholder can yield more than JSON holds: a missing path is `undefined` (which `==`
//! matches only with `null` and which never orders), and `$system.now` is a `Date` (which
//! compares as a time). [`Datum`] carries those two beside JSON.

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Number, Value};

/// A rendered value: JSON, or one of the two JavaScript values JSON has no form for.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum<'a> {
    Undefined,
    Date(DateTime<Utc>),
    Json(Cow<'a, Value>),
}

impl Datum<'_> {
    /// The value as JSON would carry it (`JSON.stringify`): a Date as ISO-8601 text,
    /// `undefined` as nothing.
    pub fn into_json(self) -> Option<Value> {
        match self {
            Datum::Undefined => None,
            Datum::Date(date) => Some(Value::String(iso_string(&date))),
            Datum::Json(value) => Some(value.into_owned()),
        }
    }

    /// `undefined` or `null`.
    pub fn is_nullish(&self) -> bool {
        match self {
            Datum::Undefined => true,
            Datum::Json(value) => value.is_null(),
            Datum::Date(_) => false,
        }
    }

    fn json(&self) -> Option<&Value> {
        match self {
            Datum::Json(value) => Some(value),
            _ => None,
        }
    }
}

/// `Date.prototype.toISOString`.
pub fn iso_string(date: &DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `Number.prototype.toString()`: the shortest digits that read back as the same number,
/// written plainly from 1e-6 to 1e21 and with an exponent outside (`1e+21`, `1e-7`).
pub fn number_text(number: f64) -> String {
    if number.is_nan() {
        return "NaN".into();
    }
    if number.is_infinite() {
        return if number > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if number == 0.0 {
        return "0".into();
    }
    let sign = if number < 0.0 { "-" } else { "" };
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    let scientific = format!("{:e}", number.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (k, n) = (digits.len() as i32, exponent + 1);
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let sign = if n - 1 < 0 { "-" } else { "+" };
        let fraction = if k > 1 { format!(".{}", &digits[1..]) } else { String::new() };
        format!("{}{fraction}e{sign}{}", &digits[..1], (n - 1).abs())
    };
    format!("{sign}{body}")
}

/// A JSON number as JavaScript writes it (`10.0` is `10`).
pub fn json_number_text(number: &Number) -> String {
    // Integers JavaScript holds exactly are written as they are; larger ones as the float
    // JavaScript would have read (`12345678901234567890` is `12345678901234567000`).
    const EXACT: u64 = 1 << 53;
    match (number.as_u64(), number.as_i64()) {
        (Some(n), _) if n <= EXACT => n.to_string(),
        (None, Some(n)) if n.unsigned_abs() <= EXACT => n.to_string(),
        _ => number_text(number.as_f64().unwrap_or(f64::NAN)),
    }
}

/// `String(v)` of a JSON value: arrays joined with commas (null items empty), objects
/// `[object Object]`.
pub fn json_to_string(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&json_number_text(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => join(items, out),
        Value::Object(_) => out.push_str("[object Object]"),
    }
}

/// `Array.prototype.join(',')`: null items are empty, nested arrays joined in place. Iterative,
/// so a deeply nested array cannot exhaust the stack.
fn join(items: &[Value], out: &mut String) {
    let mut pending: Vec<(&[Value], usize)> = vec![(items, 0)];
    while let Some((items, at)) = pending.pop() {
        let Some(item) = items.get(at) else { continue };
        if at > 0 {
            out.push(',');
        }
        pending.push((items, at + 1));
        match item {
            Value::Null => {}
            Value::Array(inner) => pending.push((inner, 0)),
            other => json_to_string(other, out),
        }
    }
}

/// `String(v)`: `undefined`, `null` and a Date (`Date.prototype.toString`, in UTC) included.
pub fn to_js_string(datum: &Datum<'_>) -> String {
    match datum {
        Datum::Undefined => "undefined".into(),
        Datum::Date(date) => {
            date.format("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)").to_string()
        }
        Datum::Json(value) => {
            let mut out = String::new();
            json_to_string(value, &mut out);
            out
        }
    }
}

/// JavaScript's white space and line terminators, which `Number("…")` trims.
fn is_js_space(c: char) -> bool {
    // Rust's white space also counts U+0085 (NEL), which JavaScript does not trim.
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

/// `Number("…")`: trimmed, empty is 0, `0x`/`0o`/`0b` integers, `Infinity`, decimal
/// literals; anything else NaN.
pub fn string_to_number(text: &str) -> f64 {
    let text = text.trim_matches(is_js_space);
    if text.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)] {
        if let Some(digits) = text.strip_prefix(prefix) {
            return match u128::from_str_radix(digits, radix) {
                Ok(n) if !digits.starts_with(['+', '-']) => n as f64,
                _ => f64::NAN,
            };
        }
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned == "Infinity" {
        return if text.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY };
    }
    // Rust also reads `inf`, `nan` and `infinity`, which JavaScript does not.
    let decimal = !unsigned.is_empty()
        && unsigned.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && unsigned.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.');
    if !decimal {
        return f64::NAN;
    }
    text.parse::<f64>().unwrap_or(f64::NAN)
}

/// `Number(v)`.
pub fn to_number(datum: &Datum<'_>) -> f64 {
    match datum {
        Datum::Undefined => f64::NAN,
        Datum::Date(date) => date.timestamp_millis() as f64,
        Datum::Json(value) => match value.as_ref() {
            Value::Null => 0.0,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            Value::String(s) => string_to_number(s),
            Value::Array(_) | Value::Object(_) => string_to_number(&to_js_string(datum)),
        },
    }
}

/// A primitive after `ToPrimitive` (arrays and objects become their text).
enum Primitive<'a> {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    Text(Cow<'a, str>),
}

fn to_primitive<'a>(datum: &'a Datum<'_>) -> Primitive<'a> {
    match datum {
        Datum::Undefined => Primitive::Undefined,
        // A Date's `valueOf` is its time when compared with `<`; `==` has its own guard.
        Datum::Date(date) => Primitive::Number(date.timestamp_millis() as f64),
        Datum::Json(value) => match value.as_ref() {
            Value::Null => Primitive::Null,
            Value::Bool(b) => Primitive::Bool(*b),
            Value::Number(n) => Primitive::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Primitive::Text(Cow::Borrowed(s)),
            Value::Array(_) | Value::Object(_) => Primitive::Text(Cow::Owned(to_js_string(datum))),
        },
    }
}

fn primitive_number(primitive: &Primitive<'_>) -> f64 {
    match primitive {
        Primitive::Undefined => f64::NAN,
        Primitive::Null => 0.0,
        Primitive::Bool(b) => f64::from(u8::from(*b)),
        Primitive::Number(n) => *n,
        Primitive::Text(s) => string_to_number(s),
    }
}

/// `new Date(v).getTime()`: a Date's time, a number as milliseconds, text as a date; NaN
/// when it is none of those or beyond the ±8.64e15 ms JavaScript dates span.
pub fn date_time(datum: &Datum<'_>) -> f64 {
    let time = raw_date_time(datum);
    if time.abs() <= 8.64e15 {
        time.trunc()
    } else {
        f64::NAN
    }
}

fn raw_date_time(datum: &Datum<'_>) -> f64 {
    match datum {
        Datum::Date(date) => date.timestamp_millis() as f64,
        Datum::Undefined => f64::NAN,
        Datum::Json(value) => match value.as_ref() {
            Value::Null => 0.0,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            _ => parse_date(&to_js_string(datum)).map_or(f64::NAN, |d| d.timestamp_millis() as f64),
        },
    }
}

/// The date formats `Date.parse` reads the same everywhere: ISO-8601 with or without time and
/// zone (a date alone is UTC; a date-time without a zone is taken as UTC here, the process's
/// zone in Node.js servers that run in UTC).
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(date) = DateTime::parse_from_rfc3339(text) {
        return Some(date.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H:%MZ"] {
        if let Ok(date) = DateTime::parse_from_str(text, format) {
            return Some(date.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(date) = NaiveDateTime::parse_from_str(text, format) {
            return Some(date.and_utc());
        }
    }
    // `YYYY` and `YYYY-MM` are the first day of that year or month, UTC.
    let (year, month) = match text.split_once('-') {
        Some((year, month)) if month.len() == 2 => (year, month.parse::<u32>().ok()),
        None => (text, Some(1)),
        _ => ("", None),
    };
    if year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(date) = month.and_then(|m| NaiveDate::from_ymd_opt(year.parse().ok()?, m, 1)) {
            return date.and_hms_opt(0, 0, 0).map(|d| d.and_utc());
        }
    }
    if let Ok(date) = DateTime::parse_from_rfc2822(text) {
        return Some(date.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc())
}

/// JavaScript's `a == b`.
pub fn loose_equal(a: &Datum<'_>, b: &Datum<'_>) -> bool {
    // Two objects (arrays included) are equal only when they are the same object; values
    // parsed separately never are.
    let is_object = |d: &Datum<'_>| matches!(d.json(), Some(Value::Array(_) | Value::Object(_)));
    if is_object(a) && is_object(b) {
        return false;
    }
    primitive_equal(&to_primitive(a), &to_primitive(b))
}

fn primitive_equal(a: &Primitive<'_>, b: &Primitive<'_>) -> bool {
    use Primitive::*;
    match (a, b) {
        (Undefined | Null, Undefined | Null) => true,
        (Undefined | Null, _) | (_, Undefined | Null) => false,
        (Text(x), Text(y)) => x == y,
        (Bool(x), Bool(y)) => x == y,
        _ => primitive_number(a) == primitive_number(b),
    }
}

/// JavaScript's `a < b`: `None` when either side is NaN (every comparison is then false).
pub fn less_than(a: &Datum<'_>, b: &Datum<'_>) -> Option<bool> {
    let (a, b) = (to_primitive(a), to_primitive(b));
    if let (Primitive::Text(x), Primitive::Text(y)) = (&a, &b) {
        // Strings order by UTF-16 code units.
        return Some(x.encode_utf16().cmp(y.encode_utf16()) == Ordering::Less);
    }
    let (x, y) = (primitive_number(&a), primitive_number(&b));
    x.partial_cmp(&y).map(|order| order == Ordering::Less)
}

/// `SameValueZero`, as `Array.prototype.includes` compares.
pub fn same_value_zero(item: &Value, needle: &Datum<'_>) -> bool {
    let Some(needle) = needle.json() else { return false };
    match (item, needle) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn j(value: Value) -> Datum<'static> {
        Datum::Json(Cow::Owned(value))
    }

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        for (number, text) in [
            (10.0, "10"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (-0.0, "0"),
            (-2.5, "-2.5"),
            (123456.789, "123456.789"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(number_text(number), text, "{number:?}");
        }
        assert_eq!(json_number_text(&serde_json::from_str("10.0").unwrap()), "10");
        assert_eq!(json_number_text(&serde_json::from_str("42").unwrap()), "42");
        assert_eq!(
            json_number_text(&serde_json::from_str("12345678901234567890").unwrap()),
            "12345678901234567000"
        );
        assert_eq!(
            json_number_text(&serde_json::from_str("-9007199254740992").unwrap()),
            "-9007199254740992"
        );
    }

    #[test]
    fn string_conversion_joins_arrays() {
        assert_eq!(to_js_string(&j(json!(["a", "b"]))), "a,b");
        assert_eq!(to_js_string(&j(json!([1, null, [2, [3]], true]))), "1,,2,3,true");
        assert_eq!(to_js_string(&j(json!({"a": 1}))), "[object Object]");
        assert_eq!(to_js_string(&Datum::Undefined), "undefined");
        assert_eq!(to_js_string(&j(json!(null))), "null");
    }

    #[test]
    fn number_conversion_follows_javascript() {
        for (text, number) in [
            ("", 0.0),
            (" 12 ", 12.0),
            ("0x1A", 26.0),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("-Infinity", f64::NEG_INFINITY),
        ] {
            assert_eq!(string_to_number(text), number, "{text:?}");
        }
        for text in ["abc", "inf", "nan", "infinity", "1_000", "0x", "1,5"] {
            assert!(string_to_number(text).is_nan(), "{text:?}");
        }
    }

    #[test]
    fn loose_equality_coerces_like_javascript() {
        assert!(loose_equal(&j(json!(1)), &j(json!("1"))));
        assert!(loose_equal(&j(json!(false)), &j(json!(0))));
        assert!(loose_equal(&j(json!(false)), &j(json!(""))));
        assert!(loose_equal(&Datum::Undefined, &j(json!(null))));
        assert!(!loose_equal(&j(json!(0)), &j(json!(null))));
        assert!(!loose_equal(&j(json!("")), &j(json!(null))));
        assert!(loose_equal(&j(json!([5])), &j(json!(5))), "a one-element array equals its element");
        assert!(loose_equal(&j(json!(["a", "b"])), &j(json!("a,b"))));
        assert!(!loose_equal(&j(json!([1])), &j(json!([1]))), "two arrays are never equal");
        assert!(!loose_equal(&j(json!({})), &j(json!({}))));
        assert!(loose_equal(&j(json!({})), &j(json!("[object Object]"))));
    }

    #[test]
    fn ordering_follows_javascript() {
        assert_eq!(less_than(&j(json!("10")), &j(json!("9"))), Some(true), "two strings compare as text");
        assert_eq!(less_than(&j(json!("10")), &j(json!(9))), Some(false));
        assert_eq!(less_than(&Datum::Undefined, &j(json!(0))), None, "undefined never orders");
        assert_eq!(less_than(&j(json!(null)), &j(json!(1))), Some(true));
        assert_eq!(less_than(&j(json!([10])), &j(json!([9]))), Some(true));
    }

    #[test]
    fn dates_read_iso_text_and_milliseconds() {
        let date = parse_date("2021-01-01T00:00:00.000Z").unwrap();
        assert_eq!(date.timestamp_millis(), 1609459200000);
        assert_eq!(date_time(&j(json!("2021-01-01"))), 1609459200000.0);
        assert_eq!(date_time(&j(json!(1609459200000u64))), 1609459200000.0);
        assert!(date_time(&j(json!("abc"))).is_nan());
        assert_eq!(date_time(&j(json!("2021"))), 1609459200000.0);
        assert_eq!(date_time(&j(json!("2021-01"))), 1609459200000.0);
        assert_eq!(date_time(&j(json!("2021-01-01T01:00+01:00"))), 1609459200000.0);
        assert_eq!(date_time(&j(json!("2021-01-01T00:00Z"))), 1609459200000.0);
        assert!(date_time(&j(json!(9e15))).is_nan(), "beyond what a Date holds");
        assert_eq!(date_time(&j(json!(1.7))), 1.0);
        assert!(date_time(&j(json!(""))).is_nan());
    }
}
