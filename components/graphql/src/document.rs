//! From query text to the operation to execute: parse (`graphql-parser`),
//! apply the limits (`limits`), pick the operation, coerce variables, and
//! validate against the schema while expanding fragments (named and
//! inline) and `@skip` / `@include` into one plain tree of selected fields,
//! with arguments resolved to JSON. Everything here happens before any
//! service is called.

use std::collections::{BTreeMap, HashMap, HashSet};

use graphql_parser::Pos;
use graphql_parser::query::{
    Definition, Directive, Document, FragmentDefinition, OperationDefinition, Selection,
    SelectionSet, Type, TypeCondition, Value, VariableDefinition, parse_query,
};
use serde_json::{Map, Value as Json, json};

use crate::errors::{self, GraphqlError};
use crate::limits;
use crate::schema::{self, ArgDef, ArgTy, FieldDef};

type Doc<'a> = Document<'a, &'a str>;
type Set<'a> = SelectionSet<'a, &'a str>;
type Val<'a> = Value<'a, &'a str>;

/// A field of the response: the executor's input.
#[derive(Clone, Debug, PartialEq)]
pub struct Selected {
    /// The response key (the alias, or the name).
    pub key: String,
    pub name: String,
    /// Arguments after coercion, defaults included: numbers, strings, and
    /// enum values as their GraphQL names.
    pub args: BTreeMap<String, Json>,
    /// None for `__typename`.
    pub def: Option<&'static FieldDef>,
    pub children: Vec<Selected>,
    pub pos: (usize, usize),
}

impl Selected {
    pub fn arg_i64(&self, name: &str) -> Option<i64> {
        self.args.get(name).and_then(Json::as_i64)
    }

    pub fn arg_str(&self, name: &str) -> Option<&str> {
        self.args.get(name).and_then(Json::as_str)
    }
}

#[derive(Debug)]
pub struct Operation {
    pub fields: Vec<Selected>,
}

fn pos(p: Pos) -> (usize, usize) {
    (p.line, p.column)
}

fn invalid(message: impl Into<String>, at: Pos) -> GraphqlError {
    GraphqlError::new(errors::VALIDATION_FAILED, message).at(at.line, at.column)
}

fn bad_input(message: impl Into<String>, at: Pos) -> GraphqlError {
    GraphqlError::new(errors::BAD_USER_INPUT, message).at(at.line, at.column)
}

/// The operation `operation_name` of `query` (the only one when None),
/// checked and expanded; variables from the request.
pub fn prepare(
    query: &str,
    operation_name: Option<&str>,
    variables: &Map<String, Json>,
) -> Result<Operation, GraphqlError> {
    limits::check_size(query)?;
    // graphql-parser 0.4 slices block strings at byte offsets counted over
    // Unicode whitespace, and panics (a trap, here) on such a string.
    if query.contains("\"\"\"") && query.chars().any(|c| c.is_whitespace() && !c.is_ascii()) {
        return Err(GraphqlError::new(
            errors::PARSE_FAILED,
            "block strings (\"\"\"...\"\"\") are not accepted with non-ASCII whitespace in the query",
        ));
    }
    let doc: Doc = parse_query::<&str>(query).map_err(|e| {
        GraphqlError::new(
            errors::PARSE_FAILED,
            format!("the query does not parse: {}", e.to_string().trim()),
        )
    })?;
    limits::check_aliases(&doc)?;
    let mut fragments: HashMap<&str, &FragmentDefinition<&str>> = HashMap::new();
    let mut operations = Vec::new();
    for definition in &doc.definitions {
        match definition {
            Definition::Fragment(f) => {
                if fragments.insert(f.name, f).is_some() {
                    return Err(invalid(
                        format!("there are two fragments named `{}`", f.name),
                        f.position,
                    ));
                }
            }
            Definition::Operation(op) => operations.push(op),
        }
    }
    let op = pick_operation(&operations, operation_name)?;
    let (variable_definitions, directives, selection_set, at) = match op {
        OperationDefinition::SelectionSet(set) => (&[][..], &[][..], set, set.span.0),
        OperationDefinition::Query(q) => (
            &q.variable_definitions[..],
            &q.directives[..],
            &q.selection_set,
            q.position,
        ),
        OperationDefinition::Mutation(m) => {
            return Err(GraphqlError::new(
                errors::OPERATION_NOT_SUPPORTED,
                "only queries are served here: write through the services' REST APIs",
            )
            .at(m.position.line, m.position.column));
        }
        OperationDefinition::Subscription(s) => {
            return Err(GraphqlError::new(
                errors::OPERATION_NOT_SUPPORTED,
                "subscriptions are not served",
            )
            .at(s.position.line, s.position.column));
        }
    };
    if let Some(d) = directives.first() {
        return Err(invalid(
            format!("directive @{} is not supported on operations", d.name),
            d.position,
        ));
    }
    limits::check_depth(selection_set, &fragments)?;
    let vars = coerce_variables(variable_definitions, variables)?;
    let mut expander = Expander {
        fragments: &fragments,
        vars: &vars,
        declared: variable_definitions.iter().map(|d| d.name).collect(),
        fields: 0,
        spreading: Vec::new(),
    };
    let fields = expander.selection("Query", selection_set)?;
    if fields.is_empty() {
        return Err(invalid("the operation selects nothing", at));
    }
    limits::check_complexity(&fields)?;
    Ok(Operation { fields })
}

