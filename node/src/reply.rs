//! Replies as the node produces them; redisapi encodes them in RESP2 or RESP3.

use bytes::Bytes;

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`
    Ok,
    /// A simple string (`+PONG`, `+QUEUED`, a TYPE name).
    Status(String),
    /// An error, with its code first (`ERR ...`, `WRONGTYPE ...`).
    Error(String),
    Int(i64),
    Bulk(Bytes),
    /// The nil bulk string (RESP3: null).
    Nil,
    Array(Vec<Reply>),
    /// The nil array (EXEC aborted by WATCH; RESP3: null).
    NilArray,
    /// RESP3 double; a bulk string in RESP2.
    Double(f64),
    /// A double as Redis prints a `long double` for people (`%.17Lf`
    /// without trailing zeros: GEOPOS's coordinates): RESP3 double; a bulk
    /// string in RESP2.
    HumanDouble(f64),
    /// RESP3 map; a flat array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set; an array in RESP2.
    Set(Vec<Reply>),
    /// Pairs (member and score, field and value): RESP3 an array of
    /// 2-element arrays, RESP2 one flat array.
    Pairs(Vec<(Reply, Reply)>),
    /// RESP3 map; in RESP2 an array of 2-element arrays (XREAD's streams).
    PairMap(Vec<(Reply, Reply)>),
    /// RESP3 verbatim string (INFO, CLIENT INFO); a bulk string in RESP2.
    Verbatim(String),
    /// RESP3 push (pub/sub messages and subscription replies); an array in RESP2.
    Push(Vec<Reply>),
    /// Several replies in a row to one command (SUBSCRIBE a b: one per channel).
    Several(Vec<Reply>),
    /// A command's reply with the messages it published (a script's
    /// PUBLISH, keyspace notifications): the node that proposed the entry
    /// publishes them once it is applied, and answers the reply (every
    /// replica applies the entry; only one publishes).
    Publishing(Box<Reply>, Vec<Message>),
}

/// A message to publish: a script's PUBLISH or SPUBLISH, or a keyspace
/// notification.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub channel: Bytes,
    pub message: Bytes,
    pub shard: bool,
}

impl Reply {
    /// Publishes what the commands of this reply published (`publish` does
    /// it) and gives the reply without them. A transaction's reply holds
    /// its commands' replies one level down.
    pub fn release_messages(self, publish: &dyn Fn(&Message)) -> Reply {
        match self {
            Reply::Publishing(r, messages) => {
                messages.iter().for_each(publish);
                *r
            }
            Reply::Array(items) => Reply::Array(items.into_iter().map(|r| r.release_messages(publish)).collect()),
            other => other,
        }
    }

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }
    pub fn status(s: &str) -> Reply {
        Reply::Status(s.to_string())
    }
    pub fn error(s: impl Into<String>) -> Reply {
        Reply::Error(s.into())
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
    pub fn bulk_or_nil(v: Option<Vec<u8>>) -> Reply {
        match v {
            Some(v) => Reply::Bulk(Bytes::from(v)),
            None => Reply::Nil,
        }
    }
}

/// Redis' own wording for the errors it shares with us.
pub mod err {
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
    pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
    pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
    /// A count Redis negates, so -2^63 is out: -LONG_MAX..LONG_MAX.
    pub const NOT_NEGATABLE: &str =
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
}
