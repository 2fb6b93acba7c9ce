//! The billing API: thin handlers over `plans`, `subscriptions`,
//! `invoices` and `ledger`. An account is a user: the bearer token's subject.

use folio_guest::auth::{Claims, Role, authenticate, require_role};
use folio_guest::http::{
    JsonBody, Problem, chained_from, header, json, path_segments, query_pairs, respond,
};
use folio_guest::openapi::ProblemDetails;
use folio_guest::util::{is_uuid, now_ms};
use serde_json::json;
use spin_sdk::http::{Method, Request, Response};

use crate::subscription_list::{self, Filter, MAX_PAGE, STATUSES};
use crate::subscriptions::Target;
use crate::{invoices, ledger, plans, store, subscriptions, usage, webhooks};

pub fn route(request: Request) -> Response {
    let segments = path_segments(&request);
    let method = request.method().clone();
    let r = &request;
    use Method::{Get, Post};
    let result = match (segments.as_slice(), &method) {
        (["api", "v1", "openapi", "billing.json"], Get) => Ok(crate::openapi::document()),
        (["api", "v1", "billing", "plans"], Get) => list_plans(r),
        (["api", "v1", "billing", "plans"], Post) => create_plan(r),
        (["api", "v1", "billing", "plans"], _) => Err(Problem::method_not_allowed("GET, POST")),
        (["api", "v1", "billing", "plans", id], Get) => get_plan(r, id),
        (["api", "v1", "billing", "subscriptions"], Get) => list_subscriptions(r),
        (["api", "v1", "billing", "subscriptions"], Post) => subscribe(r),
        (["api", "v1", "billing", "subscriptions"], _) => {
            Err(Problem::method_not_allowed("GET, POST"))
        }
        (["api", "v1", "billing", "subscriptions", "summary"], Get) => subscription_summary(r),
        (["api", "v1", "billing", "subscriptions", "me"], Get) => my_subscription(r),
        (["api", "v1", "billing", "subscriptions", "me", "cancel"], Post) => cancel(r),
        (["api", "v1", "billing", "subscriptions", "me", "resume"], Post) => resume(r),
        (["api", "v1", "billing", "subscriptions", "me", "change"], Post) => change(r),
        (["api", "v1", "billing", "subscriptions", id, "cancel"], Post) => {
            cancel_subscription(r, id)
        }
        (["api", "v1", "billing", "subscriptions", id, "resume"], Post) => {
            resume_subscription(r, id)
        }
        (["api", "v1", "billing", "webhooks", "stripe"], Post) => stripe_webhook(r),
        (["api", "v1", "billing", "usage"], Post) => report_usage(r),
        (["api", "v1", "billing", "usage", "me"], Get) => my_usage(r),
        (["api", "v1", "billing", "invoices"], Get) => list_invoices(r),
        (["api", "v1", "billing", "invoices", file], Get) if file.ends_with(".pdf") => {
            invoice_pdf(r, file.trim_end_matches(".pdf"))
        }
        (["api", "v1", "billing", "invoices", id], Get) => get_invoice(r, id),
        (["api", "v1", "billing", "invoices", id, "mark-paid"], Post) => mark_paid(r, id),
        (["api", "v1", "billing", "entitlements", "me"], Get) => my_entitlements(r),
        (["api", "v1", "billing", "ledger"], Get) => list_ledger(r),
        (["api", "v1", "billing", "ledger", "verify"], Get) => verify_ledger(r),
        (["api", "v1", "billing", ..], _) => Err(Problem::not_found("no such route")),
        _ => Err(Problem::not_found("no such route")),
    };
    respond(result)
}

fn admin(request: &Request) -> Result<Claims, Problem> {
    let claims = authenticate(request)?;
    require_role(&claims, &[Role::Admin])?;
    Ok(claims)
}

fn is_admin(claims: &Claims) -> bool {
    claims.has_any_role(&[Role::Admin])
}

