//! What users are told about and how: categories, channels, and the rules
//! that no preference can change.

pub const CATEGORIES: [&str; 5] = ["account", "editorial", "following", "billing", "product"];
pub const CHANNELS: [&str; 3] = ["email", "push", "inApp"];

/// Messages a user cannot turn off: their own account's security mail, and
/// billing mail that money depends on.
pub fn is_mandatory(category: &str, channel: &str) -> bool {
    channel == "email" && matches!(category, "account" | "billing")
}

/// What a user gets before they choose: everything but push for product news.
pub fn enabled_by_default(category: &str, channel: &str) -> bool {
    !(category == "product" && channel == "push")
}

/// Security messages go at once, whatever the hour: a reset link that
/// waits for the morning is useless.
pub fn ignores_quiet_hours(category: &str) -> bool {
    category == "account"
}

/// Categories whose email goes into the digest when a user chose one.
pub fn goes_into_digest(category: &str) -> bool {
    matches!(category, "following" | "product" | "editorial")
}

pub const DIGESTS: [&str; 3] = ["off", "daily", "weekly"];
