//! Who a connecting client is, on a secure node.
//!
//! The connection must be TLS (pgwire answered SSLRequest with the node's certificate). Then,
//! as PostgreSQL with `hostssl ... cert` falling back to `scram-sha-256`:
//! - a client certificate whose common name is the startup user logs in as that user (the
//!   certificate itself was checked against the cluster CA in the handshake);
//! - otherwise the user proves its password with SCRAM-SHA-256 ([`crate::scram`]). A user that
//!   does not exist, may not log in or has no password goes through the same exchange against
//!   a mock verifier and fails the same way, so a client cannot tell which users exist.
//!
//! Failures are FATAL and end the connection: 28000 without TLS or for an unknown user with a
//! certificate, 28P01 for a wrong password, 08P01 for a malformed exchange. Insecure nodes take
//! every user at their word (sessions run as `root`).

use crate::catalog::RoleDesc;
use crate::error::code;
use crate::scram::{Exchange, ScramError, Verifier, MECHANISM};
use futures::{Sink, SinkExt};
use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::PgWireBackendMessage;
use std::sync::Mutex;

/// The user a connection logged in as (kept in its session extensions).
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: String,
    pub superuser: bool,
}

/// Where a password exchange stands.
enum Stage {
    /// AuthenticationSASL sent; the client's first message is next.
    Offered { user: String, verifier: Verifier, superuser: bool },
    /// The server's first message sent; the client's proof is next.
    Challenged { user: String, exchange: Box<Exchange>, superuser: bool },
}

/// A connection's password exchange (kept in its session extensions).
struct Exchanging(Mutex<Option<Stage>>);

/// A FATAL error for the client: its login ends, and so does its connection.
pub(crate) fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message)))
}

fn wrong_password(user: &str) -> PgWireError {
    fatal(code::INVALID_PASSWORD, format!("password authentication failed for user \"{user}\""))
}

async fn send<C>(client: &mut C, message: Authentication) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    client.send(PgWireBackendMessage::Authentication(message)).await?;
    Ok(())
}

/// At startup: `Ok(true)` once the client is authenticated (by certificate), `Ok(false)` when
/// a password exchange has begun. `role` is the catalog's answer for `user` (`None`: no such
/// role, or it may not log in); `secret` salts mock verifiers.
pub async fn begin<C>(client: &mut C, user: &str, role: Option<RoleDesc>, secret: &[u8]) -> PgWireResult<bool>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if !client.is_secure() {
        return Err(fatal(
            code::INVALID_AUTHORIZATION_SPECIFICATION,
            format!(
                "no pg_hba.conf entry for host \"{}\", user \"{user}\", no encryption: this node accepts TLS connections only (sslmode=require or stronger)",
                client.socket_addr().ip()
            ),
        ));
    }
    let certificate = client.client_certificates().and_then(|certs| certs.first().cloned());
    let certified = certificate.and_then(|c| atoll_security::common_name(&c)).is_some_and(|name| name == user);
    if certified {
        let role = role.ok_or_else(|| {
            fatal(
                code::INVALID_AUTHORIZATION_SPECIFICATION,
                format!("role \"{user}\" does not exist or may not log in"),
            )
        })?;
        client.session_extensions().insert(Authenticated { user: user.to_string(), superuser: role.superuser });
        return Ok(true);
    }
    let superuser = role.as_ref().is_some_and(|r| r.superuser);
    let verifier = role
        .and_then(|r| r.password)
        .and_then(|text| Verifier::parse(&text))
        .unwrap_or_else(|| Verifier::mock(user, secret));
    let stage = Stage::Offered { user: user.to_string(), verifier, superuser };
    client.session_extensions().insert(Exchanging(Mutex::new(Some(stage))));
    client.set_state(PgWireConnectionState::AuthenticationInProgress);
    send(client, Authentication::SASL(vec![MECHANISM.to_string()])).await?;
    Ok(false)
}

/// A password message of the exchange: `Ok(true)` once the client is authenticated.
pub async fn step<C>(client: &mut C, message: PasswordMessageFamily) -> PgWireResult<bool>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let stage = client
        .session_extensions()
        .get::<Exchanging>()
        .and_then(|exchanging| exchanging.0.lock().ok().and_then(|mut stage| stage.take()));
    let malformed = |e: ScramError| match e {
        ScramError::Malformed(message) => fatal(code::PROTOCOL_VIOLATION, message),
        ScramError::WrongPassword => fatal(code::INVALID_PASSWORD, "password authentication failed".into()),
    };
    match stage {
        None => Err(fatal(code::PROTOCOL_VIOLATION, "unexpected password message".into())),
        Some(Stage::Offered { user, verifier, superuser }) => {
            let initial = message.into_sasl_initial_response()?;
            if initial.auth_method != MECHANISM {
                return Err(fatal(
                    code::INVALID_AUTHORIZATION_SPECIFICATION,
                    format!("SASL mechanism {} is not offered; use {MECHANISM}", initial.auth_method),
                ));
            }
            let data = initial.data.unwrap_or_default();
            let (exchange, server_first) = Exchange::start(verifier, &data).map_err(malformed)?;
            let stage = Stage::Challenged { user, exchange: Box::new(exchange), superuser };
            client.session_extensions().insert(Exchanging(Mutex::new(Some(stage))));
            send(client, Authentication::SASLContinue(server_first.into_bytes().into())).await?;
            Ok(false)
        }
        Some(Stage::Challenged { user, exchange, superuser }) => {
            let response = message.into_sasl_response()?;
            let server_final = match exchange.finish(&response.data) {
                Ok(server_final) => server_final,
                Err(ScramError::WrongPassword) => return Err(wrong_password(&user)),
                Err(other) => return Err(malformed(other)),
            };
            send(client, Authentication::SASLFinal(server_final.into_bytes().into())).await?;
            client.session_extensions().insert(Authenticated { user, superuser });
            Ok(true)
        }
    }
}
