//! The OpenAPI 3.1 document of this service, from the handlers'
//! `#[utoipa::path]` annotations; served at `GET /api/v1/openapi/publishing.json`.

use folio_guest::openapi::BearerAuth;
use spin_sdk::http::Response;
use utoipa::OpenApi;

use crate::api::{channels, distributions, feed_keys, items, pages};
use crate::feeds_api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio publishing service",
        description = "Where published content goes: channels (signed webhooks, RSS/Atom/JSON feeds, the sitemap, newsletters, templated outbound HTTP, CDN purges) with rules, embargoes and approval policies; every (item, channel, version) is a distribution with its status and attempts. Preview links show a draft without signing in; a reader's private feed key brings the paid items they subscribe to into their feeds whole. Errors are RFC 9457 problem details."
    ),
    paths(
        channels::list,
        channels::create,
        channels::get,
        channels::replace,
        channels::delete,
        channels::secrets,
        channels::rotate,
        channels::replay,
        distributions::list,
        distributions::for_item,
        distributions::get,
        distributions::retry,
        items::approval_queue,
        items::decide,
        items::create_preview_link,
        items::preview_links,
        items::revoke_preview_link,
        pages::preview,
        feeds_api::feed,
        feed_keys::create,
        feed_keys::revoke,
        feeds_api::sitemap,
        feeds_api::sitemap_page,
    ),
    modifiers(&BearerAuth)
)]
pub struct PublishingApi;

pub fn document() -> Response {
    folio_guest::openapi::served(PublishingApi::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_described_with_problem_answers() {
        folio_guest::openapi::assert_well_described(&PublishingApi::openapi(), 18);
    }
}
