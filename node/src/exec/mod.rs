//! Executing typed commands against a partition: reads through a [`Db`]
//! view, writes through an [`Apply`] view. One module per command family.

pub mod collections;
pub mod db;
pub mod keyspace;
pub mod strings;

use crate::command::Cmd;
use crate::reply::Reply;
use crate::store::KvRead;
pub use db::{Apply, Db};

/// Runs a read-only command. Keyless ones (SCAN, KEYS, RANDOMKEY, DBSIZE)
/// cover this partition only; the node combines partitions.
pub fn read<K: KvRead + ?Sized>(db: &Db<K>, cmd: &Cmd) -> Reply {
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
        w => Reply::error(format!("ERR internal: {} is not a read", name(w))),
    }
}

/// Applies one command. Read commands (queued in MULTI) are answered from
/// the state as of this point of the log.
pub fn write(a: &mut Apply, cmd: &Cmd) -> Reply {
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
        r => read(&a.db(), r),
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
    }
}
