//! The OpenAPI 3.1 document of this service, generated from the handlers'
//! `#[utoipa::path]` annotations and the types their answers serialize;
//! served at `GET /api/v1/openapi/notifications.json`.

use folio_guest::openapi::BearerAuth;
use spin_sdk::http::Response;
use utoipa::OpenApi;

use crate::api::{inbox, log, push, settings, templates, unsubscribe};
use crate::stream;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio notification service",
        description = "Email, web push and in-app notifications. A user reads their inbox (also live, as Server-Sent Events), sets which categories reach them on which channel, quiet hours and digests, follows authors and categories, and registers browsers for push. Admins edit the templates per locale, read the delivery log and broadcast. Errors are RFC 9457 problem details."
    ),
    paths(
        inbox::list,
        inbox::broadcast,
        inbox::unread_count,
        inbox::read,
        inbox::read_all,
        inbox::stream_ticket,
        stream::serve,
        push::vapid_public_key,
        push::subscribe,
        push::list,
        push::unsubscribe,
        settings::get_preferences,
        settings::put_preferences,
        settings::list_follows,
        settings::follow,
        settings::unfollow,
        templates::list,
        templates::get,
        templates::put,
        templates::delete,
        templates::preview,
        log::deliveries,
        unsubscribe::page,
        unsubscribe::one_click,
    ),
    modifiers(&BearerAuth)
)]
pub struct NotificationsApi;

pub fn document() -> Response {
    folio_guest::openapi::served(NotificationsApi::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_described_with_problem_answers() {
        folio_guest::openapi::assert_well_described(&NotificationsApi::openapi(), 16);
    }
}
