//! One client connection, from accept to close.
//!
//! pgwire decodes messages and calls our handlers; this module runs its message loop itself
//! (with pgwire's `negotiate_tls`, `process_message` and `process_error`) for what that loop
//! does not do:
//! - **Panics stay in their session.** A message the decoder cannot read (pgwire 0.41 panics
//!   on a truncated Bind, reading past the message) ends the connection with FATAL 08P01, as
//!   PostgreSQL answers a malformed message; a bug that panics in a handler ends it with FATAL
//!   XX000. Either way the panic is logged and the node goes on. Broken storage or Raft
//!   invariants are not caught here: they stop the node where they are asserted.
//! - **A client that goes away stops its statement.** While a statement runs nobody reads the
//!   socket, so [`watch_peer`] peeks at a duplicate of it: end of stream or an error marks the
//!   connection gone, and `with_session` (server.rs) drops the statement as a cancel does. A
//!   peek sees the end of the stream only once nothing unread is ahead of it: a client that
//!   pipelined more messages and then vanished is seen when those are read (a reset
//!   connection, an error, is seen at once).
//!
//! - **`idle_in_transaction_session_timeout`**: a session that sits in an open transaction
//!   longer than that between statements is ended with FATAL 25P03, as in PostgreSQL, so a
//!   client that stopped mid-transaction does not keep its row locks.
//!
//! - **TLS and logins** (secure nodes): PostgreSQL's SSLRequest is answered with the node's
//!   certificate; who may log in is the startup handler's check (server.rs, `authenticate`), and
//!   a failed startup ends the connection.
//!
//! The startup deadline is pgwire's: a client that has not finished startup within a minute is
//! dropped.

use crate::error::code;
use futures::FutureExt;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::{ClientInfo, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::PgWireResult;
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::{DecodeContext, PgWireFrontendMessage};
use pgwire::tokio::server::{negotiate_tls, process_error, process_message, PgWireMessageServerCodec};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;

/// How long a client has to finish startup (pgwire's own bound).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a connection whose client sent data ahead (pipelining) is peeked at again.
const PEER_PROBE_INTERVAL: Duration = Duration::from_millis(500);

tokio::task_local! {
    /// Whether the client of the connection this task serves has gone away.
    static PEER_GONE: watch::Receiver<bool>;
}

/// Resolves once the client of the current connection has gone away; never outside one, or if
/// its socket cannot be watched.
pub async fn peer_gone() {
    let Ok(mut gone) = PEER_GONE.try_with(Clone::clone) else {
        return std::future::pending().await;
    };
    if gone.wait_for(|gone| *gone).await.is_err() {
        // The watcher could not start (its sender is gone without a verdict).
        std::future::pending::<()>().await;
    }
}

/// Serves one accepted connection to its end.
pub async fn run<H: PgWireServerHandlers>(socket: TcpStream, peer: SocketAddr, tls: Option<TlsAcceptor>, handlers: H) {
    let (gone_sender, gone) = watch::channel(false);
    let watcher = match duplicate(&socket) {
        Ok(probe) => Some(tokio::spawn(watch_peer(probe, gone_sender))),
        Err(error) => {
            tracing::warn!(%error, %peer, "sql: cannot watch the connection; a statement outlives its client");
            None
        }
    };
    if let Err(error) = PEER_GONE.scope(gone, serve(socket, peer, tls, handlers)).await {
        tracing::debug!(%error, %peer, "sql: connection ended with an error");
    }
    // The duplicate holds the socket open: it closes with the watcher.
    if let Some(watcher) = watcher {
        watcher.abort();
    }
}

/// Answers a connection over the node's limit as PostgreSQL does past `max_connections`: its
/// startup message is read, then FATAL 53300, then the socket closes. A cancel request is
/// still served (PostgreSQL does not count those either).
pub async fn refuse<H: PgWireServerHandlers>(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    connections_max: usize,
    handlers: H,
) {
    let refused = async {
        let Some(mut socket) = negotiate_tls::<()>(socket, tls).await? else { return Ok(()) };
        let first = AssertUnwindSafe(next_message(&mut socket)).catch_unwind().await;
        if let Ok(Ok(Some(PgWireFrontendMessage::CancelRequest(request)))) = first {
            handlers.cancel_handler().on_cancel_request(request).await;
            return Ok(());
        }
        let message = format!("sorry, too many clients already (this node serves {connections_max} connections)");
        process_error(&mut socket, fatal(code::TOO_MANY_CONNECTIONS, &message), false).await
    };
    if let Ok(Err(error)) = tokio::time::timeout(STARTUP_TIMEOUT, refused).await {
        tracing::debug!(%error, "sql: refusing a connection failed");
    }
}

/// A second handle on the same socket, for peeking without taking bytes from pgwire.
fn duplicate(socket: &TcpStream) -> std::io::Result<TcpStream> {
    use std::os::fd::AsFd;
    let std_socket = std::net::TcpStream::from(socket.as_fd().try_clone_to_owned()?);
    std_socket.set_nonblocking(true)?;
    TcpStream::from_std(std_socket)
}

async fn watch_peer(probe: TcpStream, gone: watch::Sender<bool>) {
    let mut byte = [0u8; 1];
    loop {
        match probe.peek(&mut byte).await {
            Ok(0) | Err(_) => {
                gone.send_replace(true);
                return;
            }
            // Unread data: the client is there (or sent its close after it); look again later.
            Ok(_) => tokio::time::sleep(PEER_PROBE_INTERVAL).await,
        }
    }
}

/// The next client message, cut from the stream and checked by [`crate::frame`] before pgwire
/// decodes exactly its bytes; `None` at the end of the stream.
async fn next_message<S, C>(
    socket: &mut Framed<S, PgWireMessageServerCodec<C>>,
) -> PgWireResult<Option<PgWireFrontendMessage>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static,
{
    let protocol_violation = |what: &str| fatal(code::PROTOCOL_VIOLATION, what);
    loop {
        let state = socket.state();
        let untyped =
            matches!(state, PgWireConnectionState::AwaitingSslRequest | PgWireConnectionState::AwaitingStartup);
        let cut = crate::frame::split(socket.read_buffer_mut(), untyped).map_err(|e| protocol_violation(&e.0))?;
        let Some(mut message) = cut else {
            let mut chunk = [0u8; 8192];
            let read = socket.get_mut().read(&mut chunk).await?;
            if read == 0 {
                return Ok(None);
            }
            socket.read_buffer_mut().extend_from_slice(&chunk[..read]);
            continue;
        };
        crate::frame::check(&message, untyped).map_err(|e| protocol_violation(&e.0))?;
        // What pgwire's codec tells its decoder, from the same connection state.
        let mut context = DecodeContext::new(socket.protocol_version());
        context.awaiting_frontend_ssl = matches!(state, PgWireConnectionState::AwaitingSslRequest);
        context.awaiting_frontend_startup = untyped;
        return match PgWireFrontendMessage::decode(&mut message, &context)? {
            Some(decoded) if message.is_empty() => Ok(Some(decoded)),
            _ => Err(protocol_violation("invalid message format")),
        };
    }
}

fn fatal(code: &str, message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message.into())))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str)).unwrap_or("?")
}