fn pick_operation<'d, 'a>(
    operations: &[&'d OperationDefinition<'a, &'a str>],
    name: Option<&str>,
) -> Result<&'d OperationDefinition<'a, &'a str>, GraphqlError> {
    let name_of = |op: &OperationDefinition<'a, &'a str>| match op {
        OperationDefinition::SelectionSet(_) => None,
        OperationDefinition::Query(q) => q.name,
        OperationDefinition::Mutation(m) => m.name,
        OperationDefinition::Subscription(s) => s.name,
    };
    match name {
        Some(wanted) => operations
            .iter()
            .find(|op| name_of(op) == Some(wanted))
            .copied()
            .ok_or_else(|| {
                GraphqlError::new(
                    errors::BAD_USER_INPUT,
                    format!("operationName: the document has no operation `{wanted}`"),
                )
            }),
        None => match operations {
            [op] => Ok(op),
            [] => Err(GraphqlError::new(
                errors::VALIDATION_FAILED,
                "the document has no operation",
            )),
            _ => Err(GraphqlError::new(
                errors::BAD_USER_INPUT,
                "operationName: the document has several operations; name the one to run",
            )),
        },
    }
}

/// A variable's declared type, as far as this schema's inputs go.
struct VarTy<'a> {
    base: &'a str,
    list: bool,
    non_null: bool,
}

fn var_ty<'a>(t: &Type<'a, &'a str>) -> Result<VarTy<'a>, String> {
    match t {
        Type::NamedType(n) => Ok(VarTy {
            base: n,
            list: false,
            non_null: false,
        }),
        Type::NonNullType(inner) => Ok(VarTy {
            non_null: true,
            ..var_ty(inner)?
        }),
        Type::ListType(inner) => match var_ty(inner)? {
            VarTy { list: true, .. } => Err("lists of lists are not inputs here".into()),
            inner => Ok(VarTy {
                list: true,
                ..inner
            }),
        },
    }
}

fn is_input_type(name: &str) -> bool {
    schema::BUILT_IN_SCALARS.contains(&name) || schema::enum_def(name).is_some()
}

