//! Client-side caching, as Redis 6+ serves it (tracking.c): CLIENT
//! TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT]
//! [NOLOOP], CLIENT CACHING, CLIENT GETREDIR, CLIENT TRACKINGINFO, and the
//! invalidation messages (RESP3 pushes, or `__redis__:invalidate` messages
//! to a RESP2 client a tracking client redirects to).
//!
//! What keeps a cache from going stale:
//! - a tracking client's read-only command records its keys before it is
//!   sent on, so a change applied while it runs is not missed;
//! - the node names every key an applied entry changed once its batch is
//!   committed ([`node::changes`]), so a client that reads again after the
//!   message reads the new value; a flush, an installed snapshot or a
//!   replica leaving the node invalidates everything;
//! - messages go out between replies, after the replies in flight (as
//!   pub/sub messages do), so a read's reply never follows the message
//!   about a change it missed;
//! - a key of a partition this node has no replica of (in a cluster) is
//!   not recorded (this node would not see it change): the client is told
//!   at once, after the reply, not to keep it.
//!
//! NOLOOP: each entry names the node and client connection that sent it
//! (`Entry::origin_client`), so a NOLOOP client is not told of the keys its
//! own commands changed, whichever node led the partition.

use crate::server::{ClientHandle, Server};
use bytes::Bytes;
use node::changes::Changed;
use node::Reply;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Who made a change: the client connection of this node whose command it
/// was (0: none here), and whether through a script.
#[derive(Clone, Copy, Default)]
struct By {
    client: u64,
    script: bool,
}

/// A message for one connection.
#[derive(Debug)]
pub enum Invalidation {
    Keys(Vec<Bytes>),
    /// Everything (FLUSHALL): Redis sends a null.
    All,
    /// The client redirected to is gone (RESP3 clients hear of it).
    RedirectBroken(u64),
}

impl Invalidation {
    /// The message as the receiving connection writes it: a push in RESP3,
    /// a `__redis__:invalidate` message to a subscribed RESP2 connection,
    /// nothing otherwise (Redis drops it too).
    pub fn reply(self, proto: u8, subscribed: bool) -> Option<Reply> {
        let bulk = |s: &'static str| Reply::Bulk(Bytes::from_static(s.as_bytes()));
        let body = match self {
            Invalidation::RedirectBroken(id) if proto >= 3 => {
                return Some(Reply::Push(vec![bulk("tracking-redir-broken"), Reply::Int(id as i64)]))
            }
            Invalidation::RedirectBroken(_) => return None,
            Invalidation::Keys(keys) => Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
            Invalidation::All => Reply::Nil,
        };
        if proto >= 3 {
            Some(Reply::Push(vec![bulk("invalidate"), body]))
        } else if subscribed {
            Some(Reply::Array(vec![bulk("message"), bulk("__redis__:invalidate"), body]))
        } else {
            None
        }
    }
}

/// How a client tracks (CLIENT TRACKING ON's options).
#[derive(Clone, Default)]
pub struct Mode {
    pub redirect: u64,
    pub bcast: bool,
    pub prefixes: BTreeSet<Bytes>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub broken_redirect: bool,
    /// Whether the client may have cached anything since the last flush
    /// message (a FLUSHALL reaches every partition: one message, as Redis
    /// sends one).
    pub may_hold: bool,
}

/// The node's tracking table and tracking clients.
pub struct Tracking {
    /// Key -> the clients that may cache it (default mode).
    table: Mutex<HashMap<Bytes, HashSet<u64>>>,
    clients: Mutex<HashMap<u64, Mode>>,
    /// tracking-table-max-keys (0: no limit).
    pub max_keys: AtomicUsize,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking { table: Default::default(), clients: Default::default(), max_keys: AtomicUsize::new(1_000_000) }
    }
}

impl Tracking {
    pub fn mode(&self, id: u64) -> Option<Mode> {
        self.clients.lock().get(&id).cloned()
    }

