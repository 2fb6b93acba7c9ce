//! The service's variables.

fn var(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// How long a visitor salt lives (default a day, as in Plausible): a
/// visitor cannot be recognised across two periods.
pub fn salt_period_secs() -> i64 {
    var("salt_period")
        .and_then(|v| duration_secs(&v))
        .filter(|s| *s >= 1)
        .unwrap_or(86_400)
}

/// How long raw events stay in the database (funnels read them); the
/// warehouse keeps them for good.
pub fn raw_retention_secs() -> i64 {
    var("raw_retention")
        .and_then(|v| duration_secs(&v))
        .unwrap_or(31 * 86_400)
}

/// How long raw events may wait before a warehouse file takes them.
pub fn warehouse_flush_secs() -> i64 {
    var("warehouse_flush")
        .and_then(|v| duration_secs(&v))
        .unwrap_or(300)
}

/// `90s`, `5m`, `2h`, `1d`, or plain seconds.
pub fn duration_secs(text: &str) -> Option<i64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: i64 = number.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}
