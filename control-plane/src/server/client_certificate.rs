//! `POST /api/v1/clientcertificates`: the cluster CA signs a client certificate for a tool's
//! public key, e.g. Prometheus scraping the nodes' agents of a TLS cluster (see
//! [`wasmpod_api::client_certificate`]). Admin only (see [`super::auth`]). The certificate names
//! `<name>.clients.wasmpod`, for client authentication only; a name that is not a DNS label is
//! 422. Each certificate is recorded (serial, name, end) so that `DELETE
//! /api/v1/clientcertificates/NAME` can revoke it (see [`super::certificate_revocation`]). A
//! server without TLS has no CA and answers 404.

use super::objects::body;
use super::{ApiError, AppState, Identity};
use crate::cluster_ca::CaError;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::{Extension, Json};
use base64::Engine as _;
use chrono::{NaiveTime, Utc};
use wasmpod_api::client_certificate::{
    ClientCertificateRequest, IssuedClientCertificate, DEFAULT_VALID_DAYS,
};
use wasmpod_api::revocation::CertificateKind;
use wasmpod_api::tls::certificate_pem;
use wasmpod_api::Name;

pub async fn create(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    payload: Result<Json<ClientCertificateRequest>, JsonRejection>,
) -> Result<Json<IssuedClientCertificate>, ApiError> {
    let request = body(payload)?;
    let name = Name::try_from(request.name.as_str()).map_err(|e| {
        ApiError::invalid(format!(
            "client certificate name {:?}: {e} (it becomes the DNS name NAME.clients.wasmpod)",
            request.name
        ))
    })?;
    let Some(authority) = state.authority.clone() else {
        return Err(ApiError::not_found(
            "this server has no cluster CA (it serves plain HTTP): its nodes' agents speak plain \
             HTTP too, scrape them without a certificate",
        ));
    };
    let public_key = base64::engine::general_purpose::STANDARD
        .decode(&request.public_key)
        .map_err(|e| ApiError::invalid(format!("publicKey is not base64: {e}")))?;
    let valid_days = request.valid_days.unwrap_or(DEFAULT_VALID_DAYS);
    let ca_pem = authority.certificate().pem();
    let today = Utc::now().date_naive();
    let signer = name.clone();
    // Recorded before it is handed out, so it can be revoked (see
    // [`crate::issued_certificates`]).
    let signed = tokio::task::spawn_blocking(move || {
        let signed = authority
            .sign_client(&signer, &public_key, valid_days, today)
            .map_err(|e| match e {
                CaError::PublicKey(_) | CaError::Validity { .. } => {
                    ApiError::invalid(e.to_string())
                }
                other => ApiError::internal(&other),
            })?;
        authority
            .issued()
            .record(
                CertificateKind::Client,
                signer.as_str(),
                &signed.serial,
                signed.not_after.and_time(NaiveTime::MIN).and_utc(),
                Utc::now(),
            )
            .map_err(|e| ApiError::internal(&e))?;
        Ok::<_, ApiError>(signed)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    tracing::info!(client = %name, dns_name = %signed.dns_name, serial = %signed.serial,
        not_after = %signed.not_after, by = %identity, "client certificate issued");
    Ok(Json(IssuedClientCertificate {
        dns_name: signed.dns_name,
        certificate_pem: certificate_pem(&signed.certificate),
        ca_pem,
        not_after: signed.not_after.and_time(NaiveTime::MIN).and_utc(),
    }))
}
