//! What the Redis tier writes and reads: entries (a value or a classified error), the events
//! replicas tell each other, and the keys they live under.
//!
//! ## Why postcard
//!
//! Entries are encoded with [`postcard`]: a serde format with a frozen, documented wire
//! specification (1.0), variable-length integers (a `u64` price of 42 is one byte), no
//! schema or field names on the wire, and a small, actively maintained crate. bincode 2 is
//! as compact but its project stopped development in 2025; JSON and MessagePack carry field
//! names, and protobuf would need a schema per value type.
//!
//! ## Untrusted input
//!
//! Everything read from Redis may be corrupt, truncated, or written by another program (or
//! another version of this one) under the same name. Decoding never panics: an entry must
//! start with [`MAGIC`], decode completely (no trailing bytes) and, for an error, name a known
//! category; anything else is `None`, which the tier counts and treats as a miss.
//!
//! An error is stored as its code name, category, retryability, public message
//! ([`TaskError::client_message`]) and trace id: never its internal message, source chain or
//! panic payload, which stay in the process that saw them.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::code::{Category, Code};
use crate::error::{Result, TaskError};
use crate::trace::TraceId;

/// The first bytes of every entry and event this crate writes: a tag and a format version.
pub(crate) const MAGIC: [u8; 3] = *b"rr\x01";

/// The longest public message kept from a stored error; a longer one is not ours.
const MAX_MESSAGE: usize = 4096;

/// A classified error as it crosses processes: only what a client may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireError {
    code: String,
    category: String,
    retryable: bool,
    message: String,
    trace_id: Option<u128>,
}

impl WireError {
    pub(crate) fn from_error(e: &TaskError) -> Self {
        let code = e.code();
        Self {
            code: code.name().to_owned(),
            category: code.category().name().to_owned(),
            retryable: e.is_retryable(),
            message: e.client_message().to_owned(),
            trace_id: e.trace_id().map(TraceId::to_u128),
        }
    }

    /// The error again, with its custom code name interned boundedly; `None` when the
    /// category is unknown or the message is too long to be one of ours.
    pub(crate) fn to_error(&self) -> Option<TaskError> {
        let category = Category::from_name(&self.category)?;
        if self.message.len() > MAX_MESSAGE {
            return None;
        }
        let code = Code::from_wire(&self.code, category, self.retryable, category.row().severity);
        let e = TaskError::new(code, self.message.clone());
        Some(e.or_trace_id(self.trace_id.and_then(TraceId::from_u128)))
    }
}

#[derive(Serialize)]
enum StoredRef<'a, V> {
    Value(&'a V),
    Error(WireError),
}

#[derive(Deserialize)]
enum Stored<V> {
    Value(V),
    Error(WireError),
}

/// Encodes a result for storage; `None` when the value does not serialize (the tier then
/// stores nothing, which is a cache's right).
pub(crate) fn encode_entry<V: Serialize>(result: &Result<V>) -> Option<Vec<u8>> {
    let stored = match result {
        Ok(v) => StoredRef::Value(v),
        Err(e) => StoredRef::Error(WireError::from_error(e)),
    };
    let mut out = MAGIC.to_vec();
    match postcard::to_extend(&stored, out) {
        Ok(v) => {
            out = v;
            Some(out)
        }
        Err(e) => {
            tracing::warn!(error = %e, "result cache: a value did not serialize; not stored in Redis");
            None
        }
    }
}

/// Decodes a stored entry; `None` for anything that is not a complete entry of this format.
pub(crate) fn decode_entry<V: DeserializeOwned>(bytes: &[u8]) -> Option<Result<V>> {
    match decode_all::<Stored<V>>(bytes)? {
        Stored::Value(v) => Some(Ok(v)),
        Stored::Error(e) => Some(Err(e.to_error()?)),
    }
}

/// What replicas tell each other on a namespace's event channel.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Event {
    /// A lease on `key` was released. `error` is set when the load failed with an error
    /// that was not stored (retryable, or no negative TTL): waiters answer with it rather
    /// than loading again. Otherwise waiters read the entry.
    Done { key: Vec<u8>, error: Option<WireError> },
    /// `key` was invalidated: every replica drops it from its L1.
    Invalidated { key: Vec<u8> },
}

pub(crate) fn encode_event(event: &Event) -> Vec<u8> {
    // An `Event` is bytes and strings only: serializing it into a Vec cannot fail.
    postcard::to_extend(event, MAGIC.to_vec()).unwrap_or_else(|_| MAGIC.to_vec())
}

