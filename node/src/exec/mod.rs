//! Executing typed commands against a partition: reads through a [`Db`]
//! view, writes through an [`Apply`] view. One module per command family.

pub mod bits;
pub mod chunks;
pub mod cjson;
pub mod cmsgpack;
pub mod collections;
pub mod db;
pub mod dump;
pub mod geo;
pub mod guards;
pub mod hash;
pub mod hll;
pub mod keyspace;
pub mod list;
pub mod luabit;
pub mod luastruct;
pub mod sandbox;
pub mod script;
pub mod set;
pub mod sort;
pub mod stream;
pub mod stream_group;
pub mod strings;
pub mod zset;
pub mod zset_rank;

use crate::command::Cmd;
use crate::meta::DataType;
use crate::reply::Reply;
use crate::store::KvRead;
pub use db::{Apply, Db};

/// Runs a read-only command. Keyless ones (SCAN, KEYS, RANDOMKEY, DBSIZE)
/// cover this partition only; the node combines partitions.
pub fn read<K: KvRead + ?Sized>(db: &Db<K>, cmd: &Cmd) -> Reply {
    crate::access::CLOCK.touch_keys(cmd);
    run_read(db, cmd)
}

/// [`read`] without stamping the keys' access time (`write` stamped them).
fn run_read<K: KvRead + ?Sized>(db: &Db<K>, cmd: &Cmd) -> Reply {
    match cmd {
        Cmd::Get(k) => strings::get(db, &k.key),
        Cmd::MGet(k) => strings::mget(db, &k.keys),
        Cmd::StrLen(k) => strings::strlen(db, &k.key),
        Cmd::GetRange(c) => strings::getrange(db, c),
        Cmd::Exists(k) | Cmd::Touch(k) => keyspace::exists(db, &k.keys),
        Cmd::Type(k) => keyspace::type_of(db, &k.key),
        Cmd::Ttl(c) => keyspace::ttl(db, c),
        Cmd::ObjectEncoding(k) => keyspace::object_encoding(db, &k.key),
        Cmd::Keys(p) => Reply::Array(keyspace::keys(db, &p.pattern).into_iter().map(Reply::Bulk).collect()),
        Cmd::Scan(c) => {
            let (keys, next, _) = keyspace::scan(db, c);
            Reply::Array(vec![
                Reply::bulk(next.unwrap_or(0).to_string()),
                Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
            ])
        }
        Cmd::RandomKey(_) => match keyspace::random_key(db, 0) {
            Some(k) => Reply::Bulk(k),
            None => Reply::Nil,
        },
        Cmd::DbSize(_) => Reply::Int(db.key_count as i64),
        Cmd::Dump(k) => dump::dump(db, &k.key),
        Cmd::GetBit(c) => bits::getbit(db, c),
        Cmd::BitCount(c) => bits::bitcount(db, c),
        Cmd::BitPos(c) => bits::bitpos(db, c),
        Cmd::Lcs(c) => strings::lcs(db, c),
        Cmd::ObjectInfo(c) => keyspace::object_info(db, c),
        Cmd::MemoryUsage(c) => keyspace::memory_usage(db, c),
        Cmd::Sort(c) if c.store.is_none() => sort::sort_read(db, c),
        Cmd::BitField(c) if !cmd.is_write() => bits::bitfield_read(db, c),
        Cmd::Restore(c) if c.refused.is_some() => dump::refused(db, c),
        Cmd::HGet(c) => hash::hget(db, c),
        Cmd::HMGet(c) => hash::hmget(db, c),
        Cmd::HGetAll(k) => hash::hgetall(db, k),
        Cmd::HLen(k) => collections::card(db, &k.key, DataType::Hash),
        Cmd::HStrLen(c) => hash::hstrlen(db, c),
        Cmd::HExists(c) => hash::hexists(db, c),
        Cmd::HKeys(k) => hash::hkeys_or_vals(db, k, true),
        Cmd::HVals(k) => hash::hkeys_or_vals(db, k, false),
        Cmd::HRandField(c) => hash::hrandfield(db, c),
        Cmd::HScan(c) => hash::hscan(db, c),
        Cmd::LLen(k) => collections::card(db, &k.key, DataType::List),
        Cmd::LIndex(c) => list::lindex(db, c),
        Cmd::LRange(c) => list::lrange(db, c),
        Cmd::LPos(c) => list::lpos(db, c),
        Cmd::SCard(k) => collections::card(db, &k.key, DataType::Set),
        Cmd::SIsMember(c) => set::sismember(db, c),
        Cmd::SMIsMember(c) => set::smismember(db, c),
        Cmd::SMembers(k) => set::smembers(db, k),
        Cmd::SRandMember(c) => set::srandmember(db, c),
        Cmd::SScan(c) => set::sscan(db, c),
        Cmd::SetOp(c) if c.store.is_none() => set::setop_read(db, c),
        Cmd::ZCard(k) => collections::card(db, &k.key, DataType::ZSet),
        Cmd::ZScore(c) => zset::zscore(db, c),
        Cmd::ZMScore(c) => zset::zmscore(db, c),
        Cmd::ZRank(c) => zset::zrank(db, c),
        Cmd::ZRange(c) if c.store.is_none() && !c.remove => zset::zrange_read(db, c),
        Cmd::ZSetOp(c) if c.store.is_none() => zset::zsetop_read(db, c),
        Cmd::ZRandMember(c) => zset::zrandmember(db, c),
        Cmd::ZScan(c) => zset::zscan(db, c),
        Cmd::GeoMembers(c) => geo::members(db, c),
        Cmd::GeoSearch(c) if c.store.is_none() => geo::search(db, c),
        Cmd::PfCount(k) if !cmd.is_write() => hll::pfcount_union(db, &k.keys),
        Cmd::XLen(k) => stream::xlen(db, &k.key),
        Cmd::XRange(c) => stream::xrange(db, c),
        Cmd::XRead(c) if c.peek => stream_group::xreadgroup_peek(db, c),
        Cmd::XRead(c) if c.group.is_empty() => stream::xread(db, c),
        Cmd::XPending(c) => stream_group::xpending(db, c),
        Cmd::XInfo(c) => stream_group::xinfo(db, c),
        w => Reply::error(format!("ERR internal: {} is not a read", name(w))),
    }
}

