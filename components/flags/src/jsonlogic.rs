//! A self-contained JsonLogic (<https://jsonlogic.com>) evaluator.
//!
//! Semantics follow the reference implementation `json-logic-js` (and therefore JavaScript's
//! coercion rules): truthiness per <https://jsonlogic.com/truthy.html>, loose equality (`==`) per
//! the ECMAScript Abstract Equality algorithm, relational operators per Abstract Relational
//! Comparison, `+`/`*` via `parseFloat`, `substr` with UTF-16 indices and PHP-style negative
//! lengths, `var` with dot paths and a default.
//!
//! Rules are compiled once ([`Compiler`]) into a small tree and then evaluated against data
//! ([`Rule::evaluate`]). Evaluation is pure: no I/O, no threads, no global state. Every
//! evaluation is metered by a [`Budget`] so a hostile rule cannot spin (e.g. `reduce` over huge
//! arrays, or doubling strings); values produced by `reduce` are depth-checked so they cannot
//! grow without bound either.
//!
//! Extra operators (used by the flagd module for `fractional`, `sem_ver`, ...) are plugged in
//! as [`CustomOp`]s; their arguments are evaluated eagerly (arrays element-wise), like every
//! non-control-flow JsonLogic operator.
//!
//! Named sub-rules (`{"$ref": "name"}`, flagd's `$evaluators`) are resolved at compile time and
//! shared, so repeated references do not blow up the compiled tree.

// A self-contained library module: the embedding component uses only part of its API.
#![allow(dead_code)]

use serde_json::{Map, Number, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// Default number of evaluation steps one evaluation may use.
pub const DEFAULT_STEP_BUDGET: u64 = 100_000;
/// Maximum nesting depth of a compiled rule (after `$ref` expansion).
pub const MAX_RULE_DEPTH: usize = 64;
/// Maximum nesting depth of data handed to, or values produced during, an evaluation.
pub const MAX_VALUE_DEPTH: usize = 128;

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// A JSON value as seen by the evaluator. Numbers are IEEE doubles (like JavaScript), so
/// intermediate results may be `NaN` or infinite; containers are reference counted so that
/// passing data around is cheap and so that `==` on arrays/objects can follow JavaScript's
/// reference semantics.
#[derive(Clone, Debug)]
pub enum Val {
    Null,
    Bool(bool),
    Num(f64),
    Str(Arc<str>),
    Arr(Arc<Vec<Val>>),
    Obj(Arc<BTreeMap<String, Val>>),
}

impl Val {
    /// A string value.
    pub fn str(s: &str) -> Val {
        Val::Str(Arc::from(s))
    }

    /// An array value.
    pub fn arr(items: Vec<Val>) -> Val {
        Val::Arr(Arc::new(items))
    }

    /// Converts from `serde_json`. Recursion depth equals the JSON nesting depth; callers that
    /// accept untrusted programmatic values should check it first (see [`json_depth_exceeds`]).
    pub fn from_json(v: &Value) -> Val {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Val::str(s),
            Value::Array(a) => Val::arr(a.iter().map(Val::from_json).collect()),
            Value::Object(m) => Val::Obj(Arc::new(
                m.iter()
                    .map(|(k, v)| (k.clone(), Val::from_json(v)))
                    .collect(),
            )),
        }
    }

    /// Converts to `serde_json` the way `JSON.stringify` would: non-finite numbers become
    /// `null`, integral numbers (|n| < 2^53) become JSON integers.
    pub fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Num(f) => num_to_json(*f),
            Val::Str(s) => Value::String(s.to_string()),
            Val::Arr(a) => Value::Array(a.iter().map(Val::to_json).collect()),
            Val::Obj(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }

    /// JsonLogic truthiness: like JavaScript, except that empty arrays are falsy.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Arr(a) => !a.is_empty(),
            other => js_truthy(other),
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Object member lookup (`None` for non-objects and absent keys).
    pub fn get(&self, key: &str) -> Option<&Val> {
        match self {
            Val::Obj(m) => m.get(key),
            _ => None,
        }
    }
}

fn num_to_json(f: f64) -> Value {
    if !f.is_finite() {
        return Value::Null;
    }
    if f == 0.0 {
        return Value::from(0);
    }
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        return Value::Number(Number::from(f as i64));
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// True if `v` nests arrays/objects deeper than `limit` (a scalar has depth 0, `[]` depth 1).
/// Never recurses deeper than `limit + 1`, so it is safe on arbitrarily deep values.
pub fn json_depth_exceeds(v: &Value, limit: usize) -> bool {
    match v {
        Value::Array(a) => limit == 0 || a.iter().any(|x| json_depth_exceeds(x, limit - 1)),
        Value::Object(m) => limit == 0 || m.values().any(|x| json_depth_exceeds(x, limit - 1)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and budget
// ---------------------------------------------------------------------------------------------

/// Why an evaluation failed.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalError {
    /// The step budget was used up.
    BudgetExceeded(u64),
    /// A value grew deeper than [`MAX_VALUE_DEPTH`].
    DepthExceeded,
    /// The rule is invalid (unknown operator, unresolved `$ref`, bad call, ...).
    Invalid(String),
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::BudgetExceeded(n) => write!(f, "evaluation step budget of {n} exceeded"),
            EvalError::DepthExceeded => {
                write!(f, "value nesting depth exceeds {MAX_VALUE_DEPTH}")
            }
            EvalError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for EvalError {}

/// Meters an evaluation. Each visited rule node costs one step; operations that touch or
/// produce many elements or bytes cost proportionally more.
#[derive(Debug, Clone)]
pub struct Budget {
    used: u64,
    limit: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget { used: 0, limit }
    }

    /// Steps used so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Consumes `n` steps, failing once the limit is passed.
    #[inline]
    pub fn charge(&mut self, n: u64) -> Result<(), EvalError> {
        self.used = self.used.saturating_add(n);
        if self.used > self.limit {
            Err(EvalError::BudgetExceeded(self.limit))
        } else {
            Ok(())
        }
    }

    #[inline]
    fn charge_len(&mut self, n: usize) -> Result<(), EvalError> {
        self.charge(n as u64)
    }

    #[inline]
    fn charge_bytes(&mut self, n: usize) -> Result<(), EvalError> {
        self.charge((n / 64) as u64)
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new(DEFAULT_STEP_BUDGET)
    }
}

// ---------------------------------------------------------------------------------------------
// Compiled rules
// ---------------------------------------------------------------------------------------------

/// Signature of a custom operator: evaluated arguments, the current data scope, the budget.
pub type CustomFn = fn(&[Val], &Val, &mut Budget) -> Result<Val, EvalError>;

/// A named custom operator.
#[derive(Clone, Copy)]
pub struct CustomOp {
    pub name: &'static str,
    pub func: CustomFn,
}

impl fmt::Debug for CustomOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomOp({})", self.name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Var,
    Missing,
    MissingSome,
    If,
    Eq,
    StrictEq,
    Ne,
    StrictNe,
    Not,
    NotNot,
    Or,
    And,
    Lt,
    Le,
    Gt,
    Ge,
    Max,
    Min,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Map,
    Reduce,
    Filter,
    All,
    NoneOf,
    SomeOf,
    Merge,
    In,
    Cat,
    Substr,
    Log,
}

impl Op {
    fn from_name(name: &str) -> Option<Op> {
        Some(match name {
            "var" => Op::Var,
            "missing" => Op::Missing,
            "missing_some" => Op::MissingSome,
            "if" | "?:" => Op::If,
            "==" => Op::Eq,
            "===" => Op::StrictEq,
            "!=" => Op::Ne,
            "!==" => Op::StrictNe,
            "!" => Op::Not,
            "!!" => Op::NotNot,
            "or" => Op::Or,
            "and" => Op::And,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "max" => Op::Max,
            "min" => Op::Min,
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "map" => Op::Map,
            "reduce" => Op::Reduce,
            "filter" => Op::Filter,
            "all" => Op::All,
            "none" => Op::NoneOf,
            "some" => Op::SomeOf,
            "merge" => Op::Merge,
            "in" => Op::In,
            "cat" => Op::Cat,
            "substr" => Op::Substr,
            "log" => Op::Log,
            _ => return None,
        })
    }
}

/// Names of the standard operators this module implements.
pub const STANDARD_OPERATORS: &[&str] = &[
    "var",
    "missing",
    "missing_some",
    "if",
    "?:",
    "==",
    "===",
    "!=",
    "!==",
    "!",
    "!!",
    "or",
    "and",
    "<",
    "<=",
    ">",
    ">=",
    "max",
    "min",
    "+",
    "-",
    "*",
    "/",
    "%",
    "map",
    "reduce",
    "filter",
    "all",
    "none",
    "some",
    "merge",
    "in",
    "cat",
    "substr",
    "log",
];

#[derive(Debug)]
enum Node {
    Lit(Val),
    Arr(Vec<Node>),
    Op(Op, Vec<Node>),
    Custom(CustomOp, Vec<Node>),
    Shared(Arc<Node>),
    /// A problem found at compile time in lenient mode; raised only if evaluation reaches it
    /// (JsonLogic implementations fail lazily, e.g. an unknown operator in an untaken branch).
    Error(String),
}

/// A compiled JsonLogic rule. Cheap to clone; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Rule {
    root: Arc<Node>,
}

impl Rule {
    /// Evaluates the rule against `data`.
    pub fn evaluate(&self, data: &Val, budget: &mut Budget) -> Result<Val, EvalError> {
        eval(&self.root, data, budget)
    }

    /// Convenience: evaluates against `serde_json` data and converts the result back.
    pub fn apply(&self, data: &Value, budget: &mut Budget) -> Result<Value, EvalError> {
        if json_depth_exceeds(data, MAX_VALUE_DEPTH) {
            return Err(EvalError::DepthExceeded);
        }
        Ok(self.evaluate(&Val::from_json(data), budget)?.to_json())
    }
}

/// A compile-time error, with a dotted path to the offending part of the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for CompileError {}

/// Compiler settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompileOptions<'a> {
    /// Extra operators.
    pub custom_ops: &'a [CustomOp],
    /// Strict: unknown operators, unresolved or cyclic `$ref`s, over-deep rules and rule
    /// objects with more than one key are compile errors. Lenient (JsonLogic/flagd runtime
    /// behaviour): the first three fail only when evaluation reaches them, and multi-key
    /// objects are literal data.
    pub strict: bool,
}

