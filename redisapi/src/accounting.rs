//! What each command a connection runs counts for: MONITOR shows it once it
//! runs, INFO's command statistics count it (a refusal at once, a call when
//! its reply is there), and the slow log records it if it was slow.

use crate::cmd;
use crate::conn::{Conn, Outcome};
use crate::server::{ClientHandle, Server};
use bytes::Bytes;
use node::Reply;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A command that ran, accounted once its reply is there. (A blocked
/// command's wait is not its running time: Redis does not count it either.)
pub struct Timed {
    /// EXEC's MONITOR lines, shown once it ran as Redis shows them: the
    /// transaction's commands (if it was not aborted), then EXEC.
    exec_lines: Option<(Vec<Vec<Bytes>>, Vec<Bytes>)>,
    start: Instant,
    /// Its name in the statistics (`get`, `config|set`).
    name: Cow<'static, str>,
    /// Its arguments, when the slow log may want them.
    argv: Option<Vec<Bytes>>,
    blocked: bool,
    server: Arc<Server>,
    client: Arc<ClientHandle>,
}

impl Timed {
    pub fn done(self, reply: &Reply) {
        if let Some((inner, exec)) = &self.exec_lines {
            if matches!(reply, Reply::Array(_)) {
                for argv in inner {
                    feed_unless_admin(&self.server, argv, &self.client.addr);
                }
            }
            self.server.monitors.feed(exec, &self.client.addr);
        }
        let took = if self.blocked { Duration::ZERO } else { self.start.elapsed() };
        self.server.cmdstats.ran(&self.name, took, reply);
        if let Some(argv) = self.argv.filter(|_| self.server.slowlog.is_slow(took)) {
            let name = self.client.name.lock().clone().unwrap_or_default();
            self.server.slowlog.observe(&argv, took, &self.client.addr, &name);
        }
    }
}

/// Dispatches `argv` on `conn`, timed from now: the outcome, and, if the
/// command ran, what completes its accounting once the reply is there.
pub async fn dispatch(conn: &mut Conn, argv: Vec<Bytes>) -> (Outcome, Option<Timed>) {
    let server = conn.server.clone();
    let arrived = Instant::now();
    // The arguments are kept only for the slow log and MONITOR.
    let copy = (server.slowlog.enabled() || server.monitors.active()).then(|| argv.clone());
    let first = argv[0].clone();
    let sub = argv.get(1).cloned();
    // A transaction's commands, for MONITOR once EXEC ran.
    let queued = match &conn.multi {
        Some(m) if server.monitors.active() && first.eq_ignore_ascii_case(b"exec") => Some(m.argvs.clone()),
        _ => None,
    };
    conn.ran = None;
    conn.again = None;
    conn.monitor_fed = false;
    let outcome = conn.dispatch(argv, arrived).await;
    let timed = match conn.ran {
        Some(spec) => {
            let mut exec_lines = None;
            if let Some(argv) = &copy {
                if server.monitors.active() && spec.name == "exec" {
                    exec_lines = Some((queued.unwrap_or_default(), argv.clone()));
                } else if server.monitors.active() && !conn.monitor_fed {
                    feed_unless_admin(&server, argv, &conn.client.addr);
                }
            }
            let blocked = matches!(outcome, Outcome::Blocked(_));
            Some(Timed {
                exec_lines,
                start: arrived,
                name: spec.stat_name(sub.as_ref()).unwrap_or(spec.name.into()),
                argv: copy.filter(|_| !spec.has_flag("skip_slowlog") && !blocked),
                blocked,
                server,
                client: conn.client.clone(),
            })
        }
        // Refused before it ran (arity, authentication, a transaction's
        // queueing): counted as such. (Queued in MULTI: counted at EXEC.)
        None => {
            if let Outcome::Reply(r @ Reply::Error(_)) | Outcome::Close(r @ Reply::Error(_)) = &outcome {
                let spec = cmd::lookup(&first);
                server.cmdstats.rejected(spec.and_then(|s| s.stat_name(sub.as_ref())).as_deref(), r);
            }
            None
        }
    };
    (outcome, timed)
}

/// MONITOR shows every command but the administrative ones (CONFIG SET,
/// by the subcommand's flags).
pub(crate) fn feed_unless_admin(server: &Server, argv: &[Bytes], addr: &str) {
    if cmd::lookup(&argv[0]).is_some_and(|spec| !spec.has_flag_for(argv, "admin")) {
        server.monitors.feed(argv, addr);
    }
}
