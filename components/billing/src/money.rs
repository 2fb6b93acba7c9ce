//! Money is an integer count of a currency's minor units (cents, pence,
//! yen), never a float: `{"currency": "EUR", "amount": 1999}` is €19.99.

use folio_guest::http::Problem;
use serde_json::Value as Json;

/// The largest amount taken anywhere: 10^12 minor units (ten billion euros).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// ISO 4217 currencies billed here, with the digits of their minor unit.
const CURRENCIES: &[(&str, u32)] = &[
    ("AUD", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PHP", 2),
    ("PLN", 2),
    ("RON", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// The digits of `currency`'s minor unit, if it is one billed here.
pub fn exponent(currency: &str) -> Option<u32> {
    CURRENCIES
        .iter()
        .find(|(code, _)| *code == currency)
        .map(|(_, e)| *e)
}

/// `1800` EUR as people read it: `18.00 EUR`.
pub fn display(amount: i64, currency: &str) -> String {
    let exponent = exponent(currency).unwrap_or(2);
    if exponent == 0 {
        return format!("{amount} {currency}");
    }
    let unit = 10_i64.pow(exponent);
    let sign = if amount < 0 { "-" } else { "" };
    let (whole, minor) = (amount.abs() / unit, amount.abs() % unit);
    format!(
        "{sign}{whole}.{minor:0width$} {currency}",
        width = exponent as usize
    )
}

/// A currency code as sent (`eur` is taken as `EUR`), or 422 naming `field`.
pub fn currency(field: &str, value: Option<&Json>) -> Result<String, Problem> {
    let code = value
        .and_then(Json::as_str)
        .map(str::to_ascii_uppercase)
        .ok_or_else(|| Problem::invalid_field(field, "must be an ISO 4217 currency code"))?;
    if exponent(&code).is_none() {
        return Err(Problem::invalid_field(
            field,
            format!("`{code}` is not a currency billed here (ISO 4217, e.g. EUR, USD, JPY)"),
        ));
    }
    Ok(code)
}

/// An amount in minor units: a JSON integer from 0 to [`MAX_AMOUNT`], or
/// 422 naming `field`. `19.99`, `20.0`, `"2000"` and `-5` are refused.
pub fn amount(field: &str, value: Option<&Json>) -> Result<i64, Problem> {
    let invalid = || {
        Problem::invalid_field(
            field,
            format!("must be a whole number of minor units (cents), 0 to {MAX_AMOUNT}"),
        )
    };
    let number = value.and_then(Json::as_number).ok_or_else(invalid)?;
    // serde_json keeps `20.0` a float: only integers written as such pass.
    let amount = number.as_i64().ok_or_else(invalid)?;
    if !(0..=MAX_AMOUNT).contains(&amount) {
        return Err(invalid());
    }
    Ok(amount)
}

/// `amount × numerator / denominator`, rounded half away from zero, in
/// 128 bits so no product overflows.
pub fn prorate(amount: i64, numerator: i64, denominator: i64) -> i64 {
    if denominator == 0 {
        return 0;
    }
    let product = amount as i128 * numerator as i128;
    let d = denominator as i128;
    let rounded = (product.abs() * 2 + d.abs()) / (2 * d.abs());
    let negative = (product < 0) != (d < 0);
    (if negative { -rounded } else { rounded }) as i64
}

/// Tax on `amount` at `basis_points` (2000 = 20%), rounded half up.
pub fn tax(amount: i64, basis_points: i64) -> i64 {
    prorate(amount, basis_points, 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_display_in_major_units() {
        assert_eq!(display(1800, "EUR"), "18.00 EUR");
        assert_eq!(display(5, "USD"), "0.05 USD");
        assert_eq!(display(-1234, "EUR"), "-12.34 EUR");
        assert_eq!(display(500, "JPY"), "500 JPY");
        assert_eq!(display(1234, "BHD"), "1.234 BHD");
    }

    #[test]
    fn amounts_are_whole_minor_units() {
        assert_eq!(amount("a", Some(&json!(1999))).unwrap(), 1999);
        assert_eq!(amount("a", Some(&json!(0))).unwrap(), 0);
        for bad in [
            json!(19.99),
            json!(20.0),
            json!(-5),
            json!("2000"),
            json!(null),
            json!(MAX_AMOUNT + 1),
            json!(u64::MAX),
        ] {
            let problem = amount("prices[0].amount", Some(&bad)).unwrap_err();
            assert_eq!(problem.status, 422, "{bad}");
        }
        assert!(amount("a", None).is_err());
    }

    #[test]
    fn currencies_are_known_iso_codes() {
        assert_eq!(currency("c", Some(&json!("eur"))).unwrap(), "EUR");
        for bad in [json!("XYZ"), json!("EURO"), json!(""), json!(978)] {
            assert!(currency("c", Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn proration_and_tax_round_half_away_from_zero() {
        // 15 of 30 days of 999: 499.5 → 500.
        assert_eq!(prorate(999, 15, 30), 500);
        assert_eq!(prorate(-999, 15, 30), -500);
        assert_eq!(prorate(1000, 1, 3), 333);
        // A year of the largest amount over seconds: no overflow on the way.
        assert_eq!(prorate(MAX_AMOUNT, 31_536_000, 31_536_000), MAX_AMOUNT);
        assert_eq!(tax(1000, 2000), 200);
        assert_eq!(tax(1005, 1900), 191);
        assert_eq!(prorate(10, 1, 0), 0);
    }
}