/// The account a read is about: the caller's own, or (admins only)
/// `?account=`.
fn account_of(request: &Request, claims: &Claims) -> Result<String, Problem> {
    let pairs = query_pairs(request);
    match pairs.iter().find(|(k, _)| k == "account") {
        None => Ok(claims.sub.clone()),
        Some(_) if !is_admin(claims) => Err(Problem::forbidden(
            "only admins read another account's billing",
        )),
        Some((_, v)) if is_uuid(v) => Ok(v.to_ascii_lowercase()),
        Some(_) => Err(Problem::invalid_field("account", "must be a user id")),
    }
}

#[utoipa::path(
    get, path = "/api/v1/billing/plans", operation_id = "listPlans", tag = "billing",
    responses((status = 200, description = "The catalog: `{items: [plan]}`"))
)]
pub fn list_plans(_request: &Request) -> Result<Response, Problem> {
    let db = store::db()?;
    Ok(json(200, &json!({ "items": plans::list(&db)? })))
}

#[utoipa::path(
    post, path = "/api/v1/billing/plans", operation_id = "createPlan", tag = "billing",
    request_body(content = inline(serde_json::Value), description = "`{name, prices: [{interval: month|year, currency: ISO 4217, amount: minor units}], trialDays?, tiers?}`"),
    responses(
        (status = 201, description = "The plan"),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (named in `errors`): e.g. a fractional or negative amount, an unknown currency", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn create_plan(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let plan = plans::parse(&JsonBody::parse(request)?)?;
    plans::insert(&store::db()?, &plan)?;
    Ok(json(201, &plan))
}

