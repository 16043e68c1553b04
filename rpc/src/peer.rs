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

use std::sync::{Arc, Mutex};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use ozkcp::node::Outbox;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
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

/// Frames read ahead of the deal's task (about one interval of 16 KiB chunks): reading goes on
/// while the node verifies or encrypts, so the peer's sends do not stall on a full socket.
const READ_AHEAD: usize = 256;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One deal's connection, either side.
///
/// A reader task and a writer task own the socket: frames arrive while the deal's task is busy,
/// and frames a node produces leave as soon as they are made ([`PeerConn::sender`]), not when the
/// node's step is over.
pub struct PeerConn {
    inbox: mpsc::Receiver<Result<Vec<u8>, PeerError>>,
    outbox: PeerSender,
    writer: JoinHandle<()>,
    _reader: AbortOnDrop,
    limits: PeerLimits,
    /// How the connection ended, once `try_next` saw it.
    ended: Option<PeerError>,
}

/// Stops the reader when the connection is dropped (a silent peer would keep it waiting).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Queues frames for the peer, in order (cheap to clone; sending never blocks).
#[derive(Clone)]
pub struct PeerSender {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    failed: Arc<Mutex<Option<String>>>,
}

impl PeerSender {
    /// Why the connection can no longer send, if it cannot.
    pub fn failure(&self) -> Option<PeerError> {
        if let Some(e) = self.failed.lock().expect("not poisoned").clone() {
            return Some(PeerError::Ws(e));
        }
        self.tx.is_closed().then_some(PeerError::Closed)
    }
}

impl Outbox for PeerSender {
    fn push(&mut self, frame: Vec<u8>) {
        // A closed connection is noticed by `failure` and by the reader.
        let _ = self.tx.send(frame);
    }
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
        Ok(Self::run(ws, limits))
    }

    /// Completes the handshake of a client that connected to our listener; only [`PEER_PATH`]
    /// is served.
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
        Ok(Self::run(ws, limits))
    }

    fn run(ws: Ws, limits: PeerLimits) -> Self {
        let (sink, stream) = ws.split();
        let (in_tx, inbox) = mpsc::channel(READ_AHEAD);
        let (tx, out_rx) = mpsc::unbounded_channel();
        let failed = Arc::new(Mutex::new(None));
        let reader = AbortOnDrop(tokio::spawn(read_frames(stream, in_tx)));
        let writer = tokio::spawn(write_frames(sink, out_rx, failed.clone()));
        PeerConn {
            inbox,
            outbox: PeerSender { tx, failed },
            writer,
            _reader: reader,
            limits,
            ended: None,
        }
    }

    /// Where a node's frames go: straight to the writer.
    pub fn sender(&mut self) -> &mut PeerSender {
        &mut self.outbox
    }

    /// Sends frames in order; an error if the connection can no longer send.
    pub fn send_all(&mut self, frames: Vec<Vec<u8>>) -> Result<(), PeerError> {
        if let Some(e) = self.outbox.failure() {
            return Err(e);
        }
        for f in frames {
            self.outbox.push(f);
        }
        Ok(())
    }

    /// The next binary frame, waiting at most `wait` (the idle limit when `None`).
    pub async fn next(&mut self, wait: Option<Duration>) -> Result<Vec<u8>, PeerError> {
        if let Some(e) = self.ended.take() {
            return Err(e);
        }
        let wait = wait.unwrap_or(self.limits.idle);
        match tokio::time::timeout(wait, self.inbox.recv()).await {
            Err(_) => Err(PeerError::Idle(wait)),
            Ok(None) => Err(PeerError::Closed),
            Ok(Some(r)) => r,
        }
    }

    /// The next frame if one has arrived already; `None` if none has or the connection ended
    /// (the end is then what [`next`](Self::next) returns).
    pub fn try_next(&mut self) -> Option<Result<Vec<u8>, PeerError>> {
        match self.inbox.try_recv() {
            Ok(Ok(f)) => Some(Ok(f)),
            Ok(Err(e)) => {
                // Keep the end for `next`: nothing arrives after it.
                self.ended = Some(e);
                None
            }
            Err(_) => None,
        }
    }

    /// Sends what is queued, then closes the connection politely (errors ignored: the deal is
    /// decided already).
    pub async fn close(self) {
        let PeerConn {
            outbox, mut writer, ..
        } = self;
        drop(outbox);
        if tokio::time::timeout(Duration::from_secs(2), &mut writer)
            .await
            .is_err()
        {
            writer.abort();
        }
    }
}

/// Reads frames into `inbox` until the connection ends (the end is the last item).
async fn read_frames(mut stream: SplitStream<Ws>, inbox: mpsc::Sender<Result<Vec<u8>, PeerError>>) {
    loop {
        let item = match stream.next().await {
            None | Some(Ok(WsMessage::Close(_))) => Err(PeerError::Closed),
            Some(Err(e)) => Err(PeerError::Ws(e.to_string())),
            Some(Ok(WsMessage::Binary(b))) => Ok(b.into()),
            Some(Ok(WsMessage::Text(_))) => Err(PeerError::Text),
            // Pings are answered by the library; pongs and raw frames carry nothing.
            Some(Ok(_)) => continue,
        };
        let end = item.is_err();
        if inbox.send(item).await.is_err() || end {
            return;
        }
    }
}

/// Writes queued frames, flushing whenever the queue runs dry; closes the connection once every
/// sender is gone.
async fn write_frames(
    mut sink: SplitSink<Ws, WsMessage>,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
    failed: Arc<Mutex<Option<String>>>,
) {
    let r: Result<(), tokio_tungstenite::tungstenite::Error> = async {
        while let Some(f) = queue.recv().await {
            sink.feed(WsMessage::Binary(f.into())).await?;
            while let Ok(f) = queue.try_recv() {
                sink.feed(WsMessage::Binary(f.into())).await?;
            }
            sink.flush().await?;
        }
        sink.close().await
    }
    .await;
    if let Err(e) = r {
        *failed.lock().expect("not poisoned") = Some(e.to_string());
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
