//! Writing replies in RESP2 or RESP3.

use bytes::{BufMut, BytesMut};
use node::Reply;

fn line(out: &mut BytesMut, prefix: u8, body: &[u8]) {
    out.put_u8(prefix);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

fn int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut b = itoa::Buffer::new();
    line(out, prefix, b.format(n).as_bytes());
}

fn bulk(out: &mut BytesMut, data: &[u8]) {
    int_line(out, b'$', data.len() as i64);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

pub use node::num::{format_double, format_human_double};

/// Appends `r` to `out` in protocol version `proto` (2 or 3).
pub fn encode(out: &mut BytesMut, r: &Reply, proto: u8) {
    match r {
        Reply::Ok => out.put_slice(b"+OK\r\n"),
        Reply::Status(s) => line(out, b'+', s.as_bytes()),
        Reply::Error(e) => {
            // An error line cannot hold newlines.
            let clean: Vec<u8> = e.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect();
            line(out, b'-', &clean)
        }
        Reply::Int(n) => int_line(out, b':', *n),
        Reply::Bulk(b) => bulk(out, b),
        Reply::Nil => out.put_slice(if proto >= 3 { b"_\r\n" } else { b"$-1\r\n" }),
        Reply::NilArray => out.put_slice(if proto >= 3 { b"_\r\n" } else { b"*-1\r\n" }),
        Reply::Array(items) => {
            int_line(out, b'*', items.len() as i64);
            for i in items {
                encode(out, i, proto);
            }
        }
        Reply::Set(items) => {
            int_line(out, if proto >= 3 { b'~' } else { b'*' }, items.len() as i64);
            for i in items {
                encode(out, i, proto);
            }
        }
        Reply::Pairs(pairs) => {
            if proto >= 3 {
                int_line(out, b'*', pairs.len() as i64);
                for (a, b) in pairs {
                    out.put_slice(b"*2\r\n");
                    encode(out, a, proto);
                    encode(out, b, proto);
                }
            } else {
                int_line(out, b'*', 2 * pairs.len() as i64);
                for (a, b) in pairs {
                    encode(out, a, proto);
                    encode(out, b, proto);
                }
            }
        }
        Reply::PairMap(pairs) if proto < 3 => {
            int_line(out, b'*', pairs.len() as i64);
            for (k, v) in pairs {
                out.put_slice(b"*2\r\n");
                encode(out, k, proto);
                encode(out, v, proto);
            }
        }
        Reply::Map(pairs) | Reply::PairMap(pairs) => {
            if proto >= 3 {
                int_line(out, b'%', pairs.len() as i64);
            } else {
                int_line(out, b'*', 2 * pairs.len() as i64);
            }
            for (k, v) in pairs {
                encode(out, k, proto);
                encode(out, v, proto);
            }
        }
        Reply::Double(_) | Reply::HumanDouble(_) => {
            let s = match r {
                Reply::HumanDouble(d) => format_human_double(*d),
                Reply::Double(d) => format_double(*d),
                _ => unreachable!(),
            };
            if proto >= 3 {
                line(out, b',', s.as_bytes());
            } else {
                bulk(out, s.as_bytes());
            }
        }
        Reply::Push(items) => {
            int_line(out, if proto >= 3 { b'>' } else { b'*' }, items.len() as i64);
            for i in items {
                encode(out, i, proto);
            }
        }
        Reply::Publishing(r, _) => encode(out, r, proto),
        Reply::Several(replies) => {
            for r in replies {
                encode(out, r, proto);
            }
        }
        Reply::Verbatim(s) => {
            if proto >= 3 {
                int_line(out, b'=', s.len() as i64 + 4);
                out.put_slice(b"txt:");
                out.put_slice(s.as_bytes());
                out.put_slice(b"\r\n");
            } else {
                bulk(out, s.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: Reply, proto: u8) -> String {
        let mut b = BytesMut::new();
        encode(&mut b, &r, proto);
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn resp2_and_resp3() {
        assert_eq!(enc(Reply::Nil, 2), "$-1\r\n");
        assert_eq!(enc(Reply::Nil, 3), "_\r\n");
        assert_eq!(enc(Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]), 2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]), 3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(Reply::Double(1.5), 3), ",1.5\r\n");
        assert_eq!(enc(Reply::Double(1.5), 2), "$3\r\n1.5\r\n");
        assert_eq!(enc(Reply::error("ERR a\r\nb"), 2), "-ERR a  b\r\n");
    }
}