#[utoipa::path(
    get, path = "/api/v1/billing/plans/{id}", operation_id = "getPlan", tag = "billing",
    params(("id" = String, Path, description = "Plan id")),
    responses(
        (status = 200, description = "The plan"),
        (status = 404, description = "No such plan", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn get_plan(_request: &Request, id: &str) -> Result<Response, Problem> {
    let not_found = || Problem::not_found("no such plan");
    if !is_uuid(id) {
        return Err(not_found());
    }
    let plan = plans::get(&store::db()?, &id.to_ascii_lowercase())?.ok_or_else(not_found)?;
    Ok(json(200, &plan))
}

#[utoipa::path(
    post, path = "/api/v1/billing/subscriptions", operation_id = "subscribe", tag = "billing",
    request_body(content = inline(serde_json::Value), description = "`{planId, interval?: month|year, currency?, provider?: manual|stripe}`"),
    responses(
        (status = 201, description = "`{subscription, invoice?, checkout?: {id, url}}`: a trial starts at once; without one, the first invoice is open. With Stripe, `checkout.url` is where the customer pays it (or leaves a card for the trial's end)"),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The account already has a subscription", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (named in `errors`)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "The payment provider refused or could not be reached; nothing was started", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn subscribe(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let db = store::db()?;
    let order = subscriptions::parse_order(&db, &JsonBody::parse(request)?)?;
    let started = subscriptions::subscribe(&db, &claims.sub, order, store::tax_rate()?, now_ms())?;
    let checkout = started
        .checkout
        .map(|c| json!({ "id": c.id, "url": c.url }));
    Ok(json(
        201,
        &json!({
            "subscription": started.subscription,
            "invoice": started.invoice,
            "checkout": checkout,
        }),
    ))
}

#[utoipa::path(
    post, path = "/api/v1/billing/subscriptions/me/change", operation_id = "changeSubscription", tag = "billing",
    request_body(content = inline(serde_json::Value), description = "`{planId, interval?: month|year, currency?}`"),
    responses(
        (status = 200, description = "`{subscription, invoice?}`: the new plan applies now; unused time is credited, the rest of the period charged (`invoice`, collected at once), or a net credit kept for the next invoices"),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No live subscription", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The first invoice is unpaid", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (named in `errors`): the same plan and interval, another currency", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn change(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let db = store::db()?;
    let target = subscriptions::parse_change(&db, &JsonBody::parse(request)?)?;
    let changed = subscriptions::change(&db, &claims.sub, target, store::tax_rate()?, now_ms())?;
    Ok(json(
        200,
        &json!({ "subscription": changed.subscription, "invoice": changed.invoice }),
    ))
}

#[utoipa::path(
    post, path = "/api/v1/billing/webhooks/stripe", operation_id = "stripeWebhook", tag = "billing",
    request_body(content = inline(serde_json::Value), description = "A Stripe event, signed in `Stripe-Signature`"),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of t.payload>`")),
    responses(
        (status = 200, description = "`{received, duplicate, applied}`: applied once; a redelivery is a duplicate"),
        (status = 400, description = "The signature is missing, forged or stale, or the payload is not an event", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Stripe webhooks are not configured here", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Larger than any Stripe event", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn stripe_webhook(request: &Request) -> Result<Response, Problem> {
    let receipt = webhooks::receive(
        &store::db()?,
        request.body(),
        header(request, "stripe-signature"),
        now_ms(),
    )?;
    Ok(json(200, &receipt))
}

#[utoipa::path(
    get, path = "/api/v1/billing/subscriptions/me", operation_id = "mySubscription", tag = "billing",
    responses(
        (status = 200, description = "The caller's live subscription"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No live subscription", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn my_subscription(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let s = subscriptions::live(&store::db()?, &claims.sub)?
        .ok_or_else(|| Problem::not_found("the account has no subscription"))?;
    Ok(json(200, &s))
}

#[utoipa::path(
    post, path = "/api/v1/billing/subscriptions/me/cancel", operation_id = "cancelSubscription", tag = "billing",
    responses(
        (status = 200, description = "Ends at the period's end (`cancelAtPeriodEnd`); an unpaid first period ends now"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No live subscription", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Already set to end", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn cancel(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let s = subscriptions::cancel(&store::db()?, Target::LiveOf(&claims.sub), now_ms())?;
    Ok(json(200, &s))
}

#[utoipa::path(
    post, path = "/api/v1/billing/subscriptions/me/resume", operation_id = "resumeSubscription", tag = "billing",
    responses(
        (status = 200, description = "The scheduled end is undone"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No live subscription", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not set to end", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn resume(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let s = subscriptions::resume(&store::db()?, Target::LiveOf(&claims.sub), now_ms())?;
    Ok(json(200, &s))
}

#[utoipa::path(
    get, path = "/api/v1/billing/subscriptions", operation_id = "listSubscriptions", tag = "billing",
    params(
        ("status" = Option<String>, Query, description = "incomplete, trialing, active, past_due or canceled"),
        ("planId" = Option<String>, Query, description = "Plan id"),
        ("account" = Option<String>, Query, description = "User id"),
        ("limit" = Option<u32>, Query, description = "1-100, default 50"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the page before")
    ),
    responses(
        (status = 200, description = "`{items: [subscription], nextCursor}`: every account's, newest first"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter (named in `errors`)", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn list_subscriptions(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let mut filter = Filter {
        limit: 50,
        ..Filter::default()
    };
    let id = |name: &str, value: &str| match is_uuid(value) {
        true => Ok(Some(value.to_ascii_lowercase())),
        false => Err(Problem::invalid_field(name, "must be an id")),
    };
    for (name, value) in query_pairs(request) {
        match name.as_str() {
            "status" if STATUSES.contains(&value.as_str()) => filter.status = Some(value),
            "status" => {
                return Err(Problem::invalid_field(
                    "status",
                    format!("must be one of {}", STATUSES.join(", ")),
                ));
            }
            "planId" => filter.plan_id = id("planId", &value)?,
            "account" => filter.account = id("account", &value)?,
            "limit" => {
                filter.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        Problem::invalid_field("limit", format!("must be 1 to {MAX_PAGE}"))
                    })?
            }
            "cursor" => {
                filter.after = Some(subscription_list::decode_cursor(&value).ok_or_else(|| {
                    Problem::invalid_field("cursor", "is not a cursor this service gave")
                })?)
            }
            other => return Err(Problem::invalid_field(other, "is not a known parameter")),
        }
    }
    Ok(json(200, &subscription_list::list(&store::db()?, &filter)?))
}

#[utoipa::path(
    get, path = "/api/v1/billing/subscriptions/summary", operation_id = "subscriptionSummary", tag = "billing",
    responses(
        (status = 200, description = "`{byStatus: {status: count}, monthlyRecurring: {currency: minor units}}`: the monthly revenue of active and past-due subscriptions (a yearly price counts a twelfth)"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn subscription_summary(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    Ok(json(200, &subscription_list::summary(&store::db()?)?))
}

/// Subscription `id` from the path, for an admin's action.
fn admin_subscription_id(request: &Request, id: &str) -> Result<String, Problem> {
    admin(request)?;
    match is_uuid(id) {
        true => Ok(id.to_ascii_lowercase()),
        false => Err(Problem::not_found("no such subscription")),
    }
}

#[utoipa::path(
    post, path = "/api/v1/billing/subscriptions/{id}/cancel", operation_id = "cancelAnySubscription", tag = "billing",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "An admin ends a customer's subscription at its period's end (an unpaid first period ends now)"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "It has ended, or already ends at its period's end", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn cancel_subscription(request: &Request, id: &str) -> Result<Response, Problem> {
    let id = admin_subscription_id(request, id)?;
    let s = subscriptions::cancel(&store::db()?, Target::Id(&id), now_ms())?;
    Ok(json(200, &s))
}

#[utoipa::path(
    post, path = "/api/v1/billing/subscriptions/{id}/resume", operation_id = "resumeAnySubscription", tag = "billing",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "An admin undoes a customer's scheduled end"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "It has ended, or is not set to end", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn resume_subscription(request: &Request, id: &str) -> Result<Response, Problem> {
    let id = admin_subscription_id(request, id)?;
    let s = subscriptions::resume(&store::db()?, Target::Id(&id), now_ms())?;
    Ok(json(200, &s))
}

#[utoipa::path(
    get, path = "/api/v1/billing/invoices", operation_id = "listInvoices", tag = "billing",
    params(("account" = Option<String>, Query, description = "Another account's (admins only)")),
    responses(
        (status = 200, description = "`{items: [invoice]}`, newest first"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Another account's, and not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "`account` is not a user id", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn list_invoices(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let account = account_of(request, &claims)?;
    let items = invoices::of_account(&store::db()?, &account)?;
    Ok(json(200, &json!({ "items": items })))
}

#[utoipa::path(
    get, path = "/api/v1/billing/invoices/{id}", operation_id = "getInvoice", tag = "billing",
    params(("id" = String, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "The invoice"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice of the caller's", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn get_invoice(request: &Request, id: &str) -> Result<Response, Problem> {
    Ok(json(200, &readable_invoice(request, id)?))
}

/// Invoice `id` if the caller may read it: their own, or any for admins.
fn readable_invoice(request: &Request, id: &str) -> Result<invoices::Invoice, Problem> {
    let claims = authenticate(request)?;
    let not_found = || Problem::not_found("no such invoice");
    if !is_uuid(id) {
        return Err(not_found());
    }
    let invoice = invoices::get(&store::db()?, &id.to_ascii_lowercase())?.ok_or_else(not_found)?;
    // Another account's invoice does not exist, as far as the caller can tell.
    if invoice.account != claims.sub && !is_admin(&claims) {
        return Err(not_found());
    }
    Ok(invoice)
}

#[utoipa::path(
    get, path = "/api/v1/billing/invoices/{id}.pdf", operation_id = "getInvoicePdf", tag = "billing",
    params(("id" = String, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "The invoice as a PDF", content_type = "application/pdf"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice of the caller's", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn invoice_pdf(request: &Request, id: &str) -> Result<Response, Problem> {
    let invoice = readable_invoice(request, id)?;
    let seller = spin_sdk::variables::get("platform_name")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "Folio".into());
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/pdf")
        .header(
            "content-disposition",
            format!("inline; filename=\"invoice-{}.pdf\"", invoice.number),
        )
        .header("cache-control", "private, no-store")
        .body(crate::pdf::render(&invoice, &seller))
        .build())
}

#[utoipa::path(
    post, path = "/api/v1/billing/invoices/{id}/mark-paid", operation_id = "markInvoicePaid", tag = "billing",
    params(("id" = String, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "Paid (a bank transfer received); its subscription is active"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not open (already paid, or void)", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn mark_paid(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    if !is_uuid(id) {
        return Err(Problem::not_found("no such invoice"));
    }
    let invoice = subscriptions::mark_paid(&store::db()?, &id.to_ascii_lowercase(), now_ms())?;
    Ok(json(200, &invoice))
}

#[utoipa::path(
    get, path = "/api/v1/billing/entitlements/me", operation_id = "myEntitlements", tag = "billing",
    responses(
        (status = 200, description = "`{tiers, subscription}`: the tiers the caller holds now"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn my_entitlements(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let (tiers, subscription) = subscriptions::entitlements(&store::db()?, &claims.sub)?;
    Ok(json(
        200,
        &json!({ "tiers": tiers, "subscription": subscription }),
    ))
}

#[utoipa::path(
    get, path = "/api/v1/billing/ledger", operation_id = "listLedger", tag = "billing",
    params(("account" = Option<String>, Query, description = "Another account's (admins only)")),
    responses(
        (status = 200, description = "`{items: [entry]}`: the account's billing events in order, each with its hash"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Another account's, and not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "`account` is not a user id", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn list_ledger(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let account = account_of(request, &claims)?;
    let items = ledger::entries(&store::db()?, &account)?;
    Ok(json(200, &json!({ "items": items })))
}

#[utoipa::path(
    get, path = "/api/v1/billing/ledger/verify", operation_id = "verifyLedger", tag = "billing",
    responses(
        (status = 200, description = "`{valid, accounts, entries, broken?: {account, sequence, reason}}`: every chain walked and rehashed"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn verify_ledger(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    Ok(json(200, &ledger::verify(&store::db()?)?))
}

#[utoipa::path(
    post, path = "/api/v1/billing/usage", operation_id = "reportUsage", tag = "billing",
    request_body(content = inline(serde_json::Value), description = "`{events: [{transactionId, account, meter, quantity?: 1, value?, timestamp?}]}`, 1 to 1000 events; `value` is what `unique` meters count"),
    responses(
        (status = 200, description = "`{accepted, duplicates}`: a transaction id seen before is not counted again"),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Neither an admin nor a service named in `usage_reporters`", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An event is invalid (`errors` names `events[i].field`); none was kept", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn report_usage(request: &Request) -> Result<Response, Problem> {
    // A service reports its users' usage through a chained call; anyone
    // else must be an admin.
    if !chained_from(request, "usage_reporters") {
        admin(request)?;
    }
    let now = now_ms();
    let events = usage::parse(&JsonBody::parse(request)?, now)?;
    Ok(json(200, &usage::record(&store::db()?, &events, now)?))
}

#[utoipa::path(
    get, path = "/api/v1/billing/usage/me", operation_id = "myUsage", tag = "billing",
    responses(
        (status = 200, description = "`{periodStartMs, periodEndMs, meters: [{key, aggregation, quantity, unitAmount, amount}]}`: the current period so far, in the subscription's currency"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No live subscription", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn my_usage(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let db = store::db()?;
    let s = subscriptions::live(&db, &claims.sub)?
        .ok_or_else(|| Problem::not_found("the account has no subscription"))?;
    let meters = plans::get(&db, &s.plan_id)?
        .map(|p| p.meters)
        .unwrap_or_default();
    let mut rows = Vec::new();
    for meter in &meters {
        let quantity = usage::quantity(
            &db,
            &s.account,
            meter,
            s.current_period_start_ms,
            s.current_period_end_ms,
        )?;
        let unit = meter.unit_amounts.get(&s.currency).copied();
        rows.push(json!({
            "key": meter.key,
            "aggregation": meter.aggregation,
            "quantity": quantity,
            "unitAmount": unit,
            "amount": unit.map(|u| u.saturating_mul(quantity)),
        }));
    }
    Ok(json(
        200,
        &json!({
            "periodStartMs": s.current_period_start_ms,
            "periodEndMs": s.current_period_end_ms,
            "currency": s.currency,
            "meters": rows,
        }),
    ))
}
