//! A/B experiments: variants with weights, a goal event, targeting by role
//! and locale; deterministic assignment (the same subject always gets the
//! same variant), exposures recorded at assignment, conversions by the
//! aggregation worker when a goal event from an exposed subject arrives,
//! and results per `stats.rs`.

use folio_guest::columns::{integer, text};
use folio_guest::http::Problem;
use folio_guest::{Connection, Transaction, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::stats;
use crate::store::db_error;
use crate::track::{Tracked, valid_name};

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Definition {
    pub key: String,
    #[serde(default)]
    pub name: String,
    pub variants: Vec<Variant>,
    pub goal: String,
    #[serde(default)]
    pub targeting: Targeting,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub key: String,
    pub weight: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Targeting {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locales: Vec<String>,
}

pub fn parse(body: &[u8]) -> Result<Definition, Problem> {
    let definition: Definition = serde_json::from_slice(body).map_err(|e| {
        let message = e.to_string();
        let field = [
            "key",
            "name",
            "variants",
            "goal",
            "targeting",
            "weight",
            "roles",
            "locales",
        ]
        .into_iter()
        .find(|f| message.contains(&format!("`{f}`")))
        .unwrap_or("body");
        Problem::invalid_field(field, message)
    })?;
    check(&definition)?;
    Ok(definition)
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn check(d: &Definition) -> Result<(), Problem> {
    if !valid_key(&d.key) {
        return Err(Problem::invalid_field(
            "key",
            "must be 1 to 64 letters, digits, '-', '_' or '.'",
        ));
    }
    if d.name.len() > 200 {
        return Err(Problem::invalid_field(
            "name",
            "must be at most 200 characters",
        ));
    }
    if d.variants.len() < 2 || d.variants.len() > 10 {
        return Err(Problem::invalid_field(
            "variants",
            "must list 2 to 10 variants; the first is the control",
        ));
    }
    for (i, v) in d.variants.iter().enumerate() {
        if !valid_key(&v.key) {
            return Err(Problem::invalid_field(
                &format!("variants[{i}].key"),
                "must be 1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        if v.weight == 0 || v.weight > 10_000 {
            return Err(Problem::invalid_field(
                &format!("variants[{i}].weight"),
                "must be 1 to 10000",
            ));
        }
        if d.variants[..i].iter().any(|o| o.key == v.key) {
            return Err(Problem::invalid_field(
                &format!("variants[{i}].key"),
                "is used twice",
            ));
        }
    }
    if !valid_name(&d.goal) {
        return Err(Problem::invalid_field("goal", "must be an event name"));
    }
    if d.targeting
        .roles
        .iter()
        .any(|r| !["admin", "creator", "consumer", "anonymous"].contains(&r.as_str()))
    {
        return Err(Problem::invalid_field(
            "targeting.roles",
            "roles are admin, creator, consumer and anonymous",
        ));
    }
    if d.targeting.locales.iter().any(|l| {
        l.is_empty() || l.len() > 35 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }) {
        return Err(Problem::invalid_field(
            "targeting.locales",
            "must be BCP 47 tags such as en or pt-BR",
        ));
    }
    Ok(())
}

pub struct Stored {
    pub definition: Definition,
    pub status: String,
    pub created_at: i64,
}

impl Stored {
    pub fn view(&self) -> Json {
        let mut v = serde_json::to_value(&self.definition).expect("serializes");
        v["status"] = json!(self.status);
        v["createdAt"] = json!(folio_guest::util::rfc3339(self.created_at));
        v
    }
}

pub fn get(db: &Connection, key: &str) -> Result<Option<Stored>, Problem> {
    let rows = db
        .query(
            "SELECT definition, status, created_at FROM experiments WHERE key = $1",
            &[Value::Text(key.into())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().and_then(|r| {
        Some(Stored {
            definition: serde_json::from_str(&text(&r[0])).ok()?,
            status: text(&r[1]),
            created_at: integer(&r[2]),
        })
    }))
}

pub fn list(db: &Connection) -> Result<Vec<Stored>, Problem> {
    let rows = db
        .query(
            "SELECT definition, status, created_at FROM experiments ORDER BY created_at DESC, key",
            &[],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|r| {
            Some(Stored {
                definition: serde_json::from_str(&text(&r[0])).ok()?,
                status: text(&r[1]),
                created_at: integer(&r[2]),
            })
        })
        .collect())
}

/// False when the key is taken.
pub fn create(db: &Connection, d: &Definition, by: &str) -> Result<bool, Problem> {
    let created = db
        .execute(
            "INSERT INTO experiments (key, definition, goal, status, created_at, created_by) \
             VALUES ($1, $2, $3, 'running', $4, $5) ON CONFLICT (key) DO NOTHING",
            &[
                Value::Text(d.key.clone()),
                Value::Text(serde_json::to_string(d).expect("serializes")),
                Value::Text(d.goal.clone()),
                Value::Integer(folio_guest::util::now_ms()),
                Value::Text(by.into()),
            ],
        )
        .map_err(db_error)?;
    Ok(created == 1)
}

pub fn stop(db: &Connection, key: &str) -> Result<bool, Problem> {
    let changed = db
        .execute(
            "UPDATE experiments SET status = 'stopped' WHERE key = $1",
            &[Value::Text(key.into())],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}

/// A subject's variant: a hash of the experiment and the subject, as a
/// point in [0, 1) laid over the weights.
pub fn assign<'a>(d: &'a Definition, subject: &str) -> &'a Variant {
    let digest = Sha256::digest(format!("{}:{subject}", d.key).as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    let point = (n >> 11) as f64 / (1u64 << 53) as f64;
    let total: u32 = d.variants.iter().map(|v| v.weight).sum();
    let mut cumulative = 0.0;
    for v in &d.variants {
        cumulative += f64::from(v.weight) / f64::from(total);
        if point < cumulative {
            return v;
        }
    }
    d.variants.last().expect("two or more variants")
}

pub fn targeted(d: &Definition, role: &str, locale: Option<&str>) -> bool {
    let role_ok = d.targeting.roles.is_empty() || d.targeting.roles.iter().any(|r| r == role);
    let locale_ok = d.targeting.locales.is_empty()
        || locale.is_some_and(|l| {
            d.targeting.locales.iter().any(|t| {
                l.eq_ignore_ascii_case(t)
                    || (l.len() > t.len()
                        && l[..t.len()].eq_ignore_ascii_case(t)
                        && l.as_bytes()[t.len()] == b'-')
            })
        });
    role_ok && locale_ok
}

/// The first exposure stands: a subject stays in the variant it first saw.
pub fn expose(db: &Connection, key: &str, subject: &str, variant: &str) -> Result<(), Problem> {
    db.execute(
        "INSERT INTO exposures (experiment, subject, variant, exposed_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (experiment, subject) DO NOTHING",
        &[
            Value::Text(key.into()),
            Value::Text(subject.into()),
            Value::Text(variant.into()),
            Value::Integer(folio_guest::util::now_ms()),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Goal events of running experiments from exposed subjects, once per subject.
pub fn record_conversions(tx: &Transaction, events: &[Tracked]) -> Result<(), Problem> {
    let running = tx
        .query(
            "SELECT key, goal FROM experiments WHERE status = 'running'",
            &[],
        )
        .map_err(db_error)?;
    if running.rows.is_empty() {
        return Ok(());
    }
    for e in events {
        let Some(subject) = e.subject.as_ref().or(e.user_id.as_ref()) else {
            continue;
        };
        for r in running.rows.iter().filter(|r| text(&r[1]) == e.name) {
            tx.execute(
                "INSERT INTO conversions (experiment, subject, variant, converted_at) \
                 SELECT experiment, subject, variant, $3 FROM exposures \
                 WHERE experiment = $1 AND subject = $2 AND exposed_at <= $3 \
                 ON CONFLICT (experiment, subject) DO NOTHING",
                &[
                    r[0].clone(),
                    Value::Text(subject.clone()),
                    Value::Integer(e.at),
                ],
            )
            .map_err(db_error)?;
        }
    }
    Ok(())
}

pub fn results(db: &Connection, stored: &Stored) -> Result<Json, Problem> {
    let d = &stored.definition;
    let key = Value::Text(d.key.clone());
    let count = |table: &str| -> Result<Vec<(String, u64)>, Problem> {
        let rows = db
            .query(
                &format!("SELECT variant, CAST(COUNT(*) AS BIGINT) FROM {table} WHERE experiment = $1 GROUP BY variant"),
                std::slice::from_ref(&key),
            )
            .map_err(db_error)?;
        Ok(rows
            .rows
            .iter()
            .map(|r| (text(&r[0]), integer(&r[1]).max(0) as u64))
            .collect())
    };
    let exposures = count("exposures")?;
    let conversions = count("conversions")?;
    let of =
        |list: &[(String, u64)], v: &str| list.iter().find(|(k, _)| k == v).map_or(0, |(_, n)| *n);
    let control = &d.variants[0];
    let (n_c, c_c) = (of(&exposures, &control.key), of(&conversions, &control.key));
    let mut variants = Vec::new();
    for (i, v) in d.variants.iter().enumerate() {
        let (n, c) = (of(&exposures, &v.key), of(&conversions, &v.key));
        let mut view = json!({
            "key": v.key,
            "weight": v.weight,
            "control": i == 0,
            "exposures": n,
            "conversions": c,
            "conversionRate": if n > 0 { json!(c as f64 / n as f64) } else { Json::Null },
        });
        if i > 0
            && let Some(cmp) = stats::compare(c_c, n_c, c, n)
        {
            let p_c = c_c as f64 / n_c as f64;
            view["difference"] = json!(cmp.difference);
            view["differenceInterval"] = json!({"level": 0.95, "low": cmp.low, "high": cmp.high});
            if p_c > 0.0 {
                view["relativeUplift"] = json!(cmp.difference / p_c);
                view["relativeUpliftInterval"] =
                    json!({"level": 0.95, "low": cmp.low / p_c, "high": cmp.high / p_c});
            }
            view["zScore"] = json!(cmp.z);
            view["pValue"] = json!(cmp.p_value);
            view["significant"] = json!(cmp.p_value < 0.05);
        }
        variants.push(view);
    }
    let observed: Vec<u64> = d.variants.iter().map(|v| of(&exposures, &v.key)).collect();
    let weights: Vec<f64> = d.variants.iter().map(|v| f64::from(v.weight)).collect();
    let mut warnings = Vec::new();
    let sample_ratio = match stats::sample_ratio(&observed, &weights) {
        Some((chi_square, p_value)) => {
            let mismatch = p_value < 0.001;
            if mismatch {
                warnings.push(json!({
                    "code": "sample-ratio-mismatch",
                    "detail": format!("exposures do not match the weights (chi-square {chi_square:.2}, p = {p_value:.2e}): assignment or tracking is losing subjects, and the results cannot be trusted"),
                }));
            }
            json!({"chiSquare": chi_square, "pValue": p_value, "mismatch": mismatch})
        }
        None => Json::Null,
    };
    Ok(json!({
        "experiment": d.key,
        "status": stored.status,
        "goal": d.goal,
        "variants": variants,
        "sampleRatio": sample_ratio,
        "warnings": warnings,
    }))
}
