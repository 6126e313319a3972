//! SAVE, BGSAVE and LASTSAVE: the node's keys written as a Redis RDB file
//! (dump.rdb in the data directory) that redis-server loads, for
//! moving a dataset to Redis or keeping a copy in its format. The store's
//! own durability does not depend on it (every write is in the WAL and
//! RocksDB before it is acknowledged); the file is never read here.

use crate::conn::Conn;
use crate::server::Server;
use node::Reply;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct State {
    in_progress: bool,
    /// BGSAVE SCHEDULE during a save: another one follows it.
    scheduled: bool,
    /// Unix seconds of the last successful save (the start before any).
    last_ok: u64,
    last_failed: bool,
    last_secs: Option<u64>,
    saves: u64,
}

pub struct Saves(Mutex<State>);

impl Default for Saves {
    fn default() -> Self {
        Saves(Mutex::new(State { last_ok: unix_secs(), ..State::default() }))
    }
}

fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The file's name in the data directory (Redis' dbfilename, which Redis 7
/// does not let CONFIG SET change by default: neither does this server).
pub const DBFILENAME: &str = "dump.rdb";

const IN_PROGRESS: &str = "ERR Background save already in progress";

impl Saves {
    /// LASTSAVE.
    pub fn last(&self) -> u64 {
        self.0.lock().last_ok
    }

    /// INFO persistence's fields about saves.
    pub fn info(&self) -> String {
        let s = self.0.lock();
        format!(
            "rdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_saves:{}\r\n",
            s.in_progress as u8,
            s.last_ok,
            if s.last_failed { "err" } else { "ok" },
            s.last_secs.map_or(-1, |t| t as i64),
            s.saves,
        )
    }
}

/// Writes the file once; records the outcome.
fn run(server: &Server) -> Result<u64, String> {
    let path = server.node.cfg.data_dir.join(DBFILENAME);
    let started = Instant::now();
    let aux = [
        ("redis-ver", crate::info::REDIS_VERSION.to_string()),
        ("redis-bits", "64".to_string()),
        ("ctime", unix_secs().to_string()),
        ("aof-base", "0".to_string()),
    ];
    let codes = server.functions.codes();
    let libraries: Vec<&[u8]> = codes.iter().map(|c| &c[..]).collect();
    let result = server.node.save_rdb(&path, &aux, &libraries);
    let mut s = server.saves.0.lock();
    s.last_secs = Some(started.elapsed().as_secs());
    match result {
        Ok(keys) => {
            s.last_ok = unix_secs();
            s.last_failed = false;
            s.saves += 1;
            tracing::info!("DB saved on disk: {keys} keys in {}", path.display());
            Ok(keys)
        }
        Err(e) => {
            s.last_failed = true;
            tracing::warn!("SAVE to {} failed: {e}", path.display());
            Err(e.to_string())
        }
    }
}

/// SAVE: writes the file before answering (other clients are served
/// meanwhile; Redis blocks them).
pub async fn save(c: &mut Conn) -> Reply {
    {
        let mut s = c.server.saves.0.lock();
        if s.in_progress {
            return Reply::error(IN_PROGRESS);
        }
        s.in_progress = true;
    }
    let server = c.server.clone();
    let result = tokio::task::spawn_blocking(move || run(&server)).await;
    c.server.saves.0.lock().in_progress = false;
    match result {
        Ok(Ok(_)) => Reply::Ok,
        _ => Reply::error("ERR"),
    }
}

/// BGSAVE [SCHEDULE]: answers at once; the file is written in the
/// background.
pub fn bgsave(c: &mut Conn, argv: &[bytes::Bytes]) -> Reply {
    let schedule = match argv.get(1) {
        None => false,
        Some(a) if a.eq_ignore_ascii_case(b"schedule") && argv.len() == 2 => true,
        Some(_) => return Reply::error(node::reply::err::SYNTAX),
    };
    {
        let mut s = c.server.saves.0.lock();
        if s.in_progress {
            if schedule {
                s.scheduled = true;
                return Reply::status("Background saving scheduled");
            }
            return Reply::error(IN_PROGRESS);
        }
        s.in_progress = true;
    }
    let server: Arc<Server> = c.server.clone();
    tokio::task::spawn_blocking(move || loop {
        let _ = run(&server);
        let mut s = server.saves.0.lock();
        if !std::mem::take(&mut s.scheduled) {
            s.in_progress = false;
            break;
        }
    });
    Reply::status("Background saving started")
}