type SharedResult = Result<(Arc<Node>, usize), String>;

/// Compiles rules, resolving `{"$ref": name}` against a table of named rules (flagd's
/// `$evaluators`). Each named rule is compiled once and shared by every reference.
pub struct Compiler<'a> {
    opts: CompileOptions<'a>,
    named: Option<&'a Map<String, Value>>,
    cache: HashMap<String, SharedResult>,
    in_progress: Vec<String>,
}

impl<'a> Compiler<'a> {
    pub fn new(opts: CompileOptions<'a>, named: Option<&'a Map<String, Value>>) -> Compiler<'a> {
        Compiler {
            opts,
            named,
            cache: HashMap::new(),
            in_progress: Vec::new(),
        }
    }

    /// Compiles `rule`; `path` prefixes error paths (e.g. `flags.my-flag.targeting`).
    pub fn compile(&mut self, rule: &Value, path: &str) -> Result<Rule, CompileError> {
        let mut p = path.to_string();
        let (node, height) = self.node(rule, &mut p, 1)?;
        let node = if height > MAX_RULE_DEPTH {
            self.fail(path, format!("rule nesting depth exceeds {MAX_RULE_DEPTH}"))?
        } else {
            node
        };
        Ok(Rule {
            root: Arc::new(node),
        })
    }

    /// Compiles the named rule `name` (validating it in strict mode).
    pub fn compile_named(&mut self, name: &str, path: &str) -> Result<(), CompileError> {
        match self.shared(name, path)? {
            Ok(_) => Ok(()),
            Err(msg) => self.fail(path, msg).map(|_| ()),
        }
    }

    fn fail(&self, path: &str, message: String) -> Result<Node, CompileError> {
        if self.opts.strict {
            Err(CompileError {
                path: path.to_string(),
                message,
            })
        } else {
            Ok(Node::Error(message))
        }
    }

    /// Returns (node, height). `depth` is the nesting depth of `v` within the current rule.
    fn node(
        &mut self,
        v: &Value,
        path: &mut String,
        depth: usize,
    ) -> Result<(Node, usize), CompileError> {
        if depth > MAX_RULE_DEPTH {
            return self.too_deep(path);
        }
        match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut height = 0;
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    push_index(path, i);
                    let (n, h) = self.node(item, path, depth + 1)?;
                    path.truncate(len);
                    height = height.max(h);
                    out.push(n);
                }
                Ok((Node::Arr(out), height + 1))
            }
            Value::Object(m) if m.len() == 1 => {
                let (name, args) = m.iter().next().expect("one entry");
                if let ("$ref", Value::String(target), Some(_)) = (name.as_str(), args, self.named)
                {
                    return self.reference(target, path);
                }
                self.operation(name, args, path, depth)
            }
            Value::Object(m) if m.len() > 1 && self.opts.strict => Err(multi_key_error(path, m)),
            // Scalars, `{}` and (lenient) multi-key objects are literal data.
            other => Ok((Node::Lit(Val::from_json(other)), 1)),
        }
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&self, path: &str) -> Result<(Node, usize), CompileError> {
        let n = self.fail(path, format!("rule nesting depth exceeds {MAX_RULE_DEPTH}"))?;
        Ok((n, 1))
    }

    #[cold]
    #[inline(never)]
    fn unknown_operator(
        &self,
        name: &str,
        args: &Value,
        path: &str,
    ) -> Result<(Node, usize), CompileError> {
        let msg = if name == "$ref" {
            match args {
                Value::String(s) => format!("$ref {s:?} does not name a shared rule"),
                _ => "$ref must be a string naming a shared rule".to_string(),
            }
        } else {
            format!("unknown operator {name:?}")
        };
        Ok((self.fail(path, msg)?, 1))
    }

    fn operation(
        &mut self,
        name: &str,
        args: &Value,
        path: &mut String,
        depth: usize,
    ) -> Result<(Node, usize), CompileError> {
        enum Kind {
            Std(Op),
            Custom(CustomOp),
        }
        let kind = if let Some(op) = Op::from_name(name) {
            Kind::Std(op)
        } else if let Some(c) = self.opts.custom_ops.iter().find(|c| c.name == name) {
            Kind::Custom(*c)
        } else {
            return self.unknown_operator(name, args, path);
        };
        let base = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
        // Non-array arguments are shorthand for a one-element argument list.
        let (list, is_array): (Vec<&Value>, bool) = match args {
            Value::Array(a) => (a.iter().collect(), true),
            other => (vec![other], false),
        };
        let mut nodes = Vec::with_capacity(list.len());
        let mut height = 0;
        for (i, a) in list.into_iter().enumerate() {
            let len = path.len();
            if is_array {
                push_index(path, i);
            }
            let (n, h) = self.node(a, path, depth + 1)?;
            path.truncate(len);
            height = height.max(h);
            nodes.push(n);
        }
        path.truncate(base);
        let node = match kind {
            Kind::Std(op) => Node::Op(op, nodes),
            Kind::Custom(c) => Node::Custom(c, nodes),
        };
        Ok((node, height + 1))
    }

    fn reference(&mut self, name: &str, path: &str) -> Result<(Node, usize), CompileError> {
        match self.shared(name, path)? {
            Ok((node, height)) => Ok((Node::Shared(node), height)),
            Err(msg) => Ok((self.fail(path, msg)?, 1)),
        }
    }

    fn shared(&mut self, name: &str, path: &str) -> Result<SharedResult, CompileError> {
        if let Some(r) = self.cache.get(name) {
            return Ok(r.clone());
        }
        if let Some(pos) = self.in_progress.iter().position(|n| n == name) {
            let mut cycle: Vec<&str> = self.in_progress[pos..].iter().map(String::as_str).collect();
            cycle.push(name);
            return Ok(Err(format!("$ref cycle: {}", cycle.join(" -> "))));
        }
        let Some(body) = self.named.and_then(|m| m.get(name)) else {
            return Ok(Err(format!("$ref {name:?} does not name a shared rule")));
        };
        self.in_progress.push(name.to_string());
        let mut p = format!("$evaluators.{name}");
        let compiled = self.node(body, &mut p, 1);
        self.in_progress.pop();
        let result = match compiled {
            Ok((node, height)) if height <= MAX_RULE_DEPTH => Ok((Arc::new(node), height)),
            Ok(_) => Err(format!(
                "rule nesting depth exceeds {MAX_RULE_DEPTH} (via $ref {name:?})"
            )),
            Err(e) => {
                // Strict mode: report where the problem is (inside the shared rule).
                return Err(CompileError {
                    path: if e.path.is_empty() {
                        path.to_string()
                    } else {
                        e.path
                    },
                    message: e.message,
                });
            }
        };
        self.cache.insert(name.to_string(), result.clone());
        Ok(result)
    }
}

