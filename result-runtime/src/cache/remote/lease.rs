//! The fleet-wide lease on a key: the Lua scripts that take, extend and release it.
//!
//! Each script runs atomically on the key's node, so there is no window between "the entry is
//! missing" and "I hold the lease" (a replica that finds the entry written a microsecond ago
//! reads it instead of loading again), nor between "I still hold the lease" and "store the
//! result and release it".
//!
//! - [`ACQUIRE`]: the entry if there is one (with its remaining TTL); else the lease if free
//!   (`SET lease token NX PX lease_ttl`); else the lease's remaining TTL, so a waiter knows
//!   how long a dead holder can keep it. It can first drop a corrupt entry it was shown, only
//!   if the entry is still those bytes.
//! - [`EXTEND`]: compare-and-`PEXPIRE`, run by the holder every third of the lease TTL while
//!   its load runs, so a slow load keeps its lease and a dead holder's lease lapses.
//! - [`FINISH`]: compare-and-delete of the lease that also stores the result (when it is
//!   cacheable) and publishes `Done` to the waiters. A holder that lost its lease (it lapsed,
//!   or the key was invalidated meanwhile) stores nothing: its result may be older than the
//!   invalidation.
//! - [`INVALIDATE`]: deletes the entry and any lease (a load running elsewhere then cannot
//!   store what it read before the invalidation) and publishes `Invalidated`.

use redis::Script;

pub(crate) const ACQUIRE: &str = r"
local v = redis.call('GET', KEYS[1])
if v and ARGV[3] and v == ARGV[3] then
  redis.call('DEL', KEYS[1])
  v = false
end
if v then
  return {1, v, redis.call('PTTL', KEYS[1])}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {2}
end
return {3, redis.call('PTTL', KEYS[2])}
";

pub(crate) const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

pub(crate) const FINISH: &str = r"
local owned = redis.call('GET', KEYS[2]) == ARGV[1]
if owned then
  if ARGV[3] ~= '0' then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  end
  redis.call('DEL', KEYS[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
if owned then return 1 end
return 0
";

pub(crate) const INVALIDATE: &str = r"
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
";

/// The scripts, hashed once per cache (`EVALSHA`, loaded on first `NOSCRIPT`).
pub(crate) struct Scripts {
    pub(crate) acquire: Script,
    pub(crate) extend: Script,
    pub(crate) finish: Script,
    pub(crate) invalidate: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            acquire: Script::new(ACQUIRE),
            extend: Script::new(EXTEND),
            finish: Script::new(FINISH),
            invalidate: Script::new(INVALIDATE),
        }
    }
}

/// What [`ACQUIRE`] found.
#[derive(Debug)]
pub(crate) enum Acquired {
    /// The entry's bytes and its remaining TTL in milliseconds (negative: none/unknown).
    Entry(Vec<u8>, i64),
    /// This replica holds the lease now.
    Leased,
    /// Another replica holds it, for at most this many more milliseconds.
    Held(i64),
}

impl Acquired {
    pub(crate) fn parse(value: &redis::Value) -> Option<Self> {
        use redis::Value;
        let Value::Array(items) = value else { return None };
        let int = |v: Option<&Value>| match v {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        };
        match int(items.first())? {
            1 => match items.get(1)? {
                Value::BulkString(b) => {
                    Some(Self::Entry(b.clone(), int(items.get(2)).unwrap_or(-1)))
                }
                _ => None,
            },
            2 => Some(Self::Leased),
            3 => Some(Self::Held(int(items.get(1)).unwrap_or(-1))),
            _ => None,
        }
    }
}

/// A lease token: random, so a holder can tell its lease from a later one.
pub(crate) fn token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}
