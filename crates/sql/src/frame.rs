//! Client messages cut from the byte stream and checked before pgwire decodes them.
//!
//! pgwire 0.41's decoders read a message's fields from the whole read buffer with unchecked
//! reads: a Bind cut short panics (`advance out of bounds`), a message with a length under 4
//! panics, and a Parse shorter than its fields reads on into the next message, so the
//! connection's framing drifts. So each message is cut from the buffer by its length first
//! ([`split`]), its fields are walked within those bytes ([`check`]), as PostgreSQL's
//! `pq_getmsg*` functions do, and only then does pgwire decode exactly those bytes. A message
//! that does not hold together gets 08P01 `invalid message format`, as in PostgreSQL, and
//! nothing past its end is read.

use bytes::BytesMut;
use std::fmt;

/// The most bytes a startup-phase message (startup, cancel) may have, PostgreSQL's
/// `MAX_STARTUP_PACKET_LENGTH`.
pub const STARTUP_BYTES_MAX: usize = 10_000;
/// The most bytes any other client message may have, PostgreSQL's `PQ_LARGE_MESSAGE_LIMIT`
/// (pgwire checks tighter limits for the small kinds).
pub const MESSAGE_BYTES_MAX: usize = 0x3fff_ffff - 1;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// Cuts the first whole message off `buffer`: `Ok(None)` while it is incomplete. Startup-phase
/// messages have no type byte (`untyped`).
pub fn split(buffer: &mut BytesMut, untyped: bool) -> Result<Option<BytesMut>, Malformed> {
    let (offset, minimum, maximum) = if untyped { (0, 8, STARTUP_BYTES_MAX) } else { (1, 4, MESSAGE_BYTES_MAX) };
    let Some(length) = buffer.get(offset..offset + 4) else { return Ok(None) };
    let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    let length = usize::try_from(length).unwrap_or(0);
    if length < minimum || length > maximum {
        return Err(malformed(format!("invalid message length {length}")));
    }
    if buffer.len() < offset + length {
        // Nothing is reserved ahead: the buffer grows with what arrives, not with what a
        // length claims.
        return Ok(None);
    }
    Ok(Some(buffer.split_to(offset + length)))
}

