//! The OpenAPI 3.1 document of the billing API, served at
//! `GET /api/v1/openapi/billing.json`.

use folio_guest::openapi::BearerAuth;
use spin_sdk::http::Response;
use utoipa::OpenApi;

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio billing",
        description = "Plans, subscriptions, invoices and entitlements. Money is an integer count of the currency's minor units. Every change is an entry in an append-only, hash-chained ledger. Errors are RFC 9457 problem details."
    ),
    paths(
        api::list_plans, api::create_plan, api::get_plan, api::subscribe, api::my_subscription,
        api::cancel, api::resume, api::list_subscriptions, api::subscription_summary, api::cancel_subscription, api::resume_subscription, api::change, api::stripe_webhook, api::report_usage, api::my_usage, api::list_invoices, api::get_invoice, api::invoice_pdf, api::mark_paid,
        api::my_entitlements, api::list_ledger, api::verify_ledger
    ),
    modifiers(&BearerAuth)
)]
pub struct BillingApi;

pub fn document() -> Response {
    folio_guest::openapi::served(BillingApi::openapi())
}
