//! The HTTP endpoint: `/metrics` (Prometheus text), `/health`, and fault injection.

use crate::node::NodeContext;
use atoll_types::FIRST_RANGE_ID;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use prometheus::Encoder;
use std::sync::Arc;

/// A client has this long to finish its TLS handshake and send its request head.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `router` over TLS on `listener` (secure nodes), one task per connection. A client
/// that does not finish its handshake or its request head within [`HANDSHAKE_TIMEOUT`] is
/// dropped, so slow clients cannot hold connections open.
pub async fn serve_tls(listener: tokio::net::TcpListener, router: Router, tls: Arc<rustls::ServerConfig>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(error) => {
                tracing::warn!(%error, "http: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "http: connection ended with an error");
            }
        });
    }
}

/// Builds the router.
pub fn router(context: Arc<NodeContext>) -> Router {
    let mut router = Router::new().route("/metrics", get(metrics)).route("/health", get(health));
    if context.fault_injection {
        router = router
            .route("/fault/block/{node}", post(block))
            .route("/fault/unblock/{node}", post(unblock))
            .route("/fault/drop/{node}/{percent}", post(lossy))
            .route("/fault/delay/{node}/{millis}", post(slow))
            .route("/fault/heal", post(heal));
    }
    router.with_state(context)
}

async fn metrics(State(context): State<Arc<NodeContext>>) -> impl IntoResponse {
    let mut buffer = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if encoder.encode(&context.registry.gather(), &mut buffer).is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, String::from("metrics encoding failed"));
    }
    (StatusCode::OK, String::from_utf8_lossy(&buffer).into_owned())
}

/// 200 when every range replica on this node knows a leader, 503 otherwise. `leader_id` is
/// the first range's leader; `ranges` lists each replica's.
async fn health(State(context): State<Arc<NodeContext>>) -> impl IntoResponse {
    let status = context.store.status().await.unwrap_or_default();
    let leader = status.iter().find(|r| r.range_id == FIRST_RANGE_ID).map_or(0, |r| r.leader_id);
    let healthy = !status.is_empty() && status.iter().all(|r| r.leader_id != 0);
    let ranges: Vec<_> =
        status.iter().map(|r| serde_json::json!({ "range_id": r.range_id.0, "leader_id": r.leader_id })).collect();
    let body = serde_json::json!({
        "node_id": context.node_id.0,
        "cluster_id": format!("{:x}", context.cluster_id),
        "version": atoll_types::VERSION,
        "leader_id": leader,
        "ranges": ranges,
        "status": if healthy { "ok" } else { "no leader" },
    });
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, body.to_string())
}

async fn block(State(context): State<Arc<NodeContext>>, Path(node): Path<u64>) -> impl IntoResponse {
    if let Ok(mut blocked) = context.faults.blocked.write() {
        blocked.insert(node);
    }
    StatusCode::NO_CONTENT
}

async fn unblock(State(context): State<Arc<NodeContext>>, Path(node): Path<u64>) -> impl IntoResponse {
    if let Ok(mut blocked) = context.faults.blocked.write() {
        blocked.remove(&node);
    }
    StatusCode::NO_CONTENT
}

async fn heal(State(context): State<Arc<NodeContext>>) -> impl IntoResponse {
    context.faults.heal();
    StatusCode::NO_CONTENT
}

/// Drops `percent` % of the messages this node sends to `node`.
async fn lossy(State(context): State<Arc<NodeContext>>, Path((node, percent)): Path<(u64, u8)>) -> impl IntoResponse {
    if percent > 100 {
        return StatusCode::BAD_REQUEST;
    }
    if let Ok(mut drops) = context.faults.drop_percent.write() {
        drops.insert(node, percent);
    }
    StatusCode::NO_CONTENT
}

/// Delays every batch this node sends to `node` by `millis` milliseconds.
async fn slow(State(context): State<Arc<NodeContext>>, Path((node, millis)): Path<(u64, u64)>) -> impl IntoResponse {
    if millis > 60_000 {
        return StatusCode::BAD_REQUEST;
    }
    if let Ok(mut delay) = context.faults.delay.write() {
        delay.insert(node, std::time::Duration::from_millis(millis));
    }
    StatusCode::NO_CONTENT
}
