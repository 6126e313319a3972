//! A keyspace-notification listener for the differential tests: a raw
//! subscriber connection (PSUBSCRIBE `__key*__:*`) that reads the events a
//! command produced, up to a marker message published after the command's
//! reply came back. A server publishes a command's events before it
//! answers it, so the marker comes after all of them.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

const MARKER: &str = "differential-marker";

pub struct Listener {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    parser: redis::Parser,
}

/// (channel, message) of each event, in order.
pub type Events = Vec<(String, String)>;

impl Listener {
    pub fn connect(port: u16) -> Listener {
        let writer = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        writer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        let mut l = Listener { writer, reader, parser: redis::Parser::new() };
        l.send(&["PSUBSCRIBE", "__key*__:*"]);
        l.send(&["SUBSCRIBE", MARKER]);
        // The two confirmations.
        l.read();
        l.read();
        l
    }

    fn send(&mut self, args: &[&str]) {
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        self.writer.write_all(&c.get_packed_command()).unwrap();
    }

    fn read(&mut self) -> Vec<String> {
        match self.parser.parse_value(&mut self.reader).expect("a message") {
            redis::Value::Array(items) | redis::Value::Push { data: items, .. } => items
                .into_iter()
                .map(|v| match v {
                    redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect(),
            other => panic!("not a message: {other:?}"),
        }
    }

    /// The next event, waiting for it (up to the read timeout).
    pub fn next_event(&mut self) -> (String, String) {
        let m = self.read();
        match m.first().map(String::as_str) {
            Some("pmessage") if m.len() == 4 => (m[2].clone(), m[3].clone()),
            _ => panic!("unexpected message {m:?}"),
        }
    }

    /// Publishes the marker through `con` (a client of the same server) and
    /// returns the events received before it.
    pub fn events_until_marker(&mut self, con: &mut redis::Connection) -> Events {
        let _: i64 = redis::cmd("PUBLISH").arg(MARKER).arg("x").query(con).expect("PUBLISH");
        let mut events = Vec::new();
        loop {
            let m = self.read();
            match m.first().map(String::as_str) {
                Some("pmessage") if m.len() == 4 => events.push((m[2].clone(), m[3].clone())),
                Some("message") if m.get(1).map(String::as_str) == Some(MARKER) => return events,
                _ => panic!("unexpected message {m:?}"),
            }
        }
    }
}
