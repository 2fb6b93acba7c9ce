//! Templates of `http` channels' bodies and headers (minijinja, with a fuel
//! limit so no template can spin): `{{ item.title }}`, `{{ event }}`,
//! `{{ secrets.NAME }}`, and `tojson` for JSON bodies.

use folio_guest::http::Problem;
use minijinja::Environment;
use serde_json::Value as Json;

const FUEL: u64 = 50_000;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

/// Parses `template`, so a broken one is refused when the channel is saved.
pub fn check(field: &str, template: &str) -> Result<(), Problem> {
    if template.len() > 16 * 1024 {
        return Err(Problem::invalid_field(field, "must be at most 16 KiB"));
    }
    environment()
        .template_from_str(template)
        .map(|_| ())
        .map_err(|e| Problem::invalid_field(field, format!("is not a valid template: {e}")))
}

pub fn render(template: &str, context: &Json) -> Result<String, String> {
    let env = environment();
    let template = env.template_from_str(template).map_err(|e| e.to_string())?;
    template.render(context).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_json_safely_and_bounds_loops() {
        let context = json!({"item": {"title": "Say \"hi\""}, "secrets": {"token": "t0"}});
        let body = render(r#"{"status": {{ item.title | tojson }}}"#, &context).unwrap();
        assert_eq!(body, r#"{"status": "Say \"hi\""}"#);
        assert_eq!(
            render("Bearer {{ secrets.token }}", &context).unwrap(),
            "Bearer t0"
        );
        assert!(render("{{ secrets.missing }}", &context).is_err());
        assert!(render("{% for i in range(100000) %}{{ i }}{% endfor %}", &context).is_err());
    }
}
