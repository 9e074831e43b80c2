//! Cancel requests: a client (psql's Ctrl-C, a driver's timeout) opens a second connection and
//! sends the process id and secret key it got at startup; the statement running on the first
//! connection stops with 57014, as in PostgreSQL.
//!
//! At startup each connection registers a [`CancelSlot`] under its process id. A statement
//! races [`CancelSlot::cancelled`] (server.rs, `interruptible`); a matching cancel
//! request wakes the statements running at that moment and nothing else (a cancel that arrives
//! between statements is dropped, as PostgreSQL does). The statement's future is dropped where
//! it stood; the session then ends its transaction (see `Session::interrupted`), so whatever the
//! statement had buffered is never committed. The slot unregisters when the connection ends.

use async_trait::async_trait;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Every connection of this node that can be cancelled.
#[derive(Default)]
pub struct Cancels {
    connections: Mutex<HashMap<i32, (SecretKey, Arc<Notify>)>>,
}

impl Cancels {
    /// Registers a connection; the slot unregisters it when dropped.
    pub fn register(self: &Arc<Self>, pid: i32, secret: SecretKey) -> CancelSlot {
        let signal = Arc::new(Notify::new());
        self.lock().insert(pid, (secret, signal.clone()));
        CancelSlot { cancels: self.clone(), pid, signal }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, (SecretKey, Arc<Notify>)>> {
        // Every update is a single insert or remove, so a poisoned map is still consistent.
        self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Cancels the running statement of the connection with this process id and secret key.
    /// Returns whether a connection matched.
    pub fn cancel(&self, pid: i32, secret: &SecretKey) -> bool {
        match self.lock().get(&pid) {
            // A cancel arrives on a fresh connection whose protocol version is not known when
            // its key is decoded, so a 4-byte key may come as bytes: compare by value.
            Some((expected, signal)) if expected.eq_value(secret) => {
                signal.notify_waiters();
                true
            }
            _ => false,
        }
    }
}

#[async_trait]
impl CancelHandler for Cancels {
    async fn on_cancel_request(&self, request: CancelRequest) {
        if !self.cancel(request.pid, &request.secret_key) {
            tracing::debug!(pid = request.pid, "sql: cancel request for no connection of this node");
        }
    }
}

/// One connection's registration.
pub struct CancelSlot {
    cancels: Arc<Cancels>,
    pid: i32,
    signal: Arc<Notify>,
}

impl CancelSlot {
    /// Resolves when a cancel request for this connection arrives (one that arrives before
    /// this is first polled is not seen).
    pub async fn cancelled(&self) {
        self.signal.notified().await
    }
}

impl Drop for CancelSlot {
    fn drop(&mut self) {
        let mut connections = self.cancels.lock();
        if connections.get(&self.pid).is_some_and(|(_, signal)| Arc::ptr_eq(signal, &self.signal)) {
            connections.remove(&self.pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_matching_request_stops_the_running_statement_and_a_wrong_key_does_not() {
        let cancels = Arc::new(Cancels::default());
        let slot = Arc::new(cancels.register(7, SecretKey::I32(42)));
        let running = {
            let slot = slot.clone();
            tokio::spawn(async move { slot.cancelled().await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!cancels.cancel(7, &SecretKey::I32(41)), "a wrong secret matches nothing");
        assert!(!cancels.cancel(8, &SecretKey::I32(42)), "an unknown pid matches nothing");
        assert!(!running.is_finished());
        let as_bytes = SecretKey::Bytes(bytes::Bytes::copy_from_slice(&42i32.to_be_bytes()));
        assert!(cancels.cancel(7, &as_bytes), "the key as a cancel connection decodes it");
        running.await.expect("the statement was cancelled");
        let later = tokio::time::timeout(std::time::Duration::from_millis(50), slot.cancelled()).await;
        assert!(later.is_err(), "a cancel is not kept for a later statement");
        drop(slot);
        assert!(!cancels.cancel(7, &SecretKey::I32(42)), "a closed connection is unregistered");
    }
}
