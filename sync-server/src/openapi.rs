//! The OpenAPI document served at `/openapi.json`, generated from the handlers and the
//! `domain` wire types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::paths::*;
use crate::sse::__path_events;

#[derive(OpenApi)]
#[openapi(
    info(title = "Hub sync server", description = "The sync contract of Hub (ARCHITECTURE.md). Mutation names and arguments are listed in docs/protocol.md."),
    paths(login, logout, me, push_handler, pull_handler, events, dev_clock_set, dev_clock_release, healthz, metrics),
    components(schemas(
        domain::wire::LoginRequest, domain::wire::LoginResponse, domain::wire::UserInfo, domain::wire::MeResponse,
        domain::wire::ChildInfo, domain::wire::UnitRef, domain::wire::Role, domain::wire::UnitKind, domain::wire::Locale,
        domain::wire::PushRequest, domain::wire::PushResponse, domain::wire::MutationEnvelope,
        domain::wire::MutationResult, domain::wire::MutationStatus, domain::wire::PullRequest,
        domain::wire::PullResponse, domain::wire::Change, domain::wire::ChangeOp, domain::wire::ErrorBody,
        domain::wire::ErrorDetail, domain::wire::DevClockRequest, domain::RejectCode,
    )),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