pub(crate) fn decode_event(bytes: &[u8]) -> Option<Event> {
    decode_all(bytes)
}

/// The key's own bytes (the part after the namespace), as placed and published.
pub(crate) fn encode_key<K: Serialize>(key: &K) -> Option<Vec<u8>> {
    postcard::to_stdvec(key).ok()
}

pub(crate) fn decode_key<K: DeserializeOwned>(bytes: &[u8]) -> Option<K> {
    match postcard::take_from_bytes::<K>(bytes) {
        Ok((k, [])) => Some(k),
        _ => None,
    }
}

fn decode_all<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let body = bytes.strip_prefix(&MAGIC[..])?;
    match postcard::take_from_bytes::<T>(body) {
        Ok((v, [])) => Some(v),
        _ => None,
    }
}

/// The Redis names of one namespace: `rr:{ns}:v:{key}` for entries, `rr:{ns}:l:{key}` for
/// leases, `rr:{ns}:events` for the event channel.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    value: Vec<u8>,
    lease: Vec<u8>,
    pub(crate) channel: String,
}

impl Names {
    pub(crate) fn new(namespace: &str) -> Self {
        Self {
            value: format!("rr:{namespace}:v:").into_bytes(),
            lease: format!("rr:{namespace}:l:").into_bytes(),
            channel: format!("rr:{namespace}:events"),
        }
    }

    pub(crate) fn value(&self, key: &[u8]) -> Vec<u8> {
        [&self.value[..], key].concat()
    }

    pub(crate) fn lease(&self, key: &[u8]) -> Vec<u8> {
        [&self.lease[..], key].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn values_and_errors_round_trip() {
        let bytes = encode_entry::<u64>(&Ok(42)).unwrap();
        assert_eq!(bytes, [b'r', b'r', 1, 0, 42]);
        assert_eq!(decode_entry::<u64>(&bytes).unwrap().unwrap(), 42);

        let custom = Code::new("PAYMENT_DECLINED", Category::Business);
        let trace = TraceId::random();
        let e = TaskError::new(custom, "card declined").with_trace_id(trace);
        let back = decode_entry::<u64>(&encode_entry::<u64>(&Err(e)).unwrap()).unwrap();
        let back = back.unwrap_err();
        assert_eq!(back.code().name(), "PAYMENT_DECLINED");
        assert_eq!(back.code().category(), Category::Business);
        assert_eq!(back.client_message(), "card declined");
        assert_eq!(back.trace_id(), Some(trace));
        assert!(!back.is_retryable());
    }

    #[test]
    fn internal_messages_never_leave_the_process() {
        let e = TaskError::from_error(std::io::Error::other("password=hunter2 at db-7"));
        let bytes = encode_entry::<u64>(&Err(e)).unwrap();
        assert!(!bytes.windows(7).any(|w| w == b"hunter2"));
        let back = decode_entry::<u64>(&bytes).unwrap().unwrap_err();
        assert_eq!(back.kind(), ErrorKind::Failed);
        assert!(!back.client_message().contains("hunter2"));
    }

    #[test]
    fn corrupt_foreign_and_truncated_entries_are_none() {
        let good = encode_entry::<String>(&Ok("a longer value".into())).unwrap();
        for cut in 0..good.len() {
            assert!(decode_entry::<String>(&good[..cut]).is_none(), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_entry::<String>(&trailing).is_none());
        assert!(decode_entry::<String>(b"{\"json\":1}").is_none());
        assert!(decode_entry::<u64>(&[b'r', b'r', 1, 9, 9]).is_none());
        // A string where a u64 is expected: still no panic.
        assert!(decode_entry::<u64>(&good).is_none());
        let unknown_category = WireError {
            code: "X".into(),
            category: "nonsense".into(),
            retryable: false,
            message: String::new(),
            trace_id: None,
        };
        let bytes = postcard::to_extend(&StoredRef::<u64>::Error(unknown_category), MAGIC.to_vec());
        assert!(decode_entry::<u64>(&bytes.unwrap()).is_none());
    }

    #[test]
    fn events_round_trip() {
        let ev = Event::Done { key: b"k".to_vec(), error: None };
        assert_eq!(decode_event(&encode_event(&ev)), Some(ev));
        assert_eq!(decode_event(b"garbage"), None);
        let k = encode_key(&"sku-1".to_string()).unwrap();
        assert_eq!(decode_key::<String>(&k).as_deref(), Some("sku-1"));
        assert_eq!(Names::new("prices").value(b"k"), b"rr:prices:v:k");
    }
}
