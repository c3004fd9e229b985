//! The OpenAPI 3 document served at `/api/v1/openapi.json` (T/CI 857-2024 7.2.3: the node's
//! interfaces are described and discoverable). Every operation requires the bearer scheme unless
//! it says otherwise (health check, this document, login).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{api, error};

/// Registers the bearer-token scheme the operations refer to.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "Session token from POST /api/v1/auth/login; ends on logout or idle timeout",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "mutualTLS",
            SecurityScheme::MutualTls {
                description: Some(
                    "Client certificate issued under the node's peer CA ([tls] peer_ca), on the \
                     peer listener ([tls] peer_listen)"
                        .into(),
                ),
                extensions: None,
            },
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "medspace node API",
        description = "Trusted data space node for healthcare and medical-insurance data \
            (GB/T 39725-2020, T/CI 857-2024). HTTPS only (TLS 1.2 and 1.3). Send \
            `Authorization: Bearer <token>` from POST /api/v1/auth/login; every call is checked \
            against the caller's role and approved applications, and audited. Errors are \
            `{\"error\": kind, \"message\": …}`. Peer nodes call the peer endpoints on the \
            peer listener with mutual TLS."
    ),
    modifiers(&BearerScheme),
    security(("bearer" = [])),
    paths(
        api::healthz,
        api::openapi_json,
        crate::accounts_api::login,
        crate::accounts_api::login_totp,
        crate::accounts_api::totp_enrol,
        crate::accounts_api::totp_confirm,
        crate::accounts_api::unlock,
        crate::accounts_api::totp_reset,
        crate::accounts_api::validity,
        crate::accounts_api::list_tokens,
        crate::accounts_api::create_token,
        crate::accounts_api::revoke_token,
        crate::accounts_api::map_certificate,
        crate::accounts_api::peer_account,
        api::logout,
        api::change_password,
        api::list_users,
        api::create_user,
        api::list_datasets,
        api::ingest,
        api::get_dataset,
        api::deidentify,
        api::dataset_risk,
        api::destroy_dataset,
        api::approve_destruction,
        crate::grading_api::current,
        crate::grading_api::history,
        crate::grading_api::statuses,
        crate::grading_api::override_column,
        crate::grading_api::confirm,
        crate::grading_api::decide,
        crate::patients_api::records,
        crate::patients_api::register_record,
        crate::patients_api::add_consent,
        crate::patients_api::list_consents,
        crate::patients_api::consents_fhir,
        crate::patients_api::import_consent_fhir,
        crate::patients_api::revoke_consent,
        crate::patients_api::policies,
        crate::patients_api::add_policies,
        crate::patients_api::remove_policy,
        crate::patients_api::attributes,
        crate::patients_api::set_attributes,
        crate::patients_api::alerts,
        crate::patients_api::review_alert,
        crate::patients_api::request_access,
        crate::patients_api::access_requests,
        crate::patients_api::decide_access_request,
        crate::reident_api::request,
        crate::reident_api::list,
        crate::reident_api::decide,
        crate::reident_api::resolve,
        crate::self_service_api::send_code,
        crate::self_service_api::login,
        crate::self_service_api::my_records,
        crate::self_service_api::download,
        crate::self_service_api::disclosures,
        crate::self_service_api::file_request,
        crate::self_service_api::create_account,
        crate::self_service_api::link_ward,
        crate::self_service_api::requests,
        crate::self_service_api::resolve,
        crate::self_service_api::set_credentials,
        api::key_status,
        api::list_applications,
        api::apply,
        api::decide_application,
        api::granted_tables,
        api::query,
        api::list_exports,
        api::request_export,
        api::decide_export,
        api::download_export,
        api::audit_entries,
        api::audit_verify,
        crate::audit_api::checkpoint,
        crate::audit_api::inclusion_proof,
        crate::audit_api::consistency_proof,
        crate::audit_api::events,
        crate::audit_api::subject_history,
        crate::witness_api::add_checkpoint,
        api::peer_identity,
    ),
    components(schemas(
        error::ErrorBody,
        crate::audit_api::SubjectHistoryRequest,
        api::HealthResponse,
        crate::accounts_api::LoginBody,
        crate::accounts_api::LoginStepResponse,
        crate::accounts_api::TotpLoginBody,
        crate::accounts_api::TotpEnrolmentResponse,
        crate::accounts_api::CodeBody,
        crate::accounts_api::ValidityBody,
        crate::accounts_api::ApiTokenInfo,
        crate::accounts_api::CreateTokenBody,
        crate::accounts_api::CreateTokenResponse,
        crate::accounts_api::MapCertificateBody,
        api::UserRef,
        api::OkResponse,
        api::PasswordRequest,
        api::UserView,
        api::CreateUserRequest,
        api::CreateUserResponse,
        api::DeidentifyRequest,
        api::RiskRequest,
        api::DeidentifyResponse,
        api::DestroyRequest,
        api::DestructionApprovalRequest,
        api::DestructionApprovals,
        crate::grading_api::GradingStatusView,
        crate::grading_api::OverrideRequest,
        crate::grading_api::ConfirmRequest,
        crate::patients_api::RecordCreated,
        crate::patients_api::ReasonRequest,
        crate::patients_api::AddPoliciesRequest,
        crate::patients_api::ReviewRequest,
        crate::patients_api::AccessDecisionRequest,
        crate::reident_api::ReidentificationBody,
        crate::reident_api::ReidentificationDecision,
        crate::self_service_api::MobileBody,
        crate::self_service_api::CodeLoginBody,
        crate::self_service_api::CodeSent,
        crate::self_service_api::SubjectRequestBody,
        crate::self_service_api::Filed,
        crate::self_service_api::WardBody,
        crate::self_service_api::ResolveBody,
        crate::self_service_api::CredentialsBody,
        api::ApplyRequest,
        api::DecisionRequest,
        api::QueryRequest,
        api::QueryResponse,
        api::ExportRequestBody,
        api::AuditVerifyResponse,
        crate::peer::PeerIdentity,
        crate::certinfo::CertInfo,
    ))
)]
struct ApiDoc;

/// The API description.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn public_operations_need_no_token_and_the_rest_need_the_bearer_scheme() {
        let doc = serde_json::to_value(openapi()).unwrap();
        assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        for (path, method) in [
            ("/healthz", "get"),
            ("/api/v1/openapi.json", "get"),
            ("/api/v1/auth/login", "post"),
            ("/api/v1/audit/checkpoint", "get"),
            ("/api/v1/witness/add-checkpoint", "post"),
        ] {
            assert_eq!(
                doc["paths"][path][method]["security"],
                serde_json::json!([{}]),
                "{path}"
            );
        }
        assert!(doc["paths"]["/api/v1/users"]["get"]
            .get("security")
            .is_none());
        // The peer endpoint is authenticated by the peer's certificate (mutual TLS).
        assert_eq!(
            doc["paths"]["/api/v1/peer/identity"]["get"]["security"],
            serde_json::json!([{"mutualTLS": []}])
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["mutualTLS"]["type"],
            "mutualTLS"
        );
    }
}
