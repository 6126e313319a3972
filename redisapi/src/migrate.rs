//! MIGRATE: keys from this store into another Redis-speaking server (Redis
//! itself, or a node of another kvstore cluster), as Redis' MIGRATE moves
//! them: each key's DUMP payload and remaining TTL sent as RESTORE over a
//! connection of its own (with AUTH and SELECT first), then, without COPY,
//! the keys the target took removed here.
//!
//! Redis blocks while it migrates, so nothing changes a key between its
//! dump and its removal. Here other clients go on writing: each key is
//! WATCHed before it is dumped and removed only if unchanged since (a
//! removal through raft like EXEC's); a key changed meanwhile stays here,
//! and MIGRATE says so. Nothing acknowledged is ever lost.

use crate::conn::Conn;
use bytes::Bytes;
use node::command::{Key, Keys, Ttl};
use node::num::parse_i64_arg;
use node::reply::err;
use node::{Cmd, Reply};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Options {
    copy: bool,
    replace: bool,
    /// AUTH's password, or AUTH2's user and password.
    auth: Option<(Option<Bytes>, Bytes)>,
    keys: Vec<Bytes>,
    db: i64,
    timeout: Duration,
}

/// Redis' argument checks, in its order.
fn options(argv: &[Bytes]) -> Result<Options, Reply> {
    let syntax = || Reply::error(err::SYNTAX);
    let (mut copy, mut replace, mut auth, mut keys) = (false, false, None, None);
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        match argv[j].to_ascii_lowercase().as_slice() {
            b"copy" => copy = true,
            b"replace" => replace = true,
            b"auth" if more >= 1 => {
                auth = Some((None, argv[j + 1].clone()));
                j += 1;
            }
            b"auth2" if more >= 2 => {
                auth = Some((Some(argv[j + 1].clone()), argv[j + 2].clone()));
                j += 2;
            }
            b"keys" => {
                if !argv[3].is_empty() {
                    return Err(Reply::error(
                        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                    ));
                }
                keys = Some(argv[j + 1..].to_vec());
                break;
            }
            _ => return Err(syntax()),
        }
        j += 1;
    }
    let timeout = parse_i64_arg(&argv[5])?;
    let db = parse_i64_arg(&argv[4])?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    Ok(Options { copy, replace, auth, keys: keys.unwrap_or_else(|| vec![argv[3].clone()]), db, timeout })
}

/// The key positions of a MIGRATE (COMMAND GETKEYS): the key argument, or
/// what follows KEYS.
pub fn key_positions(argv: &[Bytes]) -> Vec<usize> {
    match argv.iter().skip(6).position(|a| a.eq_ignore_ascii_case(b"keys")) {
        Some(k) => (6 + k + 1..argv.len()).collect(),
        None => vec![3],
    }
}

fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A key to move: its payload, remaining TTL (0: none) and its watch.
struct Dumped {
    key: Bytes,
    payload: Bytes,
    ttl_ms: i64,
    watch: node::command::Watch,
}

