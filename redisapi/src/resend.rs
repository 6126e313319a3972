//! Sending a command again after its partition's leadership changed.
//!
//! A command that reaches a leader which is handing over (or has just lost)
//! its partition is refused with one of the `-TRYAGAIN` errors of
//! [`node::node::leader_changing`]: it certainly did not take effect. A
//! client that waits for each reply before it sends on (redis-cli, most
//! application code) would see that error for what is only a moment's
//! wait, so the connection sends the command again itself, as a Redis
//! Cluster client does on TRYAGAIN.
//!
//! Only when that cannot reorder anything: the connection holds the refusal
//! back (and reads no more commands) until every command sent after it has
//! come back. If all of those were refused in the same way, nothing after
//! the first took effect, and they are all sent again in their order (a
//! pipeline to a partition whose leader hands over). To make that the
//! usual case, the node refuses the commands this connection dispatches
//! while a refusal is held or on its way, in the same way (node's
//! `Session::refused`): otherwise a command dispatched after the leader
//! moved would run at the new leader ahead of it. A read among them is
//! held back and run again too, whatever it answered: it had no effect,
//! but it ran before the refused writes that the client sent ahead of it
//! (a leader handing over still serves reads). If one of them got any
//! other answer, it may have taken effect after the refused ones, and
//! those go to the client as they are. A command is sent again only if it
//! lies on one partition (a keyless one may have run on some partitions
//! only; see [`crate::conn::Conn::submit`]), and only until the node's
//! `leader_wait` has passed since it was first refused.

use crate::accounting::Timed;
use crate::conn::Conn;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::FutureExt;
use node::Reply;
use std::time::Duration;
use tokio::time::Instant;

/// A command that may be sent again: its arguments, whether it only reads,
/// when it was first refused (not read before: most commands never are),
/// and how often it was sent again so far.
pub struct Resend {
    pub argv: Vec<Bytes>,
    pub read_only: bool,
    pub since: Option<Instant>,
    pub tries: u32,
}

impl Resend {
    pub fn new(argv: Vec<Bytes>, read_only: bool) -> Resend {
        Resend { argv, read_only, since: None, tries: 0 }
    }
}

/// A command that may be sent again: one refused for a leadership change,
/// or a read (see the module's text). Its statistics and slow log entry
/// are taken at its final answer.
pub struct Again {
    resend: Resend,
    timed: Option<Timed>,
}

/// A command's answer, as it leaves the connection's queue of commands in
/// flight: `again` is set when it may be sent again, `refused` when it was
/// refused for a leadership change (and so must be).
pub struct Answer {
    /// The bytes the command took (its share of the read budget).
    pub size: usize,
    /// The protocol it is answered in (or SILENT).
    pub proto: u8,
    pub reply: Reply,
    pub again: Option<Again>,
    pub refused: bool,
}

impl Answer {
    /// The answer of a command whose reply is `reply`: refused, to send
    /// again, if it may be sent again (`resend`) and was refused for a
    /// leadership change within `wait` of its first refusal; a read keeps
    /// what it needs to run again; anything else is final, and counted now.
    pub fn settle(
        size: usize,
        proto: u8,
        reply: Reply,
        timed: Option<Timed>,
        resend: Option<Resend>,
        wait: Duration,
    ) -> Answer {
        match resend {
            Some(mut resend)
                if node::node::leader_changing(&reply) && resend.since.is_none_or(|t| t.elapsed() < wait) =>
            {
                resend.since.get_or_insert_with(Instant::now);
                Answer { size, proto, reply, again: Some(Again { resend, timed }), refused: true }
            }
            Some(resend) if resend.read_only => {
                Answer { size, proto, reply, again: Some(Again { resend, timed }), refused: false }
            }
            _ => {
                if let Some(t) = timed {
                    t.done(&reply);
                }
                Answer { size, proto, reply, again: None, refused: false }
            }
        }
    }

    /// Writes the answer for the client as it is (a refusal too: it is
    /// not sent again).
    pub fn give(self, out: &mut BytesMut) {
        if let Some(Again { timed: Some(t), .. }) = self.again {
            t.done(&self.reply);
        }
        crate::conn::encode_reply(out, &self.reply, self.proto);
    }

    /// How long to wait before sending a refused command again: longer
    /// with each try (a leader handing over refuses at once until the
    /// hand-over ends), 1 to 50 ms.
    pub fn pause(&self) -> Duration {
        let tries = self.again.as_ref().map_or(0, |g| g.resend.tries);
        Duration::from_millis((1u64 << tries.min(6)).min(50))
    }

    /// Sends a refused command again (after [`Answer::pause`]) and returns
    /// the future of its answer.
    pub async fn send_again(self, conn: &mut Conn) -> BoxFuture<'static, Answer> {
        let Answer { size, proto, again, .. } = self;
        let Again { resend, timed } = again.expect("only a command that may be sent again");
        let wait = conn.server.node.cfg.leader_wait;
        let pending = conn.resubmit(resend.argv).await;
        let next = conn.again.take().map(|r| Resend { since: resend.since, tries: resend.tries + 1, ..r });
        pending.map(move |reply| Answer::settle(size, proto, reply, timed, next, wait)).boxed()
    }
}