/// The coerced value of every declared variable (absent ones are left out).
fn coerce_variables<'a>(
    definitions: &[VariableDefinition<'a, &'a str>],
    given: &Map<String, Json>,
) -> Result<HashMap<String, (String, Json)>, GraphqlError> {
    let mut out = HashMap::new();
    for d in definitions {
        let ty =
            var_ty(&d.var_type).map_err(|e| invalid(format!("${}: {e}", d.name), d.position))?;
        if !is_input_type(ty.base) {
            return Err(invalid(
                format!("${}: `{}` is not an input type", d.name, ty.base),
                d.position,
            ));
        }
        if out.contains_key(d.name) {
            return Err(invalid(
                format!("${} is declared twice", d.name),
                d.position,
            ));
        }
        let value = match given.get(d.name) {
            Some(v) => Some(v.clone()),
            None => match &d.default_value {
                Some(default) => Some(
                    literal_json(default)
                        .map_err(|e| invalid(format!("${}: {e}", d.name), d.position))?,
                ),
                None => None,
            },
        };
        let value = match value {
            None | Some(Json::Null) if ty.non_null => {
                return Err(bad_input(
                    format!("${} is required (`{}`)", d.name, type_text(&ty)),
                    d.position,
                ));
            }
            None => continue,
            Some(Json::Null) => Json::Null,
            Some(v) => check_var_value(&ty, v)
                .map_err(|e| bad_input(format!("${}: {e}", d.name), d.position))?,
        };
        let text = type_text(&ty);
        out.insert(d.name.to_string(), (text, value));
    }
    if let Some(extra) = given
        .keys()
        .find(|k| !definitions.iter().any(|d| d.name == *k))
    {
        return Err(GraphqlError::new(
            errors::BAD_USER_INPUT,
            format!("variables: `{extra}` is not declared by the operation"),
        ));
    }
    Ok(out)
}

fn type_text(ty: &VarTy) -> String {
    let base = if ty.list {
        format!("[{}]", ty.base)
    } else {
        ty.base.to_string()
    };
    format!("{base}{}", if ty.non_null { "!" } else { "" })
}

fn check_var_value(ty: &VarTy, v: Json) -> Result<Json, String> {
    if ty.list {
        let items = match v {
            Json::Array(items) => items,
            one => vec![one],
        };
        let scalar = VarTy {
            base: ty.base,
            list: false,
            non_null: false,
        };
        return items
            .into_iter()
            .map(|i| check_var_value(&scalar, i))
            .collect::<Result<Vec<_>, _>>()
            .map(Json::Array);
    }
    let fits = match ty.base {
        "Int" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "Float" => v.is_number(),
        "String" => v.is_string(),
        "Boolean" => v.is_boolean(),
        "ID" => v.is_string() || v.as_i64().is_some(),
        e => v.as_str().is_some_and(|s| {
            schema::enum_def(e).is_some_and(|d| d.values.iter().any(|(n, _)| *n == s))
        }),
    };
    if !fits {
        return Err(format!("{v} is not a valid {}", ty.base));
    }
    Ok(match (ty.base, v) {
        ("ID", Json::Number(n)) => Json::String(n.to_string()),
        (_, v) => v,
    })
}

/// A constant (no variables) as JSON: defaults of variables.
fn literal_json(v: &Val) -> Result<Json, String> {
    Ok(match v {
        Value::Variable(name) => return Err(format!("a default cannot use ${name}")),
        Value::Int(n) => json!(n.as_i64()),
        Value::Float(f) => json!(f),
        Value::String(s) => json!(s),
        Value::Boolean(b) => json!(b),
        Value::Null => Json::Null,
        Value::Enum(e) => json!(e),
        Value::List(items) => {
            Json::Array(items.iter().map(literal_json).collect::<Result<_, _>>()?)
        }
        Value::Object(_) => return Err("input objects are not accepted here".into()),
    })
}

struct Expander<'f, 'a> {
    fragments: &'f HashMap<&'a str, &'f FragmentDefinition<'a, &'a str>>,
    vars: &'f HashMap<String, (String, Json)>,
    declared: HashSet<&'a str>,
    /// Fields visited, fragments expanded as often as they are spread.
    fields: usize,
    /// Fragments being expanded (a cycle is refused).
    spreading: Vec<&'a str>,
}

impl<'f, 'a> Expander<'f, 'a> {
    fn selection(&mut self, parent: &str, set: &Set<'a>) -> Result<Vec<Selected>, GraphqlError> {
        let mut out: Vec<Selected> = Vec::new();
        self.collect(parent, set, &mut out)?;
        Ok(out)
    }