#[inline(never)]
fn push_index(path: &mut String, i: usize) {
    use fmt::Write;
    let _ = write!(path, "[{i}]");
}

#[cold]
#[inline(never)]
fn multi_key_error(path: &str, m: &Map<String, Value>) -> CompileError {
    let keys: Vec<String> = m.keys().map(|k| format!("{k:?}")).collect();
    CompileError {
        path: path.to_string(),
        message: format!(
            "a rule object must have exactly one operator key, found {}: {}",
            m.len(),
            keys.join(", ")
        ),
    }
}

/// Compiles `rule` with only the standard operators, lenient like `json-logic-js`.
pub fn compile(rule: &Value) -> Result<Rule, CompileError> {
    Compiler::new(CompileOptions::default(), None).compile(rule, "")
}

/// Compiles and applies `rule` to `data` with the default budget (standard operators only).
pub fn apply(rule: &Value, data: &Value) -> Result<Value, EvalError> {
    let rule = compile(rule).map_err(|e| EvalError::Invalid(e.to_string()))?;
    rule.apply(data, &mut Budget::default())
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

fn eval(node: &Node, data: &Val, b: &mut Budget) -> Result<Val, EvalError> {
    b.charge(1)?;
    match node {
        Node::Lit(v) => Ok(v.clone()),
        Node::Arr(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(eval(item, data, b)?);
            }
            Ok(Val::arr(out))
        }
        Node::Shared(n) => eval(n, data, b),
        Node::Error(msg) => Err(EvalError::Invalid(msg.clone())),
        Node::Custom(op, args) => {
            let vals = eval_all(args, data, b)?;
            (op.func)(&vals, data, b)
        }
        Node::Op(op, args) => eval_op(*op, args, data, b),
    }
}

fn eval_all(args: &[Node], data: &Val, b: &mut Budget) -> Result<Vec<Val>, EvalError> {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        out.push(eval(a, data, b)?);
    }
    Ok(out)
}

/// Applies an optional (possibly absent, i.e. `undefined`) rule.
fn eval_opt(node: Option<&Node>, data: &Val, b: &mut Budget) -> Result<Val, EvalError> {
    match node {
        Some(n) => eval(n, data, b),
        None => Ok(Val::Null),
    }
}

/// Dispatch; kept small because it is on the recursive path.
fn eval_op(op: Op, args: &[Node], data: &Val, b: &mut Budget) -> Result<Val, EvalError> {
    match op {
        Op::If => eval_if(args, data, b),
        Op::And | Op::Or => eval_and_or(op, args, data, b),
        Op::Map | Op::Filter | Op::All | Op::NoneOf | Op::SomeOf => eval_scoped(op, args, data, b),
        Op::Reduce => eval_reduce(args, data, b),
        _ => eval_eager(op, args, data, b),
    }
}

#[inline(never)]
fn eval_if(args: &[Node], data: &Val, b: &mut Budget) -> Result<Val, EvalError> {
    let mut i = 0;
    while i + 1 < args.len() {
        if eval(&args[i], data, b)?.truthy() {
            return eval(&args[i + 1], data, b);
        }
        i += 2;
    }
    eval_opt(args.get(i), data, b)
}

#[inline(never)]
fn eval_and_or(op: Op, args: &[Node], data: &Val, b: &mut Budget) -> Result<Val, EvalError> {
    let want = op == Op::Or;
    let mut last = Val::Null;
    for a in args {
        last = eval(a, data, b)?;
        if last.truthy() == want {
            return Ok(last);
        }
    }
    Ok(last)
}

#[inline(never)]
fn eval_scoped(op: Op, args: &[Node], data: &Val, b: &mut Budget) -> Result<Val, EvalError> {
    let scoped = eval_opt(args.first(), data, b)?;
    let logic = args.get(1);
    let Val::Arr(items) = scoped else {
        return Ok(match op {
            Op::Map | Op::Filter => Val::arr(Vec::new()),
            Op::NoneOf => Val::Bool(true),
            _ => Val::Bool(false),
        });
    };
    b.charge_len(items.len())?;
    match op {
        Op::Map => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter() {
                out.push(eval_opt(logic, item, b)?);
            }
            Ok(Val::arr(out))
        }
        Op::Filter => {
            let mut out = Vec::new();
            for item in items.iter() {
                if eval_opt(logic, item, b)?.truthy() {
                    out.push(item.clone());
                }
            }
            Ok(Val::arr(out))
        }
        Op::All => {
            if items.is_empty() {
                return Ok(Val::Bool(false));
            }
            for item in items.iter() {
                if !eval_opt(logic, item, b)?.truthy() {
                    return Ok(Val::Bool(false));
                }
            }
            Ok(Val::Bool(true))
        }
        Op::NoneOf => {
            for item in items.iter() {
                if eval_opt(logic, item, b)?.truthy() {
                    return Ok(Val::Bool(false));
                }
            }
            Ok(Val::Bool(true))
        }
        _ => {
            for item in items.iter() {
                if eval_opt(logic, item, b)?.truthy() {
                    return Ok(Val::Bool(true));
                }
            }
            Ok(Val::Bool(false))
        }
    }
}

