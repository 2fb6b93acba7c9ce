//! flagd-compatible flag definitions and evaluation.
//!
//! Parses flag set documents in the format of flagd (<https://flagd.dev/reference/flag-definitions/>,
//! schema `https://flagd.dev/schema/v0/flagd.json`) and evaluates flags the way flagd's
//! evaluator does (`core/pkg/evaluator/json.go` in open-feature/flagd), including flagd's custom
//! JsonLogic operators `fractional`, `starts_with`, `ends_with` and `sem_ver`.
//!
//! Pure computation: no I/O, no clock (the caller passes the time), no threads, no globals.
//!
//! Evaluation outcome, as in flagd:
//! * unknown key: reason `ERROR`, error code `FLAG_NOT_FOUND`;
//! * `state: DISABLED`: reason `DISABLED`, no value and no variant (the caller uses its code
//!   default);
//! * no targeting (absent or `{}`): the default variant with reason `STATIC`;
//! * targeting returns null: the default variant with reason `DEFAULT`;
//! * targeting returns a variant name (booleans become `"true"`/`"false"`, numbers their JSON
//!   text): that variant with reason `TARGETING_MATCH`; a name that is not a variant is an
//!   error with code `GENERAL`;
//! * a rule that fails to evaluate (unknown operator, unresolved `$ref`, ...): `PARSE_ERROR`;
//! * no default variant (`null`/absent) where one would be used: reason `DEFAULT` with no value
//!   and no variant (flagd's "fallback": the caller uses its code default).
//!
//! Validation ([`parse_flag_set`]): document ≤ 1 MiB, nesting ≤ 64, flags per flagd's schema
//! (`state`, non-empty homogeneous `variants`, `defaultVariant` naming a variant, scalar
//! `metadata`), and by default the targeting schema (known operators, resolvable `$ref`s,
//! arities, literal arguments of `fractional`/`sem_ver`/`starts_with`/`ends_with`). flagd
//! itself only warns about schema violations; [`ParseOptions::lenient_targeting`] accepts such
//! rules and reproduces flagd's runtime behaviour for them. Evaluations are metered
//! ([`DEFAULT_STEP_BUDGET`] steps, configurable); running out is an error with code `GENERAL`.
//!
//! Compatibility notes (flagd HEAD bbb05d4, flagd-schemas 741a7f8, flagd-testbed 82ba89e):
//! * `fractional` is flagd's current ("v2") algorithm: MurmurHash3 x86_32 (seed 0) of the
//!   bucketing string, bucket = `(hash * totalWeight) >> 32`, integer weights (default 1,
//!   negatives count as 0, non-integers or a total above `i32::MAX` yield null). The
//!   testbed's `@fractional-v3` scenarios (hashing of non-string values) describe a proposal
//!   flagd does not implement and are not followed.
//! * flagd derives a variant name by JSON-encoding the targeting result and deleting every
//!   `"`. String results are used as they are here, so names containing `"`, `\`, `<`, `>`,
//!   `&` or control characters (which flagd's encoder escapes) can match here but not in flagd.
//! * Core JsonLogic semantics follow the JsonLogic reference (json-logic-js / tests.json).
//!   flagd's Go library (diegoholiveira/jsonlogic v3) differs in corners: it returns `var`'s
//!   default for a present `null`, matches numbers loosely and supports ranges in `in`, and
//!   turns type errors into evaluation errors (`PARSE_ERROR`); those quirks are not copied.
//! * `$ref`s are resolved structurally (only exact `{"$ref": "name"}` objects, also inside
//!   `$evaluators`, with cycle detection) rather than by flagd's textual replacement.
//! * Strict validation accepts a top-level `{"$ref": ...}` targeting and the `log` and `?:`
//!   operators, which the schema does not list but flagd evaluates.

// A self-contained library module: the embedding component uses only part of its API.
#![allow(dead_code)]

use super::jsonlogic::{
    self, Budget, CompileOptions, Compiler, CustomOp, EvalError, Rule, Val, json_depth_exceeds,
};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Largest accepted flag set document, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Deepest accepted nesting of arrays/objects in a document or an evaluation context.
pub const MAX_NESTING_DEPTH: usize = 64;
/// Default per-evaluation step budget.
pub const DEFAULT_STEP_BUDGET: u64 = jsonlogic::DEFAULT_STEP_BUDGET;

/// Evaluation reasons (OpenFeature / flagd).
pub mod reason {
    pub const STATIC: &str = "STATIC";
    pub const TARGETING_MATCH: &str = "TARGETING_MATCH";
    pub const DEFAULT: &str = "DEFAULT";
    pub const DISABLED: &str = "DISABLED";
    pub const ERROR: &str = "ERROR";
}

/// Error codes (OpenFeature / flagd).
pub mod error_code {
    pub const FLAG_NOT_FOUND: &str = "FLAG_NOT_FOUND";
    pub const PARSE_ERROR: &str = "PARSE_ERROR";
    pub const TYPE_MISMATCH: &str = "TYPE_MISMATCH";
    pub const GENERAL: &str = "GENERAL";
    pub const INVALID_CONTEXT: &str = "INVALID_CONTEXT";
}

/// The custom operators flagd adds to JsonLogic.
pub const FLAGD_OPERATORS: &[CustomOp] = &[
    CustomOp {
        name: "fractional",
        func: op_fractional,
    },
    CustomOp {
        name: "starts_with",
        func: op_starts_with,
    },
    CustomOp {
        name: "ends_with",
        func: op_ends_with,
    },
    CustomOp {
        name: "sem_ver",
        func: op_sem_ver,
    },
];

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// The type of a flag, from its (homogeneous) variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagType {
    Boolean,
    String,
    Number,
    Object,
}

impl fmt::Display for FlagType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlagType::Boolean => "boolean",
            FlagType::String => "string",
            FlagType::Number => "number",
            FlagType::Object => "object",
        })
    }
}

/// The value type a caller asks for in [`FlagSet::evaluate_as`] (OpenFeature resolve types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Boolean,
    String,
    /// A number, truncated towards zero like flagd's `ResolveInt`.
    Integer,
    Float,
    Object,
}

/// Parser settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// `false` (default): targeting rules must satisfy flagd's targeting schema (known
    /// operators, resolvable `$ref`s, operator arities and the literal arguments of the flagd
    /// operators); violations reject the document.
    ///
    /// `true`: accept what the flagd daemon accepts at runtime (it only warns about schema
    /// violations). A rule that cannot be evaluated then makes that flag's evaluations fail
    /// with `PARSE_ERROR` when the broken part is reached, as in flagd.
    pub lenient_targeting: bool,
}

/// The result of evaluating one flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub key: String,
    /// The resolved value; `None` for errors, disabled flags and "use the code default".
    pub value: Option<Value>,
    pub variant: Option<String>,
    pub reason: String,
    pub error_code: Option<String>,
    pub error_details: Option<String>,
    /// Flag set metadata overlaid with the flag's own metadata.
    pub metadata: Map<String, Value>,
}

impl Evaluation {
    fn error(key: &str, code: &str, details: String, metadata: Map<String, Value>) -> Evaluation {
        Evaluation {
            key: key.to_string(),
            value: None,
            variant: None,
            reason: reason::ERROR.to_string(),
            error_code: Some(code.to_string()),
            error_details: Some(details),
            metadata,
        }
    }

    fn without_value(key: &str, why: &str, metadata: Map<String, Value>) -> Evaluation {
        Evaluation {
            key: key.to_string(),
            value: None,
            variant: None,
            reason: why.to_string(),
            error_code: None,
            error_details: None,
            metadata,
        }
    }

    /// True if the evaluation failed.
    pub fn is_error(&self) -> bool {
        self.error_code.is_some()
    }

    /// OFREP-style JSON (`key`, `value`, `variant`, `reason`, `errorCode`, `errorDetails`,
    /// `metadata`), omitting absent fields.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("key".into(), Value::String(self.key.clone()));
        if let Some(v) = &self.value {
            m.insert("value".into(), v.clone());
        }
        if let Some(v) = &self.variant {
            m.insert("variant".into(), Value::String(v.clone()));
        }
        m.insert("reason".into(), Value::String(self.reason.clone()));
        if let Some(c) = &self.error_code {
            m.insert("errorCode".into(), Value::String(c.clone()));
        }
        if let Some(d) = &self.error_details {
            m.insert("errorDetails".into(), Value::String(d.clone()));
        }
        m.insert("metadata".into(), Value::Object(self.metadata.clone()));
        Value::Object(m)
    }
}

#[derive(Debug, Clone)]
enum Targeting {
    None,
    Rule(Rule),
}

#[derive(Debug, Clone)]
struct Flag {
    enabled: bool,
    variants: Map<String, Value>,
    default_variant: Option<String>,
    targeting: Targeting,
    metadata: Map<String, Value>,
    flag_type: FlagType,
    raw: Value,
}

/// A parsed, validated flag set. Immutable, cheap to share (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct FlagSet {
    flags: BTreeMap<String, Flag>,
    metadata: Map<String, Value>,
    step_budget: u64,
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation
// ---------------------------------------------------------------------------------------------

/// Parses and validates a flag set document (strict targeting validation).
///
/// Errors name the offending place, e.g. `flags.new-welcome.defaultVariant: "x" is not a
/// variant`.
pub fn parse_flag_set(json: &str) -> Result<FlagSet, String> {
    parse_flag_set_with(json, ParseOptions::default())
}

/// Like [`parse_flag_set`], with options.
pub fn parse_flag_set_with(json: &str, options: ParseOptions) -> Result<FlagSet, String> {
    if json.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "document: {} bytes exceeds the limit of {MAX_DOCUMENT_BYTES} bytes",
            json.len()
        ));
    }
    let doc: Value = serde_json::from_str(json).map_err(|e| {
        if e.to_string().starts_with("recursion limit exceeded") {
            format!(
                "document: nesting depth exceeds {MAX_NESTING_DEPTH} (line {}, column {})",
                e.line(),
                e.column()
            )
        } else {
            format!("document: invalid JSON: {e}")
        }
    })?;
    FlagSet::from_json(&doc, options)
}

fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Path of the first array/object nested deeper than `limit` (root container = depth 1).
fn too_deep(v: &Value, path: &mut String, depth: usize, limit: usize) -> bool {
    let children: Box<dyn Iterator<Item = (String, &Value)>> = match v {
        Value::Array(a) => Box::new(a.iter().enumerate().map(|(i, x)| (format!("[{i}]"), x))),
        Value::Object(m) => Box::new(m.iter().map(|(k, x)| (format!(".{k}"), x))),
        _ => return false,
    };
    if depth > limit {
        return true;
    }
    for (suffix, child) in children {
        let len = path.len();
        path.push_str(&suffix);
        if too_deep(child, path, depth + 1, limit) {
            return true;
        }
        path.truncate(len);
    }
    false
}

