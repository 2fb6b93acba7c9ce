//! The shapes of request and response bodies, as the OpenAPI document shows
//! them. Handlers read requests field by field (so a 422 names the field) and
//! answer with these types.

use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::UserView;

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct RegisterRequest {
    /// Case-insensitive; at most 254 characters.
    pub email: String,
    /// At least 12 characters, not a common password, not containing the email or names.
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// When the account has MFA, login answers this instead of tokens.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaChallengeResponse {
    /// Always true.
    pub mfa_required: bool,
    /// Completes the login at `POST /api/v1/auth/mfa`.
    pub mfa_token: String,
    pub expires_in: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum LoginResponse {
    Tokens(crate::tokens::TokenPair),
    Mfa(MfaChallengeResponse),
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct MfaRequest {
    pub mfa_token: String,
    /// The current TOTP code; or give `recoveryCode`.
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Without a body, the session of the bearer access token ends.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct LogoutRequest {
    pub refresh_token: Option<String>,
}

/// RFC 6749 §4.4, `application/x-www-form-urlencoded` (JSON also accepted).
/// The client authenticates with HTTP Basic or `client_id` + `client_secret`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// `client_credentials`.
    pub grant_type: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated; a subset of the client's scopes (default: all of them).
    pub scope: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceTokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

/// RFC 6749 §5.2.
#[derive(Serialize, ToSchema)]
pub struct OAuthError {
    pub error: String,
    pub error_description: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct PasswordResetConfirmation {
    /// The token from the reset link.
    pub token: String,
    pub new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub message: &'static str,
}

/// The answer to every valid registration, whether or not the email already
/// had an account (so it cannot be used to find out which emails do).
#[derive(Serialize, ToSchema)]
pub struct RegistrationAccepted {
    pub message: &'static str,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ProfileChange {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotpEnrolment {
    /// Base32, for manual entry.
    pub secret: String,
    /// For QR codes.
    pub otpauth_uri: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TotpCode {
    pub code: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    /// Each works once, in place of a TOTP code. Shown only now.
    pub recovery_codes: Vec<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct SecondFactor {
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct UserChange {
    /// `admin`, `creator` or `consumer`.
    pub role: Option<String>,
    /// `active`, `inactive` or `suspended`.
    pub status: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub page: u32,
    pub limit: u32,
    pub total: i64,
    pub total_pages: i64,
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    pub pagination: Pagination,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ClientRegistration {
    pub name: String,
    /// Each 1-64 letters, digits, `:`, `.`, `_` or `-`.
    pub scopes: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredClient {
    pub client_id: String,
    /// Shown only now; stored hashed.
    pub client_secret: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ClientList {
    pub items: Vec<crate::clients::ServiceClient>,
}

pub use folio_guest::openapi::ProblemDetails;

/// What anyone may know of an account that can author content.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicProfile {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProfileList {
    pub items: Vec<PublicProfile>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenClaims {
    /// The user id, or the service client id.
    pub subject: String,
    pub role: String,
    pub session_id: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
}