    fn collect(
        &mut self,
        parent: &str,
        set: &Set<'a>,
        out: &mut Vec<Selected>,
    ) -> Result<(), GraphqlError> {
        for item in &set.items {
            match item {
                Selection::Field(f) => {
                    if !self.included(&f.directives)? {
                        continue;
                    }
                    self.fields += 1;
                    if self.fields > limits::MAX_FIELDS {
                        return Err(GraphqlError::new(
                            errors::FIELD_LIMIT,
                            format!(
                                "the query selects more than {} fields (fragments counted each time they are spread)",
                                limits::MAX_FIELDS
                            ),
                        ));
                    }
                    let selected = self.field(parent, f)?;
                    merge(out, selected)?;
                }
                Selection::FragmentSpread(s) => {
                    if !self.included(&s.directives)? {
                        continue;
                    }
                    let fragment = *self.fragments.get(s.fragment_name).ok_or_else(|| {
                        invalid(
                            format!("there is no fragment `{}`", s.fragment_name),
                            s.position,
                        )
                    })?;
                    if self.spreading.contains(&s.fragment_name) {
                        return Err(invalid(
                            format!("fragment `{}` spreads itself", s.fragment_name),
                            s.position,
                        ));
                    }
                    let TypeCondition::On(on) = &fragment.type_condition;
                    check_condition(parent, on, fragment.position)?;
                    self.spreading.push(s.fragment_name);
                    self.collect(parent, &fragment.selection_set, out)?;
                    self.spreading.pop();
                }
                Selection::InlineFragment(i) => {
                    if !self.included(&i.directives)? {
                        continue;
                    }
                    if let Some(TypeCondition::On(on)) = &i.type_condition {
                        check_condition(parent, on, i.position)?;
                    }
                    self.collect(parent, &i.selection_set, out)?;
                }
            }
        }
        Ok(())
    }

    fn field(
        &mut self,
        parent: &str,
        f: &graphql_parser::query::Field<'a, &'a str>,
    ) -> Result<Selected, GraphqlError> {
        let key = f.alias.unwrap_or(f.name).to_string();
        if f.name == "__typename" {
            if !f.arguments.is_empty() || !f.selection_set.items.is_empty() {
                return Err(invalid(
                    "__typename takes no arguments or selection",
                    f.position,
                ));
            }
            return Ok(Selected {
                key,
                name: f.name.to_string(),
                args: BTreeMap::new(),
                def: None,
                children: Vec::new(),
                pos: pos(f.position),
            });
        }
        if f.name.starts_with("__") {
            return Err(GraphqlError::new(
                errors::INTROSPECTION_DISABLED,
                format!(
                    "introspection ({}) is not served: the schema is at /api/v1/graphql/schema.graphql",
                    f.name
                ),
            )
            .at(f.position.line, f.position.column));
        }
        let def = schema::field(parent, f.name).ok_or_else(|| {
            invalid(
                format!("type {parent} has no field `{}`", f.name),
                f.position,
            )
        })?;
        let args = self.arguments(parent, def, &f.arguments, f.position)?;
        let leaf = schema::is_leaf(def.ty.base);
        let children = if leaf {
            if !f.selection_set.items.is_empty() {
                return Err(invalid(
                    format!(
                        "{parent}.{} is a {}: it takes no selection",
                        f.name,
                        def.ty.sdl()
                    ),
                    f.position,
                ));
            }
            Vec::new()
        } else {
            let children = self.selection(def.ty.base, &f.selection_set)?;
            if f.selection_set.items.is_empty() {
                return Err(invalid(
                    format!(
                        "{parent}.{} is a {}: select its fields",
                        f.name,
                        def.ty.sdl()
                    ),
                    f.position,
                ));
            }
            children
        };
        Ok(Selected {
            key,
            name: f.name.to_string(),
            args,
            def: Some(def),
            children,
            pos: pos(f.position),
        })
    }

