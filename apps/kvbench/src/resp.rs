//! The RESP side: encoding planned ops as commands, reading reply frames
//! (decoded by redis-protocol), and turning a reply into what verification
//! looks at or an error kind.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::BytesMut;
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::types::BytesFrame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::verify::Observed;
use crate::workload::Op;

/// Appends `*N\r\n$len\r\narg\r\n...` for one command.
pub struct CommandWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> CommandWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>, args: usize) -> CommandWriter<'a> {
        out.push(b'*');
        out.extend_from_slice(args.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        CommandWriter { out }
    }

    pub fn arg(&mut self, a: &[u8]) -> &mut Self {
        self.header(a.len());
        self.out.extend_from_slice(a);
        self.out.extend_from_slice(b"\r\n");
        self
    }

    fn header(&mut self, len: usize) {
        self.out.push(b'$');
        self.out.extend_from_slice(len.to_string().as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn value(&mut self, v: &crate::value::ValId) -> &mut Self {
        self.header(v.encoded_len());
        v.write_to(self.out);
        self.out.extend_from_slice(b"\r\n");
        self
    }
}

/// Appends the commands of `op`; returns how many replies they produce.
pub fn encode(op: &Op, out: &mut Vec<u8>) -> usize {
    let name = |k: &crate::workload::Key| k.name(None);
    match op {
        Op::Set { key, val } => {
            CommandWriter::new(out, 3).arg(b"SET").arg(&name(key)).value(val);
        }
        Op::Get { key } => {
            CommandWriter::new(out, 2).arg(b"GET").arg(&name(key));
        }
        Op::Incr { key } => {
            CommandWriter::new(out, 2).arg(b"INCR").arg(&name(key));
        }
        Op::HSet { key, val } => {
            CommandWriter::new(out, 4).arg(b"HSET").arg(&name(key)).arg(b"f").value(val);
        }
        Op::HGet { key } => {
            CommandWriter::new(out, 3).arg(b"HGET").arg(&name(key)).arg(b"f");
        }
        Op::LPush { key, val } => {
            CommandWriter::new(out, 3).arg(b"LPUSH").arg(&name(key)).value(val);
        }
        Op::LPop { key } => {
            CommandWriter::new(out, 2).arg(b"LPOP").arg(&name(key));
        }
        Op::SAdd { key, member } => {
            CommandWriter::new(out, 3).arg(b"SADD").arg(&name(key)).arg(format!("m{member}").as_bytes());
        }
        Op::ZAdd { key, score, member } => {
            CommandWriter::new(out, 4)
                .arg(b"ZADD")
                .arg(&name(key))
                .arg(score.to_string().as_bytes())
                .arg(format!("m{member}").as_bytes());
        }
        Op::ZRange { key } => {
            CommandWriter::new(out, 5).arg(b"ZRANGE").arg(&name(key)).arg(b"0").arg(b"9").arg(b"WITHSCORES");
        }
        Op::XAdd { key, val } => {
            CommandWriter::new(out, 8)
                .arg(b"XADD")
                .arg(&name(key))
                .arg(b"MAXLEN")
                .arg(b"~")
                .arg(b"1000")
                .arg(b"*")
                .arg(b"f")
                .value(val);
        }
        Op::MSet { key, val, n } => {
            let mut w = CommandWriter::new(out, 1 + 2 * *n as usize);
            w.arg(b"MSET");
            for sub in 0..*n {
                w.arg(&key.name(Some(&sub.to_string()))).value(&crate::value::ValId { sub, ..*val });
            }
        }
        Op::MGet { key, n } => {
            let mut w = CommandWriter::new(out, 1 + *n as usize);
            w.arg(b"MGET");
            for sub in 0..*n {
                w.arg(&key.name(Some(&sub.to_string())));
            }
        }
        Op::Multi { key, val } => {
            CommandWriter::new(out, 1).arg(b"MULTI");
            CommandWriter::new(out, 3).arg(b"SET").arg(&key.name(Some("v"))).value(val);
            CommandWriter::new(out, 2).arg(b"INCR").arg(&key.name(Some("n")));
            CommandWriter::new(out, 1).arg(b"EXEC");
            return 4;
        }
    }
    1
}

/// Why a reply is not a success: the error's first word (`ERR`,
/// `WRONGTYPE`, `UNCERTAIN`, ...) or a protocol-level description.
pub type ErrorKind = String;

fn error_kind(msg: &str) -> ErrorKind {
    msg.split_whitespace().next().unwrap_or("ERR").to_string()
}

fn bulk(f: &BytesFrame) -> Result<Option<&[u8]>, ErrorKind> {
    match f {
        BytesFrame::BulkString(b) => Ok(Some(b)),
        BytesFrame::Null => Ok(None),
        BytesFrame::Error(e) => Err(error_kind(e)),
        other => Err(format!("unexpected reply {other:?}")),
    }
}

fn int(f: &BytesFrame) -> Result<i64, ErrorKind> {
    match f {
        BytesFrame::Integer(i) => Ok(*i),
        BytesFrame::Error(e) => Err(error_kind(e)),
        other => Err(format!("unexpected reply {other:?}")),
    }
}

/// Reads the replies of `op` (as many as `encode` said) as one outcome.
pub fn interpret<'a>(op: &Op, frames: &'a [BytesFrame]) -> Result<Observed<'a>, ErrorKind> {
    if let Some(BytesFrame::Error(e)) = frames.iter().find(|f| matches!(f, BytesFrame::Error(_))) {
        return Err(error_kind(e));
    }
    let last = frames.last().expect("at least one reply");
    match op {
        Op::Get { .. } | Op::HGet { .. } => Ok(Observed::Value(bulk(last)?)),
        Op::Incr { .. } => Ok(Observed::Int(int(last)?)),
        Op::MGet { .. } => match last {
            BytesFrame::Array(items) => Ok(Observed::Values(items.iter().map(bulk).collect::<Result<_, _>>()?)),
            other => Err(format!("unexpected reply {other:?}")),
        },
        Op::Multi { .. } => match last {
            BytesFrame::Array(items) if items.len() == 2 => Ok(Observed::Int(int(&items[1])?)),
            BytesFrame::Null => Err("EXECABORT".into()),
            other => Err(format!("unexpected EXEC reply {other:?}")),
        },
        Op::LPop { .. } | Op::XAdd { .. } => bulk(last).map(|_| Observed::Done),
        Op::Set { .. } | Op::MSet { .. } => match last {
            BytesFrame::SimpleString(_) => Ok(Observed::Done),
            other => Err(format!("unexpected reply {other:?}")),
        },
        Op::HSet { .. } | Op::LPush { .. } | Op::SAdd { .. } | Op::ZAdd { .. } => int(last).map(|_| Observed::Done),
        Op::ZRange { .. } => match last {
            BytesFrame::Array(_) => Ok(Observed::Done),
            other => Err(format!("unexpected reply {other:?}")),
        },
    }
}

