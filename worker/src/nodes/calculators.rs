//! The basic engine's calculators, as NocoBase's `logicCalculate` has them: JavaScript's `==`
//! and `<` with their coercions (a one-element array equals its element, two arrays are never
//! equal, `undefined` never orders), Dates compared as times when either side is a Date,
//! `includes` a substring test on text and a strict one on arrays, and the text calculators on
//! `toString()`. Where JavaScript throws (`includes` on a number, `startsWith` on null), the
//! calculation is an error and so is the job.

use hookflow_shared::compiled::Calculator;
use hookflow_shared::js_value::{date_time, less_than, loose_equal, same_value_zero, to_js_string, Datum};
use serde_json::Value;

/// Applies a calculator to its rendered operands (missing ones are `undefined`).
pub fn apply(calculator: &Calculator, operands: &[Datum<'_>]) -> Result<bool, String> {
    let a = operands.first().unwrap_or(&Datum::Undefined);
    let b = operands.get(1).unwrap_or(&Datum::Undefined);
    Ok(match calculator {
        Calculator::Equal => equal(a, b),
        Calculator::NotEqual => !equal(a, b),
        Calculator::Gt => order(a, b, |x, y| x > y, |a, b| less_than(b, a) == Some(true)),
        Calculator::Gte => order(a, b, |x, y| x >= y, |a, b| less_than(a, b) == Some(false)),
        Calculator::Lt => order(a, b, |x, y| x < y, |a, b| less_than(a, b) == Some(true)),
        Calculator::Lte => order(a, b, |x, y| x <= y, |a, b| less_than(b, a) == Some(false)),
        Calculator::Includes => includes(a, b)?,
        Calculator::NotIncludes => !includes(a, b)?,
        Calculator::StartsWith => text_test(a, b, |a, b| a.starts_with(b))?,
        Calculator::NotStartsWith => !text_test(a, b, |a, b| a.starts_with(b))?,
        Calculator::EndsWith => text_test(a, b, |a, b| a.ends_with(b))?,
        Calculator::NotEndsWith => !text_test(a, b, |a, b| a.ends_with(b))?,
        Calculator::Unknown(name) => return Err(format!("no calculator function registered for {name:?}")),
    })
}

fn is_date(datum: &Datum<'_>) -> bool {
    matches!(datum, Datum::Date(_))
}

/// NocoBase's guard when a Date is involved: a boolean or a null side never compares.
fn date_blocked(a: &Datum<'_>, b: &Datum<'_>) -> bool {
    let is_bool = |d: &Datum<'_>| matches!(d, Datum::Json(v) if v.is_boolean());
    is_bool(a) || is_bool(b) || a.is_nullish() || b.is_nullish()
}

fn equal(a: &Datum<'_>, b: &Datum<'_>) -> bool {
    if is_date(a) || is_date(b) {
        return !date_blocked(a, b) && date_time(a) == date_time(b);
    }
    loose_equal(a, b)
}

fn order(
    a: &Datum<'_>,
    b: &Datum<'_>,
    times: fn(f64, f64) -> bool,
    values: fn(&Datum<'_>, &Datum<'_>) -> bool,
) -> bool {
    if is_date(a) || is_date(b) {
        return !date_blocked(a, b) && times(date_time(a), date_time(b));
    }
    values(a, b)
}

/// `a.includes(b)`.
fn includes(a: &Datum<'_>, b: &Datum<'_>) -> Result<bool, String> {
    match a {
        Datum::Json(value) => match value.as_ref() {
            Value::String(text) => Ok(text.contains(to_js_string(b).as_str())),
            Value::Array(items) => Ok(items.iter().any(|item| same_value_zero(item, b))),
            Value::Null => Err(unreadable("null", "includes")),
            _ => Err("TypeError: a.includes is not a function".into()),
        },
        Datum::Undefined => Err(unreadable("undefined", "includes")),
        Datum::Date(_) => Err("TypeError: a.includes is not a function".into()),
    }
}

/// `a.toString().startsWith(b.toString())` and the like.
fn text_test(a: &Datum<'_>, b: &Datum<'_>, test: fn(&str, &str) -> bool) -> Result<bool, String> {
    for side in [a, b] {
        match side {
            Datum::Undefined => return Err(unreadable("undefined", "toString")),
            Datum::Json(value) if value.is_null() => return Err(unreadable("null", "toString")),
            _ => {}
        }
    }
    Ok(test(&to_js_string(a), &to_js_string(b)))
}

fn unreadable(what: &str, property: &str) -> String {
    format!("TypeError: Cannot read properties of {what} (reading '{property}')")
}

#[cfg(test)]
mod tests {
    //! NocoBase's `logicCalculate` tests, case by case.
    use super::*;
    use chrono::{Duration, Utc};
    use hookflow_shared::js_value::iso_string;
    use serde_json::json;
    use std::borrow::Cow;

    fn j(value: Value) -> Datum<'static> {
        Datum::Json(Cow::Owned(value))
    }

    fn check(name: &str, a: Datum<'_>, b: Datum<'_>) -> bool {
        apply(&Calculator::from_name(name), &[a, b]).unwrap()
    }

    #[test]
    fn unknown_calculators_are_errors() {
        let error = apply(&Calculator::from_name("foo"), &[j(json!(1)), j(json!(1))]).unwrap_err();
        assert_eq!(error, r#"no calculator function registered for "foo""#);
    }

    #[test]
    fn equal_is_javascript_loose_equality() {
        assert!(check("equal", j(json!(1)), j(json!(1))));
        assert!(check("equal", j(json!(1)), j(json!("1"))));
        assert!(!check("equal", j(json!(1)), j(json!(2))));
        assert!(check("==", j(json!(1)), j(json!(1))));
        assert!(!check("==", j(json!(1)), j(json!(null))));
        assert!(!check("==", j(json!(0)), j(json!(null))));
        assert!(!check("==", j(json!("")), j(json!(null))));
        assert!(!check("==", j(json!(false)), j(json!(null))));
        assert!(!check("==", j(json!(true)), j(json!(null))));
        assert!(check("==", Datum::Undefined, j(json!(null))));
        assert!(check("equal", j(json!(false)), j(json!(0))), "0 == false");
        assert!(check("equal", j(json!("1")), j(json!(1))));
    }

    #[test]
    fn arrays_compare_as_javascript_does() {
        assert!(
            check("equal", j(json!(["paid"])), j(json!("paid"))),
            "a one-element array equals its element"
        );
        assert!(!check("equal", j(json!([1])), j(json!([1]))), "two arrays are never equal");
        assert!(check("notEqual", j(json!([1])), j(json!([1]))));
    }

    #[test]
    fn not_equal() {
        assert!(check("notEqual", j(json!(1)), j(json!(2))));
        assert!(!check("notEqual", j(json!(1)), j(json!(1))));
        for a in [json!(1), json!(0), json!(""), json!(false), json!(true)] {
            assert!(check("!=", j(a), j(json!(null))));
        }
        assert!(!check("!=", Datum::Undefined, j(json!(null))));
    }

    #[test]
    fn dates_compare_as_times() {
        let now = Utc::now();
        let ms = now.timestamp_millis();
        let (yesterday, tomorrow) = (now - Duration::days(1), now + Duration::days(1));
        let d = Datum::Date;
        assert!(check("equal", d(now), j(json!(iso_string(&now)))));
        assert!(check("equal", d(now), j(json!(ms))));
        assert!(!check("equal", d(now), j(json!(ms + 1))));
        assert!(!check("equal", d(now), j(json!("abc"))));
        assert!(!check("notEqual", d(now), j(json!(ms))));
        assert!(!check("notEqual", d(now), j(json!(iso_string(&now)))));
        for other in [json!("abc"), json!(true), json!(false), json!(null), json!(0), json!(1)] {
            assert!(check("notEqual", d(now), j(other)));
        }
        assert!(!check("gt", d(now), j(json!(ms))));
        assert!(!check("gt", d(now), j(json!(iso_string(&now)))));
        for other in [json!(""), json!(true), json!(false), json!(null)] {
            assert!(!check("gt", d(now), j(other)));
        }
        assert!(check("gt", d(now), j(json!(0))));
        assert!(check("gt", d(now), d(yesterday)));
        assert!(check("gt", d(now), j(json!(iso_string(&yesterday)))));
        assert!(!check("gt", d(now), d(tomorrow)));
        assert!(!check("gt", d(now), j(json!(iso_string(&tomorrow)))));
        for other in [
            json!(ms),
            json!(iso_string(&now)),
            json!(""),
            json!(true),
            json!(false),
            json!(null),
            json!(0),
            json!(1),
        ] {
            assert!(!check("lt", d(now), j(other)));
        }
        assert!(!check("lt", d(now), d(yesterday)));
        assert!(check("lt", d(now), d(tomorrow)));
        assert!(check("lt", d(now), j(json!(iso_string(&tomorrow)))));
    }

    #[test]
    fn ordering() {
        assert!(check("gt", j(json!(2)), j(json!(1))) && !check("gt", j(json!(1)), j(json!(2))));
        assert!(check(">", j(json!(2)), j(json!(1))));
        assert!(check("gte", j(json!(2)), j(json!(1))) && check("gte", j(json!(2)), j(json!(2))));
        assert!(!check("gte", j(json!(1)), j(json!(2))) && check(">=", j(json!(2)), j(json!(2))));
        assert!(check("lt", j(json!(1)), j(json!(2))) && !check("lt", j(json!(2)), j(json!(1))));
        assert!(check("<", j(json!(1)), j(json!(2))));
        assert!(check("lte", j(json!(1)), j(json!(2))) && check("lte", j(json!(2)), j(json!(2))));
        assert!(!check("lte", j(json!(2)), j(json!(1))) && check("<=", j(json!(2)), j(json!(2))));
        assert!(check("lt", j(json!("10")), j(json!("9"))), "two strings compare as text");
        assert!(!check("gte", Datum::Undefined, j(json!(0))), "undefined never orders");
        assert!(!check("lte", Datum::Undefined, j(json!(0))));
        assert!(check("lte", j(json!(null)), j(json!(0))));
    }

    #[test]
    fn includes_is_substring_on_text_and_strict_on_arrays() {
        assert!(check("includes", j(json!([1, 2, 3])), j(json!(2))));
        assert!(!check("includes", j(json!([1, 2, 3])), j(json!(4))));
        assert!(check("includes", j(json!("abc")), j(json!("b"))));
        assert!(check("notIncludes", j(json!([1, 2, 3])), j(json!(4))));
        assert!(!check("notIncludes", j(json!([1, 2, 3])), j(json!(2))));
        assert!(!check("includes", j(json!([1, "2"])), j(json!("1"))), "strict on arrays");
        assert!(check("includes", j(json!("order-123")), j(json!(123))));
    }

    #[test]
    fn includes_and_starts_with_on_nothing_are_errors() {
        for (name, a) in [
            ("includes", j(json!(null))),
            ("includes", Datum::Undefined),
            ("includes", j(json!(12))),
            ("startsWith", j(json!(null))),
            ("startsWith", Datum::Undefined),
            ("endsWith", j(json!(null))),
        ] {
            let error = apply(&Calculator::from_name(name), &[a, j(json!("a"))]).unwrap_err();
            assert!(error.contains("TypeError") || error.contains("not a function"), "{name}: {error}");
        }
        assert!(apply(&Calculator::StartsWith, &[j(json!("a")), Datum::Undefined]).is_err());
    }

    #[test]
    fn text_calculators() {
        assert!(
            check("startsWith", j(json!("abc")), j(json!("a")))
                && !check("startsWith", j(json!("abc")), j(json!("b")))
        );
        assert!(
            check("notStartsWith", j(json!("abc")), j(json!("b")))
                && !check("notStartsWith", j(json!("abc")), j(json!("a")))
        );
        assert!(
            check("endsWith", j(json!("abc")), j(json!("c")))
                && !check("endsWith", j(json!("abc")), j(json!("b")))
        );
        assert!(
            check("notEndsWith", j(json!("abc")), j(json!("b")))
                && !check("notEndsWith", j(json!("abc")), j(json!("c")))
        );
        assert!(check("startsWith", j(json!(12345)), j(json!(12))), "numbers through toString()");
        assert!(check("startsWith", j(json!([1, 2])), j(json!("1,"))));
    }
}
