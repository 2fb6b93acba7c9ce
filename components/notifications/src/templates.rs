//! Notification templates: a subject, a text body and an HTML body per
//! locale, rendered with minijinja in the sandbox, its work bounded by fuel
//! and its output by size. Built-in templates (English) cover every key;
//! an admin's version of a key and locale is stored and wins.

use folio_guest::columns::{integer, text};
use folio_guest::http::Problem;
use folio_guest::{Connection, Value};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Value as Json, json};

use crate::store::db_error;

/// Bytes of one template part (subject, text or HTML).
pub const MAX_PART_BYTES: usize = 32 * 1024;
pub const MAX_SUBJECT_CHARS: usize = 300;
/// Bytes of one rendered part: a template that loops its way past this fails.
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;
/// minijinja's fuel: roughly instructions, so a runaway loop stops here.
const FUEL: u64 = 100_000;

pub struct Builtin {
    pub key: &'static str,
    pub category: &'static str,
    pub description: &'static str,
    pub subject: &'static str,
    pub text: &'static str,
    pub html: &'static str,
    /// Variables beyond the common ones, as sample data.
    pub sample: fn() -> Json,
}

macro_rules! builtin {
    ($key:literal, $category:literal, $description:literal, $subject:literal, $text:literal, $html:literal, $sample:expr) => {
        Builtin {
            key: $key,
            category: $category,
            description: $description,
            subject: $subject,
            text: $text,
            html: $html,
            sample: $sample,
        }
    };
}