fn parse_metadata(v: Option<&Value>, path: &str) -> Result<Map<String, Value>, String> {
    match v {
        None => Ok(Map::new()),
        Some(Value::Object(m)) => {
            for (k, x) in m {
                if !matches!(x, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                    return Err(format!(
                        "{path}.{k}: metadata values must be strings, numbers or booleans, got {}",
                        json_kind(x)
                    ));
                }
            }
            Ok(m.clone())
        }
        Some(other) => Err(format!(
            "{path}: must be an object, got {}",
            json_kind(other)
        )),
    }
}

impl FlagSet {
    /// Builds a flag set from an already parsed document (the size limit of
    /// [`parse_flag_set`] does not apply; the nesting limit does).
    pub fn from_json(doc: &Value, options: ParseOptions) -> Result<FlagSet, String> {
        let mut path = String::from("document");
        if json_depth_exceeds(doc, MAX_NESTING_DEPTH)
            && too_deep(doc, &mut path, 1, MAX_NESTING_DEPTH)
        {
            let path = path.strip_prefix("document.").unwrap_or(&path);
            return Err(format!("{path}: nesting depth exceeds {MAX_NESTING_DEPTH}"));
        }
        let root = doc
            .as_object()
            .ok_or_else(|| format!("document: must be an object, got {}", json_kind(doc)))?;

        let evaluators = match root.get("$evaluators") {
            None => None,
            Some(Value::Object(m)) => {
                for (name, body) in m {
                    if name.is_empty() {
                        return Err("$evaluators: names must be non-empty".to_string());
                    }
                    match body {
                        Value::Object(o) if !o.is_empty() => {}
                        other => {
                            return Err(format!(
                                "$evaluators.{name}: must be a non-empty JsonLogic rule object, got {}",
                                if other.as_object().is_some() {
                                    "an empty object"
                                } else {
                                    json_kind(other)
                                }
                            ));
                        }
                    }
                }
                Some(m)
            }
            Some(other) => {
                return Err(format!(
                    "$evaluators: must be an object, got {}",
                    json_kind(other)
                ));
            }
        };

        let metadata = parse_metadata(root.get("metadata"), "metadata")?;
        for field in ["flagSetId", "version"] {
            if metadata.get(field).is_some_and(|v| !v.is_string()) {
                return Err(format!("metadata.{field}: must be a string"));
            }
        }

        let strict = !options.lenient_targeting;
        let mut compiler = Compiler::new(
            CompileOptions {
                custom_ops: FLAGD_OPERATORS,
                strict,
            },
            evaluators,
        );
        if strict && let Some(evs) = evaluators {
            for (name, body) in evs {
                let p = format!("$evaluators.{name}");
                check_targeting_schema(body, &p)?;
                compiler
                    .compile_named(name, &p)
                    .map_err(|e| e.to_string())?;
            }
        }

        let mut flags = BTreeMap::new();
        match root.get("flags") {
            None => return Err("flags: required property is missing".to_string()),
            Some(Value::Object(m)) => {
                for (key, def) in m {
                    if key.is_empty() {
                        return Err("flags: flag keys must be non-empty".to_string());
                    }
                    let flag = parse_flag(def, &format!("flags.{key}"), &mut compiler, options)?;
                    flags.insert(key.clone(), flag);
                }
            }
            // The flagd daemon also accepts an array of flags with a "key" member.
            Some(Value::Array(items)) => {
                for (i, def) in items.iter().enumerate() {
                    let key = match def.get("key") {
                        Some(Value::String(k)) if !k.is_empty() => k,
                        Some(_) => {
                            return Err(format!("flags[{i}].key: must be a non-empty string"));
                        }
                        None => {
                            return Err(format!("flags[{i}].key: required property is missing"));
                        }
                    };
                    if flags.contains_key(key) {
                        return Err(format!(
                            "flags[{i}].key: duplicate flag key {}",
                            quoted(key)
                        ));
                    }
                    let flag = parse_flag(def, &format!("flags.{key}"), &mut compiler, options)?;
                    flags.insert(key.clone(), flag);
                }
            }
            Some(other) => {
                return Err(format!(
                    "flags: must be an object mapping flag keys to flag definitions, got {}",
                    json_kind(other)
                ));
            }
        }

        Ok(FlagSet {
            flags,
            metadata,
            step_budget: DEFAULT_STEP_BUDGET,
        })
    }

    /// Flag keys, in sorted order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.flags.keys().map(String::as_str)
    }

    /// Number of flags.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// True if the set has no flags.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// True if the set defines `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.flags.contains_key(key)
    }

    /// Flag set metadata.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    /// The type of a flag's variants.
    pub fn flag_type(&self, key: &str) -> Option<FlagType> {
        self.flags.get(key).map(|f| f.flag_type)
    }

    /// The flag's definition as written in the document (`$ref`s not expanded).
    pub fn flag_json(&self, key: &str) -> Option<Value> {
        self.flags.get(key).map(|f| f.raw.clone())
    }

    /// Sets the per-evaluation step budget (default [`DEFAULT_STEP_BUDGET`]).
    pub fn set_step_budget(&mut self, steps: u64) {
        self.step_budget = steps;
    }

    /// Evaluates a flag. `context` is the evaluation context (a JSON object, or null for an
    /// empty one; `targetingKey` is an ordinary member). flagd's `$flagd` object
    /// (`flagKey`, `timestamp` = `now_unix`) is added to it, replacing any caller value.
    pub fn evaluate(&self, key: &str, context: &Value, now_unix: i64) -> Evaluation {
        let Some(flag) = self.flags.get(key) else {
            return Evaluation::error(
                key,
                error_code::FLAG_NOT_FOUND,
                format!("flag not found: {key}"),
                Map::new(),
            );
        };
        let mut metadata = self.metadata.clone();
        for (k, v) in &flag.metadata {
            metadata.insert(k.clone(), v.clone());
        }
        if !flag.enabled {
            return Evaluation::without_value(key, reason::DISABLED, metadata);
        }
        let rule = match &flag.targeting {
            Targeting::None => return resolve_default(key, flag, reason::STATIC, metadata),
            Targeting::Rule(rule) => rule,
        };
        let data = match context_with_flagd(context, key, now_unix) {
            Ok(d) => d,
            Err(msg) => return Evaluation::error(key, error_code::INVALID_CONTEXT, msg, metadata),
        };
        let mut budget = Budget::new(self.step_budget);
        let result = match rule.evaluate(&data, &mut budget) {
            Ok(v) => v,
            Err(e @ EvalError::Invalid(_)) => {
                return Evaluation::error(
                    key,
                    error_code::PARSE_ERROR,
                    format!("error applying targeting rules: {e}"),
                    metadata,
                );
            }
            Err(e) => {
                return Evaluation::error(
                    key,
                    error_code::GENERAL,
                    format!("error applying targeting rules: {e}"),
                    metadata,
                );
            }
        };
        if matches!(result, Val::Null) {
            return resolve_default(key, flag, reason::DEFAULT, metadata);
        }
        let variant = match variant_name(&result) {
            Ok(v) => v,
            Err(e) => {
                return Evaluation::error(
                    key,
                    error_code::PARSE_ERROR,
                    format!("error applying targeting rules: {e}"),
                    metadata,
                );
            }
        };
        match flag.variants.get(&variant) {
            Some(value) => Evaluation {
                key: key.to_string(),
                value: Some(value.clone()),
                variant: Some(variant),
                reason: reason::TARGETING_MATCH.to_string(),
                error_code: None,
                error_details: None,
                metadata,
            },
            None => Evaluation::error(
                key,
                error_code::GENERAL,
                format!(
                    "invalid or missing variant: {variant} for flagKey: {key}, variant is not valid"
                ),
                metadata,
            ),
        }
    }

    /// Evaluates a flag as a specific type, like flagd's typed `Resolve*` calls: a resolved
    /// value of another type yields reason `ERROR` / `TYPE_MISMATCH` (the variant is kept).
    pub fn evaluate_as(
        &self,
        key: &str,
        context: &Value,
        now_unix: i64,
        ty: ValueType,
    ) -> Evaluation {
        let mut e = self.evaluate(key, context, now_unix);
        let Some(value) = &e.value else {
            return e;
        };
        let ok = match ty {
            ValueType::Boolean => value.is_boolean(),
            ValueType::String => value.is_string(),
            ValueType::Integer | ValueType::Float => value.is_number(),
            ValueType::Object => value.is_object(),
        };
        if !ok {
            let actual = json_kind(value);
            e.value = None;
            e.reason = reason::ERROR.to_string();
            e.error_code = Some(error_code::TYPE_MISMATCH.to_string());
            e.error_details = Some(format!(
                "flag {key} resolved to {actual}, not the requested {ty:?}"
            ));
        } else if ty == ValueType::Integer {
            let n = value.as_f64().unwrap_or(0.0);
            e.value = Some(Value::from(n.trunc() as i64));
        }
        e
    }

    /// Evaluates every flag (flagd's bulk evaluation), in key order.
    pub fn evaluate_all(&self, context: &Value, now_unix: i64) -> Vec<Evaluation> {
        self.keys()
            .map(|k| self.evaluate(k, context, now_unix))
            .collect()
    }
}

fn parse_flag(
    def: &Value,
    p: &str,
    compiler: &mut Compiler<'_>,
    options: ParseOptions,
) -> Result<Flag, String> {
    let obj = def
        .as_object()
        .ok_or_else(|| format!("{p}: must be an object, got {}", json_kind(def)))?;
    let enabled = match obj.get("state") {
        None => return Err(format!("{p}.state: required property is missing")),
        Some(Value::String(s)) if s == "ENABLED" => true,
        Some(Value::String(s)) if s == "DISABLED" => false,
        Some(other) => {
            return Err(format!(
                "{p}.state: must be \"ENABLED\" or \"DISABLED\", got {other}"
            ));
        }
    };
    let variants = match obj.get("variants") {
        None => return Err(format!("{p}.variants: required property is missing")),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(format!(
                "{p}.variants: must be an object, got {}",
                json_kind(other)
            ));
        }
    };
    if variants.is_empty() {
        return Err(format!("{p}.variants: must define at least one variant"));
    }
    let mut flag_type: Option<(FlagType, &str)> = None;
    for (name, value) in variants {
        if name.is_empty() {
            return Err(format!("{p}.variants: variant names must be non-empty"));
        }
        let t = match value {
            Value::Bool(_) => FlagType::Boolean,
            Value::String(_) => FlagType::String,
            Value::Number(_) => FlagType::Number,
            Value::Object(_) => FlagType::Object,
            other => {
                return Err(format!(
                    "{p}.variants.{name}: must be a boolean, string, number or object, got {}",
                    json_kind(other)
                ));
            }
        };
        match flag_type {
            None => flag_type = Some((t, name)),
            Some((first, first_name)) if first != t => {
                return Err(format!(
                    "{p}.variants.{name}: is a {t} but variant {} is a {first}; all variants of a flag must have the same type",
                    quoted(first_name)
                ));
            }
            Some(_) => {}
        }
    }
    let flag_type = flag_type.expect("at least one variant").0;
    // flagd treats "" like a missing default variant.
    let default_variant = match obj.get("defaultVariant") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            if !variants.contains_key(s) {
                return Err(format!(
                    "{p}.defaultVariant: {} is not a variant",
                    quoted(s)
                ));
            }
            Some(s.clone())
        }
        Some(other) => {
            return Err(format!(
                "{p}.defaultVariant: must be a string or null, got {}",
                json_kind(other)
            ));
        }
    };
    let tp = format!("{p}.targeting");
    let targeting = match obj.get("targeting") {
        None => Targeting::None,
        Some(Value::Object(m)) if m.is_empty() => Targeting::None,
        Some(t @ Value::Object(_)) => {
            if !options.lenient_targeting {
                check_targeting_schema(t, &tp)?;
            }
            Targeting::Rule(compiler.compile(t, &tp).map_err(|e| e.to_string())?)
        }
        // flagd evaluates a null rule to null, i.e. the default variant with reason DEFAULT.
        Some(Value::Null) if options.lenient_targeting => Targeting::Rule(
            compiler
                .compile(&Value::Null, &tp)
                .map_err(|e| e.to_string())?,
        ),
        Some(other) => {
            return Err(format!(
                "{tp}: must be a JsonLogic rule object, got {}",
                json_kind(other)
            ));
        }
    };
    let metadata = parse_metadata(obj.get("metadata"), &format!("{p}.metadata"))?;
    Ok(Flag {
        enabled,
        variants: variants.clone(),
        default_variant,
        targeting,
        metadata,
        flag_type,
        raw: def.clone(),
    })
}

