//! MONITOR: the commands a node runs, each as a line to the connections
//! watching (`+<unix time.micros> [0 <client address>] "arg" "arg" ...`, as
//! Redis writes them), with the arguments the slow log hides hidden too.
//! Per node, as in Redis Cluster. Refused commands are not shown, nor admin
//! commands (Redis deems them too dangerous to show).

use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

#[derive(Default)]
pub struct Monitors {
    /// (client id, its line channel).
    watchers: Mutex<Vec<(u64, UnboundedSender<Bytes>)>>,
    count: AtomicUsize,
}

impl Monitors {
    /// Whether anyone watches (the connections check it per command).
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    pub fn add(&self, client: u64) -> UnboundedReceiver<Bytes> {
        let (tx, rx) = unbounded_channel();
        let mut w = self.watchers.lock();
        w.push((client, tx));
        self.count.store(w.len(), Ordering::Relaxed);
        rx
    }

    pub fn remove(&self, client: u64) {
        let mut w = self.watchers.lock();
        w.retain(|(id, _)| *id != client);
        self.count.store(w.len(), Ordering::Relaxed);
    }

    /// Shows `argv`, run by the client at `addr`, to every watcher.
    pub fn feed(&self, argv: &[Bytes], addr: &str) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let line = Bytes::from(line(argv, addr, now.as_secs(), now.subsec_micros()));
        let mut w = self.watchers.lock();
        w.retain(|(_, tx)| tx.send(line.clone()).is_ok());
        self.count.store(w.len(), Ordering::Relaxed);
    }
}

/// One monitor line, as the RESP simple string Redis sends.
fn line(argv: &[Bytes], addr: &str, secs: u64, micros: u32) -> Vec<u8> {
    let hidden = crate::slowlog::redacted(argv);
    let mut out = format!("+{secs}.{micros:06} [0 {addr}]").into_bytes();
    for (i, a) in argv.iter().enumerate() {
        out.push(b' ');
        if hidden.contains(&i) {
            out.extend_from_slice(b"\"(redacted)\"");
        } else {
            repr(a, &mut out);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A quoted argument with what is not printable escaped (Redis'
/// `sdscatrepr`).
fn repr(a: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in a {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_quote_as_redis_does() {
        let argv: Vec<Bytes> = vec!["SET".into(), "a b".into(), Bytes::from_static(b"\x01\"\\\n\xff")];
        let l = line(&argv, "127.0.0.1:5000", 1700000000, 42);
        assert_eq!(
            String::from_utf8(l).unwrap(),
            "+1700000000.000042 [0 127.0.0.1:5000] \"SET\" \"a b\" \"\\x01\\\"\\\\\\n\\xff\"\r\n"
        );
        let auth: Vec<Bytes> = vec!["AUTH".into(), "secret".into()];
        assert!(String::from_utf8(line(&auth, "c", 1, 2)).unwrap().ends_with("\"AUTH\" \"(redacted)\"\r\n"));
    }
}