/// pgwire's message loop (`process_socket`), with decoding and handling kept from unwinding
/// past the connection.
async fn serve<H: PgWireServerHandlers>(
    socket: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    handlers: H,
) -> std::io::Result<()> {
    let startup_deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_deadline);
    let negotiated = tokio::select! {
        () = &mut startup_deadline => return Ok(()),
        negotiated = negotiate_tls(socket, tls) => negotiated?,
    };
    let Some(mut socket) = negotiated else { return Ok(()) };
    let (startup, simple, extended, copy, cancel) = (
        handlers.startup_handler(),
        handlers.simple_query_handler(),
        handlers.extended_query_handler(),
        handlers.copy_handler(),
        handlers.cancel_handler(),
    );
    loop {
        let starting = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup | PgWireConnectionState::AuthenticationInProgress
        );
        let idle_limit = match socket.transaction_status() {
            TransactionStatus::Transaction | TransactionStatus::Error => {
                crate::server::idle_in_transaction_timeout(&socket)
            }
            TransactionStatus::Idle => None,
        };
        let next = AssertUnwindSafe(next_message(&mut socket)).catch_unwind();
        let decoded = if starting {
            tokio::select! {
                () = &mut startup_deadline => return Ok(()),
                decoded = next => decoded,
            }
        } else if let Some(limit) = idle_limit {
            match tokio::time::timeout(limit, next).await {
                Ok(decoded) => decoded,
                Err(_) => {
                    // PostgreSQL ends the session; its transaction rolls back and its locks go.
                    let message = "terminating connection due to idle-in-transaction timeout";
                    return process_error(&mut socket, fatal(code::IDLE_IN_TRANSACTION_TIMEOUT, message), false).await;
                }
            }
        } else {
            next.await
        };
        let message = match decoded {
            Ok(Ok(Some(message))) => message,
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(error)) => {
                tracing::debug!(%error, %peer, "sql: undecodable message");
                return process_error(&mut socket, fatal(code::PROTOCOL_VIOLATION, &error.to_string()), false).await;
            }
            Err(panic) => {
                tracing::warn!(%peer, panic = panic_message(panic.as_ref()), "sql: malformed message; connection closed");
                return process_error(&mut socket, fatal(code::PROTOCOL_VIOLATION, "invalid message format"), false)
                    .await;
            }
        };
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            return Ok(());
        }
        let in_extended = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        let handled = AssertUnwindSafe(process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        ))
        .catch_unwind()
        .await;
        match handled {
            Ok(Ok(())) => {}
            // A failed startup (authentication) ends the connection, as in PostgreSQL.
            Ok(Err(error)) if starting => return process_error(&mut socket, error, false).await,
            Ok(Err(error)) => process_error(&mut socket, error, in_extended).await?,
            Err(panic) => {
                let panic = panic_message(panic.as_ref());
                tracing::error!(%peer, panic, "sql: a statement panicked; its connection is closed (a bug)");
                let message = format!("internal error: {panic}");
                return process_error(&mut socket, fatal(code::INTERNAL_ERROR, &message), in_extended).await;
            }
        }
    }
}
