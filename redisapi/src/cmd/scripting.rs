//! EVAL, EVALSHA and their read-only forms, and the commands a script calls
//! (see `node::exec::script`, which runs scripts where entries are applied).

use super::{lookup, Run};
use bytes::Bytes;
use node::command::Eval;
use node::exec::script::{Caller, ScriptCall};
use node::num::parse_i64_arg;
use node::{Cmd, Reply};

pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// EVAL script numkeys [key ...] [arg ...]; EVALSHA names the script by its
/// digest, which the connection resolves (`Server::resolve_script`).
fn parse(argv: &[Bytes], by_sha: bool, read_only: bool) -> Result<Cmd, Reply> {
    if by_sha && argv[1].len() != 40 {
        // Not a digest: no script has it (Redis' answer too).
        return Err(Reply::error(NOSCRIPT));
    }
    let numkeys = parse_i64_arg(&argv[2])?;
    if numkeys < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    if numkeys as u64 > (argv.len() - 3) as u64 {
        return Err(Reply::error("ERR Number of keys can't be greater than number of args"));
    }
    let split = 3 + numkeys as usize;
    let (body, sha) = if by_sha {
        (Bytes::new(), String::from_utf8_lossy(&argv[1]).to_ascii_lowercase())
    } else {
        (argv[1].clone(), String::new())
    };
    Ok(Cmd::Eval(Eval {
        body,
        sha,
        keys: argv[3..split].to_vec(),
        args: argv[split..].to_vec(),
        read_only,
        ..Default::default()
    }))
}

pub fn eval(argv: &[Bytes]) -> Result<Cmd, Reply> {
    parse(argv, false, false)
}

pub fn evalsha(argv: &[Bytes]) -> Result<Cmd, Reply> {
    parse(argv, true, false)
}

pub fn eval_ro(argv: &[Bytes]) -> Result<Cmd, Reply> {
    parse(argv, false, true)
}

pub fn evalsha_ro(argv: &[Bytes]) -> Result<Cmd, Reply> {
    parse(argv, true, true)
}

/// FCALL function numkeys [key ...] [arg ...]: the connection finds the
/// function and only then splits keys from arguments (Redis reports a
/// missing function before a bad key count): see `Server::resolve_script`.
fn fcall_of(argv: &[Bytes], read_only: bool) -> Result<Cmd, Reply> {
    Ok(Cmd::Eval(Eval {
        function: String::from_utf8_lossy(&argv[1]).into_owned(),
        args: argv[2..].to_vec(),
        read_only,
        ..Default::default()
    }))
}

pub fn fcall(argv: &[Bytes]) -> Result<Cmd, Reply> {
    fcall_of(argv, false)
}

pub fn fcall_ro(argv: &[Bytes]) -> Result<Cmd, Reply> {
    fcall_of(argv, true)
}

/// A command as a script runs it (SORT orders a set it would leave alone).
fn scripted(cmd: Cmd) -> Cmd {
    match cmd {
        Cmd::Sort(s) => Cmd::Sort(node::command::Sort { in_script: true, ..s }),
        other => other,
    }
}

/// A script's `redis.call(...)`: the command it names, checked as Redis
/// checks commands from scripts. A blocking pop does not block (its plain
/// pop); TIME answers the entry's clock.
pub fn script_command(argv: &[Bytes], caller: Caller) -> Result<ScriptCall, Reply> {
    let Some(spec) = lookup(&argv[0]) else {
        return Err(Reply::error("ERR Unknown Redis command called from script"));
    };
    if !spec.arity_ok(argv.len()) {
        return Err(Reply::error("ERR Wrong number of args calling Redis command from script"));
    }
    // A container's subcommands are commands of their own for Redis.
    match crate::local::subcommand_refusal(spec.name, argv) {
        Some(Reply::Error(e)) if e.starts_with("ERR unknown subcommand") => {
            return Err(Reply::error("ERR Unknown Redis command called from script"))
        }
        Some(_) => return Err(Reply::error("ERR Wrong number of args calling Redis command from script")),
        None => {}
    }
    let not_allowed = || Reply::error("ERR This Redis command is not allowed from script");
    if spec.has_flag("noscript") {
        return Err(not_allowed());
    }
    crate::acl::command::check_script_call(spec, argv, caller)?;
    let write = spec.has_flag("write");
    match spec.run {
        Run::Data(parse) => parse(argv).map(|cmd| ScriptCall::Run { cmd: scripted(cmd), write }),
        // A stream read given BLOCK is refused, as Redis refuses it (when
        // its option loop meets BLOCK); a blocking pop is its plain pop.
        Run::Blocking(_) if matches!(spec.name, "xread" | "xreadgroup") && super::stream::reaches_block(argv) => {
            Err(Reply::error(format!(
                "ERR {} command is not allowed with BLOCK option from scripts",
                String::from_utf8_lossy(&argv[0])
            )))
        }
        Run::Blocking(parse) => parse(argv).map(|(cmd, _)| ScriptCall::Run { cmd, write }),
        Run::Local => match spec.name {
            "object" => match crate::local::data_form(argv) {
                Some(cmd) => Ok(ScriptCall::Run { cmd, write }),
                None => Err(not_allowed()),
            },
            "time" => Ok(ScriptCall::Time),
            "publish" | "spublish" => Ok(ScriptCall::Publish(node::reply::Message {
                channel: argv[1].clone(),
                message: argv[2].clone(),
                shard: spec.name == "spublish",
            })),
            // One database, as outside scripts.
            "select" => match node::num::parse_i64(&argv[1]) {
                None => Err(Reply::error(node::reply::err::NOT_INTEGER)),
                Some(0) => Ok(ScriptCall::Answer(Reply::Ok)),
                Some(_) => Err(Reply::error("ERR DB index is out of range")),
            },
            "ping" if argv.len() == 1 => Ok(ScriptCall::Answer(Reply::status("PONG"))),
            "ping" | "echo" => Ok(ScriptCall::Answer(Reply::Bulk(argv[1].clone()))),
            _ => Err(not_allowed()),
        },
    }
}