pub const BUILTINS: &[Builtin] = &[
    builtin!(
        "password-reset",
        "account",
        "The link that sets a new password (email only: the link is a secret)",
        "Reset your {{ platformName }} password",
        "Hi {{ recipient.firstName }},\n\nSomeone (we hope you) asked to reset your password. Follow this link to choose a new one:\n\n{{ resetLink }}\n\nIt works once, until {{ expiresAt }}. If you did not ask, ignore this message: your password is unchanged.",
        "<p>Hi {{ recipient.firstName }},</p><p>Someone (we hope you) asked to reset your password.</p><p><a href=\"{{ resetLink }}\">Choose a new password</a></p><p>The link works once, until {{ expiresAt }}. If you did not ask, ignore this message: your password is unchanged.</p>",
        || json!({"resetLink": "https://folio.example/reset-password?token=SAMPLE", "expiresAt": "2026-12-04T12:00:00Z"})
    ),
    builtin!(
        "email-verification",
        "account",
        "Confirms an email address",
        "Confirm your email for {{ platformName }}",
        "Hi {{ recipient.firstName }},\n\nConfirm that this address is yours:\n\n{{ verifyLink }}",
        "<p>Hi {{ recipient.firstName }},</p><p><a href=\"{{ verifyLink }}\">Confirm that this address is yours</a>.</p>",
        || json!({"verifyLink": "https://folio.example/verify-email?token=SAMPLE"})
    ),
    builtin!(
        "welcome",
        "account",
        "Sent when an account is created",
        "Welcome to {{ platformName }}",
        "Hi {{ recipient.firstName }},\n\nYour account is ready. Follow authors and categories to hear when they publish.",
        "<p>Hi {{ recipient.firstName }},</p><p>Your account is ready. Follow authors and categories to hear when they publish.</p>",
        || json!({})
    ),
    builtin!(
        "registration-attempted",
        "account",
        "Someone tried to register an address that has an account",
        "Someone tried to register with your email",
        "Hi {{ recipient.firstName }},\n\nSomeone tried to create a {{ platformName }} account with this address, which already has one. If it was you, sign in or reset your password; if not, you need do nothing.",
        "<p>Hi {{ recipient.firstName }},</p><p>Someone tried to create a {{ platformName }} account with this address, which already has one. If it was you, sign in or reset your password; if not, you need do nothing.</p>",
        || json!({})
    ),
    builtin!(
        "invoice-issued",
        "billing",
        "An invoice was issued (to the account holder)",
        "Invoice {{ invoice.number }}: {{ invoice.amount }}",
        "Hi {{ recipient.firstName }},\n\nInvoice {{ invoice.number }} for {{ invoice.amount }} was issued{% if invoice.dueDate %}, due {{ invoice.dueDate }}{% endif %}.\n\n{{ link }}",
        "<p>Hi {{ recipient.firstName }},</p><p><a href=\"{{ link }}\">Invoice {{ invoice.number }}</a> for {{ invoice.amount }} was issued{% if invoice.dueDate %}, due {{ invoice.dueDate }}{% endif %}.</p>",
        || json!({"invoice": {"number": "2026-000042", "amount": "18.00 EUR", "dueDate": "2026-12-19"}, "link": "https://folio.example/billing/invoices/1"})
    ),
    builtin!(
        "payment-failed",
        "billing",
        "A payment failed: when it is tried again, or that the subscription ended (to the account holder)",
        "Payment failed for invoice {{ invoice.number }}",
        "Hi {{ recipient.firstName }},\n\nWe could not collect {{ invoice.amount }} for invoice {{ invoice.number }}: {{ reason }}.{% if nextAttempt %} We will try again on {{ nextAttempt }}; update your payment method or pay before then to keep your subscription.{% else %} Your subscription has ended.{% endif %}\n\n{{ link }}",
        "<p>Hi {{ recipient.firstName }},</p><p>We could not collect {{ invoice.amount }} for <a href=\"{{ link }}\">invoice {{ invoice.number }}</a>: {{ reason }}.{% if nextAttempt %} We will try again on {{ nextAttempt }}; update your payment method or pay before then to keep your subscription.{% else %} Your subscription has ended.{% endif %}</p>",
        || json!({"invoice": {"number": "2026-000042", "amount": "18.00 EUR", "dueDate": "2026-12-19"}, "reason": "card_declined (insufficient_funds): Your card has insufficient funds.", "nextAttempt": "2026-12-20", "link": "https://folio.example/billing/invoices/1"})
    ),
    builtin!(
        "content-published",
        "following",
        "An author or category the recipient follows published something",
        "New: {{ content.title }}",
        "{{ content.title }} was just published.\n\n{{ link }}",
        "<p><a href=\"{{ link }}\">{{ content.title }}</a> was just published.</p>",
        || json!({"content": {"id": "0192f0c4-0000-7000-8000-000000000001", "title": "Ten ways to cook a watermelon", "type": "article"}, "link": "https://folio.example/content/0192f0c4-0000-7000-8000-000000000001"})
    ),
    builtin!(
        "content-review",
        "editorial",
        "Content was submitted for review (to editors)",
        "Review requested: {{ content.title }}",
        "{{ content.title }} is waiting for review.\n\n{{ link }}",
        "<p><a href=\"{{ link }}\">{{ content.title }}</a> is waiting for review.</p>",
        || json!({"content": {"id": "0192f0c4-0000-7000-8000-000000000001", "title": "Ten ways to cook a watermelon", "type": "article"}, "link": "https://folio.example/admin/content/0192f0c4-0000-7000-8000-000000000001"})
    ),
    builtin!(
        "approval-requested",
        "editorial",
        "A published item waits for approval before channels send it (to editors)",
        "Approval needed: {{ content.title }}",
        "{{ content.title }} waits for approval before it goes to {{ channels | join(\", \") }}.\n\n{{ link }}",
        "<p><a href=\"{{ link }}\">{{ content.title }}</a> waits for approval before it goes to {{ channels | join(\", \") }}.</p>",
        || json!({"content": {"id": "0192f0c4-0000-7000-8000-000000000001", "title": "Ten ways to cook a watermelon"}, "channels": ["Partner feed"], "link": "https://folio.example/admin/approvals"})
    ),
    builtin!(
        "content-approved",
        "editorial",
        "The author's item was approved for distribution",
        "Approved: {{ content.title }}",
        "{{ content.title }} was approved and goes to {{ channels | join(\", \") }}.{% if comment %}\n\n“{{ comment }}”{% endif %}\n\n{{ link }}",
        "<p><a href=\"{{ link }}\">{{ content.title }}</a> was approved and goes to {{ channels | join(\", \") }}.</p>{% if comment %}<blockquote>{{ comment }}</blockquote>{% endif %}",
        || json!({"content": {"id": "0192f0c4-0000-7000-8000-000000000001", "title": "Ten ways to cook a watermelon"}, "channels": ["Partner feed"], "comment": "Great read.", "link": "https://folio.example/admin/content/0192f0c4-0000-7000-8000-000000000001"})
    ),
    builtin!(
        "content-rejected",
        "editorial",
        "The author's item was rejected for distribution",
        "Not approved: {{ content.title }}",
        "{{ content.title }} was not approved for distribution.{% if comment %}\n\n“{{ comment }}”{% endif %}\n\n{{ link }}",
        "<p><a href=\"{{ link }}\">{{ content.title }}</a> was not approved for distribution.</p>{% if comment %}<blockquote>{{ comment }}</blockquote>{% endif %}",
        || json!({"content": {"id": "0192f0c4-0000-7000-8000-000000000001", "title": "Ten ways to cook a watermelon"}, "comment": "Needs sources.", "link": "https://folio.example/admin/content/0192f0c4-0000-7000-8000-000000000001"})
    ),
    builtin!(
        "channel-disabled",
        "editorial",
        "A publishing channel was disabled (to its owner)",
        "Channel disabled: {{ channel.name }}",
        "The {{ channel.kind }} channel {{ channel.name }} was disabled: {{ channel.reason }}. Nothing more is sent to it until it is turned back on.\n\n{{ link }}",
        "<p>The {{ channel.kind }} channel <a href=\"{{ link }}\">{{ channel.name }}</a> was disabled: {{ channel.reason }}. Nothing more is sent to it until it is turned back on.</p>",
        || json!({"channel": {"name": "Partner webhook", "kind": "webhook", "reason": "the endpoint answered 410 Gone"}, "link": "https://folio.example/admin/channels/1"})
    ),
    builtin!(
        "newsletter",
        "following",
        "A newsletter issue: a new item by an author the recipient follows",
        "{{ subject or content.title }}",
        "{{ content.title }}\n\n{{ content.description }}{% if content.text %}\n\n{{ content.text }}{% endif %}{% if content.preview %}\n\nThe rest is for subscribers.{% endif %}\n\nRead it: {{ link }}",
        "<h1>{{ content.title }}</h1><p>{{ content.description }}</p>{% if content.body %}{{ content.body|safe }}{% endif %}{% if content.preview %}<p><em>The rest is for subscribers.</em></p>{% endif %}<p><a href=\"{{ link }}\">Read it</a></p>",
        || json!({"content": {"id": "0192f0c4-0000-7000-8000-000000000001", "title": "Ten ways to cook a watermelon", "description": "Summer, sorted.", "body": "<p>Start with a cold one.</p>", "text": "Start with a cold one.", "preview": false}, "subject": null, "link": "https://folio.example/content/0192f0c4-0000-7000-8000-000000000001"})
    ),
    builtin!(
        "comment",
        "following",
        "Placeholder: someone commented on the recipient's content (comments are not built yet)",
        "{{ comment.author }} commented on {{ content.title }}",
        "{{ comment.author }} wrote: {{ comment.excerpt }}\n\n{{ link }}",
        "<p>{{ comment.author }} wrote:</p><blockquote>{{ comment.excerpt }}</blockquote><p><a href=\"{{ link }}\">Reply</a></p>",
        || json!({"comment": {"author": "Grace", "excerpt": "Lovely piece."}, "content": {"title": "Ten ways to cook a watermelon"}, "link": "https://folio.example/c/1"})
    ),
    builtin!(
        "mention",
        "following",
        "Placeholder: someone mentioned the recipient (comments are not built yet)",
        "{{ mention.author }} mentioned you",
        "{{ mention.author }} mentioned you: {{ mention.excerpt }}\n\n{{ link }}",
        "<p>{{ mention.author }} mentioned you:</p><blockquote>{{ mention.excerpt }}</blockquote><p><a href=\"{{ link }}\">See it</a></p>",
        || json!({"mention": {"author": "Grace", "excerpt": "as @ada says"}, "link": "https://folio.example/c/1"})
    ),
    builtin!(
        "broadcast",
        "product",
        "An announcement an admin sent",
        "{{ title }}",
        "{{ body }}{% if link %}\n\n{{ link }}{% endif %}",
        "<p>{{ body }}</p>{% if link %}<p><a href=\"{{ link }}\">{{ link }}</a></p>{% endif %}",
        || json!({"title": "Scheduled maintenance", "body": "Folio is read-only on Sunday from 02:00 to 03:00 UTC.", "link": null})
    ),
    builtin!(
        "digest",
        "following",
        "The daily or weekly digest of what a user chose to get that way",
        "Your {{ period }} digest: {{ items | length }} new",
        "Hi {{ recipient.firstName }}, here is what happened:\n{% for item in items %}\n* {{ item.title }}{% if item.link %}\n  {{ item.link }}{% endif %}{% endfor %}",
        "<p>Hi {{ recipient.firstName }}, here is what happened:</p><ul>{% for item in items %}<li>{% if item.link %}<a href=\"{{ item.link }}\">{{ item.title }}</a>{% else %}{{ item.title }}{% endif %}</li>{% endfor %}</ul>",
        || json!({"period": "daily", "items": [{"title": "New: Ten ways to cook a watermelon", "link": "https://folio.example/c/1"}, {"title": "Scheduled maintenance", "link": null}]})
    ),
];

