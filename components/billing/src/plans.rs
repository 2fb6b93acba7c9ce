//! The catalog: plans, each with prices per interval and currency, trial
//! days, and the tiers it grants (the names content's `requiredTier` uses).

use std::collections::{BTreeMap, BTreeSet};

use folio_guest::columns::{integer, text};
use folio_guest::entitlements::valid_tier;
use folio_guest::http::{JsonBody, Problem};
use folio_guest::util::{new_id, now_ms};
use folio_guest::{Connection, Value};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::money;
use crate::store::{Reads, db_error};

const MAX_PRICES: usize = 20;
const MAX_TIERS: usize = 10;
const MAX_TRIAL_DAYS: i64 = 365;
const MAX_METERS: usize = 10;

/// How a meter's usage in a period becomes the quantity billed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// The quantities added up.
    Sum,
    /// How many events.
    Count,
    /// The largest quantity.
    Max,
    /// How many different `value`s.
    Unique,
}

impl Aggregation {
    fn parse(raw: &str) -> Option<Aggregation> {
        match raw {
            "sum" => Some(Aggregation::Sum),
            "count" => Some(Aggregation::Count),
            "max" => Some(Aggregation::Max),
            "unique" => Some(Aggregation::Unique),
            _ => None,
        }
    }
}

/// Metered usage billed at the period's end: `unitAmounts` per currency, in
/// minor units per unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meter {
    pub key: String,
    pub aggregation: Aggregation,
    pub unit_amounts: BTreeMap<String, i64>,
}

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
    pub meters: Vec<Meter>,
}

impl Plan {
    pub fn price(&self, interval: Interval, currency: &str) -> Option<&Price> {
        self.prices
            .iter()
            .find(|p| p.interval == interval && p.currency == currency)
    }
}

/// `POST /api/v1/billing/plans`, checked whole: 422 naming the first field at fault.
pub fn parse(body: &JsonBody) -> Result<Plan, Problem> {
    body.only(&["name", "prices", "trialDays", "tiers", "meters"])?;
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
    let meters = match body.value("meters") {
        None => Vec::new(),
        Some(raw) => parse_meters(raw)?,
    };
    Ok(Plan {
        id: new_id(),
        name,
        prices,
        trial_days,
        tiers,
        meters,
    })
}

/// `meters: [{key, aggregation: sum|count|max|unique, unitAmounts: {EUR: 2}}]`.
fn parse_meters(raw: &Json) -> Result<Vec<Meter>, Problem> {
    let Json::Array(raw) = raw else {
        return Err(Problem::invalid_field(
            "meters",
            "must be a list of {key, aggregation, unitAmounts}",
        ));
    };
    if raw.len() > MAX_METERS {
        return Err(Problem::invalid_field(
            "meters",
            format!("must hold at most {MAX_METERS} meters"),
        ));
    }
    let mut meters: Vec<Meter> = Vec::new();
    for (i, raw) in raw.iter().enumerate() {
        let field = |name: &str| format!("meters[{i}].{name}");
        let Json::Object(meter) = raw else {
            return Err(Problem::invalid_field(
                &format!("meters[{i}]"),
                "must be an object",
            ));
        };
        if let Some(unknown) = meter
            .keys()
            .find(|k| !["key", "aggregation", "unitAmounts"].contains(&k.as_str()))
        {
            return Err(Problem::invalid_field(
                &field(unknown),
                "is not a known field",
            ));
        }
        let key = meter
            .get("key")
            .and_then(Json::as_str)
            .filter(|k| valid_tier(k))
            .ok_or_else(|| {
                Problem::invalid_field(&field("key"), "must be 1 to 32 of a-z, 0-9, -")
            })?;
        if meters.iter().any(|m| m.key == key) {
            return Err(Problem::invalid_field(
                &field("key"),
                "repeats another meter",
            ));
        }
        let aggregation = meter
            .get("aggregation")
            .and_then(Json::as_str)
            .and_then(Aggregation::parse)
            .ok_or_else(|| {
                Problem::invalid_field(&field("aggregation"), "must be sum, count, max or unique")
            })?;
        let Some(Json::Object(amounts)) = meter.get("unitAmounts") else {
            return Err(Problem::invalid_field(
                &field("unitAmounts"),
                "must be an object of currency: minor units per unit",
            ));
        };
        if amounts.is_empty() {
            return Err(Problem::invalid_field(
                &field("unitAmounts"),
                "must price at least one currency",
            ));
        }
        let mut unit_amounts = BTreeMap::new();
        for (currency, amount) in amounts {
            let at = field(&format!("unitAmounts.{currency}"));
            let code = money::currency(&at, Some(&Json::String(currency.clone())))?;
            let amount = money::amount(&at, Some(amount))?;
            if unit_amounts.insert(code, amount).is_some() {
                return Err(Problem::invalid_field(&at, "repeats a currency"));
            }
        }
        meters.push(Meter {
            key: key.to_string(),
            aggregation,
            unit_amounts,
        });
    }
    Ok(meters)
}

pub fn insert(db: &Connection, plan: &Plan) -> Result<(), Problem> {
    let tx = db.begin().map_err(db_error)?;
    tx.execute(
        "INSERT INTO plans (id, name, trial_days, tiers, created_at, meters) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            Value::Text(plan.id.clone()),
            Value::Text(plan.name.clone()),
            Value::Integer(plan.trial_days),
            Value::Text(serde_json::to_string(&plan.tiers).unwrap_or_default()),
            Value::Integer(now_ms()),
            Value::Text(serde_json::to_string(&plan.meters).unwrap_or_default()),
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
        &format!(
            "SELECT id, name, trial_days, tiers, meters FROM plans {filter} ORDER BY created_at, id"
        ),
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
                meters: serde_json::from_str(&text(&r[4])).unwrap_or_default(),
                id,
            }
        })
        .collect())
}
