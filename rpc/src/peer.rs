//! The peer transport: deal messages between a client sidecar and a provider sidecar over
//! WebSocket. One connection per deal; every binary frame is one CBOR [`Message`]
//! (`ozkcp::messages`), nothing else. The provider listens at `ws://<peer-listen>/peer/v0`; the
//! client connects there and opens with its proposal.
//!
//! Frames over [`PeerLimits::max_frame`] end the connection (the deal errors); text frames,
//! undecodable frames and messages of another deal do too (the node refuses them).
//!
//! [`Message`]: ozkcp::messages::Message

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The path a provider serves deals at.
pub const PEER_PATH: &str = "/peer/v0";

/// Default largest frame: a chunk of the largest chunk size (1 MiB) with its statement and
/// proof, or a manifest of ~20k blocks.
pub const DEFAULT_MAX_FRAME: usize = 2 << 20;

/// Default time a peer may stay silent while we wait for it.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(60);

/// Limits of one peer connection.
#[derive(Debug, Clone, Copy)]
pub struct PeerLimits {
    /// Largest frame (bytes).
    pub max_frame: usize,
    /// How long a peer may stay silent while we wait for it.
    pub idle: Duration,
}

impl Default for PeerLimits {
    fn default() -> Self {
        PeerLimits {
            max_frame: DEFAULT_MAX_FRAME,
            idle: DEFAULT_IDLE,
        }
    }
}

impl PeerLimits {
    fn ws_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_frame))
            .max_frame_size(Some(self.max_frame))
    }
}

/// Errors of the peer transport.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The WebSocket failed (refused connection, bad handshake, oversize frame, reset).
    #[error("peer connection: {0}")]
    Ws(String),
    /// The peer said nothing for too long.
    #[error("the peer was silent for {0:?}")]
    Idle(Duration),
    /// The peer closed the connection.
    #[error("the peer closed the connection")]
    Closed,
    /// The peer sent a text frame.
    #[error("the peer sent a text frame (deal messages are binary CBOR)")]
    Text,
    /// The peer address is not usable.
    #[error("bad peer address {0:?}: expected ws://host:port[/peer/v0] or host:port")]
    Address(String),
}

/// One deal's connection, either side.
pub struct PeerConn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    limits: PeerLimits,
}

impl PeerConn {
    /// Connects to a provider at `addr` (`ws://host:port/peer/v0`, or `host:port`).
    pub async fn connect(addr: &str, limits: PeerLimits) -> Result<Self, PeerError> {
        let url = peer_url(addr)?;
        let (ws, _) = tokio::time::timeout(
            limits.idle,
            tokio_tungstenite::connect_async_with_config(&url, Some(limits.ws_config()), true),
        )
        .await
        .map_err(|_| PeerError::Idle(limits.idle))?
        .map_err(|e| PeerError::Ws(e.to_string()))?;
        Ok(PeerConn { ws, limits })
    }

    /// Accepts a client's connection (the path must be [`PEER_PATH`]).
    pub async fn accept(stream: TcpStream, limits: PeerLimits) -> Result<Self, PeerError> {
        // The callback's signature is tungstenite's.
        #[allow(clippy::result_large_err)]
        let check = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            if req.uri().path() == PEER_PATH {
                Ok(resp)
            } else {
                let mut e = ErrorResponse::new(Some("404 page not found\n".into()));
                *e.status_mut() = http::StatusCode::NOT_FOUND;
                Err(e)
            }
        };
        let ws = tokio::time::timeout(
            limits.idle,
            tokio_tungstenite::accept_hdr_async_with_config(
                MaybeTlsStream::Plain(stream),
                check,
                Some(limits.ws_config()),
            ),
        )
        .await
        .map_err(|_| PeerError::Idle(limits.idle))?
        .map_err(|e| PeerError::Ws(e.to_string()))?;
        Ok(PeerConn { ws, limits })
    }

    /// Sends frames in order and flushes once.
    pub async fn send_all(&mut self, frames: Vec<Vec<u8>>) -> Result<(), PeerError> {
        if frames.is_empty() {
            return Ok(());
        }
        for f in frames {
            self.ws
                .feed(WsMessage::Binary(f.into()))
                .await
                .map_err(|e| PeerError::Ws(e.to_string()))?;
        }
        self.ws
            .flush()
            .await
            .map_err(|e| PeerError::Ws(e.to_string()))
    }

    /// The next binary frame, waiting at most `wait` (the idle limit when `None`).
    pub async fn next(&mut self, wait: Option<Duration>) -> Result<Vec<u8>, PeerError> {
        let wait = wait.unwrap_or(self.limits.idle);
        loop {
            let msg = tokio::time::timeout(wait, self.ws.next())
                .await
                .map_err(|_| PeerError::Idle(wait))?;
            match msg {
                None | Some(Ok(WsMessage::Close(_))) => return Err(PeerError::Closed),
                Some(Err(e)) => return Err(PeerError::Ws(e.to_string())),
                Some(Ok(WsMessage::Binary(b))) => return Ok(b.into()),
                Some(Ok(WsMessage::Text(_))) => return Err(PeerError::Text),
                // Pings are answered by the library; pongs and raw frames carry nothing.
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Closes the connection politely (errors ignored: the deal is decided already).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

/// `ws://host:port/peer/v0` from `ws://…` or `host:port`.
pub fn peer_url(addr: &str) -> Result<String, PeerError> {
    let addr = addr.trim();
    if addr.is_empty() {
        return Err(PeerError::Address(addr.into()));
    }
    if let Some(rest) = addr.strip_prefix("ws://") {
        if rest.contains('/') {
            return Ok(addr.to_string());
        }
        return Ok(format!("{addr}{PEER_PATH}"));
    }
    if addr.contains("://") || addr.contains('/') {
        return Err(PeerError::Address(addr.into()));
    }
    Ok(format!("ws://{addr}{PEER_PATH}"))
}
