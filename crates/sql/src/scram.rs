//! SCRAM-SHA-256 password logins (RFC 5802, RFC 7677), the server side, as PostgreSQL does it.
//!
//! Passwords are kept only as PostgreSQL's SCRAM verifier text,
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64), from which nobody can
//! log in: the exchange proves the client knows the password without sending it, and the
//! server proves it holds the verifier. pgwire's SCRAM authenticator needs the salted password
//! itself (which would let whoever reads the catalog log in), so the exchange is driven here,
//! on ring's PBKDF2, HMAC and SHA-256. Channel binding (SCRAM-SHA-256-PLUS) is not offered.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::{digest, hmac, pbkdf2};
use std::num::NonZeroU32;

/// The one mechanism offered.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// PBKDF2 rounds for new verifiers: PostgreSQL's default (`scram_iterations`).
pub const ITERATIONS: u32 = 4096;
/// Most rounds accepted from a stored verifier (a verifier given as text by a client).
const ITERATIONS_MAX: u32 = 1 << 20;
const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 18;
/// Longest client message of the exchange accepted (PostgreSQL's messages are ~100 bytes).
const MESSAGE_BYTES_MAX: usize = 1024;

/// Why an exchange failed: a malformed message (08P01) or a wrong password (28P01).
#[derive(Debug, PartialEq, Eq)]
pub enum ScramError {
    Malformed(String),
    WrongPassword,
}

/// A stored verifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message).as_ref().to_vec()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// PostgreSQL's normalisation of a password: SASLprep where it applies, the bytes as they are
/// where it does not (PostgreSQL's `pg_saslprep` falls back the same way).
fn normalize(password: &str) -> Vec<u8> {
    match stringprep::saslprep(password) {
        Ok(prepared) => prepared.as_bytes().to_vec(),
        Err(_) => password.as_bytes().to_vec(),
    }
}

impl Verifier {
    /// A new verifier for `password` with a random salt.
    pub fn new(password: &str) -> Verifier {
        Verifier::with_salt(password, &rand::random::<[u8; SALT_BYTES]>(), ITERATIONS)
    }

