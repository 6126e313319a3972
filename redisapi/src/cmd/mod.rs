//! The command table: Redis' own metadata for every command we serve (name,
//! arity, flags, key positions, docs; see `spec_data.rs`) joined with how we
//! run it: parsed into a typed node command, or answered by the connection.

pub mod bits;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod keyspace;
pub mod list;
pub mod scripting;
pub mod set;
pub mod stream;
pub mod strings;
pub mod zset;

use crate::spec_data::{SubRow, SPECS, SUBSPECS};
use bytes::Bytes;
use node::{Cmd, Reply};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

pub type Parser = fn(&[Bytes]) -> Result<Cmd, Reply>;
pub type BlockingParser = fn(&[Bytes]) -> Result<list::Blocking, Reply>;

#[derive(Clone, Copy)]
pub enum Run {
    /// A data command: parsed here, executed by the node.
    Data(Parser),
    /// A blocking pop: the pop and how long to wait for it.
    Blocking(BlockingParser),
    /// Answered by the connection or server (connection state, config, ...).
    Local,
}

pub struct CommandSpec {
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    pub run: Run,
    /// Whether it has subcommands (CONFIG, XGROUP, ...).
    pub container: bool,
}

impl CommandSpec {
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.contains(&f)
    }

    /// Whether `argc` (name included) satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        if self.arity >= 0 {
            argc == self.arity as usize
        } else {
            argc >= (-self.arity) as usize
        }
    }

    /// A container's (XGROUP, CONFIG) row for the subcommand in `argv`.
    fn subcommand(&self, argv: &[Bytes]) -> Option<&'static SubRow> {
        self.subcommand_named(argv.get(1)?)
    }

    fn subcommand_named(&self, sub: &[u8]) -> Option<&'static SubRow> {
        if !self.container {
            return None;
        }
        let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
        SUBSPECS.iter().find(|r| r.0 == self.name && r.1 == sub)
    }

    /// The name INFO commandstats counts a call under: the command's, or
    /// `container|subcommand` (`sub` is the argument after the name). None
    /// for a container's unknown subcommand, which Redis takes for an
    /// unknown command.
    pub fn stat_name(&self, sub: Option<&Bytes>) -> Option<Cow<'static, str>> {
        match sub {
            Some(s) if self.container => self.subcommand_named(s).map(|r| Cow::Owned(format!("{}|{}", r.0, r.1))),
            _ => Some(Cow::Borrowed(self.name)),
        }
    }

    /// Whether `argv` has `flag`: the command's own, or a container's
    /// subcommand's (CONFIG SET is admin, CONFIG is not).
    pub fn has_flag_for(&self, argv: &[Bytes], flag: &str) -> bool {
        self.has_flag(flag) || self.subcommand(argv).is_some_and(|r| r.3.contains(&flag))
    }

    /// Key positions by first/last/step, as COMMAND GETKEYS reports them.
    /// Where the keys of `argv` are, by the command's key positions, or a
    /// container's (XGROUP, OBJECT) by its subcommand's.
    pub fn key_positions_of(&self, argv: &[Bytes]) -> Vec<usize> {
        match self.subcommand(argv) {
            Some(&(.., first, last, step)) => positions(first, last, step, argv.len()),
            None => self.key_positions(argv.len()),
        }
    }

    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        positions(self.first_key, self.last_key, self.step, argc)
    }
}

/// Key positions from a first, last (negative: from the end) and step.
fn positions(first: i32, last: i32, step: i32, argc: usize) -> Vec<usize> {
    if first <= 0 {
        return vec![];
    }
    let last = if last < 0 { argc as i32 + last } else { last };
    (first..=last).step_by(step.max(1) as usize).map(|i| i as usize).filter(|i| *i < argc).collect()
}