    fn arguments(
        &self,
        parent: &str,
        def: &FieldDef,
        given: &[(&'a str, Val<'a>)],
        at: Pos,
    ) -> Result<BTreeMap<String, Json>, GraphqlError> {
        let mut out = BTreeMap::new();
        for (name, _) in given {
            if !def.args.iter().any(|a| a.name == *name) {
                return Err(invalid(
                    format!("{parent}.{} has no argument `{name}`", def.name),
                    at,
                ));
            }
            if given.iter().filter(|(n, _)| n == name).count() > 1 {
                return Err(invalid(format!("argument `{name}` is given twice"), at));
            }
        }
        for arg in def.args {
            let value = given.iter().find(|(n, _)| *n == arg.name).map(|(_, v)| v);
            if let Some(v) = self.argument(arg, value, at)? {
                out.insert(arg.name.to_string(), v);
            }
        }
        Ok(out)
    }

    fn argument(
        &self,
        arg: &ArgDef,
        value: Option<&Val<'a>>,
        at: Pos,
    ) -> Result<Option<Json>, GraphqlError> {
        let name = arg.name;
        let value: Option<Json> = match value {
            None => None,
            Some(Value::Variable(v)) => {
                let (declared, value) = match self.vars.get(*v) {
                    Some(found) => (found.0.as_str(), Some(found.1.clone())),
                    None => {
                        // Declared without a value (nor default): absent.
                        if !self.declared.contains(v) {
                            return Err(invalid(format!("${v} is not declared"), at));
                        }
                        ("", None)
                    }
                };
                let wanted = arg_type_name(arg.ty);
                if !declared.is_empty() && declared.trim_end_matches('!') != wanted {
                    return Err(invalid(
                        format!("${v} is a {declared}, but `{name}` takes a {wanted}"),
                        at,
                    ));
                }
                value.filter(|v| !v.is_null())
            }
            Some(Value::Null) => None,
            Some(literal) => Some(
                literal_for(arg.ty, literal)
                    .map_err(|e| bad_input(format!("argument `{name}`: {e}"), at))?,
            ),
        };
        let value = match value {
            Some(v) => Some(v),
            None => arg.default.map(|d| match arg.ty {
                ArgTy::Int { .. } => json!(d.parse::<i64>().expect("defaults are numbers")),
                _ => json!(d),
            }),
        };
        match (&value, arg.ty) {
            (None, _) if arg.required => Err(invalid(format!("argument `{name}` is required"), at)),
            (Some(v), ArgTy::Int { min, max }) => match v.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(value),
                _ => Err(bad_input(
                    format!("argument `{name}` must be {min} to {max}"),
                    at,
                )),
            },
            _ => Ok(value),
        }
    }

    fn included(&self, directives: &[Directive<'a, &'a str>]) -> Result<bool, GraphqlError> {
        let mut include = true;
        for d in directives {
            let wanted = match d.name {
                "skip" => false,
                "include" => true,
                other => {
                    return Err(invalid(
                        format!("directive @{other} is not supported"),
                        d.position,
                    ));
                }
            };
            let condition = match d.arguments.as_slice() {
                [("if", Value::Boolean(b))] => *b,
                [("if", Value::Variable(v))] => match self.vars.get(*v) {
                    Some((ty, Json::Bool(b))) if ty.starts_with("Boolean") => *b,
                    _ => {
                        return Err(bad_input(
                            format!("@{}(if: ${v}) needs a Boolean value", d.name),
                            d.position,
                        ));
                    }
                },
                _ => {
                    return Err(invalid(
                        format!("@{} takes one argument, `if: Boolean!`", d.name),
                        d.position,
                    ));
                }
            };
            if condition != wanted {
                include = false;
            }
        }
        Ok(include)
    }
}

fn arg_type_name(ty: ArgTy) -> &'static str {
    match ty {
        ArgTy::Int { .. } => "Int",
        ArgTy::String => "String",
        ArgTy::Id => "ID",
        ArgTy::Enum(e) => e,
    }
}

