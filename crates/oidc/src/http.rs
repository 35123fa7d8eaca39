//! Reading identity-provider responses without trusting their size.

use crate::error::{Endpoint, OidcError};

/// The largest response body read from any identity-provider endpoint. Discovery documents,
/// JWKS and token responses are a few kilobytes; a megabyte leaves room for big key sets while
/// keeping a misbehaving endpoint from exhausting memory.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Reads the whole body, failing as soon as it exceeds `limit` (by `Content-Length` or while
/// streaming, since the header can be absent or wrong).
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    endpoint: Endpoint,
    limit: usize,
) -> Result<Vec<u8>, OidcError> {
    let too_large = OidcError::ResponseTooLarge { endpoint, limit };
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|source| OidcError::Http { endpoint, source })?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Sends a request and returns the status and the bounded body.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    endpoint: Endpoint,
) -> Result<(reqwest::StatusCode, Vec<u8>), OidcError> {
    let response = request
        .send()
        .await
        .map_err(|source| OidcError::Http { endpoint, source })?;
    let status = response.status();
    let body = read_bounded(response, endpoint, MAX_BODY_BYTES).await?;
    Ok((status, body))
}