/// Applies one command. Read commands (queued in MULTI) are answered from
/// the state as of this point of the log.
pub fn write(a: &mut Apply, cmd: &Cmd) -> Reply {
    crate::access::CLOCK.touch_keys(cmd);
    match cmd {
        Cmd::Set(c) => strings::set(a, c),
        Cmd::MSet(c) => strings::mset(a, c),
        Cmd::Append(c) => strings::append(a, c),
        Cmd::SetRange(c) => strings::setrange(a, c),
        Cmd::IncrBy(c) => strings::incrby(a, c),
        Cmd::IncrByFloat(c) => strings::incrbyfloat(a, c),
        Cmd::GetDel(k) => strings::getdel(a, &k.key),
        Cmd::GetEx(c) => strings::getex(a, c),
        Cmd::Del(k) => keyspace::del(a, &k.keys),
        Cmd::Expire(c) => keyspace::expire(a, c),
        Cmd::Persist(k) => keyspace::persist(a, &k.key),
        Cmd::Rename(c) => keyspace::rename(a, c),
        Cmd::Copy(c) => keyspace::copy(a, c),
        Cmd::FlushAll(_) => keyspace::flush(a),
        Cmd::ExpireIfStale(c) => keyspace::expire_if_stale(a, c),
        Cmd::Restore(c) => dump::restore(a, c),
        Cmd::SetBit(c) => bits::setbit(a, c),
        Cmd::BitOp(c) => bits::bitop(a, c),
        Cmd::BitField(c) if cmd.is_write() => bits::bitfield_write(a, c),
        Cmd::Sort(c) if c.store.is_some() => sort::sort_store(a, c),
        Cmd::HSet(c) => hash::hset(a, c),
        Cmd::HDel(c) => hash::hdel(a, c),
        Cmd::HIncrBy(c) => hash::hincrby(a, c),
        Cmd::HIncrByFloat(c) => hash::hincrbyfloat(a, c),
        Cmd::Push(c) => list::push(a, c),
        Cmd::Pop(c) => list::pop(a, c),
        Cmd::LSet(c) => list::lset(a, c),
        Cmd::LTrim(c) => list::ltrim(a, c),
        Cmd::LRem(c) => list::lrem(a, c),
        Cmd::LInsert(c) => list::linsert(a, c),
        Cmd::LMove(c) => list::lmove(a, c),
        Cmd::LMPop(c) => list::lmpop(a, c),
        Cmd::SAdd(c) => set::sadd(a, c),
        Cmd::SRem(c) => set::srem(a, c),
        Cmd::SPop(c) => set::spop(a, c),
        Cmd::SMove(c) => set::smove(a, c),
        Cmd::SetOp(c) if c.store.is_some() => set::setop_store(a, c),
        Cmd::ZAdd(c) => zset::zadd(a, c),
        Cmd::ZRem(c) => zset::zrem(a, c),
        Cmd::ZRange(c) if c.store.is_some() || c.remove => zset::zrange_write(a, c),
        Cmd::ZPop(c) => zset::zpop(a, c),
        Cmd::ZMPop(c) => zset::zmpop(a, c),
        Cmd::ZSetOp(c) if c.store.is_some() => zset::zsetop_store(a, c),
        Cmd::GeoSearch(c) if c.store.is_some() => geo::search_store(a, c),
        Cmd::PfAdd(c) => hll::pfadd(a, c),
        Cmd::PfCount(k) if cmd.is_write() => hll::pfcount(a, &k.keys[0]),
        Cmd::PfMerge(c) => hll::pfmerge(a, c),
        Cmd::Eval(c) => script::eval(a, c),
        Cmd::XAdd(c) => stream::xadd(a, c),
        Cmd::XTrim(c) => stream::xtrim(a, c),
        Cmd::XDel(c) => stream::xdel(a, c),
        Cmd::XSetId(c) => stream::xsetid(a, c),
        Cmd::XRead(c) if !c.group.is_empty() && !c.peek => stream_group::xreadgroup(a, c),
        Cmd::XGroup(c) => stream_group::xgroup(a, c),
        Cmd::XAck(c) => stream_group::xack(a, c),
        Cmd::XClaim(c) => stream_group::xclaim(a, c),
        // Each replica keeps its own access clock: a script that wrote what
        // IDLETIME answered would write differently on each.
        Cmd::ObjectInfo(c) if c.field == crate::command::ObjectField::IdleTime as i32 => Reply::error(
            "ERR OBJECT IDLETIME is not served inside MULTI or a script (each replica keeps its own access times)",
        ),
        r => run_read(&a.db(), r),
    }
}