#[inline(never)]
fn eval_reduce(args: &[Node], data: &Val, b: &mut Budget) -> Result<Val, EvalError> {
    let scoped = eval_opt(args.first(), data, b)?;
    let initial = eval_opt(args.get(2), data, b)?;
    let Val::Arr(items) = scoped else {
        return Ok(initial);
    };
    b.charge_len(items.len())?;
    let mut acc = initial;
    for item in items.iter() {
        let mut scope = BTreeMap::new();
        scope.insert("current".to_string(), item.clone());
        scope.insert("accumulator".to_string(), acc);
        acc = eval_opt(args.get(1), &Val::Obj(Arc::new(scope)), b)?;
        if val_depth_exceeds(&acc, MAX_VALUE_DEPTH, b)? {
            return Err(EvalError::DepthExceeded);
        }
    }
    Ok(acc)
}

#[inline(never)]
fn eval_eager(op: Op, args: &[Node], data: &Val, b: &mut Budget) -> Result<Val, EvalError> {
    let v = eval_all(args, data, b)?;
    eager(op, &v, data, b)
}

fn val_depth_exceeds(v: &Val, limit: usize, b: &mut Budget) -> Result<bool, EvalError> {
    match v {
        Val::Arr(a) => {
            if limit == 0 {
                return Ok(true);
            }
            b.charge_len(a.len())?;
            for x in a.iter() {
                if val_depth_exceeds(x, limit - 1, b)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Val::Obj(m) => {
            if limit == 0 {
                return Ok(true);
            }
            b.charge_len(m.len())?;
            for x in m.values() {
                if val_depth_exceeds(x, limit - 1, b)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        _ => Ok(false),
    }
}

fn eager(op: Op, v: &[Val], data: &Val, b: &mut Budget) -> Result<Val, EvalError> {
    let a = v.first();
    let a1 = v.get(1);
    Ok(match op {
        Op::Var => var_lookup(a, data, a1.cloned().unwrap_or(Val::Null), b)?,
        Op::Missing => Val::arr(missing(v, data, b)?),
        Op::MissingSome => {
            let need = to_number(a, b)?;
            let options: Vec<Val> = match a1 {
                Some(Val::Arr(o)) => o.to_vec(),
                Some(other) => vec![other.clone()],
                None => Vec::new(),
            };
            let are_missing = missing(&options, data, b)?;
            if options.len() as f64 - are_missing.len() as f64 >= need {
                Val::arr(Vec::new())
            } else {
                Val::arr(are_missing)
            }
        }
        Op::Eq => Val::Bool(loose_eq(a, a1, b)?),
        Op::Ne => Val::Bool(!loose_eq(a, a1, b)?),
        Op::StrictEq => Val::Bool(strict_eq(a, a1)),
        Op::StrictNe => Val::Bool(!strict_eq(a, a1)),
        Op::Not => Val::Bool(!a.is_some_and(Val::truthy)),
        Op::NotNot => Val::Bool(a.is_some_and(Val::truthy)),
        Op::Lt => {
            let first = js_less(a, a1, b)? == Some(true);
            if v.len() >= 3 {
                Val::Bool(first && js_less(a1, v.get(2), b)? == Some(true))
            } else {
                Val::Bool(first)
            }
        }
        Op::Le => {
            // a <= b  is  !(b < a), with NaN comparisons false.
            let first = js_less(a1, a, b)? == Some(false);
            if v.len() >= 3 {
                Val::Bool(first && js_less(v.get(2), a1, b)? == Some(false))
            } else {
                Val::Bool(first)
            }
        }
        Op::Gt => Val::Bool(js_less(a1, a, b)? == Some(true)),
        Op::Ge => Val::Bool(js_less(a, a1, b)? == Some(false)),
        Op::Max | Op::Min => {
            let mut r = if op == Op::Max {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
            let mut nan = false;
            for x in v {
                let n = to_number(Some(x), b)?;
                if n.is_nan() {
                    nan = true;
                } else if (op == Op::Max && n > r) || (op == Op::Min && n < r) {
                    r = n;
                }
            }
            Val::Num(if nan { f64::NAN } else { r })
        }
        Op::Add => {
            let mut sum = 0.0;
            for x in v {
                sum += parse_float(x, b)?;
            }
            Val::Num(sum)
        }
        Op::Mul => match v {
            [] => {
                return Err(EvalError::Invalid(
                    "\"*\" needs at least one argument".to_string(),
                ));
            }
            // Array.prototype.reduce without an initial value returns a lone element as is.
            [only] => only.clone(),
            [first, rest @ ..] => {
                let mut product = parse_float(first, b)?;
                for x in rest {
                    product *= parse_float(x, b)?;
                }
                Val::Num(product)
            }
        },
        Op::Sub => match v.len() {
            0 => Val::Num(f64::NAN),
            1 => Val::Num(-to_number(a, b)?),
            _ => Val::Num(to_number(a, b)? - to_number(a1, b)?),
        },
        Op::Div => Val::Num(to_number(a, b)? / to_number(a1, b)?),
        Op::Mod => Val::Num(to_number(a, b)? % to_number(a1, b)?),
        Op::Merge => {
            let mut out = Vec::new();
            for x in v {
                match x {
                    Val::Arr(items) => {
                        b.charge_len(items.len())?;
                        out.extend(items.iter().cloned());
                    }
                    other => out.push(other.clone()),
                }
            }
            Val::arr(out)
        }
        Op::In => Val::Bool(match a1 {
            Some(Val::Str(s)) if !s.is_empty() => {
                let needle = to_js_string(a, b)?;
                b.charge_bytes(s.len())?;
                s.contains(needle.as_str())
            }
            Some(Val::Arr(items)) => {
                b.charge_len(items.len())?;
                items.iter().any(|x| strict_eq(a, Some(x)))
            }
            // `!b` (null, "", 0, false) or no `indexOf` method (numbers, objects, true).
            _ => false,
        }),
        Op::Cat => {
            let mut s = String::new();
            for x in v {
                if !matches!(x, Val::Null) {
                    s.push_str(&to_js_string(Some(x), b)?);
                }
            }
            b.charge_bytes(s.len())?;
            Val::Str(Arc::from(s))
        }
        Op::Substr => {
            let source = to_js_string(a, b)?;
            b.charge_bytes(source.len())?;
            let units: Vec<u16> = source.encode_utf16().collect();
            let start = to_number(a1, b)?;
            let len = match v.get(2) {
                Some(x) => Some(to_number(Some(x), b)?),
                None => None,
            };
            let out = match len {
                Some(l) if l < 0.0 => {
                    // Negative length: drop that many characters from the end (PHP-style).
                    let temp = substr_units(&units, start, None);
                    substr_units(temp, 0.0, Some(temp.len() as f64 + l))
                }
                _ => substr_units(&units, start, len),
            };
            Val::Str(Arc::from(String::from_utf16_lossy(out)))
        }
        Op::Log => a.cloned().unwrap_or(Val::Null),
        Op::If
        | Op::And
        | Op::Or
        | Op::Map
        | Op::Filter
        | Op::All
        | Op::NoneOf
        | Op::SomeOf
        | Op::Reduce => unreachable!("control-flow operators are evaluated lazily"),
    })
}

/// `var`: dot-path lookup with a default for missing values.
fn var_lookup(
    key: Option<&Val>,
    data: &Val,
    not_found: Val,
    b: &mut Budget,
) -> Result<Val, EvalError> {
    match key {
        None | Some(Val::Null) => return Ok(data.clone()),
        Some(Val::Str(s)) if s.is_empty() => return Ok(data.clone()),
        _ => {}
    }
    let path = to_js_string(key, b)?;
    let mut cur = data.clone();
    for segment in path.split('.') {
        b.charge(1)?;
        let next = match &cur {
            Val::Null => return Ok(not_found),
            Val::Obj(m) => m.get(segment).cloned(),
            Val::Arr(items) => array_index(segment).and_then(|i| items.get(i).cloned()),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return Ok(not_found),
        }
    }
    Ok(cur)
}

/// Canonical array index ("0", "17"; not "01", "-1", "1.0").
fn array_index(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    s.parse().ok()
}

/// `missing`: keys (all arguments, or the first argument if it is an array) whose value is
/// null/absent or the empty string.
fn missing(v: &[Val], data: &Val, b: &mut Budget) -> Result<Vec<Val>, EvalError> {
    let keys: &[Val] = match v.first() {
        Some(Val::Arr(items)) => items,
        _ => v,
    };
    b.charge_len(keys.len())?;
    let mut out = Vec::new();
    for key in keys {
        // `{"var": key}`: an array key is [path, default].
        let value = match key {
            Val::Arr(kv) => {
                var_lookup(kv.first(), data, kv.get(1).cloned().unwrap_or(Val::Null), b)?
            }
            other => var_lookup(Some(other), data, Val::Null, b)?,
        };
        let is_missing = match &value {
            Val::Null => true,
            Val::Str(s) => s.is_empty(),
            _ => false,
        };
        if is_missing {
            out.push(key.clone());
        }
    }
    Ok(out)
}

/// `String.prototype.substr` on UTF-16 code units.
fn substr_units(units: &[u16], start: f64, len: Option<f64>) -> &[u16] {
    let size = units.len() as f64;
    let start = to_integer_or_infinity(start);
    let start = if start < 0.0 {
        (size + start).max(0.0)
    } else {
        start.min(size)
    };
    let len = match len {
        None => size,
        Some(l) => to_integer_or_infinity(l).clamp(0.0, size),
    };
    let end = (start + len).min(size);
    if end <= start {
        return &[];
    }
    &units[start as usize..end as usize]
}

fn to_integer_or_infinity(n: f64) -> f64 {
    if n.is_nan() { 0.0 } else { n.trunc() }
}

// ---------------------------------------------------------------------------------------------
// JavaScript coercions
// ---------------------------------------------------------------------------------------------

/// JavaScript truthiness (`!!value`).
fn js_truthy(v: &Val) -> bool {
    match v {
        Val::Null => false,
        Val::Bool(b) => *b,
        Val::Num(n) => *n != 0.0 && !n.is_nan(),
        Val::Str(s) => !s.is_empty(),
        Val::Arr(_) | Val::Obj(_) => true,
    }
}

/// `String(value)`; `None` is `undefined`.
pub fn to_js_string(v: Option<&Val>, b: &mut Budget) -> Result<String, EvalError> {
    Ok(match v {
        None => "undefined".to_string(),
        Some(Val::Null) => "null".to_string(),
        Some(Val::Bool(x)) => x.to_string(),
        Some(Val::Num(n)) => js_number_to_string(*n),
        Some(Val::Str(s)) => s.to_string(),
        Some(Val::Arr(items)) => join_array(items, b)?,
        Some(Val::Obj(_)) => "[object Object]".to_string(),
    })
}

/// `Array.prototype.join(",")`: null elements become empty strings.
fn join_array(items: &[Val], b: &mut Budget) -> Result<String, EvalError> {
    b.charge_len(items.len())?;
    let mut out = String::new();
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if !matches!(x, Val::Null) {
            out.push_str(&to_js_string(Some(x), b)?);
        }
    }
    b.charge_bytes(out.len())?;
    Ok(out)
}

/// `ToPrimitive`: arrays and objects become strings, everything else is unchanged.
fn to_primitive(v: Option<&Val>, b: &mut Budget) -> Result<Option<Val>, EvalError> {
    Ok(match v {
        None => None,
        Some(x @ (Val::Arr(_) | Val::Obj(_))) => {
            Some(Val::Str(Arc::from(to_js_string(Some(x), b)?)))
        }
        Some(x) => Some(x.clone()),
    })
}

/// `Number(value)`; `None` is `undefined`.
pub fn to_number(v: Option<&Val>, b: &mut Budget) -> Result<f64, EvalError> {
    Ok(match v {
        None => f64::NAN,
        Some(Val::Null) => 0.0,
        Some(Val::Bool(x)) => f64::from(u8::from(*x)),
        Some(Val::Num(n)) => *n,
        Some(Val::Str(s)) => string_to_number(s),
        Some(Val::Arr(items)) => string_to_number(&join_array(items, b)?),
        Some(Val::Obj(_)) => f64::NAN,
    })
}

/// `parseFloat(String(value))`.
fn parse_float(v: &Val, b: &mut Budget) -> Result<f64, EvalError> {
    Ok(match v {
        Val::Num(n) => *n,
        other => js_parse_float(&to_js_string(Some(other), b)?),
    })
}

fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{a}' | '\u{b}' | '\u{c}' | '\u{d}' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// Length of the longest prefix of `s` that is a JS StrUnsignedDecimalLiteral (without the
/// `Infinity` form); 0 if none.
fn decimal_prefix_len(s: &[u8]) -> usize {
    let mut i = 0;
    let int_start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < s.len() && s[i] == b'.' {
        let frac_start = i + 1;
        let mut j = frac_start;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        if digits > 0 || j > frac_start {
            digits += j - frac_start;
            i = j;
        }
    }
    if digits == 0 {
        return 0;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    i
}

/// `parseFloat(string)`.
fn js_parse_float(s: &str) -> f64 {
    let t = s.trim_start_matches(is_js_whitespace);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let value = if body.starts_with("Infinity") {
        f64::INFINITY
    } else {
        let n = decimal_prefix_len(body.as_bytes());
        if n == 0 {
            return f64::NAN;
        }
        body[..n].parse::<f64>().unwrap_or(f64::NAN)
    };
    if neg { -value } else { value }
}

/// `Number(string)` (StringToNumber).
pub fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_whitespace);
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            if digits.is_empty() {
                return f64::NAN;
            }
            let mut n = 0.0f64;
            for c in digits.chars() {
                match c.to_digit(radix) {
                    Some(d) => n = n * f64::from(radix) + f64::from(d),
                    None => return f64::NAN,
                }
            }
            return n;
        }
    }
    let (neg, body) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let value = if body == "Infinity" {
        f64::INFINITY
    } else if !body.is_empty() && decimal_prefix_len(body.as_bytes()) == body.len() {
        body.parse::<f64>().unwrap_or(f64::NAN)
    } else {
        return f64::NAN;
    };
    if neg { -value } else { value }
}

/// Shortest round-trip decimal digits and exponent of a finite, non-zero |f|:
/// `f = 0.d1d2...dk * 10^n`.
fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').expect("LowerExp has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().expect("integer exponent");
    (digits, exp + 1)
}