pub fn builtin(key: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.key == key)
}

/// The variables every template gets, with sample values for previews.
pub fn common_sample() -> Json {
    json!({
        "recipient": {"firstName": "Ada", "email": "ada@example.com"},
        "platformName": "Folio",
        "preferencesLink": "https://folio.example/settings/notifications",
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A template that does not compile or render: which part, which line, why.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub part: &'static str,
    pub line: Option<usize>,
    pub message: String,
}

impl TemplateError {
    pub fn into_problem(self) -> Problem {
        let at = self.line.map(|l| format!("line {l}: ")).unwrap_or_default();
        Problem::invalid_field(self.part, format!("{at}{}", self.message))
            .with_extension("line", json!(self.line))
    }
}

const PART_NAMES: [&str; 3] = ["subject", "text", "html"];

/// Renders `parts` with `data`. `strict`: an undefined variable is an error
/// (checking a template an admin saves); otherwise it renders empty (sending).
pub fn render(parts: &Parts, data: &Json, strict: bool) -> Result<Rendered, TemplateError> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(50);
    env.set_undefined_behavior(if strict {
        UndefinedBehavior::Strict
    } else {
        UndefinedBehavior::Chainable
    });
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let sources = [&parts.subject, &parts.text, &parts.html];
    for (name, source) in PART_NAMES.iter().zip(sources) {
        env.add_template(name, source).map_err(|e| error(name, e))?;
    }
    let mut out = Vec::with_capacity(3);
    for name in PART_NAMES {
        let rendered = env
            .get_template(name)
            .and_then(|t| t.render(data))
            .map_err(|e| error(name, e))?;
        if rendered.len() > MAX_OUTPUT_BYTES {
            return Err(TemplateError {
                part: name,
                line: None,
                message: format!("renders to more than {MAX_OUTPUT_BYTES} bytes"),
            });
        }
        out.push(rendered);
    }
    let html = out.pop().unwrap_or_default();
    let text = out.pop().unwrap_or_default();
    let subject = out.pop().unwrap_or_default();
    Ok(Rendered {
        // A subject is one line, whatever the template did.
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text,
        html,
    })
}

fn error(part: &'static str, e: minijinja::Error) -> TemplateError {
    let part = PART_NAMES
        .iter()
        .find(|p| **p == part)
        .copied()
        .unwrap_or("text");
    let message = match e.kind() {
        ErrorKind::OutOfFuel => "takes too long to render (a loop too large?)".to_string(),
        _ => e
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| e.kind().to_string()),
    };
    TemplateError {
        part,
        line: e.line(),
        message,
    }
}

