//! Reading client requests: RESP multibulk and inline commands, with Redis'
//! limits and its exact protocol error messages (see Redis' networking.c,
//! processMultibulkBuffer and processInlineBuffer).
//!
//! Requests are only ever arrays of bulk strings or inline lines, so this
//! parser reads them directly from the connection buffer, zero-copy, and
//! checks every length before buffering what it announces: a bulk longer than
//! the raft entry cap is refused as soon as its header is read.

use bytes::{Buf, Bytes, BytesMut};
use node::num::is_c_space;

#[derive(Clone, Debug)]
pub struct Limits {
    /// proto-max-bulk-len (512mb).
    pub proto_max_bulk_len: u64,
    /// The largest value that can fit one raft entry.
    pub max_value_len: u64,
    /// client-query-buffer-limit (1gb): the most one command may carry.
    pub query_buffer_limit: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { proto_max_bulk_len: 512 << 20, max_value_len: 64 << 20, query_buffer_limit: 1 << 30 }
    }
}

/// Redis' PROTO_INLINE_MAX_SIZE: the longest inline line or header line.
pub const INLINE_MAX: usize = 64 * 1024;
/// What an unauthenticated client may send (Redis' limits).
const UNAUTH_MULTIBULK_MAX: i64 = 10;
const UNAUTH_BULK_MAX: i64 = 16384;

/// A protocol error: the reply is `-ERR Protocol error: <msg>` and the
/// connection is closed after it, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

enum State {
    Idle,
    Multibulk { remaining: usize, args: Vec<Bytes>, bulk: Option<usize>, total: u64 },
}

pub struct RequestParser {
    state: State,
    pub limits: Limits,
}

fn find(buf: &[u8], b: u8) -> Option<usize> {
    buf.iter().position(|c| *c == b)
}

/// Redis' string2ll, as used for multibulk and bulk lengths.
fn parse_len(s: &[u8]) -> Option<i64> {
    node::num::parse_i64(s)
}