/// The fields of one message body, read as PostgreSQL's `pq_getmsg*` functions do: every read
/// checked against the end.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn bytes(&mut self, count: usize) -> Result<&[u8], Malformed> {
        if count > self.0.len() {
            return Err(malformed("insufficient data left in message"));
        }
        let (head, rest) = self.0.split_at(count);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.bytes(1)?[0])
    }

    fn i16(&mut self) -> Result<i16, Malformed> {
        let b = self.bytes(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, Malformed> {
        let b = self.bytes(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A count of following items, which PostgreSQL refuses when negative.
    fn count(&mut self) -> Result<usize, Malformed> {
        usize::try_from(self.i16()?).map_err(|_| malformed("invalid count in message"))
    }

    fn cstring(&mut self) -> Result<(), Malformed> {
        match self.0.iter().position(|&b| b == 0) {
            Some(end) => {
                self.0 = &self.0[end + 1..];
                Ok(())
            }
            None => Err(malformed("invalid string in message")),
        }
    }

    fn end(&self) -> Result<(), Malformed> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(malformed("invalid message format"))
        }
    }
}

/// Checks that the fields of `message` (as cut by [`split`]) lie within it and fill it.
pub fn check(message: &[u8], untyped: bool) -> Result<(), Malformed> {
    if untyped {
        // Startup, cancel, SSL and GSS requests: a 4-byte code after the length; pgwire reads
        // the rest with checked reads.
        return Ok(());
    }
    let (tag, body) = (message[0], &message[5..]);
    let mut fields = Fields(body);
    match tag {
        // Query, CopyFail: one string.
        b'Q' | b'f' => fields.cstring()?,
        // Parse: name, query, parameter types.
        b'P' => {
            fields.cstring()?;
            fields.cstring()?;
            let types = fields.count()?;
            fields.bytes(types.saturating_mul(4))?;
        }
        // Bind: portal, statement, parameter formats, parameters, result formats.
        b'B' => {
            fields.cstring()?;
            fields.cstring()?;
            let formats = fields.count()?;
            fields.bytes(formats.saturating_mul(2))?;
            for _ in 0..fields.count()? {
                match fields.i32()? {
                    -1 => {}
                    length => {
                        let length = usize::try_from(length).map_err(|_| malformed("invalid parameter length"))?;
                        fields.bytes(length)?;
                    }
                }
            }
            let results = fields.count()?;
            fields.bytes(results.saturating_mul(2))?;
        }
        // Describe, Close: statement or portal, and its name.
        b'D' | b'C' => {
            if !matches!(fields.u8()?, b'S' | b'P') {
                return Err(malformed("invalid DESCRIBE or CLOSE message subtype"));
            }
            fields.cstring()?;
        }
        // Execute: portal, row limit.
        b'E' => {
            fields.cstring()?;
            fields.i32()?;
        }
        // Sync, Flush, Terminate, CopyDone: nothing.
        b'S' | b'H' | b'X' | b'c' => {}
        // CopyData and the password family: bytes whose reading is their handler's, and any
        // other type, which pgwire refuses by itself.
        _ => return Ok(()),
    }
    fields.end()
}

/// Reads `bytes` as a client's stream would be read: a startup message, then typed messages,
/// each cut, checked and decoded by pgwire as the connection does, until the bytes run out or
/// a message is refused. How many messages decoded. For the `pgwire_decode` fuzz target: with
/// the checks in front, no input may make pgwire panic.
pub fn decode_stream(bytes: &[u8]) -> usize {
    use pgwire::messages::{DecodeContext, PgWireFrontendMessage, ProtocolVersion};
    let mut buffer = BytesMut::from(bytes);
    let mut untyped = true;
    let mut decoded = 0;
    while let Ok(Some(mut message)) = split(&mut buffer, untyped) {
        if check(&message, untyped).is_err() {
            break;
        }
        let mut context = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
        context.awaiting_frontend_ssl = false;
        context.awaiting_frontend_startup = untyped;
        match PgWireFrontendMessage::decode(&mut message, &context) {
            Ok(Some(_)) => decoded += 1,
            _ => break,
        }
        untyped = false;
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&(4 + body.len() as i32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn bind(parameters: &[Option<&[u8]>]) -> Vec<u8> {
        let mut body = b"portal\0stmt\0".to_vec();
        body.extend_from_slice(&1i16.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&(parameters.len() as i16).to_be_bytes());
        for parameter in parameters {
            match parameter {
                Some(value) => {
                    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
                    body.extend_from_slice(value);
                }
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        body.extend_from_slice(&0i16.to_be_bytes());
        frame(b'B', &body)
    }

    #[test]
    fn a_stream_decodes_until_its_first_malformed_message() {
        let parameters = b"user\0atoll\0\0";
        let mut stream = (8 + parameters.len() as i32).to_be_bytes().to_vec();
        stream.extend_from_slice(&196_608i32.to_be_bytes());
        stream.extend_from_slice(parameters);
        stream.extend(frame(b'Q', b"SELECT 1\0"));
        stream.extend(bind(&[Some(b"1")]));
        stream.extend(frame(b'S', b""));
        assert_eq!(decode_stream(&stream), 4);
        stream.extend(frame(b'B', b"\0nope\0\0\0"));
        stream.extend(frame(b'S', b""));
        assert_eq!(decode_stream(&stream), 4, "nothing after the truncated Bind is read");
    }

    #[test]
    fn split_waits_for_whole_messages_and_cuts_exactly_one() {
        let mut buffer = BytesMut::new();
        let query = frame(b'Q', b"SELECT 1\0");
        buffer.extend_from_slice(&query[..3]);
        assert_eq!(split(&mut buffer, false), Ok(None));
        buffer.extend_from_slice(&query[3..]);
        buffer.extend_from_slice(&frame(b'S', b""));
        let first = split(&mut buffer, false).expect("valid").expect("whole");
        assert_eq!(&first[..], &query[..]);
        assert_eq!(&split(&mut buffer, false).expect("valid").expect("whole")[..], &frame(b'S', b"")[..]);
        assert!(buffer.is_empty());
    }

    #[test]
    fn lengths_out_of_bounds_are_refused_before_buffering() {
        for length in [0i32, 3, -1, i32::MAX] {
            let mut buffer = BytesMut::from(&[b'Q'][..]);
            buffer.extend_from_slice(&length.to_be_bytes());
            assert!(split(&mut buffer, false).is_err(), "typed length {length}");
        }
        for length in [7i32, 10_001] {
            let mut buffer = BytesMut::from(&length.to_be_bytes()[..]);
            assert!(split(&mut buffer, true).is_err(), "startup length {length}");
        }
    }

    #[test]
    fn well_formed_messages_pass() {
        let good = [
            frame(b'Q', b"SELECT 1\0"),
            frame(b'P', b"s\0SELECT $1\0\0\x01\0\0\0\x17"),
            bind(&[Some(b"42"), None, Some(b"")]),
            frame(b'D', b"S\0"),
            frame(b'C', b"Pportal\0"),
            frame(b'E', b"\0\0\0\0\0"),
            frame(b'S', b""),
            frame(b'd', b"any bytes"),
        ];
        for message in good {
            assert_eq!(check(&message, false), Ok(()), "{message:?}");
        }
    }

    #[test]
    fn messages_whose_fields_overrun_or_underfill_them_are_refused() {
        let mut long_bind = bind(&[Some(b"42")]);
        long_bind.push(0);
        let length = (long_bind.len() - 1) as i32;
        long_bind[1..5].copy_from_slice(&length.to_be_bytes());
        let bad = [
            ("the Bind cut short that made pgwire panic", frame(b'B', b"\0nope\0\0\0")),
            ("a Bind claiming 65 535 parameters", frame(b'B', b"\0\0\0\0\xff\xff")),
            ("a Bind with a negative parameter length", frame(b'B', b"\0\0\0\0\0\x01\xff\xff\xff\xfe\0\0")),
            ("a Bind with a byte after its fields", long_bind),
            ("a Parse without its terminators", frame(b'P', b"stmt")),
            ("a Parse claiming more types than it has", frame(b'P', b"s\0q\0\0\x02\0\0\0\x17")),
            ("a Describe without a subtype", frame(b'D', b"")),
            ("a Close of neither kind", frame(b'C', b"X\0")),
            ("an Execute without its row limit", frame(b'E', b"\0")),
            ("a Sync with a body", frame(b'S', b"x")),
            ("a Query without its terminator", frame(b'Q', b"SELECT 1")),
        ];
        for (what, message) in bad {
            assert!(check(&message, false).is_err(), "{what}");
        }
    }
}