    fn with_salt(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let rounds = NonZeroU32::new(iterations.max(1)).unwrap_or(NonZeroU32::MIN);
        let mut salted = [0u8; 32];
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, &normalize(password), &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// A verifier no password matches, for a user that does not exist or has no password: the
    /// exchange runs to its end and fails as a wrong password does, so a client cannot tell
    /// which users exist (PostgreSQL's mock authentication). Its salt is the same for the same
    /// user within `secret`'s lifetime.
    pub fn mock(user: &str, secret: &[u8]) -> Verifier {
        let salt = hmac_sha256(secret, user.as_bytes());
        Verifier {
            iterations: ITERATIONS,
            salt: salt[..SALT_BYTES].to_vec(),
            stored_key: hmac_sha256(secret, b"no stored key"),
            server_key: hmac_sha256(secret, b"no server key"),
        }
    }

    /// Whether `password` is the one this verifier was made from (for protocols that send the
    /// password itself, over TLS: etcd's `Authenticate`). Costs the verifier's PBKDF2 rounds.
    pub fn matches(&self, password: &str) -> bool {
        let candidate = Verifier::with_salt(password, &self.salt, self.iterations);
        // Compared without an early exit, though both sides are hashes.
        candidate.stored_key.len() == self.stored_key.len()
            && candidate.stored_key.iter().zip(&self.stored_key).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// PostgreSQL's text form, as `pg_authid.rolpassword` shows it.
    pub fn to_text(&self) -> String {
        format!(
            "{MECHANISM}${}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(&self.stored_key),
            BASE64.encode(&self.server_key)
        )
    }

    /// Reads the text form back; `None` if `text` is not a verifier.
    pub fn parse(text: &str) -> Option<Verifier> {
        let rest = text.strip_prefix(MECHANISM)?.strip_prefix('$')?;
        let (head, keys) = rest.split_once('$')?;
        let (iterations, salt) = head.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok().filter(|i| (1..=ITERATIONS_MAX).contains(i))?;
        let decode = |s: &str| BASE64.decode(s).ok();
        let verifier = Verifier {
            iterations,
            salt: decode(salt).filter(|s| !s.is_empty())?,
            stored_key: decode(stored_key).filter(|k| k.len() == 32)?,
            server_key: decode(server_key).filter(|k| k.len() == 32)?,
        };
        Some(verifier)
    }
}

fn malformed(what: &str) -> ScramError {
    ScramError::Malformed(format!("malformed SCRAM message ({what})"))
}

fn text(message: &[u8]) -> Result<&str, ScramError> {
    if message.len() > MESSAGE_BYTES_MAX {
        return Err(malformed("too long"));
    }
    std::str::from_utf8(message).map_err(|_| malformed("not UTF-8"))
}

/// One exchange, after the server's first message.
#[derive(Debug)]
pub struct Exchange {
    verifier: Verifier,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl Exchange {
    /// Reads the client's first message and answers with the server's first message.
    pub fn start(verifier: Verifier, client_first: &[u8]) -> Result<(Exchange, String), ScramError> {
        let server_nonce = BASE64.encode(rand::random::<[u8; NONCE_BYTES]>());
        Exchange::start_with_nonce(verifier, client_first, &server_nonce)
    }

    fn start_with_nonce(
        verifier: Verifier,
        client_first: &[u8],
        server_nonce: &str,
    ) -> Result<(Exchange, String), ScramError> {
        let message = text(client_first)?;
        // gs2-header: the channel binding flag, then an authorization identity (none).
        let mut parts = message.splitn(3, ',');
        let (flag, authzid, bare) = match (parts.next(), parts.next(), parts.next()) {
            (Some(flag), Some(authzid), Some(bare)) => (flag, authzid, bare),
            _ => return Err(malformed("no GS2 header")),
        };
        match flag {
            // "y": the client could bind but thinks the server cannot, which is true here.
            "n" | "y" => {}
            _ if flag.starts_with("p=") => return Err(malformed("channel binding was not offered")),
            _ => return Err(malformed("unknown channel binding flag")),
        }
        if !authzid.is_empty() {
            return Err(malformed("authorization identities are not supported"));
        }
        // client-first-message-bare: n=<user>,r=<nonce>[,extensions]. PostgreSQL takes the user
        // from the startup message and libpq sends an empty one.
        let mut attributes = bare.split(',');
        if !attributes.next().is_some_and(|a| a.starts_with("n=")) {
            return Err(malformed("no user attribute"));
        }
        let client_nonce = attributes.next().and_then(|a| a.strip_prefix("r=")).ok_or_else(|| malformed("no nonce"))?;
        if client_nonce.is_empty() || !client_nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',') {
            return Err(malformed("bad nonce"));
        }
        if attributes.any(|a| a.starts_with("m=")) {
            return Err(malformed("mandatory extensions are not supported"));
        }
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!("r={nonce},s={},i={}", BASE64.encode(&verifier.salt), verifier.iterations);
        let exchange = Exchange {
            verifier,
            gs2_header: format!("{flag},{authzid},"),
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok((exchange, server_first))
    }

    /// Reads the client's final message: the server's final message if the proof is right.
    pub fn finish(&self, client_final: &[u8]) -> Result<String, ScramError> {
        let message = text(client_final)?;
        let (without_proof, proof) = message.rsplit_once(",p=").ok_or_else(|| malformed("no proof"))?;
        let mut attributes = without_proof.split(',');
        let binding = attributes.next().and_then(|a| a.strip_prefix("c=")).ok_or_else(|| malformed("no binding"))?;
        if BASE64.decode(binding).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(malformed("channel binding does not match the first message"));
        }
        let nonce = attributes.next().and_then(|a| a.strip_prefix("r=")).ok_or_else(|| malformed("no nonce"))?;
        if nonce != self.nonce {
            return Err(malformed("nonce does not match"));
        }
        let proof = BASE64.decode(proof).map_err(|_| malformed("proof is not base64"))?;
        if proof.len() != self.verifier.stored_key.len() {
            return Err(ScramError::WrongPassword);
        }
        let auth_message = format!("{},{},{without_proof}", self.client_first_bare, self.server_first);
        let client_signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
        // Compared in full whatever the first difference, so the time says nothing.
        let difference = sha256(&client_key).iter().zip(&self.verifier.stored_key).fold(0u8, |d, (a, b)| d | (a ^ b));
        if difference != 0 {
            return Err(ScramError::WrongPassword);
        }
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677, section 3: user "user", password "pencil".
    #[test]
    fn the_rfc_7677_exchange() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let verifier = Verifier::with_salt("pencil", &salt, 4096);
        let (exchange, server_first) = Exchange::start_with_nonce(
            verifier.clone(),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        )
        .expect("first message");
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let client_final =
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            exchange.finish(client_final.as_bytes()),
            Ok("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".into())
        );
        // One bit off in the proof: a wrong password.
        let wrong = client_final.replace("p=dHz", "p=dHy");
        assert_eq!(exchange.finish(wrong.as_bytes()), Err(ScramError::WrongPassword));
        // The verifier's text survives a round trip.
        assert_eq!(Verifier::parse(&verifier.to_text()), Some(verifier.clone()));
        // A password given as it is (etcd's Authenticate) is checked against the same verifier.
        assert!(verifier.matches("pencil"));
        assert!(!verifier.matches("pencil ") && !verifier.matches(""));
        assert!(!Verifier::mock("user", b"key").matches("pencil"));
    }

    #[test]
    fn malformed_messages_and_mock_users_fail() {
        let verifier = Verifier::new("secret");
        for first in [
            &b""[..],
            b"n,,r=abc",
            b"p=tls-server-end-point,,n=,r=abc",
            b"n,a=admin,n=,r=abc",
            b"n,,n=,r=",
            b"x,,n=,r=a",
        ] {
            assert!(matches!(Exchange::start(verifier.clone(), first), Err(ScramError::Malformed(_))), "{first:?}");
        }
        let (exchange, _) = Exchange::start(verifier.clone(), b"n,,n=,r=abc").expect("start");
        assert!(matches!(exchange.finish(b"c=biws,r=abcX,p=AAAA"), Err(ScramError::Malformed(_))), "wrong nonce");
        assert!(matches!(exchange.finish(b"c=eSws,r=abc,p=AAAA"), Err(ScramError::Malformed(_))));
        let mock = Verifier::mock("nobody", b"key");
        assert_eq!(mock, Verifier::mock("nobody", b"key"), "the same salt for the same user");
        assert_ne!(mock.salt, Verifier::mock("somebody", b"key").salt);
        for text in ["", "SCRAM-SHA-256$0:AAAA$AAAA:AAAA", "md5abc", "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA"] {
            assert_eq!(Verifier::parse(text), None, "{text}");
        }
        assert_ne!(Verifier::new("secret").salt, verifier.salt, "salts are random");
    }
}