impl RequestParser {
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser { state: State::Idle, limits }
    }

    /// Whether a command is partly read (its bytes are committed to it).
    pub fn in_command(&self) -> bool {
        matches!(self.state, State::Multibulk { .. })
    }

    /// Takes the next complete command from `buf`, if there is one.
    /// `authenticated` selects Redis' tighter limits for unauthenticated clients.
    pub fn next(&mut self, buf: &mut BytesMut, authenticated: bool) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            match &mut self.state {
                State::Idle => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    if buf[0] == b'*' {
                        let Some(cr) = find(buf, b'\r') else {
                            if buf.len() > INLINE_MAX {
                                return Err(ProtocolError("too big mbulk count string".into()));
                            }
                            return Ok(None);
                        };
                        if cr + 1 >= buf.len() {
                            return Ok(None); // the '\n' has not arrived
                        }
                        let n = match parse_len(&buf[1..cr]) {
                            Some(n) if n <= i32::MAX as i64 => n,
                            _ => return Err(ProtocolError("invalid multibulk length".into())),
                        };
                        if !authenticated && n > UNAUTH_MULTIBULK_MAX {
                            return Err(ProtocolError("unauthenticated multibulk length".into()));
                        }
                        buf.advance(cr + 2);
                        if n <= 0 {
                            continue; // an empty command: nothing to do
                        }
                        self.state = State::Multibulk {
                            remaining: n as usize,
                            args: Vec::with_capacity((n as usize).min(1024)),
                            bulk: None,
                            total: 0,
                        };
                    } else {
                        let Some(nl) = find(buf, b'\n') else {
                            if buf.len() > INLINE_MAX {
                                return Err(ProtocolError("too big inline request".into()));
                            }
                            return Ok(None);
                        };
                        let line = buf.split_to(nl + 1);
                        let mut line = &line[..nl];
                        if line.last() == Some(&b'\r') {
                            line = &line[..line.len() - 1];
                        }
                        let args =
                            split_args(line).ok_or_else(|| ProtocolError("unbalanced quotes in request".into()))?;
                        if args.is_empty() {
                            continue;
                        }
                        return Ok(Some(args));
                    }
                }
                State::Multibulk { remaining, args, bulk, total } => {
                    while *remaining > 0 {
                        let len = match *bulk {
                            Some(len) => len,
                            None => {
                                let Some(cr) = find(buf, b'\r') else {
                                    if buf.len() > INLINE_MAX {
                                        return Err(ProtocolError("too big bulk count string".into()));
                                    }
                                    return Ok(None);
                                };
                                if cr + 1 >= buf.len() {
                                    return Ok(None);
                                }
                                if buf[0] != b'$' {
                                    return Err(ProtocolError(format!(
                                        "expected '$', got '{}'",
                                        String::from_utf8_lossy(&buf[..1])
                                    )));
                                }
                                let n = match parse_len(&buf[1..cr]) {
                                    Some(n) if n >= 0 && n as u64 <= self.limits.proto_max_bulk_len => n,
                                    _ => return Err(ProtocolError("invalid bulk length".into())),
                                };
                                if !authenticated && n > UNAUTH_BULK_MAX {
                                    return Err(ProtocolError("unauthenticated bulk length".into()));
                                }
                                if n as u64 > self.limits.max_value_len {
                                    return Err(ProtocolError(format!(
                                        "bulk length {n} exceeds the maximum value size of {} bytes",
                                        self.limits.max_value_len
                                    )));
                                }
                                *total += n as u64;
                                if *total > self.limits.query_buffer_limit {
                                    return Err(ProtocolError("the command exceeds client-query-buffer-limit".into()));
                                }
                                buf.advance(cr + 2);
                                *bulk = Some(n as usize);
                                if buf.capacity() < n as usize + 2 {
                                    buf.reserve(n as usize + 2 - buf.len());
                                }
                                n as usize
                            }
                        };
                        if buf.len() < len + 2 {
                            return Ok(None);
                        }
                        let arg = buf.split_to(len).freeze();
                        buf.advance(2); // "\r\n", as Redis, not checked
                        args.push(arg);
                        *remaining -= 1;
                        *bulk = None;
                    }
                    let State::Multibulk { args, .. } = std::mem::replace(&mut self.state, State::Idle) else {
                        unreachable!()
                    };
                    return Ok(Some(args));
                }
            }
        }
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Redis' sdssplitargs: words separated by spaces (C's isspace between
/// words and after a closing quote; inside a word only space, \t, \r and
/// \n end it); "double quotes" with
/// `\n \r \t \b \a \\ \" \xHH` escapes; 'single quotes' with `\'`. A closing
/// quote must be followed by a space or the end. `None`: unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_c_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\' && i + 3 < n && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3])) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if line[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if line[i] == b'"' {
                    if i + 1 < n && !is_c_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if line[i] == b'\'' {
                    if i + 1 < n && !is_c_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(cur));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(cmd) = p.next(&mut buf, true)? {
            out.push(cmd);
        }
        Ok(out)
    }

    fn err(input: &[u8]) -> String {
        parse_all(input).unwrap_err().0
    }

    #[test]
    fn multibulk_and_inline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\n*-10\r\n*0\r\nset a \"b c\"\r\n").unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(cmds[1], vec![Bytes::from("PING")]);
        assert_eq!(cmds[2], vec![Bytes::from("set"), Bytes::from("a"), Bytes::from("b c")]);
    }

    #[test]
    fn incremental_input() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::new();
        for (i, b) in input.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let r = p.next(&mut buf, true).unwrap();
            if i + 1 < input.len() {
                assert!(r.is_none());
            } else {
                assert_eq!(r.unwrap().len(), 3);
            }
        }
    }

    #[test]
    fn redis_protocol_errors() {
        // The cases of Redis' tests/unit/protocol.tcl.
        assert_eq!(err(b"*3000000000\r\n"), "invalid multibulk length");
        assert_eq!(err(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"), "expected '$', got 'f'");
        assert_eq!(err(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n"), "invalid bulk length");
        assert_eq!(err(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n"), "invalid bulk length");
        assert_eq!(err(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n"), "invalid bulk length");
        assert_eq!(err(b"*1\r\nfoo\r\n"), "expected '$', got 'f'");
        assert_eq!(err(b"set \"\"\"test-key\"\"\" test-value\r\n"), "unbalanced quotes in request");
        for seq in [&b"\x00"[..], b"*\x00", b"$\x00"] {
            let mut input = seq.to_vec();
            input.extend(std::iter::repeat_n(b'A', 70_000));
            assert!(parse_all(&input).is_err(), "{seq:?}");
        }
        // Beyond the raft entry cap, refused from the header alone.
        assert!(err(b"*2\r\n$3\r\nSET\r\n$100000000\r\n").contains("exceeds the maximum value size"));
    }

    #[test]
    fn unauthenticated_limits() {
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(&b"*20\r\n"[..]);
        assert_eq!(p.next(&mut buf, false).unwrap_err().0, "unauthenticated multibulk length");
        let mut p = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nAUTH\r\n$20000\r\n"[..]);
        assert_eq!(p.next(&mut buf, false).unwrap_err().0, "unauthenticated bulk length");
    }

    #[test]
    fn split_args_like_sdssplitargs() {
        let s = |x: &str| split_args(x.as_bytes()).map(|v| v.iter().map(|b| b.to_vec()).collect::<Vec<_>>());
        assert_eq!(s("a  b"), Some(vec![b"a".to_vec(), b"b".to_vec()]));
        assert_eq!(s("\"\\x41\\n\" 'it\\'s'"), Some(vec![b"A\n".to_vec(), b"it's".to_vec()]));
        assert_eq!(s("\"abc"), None);
        assert_eq!(s("\"a\"b"), None);
        assert_eq!(s(""), Some(vec![]));
    }
}