    /// INFO's counts: tracking clients, keys, (key, client) items, prefixes.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        // (Locks taken one at a time: `changed` takes clients, then table.)
        let (clients, prefixes) = {
            let clients = self.clients.lock();
            let prefixes: BTreeSet<&Bytes> = clients.values().filter(|m| m.bcast).flat_map(|m| &m.prefixes).collect();
            (clients.len(), prefixes.len())
        };
        let table = self.table.lock();
        (clients, table.len(), table.values().map(HashSet::len).sum(), prefixes)
    }

    /// CLIENT TRACKING ON (the options checked); the node's changes flow
    /// from now on.
    pub fn enable(&self, server: &Server, id: u64, mode: Mode) {
        if let Some(c) = server.client_by_id(id) {
            let bcast = if mode.bcast { crate::server::TRACKING_BCAST } else { 0 };
            c.tracking_flags.store(crate::server::TRACKING | bcast, Ordering::Relaxed);
        }
        let mut clients = self.clients.lock();
        clients.insert(id, Mode { may_hold: true, ..mode });
        server.node.changes().listen(true);
    }

    /// CLIENT TRACKING OFF, RESET, or the client leaving.
    pub fn disable(&self, server: &Server, id: u64) {
        if let Some(c) = server.client_by_id(id) {
            c.tracking_flags.store(0, Ordering::Relaxed);
        }
        let mut clients = self.clients.lock();
        if clients.remove(&id).is_some() && clients.is_empty() {
            server.node.changes().listen(false);
        }
    }

    /// A read-only command of tracking client `id` ran: it may cache again
    /// (and hear of the next flush).
    pub fn read_by(&self, id: u64) {
        if let Some(m) = self.clients.lock().get_mut(&id) {
            m.may_hold = true;
        }
    }

    /// trackingRememberKeys: `keys` were read by client `id` (default
    /// mode); those this node sees change are recorded, the others
    /// invalidated at once (after the reply).
    pub fn remember(&self, server: &Server, client: &ClientHandle, keys: &[&Bytes]) {
        let mut foreign = Vec::new();
        {
            let mut table = self.table.lock();
            for k in keys {
                if server.node.holds(k) {
                    table.entry((*k).clone()).or_default().insert(client.id);
                } else {
                    foreign.push((*k).clone());
                }
            }
        }
        for k in foreign {
            let _ = client.invalidations.send(Invalidation::Keys(vec![k]));
        }
        self.limit(server);
    }

    /// trackingLimitUsedSlots: past tracking-table-max-keys, keys are
    /// invalidated (and forgotten) until the table fits.
    fn limit(&self, server: &Server) {
        let max = self.max_keys.load(Ordering::Relaxed);
        if max == 0 {
            return;
        }
        let evicted: Vec<(Bytes, HashSet<u64>)> = {
            let mut table = self.table.lock();
            let over = table.len().saturating_sub(max);
            let keys: Vec<Bytes> = table.keys().take(over).cloned().collect();
            keys.into_iter().filter_map(|k| table.remove(&k).map(|ids| (k, ids))).collect()
        };
        for (key, ids) in evicted {
            for id in ids {
                self.send(server, id, Invalidation::Keys(vec![key.clone()]));
            }
        }
    }

    /// What applied entries changed, in order: each client that may cache
    /// a changed key hears of it (one message per key, as Redis sends
    /// them), each BCAST client of the changed keys under its prefixes, and
    /// every tracking client of a flush; a NOLOOP client not of the keys
    /// its own commands changed.
    pub fn changed(&self, server: &Server, changes: Vec<Changed>) {
        let me = server.node.cfg.node_id;
        // The messages are worked out under the locks, sent after them.
        let mut out: Vec<(u64, Invalidation)> = Vec::new();
        {
            let mut clients = self.clients.lock();
            // Each key with who changed it.
            let mut keys: Vec<(Bytes, By)> = Vec::new();
            let mut by = By::default();
            for change in changes {
                match change {
                    Changed::Origin { node, client, script } => {
                        by = By { client: if node == me { client } else { 0 }, script }
                    }
                    Changed::Key(k) => keys.push((k, by)),
                    Changed::All => {
                        self.keys_changed(&clients, std::mem::take(&mut keys), &mut out);
                        self.table.lock().clear();
                        for (id, m) in clients.iter_mut() {
                            if std::mem::replace(&mut m.may_hold, false) {
                                out.push((*id, Invalidation::All));
                            }
                        }
                    }
                }
            }
            self.keys_changed(&clients, keys, &mut out);
        }
        for (id, inv) in out {
            self.send(server, id, inv);
        }
    }

    fn keys_changed(&self, clients: &HashMap<u64, Mode>, keys: Vec<(Bytes, By)>, out: &mut Vec<(u64, Invalidation)>) {
        if keys.is_empty() {
            return;
        }
        let own = |id: u64, m: &Mode, by: &By| m.noloop && by.client == id && !(m.bcast && by.script);
        {
            let mut table = self.table.lock();
            for (k, by) in &keys {
                let Some(mut ids) = table.remove(k) else { continue };
                // A NOLOOP client's own change leaves it in the table (Redis
                // forgets the key for it): on a follower the change may be
                // applied after the client's next read of the key has
                // recorded it again, and forgetting that read would keep a
                // later change of someone else's from it. Staying costs at
                // most one message more.
                ids.retain(|&id| match clients.get(&id) {
                    Some(m) if own(id, m, by) => true,
                    Some(m) => {
                        if !m.bcast {
                            out.push((id, Invalidation::Keys(vec![k.clone()])));
                        }
                        false
                    }
                    None => false,
                });
                if !ids.is_empty() {
                    table.insert(k.clone(), ids);
                }
            }
        }
        for (id, mode) in clients.iter().filter(|(_, m)| m.bcast) {
            for prefix in &mode.prefixes {
                let mut seen = BTreeSet::new();
                let matching: Vec<Bytes> = keys
                    .iter()
                    .filter(|(k, by)| !own(*id, mode, by) && k.starts_with(prefix) && seen.insert(k))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !matching.is_empty() {
                    out.push((*id, Invalidation::Keys(matching)));
                }
            }
        }
    }

    /// sendTrackingMessage: to the client, or to the one it redirects to
    /// (if that one is gone, the client is told so).
    fn send(&self, server: &Server, id: u64, inv: Invalidation) {
        let redirect = match self.clients.lock().get(&id) {
            Some(m) => m.redirect,
            None => return,
        };
        if redirect == 0 {
            if let Some(c) = server.client_by_id(id) {
                let _ = c.invalidations.send(inv);
            }
            return;
        }
        match server.client_by_id(redirect) {
            Some(target) => {
                let _ = target.invalidations.send(inv);
            }
            None => {
                if let Some(m) = self.clients.lock().get_mut(&id) {
                    m.broken_redirect = true;
                }
                if let Some(c) = server.client_by_id(id) {
                    c.tracking_flags.fetch_or(crate::server::TRACKING_BROKEN_REDIRECT, Ordering::Relaxed);
                    let _ = c.invalidations.send(Invalidation::RedirectBroken(redirect));
                }
            }
        }
    }
}

