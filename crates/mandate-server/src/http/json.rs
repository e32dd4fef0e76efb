//! `ApiJson<T>`: axum's JSON extractor with its rejections turned into `{"error": "..."}`.
//!
//! Malformed JSON and JSON of the wrong shape are both 400 (an agent cannot act differently on
//! them); a wrong content type is 415 and an oversized body 413. Quoted values are cut out of
//! serde's messages, because a value in the wrong field can be a secret.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(rejection_to_error(rejection)),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn rejection_to_error(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(format!(
            "malformed JSON: {}",
            without_quoted_values(&e.body_text())
        )),
        JsonRejection::JsonDataError(e) => ApiError::bad_request(format!(
            "invalid request body: {}",
            without_quoted_values(&e.body_text())
        )),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a JSON body with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
        }
        other => {
            ApiError::bad_request(format!("cannot read the request body ({})", other.status()))
        }
    }
}

/// Replace every `"..."` in a serde message by `"…"`; field names (in backticks) stay.
fn without_quoted_values(message: &str) -> String {
    // axum prefixes serde's message with its own context; keep only serde's part.
    let message = [
        "Failed to deserialize the JSON body into the target type: ",
        "Failed to parse the request body as JSON: ",
    ]
    .iter()
    .find_map(|prefix| message.strip_prefix(prefix))
    .unwrap_or(message);
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…");
            }
            inside = !inside;
            if !inside {
                out.push('"');
            }
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// A query string that did not parse (unknown field, wrong type) as a 400 naming the problem.
pub fn query<T>(
    q: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|axum::extract::Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
}

/// A list's `limit`: `default` when absent, else 1 to `max` (a 400 naming the range).
pub fn page_limit(given: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = given.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {max}"
        )));
    }
    Ok(limit)
}

/// The longest `reason` a person or agent may give (a decision, a permission request).
pub const MAX_REASON: usize = 500;

/// An optional `reason`: trimmed; empty is none; longer than [`MAX_REASON`] is a 400.
pub fn optional_reason(given: Option<&str>) -> Result<Option<String>, ApiError> {
    let reason = given.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON) {
        return Err(ApiError::bad_request(format!(
            "`reason` is at most {MAX_REASON} characters"
        )));
    }
    Ok(reason.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_removed_and_field_names_kept() {
        assert_eq!(
            without_quoted_values(
                "invalid type: string \"sk-live-123\", expected u32 at line 1 column 20"
            ),
            "invalid type: string \"…\", expected u32 at line 1 column 20"
        );
        assert_eq!(
            without_quoted_values(
                "Failed to deserialize the JSON body into the target type: missing field `name` at line 1 column 2"
            ),
            "missing field `name` at line 1 column 2"
        );
    }
}
