//! The catalog: plans, each with prices per interval and currency, trial
//! days, and the tiers it grants (the names content's `requiredTier` uses).

use std::collections::BTreeSet;

use folio_guest::columns::{integer, text};
use folio_guest::http::{JsonBody, Problem};
use folio_guest::util::{new_id, now_ms};
use folio_guest::{Connection, Value};
use serde::Serialize;
use serde_json::Value as Json;

use crate::money;
use crate::store::{Reads, db_error};

const MAX_PRICES: usize = 20;
const MAX_TIERS: usize = 10;
const MAX_TRIAL_DAYS: i64 = 365;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub fn parse(raw: &str) -> Option<Interval> {
        match raw {
            "month" => Some(Interval::Month),
            "year" => Some(Interval::Year),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Price {
    pub interval: Interval,
    pub currency: String,
    /// Minor units.
    pub amount: i64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub prices: Vec<Price>,
    pub trial_days: i64,
    pub tiers: Vec<String>,
}

impl Plan {
    pub fn price(&self, interval: Interval, currency: &str) -> Option<&Price> {
        self.prices
            .iter()
            .find(|p| p.interval == interval && p.currency == currency)
    }
}

/// A tier name: 1 to 32 of `a-z`, `0-9`, `-`.
pub fn valid_tier(tier: &str) -> bool {
    (1..=32).contains(&tier.len())
        && tier
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `POST /api/v1/billing/plans`, checked whole: 422 naming the first field at fault.
pub fn parse(body: &JsonBody) -> Result<Plan, Problem> {
    body.only(&["name", "prices", "trialDays", "tiers"])?;
    let name = body.required_str("name")?.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Problem::invalid_field(
            "name",
            "must be 1 to 100 printable characters",
        ));
    }
    let Some(Json::Array(raw_prices)) = body.value("prices") else {
        return Err(Problem::invalid_field(
            "prices",
            "must be a list of {interval, currency, amount}",
        ));
    };
    if raw_prices.is_empty() || raw_prices.len() > MAX_PRICES {
        return Err(Problem::invalid_field(
            "prices",
            format!("must hold 1 to {MAX_PRICES} prices"),
        ));
    }
    let mut prices: Vec<Price> = Vec::new();
    for (i, raw) in raw_prices.iter().enumerate() {
        let field = |name: &str| format!("prices[{i}].{name}");
        let Json::Object(price) = raw else {
            return Err(Problem::invalid_field(
                &format!("prices[{i}]"),
                "must be an object",
            ));
        };
        if let Some(unknown) = price
            .keys()
            .find(|k| !["interval", "currency", "amount"].contains(&k.as_str()))
        {
            return Err(Problem::invalid_field(
                &field(unknown),
                "is not a known field",
            ));
        }
        let interval = price
            .get("interval")
            .and_then(Json::as_str)
            .and_then(Interval::parse)
            .ok_or_else(|| Problem::invalid_field(&field("interval"), "must be month or year"))?;
        let currency = money::currency(&field("currency"), price.get("currency"))?;
        let amount = money::amount(&field("amount"), price.get("amount"))?;
        if prices
            .iter()
            .any(|p| p.interval == interval && p.currency == currency)
        {
            return Err(Problem::invalid_field(
                &format!("prices[{i}]"),
                format!("repeats the {} price in {currency}", interval.name()),
            ));
        }
        prices.push(Price {
            interval,
            currency,
            amount,
        });
    }
    let trial_days = match body.value("trialDays") {
        None => 0,
        Some(v) => v
            .as_i64()
            .filter(|d| (0..=MAX_TRIAL_DAYS).contains(d))
            .ok_or_else(|| {
                Problem::invalid_field(
                    "trialDays",
                    format!("must be a whole number from 0 to {MAX_TRIAL_DAYS}"),
                )
            })?,
    };
    let tiers = body.optional_str_list("tiers")?.unwrap_or_default();
    if tiers.len() > MAX_TIERS || tiers.iter().any(|t| !valid_tier(t)) {
        return Err(Problem::invalid_field(
            "tiers",
            format!("must be at most {MAX_TIERS} names of 1 to 32 of a-z, 0-9, -"),
        ));
    }
    let tiers: Vec<String> = tiers
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(Plan {
        id: new_id(),
        name,
        prices,
        trial_days,
        tiers,
    })
}

pub fn insert(db: &Connection, plan: &Plan) -> Result<(), Problem> {
    let tx = db.begin().map_err(db_error)?;
    tx.execute(
        "INSERT INTO plans (id, name, trial_days, tiers, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[
            Value::Text(plan.id.clone()),
            Value::Text(plan.name.clone()),
            Value::Integer(plan.trial_days),
            Value::Text(serde_json::to_string(&plan.tiers).unwrap_or_default()),
            Value::Integer(now_ms()),
        ],
    )
    .map_err(db_error)?;
    for price in &plan.prices {
        tx.execute(
            "INSERT INTO plan_prices (plan_id, billing_interval, currency, amount) VALUES ($1, $2, $3, $4)",
            &[
                Value::Text(plan.id.clone()),
                Value::Text(price.interval.name().into()),
                Value::Text(price.currency.clone()),
                Value::Integer(price.amount),
            ],
        )
        .map_err(db_error)?;
    }
    tx.commit().map_err(db_error)
}

pub fn get(db: &impl Reads, id: &str) -> Result<Option<Plan>, Problem> {
    Ok(load(db, Some(id))?.into_iter().next())
}

pub fn list(db: &impl Reads) -> Result<Vec<Plan>, Problem> {
    load(db, None)
}

fn load(db: &impl Reads, id: Option<&str>) -> Result<Vec<Plan>, Problem> {
    let (filter, params) = match id {
        Some(id) => ("WHERE id = $1", vec![Value::Text(id.to_string())]),
        None => ("", Vec::new()),
    };
    let plans = db.read(
        &format!("SELECT id, name, trial_days, tiers FROM plans {filter} ORDER BY created_at, id"),
        &params,
    )?;
    let prices = db.read(
        &format!(
            "SELECT plan_id, billing_interval, currency, amount FROM plan_prices {} \
             ORDER BY plan_id, billing_interval, currency",
            filter.replace("id", "plan_id")
        ),
        &params,
    )?;
    Ok(plans
        .rows
        .iter()
        .map(|r| {
            let id = text(&r[0]);
            Plan {
                prices: prices
                    .rows
                    .iter()
                    .filter(|p| text(&p[0]) == id)
                    .filter_map(|p| {
                        Some(Price {
                            interval: Interval::parse(&text(&p[1]))?,
                            currency: text(&p[2]),
                            amount: integer(&p[3]),
                        })
                    })
                    .collect(),
                name: text(&r[1]),
                trial_days: integer(&r[2]),
                tiers: serde_json::from_str(&text(&r[3])).unwrap_or_default(),
                id,
            }
        })
        .collect())
}
