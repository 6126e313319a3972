//! CLIENT PAUSE and CLIENT UNPAUSE (Redis 7.0): while a pause lasts, the
//! node's clients' commands wait before they run or are queued in MULTI:
//! every command in mode ALL, in mode WRITE only those that may write (a
//! write, EXEC of a transaction holding one, a script or function that may
//! write, PUBLISH, PFCOUNT). A connection that waits reads no further
//! commands, so its order is kept. The pause is per node, as in Redis
//! Cluster (a failover tool pauses the node it moves clients off).

use crate::cmd::CommandSpec;
use crate::server::Server;
use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The pause in effect: until when, and whether it holds every command.
#[derive(Default)]
pub struct Pause {
    /// Whether a pause was set and not yet seen to end (the commands' fast
    /// path reads only this).
    set: AtomicBool,
    until: Mutex<Option<(Instant, bool)>>,
    changed: tokio::sync::Notify,
}

impl Pause {
    /// CLIENT PAUSE: `until` and `all` combine with a pause in effect as
    /// Redis combines them (the later end, the stronger mode).
    pub fn pause(&self, until: Instant, all: bool) {
        let mut p = self.until.lock();
        *p = Some(match *p {
            Some((end, was_all)) if end > Instant::now() => (end.max(until), all || was_all),
            _ => (until, all),
        });
        self.set.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// CLIENT UNPAUSE.
    pub fn unpause(&self) {
        *self.until.lock() = None;
        self.set.store(false, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// The end of the pause that holds a command (`all_only`: one that only
    /// a pause of every command holds), if one does now.
    fn holding(&self, all_only: bool) -> Option<Instant> {
        let mut p = self.until.lock();
        match *p {
            Some((end, all)) if end > Instant::now() => (all || !all_only).then_some(end),
            Some(_) => {
                *p = None;
                self.set.store(false, Ordering::Release);
                None
            }
            None => None,
        }
    }

    /// Waits while a pause holds the command `argv` (`spec`) of a
    /// connection with these commands queued in MULTI (for EXEC).
    pub async fn wait(&self, server: &Server, spec: &CommandSpec, argv: &[Bytes], queued: &[Vec<Bytes>]) {
        if !self.set.load(Ordering::Acquire) {
            return;
        }
        let all_only = !may_replicate(server, spec, argv, queued);
        loop {
            // Registered before the check, so that an UNPAUSE between the
            // two still wakes this.
            let changed = self.changed.notified();
            let Some(end) = self.holding(all_only) else { return };
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(end.into()) => {}
            }
        }
    }
}

/// Whether Redis counts the command as one that may write (its "write" or
/// "may-replicate" flags, as a script's or function's own flags refine
/// them; EXEC when one of the `queued` commands may): what a WRITE pause
/// holds.
pub fn may_replicate(server: &Server, spec: &CommandSpec, argv: &[Bytes], queued: &[Vec<Bytes>]) -> bool {
    use node::exec::script::script_flags;
    if spec.has_flag_for(argv, "write") {
        return true;
    }
    match spec.name {
        "publish" | "spublish" | "pfcount" => true,
        "exec" => queued.iter().any(|a| crate::cmd::lookup(&a[0]).is_some_and(|s| may_replicate(server, s, a, &[]))),
        "eval" => !script_flags(&argv[1]).read_only,
        "evalsha" => {
            let sha = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
            server.scripts.lock().get(&sha).is_none_or(|body| !script_flags(body).read_only)
        }
        "fcall" => server.functions.resolve(&String::from_utf8_lossy(&argv[1])).is_none_or(|f| !f.no_writes()),
        _ => false,
    }
}