fn literal_for(ty: ArgTy, v: &Val) -> Result<Json, String> {
    match (ty, v) {
        (ArgTy::Int { .. }, Value::Int(n)) => Ok(json!(n.as_i64())),
        (ArgTy::String, Value::String(s)) => Ok(json!(s)),
        (ArgTy::Id, Value::String(s)) => Ok(json!(s)),
        (ArgTy::Id, Value::Int(n)) => Ok(json!(n.as_i64().unwrap_or_default().to_string())),
        (ArgTy::Enum(e), Value::Enum(value)) => {
            let def = schema::enum_def(e).expect("argument enums are defined");
            if def.values.iter().any(|(n, _)| n == value) {
                Ok(json!(value))
            } else {
                Err(format!("`{value}` is not a {e}"))
            }
        }
        (ty, _) => Err(format!("expected a {}", arg_type_name(ty))),
    }
}

fn check_condition(parent: &str, on: &str, at: Pos) -> Result<(), GraphqlError> {
    if schema::object(on).is_none() {
        return Err(invalid(format!("there is no type {on}"), at));
    }
    if on != parent {
        return Err(invalid(
            format!("a fragment on {on} cannot apply to {parent}"),
            at,
        ));
    }
    Ok(())
}

/// Adds `field` to a selection: one with the same response key must ask
/// for the same field with the same arguments, and their selections merge.
fn merge(out: &mut Vec<Selected>, field: Selected) -> Result<(), GraphqlError> {
    match out.iter_mut().find(|s| s.key == field.key) {
        None => out.push(field),
        Some(existing) => {
            if existing.name != field.name || existing.args != field.args {
                return Err(GraphqlError::new(
                    errors::VALIDATION_FAILED,
                    format!(
                        "`{}` names two different fields (or arguments): use aliases",
                        field.key
                    ),
                )
                .at(field.pos.0, field.pos.1));
            }
            for child in field.children {
                merge(&mut existing.children, child)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(query: &str, vars: Json) -> Result<Operation, GraphqlError> {
        prepare(query, None, vars.as_object().unwrap())
    }

    fn keys(fields: &[Selected]) -> Vec<&str> {
        fields.iter().map(|f| f.key.as_str()).collect()
    }

    #[test]
    fn fields_arguments_and_defaults() {
        let op = prep(
            "{ contents(first: 5, status: published) { items { title author { firstName } } } }",
            json!({}),
        )
        .unwrap();
        let contents = &op.fields[0];
        assert_eq!(contents.name, "contents");
        assert_eq!(contents.arg_i64("first"), Some(5));
        assert_eq!(contents.arg_str("status"), Some("published"));
        assert_eq!(contents.arg_str("sort"), Some("createdAtDesc"));
        let items = &contents.children[0];
        assert_eq!(keys(&items.children), ["title", "author"]);
    }

    #[test]
    fn variables_named_and_inline_fragments_and_directives() {
        let query = r#"
            query Page($n: Int = 3, $id: ID!, $withBody: Boolean!) {
              contents(first: $n) { items { ...Item } }
              one: content(id: $id) { ... on Content { id body @include(if: $withBody) } }
            }
            fragment Item on Content { id title @skip(if: true) ...More }
            fragment More on Content { author { id } }
        "#;
        let op = prep(query, json!({"id": "abc", "withBody": false})).unwrap();
        assert_eq!(op.fields[0].arg_i64("first"), Some(3));
        assert_eq!(keys(&op.fields[0].children[0].children), ["id", "author"]);
        assert_eq!(op.fields[1].key, "one");
        assert_eq!(op.fields[1].arg_str("id"), Some("abc"));
        assert_eq!(keys(&op.fields[1].children), ["id"]);
    }

    #[test]
    fn bad_documents_are_refused_with_their_code() {
        for (query, vars, code) in [
            (
                "{ contents { items { title }",
                json!({}),
                errors::PARSE_FAILED,
            ),
            ("{ nope }", json!({}), errors::VALIDATION_FAILED),
            ("{ contents }", json!({}), errors::VALIDATION_FAILED),
            (
                "{ contents(first: 0) { items { id } } }",
                json!({}),
                errors::BAD_USER_INPUT,
            ),
            (
                "{ contents(first: 101) { items { id } } }",
                json!({}),
                errors::BAD_USER_INPUT,
            ),
            (
                "{ contents(status: gone) { items { id } } }",
                json!({}),
                errors::BAD_USER_INPUT,
            ),
            ("{ content { id } }", json!({}), errors::VALIDATION_FAILED),
            (
                "{ content(id: 1) { id { x } } }",
                json!({}),
                errors::VALIDATION_FAILED,
            ),
            (
                "query($id: ID!) { content(id: $id) { id } }",
                json!({}),
                errors::BAD_USER_INPUT,
            ),
            (
                "query($n: String) { contents(first: $n) { items { id } } }",
                json!({"n": "2"}),
                errors::VALIDATION_FAILED,
            ),
            (
                "query($n: Int) { contents(first: $n) { items { id } } }",
                json!({"n": "2"}),
                errors::BAD_USER_INPUT,
            ),
            (
                "{ contents { items { id } } }",
                json!({"x": 1}),
                errors::BAD_USER_INPUT,
            ),
            (
                "{ ...F } fragment F on Query { ...G } fragment G on Query { ...F }",
                json!({}),
                errors::VALIDATION_FAILED,
            ),
            (
                "{ content(id: 1) { ...M } } fragment M on Media { id }",
                json!({}),
                errors::VALIDATION_FAILED,
            ),
            (
                "{ a: content(id: 1) { id } a: content(id: 2) { id } }",
                json!({}),
                errors::VALIDATION_FAILED,
            ),
            ("mutation { x }", json!({}), errors::OPERATION_NOT_SUPPORTED),
            (
                "{ __schema { types { name } } }",
                json!({}),
                errors::INTROSPECTION_DISABLED,
            ),
            (
                "{ me { id @deprecated } }",
                json!({}),
                errors::VALIDATION_FAILED,
            ),
            (
                "query A { me { id } } query B { me { id } }",
                json!({}),
                errors::BAD_USER_INPUT,
            ),
        ] {
            let err = prep(query, vars).expect_err(query);
            assert_eq!(err.code, code, "{query}: {}", err.message);
        }
    }

    #[test]
    fn arbitrary_text_never_panics() {
        let pieces = [
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            ":",
            "$",
            "@",
            "...",
            "on",
            " ",
            "\n",
            "\"",
            "\"\"\"",
            "\\",
            "\\u",
            "00e9",
            "\u{a0}",
            "\u{3000}",
            "é",
            "0",
            "-",
            "1e",
            "9999999999999999999999",
            "1.5",
            "query",
            "fragment",
            "F",
            "contents",
            "items",
            "title",
            "first",
            "id",
            "me",
            "__typename",
            "#",
            ",",
            "=",
            "!",
            "Int",
            "skip",
            "include",
            "if",
            "true",
            "null",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut query = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                query.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let vars = json!({"n": 1}).as_object().unwrap().clone();
            let _ = prepare(&query, None, &vars);
        }
        let bad = "{ x(a: \"\"\"\n x\n\u{a0}y\"\"\") }";
        assert_eq!(
            prepare(bad, None, &Map::new()).unwrap_err().code,
            errors::PARSE_FAILED
        );
    }

    #[test]
    fn same_key_fields_merge() {
        let op = prep(
            "{ me { id } me { email } ... on Query { me { id firstName } } __typename }",
            json!({}),
        )
        .unwrap();
        assert_eq!(keys(&op.fields), ["me", "__typename"]);
        assert_eq!(keys(&op.fields[0].children), ["id", "email", "firstName"]);
    }

    #[test]
    fn the_operation_is_picked_by_name() {
        let query = "query A { me { id } } query B { tags { tag } }";
        let vars = Map::new();
        let op = prepare(query, Some("B"), &vars).unwrap();
        assert_eq!(op.fields[0].name, "tags");
        assert_eq!(op.fields[0].arg_i64("first"), Some(100));
        let err = prepare(query, Some("C"), &vars).unwrap_err();
        assert_eq!(err.code, errors::BAD_USER_INPUT);
    }
}
