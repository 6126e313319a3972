//! A RESP client for tests that read replies and pushes as they come (a
//! subscribed or tracking connection gets messages between replies, which
//! a request/reply client does not model): every value as text.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Raw {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Raw { stream, reader }
    }

    fn encode(req: &mut Vec<u8>, args: &[&str]) {
        req.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }

    pub fn send(&mut self, args: &[&str]) {
        self.send_all(&[args]);
    }

    /// Sends the commands in one write (a pipeline the server reads at once).
    pub fn send_all(&mut self, cmds: &[&[&str]]) {
        let mut req = Vec::new();
        for args in cmds {
            Self::encode(&mut req, args);
        }
        self.stream.write_all(&req).unwrap();
    }

    /// One reply or message, as text (errors included).
    pub fn read(&mut self) -> String {
        self.try_read().unwrap_or_else(|e| panic!("reading a reply: {e}"))
    }

    /// One reply or message; an error when none came within the read
    /// timeout (10 s) or the connection closed.
    pub fn try_read(&mut self) -> std::io::Result<String> {
        read_value(&mut self.reader)
    }

    pub fn call(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read()
    }

    /// Everything that arrives before the answer to a PING sent now (a
    /// subscribed RESP2 connection answers it as ["pong", ""]), sorted: the
    /// order in which one message reaches several patterns of a connection
    /// is Redis' hash table order.
    pub fn drain(&mut self) -> Vec<String> {
        self.send(&["PING"]);
        let pongs = ["+PONG".to_string(), pong()];
        let mut got = Vec::new();
        loop {
            let r = self.read();
            if pongs.contains(&r) {
                break;
            }
            got.push(r);
        }
        got.sort();
        got
    }
}

pub fn pong() -> String {
    "*[$pong, $]".to_string()
}

/// A RESP2 or RESP3 value as text: its type byte, then its content (a
/// reader of our own, which takes no more bytes than the value has).
pub fn read_value(r: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.len() < 3 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    let (kind, body) = (line[0], String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned());
    let n: i64 = body.parse().unwrap_or(0);
    Ok(match kind {
        b'$' if n < 0 => "nil".into(),
        // (RESP3 verbatim strings and blob errors are sized as bulks.)
        b'$' | b'=' | b'!' => {
            let mut data = vec![0; n as usize + 2];
            r.read_exact(&mut data)?;
            format!("{}{}", kind as char, String::from_utf8_lossy(&data[..n as usize]))
        }
        b'*' | b'>' | b'~' | b'%' if n < 0 => "nil".into(),
        b'*' | b'>' | b'~' | b'%' => {
            let count = if kind == b'%' { 2 * n } else { n };
            let items: Vec<String> = (0..count).map(|_| read_value(r)).collect::<Result<_, _>>()?;
            format!("{}[{}]", kind as char, items.join(", "))
        }
        b'_' => "nil".into(),
        _ => format!("{}{body}", kind as char),
    })
}