pub async fn migrate(c: &mut Conn, argv: &[Bytes]) -> Reply {
    let o = match options(argv) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let node = c.server.node.clone();
    let mut dumped = Vec::new();
    for key in &o.keys {
        let watch = match node.watch(&mut c.session, std::slice::from_ref(key)).await {
            Ok(mut w) => w.remove(0),
            Err(e) => return e,
        };
        if !watch.existed {
            continue;
        }
        let payload = match node.submit(&mut c.session, Cmd::Dump(Key { key: key.clone() })).await.await {
            Reply::Bulk(p) => p,
            Reply::Error(e) => return Reply::Error(e),
            _ => continue,
        };
        let ttl = Cmd::Ttl(Ttl { key: key.clone(), millis: true, absolute: false });
        let ttl_ms = match node.submit(&mut c.session, ttl).await.await {
            Reply::Int(t) if t >= 0 => t.max(1),
            Reply::Int(-1) => 0,
            // Expired (or removed) since: nothing to move.
            Reply::Int(_) => continue,
            Reply::Error(e) => return Reply::Error(e),
            _ => continue,
        };
        dumped.push(Dumped { key: key.clone(), payload, ttl_ms, watch });
    }
    if dumped.is_empty() {
        return Reply::status("NOKEY");
    }
    let (restored, target_error) = match send(&argv[1], &argv[2], &o, &dumped).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    // The keys the target took leave here, each only if unchanged since it
    // was dumped.
    let mut changed = Vec::new();
    if !o.copy {
        for d in dumped.iter().zip(&restored).filter(|(_, ok)| **ok).map(|(d, _)| d) {
            let del = Cmd::Del(Keys { keys: vec![d.key.clone()] });
            match node.submit_txn(&mut c.session, vec![del], vec![d.watch.clone()]).await.await {
                Reply::NilArray => changed.push(String::from_utf8_lossy(&d.key).into_owned()),
                Reply::Error(e) => return Reply::Error(e),
                _ => {}
            }
        }
    }
    // As Redis: the keys the target took are moved even when it refused
    // another, and the answer is its error.
    match target_error {
        Some(e) => Reply::error(format!("ERR Target instance replied with error: {e}")),
        None if !changed.is_empty() => Reply::error(format!(
            "ERR MIGRATE copied these keys but they changed here meanwhile, so they were kept here: {}",
            changed.join(" ")
        )),
        None => Reply::Ok,
    }
}

/// Sends AUTH, SELECT and the RESTOREs. Gives whether each key was
/// restored, and the target's first error if it gave one (Redis' order:
/// AUTH's, SELECT's, then the RESTOREs'); `Err` when the connection failed.
async fn send(host: &[u8], port: &[u8], o: &Options, dumped: &[Dumped]) -> Result<(Vec<bool>, Option<String>), Reply> {
    let addr = format!("{}:{}", String::from_utf8_lossy(host), String::from_utf8_lossy(port));
    // Redis connects without blocking and waits until the socket is
    // writable, which a refused connection also is: that shows as a failed
    // write. Only a connection that does not come up in time is a failed
    // connect.
    let stream = match tokio::time::timeout(o.timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => return Err(Reply::error("IOERR error or timeout writing to target instance")),
        Err(_) => return Err(Reply::error("IOERR error or timeout connecting to the client")),
    };
    let mut out = Vec::new();
    if let Some((user, password)) = &o.auth {
        match user {
            Some(u) => command(&mut out, &[b"AUTH", u, password]),
            None => command(&mut out, &[b"AUTH", password]),
        }
    }
    command(&mut out, &[b"SELECT", o.db.to_string().as_bytes()]);
    for d in dumped {
        let ttl = d.ttl_ms.to_string();
        let mut args: Vec<&[u8]> = vec![b"RESTORE", &d.key, ttl.as_bytes(), &d.payload];
        if o.replace {
            args.push(b"REPLACE");
        }
        command(&mut out, &args);
    }
    let mut reader = BufReader::new(stream);
    match tokio::time::timeout(o.timeout, reader.get_mut().write_all(&out)).await {
        Ok(Ok(())) => {}
        _ => return Err(Reply::error("IOERR error or timeout writing to target instance")),
    }
    let mut first_error: Option<String> = None;
    let mut setup_ok = true;
    let setup = if o.auth.is_some() { 2 } else { 1 };
    for _ in 0..setup {
        let r = read_line(&mut reader, o.timeout).await?;
        if let Some(e) = r.strip_prefix('-') {
            first_error.get_or_insert_with(|| e.to_string());
            setup_ok = false;
        }
    }
    let mut restored = Vec::with_capacity(dumped.len());
    for _ in dumped {
        let r = read_line(&mut reader, o.timeout).await?;
        match r.strip_prefix('-') {
            Some(e) => {
                first_error.get_or_insert_with(|| e.to_string());
                restored.push(false);
            }
            None => restored.push(setup_ok),
        }
    }
    Ok((restored, first_error))
}

/// One reply line of the target (every reply MIGRATE reads is one line).
async fn read_line(reader: &mut BufReader<TcpStream>, timeout: Duration) -> Result<String, Reply> {
    let mut line = String::new();
    match tokio::time::timeout(timeout, reader.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => Ok(line.trim_end().to_string()),
        _ => Err(Reply::error("IOERR error or timeout reading to target instance")),
    }
}
