//! The OpenAPI document served at `/openapi.json`, generated from the handlers and the
//! `domain` wire types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::paths::*;
use crate::sse::__path_events;
use crate::tablets::{
    __path_cancel_pairing, __path_create_pairing, __path_device_me, __path_list_devices, __path_pair,
    __path_password_unlock, __path_remove_pin, __path_revoke_device, __path_set_pin, __path_unpair_self,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Hub sync server", description = "The sync contract of Hub (ARCHITECTURE.md). Mutation names and arguments are listed in docs/protocol.md, with the routes of staff tablets (\"Tablets\"): push, pull and events also take a paired tablet's device credential."),
    paths(login, logout, me, push_handler, pull_handler, events, dev_clock_set, dev_clock_release, healthz, metrics,
        create_pairing, pair, list_devices, revoke_device, cancel_pairing, device_me, unpair_self, password_unlock,
        set_pin, remove_pin),
    components(schemas(
        domain::wire::LoginRequest, domain::wire::LoginResponse, domain::wire::UserInfo, domain::wire::MeResponse,
        domain::wire::ChildInfo, domain::wire::UnitRef, domain::wire::Role, domain::wire::UnitKind, domain::wire::Locale,
        domain::wire::PushRequest, domain::wire::PushResponse, domain::wire::MutationEnvelope,
        domain::wire::MutationResult, domain::wire::MutationStatus, domain::wire::PullRequest,
        domain::wire::PullResponse, domain::wire::Change, domain::wire::ChangeOp, domain::wire::ErrorBody,
        domain::wire::ErrorDetail, domain::wire::DevClockRequest, domain::RejectCode,
        domain::wire::CreatePairingRequest, domain::wire::PairingInfo, domain::wire::PairRequest,
        domain::wire::PairResponse, domain::wire::DeviceInfo, domain::wire::DevicesResponse,
        domain::wire::DeviceMeResponse, domain::wire::SetPinRequest, domain::wire::PasswordUnlockRequest,
        domain::wire::PasswordUnlockResponse, domain::pin::PinVerifier, domain::pin::PinState,
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
