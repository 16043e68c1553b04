//! Calling a running sidecar: typed clients over HTTP and WebSocket with the bearer token set.
//! Use them through [`crate::api::OzkcpApiClient`], as the `ozkcp` CLI does.

use jsonrpsee::http_client::{HeaderMap, HeaderValue, HttpClient, HttpClientBuilder};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};

use crate::repo::ApiInfo;

/// Errors of connecting.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The token cannot go in a header.
    #[error("the API token is not a valid header value")]
    BadToken,
    /// The transport failed (connection refused, 401 on the WebSocket upgrade, …).
    #[error("cannot reach the sidecar at {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// The cause.
        source: jsonrpsee::core::client::Error,
    },
}

fn auth_headers(info: &ApiInfo) -> Result<HeaderMap, ClientError> {
    let mut headers = HeaderMap::new();
    if !info.token.is_empty() {
        let mut v = HeaderValue::from_str(&format!("Bearer {}", &*info.token))
            .map_err(|_| ClientError::BadToken)?;
        v.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, v);
    }
    Ok(headers)
}

/// An HTTP client of the sidecar at `info`.
pub fn connect_http(info: &ApiInfo) -> Result<HttpClient, ClientError> {
    let url = info.http_url();
    HttpClientBuilder::default()
        .set_headers(auth_headers(info)?)
        .build(&url)
        .map_err(|source| ClientError::Connect { url, source })
}

/// A WebSocket client of the sidecar at `info` (needed for `Ozkcp.DealEvents`).
pub async fn connect_ws(info: &ApiInfo) -> Result<WsClient, ClientError> {
    let url = info.ws_url();
    WsClientBuilder::default()
        .set_headers(auth_headers(info)?)
        .build(&url)
        .await
        .map_err(|source| ClientError::Connect { url, source })
}