/// Reads whole frames from a byte stream.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader { inner, buf: BytesMut::with_capacity(64 << 10) }
    }

    pub async fn frame(&mut self) -> Result<BytesFrame> {
        loop {
            if let Some((frame, _, _)) = decode_bytes_mut(&mut self.buf).map_err(|e| anyhow!("bad reply: {e:?}"))? {
                return Ok(frame);
            }
            if self.buf.capacity() - self.buf.len() < 16 << 10 {
                self.buf.reserve(64 << 10);
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                bail!("connection closed by the server");
            }
        }
    }

    /// Reads `n` frames into `out` (cleared first), each within `timeout`.
    pub async fn frames(&mut self, n: usize, timeout: Duration, out: &mut Vec<BytesFrame>) -> Result<()> {
        out.clear();
        for _ in 0..n {
            let f = tokio::time::timeout(timeout, self.frame()).await.map_err(|_| anyhow!("timeout"))??;
            out.push(f);
        }
        Ok(())
    }
}

/// One RESP connection: a frame reader and the write half.
pub struct Conn {
    pub reader: FrameReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

/// Credentials sent on connect: `AUTH [namespace] password`.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    pub namespace: Option<String>,
    pub password: Option<String>,
}

impl Conn {
    pub async fn connect(addr: &str, auth: &Auth) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut conn = Conn { reader: FrameReader::new(r), writer: w };
        if let Some(pw) = &auth.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(ns) = &auth.namespace {
                args.push(ns.as_bytes());
            }
            args.push(pw.as_bytes());
            match conn.command(&args).await? {
                BytesFrame::SimpleString(_) => {}
                other => bail!("AUTH on {addr} failed: {other:?}"),
            }
        }
        Ok(conn)
    }

    /// Sends one command and reads its reply.
    pub async fn command(&mut self, args: &[&[u8]]) -> Result<BytesFrame> {
        let mut out = Vec::new();
        let mut w = CommandWriter::new(&mut out, args.len());
        for a in args {
            w.arg(a);
        }
        self.writer.write_all(&out).await?;
        self.reader.frame().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ValId;
    use crate::workload::{Family, Key};
    use bytes::Bytes;

    #[test]
    fn encodes_commands_as_resp_arrays() {
        let key = Key { family: Family::String, index: 7 };
        let mut out = Vec::new();
        assert_eq!(encode(&Op::Get { key }, &mut out), 1);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000007\r\n");
        out.clear();
        let val = ValId { client: 1, seq: 2, sub: 0, len: 12 };
        encode(&Op::Set { key, val }, &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000007\r\n$12\r\nc1:s2:j0:xxx\r\n");
        out.clear();
        assert_eq!(encode(&Op::Multi { key: Key { family: Family::Tx, index: 1 }, val }, &mut out), 4);
    }

    #[test]
    fn interprets_replies_and_errors() {
        let key = Key { family: Family::String, index: 1 };
        let ok = [BytesFrame::BulkString(Bytes::from_static(b"v"))];
        assert!(matches!(interpret(&Op::Get { key }, &ok), Ok(Observed::Value(Some(b"v")))));
        let err = [BytesFrame::Error("WRONGTYPE Operation against a key".into())];
        assert_eq!(interpret(&Op::Get { key }, &err).err().unwrap(), "WRONGTYPE");
        let aborted = [
            BytesFrame::SimpleString(Bytes::from_static(b"OK")),
            BytesFrame::SimpleString(Bytes::from_static(b"QUEUED")),
            BytesFrame::SimpleString(Bytes::from_static(b"QUEUED")),
            BytesFrame::Null,
        ];
        let tx = Op::Multi { key, val: ValId { client: 0, seq: 1, sub: 0, len: 1 } };
        assert_eq!(interpret(&tx, &aborted).err().unwrap(), "EXECABORT");
    }
}
