//! Parsing PFADD, PFCOUNT and PFMERGE (their arity is all they check).

use bytes::Bytes;
use node::coll_cmds::KeyMembers;
use node::command::{Keys, PfMerge};
use node::{Cmd, Reply};

pub fn pfadd(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::PfAdd(KeyMembers { key: argv[1].clone(), members: argv[2..].to_vec() }))
}

pub fn pfcount(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::PfCount(Keys { keys: argv[1..].to_vec() }))
}

pub fn pfmerge(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::PfMerge(PfMerge { dst: argv[1].clone(), srcs: argv[2..].to_vec() }))
}