fn run_of(name: &str) -> Option<Run> {
    use keyspace as k;
    use strings as s;
    let data = |p: Parser| Some(Run::Data(p));
    let blocking = |p: BlockingParser| Some(Run::Blocking(p));
    match name {
        "hset" => data(hash::hset),
        "hsetnx" => data(hash::hsetnx),
        "hmset" => data(hash::hmset),
        "hget" => data(hash::hget),
        "hmget" => data(hash::hmget),
        "hgetall" => data(hash::hgetall),
        "hdel" => data(hash::hdel),
        "hlen" => data(hash::hlen),
        "hstrlen" => data(hash::hstrlen),
        "hexists" => data(hash::hexists),
        "hkeys" => data(hash::hkeys),
        "hvals" => data(hash::hvals),
        "hincrby" => data(hash::hincrby),
        "hincrbyfloat" => data(hash::hincrbyfloat),
        "hrandfield" => data(hash::hrandfield),
        "hscan" => data(hash::hscan),
        "lpush" => data(list::lpush),
        "rpush" => data(list::rpush),
        "lpushx" => data(list::lpushx),
        "rpushx" => data(list::rpushx),
        "lpop" => data(list::lpop),
        "rpop" => data(list::rpop),
        "llen" => data(list::llen),
        "lindex" => data(list::lindex),
        "lset" => data(list::lset),
        "lrange" => data(list::lrange),
        "ltrim" => data(list::ltrim),
        "lrem" => data(list::lrem),
        "linsert" => data(list::linsert),
        "lpos" => data(list::lpos),
        "lmove" => data(list::lmove),
        "rpoplpush" => data(list::rpoplpush),
        "lmpop" => data(list::lmpop),
        "blpop" => blocking(list::blpop),
        "brpop" => blocking(list::brpop),
        "blmove" => blocking(list::blmove),
        "brpoplpush" => blocking(list::brpoplpush),
        "blmpop" => blocking(list::blmpop),
        "sadd" => data(set::sadd),
        "srem" => data(set::srem),
        "scard" => data(set::scard),
        "sismember" => data(set::sismember),
        "smismember" => data(set::smismember),
        "smembers" => data(set::smembers),
        "srandmember" => data(set::srandmember),
        "spop" => data(set::spop),
        "smove" => data(set::smove),
        "sinter" => data(set::sinter),
        "sintercard" => data(set::sintercard),
        "sunion" => data(set::sunion),
        "sdiff" => data(set::sdiff),
        "sinterstore" => data(set::sinterstore),
        "sunionstore" => data(set::sunionstore),
        "sdiffstore" => data(set::sdiffstore),
        "sscan" => data(set::sscan),
        "zadd" => data(zset::zadd),
        "zincrby" => data(zset::zincrby),
        "zrem" => data(zset::zrem),
        "zcard" => data(zset::zcard),
        "zscore" => data(zset::zscore),
        "zmscore" => data(zset::zmscore),
        "zrank" => data(zset::zrank),
        "zrevrank" => data(zset::zrevrank),
        "zcount" => data(zset::zcount),
        "zlexcount" => data(zset::zlexcount),
        "zrange" => data(zset::zrange),
        "zrangestore" => data(zset::zrangestore),
        "zrevrange" => data(zset::zrevrange),
        "zrangebyscore" => data(zset::zrangebyscore),
        "zrevrangebyscore" => data(zset::zrevrangebyscore),
        "zrangebylex" => data(zset::zrangebylex),
        "zrevrangebylex" => data(zset::zrevrangebylex),
        "zremrangebyrank" => data(zset::zremrangebyrank),
        "zremrangebyscore" => data(zset::zremrangebyscore),
        "zremrangebylex" => data(zset::zremrangebylex),
        "zpopmin" => data(zset::zpopmin),
        "zpopmax" => data(zset::zpopmax),
        "zmpop" => data(zset::zmpop),
        "bzpopmin" => blocking(zset::bzpopmin),
        "bzpopmax" => blocking(zset::bzpopmax),
        "bzmpop" => blocking(zset::bzmpop),
        "zunion" => data(zset::zunion),
        "zinter" => data(zset::zinter),
        "zdiff" => data(zset::zdiff),
        "zunionstore" => data(zset::zunionstore),
        "zinterstore" => data(zset::zinterstore),
        "zdiffstore" => data(zset::zdiffstore),
        "zintercard" => data(zset::zintercard),
        "zrandmember" => data(zset::zrandmember),
        "zscan" => data(zset::zscan),
        "get" => data(s::get),
        "set" => data(s::set),
        "setnx" => data(s::setnx),
        "setex" => data(s::setex),
        "psetex" => data(s::psetex),
        "getset" => data(s::getset),
        "getdel" => data(s::getdel),
        "getex" => data(s::getex),
        "mget" => data(s::mget),
        "mset" => data(s::mset),
        "msetnx" => data(s::msetnx),
        "append" => data(s::append),
        "strlen" => data(s::strlen),
        "getrange" | "substr" => data(s::getrange),
        "setrange" => data(s::setrange),
        "lcs" => data(s::lcs),
        "incr" => data(s::incr),
        "decr" => data(s::decr),
        "incrby" => data(s::incrby),
        "decrby" => data(s::decrby),
        "incrbyfloat" => data(s::incrbyfloat),
        "del" | "unlink" => data(k::del),
        "exists" => data(k::exists),
        "touch" => data(k::touch),
        "type" => data(k::type_),
        "expire" => data(k::expire),
        "pexpire" => data(k::pexpire),
        "expireat" => data(k::expireat),
        "pexpireat" => data(k::pexpireat),
        "ttl" => data(k::ttl),
        "pttl" => data(k::pttl),
        "expiretime" => data(k::expiretime),
        "pexpiretime" => data(k::pexpiretime),
        "persist" => data(k::persist),
        "rename" => data(k::rename),
        "renamenx" => data(k::renamenx),
        "copy" => data(k::copy),
        "dump" => data(k::dump),
        "sort" => data(k::sort),
        "sort_ro" => data(k::sort_ro),
        "getbit" => data(bits::getbit),
        "setbit" => data(bits::setbit),
        "bitcount" => data(bits::bitcount),
        "bitpos" => data(bits::bitpos),
        "bitop" => data(bits::bitop),
        "bitfield" => data(bits::bitfield),
        "bitfield_ro" => data(bits::bitfield_ro),
        "restore" => data(k::restore),
        "pfadd" => data(hll::pfadd),
        "pfcount" => data(hll::pfcount),
        "pfmerge" => data(hll::pfmerge),
        "eval" => data(scripting::eval),
        "evalsha" => data(scripting::evalsha),
        "eval_ro" => data(scripting::eval_ro),
        "evalsha_ro" => data(scripting::evalsha_ro),
        "fcall" => data(scripting::fcall),
        "fcall_ro" => data(scripting::fcall_ro),
        "xadd" => data(stream::xadd),
        "xtrim" => data(stream::xtrim),
        "xdel" => data(stream::xdel),
        "xlen" => data(stream::xlen),
        "xrange" => data(stream::xrange),
        "xrevrange" => data(stream::xrevrange),
        "xread" => blocking(stream::xread),
        "xreadgroup" => blocking(stream::xreadgroup),
        "xsetid" => data(stream::xsetid),
        "xgroup" => data(stream::xgroup),
        "xack" => data(stream::xack),
        "xpending" => data(stream::xpending),
        "xclaim" => data(stream::xclaim),
        "xautoclaim" => data(stream::xautoclaim),
        "xinfo" => data(stream::xinfo),
        "geoadd" => data(geo::geoadd),
        "geopos" => data(geo::geopos),
        "geohash" => data(geo::geohash),
        "geodist" => data(geo::geodist),
        "georadius" => data(geo::georadius),
        "georadius_ro" => data(geo::georadius_ro),
        "georadiusbymember" => data(geo::georadiusbymember),
        "georadiusbymember_ro" => data(geo::georadiusbymember_ro),
        "geosearch" => data(geo::geosearch),
        "geosearchstore" => data(geo::geosearchstore),
        "keys" => data(k::keys_cmd),
        "scan" => data(k::scan),
        "randomkey" => data(k::randomkey),
        "dbsize" => data(k::dbsize),
        "flushdb" | "flushall" => data(k::flushall),
        "acl" | "save" | "bgsave" | "lastsave" | "ping" | "echo" | "quit" | "reset" | "hello" | "auth" | "select"
        | "client" | "command" | "info" | "config" | "time" | "shutdown" | "function" | "script" | "debug"
        | "multi" | "exec" | "discard" | "watch" | "unwatch" | "object" | "cluster" | "readonly" | "readwrite"
        | "asking" | "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "publish" | "pubsub" | "wait"
        | "ssubscribe" | "sunsubscribe" | "spublish" | "migrate" | "slowlog" | "role" | "replicaof" | "slaveof"
        | "lolwut" | "latency" | "module" | "memory" | "monitor" => Some(Run::Local),
        _ => None,
    }
}

fn table() -> &'static HashMap<&'static str, CommandSpec> {
    static TABLE: OnceLock<HashMap<&'static str, CommandSpec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        SPECS
            .iter()
            .filter_map(|&(name, arity, flags, first_key, last_key, step, group, summary, since, complexity)| {
                let run = run_of(name)?;
                Some((
                    name,
                    CommandSpec {
                        name,
                        arity,
                        flags,
                        first_key,
                        last_key,
                        step,
                        group,
                        summary,
                        since,
                        complexity,
                        run,
                        container: SUBSPECS.iter().any(|r| r.0 == name),
                    },
                ))
            })
            .collect()
    })
}

/// Looks a command up by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    table().get(std::str::from_utf8(lower).ok()?)
}

/// Every command, sorted by name.
pub fn all() -> Vec<&'static CommandSpec> {
    let mut v: Vec<_> = table().values().collect();
    v.sort_by_key(|c| c.name);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_row_has_a_handler() {
        for row in SPECS {
            assert!(run_of(row.0).is_some(), "{} has no handler", row.0);
        }
        assert!(lookup(b"GeT").is_some());
        assert_eq!(lookup(b"mset").unwrap().key_positions(5), vec![1, 3]);
    }
}