/// Strict-mode checks from flagd's targeting schema (`targeting.json` in
/// open-feature/flagd-schemas) that go beyond "every object is a known operator": operator
/// arities and the literal arguments of flagd's operators. Rule-valued arguments are not
/// checked (their values are only known at evaluation time).
fn check_targeting_schema(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                check_targeting_schema(x, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Value::Object(m) if m.len() == 1 => {
            let (op, args) = m.iter().next().expect("one entry");
            check_operator(op, args, path)
        }
        _ => Ok(()),
    }
}

fn check_operator(op: &str, args: &Value, path: &str) -> Result<(), String> {
    let p = format!("{path}.{op}");
    check_operator_args(op, args, &p)?;
    check_targeting_schema(args, &p)
}

/// The per-operator checks (kept out of the recursive path: its frame is large).
#[inline(never)]
fn check_operator_args(op: &str, args: &Value, p: &str) -> Result<(), String> {
    let list = |min: usize, max: usize| -> Result<&Vec<Value>, String> {
        match args {
            Value::Array(a) if a.len() >= min && a.len() <= max => Ok(a),
            Value::Array(a) => Err(format!(
                "{p}: expects {} argument(s), got {}",
                if min == max {
                    min.to_string()
                } else if max == usize::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                },
                a.len()
            )),
            other => Err(format!(
                "{p}: arguments must be an array, got {}",
                json_kind(other)
            )),
        }
    };
    let is_rule = |v: &Value| matches!(v, Value::Object(m) if m.len() == 1);
    match op {
        "var" => {
            if let Value::String(s) = args
                && s.starts_with("$flagd.")
                && s != "$flagd.flagKey"
                && s != "$flagd.timestamp"
            {
                return Err(format!(
                    "{p}: {} is not a flagd property (only $flagd.flagKey and $flagd.timestamp exist)",
                    quoted(s)
                ));
            }
        }
        "missing" => {
            for (i, k) in list(0, usize::MAX)?.iter().enumerate() {
                if !k.is_string() {
                    return Err(format!("{p}[{i}]: must be a string"));
                }
            }
        }
        "missing_some" => {
            let a = list(2, 2)?;
            if !a[0].is_number() {
                return Err(format!("{p}[0]: must be a number"));
            }
            match &a[1] {
                Value::Array(keys) if keys.iter().all(Value::is_string) => {}
                _ => return Err(format!("{p}[1]: must be an array of strings")),
            }
        }
        "==" | "===" | "!=" | "!==" | ">" | ">=" | "%" | "/" | "map" | "filter" | "all"
        | "none" | "some" | "in" => {
            list(2, 2)?;
        }
        "substr" | "<" | "<=" => {
            list(2, 3)?;
        }
        "if" | "?:" | "or" | "and" | "+" | "-" | "max" | "min" | "merge" | "cat" => {
            list(1, usize::MAX)?;
        }
        "*" => {
            list(2, usize::MAX)?;
        }
        "!" | "!!" if args.is_array() => {
            list(1, 1)?;
        }
        "reduce" => {
            list(3, 3)?;
        }
        "starts_with" | "ends_with" => {
            for (i, a) in list(2, 2)?.iter().enumerate() {
                if !a.is_string() && !is_rule(a) {
                    return Err(format!(
                        "{p}[{i}]: must be a string or a rule, got {}",
                        json_kind(a)
                    ));
                }
            }
        }
        "sem_ver" => {
            let a = list(3, 3)?;
            for i in [0, 2] {
                match &a[i] {
                    Value::String(s) if is_strict_semver(s) => {}
                    Value::String(s) => {
                        return Err(format!(
                            "{p}[{i}]: {} is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])",
                            quoted(s)
                        ));
                    }
                    x if is_rule(x) => {}
                    x => {
                        return Err(format!(
                            "{p}[{i}]: must be a version string or a rule, got {}",
                            json_kind(x)
                        ));
                    }
                }
            }
            match &a[1] {
                Value::String(s) if SEMVER_OPERATORS.contains(&s.as_str()) => {}
                other => {
                    return Err(format!(
                        "{p}[1]: must be one of \"=\", \"!=\", \"<\", \"<=\", \">\", \">=\", \"^\", \"~\", got {other}"
                    ));
                }
            }
        }
        "fractional" => {
            let a = list(1, usize::MAX)?;
            let buckets = match &a[0] {
                Value::Array(_) => &a[..],
                x if is_rule(x) => &a[1..],
                x => {
                    return Err(format!(
                        "{p}[0]: the bucketing value must be a rule (e.g. {{\"var\": \"email\"}}) or the first bucket, got {}",
                        json_kind(x)
                    ));
                }
            };
            let offset = a.len() - buckets.len();
            for (i, bucket) in buckets.iter().enumerate() {
                let bp = format!("{p}[{}]", i + offset);
                match bucket {
                    Value::Array(b) if (1..=2).contains(&b.len()) => {
                        if let Some(w) = b.get(1) {
                            let ok = match w {
                                Value::Number(n) => {
                                    n.as_u64().is_some()
                                        || n.as_f64().is_some_and(|f| f >= 0.0 && f.fract() == 0.0)
                                }
                                x => is_rule(x),
                            };
                            if !ok {
                                return Err(format!(
                                    "{bp}[1]: the weight must be a non-negative integer or a rule, got {w}"
                                ));
                            }
                        }
                    }
                    _ => {
                        return Err(format!(
                            "{bp}: a bucket must be an array [variant] or [variant, weight]"
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn resolve_default(key: &str, flag: &Flag, why: &str, metadata: Map<String, Value>) -> Evaluation {
    match &flag.default_variant {
        Some(v) => Evaluation {
            key: key.to_string(),
            value: flag.variants.get(v).cloned(),
            variant: Some(v.clone()),
            reason: why.to_string(),
            error_code: None,
            error_details: None,
            metadata,
        },
        // flagd's FALLBACK: reported as DEFAULT without value, the caller uses its default.
        None => Evaluation::without_value(key, reason::DEFAULT, metadata),
    }
}

fn context_with_flagd(context: &Value, key: &str, now_unix: i64) -> Result<Val, String> {
    let mut map = match context {
        Value::Null => BTreeMap::new(),
        Value::Object(m) => {
            if json_depth_exceeds(context, MAX_NESTING_DEPTH) {
                return Err(format!(
                    "evaluation context nesting depth exceeds {MAX_NESTING_DEPTH}"
                ));
            }
            m.iter()
                .map(|(k, v)| (k.clone(), Val::from_json(v)))
                .collect()
        }
        other => {
            return Err(format!(
                "evaluation context must be an object, got {}",
                json_kind(other)
            ));
        }
    };
    let mut flagd = BTreeMap::new();
    flagd.insert("flagKey".to_string(), Val::str(key));
    flagd.insert("timestamp".to_string(), Val::Num(now_unix as f64));
    map.insert("$flagd".to_string(), Val::Obj(Arc::new(flagd)));
    Ok(Val::Obj(Arc::new(map)))
}

/// The variant name flagd derives from a non-null targeting result: flagd JSON-encodes the
/// result and strips every `"`. Strings are used as they are (see the module notes),
/// booleans become "true"/"false", numbers their Go JSON text.
fn variant_name(v: &Val) -> Result<String, String> {
    match v {
        Val::Str(s) => Ok(s.to_string()),
        other => {
            let mut out = String::new();
            go_json(other, &mut out)?;
            Ok(out.replace('"', ""))
        }
    }
}

/// Go `encoding/json` encoding (compact, sorted keys).
fn go_json(v: &Val, out: &mut String) -> Result<(), String> {
    match v {
        Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Num(n) => out.push_str(&go_json_number(*n)?),
        Val::Str(s) => out.push_str(&Value::String(s.to_string()).to_string()),
        Val::Arr(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, out)?;
            }
            out.push(']');
        }
        Val::Obj(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                go_json(x, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Shortest round-trip mantissa ("d.ddd") and decimal exponent of |f|.
fn mantissa_and_exponent(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').expect("LowerExp has an exponent");
    (mantissa.to_string(), exp.parse().expect("integer exponent"))
}

/// Go `encoding/json` float64 text.
fn go_json_number(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!("json: unsupported value: {f}"));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (mantissa, exp) = mantissa_and_exponent(f);
        let sign = if f < 0.0 { "-" } else { "" };
        let esign = if exp < 0 { '-' } else { '+' };
        return Ok(format!("{sign}{mantissa}e{esign}{}", exp.abs()));
    }
    Ok(format!("{f}"))
}

/// Go `fmt` `%v` text of a float64 (`%g`, shortest).
fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let (mantissa, exp) = mantissa_and_exponent(f);
    if !(-4..6).contains(&exp) {
        let sign = if f < 0.0 { "-" } else { "" };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{esign}{:02}", exp.abs());
    }
    format!("{f}")
}

// ---------------------------------------------------------------------------------------------
// Custom operators
// ---------------------------------------------------------------------------------------------

/// MurmurHash3 x86 32-bit.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, byte) in tail.iter().enumerate() {
            k |= u32::from(*byte) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// `$flagd.flagKey` as flagd's `getFlagdProperties` reads it ("" when absent or malformed).
fn flagd_flag_key(ctx: &BTreeMap<String, Val>) -> &str {
    let Some(Val::Obj(props)) = ctx.get("$flagd") else {
        return "";
    };
    let timestamp_ok = match props.get("timestamp") {
        None | Some(Val::Null) => true,
        Some(Val::Num(t)) => t.fract() == 0.0 && t.abs() < 9.2e18,
        Some(_) => false,
    };
    match props.get("flagKey") {
        Some(Val::Str(k)) if timestamp_ok => k,
        _ => "",
    }
}

fn op_fractional(args: &[Val], data: &Val, b: &mut Budget) -> Result<Val, EvalError> {
    Ok(fractional(args, data, b)?.unwrap_or(Val::Null))
}

/// flagd's `fractional` (core/pkg/evaluator/fractional.go): `None` where flagd returns nil.
fn fractional(args: &[Val], data: &Val, b: &mut Budget) -> Result<Option<Val>, EvalError> {
    if args.is_empty() {
        return Ok(None);
    }
    let Val::Obj(ctx) = data else {
        return Ok(None);
    };
    let (bucket_by, buckets) = match &args[0] {
        Val::Str(s) => (s.to_string(), &args[1..]),
        first => {
            // A null first element (a missing custom bucketing property) is skipped; other
            // non-strings are taken to be the first bucket.
            let buckets = if matches!(first, Val::Null) {
                &args[1..]
            } else {
                args
            };
            let targeting_key = match ctx.get("targetingKey") {
                None | Some(Val::Null) => return Ok(None),
                Some(Val::Str(s)) => s,
                Some(_) => return Ok(None),
            };
            if targeting_key.is_empty() {
                return Ok(None);
            }
            (format!("{}{}", flagd_flag_key(ctx), targeting_key), buckets)
        }
    };
    b.charge(buckets.len() as u64 + (bucket_by.len() / 64) as u64)?;
    let mut weighted: Vec<(&Val, u64)> = Vec::with_capacity(buckets.len());
    let mut total: i64 = 0;
    for bucket in buckets {
        let Val::Arr(items) = bucket else {
            return Ok(None);
        };
        let Some(variant) = items.first() else {
            return Ok(None);
        };
        if matches!(variant, Val::Arr(_) | Val::Obj(_)) {
            return Ok(None);
        }
        let mut weight: i64 = 1;
        match items.get(1) {
            None | Some(Val::Null) => {}
            Some(Val::Num(w)) => {
                // Weights must be whole numbers representable as int64 (Go: w == float64(int64(w))).
                if !w.is_finite() || w.fract() != 0.0 || w.abs() >= 9.223_372_036_854_775e18 {
                    return Ok(None);
                }
                weight = *w as i64;
            }
            Some(_) => return Ok(None),
        }
        if weight > i64::from(i32::MAX) {
            return Ok(None);
        }
        // Negative weights (e.g. from rollout arithmetic) count as 0.
        let weight = weight.max(0);
        total += weight;
        weighted.push((variant, weight as u64));
    }
    if total > i64::from(i32::MAX) || total == 0 {
        return Ok(None);
    }
    let hash = murmur3_x86_32(bucket_by.as_bytes(), 0);
    let bucket = (u64::from(hash) * total as u64) >> 32;
    let mut range_end = 0u64;
    for (variant, weight) in weighted {
        range_end += weight;
        if bucket < range_end {
            return Ok(Some(variant.clone()));
        }
    }
    Ok(None)
}

fn string_pair(args: &[Val]) -> Option<(&str, &str)> {
    match args {
        [Val::Str(a), Val::Str(b)] => Some((a, b)),
        _ => None,
    }
}

fn op_starts_with(args: &[Val], _: &Val, _: &mut Budget) -> Result<Val, EvalError> {
    Ok(string_pair(args).map_or(Val::Null, |(s, p)| Val::Bool(s.starts_with(p))))
}

fn op_ends_with(args: &[Val], _: &Val, _: &mut Budget) -> Result<Val, EvalError> {
    Ok(string_pair(args).map_or(Val::Null, |(s, p)| Val::Bool(s.ends_with(p))))
}

const SEMVER_OPERATORS: &[&str] = &["=", "!=", "<", "<=", ">", ">=", "^", "~"];

/// A version parsed like golang.org/x/mod/semver (leading "v"; "v1" and "v1.2" are
/// shorthands for "v1.0.0" and "v1.2.0"; build metadata is ignored in comparisons).
#[derive(Debug, PartialEq, Eq)]
struct SemVer<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    prerelease: &'a str,
    short: bool,
}

fn semver_int(v: &str) -> Option<(&str, &str)> {
    let n = v.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || (v.as_bytes()[0] == b'0' && n != 1) {
        return None;
    }
    Some((&v[..n], &v[n..]))
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

fn is_bad_num(v: &str) -> bool {
    v.len() > 1 && v.bytes().all(|c| c.is_ascii_digit()) && v.starts_with('0')
}

/// Dot-separated identifiers after a '-' or '+' (`prerelease` forbids numeric identifiers
/// with leading zeros). Returns (identifiers including the leading sign, rest).
fn semver_idents(v: &str, prerelease: bool) -> Option<(&str, &str)> {
    let bytes = v.as_bytes();
    let mut i = 1;
    let mut start = 1;
    while i < bytes.len() && !(prerelease && bytes[i] == b'+') {
        let c = bytes[i];
        if !is_ident_char(c) && c != b'.' {
            return None;
        }
        if c == b'.' {
            if start == i || (prerelease && is_bad_num(&v[start..i])) {
                return None;
            }
            start = i + 1;
        }
        i += 1;
    }
    if start == i || (prerelease && is_bad_num(&v[start..i])) {
        return None;
    }
    Some((&v[..i], &v[i..]))
}

fn parse_semver(v: &str) -> Option<SemVer<'_>> {
    let rest = v.strip_prefix('v')?;
    let (major, rest) = semver_int(rest)?;
    if rest.is_empty() {
        return Some(SemVer {
            major,
            minor: "0",
            patch: "0",
            prerelease: "",
            short: true,
        });
    }
    let (minor, rest) = semver_int(rest.strip_prefix('.')?)?;
    if rest.is_empty() {
        return Some(SemVer {
            major,
            minor,
            patch: "0",
            prerelease: "",
            short: true,
        });
    }
    let (patch, mut rest) = semver_int(rest.strip_prefix('.')?)?;
    let mut prerelease = "";
    if rest.starts_with('-') {
        (prerelease, rest) = semver_idents(rest, true)?;
    }
    if rest.starts_with('+') {
        (_, rest) = semver_idents(rest, false)?;
    }
    if !rest.is_empty() {
        return None;
    }
    Some(SemVer {
        major,
        minor,
        patch,
        prerelease,
        short: false,
    })
}

/// Matches the `semVerString` pattern of flagd's targeting schema (no "v", no shorthand).
fn is_strict_semver(s: &str) -> bool {
    !s.starts_with('v') && parse_semver(&format!("v{s}")).is_some_and(|v| !v.short)
}

fn cmp_num(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn cmp_prerelease(x: &str, y: &str) -> Ordering {
    if x == y {
        return Ordering::Equal;
    }
    if x.is_empty() {
        return Ordering::Greater;
    }
    if y.is_empty() {
        return Ordering::Less;
    }
    let mut xs = x[1..].split('.');
    let mut ys = y[1..].split('.');
    loop {
        match (xs.next(), ys.next()) {
            (Some(dx), Some(dy)) => {
                if dx == dy {
                    continue;
                }
                let nx = dx.bytes().all(|c| c.is_ascii_digit());
                let ny = dy.bytes().all(|c| c.is_ascii_digit());
                return match (nx, ny) {
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (true, true) => cmp_num(dx, dy),
                    (false, false) => dx.cmp(dy),
                };
            }
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (None, None) => return Ordering::Equal,
        }
    }
}

fn cmp_semver(a: &SemVer<'_>, b: &SemVer<'_>) -> Ordering {
    cmp_num(a.major, b.major)
        .then_with(|| cmp_num(a.minor, b.minor))
        .then_with(|| cmp_num(a.patch, b.patch))
        .then_with(|| cmp_prerelease(a.prerelease, b.prerelease))
}

/// flagd's `normalizeVersion`: non-strings are formatted like Go's `%v`; a leading "v" is
/// added unless present ("V" is replaced).
fn normalize_version(v: &Val) -> String {
    let s = match v {
        Val::Str(s) => s.to_string(),
        Val::Num(n) => go_format_float(*n),
        Val::Bool(b) => b.to_string(),
        Val::Null => "<nil>".to_string(),
        Val::Arr(_) => "[]".to_string(),
        Val::Obj(_) => "map[]".to_string(),
    };
    if s.starts_with('v') {
        s
    } else {
        format!("v{}", s.strip_prefix('V').unwrap_or(&s))
    }
}

fn sem_ver(args: &[Val]) -> Option<bool> {
    let [actual, op, target] = args else {
        return None;
    };
    let actual = normalize_version(actual);
    let target = normalize_version(target);
    let (a, t) = (parse_semver(&actual)?, parse_semver(&target)?);
    let ord = cmp_semver(&a, &t);
    Some(match op.as_str()? {
        "=" => ord == Ordering::Equal,
        "!=" => ord != Ordering::Equal,
        "<" => ord == Ordering::Less,
        "<=" => ord != Ordering::Greater,
        ">" => ord == Ordering::Greater,
        ">=" => ord != Ordering::Less,
        "^" => a.major == t.major,
        "~" => a.major == t.major && a.minor == t.minor,
        _ => return None,
    })
}

fn op_sem_ver(args: &[Val], _: &Val, _: &mut Budget) -> Result<Val, EvalError> {
    Ok(sem_ver(args).map_or(Val::Null, Val::Bool))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn lenient(doc: &Value) -> FlagSet {
        FlagSet::from_json(
            doc,
            ParseOptions {
                lenient_targeting: true,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn strict(doc: &Value) -> Result<FlagSet, String> {
        FlagSet::from_json(doc, ParseOptions::default())
    }

    fn value_of(set: &FlagSet, key: &str, ctx: Value) -> Option<Value> {
        set.evaluate(key, &ctx, NOW).value
    }

    /// Flags from open-feature/flagd-testbed (evaluator/flags/testkit-flags.json,
    /// flags/custom-ops.json, flags/edge-case-flags.json, flags/testing-flags.json), as used
    /// by the scenarios below.
    const TESTBED_FLAGS: &str = r##"{"flags": {
        "boolean-flag": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
        "string-flag": {"state": "ENABLED", "variants": {"greeting": "hi", "parting": "bye"}, "defaultVariant": "greeting"},
        "integer-flag": {"state": "ENABLED", "variants": {"one": 1, "ten": 10}, "defaultVariant": "ten"},
        "float-flag": {"state": "ENABLED", "variants": {"tenth": 0.1, "half": 0.5}, "defaultVariant": "half"},
        "object-flag": {"state": "ENABLED", "variants": {"empty": {}, "template": {"showImages": true, "title": "Check out these pics!", "imagesPerPage": 100}}, "defaultVariant": "template"},
        "string-zero-flag": {"state": "ENABLED", "variants": {"zero": "", "non-zero": "str"}, "defaultVariant": "zero"},
        "integer-targeted-zero-flag": {"state": "ENABLED", "variants": {"zero": 0, "non-zero": 1}, "targeting": {"if": [{"$ref": "is_ballmer"}, "zero"]}, "defaultVariant": "zero"},
        "wrong-flag": {"state": "ENABLED", "variants": {"one": "uno", "two": "dos"}, "defaultVariant": "one"},
        "null-default-flag": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": null},
        "undefined-default-flag": {"state": "ENABLED", "variants": {"small": 10, "big": 1000}},
        "no-default-flag-null-targeting-variant": {"state": "ENABLED", "variants": {"normal": "CFO", "special": "CEO"}, "targeting": {"if": [{"==": ["jobs@orange.com", {"var": ["email"]}]}, "special", null]}},
        "metadata-flag": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on", "metadata": {"string": "1.0.2", "integer": 2, "boolean": true, "float": 0.1}},
        "some-email-targeted-flag": {"state": "ENABLED", "variants": {"hi": "hi", "bye": "bye", "none": "none"}, "defaultVariant": "none", "targeting": {"if": [{"$ref": "is_ballmer"}, "hi", "bye"]}},
        "ref-to-nonexistent-evaluator-flag": {"state": "ENABLED", "variants": {"hit": "hit", "miss": "miss", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"if": [{"$ref": "nonexistent_evaluator"}, "hit", "miss"]}},
        "fractional-flag": {"state": "ENABLED", "variants": {"clubs": "clubs", "diamonds": "diamonds", "hearts": "hearts", "spades": "spades", "wild": "wild"}, "defaultVariant": "wild", "targeting": {"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "user.name"}]}, ["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]]}},
        "fractional-flag-shorthand": {"state": "ENABLED", "variants": {"heads": "heads", "tails": "tails", "draw": "draw"}, "defaultVariant": "draw", "targeting": {"fractional": [["heads"], ["tails", 1]]}},
        "fractional-hash-edge-flag": {"state": "ENABLED", "variants": {"lower": "lower", "upper": "upper"}, "defaultVariant": "lower", "targeting": {"fractional": [{"var": "targetingKey"}, ["lower", 50], ["upper", 50]]}},
        "fractional-nested-if-flag": {"state": "ENABLED", "variants": {"premium": "premium", "standard": "standard", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"fractional": [{"var": "targetingKey"}, [{"if": [{"==": [{"var": "tier"}, "premium"]}, "premium", "standard"]}, 50], ["standard", 50]]}},
        "fractional-nested-var-flag": {"state": "ENABLED", "variants": {"red": "red", "green": "green", "blue": "blue", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"fractional": [{"var": "targetingKey"}, [{"var": "color"}, 50], ["blue", 50]]}},
        "fractional-nested-weight-flag": {"state": "ENABLED", "variants": {"red": "red", "blue": "blue", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"fractional": [{"var": "targetingKey"}, ["red", {"if": [{"==": [{"var": "tier"}, "premium"]}, 100, 0]}], ["blue", 10]]}},
        "fractional-as-condition-flag": {"state": "ENABLED", "variants": {"big": "hundreds", "small": "ones", "fallback": "zero"}, "defaultVariant": "fallback", "targeting": {"if": [{"fractional": [[false, 0], [true, 100]]}, "big", "small"]}},
        "fractional-as-condition-false-flag": {"state": "ENABLED", "variants": {"big": "hundreds", "small": "ones", "fallback": "zero"}, "defaultVariant": "fallback", "targeting": {"if": [{"fractional": [[false, 100], [true, 0]]}, "big", "small"]}},
        "fractional-single-entry-flag": {"state": "ENABLED", "variants": {"single": "single", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"fractional": [["single", 1]]}},
        "fractional-null-bucket-key-flag": {"state": "ENABLED", "variants": {"one": "one", "two": "two", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"fractional": [{"var": "missing_key"}, ["one", 50], ["two", 50]]}},
        "fractional-zero-weights-flag": {"state": "ENABLED", "variants": {"one": "one", "two": "two", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"fractional": [{"var": "targetingKey"}, ["one", 0], ["two", 0]]}},
        "fractional-negative-weight-flag": {"state": "ENABLED", "variants": {"one": "one", "two": "two", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"fractional": [{"var": "targetingKey"}, ["one", -50], ["two", 100]]}},
        "starts-ends-flag": {"state": "ENABLED", "variants": {"prefix": "prefix", "postfix": "postfix", "none": "none"}, "defaultVariant": "none", "targeting": {"if": [{"starts_with": [{"var": "id"}, "abc"]}, "prefix", {"if": [{"ends_with": [{"var": "id"}, "xyz"]}, "postfix", {"if": [{"ends_with": [{"var": "id"}, 3]}, "fail", "none"]}]}]}},
        "starts-with-non-string-flag": {"state": "ENABLED", "variants": {"true": "true", "false": "false", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"starts_with": [{"var": "num"}, "abc"]}},
        "ends-with-wrong-args-flag": {"state": "ENABLED", "variants": {"true": "true", "false": "false", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"ends_with": ["xyz"]}},
        "equal-greater-lesser-version-flag": {"state": "ENABLED", "variants": {"equal": "equal", "greater": "greater", "lesser": "lesser", "none": "none"}, "defaultVariant": "none", "targeting": {"if": [{"sem_ver": [{"var": "version"}, "=", "2.0.0"]}, "equal", {"if": [{"sem_ver": [{"var": "version"}, ">", "2.0.0"]}, "greater", {"if": [{"sem_ver": [{"var": "version"}, "<", "2.0.0"]}, "lesser", "none"]}]}]}},
        "major-minor-version-flag": {"state": "ENABLED", "variants": {"minor": "minor", "major": "major", "none": "none"}, "defaultVariant": "none", "targeting": {"if": [{"sem_ver": [{"var": "version"}, "~", "3.0.0"]}, "minor", {"if": [{"sem_ver": [{"var": "version"}, "^", "3.0.0"]}, "major", "none"]}]}},
        "semver-invalid-operator-flag": {"state": "ENABLED", "variants": {"true": "true", "false": "false", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"sem_ver": [{"var": "version"}, "===", "1.0.0"]}},
        "semver-wrong-args-flag": {"state": "ENABLED", "variants": {"true": "true", "false": "false", "fallback": "fallback"}, "defaultVariant": "fallback", "targeting": {"sem_ver": [{"var": "version"}, "="]}},
        "semver-v-prefix-flag": {"state": "ENABLED", "variants": {"match": "match", "no-match": "no-match"}, "defaultVariant": "no-match", "targeting": {"if": [{"sem_ver": [{"var": "version"}, "=", "v1.0.0"]}, "match", "no-match"]}},
        "semver-partial-version-flag": {"state": "ENABLED", "variants": {"match": "match", "no-match": "no-match"}, "defaultVariant": "no-match", "targeting": {"if": [{"sem_ver": [{"var": "version"}, "^", "1"]}, "match", "no-match"]}},
        "semver-numeric-context-flag": {"state": "ENABLED", "variants": {"match": "match", "no-match": "no-match"}, "defaultVariant": "no-match", "targeting": {"if": [{"sem_ver": [{"var": "version"}, ">", "1.1"]}, "match", "no-match"]}},
        "semver-build-metadata-flag": {"state": "ENABLED", "variants": {"match": "match", "no-match": "no-match"}, "defaultVariant": "no-match", "targeting": {"if": [{"sem_ver": [{"var": "version"}, "=", "1.0.0+build"]}, "match", "no-match"]}},
        "targeting-key-flag": {"state": "ENABLED", "variants": {"miss": "miss", "hit": "hit"}, "defaultVariant": "miss", "targeting": {"if": [{"==": [{"var": "targetingKey"}, "5c3d8535-f81a-4478-a6d3-afaa4d51199e"]}, "hit", null]}},
        "timestamp-flag": {"state": "ENABLED", "variants": {"past": -1, "future": 1, "none": 0}, "defaultVariant": "none", "targeting": {"if": [{">": [{"var": "$flagd.timestamp"}, {"var": "time"}]}, "past", {"if": [{"<": [{"var": "$flagd.timestamp"}, {"var": "time"}]}, "future", "none"]}]}},
        "targeting-null-variant-flag": {"state": "ENABLED", "variants": {"one": 1, "two": 2}, "defaultVariant": "two", "targeting": {"if": [true, null, "one"]}},
        "error-targeting-flag": {"state": "ENABLED", "variants": {"one": 1, "two": 2}, "defaultVariant": "two", "targeting": {"invalid": ["this is not valid targeting"]}},
        "missing-variant-targeting-flag": {"state": "ENABLED", "variants": {"one": 1, "two": 2}, "defaultVariant": "two", "targeting": {"if": [true, "three", "one"]}},
        "non-string-variant-targeting-flag": {"state": "ENABLED", "variants": {"false": 1, "true": 2}, "defaultVariant": "false", "targeting": {"if": [true, true, false]}},
        "empty-targeting-flag": {"state": "ENABLED", "variants": {"false": 1, "true": 2}, "defaultVariant": "false", "targeting": {}},
        "targeting-null-flag": {"state": "ENABLED", "variants": {"one": 1, "two": 2}, "defaultVariant": "two", "targeting": {"fractional": [null, ["one"]]}},
        "disabled-string-flag": {"state": "DISABLED", "variants": {"greeting": "hi", "parting": "bye"}, "defaultVariant": "greeting"},
        "disabled-object-flag": {"state": "DISABLED", "variants": {"empty": {}}, "defaultVariant": "empty"},
        "fractional-flag-A-shared-seed": {"state": "ENABLED", "variants": {"clubs": "clubs", "diamonds": "diamonds", "hearts": "hearts", "spades": "spades", "wild": "wild"}, "defaultVariant": "wild", "targeting": {"fractional": [{"cat": ["shared-seed", {"var": "user.name"}]}, ["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]]}},
        "fractional-flag-B-shared-seed": {"state": "ENABLED", "variants": {"clubs": "ace-of-clubs", "diamonds": "ace-of-diamonds", "hearts": "ace-of-hearts", "spades": "ace-of-spades", "wild": "wild"}, "defaultVariant": "wild", "targeting": {"fractional": [{"cat": ["shared-seed", {"var": "user.name"}]}, ["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]]}}
    },
    "$evaluators": {"is_ballmer": {"==": ["ballmer@macrosoft.com", {"var": ["email"]}]}}}"##;

    fn testbed() -> FlagSet {
        lenient(&serde_json::from_str(TESTBED_FLAGS).unwrap())
    }

    #[test]
    fn flag_sets_are_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<FlagSet>();
        assert_send_sync::<Evaluation>();
    }

    #[test]
    fn murmur3_vectors() {
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(
            murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
        // Preimages from flagd-testbed's fractional hash edge cases.
        assert_eq!(murmur3_x86_32(b"ejOoVL", 0), 0);
        assert_eq!(murmur3_x86_32(b"bY9fO-", 0), 1);
        assert_eq!(murmur3_x86_32(b"SI7p-", 0), 2_147_483_647);
        assert_eq!(murmur3_x86_32(b"6LvT0", 0), 2_147_483_648);
        assert_eq!(murmur3_x86_32(b"ceQdGm", 0), 4_294_967_295);
    }

    #[test]
    fn testbed_basic_zero_and_static() {
        let set = testbed();
        for (key, value) in [
            ("boolean-flag", json!(true)),
            ("string-flag", json!("hi")),
            ("integer-flag", json!(10)),
            ("float-flag", json!(0.5)),
            (
                "object-flag",
                json!({"showImages": true, "title": "Check out these pics!", "imagesPerPage": 100}),
            ),
            ("string-zero-flag", json!("")),
        ] {
            let e = set.evaluate(key, &json!({}), NOW);
            assert_eq!(e.value, Some(value), "{key}");
            assert_eq!(e.reason, "STATIC", "{key}");
            assert!(e.metadata.is_empty(), "{key}");
        }
        let e = set.evaluate(
            "integer-targeted-zero-flag",
            &json!({"email": "ballmer@macrosoft.com"}),
            NOW,
        );
        assert_eq!(
            (e.value, e.reason.as_str()),
            (Some(json!(0)), "TARGETING_MATCH")
        );
        let e = set.evaluate(
            "integer-targeted-zero-flag",
            &json!({"email": "ballmer@none.com"}),
            NOW,
        );
        assert_eq!((e.value, e.reason.as_str()), (Some(json!(0)), "DEFAULT"));
        let e = set.evaluate("empty-targeting-flag", &json!({}), NOW);
        assert_eq!((e.value, e.reason.as_str()), (Some(json!(1)), "STATIC"));
    }

    #[test]
    fn testbed_errors_and_edge_cases() {
        let set = testbed();
        let e = set.evaluate("missing-flag", &json!({}), NOW);
        assert_eq!(e.error_code.as_deref(), Some("FLAG_NOT_FOUND"));
        assert_eq!(e.reason, "ERROR");
        let e = set.evaluate_as("wrong-flag", &json!({}), NOW, ValueType::Integer);
        assert_eq!(e.error_code.as_deref(), Some("TYPE_MISMATCH"));
        assert_eq!(e.value, None);
        let e = set.evaluate_as("float-flag", &json!({}), NOW, ValueType::Integer);
        assert_eq!(e.value, Some(json!(0)));

        // (key, value, error code)
        for (key, value, code) in [
            ("targeting-null-variant-flag", Some(json!(2)), None),
            ("error-targeting-flag", None, Some("PARSE_ERROR")),
            ("missing-variant-targeting-flag", None, Some("GENERAL")),
            ("non-string-variant-targeting-flag", Some(json!(2)), None),
            ("empty-targeting-flag", Some(json!(1)), None),
            ("targeting-null-flag", Some(json!(2)), None),
        ] {
            let e = set.evaluate(key, &json!({}), NOW);
            assert_eq!(e.value, value, "{key}");
            assert_eq!(e.error_code.as_deref(), code, "{key}");
        }
        let e = set.evaluate("ref-to-nonexistent-evaluator-flag", &json!({}), NOW);
        assert_eq!(e.error_code.as_deref(), Some("PARSE_ERROR"));
        let e = set.evaluate("non-string-variant-targeting-flag", &json!({}), NOW);
        assert_eq!(e.variant.as_deref(), Some("true"));
    }

    #[test]
    fn testbed_disabled_and_no_default() {
        let set = testbed();
        for key in ["disabled-string-flag", "disabled-object-flag"] {
            let e = set.evaluate(key, &json!({}), NOW);
            assert_eq!(e.reason, "DISABLED");
            assert_eq!((e.value, e.variant, e.error_code), (None, None, None));
        }
        for (key, email, reason, value) in [
            ("null-default-flag", "", "DEFAULT", None),
            ("undefined-default-flag", "", "DEFAULT", None),
            (
                "no-default-flag-null-targeting-variant",
                "wozniak@orange.com",
                "DEFAULT",
                None,
            ),
            (
                "no-default-flag-null-targeting-variant",
                "jobs@orange.com",
                "TARGETING_MATCH",
                Some(json!("CEO")),
            ),
        ] {
            let e = set.evaluate(key, &json!({"email": email}), NOW);
            assert_eq!(
                (e.reason.as_str(), e.value),
                (reason, value),
                "{key} {email}"
            );
            assert_eq!(e.error_code, None);
        }
    }

    #[test]
    fn testbed_refs_metadata_targeting_key_and_time() {
        let set = testbed();
        let ctx = json!({"email": "ballmer@macrosoft.com"});
        assert_eq!(
            value_of(&set, "some-email-targeted-flag", ctx),
            Some(json!("hi"))
        );
        assert_eq!(
            value_of(&set, "some-email-targeted-flag", json!({"email": "x@y"})),
            Some(json!("bye"))
        );
        let e = set.evaluate("metadata-flag", &json!({}), NOW);
        assert_eq!(
            Value::Object(e.metadata),
            json!({"string": "1.0.2", "integer": 2, "boolean": true, "float": 0.1})
        );
        for (tk, value, reason) in [
            (
                "5c3d8535-f81a-4478-a6d3-afaa4d51199e",
                "hit",
                "TARGETING_MATCH",
            ),
            ("f20bd32d-703b-48b6-bc8e-79d53c85134a", "miss", "DEFAULT"),
        ] {
            let e = set.evaluate("targeting-key-flag", &json!({"targetingKey": tk}), NOW);
            assert_eq!((e.value, e.reason.as_str()), (Some(json!(value)), reason));
        }
        for (time, value) in [(1, -1), (4_133_980_802_i64, 1)] {
            assert_eq!(
                value_of(&set, "timestamp-flag", json!({"time": time})),
                Some(json!(value))
            );
        }
        assert_eq!(
            value_of(&set, "timestamp-flag", json!({"time": NOW})),
            Some(json!(0))
        );
    }

    #[test]
    fn testbed_fractional_v2() {
        let set = testbed();
        let by_name = |key: &str, name: &str| {
            value_of(&set, key, json!({"user": {"name": name}}))
                .unwrap_or_else(|| panic!("{key} {name}"))
        };
        for (name, value) in [
            ("jack", "hearts"),
            ("queen", "spades"),
            ("ten", "clubs"),
            ("nine", "diamonds"),
            ("3", "clubs"),
        ] {
            assert_eq!(by_name("fractional-flag", name), json!(value), "{name}");
        }
        for (name, a, b) in [
            ("seven", "hearts", "ace-of-hearts"),
            ("eight", "diamonds", "ace-of-diamonds"),
            ("nine", "clubs", "ace-of-clubs"),
            ("two", "spades", "ace-of-spades"),
        ] {
            assert_eq!(by_name("fractional-flag-A-shared-seed", name), json!(a));
            assert_eq!(by_name("fractional-flag-B-shared-seed", name), json!(b));
        }
        let by_tk = |key: &str, ctx: Value| value_of(&set, key, ctx);
        for (tk, value) in [("jon@company.com", "heads"), ("jane@company.com", "tails")] {
            assert_eq!(
                by_tk("fractional-flag-shorthand", json!({"targetingKey": tk})),
                Some(json!(value))
            );
        }
        for (tk, value) in [
            ("ejOoVL", "lower"),
            ("bY9fO-", "lower"),
            ("SI7p-", "lower"),
            ("6LvT0", "upper"),
            ("ceQdGm", "upper"),
        ] {
            assert_eq!(
                by_tk("fractional-hash-edge-flag", json!({"targetingKey": tk})),
                Some(json!(value)),
                "{tk}"
            );
        }
        assert_eq!(
            by_tk(
                "fractional-single-entry-flag",
                json!({"targetingKey": "some-targeting-key"})
            ),
            Some(json!("single"))
        );
        for (tk, tier, value) in [
            ("jon@company.com", "premium", "premium"),
            ("jon@company.com", "basic", "standard"),
            ("user1", "premium", "standard"),
            ("user1", "basic", "standard"),
        ] {
            assert_eq!(
                by_tk(
                    "fractional-nested-if-flag",
                    json!({"targetingKey": tk, "tier": tier})
                ),
                Some(json!(value))
            );
        }
        for (tk, color, value) in [
            ("jon@company.com", "red", Some("red")),
            ("jon@company.com", "green", Some("green")),
            ("user1", "red", Some("blue")),
            ("jon@company.com", "yellow", None),
            ("jon@company.com", "", None),
        ] {
            let e = set.evaluate(
                "fractional-nested-var-flag",
                &json!({"targetingKey": tk, "color": color}),
                NOW,
            );
            assert_eq!(e.value, value.map(|v| json!(v)), "{tk} {color}");
            if value.is_none() {
                assert_eq!(e.error_code.as_deref(), Some("GENERAL"));
            }
        }
        for (tk, tier, value) in [
            ("jon@company.com", "premium", "red"),
            ("jon@company.com", "basic", "blue"),
            ("user1", "premium", "red"),
            ("user1", "basic", "blue"),
        ] {
            assert_eq!(
                by_tk(
                    "fractional-nested-weight-flag",
                    json!({"targetingKey": tk, "tier": tier})
                ),
                Some(json!(value))
            );
        }
        let ctx = json!({"targetingKey": "some-targeting-key"});
        assert_eq!(
            by_tk("fractional-as-condition-flag", ctx.clone()),
            Some(json!("hundreds"))
        );
        assert_eq!(
            by_tk("fractional-as-condition-false-flag", ctx),
            Some(json!("ones"))
        );
        for (key, ctx) in [
            ("fractional-null-bucket-key-flag", json!({})),
            (
                "fractional-zero-weights-flag",
                json!({"targetingKey": "any-user"}),
            ),
        ] {
            let e = set.evaluate(key, &ctx, NOW);
            assert_eq!(
                (e.value, e.reason.as_str()),
                (Some(json!("fallback")), "DEFAULT"),
                "{key}"
            );
        }
        assert_eq!(
            by_tk(
                "fractional-negative-weight-flag",
                json!({"targetingKey": "any-user"})
            ),
            Some(json!("two"))
        );
    }

    #[test]
    fn testbed_string_and_semver() {
        let set = testbed();
        for (id, value) in [
            (json!("abcdef"), "prefix"),
            (json!("uvwxyz"), "postfix"),
            (json!("abcxyz"), "prefix"),
            (json!("lmnopq"), "none"),
            (json!("3"), "none"),
        ] {
            assert_eq!(
                value_of(&set, "starts-ends-flag", json!({"id": id})),
                Some(json!(value))
            );
        }
        for key in ["starts-with-non-string-flag", "ends-with-wrong-args-flag"] {
            let e = set.evaluate(key, &json!({"num": 123}), NOW);
            assert_eq!(
                (e.value, e.reason.as_str()),
                (Some(json!("fallback")), "DEFAULT")
            );
        }
        let ver = |key: &str, v: Value| value_of(&set, key, json!({"version": v})).unwrap();
        for (v, value) in [
            ("2.0.0", "equal"),
            ("2.1.0", "greater"),
            ("1.9.0", "lesser"),
            ("2.0.0-alpha", "lesser"),
            ("2.0.0.0", "none"),
        ] {
            assert_eq!(
                ver("equal-greater-lesser-version-flag", json!(v)),
                json!(value),
                "{v}"
            );
        }
        for (v, value) in [("3.0.1", "minor"), ("3.1.0", "major"), ("4.0.0", "none")] {
            assert_eq!(ver("major-minor-version-flag", json!(v)), json!(value));
        }
        for v in [json!("not-a-version"), json!("1.0.0")] {
            let key = if v == json!("1.0.0") {
                "semver-invalid-operator-flag"
            } else {
                "semver-wrong-args-flag"
            };
            let e = set.evaluate(key, &json!({"version": v}), NOW);
            assert_eq!(
                (e.value, e.reason.as_str()),
                (Some(json!("fallback")), "DEFAULT")
            );
        }
        for (v, value) in [
            (json!("1.0.0"), "match"),
            (json!("v1.0.0"), "match"),
            (json!("V1.0.0"), "match"),
            (json!("2.0.0"), "no-match"),
        ] {
            assert_eq!(ver("semver-v-prefix-flag", v), json!(value));
        }
        for (v, value) in [
            (json!("1.5.0"), "match"),
            (json!("1.0"), "match"),
            (json!("1"), "match"),
            (json!(1), "match"),
            (json!(1.0), "match"),
            (json!(1.2), "match"),
            (json!("2.0.0"), "no-match"),
        ] {
            assert_eq!(
                ver("semver-partial-version-flag", v.clone()),
                json!(value),
                "{v}"
            );
        }
        for (v, value) in [
            (json!(1.2), "match"),
            (json!(1.1), "no-match"),
            (json!(2), "match"),
            (json!(1), "no-match"),
            (json!("1.2"), "match"),
            // Go formats 1e6 as "1e+06", which is not a version: sem_ver yields null.
            (json!(1_000_000), "no-match"),
        ] {
            assert_eq!(
                ver("semver-numeric-context-flag", v.clone()),
                json!(value),
                "{v}"
            );
        }
        for (v, value) in [
            ("1.0.0", "match"),
            ("1.0.0+other", "match"),
            ("2.0.0", "no-match"),
        ] {
            assert_eq!(ver("semver-build-metadata-flag", json!(v)), json!(value));
        }
    }

    #[test]
    fn semver_comparisons_from_flagd_unit_tests() {
        let cmp = |a: &str, op: &str, b: &str| sem_ver(&[Val::str(a), Val::str(op), Val::str(b)]);
        assert_eq!(cmp("invalid", ">", "v1.0.0"), None);
        assert_eq!(cmp("v1.0.0-preview.1.2", ">", "v1.0.0"), Some(false));
        assert_eq!(
            cmp("v1.0.0-preview.1.3", ">", "v1.0.0-preview.1.2"),
            Some(true)
        );
        assert_eq!(cmp("0.0.1", ">", "v0.0.2"), Some(false));
        assert_eq!(cmp("v0.0.1", "=", "0.0.1"), Some(true));
        assert_eq!(cmp("V1.0.0", "=", "1.0.0"), Some(true));
        assert_eq!(cmp("v0.0.1", "", "v0.0.2"), None);
        assert_eq!(cmp("v1234.0.1", "<", "v1235.0.2"), Some(true));
        assert_eq!(cmp("v1.0", "<", "v1.2"), Some(true));
        assert_eq!(cmp("v0.0.1", "<=", "v0.0.1"), Some(true));
        assert_eq!(cmp("v0.0.2", "!=", "v0.0.1"), Some(true));
        assert_eq!(cmp("v0.0.1", ">=", "v0.0.2"), Some(false));
        assert_eq!(cmp("v1.3.4", "^", "v1.5.3"), Some(true));
        assert_eq!(cmp("v2.1.1", "^", "v1.1.1"), Some(false));
        assert_eq!(cmp("v1.3.4", "~", "v1.3.1"), Some(true));
        assert_eq!(cmp("v2.2.1", "~", "v2.1.1"), Some(false));
        // SemVer 2.0 precedence examples.
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for w in order.windows(2) {
            assert_eq!(cmp(w[0], "<", w[1]), Some(true), "{} < {}", w[0], w[1]);
        }
        for bad in [
            "01.0.0", "1.0.0-01", "1.0.0-", "1.0.0+", "1.0-rc1", "1..0", "1.0.0 ",
        ] {
            assert_eq!(cmp(bad, "=", bad), None, "{bad}");
        }
        assert!(is_strict_semver("1.0.0-rc.1+build.5"));
        assert!(!is_strict_semver("1.0") && !is_strict_semver("v1.0.0"));
        assert_eq!(go_format_float(1.2), "1.2");
        assert_eq!(go_format_float(1e6), "1e+06");
        assert_eq!(go_format_float(123456.0), "123456");
        assert_eq!(go_format_float(0.00001), "1e-05");
    }

    #[test]
    fn fractional_vectors_from_flagd_unit_tests() {
        // core/pkg/evaluator/fractional_test.go (colour flags).
        let colors =
            json!({"red": "#FF0000", "blue": "#0000FF", "green": "#00FF00", "yellow": "#FFFF00"});
        let quarters = json!([["red", 25], ["blue", 25], ["green", 25], ["yellow", 25]]);
        let with_bucket = |bucket: Value| {
            let mut v = vec![bucket];
            v.extend(quarters.as_array().unwrap().iter().cloned());
            json!({"if": [{"in": ["@faas.com", {"var": ["email"]}]}, {"fractional": v}, null]})
        };
        let set = lenient(&json!({"flags": {
            "headerColor": {"state": "ENABLED", "variants": colors, "defaultVariant": "red",
                "targeting": with_bucket(json!({"cat": [{"var": "$flagd.flagKey"}, {"var": "email"}]}))},
            "customSeededHeaderColor": {"state": "ENABLED", "variants": colors, "defaultVariant": "red",
                "targeting": with_bucket(json!({"cat": ["my-seed", {"var": "email"}]}))},
            "footerColor": {"state": "ENABLED", "variants": colors, "defaultVariant": "red",
                "targeting": with_bucket(json!({"var": "email"}))},
            "nonEven": {"state": "ENABLED", "variants": colors, "defaultVariant": "red",
                "targeting": {"fractional": ["email", ["red", 50], ["blue", 25], ["green", 25]]}},
            "twoQuarters": {"state": "ENABLED", "variants": colors, "defaultVariant": "red",
                "targeting": {"fractional": [{"var": "email"}, ["red", 25], ["blue", 25]]}},
            "unweighted": {"state": "ENABLED", "variants": colors, "defaultVariant": "red",
                "targeting": {"fractional": [{"var": "email"}, ["red"], ["blue"]]}},
            "byTargetingKey": {"state": "ENABLED", "variants": colors, "defaultVariant": "red",
                "targeting": {"fractional": [["blue", 50], ["green", 50]]}},
            "headerColor2": {"state": "ENABLED", "variants": colors, "defaultVariant": "red",
                "targeting": {"fractional": [{"var": "email"}, ["red", 50], ["blue", 50]]}}
        }}));
        let variant = |key: &str, ctx: Value| set.evaluate(key, &ctx, NOW).variant;
        for (email, v) in [
            ("rachel@faas.com", "blue"),
            ("monica@faas.com", "yellow"),
            ("joey@faas.com", "red"),
            ("ross@faas.com", "blue"),
        ] {
            assert_eq!(
                variant("headerColor", json!({"email": email})).as_deref(),
                Some(v),
                "{email}"
            );
        }
        for (email, v) in [
            ("rachel@faas.com", "green"),
            ("monica@faas.com", "red"),
            ("joey@faas.com", "blue"),
            ("ross@faas.com", "green"),
        ] {
            assert_eq!(
                variant("customSeededHeaderColor", json!({"email": email})).as_deref(),
                Some(v),
                "{email}"
            );
        }
        assert_eq!(
            variant("footerColor", json!({"email": "ross@faas.com"})).as_deref(),
            Some("red")
        );
        assert_eq!(
            variant("nonEven", json!({"email": "test4@faas.com"})).as_deref(),
            Some("green")
        );
        assert_eq!(
            variant("twoQuarters", json!({"email": "foo@foo.com"})).as_deref(),
            Some("blue")
        );
        assert_eq!(
            variant("unweighted", json!({"email": "foo@foo.com"})).as_deref(),
            Some("blue")
        );
        assert_eq!(
            variant("byTargetingKey", json!({"targetingKey": "foo@foo.com"})).as_deref(),
            Some("green")
        );
        assert_eq!(
            variant("headerColor2", json!({"targetingKey": "foo@foo.com"})).as_deref(),
            Some("blue")
        );
        for ctx in [
            json!({}),
            json!({"targetingKey": null}),
            json!({"targetingKey": ""}),
        ] {
            let e = set.evaluate("byTargetingKey", &ctx, NOW);
            assert_eq!(
                (e.variant.as_deref(), e.reason.as_str()),
                (Some("red"), "DEFAULT")
            );
        }
        let e = set.evaluate("byTargetingKey", &json!({"targetingKey": 5}), NOW);
        assert_eq!(e.reason, "DEFAULT");
    }

    #[test]
    fn fractional_distribution_30_70() {
        let set = parse_flag_set(
            r#"{"flags": {"rollout": {"state": "ENABLED", "variants": {"on": true, "off": false},
                "defaultVariant": "off", "targeting": {"fractional": [["on", 30], ["off", 70]]}}}}"#,
        )
        .unwrap();
        let n = 10_000;
        let on = (0..n)
            .filter(|i| {
                let e = set.evaluate(
                    "rollout",
                    &json!({"targetingKey": format!("user-{i}")}),
                    NOW,
                );
                assert_eq!(e.reason, "TARGETING_MATCH");
                e.value == Some(json!(true))
            })
            .count();
        let share = on as f64 / f64::from(n);
        assert!((0.28..=0.32).contains(&share), "share {share}");
    }

    #[test]
    fn validation_errors_name_the_place() {
        let flag = |extra: Value| {
            let mut f = json!({"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"});
            for (k, v) in extra.as_object().unwrap() {
                if v.is_null() {
                    f.as_object_mut().unwrap().remove(k);
                } else {
                    f[k] = v.clone();
                }
            }
            json!({"flags": {"new-welcome": f}})
        };
        let cases = [
            (
                flag(json!({"defaultVariant": "x"})),
                "flags.new-welcome.defaultVariant: \"x\" is not a variant",
            ),
            (
                flag(json!({"variants": null})),
                "flags.new-welcome.variants: required property is missing",
            ),
            (
                flag(json!({"variants": {}})),
                "flags.new-welcome.variants: must define at least one variant",
            ),
            (
                flag(json!({"variants": {"on": true, "off": "false"}})),
                "all variants of a flag must have the same type",
            ),
            (
                flag(json!({"variants": {"on": [1]}})),
                "flags.new-welcome.variants.on: must be a boolean, string, number or object",
            ),
            (
                flag(json!({"state": "WILL-FAIL"})),
                "flags.new-welcome.state: must be \"ENABLED\" or \"DISABLED\"",
            ),
            (
                flag(json!({"state": null})),
                "flags.new-welcome.state: required property is missing",
            ),
            (
                flag(json!({"metadata": {"invalid": {"key": "value"}}})),
                "flags.new-welcome.metadata.invalid:",
            ),
            (
                flag(json!({"targeting": {"not-a-real-rule": [1, 2]}})),
                "flags.new-welcome.targeting: unknown operator \"not-a-real-rule\"",
            ),
            (
                flag(json!({"targeting": {"if": [{"$ref": "nope"}, "on", "off"]}})),
                "flags.new-welcome.targeting.if[0]: $ref \"nope\" does not name a shared rule",
            ),
            (
                flag(json!({"targeting": "on"})),
                "flags.new-welcome.targeting: must be a JsonLogic rule object",
            ),
            (
                flag(json!({"targeting": {"fractional": [["on", 25], ["off", 25.5]]}})),
                "flags.new-welcome.targeting.fractional[1][1]: the weight must be a non-negative integer",
            ),
            (
                flag(json!({"targeting": {"fractional": [["on", 25], ["off", -25]]}})),
                "the weight must be a non-negative integer",
            ),
            (
                flag(json!({"targeting": {"fractional": [["on", 25], ["off", "25"]]}})),
                "the weight must be a non-negative integer",
            ),
            (
                flag(json!({"targeting": {"fractional": ["invalid", ["on", 25], ["off", 25]]}})),
                "fractional[0]: the bucketing value must be a rule",
            ),
            (
                flag(
                    json!({"targeting": {"if": [{"ends_with": [{"var": "id"}, 0]}, "on", "off"]}}),
                ),
                "ends_with[1]: must be a string or a rule",
            ),
            (
                flag(
                    json!({"targeting": {"if": [{"sem_ver": [{"var": "v"}, "*", "2.0.0"]}, "on", "off"]}}),
                ),
                "sem_ver[1]: must be one of",
            ),
            (
                flag(
                    json!({"targeting": {"if": [{"sem_ver": [{"var": "v"}, "=", "2.0.0.0"]}, "on", "off"]}}),
                ),
                "sem_ver[2]: \"2.0.0.0\" is not a semantic version",
            ),
            (
                flag(
                    json!({"targeting": {"if": [{"==": [{"var": "$flagd.invalidProp"}, 1]}, "on", "off"]}}),
                ),
                "is not a flagd property",
            ),
            (
                flag(json!({"targeting": {"==": [1]}})),
                "flags.new-welcome.targeting.==: expects 2 argument(s), got 1",
            ),
            (
                json!({"flags": {"a": {}}}),
                "flags.a.state: required property is missing",
            ),
            (json!({"flags": 3}), "flags: must be an object"),
            (json!({}), "flags: required property is missing"),
            (
                json!({"flags": {}, "metadata": {"invalid": {"key": "value"}}}),
                "metadata.invalid: metadata values must be",
            ),
            (
                json!({"flags": {}, "$evaluators": {"e": {}}}),
                "$evaluators.e: must be a non-empty JsonLogic rule object",
            ),
            (
                json!({"flags": {}, "$evaluators": {"e": {"nope": 1}}}),
                "$evaluators.e: unknown operator \"nope\"",
            ),
            (
                json!({"flags": {}, "$evaluators": {"a": {"!": {"$ref": "b"}}, "b": {"!": {"$ref": "a"}}}}),
                "$ref cycle",
            ),
            (
                json!({"flags": [{"key": "a", "state": "ENABLED", "variants": {"x": 1}}, {"key": "a", "state": "ENABLED", "variants": {"x": 1}}]}),
                "flags[1].key: duplicate flag key \"a\"",
            ),
        ];
        for (doc, expected) in cases {
            let err = strict(&doc).expect_err(&doc.to_string());
            assert!(
                err.contains(expected),
                "{doc}\n  got: {err}\n  want: {expected}"
            );
        }
        // The testbed's deliberately odd-but-runnable rules load in lenient mode only.
        let odd =
            flag(json!({"targeting": {"fractional": [{"var": "k"}, ["on", -50], ["off", 100]]}}));
        assert!(strict(&odd).is_err());
        lenient(&odd);
    }

    #[test]
    fn accepted_documents() {
        let doc = json!({
            "$schema": "https://flagd.dev/schema/v0/flags.json",
            "metadata": {"flagSetId": "app", "version": "1"},
            "flags": {
                "a": {"state": "ENABLED", "variants": {"x": {"k": 1}, "y": {}}, "defaultVariant": null, "metadata": {"team": "t"}},
                "b": {"state": "DISABLED", "variants": {"one": 1, "pi": 2.5}, "defaultVariant": "", "targeting": {}},
                "c": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                      "targeting": {"if": [{"$ref": "isAdmin"}, "on", {"fractional": [["on", {"-": [{"var": "$flagd.timestamp"}, 1700000000]}], ["off", 100]]}]}}
            },
            "$evaluators": {"isAdmin": {"in": [{"var": "role"}, ["admin", "owner"]]}}
        });
        let set = strict(&doc).unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(set.flag_type("a"), Some(FlagType::Object));
        assert_eq!(set.flag_json("b").unwrap()["variants"]["pi"], json!(2.5));
        let e = set.evaluate("a", &json!({}), NOW);
        assert_eq!((e.reason.as_str(), e.value), ("DEFAULT", None));
        assert_eq!(
            Value::Object(e.metadata),
            json!({"flagSetId": "app", "version": "1", "team": "t"})
        );
        let e = set.evaluate("c", &json!({"role": "owner"}), NOW);
        assert_eq!(
            (e.variant.as_deref(), e.value),
            (Some("on"), Some(json!(true)))
        );
        // Timestamp-driven rollout: the "on" weight grows with time.
        let e = set.evaluate("c", &json!({"targetingKey": "u"}), 1_700_000_000);
        assert_eq!(e.variant.as_deref(), Some("off"));
        let e = set.evaluate("c", &json!({"targetingKey": "u"}), 1_800_000_000);
        assert_eq!(e.variant.as_deref(), Some("on"));
        assert_eq!(set.evaluate_all(&json!({}), NOW).len(), 3);
        let extras = json!({"flags": {"r": {"state": "ENABLED", "variants": {"on": true, "off": false},
            "defaultVariant": "off", "targeting": {"$ref": "pick"}}},
            "$evaluators": {"pick": {"?:": [{"log": {"var": "x"}}, "on", "off"]}}});
        let extras = strict(&extras).unwrap();
        assert_eq!(
            extras.evaluate("r", &json!({"x": 1}), NOW).value,
            Some(json!(true))
        );
        let array_form = json!({"flags": [{"key": "k", "state": "ENABLED", "variants": {"s": "v"}, "defaultVariant": "s"}]});
        assert_eq!(
            strict(&array_form)
                .unwrap()
                .evaluate("k", &json!(null), NOW)
                .value,
            Some(json!("v"))
        );
        let out = set.evaluate("b", &json!({}), NOW).to_json();
        assert_eq!(
            out,
            json!({"key": "b", "reason": "DISABLED", "metadata": {"flagSetId": "app", "version": "1"}})
        );
    }

    #[test]
    fn limits() {
        let big = format!(
            r#"{{"flags": {{}}, "metadata": {{"pad": "{}"}}}}"#,
            "x".repeat(MAX_DOCUMENT_BYTES)
        );
        assert!(
            parse_flag_set(&big)
                .unwrap_err()
                .contains("exceeds the limit")
        );

        let mut deep = json!(true);
        for _ in 0..35 {
            deep = json!({"!": [deep]});
        }
        let doc = json!({"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off", "targeting": deep}}});
        let err = parse_flag_set(&doc.to_string()).unwrap_err();
        assert!(err.contains("nesting depth exceeds 64"), "{err}");
        let very_deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let err = parse_flag_set(&very_deep).unwrap_err();
        assert!(
            err.starts_with("document: nesting depth exceeds 64 (line 1"),
            "{err}"
        );

        // A hostile but schema-valid rule is stopped by the step budget.
        let reduce = json!({"reduce": [{"var": "xs"}, {"+": [{"var": "accumulator"},
            {"reduce": [{"merge": [{"var": "current"}]}, {"+": [1, {"var": "accumulator"}]}, 0]}]}, 0]});
        let doc = json!({"flags": {"spin": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
            "targeting": {"if": [{">": [reduce, 0]}, "on", "off"]}}}});
        let mut set = strict(&doc).unwrap();
        let xs: Vec<Value> = (0..20_000).map(|i| json!([i, i])).collect();
        let e = set.evaluate("spin", &json!({"xs": xs}), NOW);
        assert_eq!(e.error_code.as_deref(), Some("GENERAL"));
        assert!(e.error_details.unwrap().contains("budget"));
        set.set_step_budget(u64::MAX);
        let e = set.evaluate("spin", &json!({"xs": [[1]]}), NOW);
        assert_eq!(e.value, Some(json!(true)));

        let mut deep_ctx = json!(1);
        for _ in 0..70 {
            deep_ctx = json!([deep_ctx]);
        }
        let e = set.evaluate("spin", &json!({"xs": deep_ctx}), NOW);
        assert_eq!(e.error_code.as_deref(), Some("INVALID_CONTEXT"));
        let e = set.evaluate("spin", &json!([1]), NOW);
        assert_eq!(e.error_code.as_deref(), Some("INVALID_CONTEXT"));
    }

    #[test]
    fn variant_names_from_non_string_results() {
        assert_eq!(variant_name(&Val::Num(1.0)).unwrap(), "1");
        assert_eq!(variant_name(&Val::Num(1.5)).unwrap(), "1.5");
        assert_eq!(variant_name(&Val::Num(1e21)).unwrap(), "1e+21");
        assert_eq!(variant_name(&Val::Num(1e-7)).unwrap(), "1e-7");
        assert_eq!(variant_name(&Val::Bool(false)).unwrap(), "false");
        assert_eq!(
            variant_name(&Val::arr(vec![Val::str("a"), Val::Num(2.0)])).unwrap(),
            "[a,2]"
        );
        assert!(variant_name(&Val::Num(f64::NAN)).is_err());
        let set = lenient(
            &json!({"flags": {"n": {"state": "ENABLED", "variants": {"1": "one", "2": "two"}, "defaultVariant": "1",
            "targeting": {"+": [1, 1]}}}}),
        );
        assert_eq!(set.evaluate("n", &json!({}), NOW).value, Some(json!("two")));
    }
}
