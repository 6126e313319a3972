//! Parsing the stream family, in the order Redis 7.0 checks arguments, so
//! that the same mistake gets the same error. Errors Redis reports only
//! after it looked the key up travel in the command (`invalid`, `error`).

use bytes::Bytes;
use node::command::Key;
use node::num::{parse_i64, parse_i64_arg};
use node::reply::err;
use node::stream::{self, parse_id, parse_id_arg, parse_strict_id_arg, StreamId, MAX_ID};
use node::stream_cmds as sc;
use node::{Cmd, Reply};
use std::time::Duration;

use super::list::Blocking;

fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

fn int_or(arg: &[u8], msg: &str) -> Result<i64, Reply> {
    parse_i64(arg).ok_or_else(|| Reply::error(format!("ERR {msg}")))
}

/// XADD's and XTRIM's options (Redis' streamParseAddOrTrimArgsOrReply).
/// For XADD, also the ID (parsed where the options end, as Redis does):
/// (trim, nomkstream, id position, id: None for `*`).
type AddOrTrim = (Option<sc::Trim>, bool, usize, Option<stream::ParsedId>);
fn add_or_trim_args(argv: &[Bytes], xadd: bool) -> Result<AddOrTrim, Reply> {
    let mut maxlen: Option<u64> = None;
    let mut minid: Option<StreamId> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut nomkstream = false;
    let mut id = None;
    let mut i = 2;
    while i < argv.len() {
        let moreargs = argv.len() - 1 - i;
        let opt = &argv[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && moreargs > 0 {
            if maxlen.is_some() || minid.is_some() {
                return Err(Reply::error(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            approx = false;
            let next = &argv[i + 1];
            if moreargs >= 2 && next.as_ref() == b"~" {
                approx = true;
                i += 1;
            } else if moreargs >= 2 && next.as_ref() == b"=" {
                i += 1;
            }
            if is(opt, "maxlen") {
                let n = parse_i64_arg(&argv[i + 1])?;
                if n < 0 {
                    return Err(Reply::error("ERR The MAXLEN argument must be >= 0."));
                }
                maxlen = Some(n as u64);
            } else {
                minid = Some(parse_id(&argv[i + 1], 0, true, false).ok_or_else(invalid_id)?.id);
            }
            i += 1;
        } else if is(opt, "limit") && moreargs > 0 {
            limit = parse_i64_arg(&argv[i + 1])?;
            if limit < 0 {
                return Err(Reply::error("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            nomkstream = true;
        } else if xadd {
            id = Some(parse_id(opt, 0, true, true).ok_or_else(invalid_id)?);
            break;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        i += 1;
    }
    let strategy = maxlen.is_some() || minid.is_some();
    if limit != 0 && !strategy {
        return Err(Reply::error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && !strategy {
        return Err(Reply::error("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    if limit_given && !approx {
        return Err(Reply::error("ERR syntax error, LIMIT cannot be used without the special ~ option"));
    }
    if approx && !limit_given {
        // Redis' default: 100 * stream-node-max-entries.
        limit = 10_000;
    }
    let trim = strategy.then_some(sc::Trim { maxlen, minid, approx, limit: limit as u64 });
    Ok((trim, nomkstream, i, id))
}

fn invalid_id() -> Reply {
    Reply::error(stream::INVALID_ID)
}

pub fn xadd(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let (trim, nomkstream, idpos, id) = add_or_trim_args(argv, true)?;
    let (id, auto_seq) = match id {
        Some(p) => (Some(p.id), !p.seq_given),
        None => (None, false),
    };
    let fields = argv.get(idpos + 1..).unwrap_or_default();
    if fields.len() < 2 || fields.len() % 2 == 1 {
        return Err(crate::conn::wrong_arity("xadd"));
    }
    if id == Some(stream::MIN_ID) && !auto_seq {
        return Err(Reply::error("ERR The ID specified in XADD must be greater than 0-0"));
    }
    Ok(Cmd::XAdd(sc::XAdd { key: argv[1].clone(), nomkstream, trim, id, auto_seq, fields: fields.to_vec() }))
}

pub fn xtrim(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let (trim, ..) = add_or_trim_args(argv, false)?;
    Ok(Cmd::XTrim(sc::XTrim { key: argv[1].clone(), trim }))
}

/// IDs checked strictly; whether one was not an ID (reported at apply).
fn strict_ids(args: &[Bytes]) -> (Vec<StreamId>, bool) {
    let mut ids = Vec::with_capacity(args.len());
    for a in args {
        match parse_strict_id_arg(a) {
            Ok(id) => ids.push(id),
            Err(_) => return (ids, true),
        }
    }
    (ids, false)
}

pub fn xdel(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let (ids, invalid) = strict_ids(&argv[2..]);
    Ok(Cmd::XDel(sc::KeyIds { key: argv[1].clone(), ids, group: Bytes::new(), invalid }))
}

pub fn xack(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let (ids, invalid) = strict_ids(&argv[3..]);
    Ok(Cmd::XAck(sc::KeyIds { key: argv[1].clone(), ids, group: argv[2].clone(), invalid }))
}

pub fn xlen(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::XLen(Key { key: argv[1].clone() }))
}

/// An interval bound (Redis' streamParseIntervalIDOrReply): `(` makes it
/// exclusive; returns the ID and whether it was exclusive.
fn interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        let p = parse_id(&arg[1..], missing_seq, true, false).ok_or_else(invalid_id)?;
        return Ok((p.id, true));
    }
    Ok((parse_id_arg(arg, missing_seq)?, false))
}

fn interval_start(arg: &[u8]) -> Result<StreamId, Reply> {
    match interval_id(arg, 0)? {
        (id, true) => id.incr().ok_or_else(|| Reply::error("ERR invalid start ID for the interval")),
        (id, false) => Ok(id),
    }
}

fn interval_end(arg: &[u8]) -> Result<StreamId, Reply> {
    match interval_id(arg, u64::MAX)? {
        (id, true) => id.decr().ok_or_else(|| Reply::error("ERR invalid end ID for the interval")),
        (id, false) => Ok(id),
    }
}

fn range(argv: &[Bytes], rev: bool) -> Result<Cmd, Reply> {
    let (start_arg, end_arg) = if rev { (&argv[3], &argv[2]) } else { (&argv[2], &argv[3]) };
    let start = interval_start(start_arg)?;
    let end = interval_end(end_arg)?;
    let mut count = None;
    let mut j = 4;
    while j < argv.len() {
        if is(&argv[j], "count") && j + 1 < argv.len() {
            count = Some(parse_i64_arg(&argv[j + 1])?.max(0) as u64);
            j += 2;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
    }
    Ok(Cmd::XRange(sc::XRange { key: argv[1].clone(), start: Some(start), end: Some(end), count, rev }))
}

pub fn xrange(argv: &[Bytes]) -> Result<Cmd, Reply> {
    range(argv, false)
}

pub fn xrevrange(argv: &[Bytes]) -> Result<Cmd, Reply> {
    range(argv, true)
}

/// XREAD and XREADGROUP (Redis' xreadCommand's option loop).
fn read(argv: &[Bytes], group: bool) -> Result<Blocking, Reply> {
    let name = if group { "XREADGROUP" } else { "XREAD" };
    let mut timeout: Option<Option<Duration>> = None;
    let mut count = None;
    let mut streams_at = None;
    let (mut group_name, mut consumer) = (None, Bytes::new());
    let mut noack = false;
    let mut i = 1;
    while i < argv.len() {
        let moreargs = argv.len() - i - 1;
        let o = &argv[i];
        if is(o, "block") && moreargs > 0 {
            i += 1;
            let ms =
                parse_i64(&argv[i]).ok_or_else(|| Reply::error("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(Reply::error("ERR timeout is negative"));
            }
            timeout = Some((ms > 0).then(|| Duration::from_millis(ms as u64)));
        } else if is(o, "count") && moreargs > 0 {
            i += 1;
            count = Some(parse_i64_arg(&argv[i])?.max(0) as u64);
        } else if is(o, "streams") && moreargs > 0 {
            let n = argv.len() - (i + 1);
            if !n.is_multiple_of(2) {
                let symbol = if group { '>' } else { '$' };
                return Err(Reply::error(format!(
                    "ERR Unbalanced {name} list of streams: for each stream key an ID or '{symbol}' must be specified."
                )));
            }
            streams_at = Some(i + 1);
            break;
        } else if is(o, "group") && moreargs >= 2 {
            if !group {
                return Err(Reply::error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group_name = Some(argv[i + 1].clone());
            consumer = argv[i + 2].clone();
            i += 2;
        } else if is(o, "noack") {
            if !group {
                return Err(Reply::error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        i += 1;
    }
    let Some(at) = streams_at else {
        return Err(Reply::error(err::SYNTAX));
    };
    if group && group_name.is_none() {
        return Err(Reply::error("ERR Missing GROUP option for XREADGROUP"));
    }
    let n = (argv.len() - at) / 2;
    let streams = (0..n)
        .map(|k| {
            let (key, id) = (&argv[at + k], &argv[at + n + k]);
            let (kind, after) = match id.as_ref() {
                b"$" => (sc::ReadKind::Last, None),
                b">" => (sc::ReadKind::New, None),
                // Redis marks `>` with the last possible ID.
                _ => match parse_strict_id_arg(id) {
                    Ok(id) if group && id == MAX_ID => (sc::ReadKind::New, None),
                    Ok(id) => (sc::ReadKind::After, Some(id)),
                    Err(_) => (sc::ReadKind::Invalid, None),
                },
            };
            sc::ReadFrom { key: key.clone(), kind: kind as i32, after }
        })
        .collect();
    let cmd = sc::XRead {
        streams,
        count,
        last_ids: false,
        group: group_name.unwrap_or_default(),
        consumer,
        noack,
        peek: false,
    };
    // Without BLOCK: one attempt (a zero wait).
    Ok((Cmd::XRead(cmd), timeout.unwrap_or(Some(Duration::ZERO))))
}

/// Whether XREAD's / XREADGROUP's option loop reaches a BLOCK option
/// before it stops (at STREAMS, or at an error it reports first).
pub fn reaches_block(argv: &[Bytes]) -> bool {
    // GROUP and NOACK are errors in XREAD: reported before a later BLOCK.
    let group = argv[0].eq_ignore_ascii_case(b"xreadgroup");
    let mut i = 1;
    while i + 1 < argv.len() {
        let o = &argv[i];
        if is(o, "block") {
            return true;
        } else if is(o, "count") {
            if parse_i64(&argv[i + 1]).is_none() {
                return false;
            }
            i += 2;
        } else if group && is(o, "group") {
            i += 3;
        } else if group && is(o, "noack") {
            i += 1;
        } else {
            return false;
        }
    }
    false
}

pub fn xread(argv: &[Bytes]) -> Result<Blocking, Reply> {
    read(argv, false)
}

pub fn xreadgroup(argv: &[Bytes]) -> Result<Blocking, Reply> {
    read(argv, true)
}

pub fn xsetid(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let id = parse_strict_id_arg(&argv[2])?;
    let (mut entries_added, mut max_deleted) = (None, None);
    let mut i = 3;
    while i < argv.len() {
        let more = i + 1 < argv.len();
        if is(&argv[i], "entriesadded") && more {
            let n = parse_i64_arg(&argv[i + 1])?;
            if n < 0 {
                return Err(Reply::error("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if is(&argv[i], "maxdeletedid") && more {
            let m = parse_strict_id_arg(&argv[i + 1])?;
            if id < m {
                return Err(Reply::error(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(m);
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        i += 2;
    }
    Ok(Cmd::XSetId(sc::XSetId { key: argv[1].clone(), last_id: Some(id), entries_added, max_deleted }))
}

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

fn help(lines: &[&str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::Status(l.to_string())).collect())
}

fn subcommand_syntax(argv: &[Bytes]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&argv[1]).chars().take(128).collect::<String>(),
        String::from_utf8_lossy(&argv[0]).to_uppercase()
    ))
}

pub fn xgroup(argv: &[Bytes]) -> Result<Cmd, Reply> {
    // Checked at dispatch too; parsers also serve scripts.
    if let Some(e) = crate::local::subcommand_refusal("xgroup", argv) {
        return Err(e);
    }
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    if sub == "help" {
        return Err(help(XGROUP_HELP));
    }
    let op = match sub.as_str() {
        "create" => sc::XGroupOp::Create,
        "setid" => sc::XGroupOp::SetId,
        "destroy" => sc::XGroupOp::Destroy,
        "createconsumer" => sc::XGroupOp::CreateConsumer,
        _ => sc::XGroupOp::DelConsumer,
    };
    let mut mkstream = false;
    let mut entries_read = -1;
    if matches!(op, sc::XGroupOp::Create | sc::XGroupOp::SetId) {
        let mut i = 5;
        while i < argv.len() {
            if op == sc::XGroupOp::Create && is(&argv[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if is(&argv[i], "entriesread") && i + 1 < argv.len() {
                entries_read = parse_i64_arg(&argv[i + 1])?;
                if entries_read < -1 {
                    return Err(Reply::error("ERR value for ENTRIESREAD must be positive or -1"));
                }
                i += 2;
            } else {
                return Err(subcommand_syntax(argv));
            }
        }
        let fits = if op == sc::XGroupOp::Create { argv.len() <= 8 } else { argv.len() == 5 || argv.len() == 7 };
        if !fits {
            return Err(subcommand_syntax(argv));
        }
    }
    let (mut id, mut invalid_id) = (None, false);
    if let Some(arg) = argv.get(4).filter(|_| matches!(op, sc::XGroupOp::Create | sc::XGroupOp::SetId)) {
        if arg.as_ref() != b"$" {
            // CREATE takes no `-` or `+`; SETID does.
            let strict = op == sc::XGroupOp::Create;
            match parse_id(arg, 0, strict, false) {
                Some(p) => id = Some(p.id),
                None => invalid_id = true,
            }
        }
    }
    let consumer = match op {
        sc::XGroupOp::CreateConsumer | sc::XGroupOp::DelConsumer => argv[4].clone(),
        _ => Bytes::new(),
    };
    Ok(Cmd::XGroup(sc::XGroup {
        op: op as i32,
        key: argv[2].clone(),
        group: argv[3].clone(),
        consumer,
        id,
        invalid_id,
        mkstream,
        entries_read,
    }))
}

pub fn xpending(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let n = argv.len();
    if n != 3 && !(6..=9).contains(&n) {
        return Err(Reply::error(err::SYNTAX));
    }
    let mut cmd = sc::XPending { key: argv[1].clone(), group: argv[2].clone(), ..Default::default() };
    if n >= 6 {
        let mut at = 3;
        if is(&argv[3], "idle") {
            cmd.min_idle = parse_i64_arg(&argv[4])?;
            if n < 8 {
                return Err(Reply::error(err::SYNTAX));
            }
            at += 2;
        }
        cmd.count = parse_i64_arg(&argv[at + 2])?.max(0) as u64;
        cmd.start = Some(interval_start(&argv[at])?);
        cmd.end = Some(interval_end(&argv[at + 1])?);
        cmd.consumer = argv.get(at + 3).cloned();
    }
    Ok(Cmd::XPending(cmd))
}

/// XCLAIM key group consumer min-idle-time id [id ...] [options]: every
/// argument error waits until the group was found.
pub fn xclaim(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut cmd =
        sc::XClaim { key: argv[1].clone(), group: argv[2].clone(), consumer: argv[3].clone(), ..Default::default() };
    if let Err(Reply::Error(e)) = claim_args(argv, &mut cmd) {
        cmd.error = e;
    }
    Ok(Cmd::XClaim(Box::new(cmd)))
}

fn claim_args(argv: &[Bytes], cmd: &mut sc::XClaim) -> Result<(), Reply> {
    cmd.min_idle = int_or(&argv[4], "Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut j = 5;
    while j < argv.len() {
        match parse_strict_id_arg(&argv[j]) {
            Ok(id) => cmd.ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let opt = &argv[j];
        if is(opt, "force") {
            cmd.force = true;
        } else if is(opt, "justid") {
            cmd.justid = true;
        } else if is(opt, "idle") && more {
            j += 1;
            cmd.idle = Some(int_or(&argv[j], "Invalid IDLE option argument for XCLAIM")?);
            cmd.time = None;
        } else if is(opt, "time") && more {
            j += 1;
            cmd.time = Some(int_or(&argv[j], "Invalid TIME option argument for XCLAIM")?);
            cmd.idle = None;
        } else if is(opt, "retrycount") && more {
            j += 1;
            cmd.retry_count = Some(int_or(&argv[j], "Invalid RETRYCOUNT option argument for XCLAIM")?);
        } else if is(opt, "lastid") && more {
            j += 1;
            cmd.last_id = Some(parse_strict_id_arg(&argv[j])?);
        } else {
            return Err(Reply::error(format!("ERR Unrecognized XCLAIM option '{}'", String::from_utf8_lossy(opt))));
        }
        j += 1;
    }
    Ok(())
}

pub fn xautoclaim(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let min_idle = int_or(&argv[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = interval_start(&argv[5])?;
    let mut count = 100u64;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        if is(&argv[j], "count") && j + 1 < argv.len() {
            let max = i64::MAX / 16;
            count = parse_i64(&argv[j + 1])
                .filter(|c| (1..=max).contains(c))
                .ok_or_else(|| Reply::error("ERR COUNT must be > 0"))? as u64;
            j += 1;
        } else if is(&argv[j], "justid") {
            justid = true;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        j += 1;
    }
    Ok(Cmd::XClaim(Box::new(sc::XClaim {
        key: argv[1].clone(),
        group: argv[2].clone(),
        consumer: argv[3].clone(),
        min_idle,
        justid,
        auto: true,
        start: Some(start),
        count,
        ..Default::default()
    })))
}

pub fn xinfo(argv: &[Bytes]) -> Result<Cmd, Reply> {
    if let Some(e) = crate::local::subcommand_refusal("xinfo", argv) {
        return Err(e);
    }
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let kind = match sub.as_str() {
        "help" => return Err(help(XINFO_HELP)),
        "groups" => sc::XInfoKind::Groups,
        "consumers" => sc::XInfoKind::Consumers,
        _ => sc::XInfoKind::Stream,
    };
    let mut cmd = sc::XInfo { kind: kind as i32, key: argv[2].clone(), ..Default::default() };
    match kind {
        sc::XInfoKind::Consumers => cmd.group = argv[3].clone(),
        sc::XInfoKind::Stream if argv.len() > 3 => {
            cmd.full = true;
            cmd.count = 10;
            let opts = &argv[3..];
            if !is(&opts[0], "full") || (opts.len() > 1 && (opts.len() != 3 || !is(&opts[1], "count"))) {
                cmd.error = err::SYNTAX.to_string();
            } else if opts.len() == 3 {
                match parse_i64_arg(&opts[2]) {
                    Ok(n) => cmd.count = n.max(0) as u64,
                    Err(Reply::Error(e)) => cmd.error = e,
                    Err(_) => {}
                }
            }
        }
        _ => {}
    }
    Ok(Cmd::XInfo(cmd))
}