/// CLIENT TRACKING's arguments, checked in Redis' order: the mode to
/// enable (None: OFF), or Redis' error.
pub fn parse(server: &Server, current: Option<&Mode>, argv: &[Bytes]) -> Result<Option<Mode>, Reply> {
    let err = |s: &str| Reply::error(format!("ERR {s}"));
    let mut mode = Mode::default();
    let mut prefixes = Vec::new();
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let opt = String::from_utf8_lossy(&argv[j]).to_ascii_lowercase();
        match opt.as_str() {
            "redirect" if more => {
                j += 1;
                if mode.redirect != 0 {
                    return Err(err("A client can only redirect to a single other client"));
                }
                let id = node::num::parse_i64(&argv[j]).ok_or_else(|| Reply::error(node::reply::err::NOT_INTEGER))?;
                if id <= 0 || server.client_by_id(id as u64).is_none() {
                    return Err(err("The client ID you want redirect to does not exist"));
                }
                mode.redirect = id as u64;
            }
            "bcast" => mode.bcast = true,
            "optin" => mode.optin = true,
            "optout" => mode.optout = true,
            "noloop" => mode.noloop = true,
            "prefix" if more => {
                j += 1;
                prefixes.push(argv[j].clone());
            }
            _ => return Err(Reply::error(node::reply::err::SYNTAX)),
        }
        j += 1;
    }
    match String::from_utf8_lossy(&argv[2]).to_ascii_lowercase().as_str() {
        "off" => return Ok(None),
        "on" => {}
        _ => return Err(Reply::error(node::reply::err::SYNTAX)),
    }
    if !mode.bcast && !prefixes.is_empty() {
        return Err(err("PREFIX option requires BCAST mode to be enabled"));
    }
    if let Some(cur) = current {
        if cur.bcast != mode.bcast {
            return Err(err("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(err("OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if mode.optin && mode.optout {
        return Err(err("You can't specify both OPTIN mode and OPTOUT mode"));
    }
    if let Some(cur) = current {
        if (mode.optin && cur.optout) || (mode.optout && cur.optin) {
            return Err(err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if mode.bcast {
        // checkPrefixCollisionsOrReply: no prefix may start another.
        let existing: Vec<Bytes> = current.map(|c| c.prefixes.iter().cloned().collect()).unwrap_or_default();
        let overlaps = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
        for (i, p) in prefixes.iter().enumerate() {
            if let Some(e) = existing.iter().find(|e| overlaps(e, p)) {
                return Err(err(&format!(
                    "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(e)
                )));
            }
            if let Some(q) = prefixes[i + 1..].iter().find(|q| overlaps(p, q)) {
                return Err(err(&format!(
                    "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                )));
            }
        }
        if !server.node.holds_all() {
            return Err(err("BCAST tracking needs a replica of every partition on this node"));
        }
        // Prefixes add up across CLIENT TRACKING ON calls (none: all keys).
        mode.prefixes = current.map(|c| c.prefixes.clone()).unwrap_or_default();
        if prefixes.is_empty() {
            mode.prefixes.insert(Bytes::new());
        }
        mode.prefixes.extend(prefixes);
    }
    Ok(Some(mode))
}
