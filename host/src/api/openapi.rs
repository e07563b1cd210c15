//! The API document's frame: title, bearer scheme, tags. The paths and schemas come from
//! the handlers themselves (`#[utoipa::path]`, registered with the routes in one call), so
//! a route cannot exist without being documented, nor be documented without existing.

use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, ResponseBuilder};

/// The one tag whose routes need no token.
const OPEN_TAG: &str = "operations";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Proactive public services platform",
        description = "Events from state systems, SMS gateway webhooks, case reads for agencies, \
                       and the admin API for plugin versions. Every call but the operations \
                       routes needs a bearer token; its role decides what it may do.",
    ),
    tags(
        (name = "events", description = "Life events from state systems (event-source tokens)"),
        (name = "cases", description = "An agency's own cases (agency and admin tokens)"),
        (name = "sms", description = "SMS gateway webhooks (gateway tokens)"),
        (name = "admin", description = "Plugin versions and hot reload (agency and admin tokens)"),
        (name = OPEN_TAG, description = "Probes, metrics and this document (no token)"),
    ),
)]
pub struct ApiDoc;

/// Every route outside [`OPEN_TAG`] takes a bearer token and answers 401 without one (the
/// `Principal` extractor), so that is said here once rather than on every handler. Run on
/// the finished document: derive-time modifiers see no paths yet.
pub fn require_bearer(openapi: &mut utoipa::openapi::OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    for item in openapi.paths.paths.values_mut() {
        for op in [&mut item.get, &mut item.post, &mut item.put, &mut item.delete].into_iter().flatten() {
            if op.tags.iter().flatten().any(|t| t == OPEN_TAG) {
                continue;
            }
            op.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
            let unauthorized = ResponseBuilder::new()
                .description("No valid bearer token")
                .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
                .build();
            op.responses.responses.insert("401".into(), unauthorized.into());
        }
    }
}
