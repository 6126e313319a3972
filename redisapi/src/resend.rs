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
//! Only when that cannot reorder anything: the command must be the last one
//! this connection has sent (a pipelined command after it may have run
//! already, so then the client gets the TRYAGAIN), and it must lie on one
//! partition (a keyless one may have run on some partitions only; see
//! [`crate::conn::Conn::submit`]). While it is being sent again the
//! connection reads nothing more. Resends stop once the node's
//! `leader_wait` has passed since the command came.

use crate::accounting::Timed;
use crate::conn::Conn;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use node::Reply;
use std::time::Duration;
use tokio::time::Instant;

/// A command that may be sent again: its arguments, when it first came,
/// and how often it was sent again so far.
pub struct Resend {
    pub argv: Vec<Bytes>,
    pub since: Instant,
    pub tries: u32,
}

impl Resend {
    pub fn new(argv: Vec<Bytes>) -> Resend {
        Resend { argv, since: Instant::now(), tries: 0 }
    }
}

/// A command refused for a leadership change, waiting to be sent again.
/// Its statistics and slow log entry are taken at its final answer.
pub struct Again {
    resend: Resend,
    timed: Option<Timed>,
}

impl Again {
    /// It will not be sent again: the client gets `reply` (the TRYAGAIN).
    pub fn give_up(self, reply: &Reply) {
        if let Some(t) = self.timed {
            t.done(reply);
        }
    }

    /// Sends the command again, after a pause that grows with each try (a
    /// leader handing over refuses at once until the hand-over ends), and
    /// returns the future of its answer.
    pub async fn send(self, conn: &mut Conn, size: usize, proto: u8) -> BoxFuture<'static, Answer> {
        let Again { resend, timed } = self;
        tokio::time::sleep(Duration::from_millis((1u64 << resend.tries.min(6)).min(50))).await;
        let wait = conn.server.node.cfg.leader_wait;
        let pending = conn.resubmit(resend.argv).await;
        let next = conn.again.take().map(|argv| Resend { argv, since: resend.since, tries: resend.tries + 1 });
        pending.map(move |reply| Answer::settle(size, proto, reply, timed, next, wait)).boxed()
    }
}

/// A command's answer, as it leaves the connection's queue of commands in
/// flight: `again` is set when it is a leadership-change refusal that may
/// still be sent again.
pub struct Answer {
    /// The bytes the command took (its share of the read budget).
    pub size: usize,
    /// The protocol it is answered in (or SILENT).
    pub proto: u8,
    pub reply: Reply,
    pub again: Option<Again>,
}

impl Answer {
    /// The answer of a command whose reply is `reply`: one to send again if
    /// it may be (`resend`) and was refused for a leadership change within
    /// `wait` of its coming; else final, and counted now.
    pub fn settle(
        size: usize,
        proto: u8,
        reply: Reply,
        timed: Option<Timed>,
        resend: Option<Resend>,
        wait: Duration,
    ) -> Answer {
        match resend {
            Some(resend) if node::node::leader_changing(&reply) && resend.since.elapsed() < wait => {
                Answer { size, proto, reply, again: Some(Again { resend, timed }) }
            }
            _ => {
                if let Some(t) = timed {
                    t.done(&reply);
                }
                Answer { size, proto, reply, again: None }
            }
        }
    }
}