/// `Number.prototype.toString()`.
pub fn js_number_to_string(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if f == 0.0 {
        return "0".to_string();
    }
    let (digits, n) = shortest_digits(f);
    let k = digits.len() as i32;
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        out.push('e');
        out.push(if e >= 0 { '+' } else { '-' });
        out.push_str(&e.abs().to_string());
    }
    out
}

/// Abstract Equality (`==`); `None` is `undefined`.
fn loose_eq(a: Option<&Val>, b: Option<&Val>, bud: &mut Budget) -> Result<bool, EvalError> {
    match (a, b) {
        (None, None) => Ok(true),
        (None, Some(x)) | (Some(x), None) => Ok(matches!(x, Val::Null)),
        (Some(x), Some(y)) => loose_eq_vals(x, y, bud),
    }
}

fn loose_eq_vals(x: &Val, y: &Val, bud: &mut Budget) -> Result<bool, EvalError> {
    use Val::*;
    Ok(match (x, y) {
        (Null, Null) => true,
        (Null, _) | (_, Null) => false,
        (Num(p), Num(q)) => p == q,
        (Str(p), Str(q)) => p == q,
        (Bool(p), Bool(q)) => p == q,
        (Arr(p), Arr(q)) => Arc::ptr_eq(p, q),
        (Obj(p), Obj(q)) => Arc::ptr_eq(p, q),
        (Arr(_), Obj(_)) | (Obj(_), Arr(_)) => false,
        (Num(p), Str(q)) => *p == string_to_number(q),
        (Str(p), Num(q)) => string_to_number(p) == *q,
        (Bool(p), _) => loose_eq_vals(&Num(f64::from(u8::from(*p))), y, bud)?,
        (_, Bool(q)) => loose_eq_vals(x, &Num(f64::from(u8::from(*q))), bud)?,
        (Arr(_) | Obj(_), _) => {
            let px = to_primitive(Some(x), bud)?.expect("defined");
            loose_eq_vals(&px, y, bud)?
        }
        (_, Arr(_) | Obj(_)) => {
            let py = to_primitive(Some(y), bud)?.expect("defined");
            loose_eq_vals(x, &py, bud)?
        }
    })
}