/// Checks what an admin sends before it is stored: sizes, one-line subject,
/// and that it compiles and renders the template's sample data strictly.
pub fn check(key: &str, parts: &Parts) -> Result<(), Problem> {
    for (name, part) in PART_NAMES
        .iter()
        .zip([&parts.subject, &parts.text, &parts.html])
    {
        if part.len() > MAX_PART_BYTES {
            return Err(Problem::invalid_field(
                name,
                format!("is larger than {MAX_PART_BYTES} bytes"),
            ));
        }
    }
    if parts.subject.chars().count() > MAX_SUBJECT_CHARS || parts.subject.contains(['\r', '\n']) {
        return Err(Problem::invalid_field(
            "subject",
            format!("must be one line of at most {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    let data = sample(key);
    render(parts, &data, true).map_err(TemplateError::into_problem)?;
    Ok(())
}

/// The sample data of `key` with the common variables.
pub fn sample(key: &str) -> Json {
    let mut data = common_sample();
    if let Some(b) = builtin(key) {
        merge(&mut data, (b.sample)());
    }
    data
}

pub fn merge(into: &mut Json, from: Json) {
    if let (Some(into), Json::Object(from)) = (into.as_object_mut(), from) {
        for (k, v) in from {
            into.insert(k, v);
        }
    }
}

pub struct Stored {
    pub locale: String,
    pub parts: Parts,
    pub updated_at: i64,
    pub updated_by: String,
}

pub fn stored(db: &Connection, key: &str) -> Result<Vec<Stored>, Problem> {
    let rows = db
        .query(
            "SELECT locale, subject, text_body, html_body, updated_at, updated_by FROM templates \
             WHERE template_key = $1 ORDER BY locale",
            &[Value::Text(key.into())],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| Stored {
            locale: text(&r[0]),
            parts: Parts {
                subject: text(&r[1]),
                text: text(&r[2]),
                html: text(&r[3]),
            },
            updated_at: integer(&r[4]),
            updated_by: text(&r[5]),
        })
        .collect())
}

/// The parts to render `key` with for a reader of `locale`: a stored
/// version in that locale, then in its language (`pt` for `pt-BR`), then in
/// English, then the built-in one.
pub fn resolve(db: &Connection, key: &str, locale: &str) -> Result<Parts, Problem> {
    let builtin = builtin(key).ok_or_else(|| Problem::not_found("no such template"))?;
    let stored = stored(db, key)?;
    let language = locale.split('-').next().unwrap_or(locale);
    for wanted in [locale, language, "en"] {
        if let Some(s) = stored
            .iter()
            .find(|s| s.locale.eq_ignore_ascii_case(wanted))
        {
            return Ok(s.parts.clone());
        }
    }
    Ok(builtin_parts(builtin))
}

pub fn builtin_parts(b: &Builtin) -> Parts {
    Parts {
        subject: b.subject.into(),
        text: b.text.into(),
        html: b.html.into(),
    }
}

/// Renders `key` for a reader of `locale` with `data` (plus the common
/// variables the caller put in), leniently: a stored template was checked
/// when saved.
pub fn render_for(
    db: &Connection,
    key: &str,
    locale: &str,
    data: &Json,
) -> Result<Rendered, Problem> {
    let parts = resolve(db, key, locale)?;
    render(&parts, data, false).or_else(|e| {
        // A stored template that fails at send time (data it did not expect)
        // must not stop the message: the built-in one renders it.
        eprintln!("template {key} ({locale}) failed, using the built-in one: {e:?}");
        let builtin = builtin(key).ok_or_else(|| Problem::not_found("no such template"))?;
        render(&builtin_parts(builtin), data, false).map_err(TemplateError::into_problem)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(subject: &str, text: &str, html: &str) -> Parts {
        Parts {
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
        }
    }

    #[test]
    fn every_builtin_renders_its_sample_strictly() {
        for b in BUILTINS {
            let r = render(&builtin_parts(b), &sample(b.key), true)
                .unwrap_or_else(|e| panic!("{}: {e:?}", b.key));
            assert!(
                !r.subject.is_empty() && !r.text.is_empty() && !r.html.is_empty(),
                "{}",
                b.key
            );
            assert!(crate::model::CATEGORIES.contains(&b.category), "{}", b.key);
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let data = json!({"name": "<b>Ada & co</b>"});
        let r = render(
            &parts("{{ name }}", "{{ name }}", "<p>{{ name }}</p>"),
            &data,
            true,
        )
        .unwrap();
        assert_eq!(r.text, "<b>Ada & co</b>");
        assert_eq!(r.html, "<p>&lt;b&gt;Ada &amp; co&lt;&#x2f;b&gt;</p>");
    }

    #[test]
    fn errors_name_the_part_and_the_line() {
        let e = render(
            &parts("ok", "line one\n{% if %}", "<p></p>"),
            &json!({}),
            true,
        )
        .unwrap_err();
        assert_eq!((e.part, e.line), ("text", Some(2)));
        let e = render(
            &parts("ok", "fine", "<p>\n\n{{ nope.deeper }}</p>"),
            &json!({}),
            true,
        )
        .unwrap_err();
        assert_eq!((e.part, e.line), ("html", Some(3)));
        // Lenient rendering (sending) leaves unknown variables empty.
        assert!(render(&parts("ok", "{{ nope.deeper }}", ""), &json!({}), false).is_ok());
    }

    #[test]
    fn runaway_templates_run_out_of_fuel_or_room() {
        let loops =
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        let e = render(&parts("s", loops, ""), &json!({}), true).unwrap_err();
        assert!(e.message.contains("too long"), "{e:?}");
        let wide = "{{ 'x' * 100000000 }}";
        assert!(render(&parts("s", wide, ""), &json!({}), true).is_err());
    }
}