/// The command's name, for messages.
pub fn name(cmd: &Cmd) -> &'static str {
    match cmd {
        Cmd::Get(_) => "get",
        Cmd::MGet(_) => "mget",
        Cmd::StrLen(_) => "strlen",
        Cmd::GetRange(_) => "getrange",
        Cmd::Exists(_) => "exists",
        Cmd::Touch(_) => "touch",
        Cmd::Type(_) => "type",
        Cmd::Ttl(_) => "ttl",
        Cmd::ObjectEncoding(_) => "object",
        Cmd::Scan(_) => "scan",
        Cmd::Keys(_) => "keys",
        Cmd::RandomKey(_) => "randomkey",
        Cmd::DbSize(_) => "dbsize",
        Cmd::Dump(_) => "dump",
        Cmd::Restore(_) => "restore",
        Cmd::GetBit(_) => "getbit",
        Cmd::BitCount(_) => "bitcount",
        Cmd::BitPos(_) => "bitpos",
        Cmd::Lcs(_) => "lcs",
        Cmd::ObjectInfo(_) => "object",
        Cmd::MemoryUsage(_) => "memory",
        Cmd::Sort(_) => "sort",
        Cmd::SetBit(_) => "setbit",
        Cmd::BitOp(_) => "bitop",
        Cmd::BitField(_) => "bitfield",
        Cmd::Set(_) => "set",
        Cmd::MSet(_) => "mset",
        Cmd::Append(_) => "append",
        Cmd::SetRange(_) => "setrange",
        Cmd::IncrBy(_) => "incrby",
        Cmd::IncrByFloat(_) => "incrbyfloat",
        Cmd::GetDel(_) => "getdel",
        Cmd::GetEx(_) => "getex",
        Cmd::Del(_) => "del",
        Cmd::Expire(_) => "expire",
        Cmd::Persist(_) => "persist",
        Cmd::Rename(_) => "rename",
        Cmd::Copy(_) => "copy",
        Cmd::FlushAll(_) => "flushall",
        Cmd::ExpireIfStale(_) => "expireifstale",
        Cmd::HSet(_) => "hset",
        Cmd::HGet(_) => "hget",
        Cmd::HMGet(_) => "hmget",
        Cmd::HGetAll(_) => "hgetall",
        Cmd::HDel(_) => "hdel",
        Cmd::HLen(_) => "hlen",
        Cmd::HStrLen(_) => "hstrlen",
        Cmd::HExists(_) => "hexists",
        Cmd::HKeys(_) => "hkeys",
        Cmd::HVals(_) => "hvals",
        Cmd::HIncrBy(_) => "hincrby",
        Cmd::HIncrByFloat(_) => "hincrbyfloat",
        Cmd::HRandField(_) => "hrandfield",
        Cmd::HScan(_) => "hscan",
        Cmd::Push(_) => "push",
        Cmd::Pop(_) => "pop",
        Cmd::LLen(_) => "llen",
        Cmd::LIndex(_) => "lindex",
        Cmd::LSet(_) => "lset",
        Cmd::LRange(_) => "lrange",
        Cmd::LTrim(_) => "ltrim",
        Cmd::LRem(_) => "lrem",
        Cmd::LInsert(_) => "linsert",
        Cmd::LPos(_) => "lpos",
        Cmd::LMove(_) => "lmove",
        Cmd::LMPop(_) => "lmpop",
        Cmd::SAdd(_) => "sadd",
        Cmd::SRem(_) => "srem",
        Cmd::SCard(_) => "scard",
        Cmd::SIsMember(_) => "sismember",
        Cmd::SMIsMember(_) => "smismember",
        Cmd::SMembers(_) => "smembers",
        Cmd::SRandMember(_) => "srandmember",
        Cmd::SPop(_) => "spop",
        Cmd::SMove(_) => "smove",
        Cmd::SetOp(_) => "setop",
        Cmd::SScan(_) => "sscan",
        Cmd::ZAdd(_) => "zadd",
        Cmd::ZRem(_) => "zrem",
        Cmd::ZCard(_) => "zcard",
        Cmd::ZScore(_) => "zscore",
        Cmd::ZMScore(_) => "zmscore",
        Cmd::ZRank(_) => "zrank",
        Cmd::ZRange(_) => "zrange",
        Cmd::ZPop(_) => "zpop",
        Cmd::ZMPop(_) => "zmpop",
        Cmd::ZSetOp(_) => "zsetop",
        Cmd::ZRandMember(_) => "zrandmember",
        Cmd::ZScan(_) => "zscan",
        Cmd::PfAdd(_) => "pfadd",
        Cmd::PfCount(_) => "pfcount",
        Cmd::PfMerge(_) => "pfmerge",
        Cmd::Eval(_) => "eval",
        Cmd::XAdd(_) => "xadd",
        Cmd::XTrim(_) => "xtrim",
        Cmd::XDel(_) => "xdel",
        Cmd::XLen(_) => "xlen",
        Cmd::XRange(_) => "xrange",
        Cmd::XRead(_) => "xread",
        Cmd::XSetId(_) => "xsetid",
        Cmd::XGroup(_) => "xgroup",
        Cmd::XAck(_) => "xack",
        Cmd::XPending(_) => "xpending",
        Cmd::XClaim(_) => "xclaim",
        Cmd::XInfo(_) => "xinfo",
        Cmd::GeoMembers(_) => "geopos",
        Cmd::GeoSearch(_) => "geosearch",
    }
}

/// Random picks of indexes into `items`, as Redis' *RANDMEMBER/SPOP count
/// semantics want: `count > 0` distinct (at most all), `count < 0` with
/// repetition, `|count|` of them.
pub fn rand_pick<T, R: rand::Rng>(items: &[T], count: i64, rng: &mut R) -> Vec<usize> {
    use rand::seq::index::sample;
    if items.is_empty() || count == 0 {
        return vec![];
    }
    if count < 0 {
        return (0..count.unsigned_abs()).map(|_| rng.gen_range(0..items.len())).collect();
    }
    let n = (count as usize).min(items.len());
    sample(rng, items.len(), n).into_vec()
}