/// Strict Equality (`===`); `None` is `undefined`.
fn strict_eq(a: Option<&Val>, b: Option<&Val>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => match (x, y) {
            (Val::Null, Val::Null) => true,
            (Val::Bool(p), Val::Bool(q)) => p == q,
            (Val::Num(p), Val::Num(q)) => p == q,
            (Val::Str(p), Val::Str(q)) => p == q,
            (Val::Arr(p), Val::Arr(q)) => Arc::ptr_eq(p, q),
            (Val::Obj(p), Val::Obj(q)) => Arc::ptr_eq(p, q),
            _ => false,
        },
        _ => false,
    }
}

/// Abstract Relational Comparison `a < b`: `Some(result)`, or `None` when a NaN is involved.
fn js_less(a: Option<&Val>, b: Option<&Val>, bud: &mut Budget) -> Result<Option<bool>, EvalError> {
    let pa = to_primitive(a, bud)?;
    let pb = to_primitive(b, bud)?;
    if let (Some(Val::Str(x)), Some(Val::Str(y))) = (&pa, &pb) {
        return Ok(Some(x.encode_utf16().lt(y.encode_utf16())));
    }
    let x = to_number(pa.as_ref(), bud)?;
    let y = to_number(pb.as_ref(), bud)?;
    if x.is_nan() || y.is_nan() {
        Ok(None)
    } else {
        Ok(Some(x < y))
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(rule: Value, data: Value) -> Value {
        apply(&rule, &data).unwrap_or_else(|e| panic!("rule {rule} failed: {e}"))
    }

    /// Numeric-tolerant JSON comparison (3 == 3.0).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }

    /// A sample of the official JsonLogic test suite (jsonlogic.com/tests.json).
    const OFFICIAL_SAMPLE: &str = r#"[
        [true, {}, true], [17, {}, 17], [3.14, {}, 3.14], ["apple", {}, "apple"], [null, {}, null],
        [["a","b"], {}, ["a","b"]],
        [{"==":[1,1]}, {}, true], [{"==":[1,"1"]}, {}, true], [{"==":[1,2]}, {}, false],
        [{"===":[1,1]}, {}, true], [{"===":[1,"1"]}, {}, false], [{"!=":[1,"1"]}, {}, false],
        [{"!==":[1,"1"]}, {}, true], [{">":["2",1]}, {}, true], [{">=":[1,1]}, {}, true],
        [{"<":["1",2]}, {}, true], [{"<":[1,2,3]}, {}, true], [{"<":[1,1,3]}, {}, false],
        [{"<":[1,4,3]}, {}, false], [{"<=":[1,1]}, {}, true], [{"<=":[1,2,3]}, {}, true],
        [{"<=":[1,4,3]}, {}, false], [{"!":[false]}, {}, true], [{"!":true}, {}, false],
        [{"!":0}, {}, true], [{"or":[1,3]}, {}, 1], [{"or":[false,3]}, {}, 3],
        [{"or":[false,false,false]}, {}, false], [{"and":[1,3]}, {}, 3], [{"and":[3,false]}, {}, false],
        [{"?:":[true,1,2]}, {}, 1], [{"?:":[false,1,2]}, {}, 2],
        [{"in":["Bart",["Bart","Homer","Lisa","Marge","Maggie"]]}, {}, true],
        [{"in":["Milhouse",["Bart","Homer","Lisa","Marge","Maggie"]]}, {}, false],
        [{"in":["Spring","Springfield"]}, {}, true], [{"in":["i","team"]}, {}, false],
        [{"cat":"ice"}, {}, "ice"], [{"cat":[1,2]}, {}, "12"], [{"cat":["Robocop",2]}, {}, "Robocop2"],
        [{"%":[3,2]}, {}, 1], [{"max":[1,2,3]}, {}, 3], [{"min":[3,2,1]}, {}, 1],
        [{"+":[2,2,2]}, {}, 6], [{"+":["1",1]}, {}, 2], [{"*":[2,2,2]}, {}, 8], [{"*":["1",1]}, {}, 1],
        [{"-":[2,3]}, {}, -1], [{"-":[3]}, {}, -3], [{"-":["1",1]}, {}, 0], [{"/":[2,4]}, {}, 0.5],
        [{"substr":["jsonlogic", 4]}, null, "logic"], [{"substr":["jsonlogic", -5]}, null, "logic"],
        [{"substr":["jsonlogic", -1, 1]}, null, "c"], [{"substr":["jsonlogic", -5, -2]}, null, "log"],
        [{"substr":["jsonlogic", 1, -5]}, null, "son"],
        [{"merge":[]}, null, []], [{"merge":[[1],[2,3]]}, null, [1,2,3]], [{"merge":1}, null, [1]],
        [{"merge":[1,[2]]}, null, [1,2]],
        [{"if":[]}, null, null], [{"if":[false]}, null, false], [{"if":[false, "apple"]}, null, null],
        [{"if":[[], "apple", "banana"]}, null, "banana"], [{"if":["0", "apple", "banana"]}, null, "apple"],
        [{"===":[0,{"+":"0"}]}, null, true], [{"if":[{"+":"0"}, "apple", "banana"]}, null, "banana"],
        [{"and":[[], true]}, {}, []], [{"or":["0", true]}, {}, "0"], [{"!!":[[]]}, {}, false],
        [{"if":[false, "apple", false, "banana", true, "carrot", "date"]}, null, "carrot"],
        [{"if":[false, "apple", false, "banana", false, "carrot"]}, null, null],
        [[1, {"var": "x"}, 3], {"x": 2}, [1, 2, 3]],
        [{"if": [{"var": "x"}, [{"var": "y"}], 99]}, {"x": true, "y": 42}, [42]],
        [{"var":["b", 2]}, {"a":1}, 2], [{"var":"a.q"}, {"a":{"b":"c"}}, null],
        [{"var":1}, ["apple","banana"], "banana"], [{"var":"1.1"}, ["apple",["banana","beer"]], "beer"],
        [{"var":[{"?:":[{"<":[{"var":"temp"},110]},"pie.filling","pie.eta"]}]},
         {"temp":100,"pie":{"filling":"apple","eta":"60s"}}, "apple"],
        [{"var":"a.b.c"}, {"a":{"b":null}}, null], [{"var":""}, 1, 1], [{"var":null}, 1, 1], [{"var":[]}, 1, 1],
        [{"missing":["a","b"]}, {"a":"apple"}, ["b"]], [{"missing":"a"}, null, ["a"]],
        [{"missing":["a.b","a.c"]}, {"a":{"b":"apple brownie"}}, ["a.c"]],
        [{"missing_some":[1, ["a","b"]]}, {"c":"carrot"}, ["a","b"]],
        [{"missing_some":[2, ["a","b","c"]]}, {"a":"apple","c":"carrot"}, []],
        [{"missing_some":[2, ["a","b","c"]]}, {"a":"apple","d":"durian"}, ["b","c"]],
        [{"missing":{"merge":["vin", {"if":[{"var":"financing"}, ["apr"], []]}]}}, {"financing":true}, ["vin","apr"]],
        [{"filter":[{"var":"integers"}, {"%":[{"var":""},2]}]}, {"integers":[1,2,3]}, [1,3]],
        [{"map":[{"var":"integers"}, {"*":[{"var":""},2]}]}, {"integers":[1,2,3]}, [2,4,6]],
        [{"map":[{"var":"integers"}, {"*":[{"var":""},2]}]}, null, []],
        [{"reduce":[{"var":"integers"}, {"+":[{"var":"current"},{"var":"accumulator"}]}, {"var":"start_with"}]},
         {"integers":[1,2,3,4],"start_with":59}, 69],
        [{"reduce":[{"var":"desserts"}, {"+":[{"var":"accumulator"},{"var":"current.qty"}]}, 0]},
         {"desserts":[{"name":"apple","qty":1},{"name":"brownie","qty":2}]}, 3],
        [{"all":[{"var":"integers"}, {">=":[{"var":""},1]}]}, {"integers":[1,2,3]}, true],
        [{"all":[{"var":"integers"}, {"<":[{"var":""},1]}]}, {"integers":[]}, false],
        [{"none":[{"var":"integers"}, {"<":[{"var":""},1]}]}, {"integers":[]}, true],
        [{"some":[{"var":"items"}, {">":[{"var":"qty"},1]}]},
         {"items":[{"qty":1,"sku":"apple"},{"qty":2,"sku":"banana"}]}, true]
    ]"#;

    #[test]
    fn official_suite_sample() {
        let cases: Vec<Value> = serde_json::from_str(OFFICIAL_SAMPLE).unwrap();
        assert!(cases.len() > 90);
        for case in cases {
            let [rule, data, expected] =
                <[Value; 3]>::try_from(case.as_array().unwrap().clone()).expect("triple");
            let got = run(rule.clone(), data);
            assert!(
                same(&got, &expected),
                "{rule}: expected {expected}, got {got}"
            );
        }
    }

    #[test]
    fn javascript_coercions() {
        let cases = [
            (json!({"==": [null, 0]}), json!(false)),
            (json!({"==": [null, null]}), json!(true)),
            (json!({"==": [false, 0]}), json!(true)),
            (json!({"==": [false, ""]}), json!(true)),
            (json!({"==": [true, "1"]}), json!(true)),
            (json!({"==": [[1], 1]}), json!(true)),
            (json!({"==": [[1, 2], "1,2"]}), json!(true)),
            (json!({"==": [[], false]}), json!(true)),
            (json!({"==": [[1], [1]]}), json!(false)),
            (json!({"==": [" 12 ", 12]}), json!(true)),
            (json!({"==": ["0x10", 16]}), json!(true)),
            (json!({"==": ["abc", 0]}), json!(false)),
            (json!({"==": [null]}), json!(true)),
            (json!({"===": [null, null]}), json!(true)),
            (json!({"<": ["a", "b"]}), json!(true)),
            (json!({"<": ["10", "9"]}), json!(true)),
            (json!({"<": ["10", 9]}), json!(false)),
            (json!({"<": [null, 1]}), json!(true)),
            (json!({"<=": [null, 0]}), json!(true)),
            (json!({"<": ["abc", 1]}), json!(false)),
            (json!({">=": ["abc", 1]}), json!(false)),
            (json!({"<": [1]}), json!(false)),
            (json!({"+": ["3.5px", 1]}), json!(4.5)),
            (json!({"+": []}), json!(0)),
            (json!({"*": ["1"]}), json!("1")),
            (json!({"-": ["5", "2"]}), json!(3)),
            (json!({"/": [1, 0]}), json!(null)),
            (json!({"-": []}), json!(null)),
            (json!({"max": []}), json!(null)),
            (json!({"max": [1, "a"]}), json!(null)),
            (json!({"%": [-7, 2]}), json!(-1)),
            (
                json!({"cat": [null, "a", true, 1.5, [1, [2, null]]]}),
                json!("atrue1.51,2,"),
            ),
            (
                json!({"cat": [1e21, 1e-7, 123456789012345680000.0]}),
                json!("1e+211e-7123456789012345680000"),
            ),
            (json!({"in": [1, "a1"]}), json!(true)),
            (json!({"in": ["a", ""]}), json!(false)),
            (json!({"in": [1, 12]}), json!(false)),
            (json!({"in": ["1", [1]]}), json!(false)),
            (json!({"substr": ["héllo wörld", 1, 4]}), json!("éllo")),
            (json!({"substr": ["😀ab", 2]}), json!("ab")),
            (json!({"substr": ["abc", "1"]}), json!("bc")),
            (json!({"substr": ["abc", 1, null]}), json!("")),
            (json!({"!": []}), json!(true)),
            (json!({"!!": [{}]}), json!(true)),
            (json!({"and": []}), json!(null)),
            (json!({"log": ["x"]}), json!("x")),
        ];
        for (rule, expected) in cases {
            let got = run(rule.clone(), json!({}));
            assert!(
                same(&got, &expected),
                "{rule}: expected {expected}, got {got}"
            );
        }
    }

    #[test]
    fn var_semantics() {
        let data = json!({"a": {"b": [10, 20, {"c": null}]}, "n": null, "e": ""});
        let cases = [
            (json!({"var": "a.b.1"}), json!(20)),
            (json!({"var": "a.b.01"}), json!(null)),
            (json!({"var": ["a.b.9", "d"]}), json!("d")),
            (json!({"var": ["n", "d"]}), json!(null)),
            (json!({"var": ["n.x", "d"]}), json!("d")),
            (json!({"var": ["a.b.2.c", "d"]}), json!(null)),
            (json!({"var": ["a.b.2.c.x", "d"]}), json!("d")),
            (json!({"var": {"cat": ["a", ".b", ".0"]}}), json!(10)),
            (
                json!({"missing": ["e", "n", "a", "z"]}),
                json!(["e", "n", "z"]),
            ),
            (
                json!({"map": [{"var": "a.b"}, {"var": ""}]}),
                json!([10, 20, {"c": null}]),
            ),
            (json!({"==": [{"var": "a"}, {"var": "a"}]}), json!(true)),
        ];
        for (rule, expected) in cases {
            let got = run(rule.clone(), data.clone());
            assert!(
                same(&got, &expected),
                "{rule}: expected {expected}, got {got}"
            );
        }
    }

    #[test]
    fn number_formatting() {
        for (n, s) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (123.456, "123.456"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(js_number_to_string(n), s);
        }
        for (s, n) in [
            ("", 0.0),
            ("  42  ", 42.0),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("5.", 5.0),
        ] {
            assert_eq!(string_to_number(s), n, "{s:?}");
        }
        for s in ["1a", "inf", "NaN", "0x", "1e", "--1", "."] {
            assert!(string_to_number(s).is_nan(), "{s:?}");
        }
        assert_eq!(string_to_number("-Infinity"), f64::NEG_INFINITY);
        assert_eq!(js_parse_float("  -12.5e1xyz"), -125.0);
        assert_eq!(js_parse_float("1e"), 1.0);
        assert!(js_parse_float("abc").is_nan());
    }

    #[test]
    fn unknown_operator_is_lazy_in_lenient_mode_and_an_error_in_strict_mode() {
        let rule = json!({"if": [true, "ok", {"nope": [1]}]});
        assert_eq!(run(rule.clone(), json!({})), json!("ok"));
        let bad = json!({"if": [false, "ok", {"nope": [1]}]});
        assert!(matches!(
            apply(&bad, &json!({})),
            Err(EvalError::Invalid(_))
        ));
        let strict = CompileOptions {
            custom_ops: &[],
            strict: true,
        };
        let err = Compiler::new(strict, None)
            .compile(&rule, "targeting")
            .unwrap_err();
        assert_eq!(err.path, "targeting.if[2]");
        assert!(err.message.contains("unknown operator \"nope\""), "{err}");
        let multi = json!({"==": [1, 1], "!=": [1, 2]});
        assert!(Compiler::new(strict, None).compile(&multi, "t").is_err());
        // Lenient: a multi-key object is literal data.
        assert_eq!(run(multi.clone(), json!({})), multi);
    }

    #[test]
    fn shared_rules_and_cycles() {
        let named: Map<String, Value> = serde_json::from_value(json!({
            "isAdmin": {"==": [{"var": "role"}, "admin"]},
            "either": {"or": [{"$ref": "isAdmin"}, {"$ref": "isAdmin"}]},
            "a": {"!": {"$ref": "b"}},
            "b": {"!": {"$ref": "a"}}
        }))
        .unwrap();
        let strict = CompileOptions {
            custom_ops: &[],
            strict: true,
        };
        let mut c = Compiler::new(strict, Some(&named));
        let rule = c
            .compile(&json!({"if": [{"$ref": "either"}, "yes", "no"]}), "t")
            .unwrap();
        let out = rule
            .apply(&json!({"role": "admin"}), &mut Budget::default())
            .unwrap();
        assert_eq!(out, json!("yes"));
        let err = c.compile(&json!({"$ref": "a"}), "t").unwrap_err();
        assert!(err.message.contains("cycle"), "{err}");
        let err = c.compile(&json!({"$ref": "zzz"}), "t").unwrap_err();
        assert!(err.message.contains("does not name"), "{err}");
        let mut lenient = Compiler::new(CompileOptions::default(), Some(&named));
        let rule = lenient.compile(&json!({"$ref": "a"}), "t").unwrap();
        assert!(rule.apply(&json!({}), &mut Budget::default()).is_err());
    }

    #[test]
    fn budget_stops_hostile_rules() {
        // 2^16 element array built by doubling, then reduced over repeatedly.
        let mut rule = json!([1]);
        for _ in 0..16 {
            rule = json!({"merge": [rule.clone(), rule]});
        }
        let err = apply(&rule, &json!({})).unwrap_err();
        assert!(matches!(err, EvalError::BudgetExceeded(_)), "{err}");

        // String doubling through reduce.
        let data = json!({"xs": vec![0; 64]});
        let rule = json!({"reduce": [{"var": "xs"},
            {"cat": [{"var": "accumulator"}, {"var": "accumulator"}]}, "ab"]});
        assert!(matches!(
            apply(&rule, &data),
            Err(EvalError::BudgetExceeded(_))
        ));

        // Nesting through reduce is capped.
        let data = json!({"xs": vec![0; 1000]});
        let rule = json!({"reduce": [{"var": "xs"}, [{"var": "accumulator"}], null]});
        assert_eq!(apply(&rule, &data), Err(EvalError::DepthExceeded));

        // An ordinary rule uses very little.
        let rule =
            compile(&json!({"and": [{"<": [1, {"var": "x"}, 10]}, {"in": ["a", "abc"]}]})).unwrap();
        let mut b = Budget::default();
        assert_eq!(rule.apply(&json!({"x": 5}), &mut b).unwrap(), json!(true));
        assert!(b.used() < 20, "{}", b.used());
    }

    #[test]
    fn deep_rules_are_rejected() {
        let mut rule = json!(1);
        for _ in 0..(MAX_RULE_DEPTH + 5) {
            rule = json!({"!": [rule]});
        }
        let strict = CompileOptions {
            custom_ops: &[],
            strict: true,
        };
        assert!(Compiler::new(strict, None).compile(&rule, "t").is_err());
        assert!(matches!(
            apply(&rule, &json!({})),
            Err(EvalError::Invalid(_))
        ));
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!([deep]);
        }
        assert!(json_depth_exceeds(&deep, MAX_VALUE_DEPTH));
        assert_eq!(
            apply(&json!({"var": ""}), &deep),
            Err(EvalError::DepthExceeded)
        );
    }

    #[test]
    fn custom_operators_get_evaluated_arguments() {
        fn count(args: &[Val], _: &Val, _: &mut Budget) -> Result<Val, EvalError> {
            Ok(Val::Num(
                args.len() as f64 + f64::from(u8::from(matches!(args.get(1), Some(Val::Arr(_))))),
            ))
        }
        let ops = [CustomOp {
            name: "count",
            func: count,
        }];
        let opts = CompileOptions {
            custom_ops: &ops,
            strict: true,
        };
        let rule = Compiler::new(opts, None)
            .compile(&json!({"count": [{"var": "x"}, [{"var": "x"}]]}), "")
            .unwrap();
        assert_eq!(
            rule.apply(&json!({"x": 1}), &mut Budget::default())
                .unwrap(),
            json!(3)
        );
    }
}
