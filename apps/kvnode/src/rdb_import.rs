//! `kvnode --rdb-to-resp FILE`: a Redis RDB file (dump.rdb) as the
//! commands that recreate it, in RESP, for `redis-cli --pipe` to send to
//! any node (or to any Redis): `FUNCTION RESTORE` per library, then
//! `RESTORE key deadline payload REPLACE ABSTTL` per key. This is how a
//! dataset comes over from Redis; keys already expired are dropped by the
//! RESTOREs themselves.

use node::rdb::file::{read, Item};
use std::io::Write;
use std::path::Path;

fn command(out: &mut impl Write, args: &[&[u8]]) -> std::io::Result<()> {
    write!(out, "*{}\r\n", args.len())?;
    for a in args {
        write!(out, "${}\r\n", a.len())?;
        out.write_all(a)?;
        out.write_all(b"\r\n")?;
    }
    Ok(())
}

/// Writes the commands to stdout; the keys and libraries converted.
pub fn run(path: &Path) -> anyhow::Result<(u64, u64)> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut keys, mut libraries) = (0u64, 0u64);
    read(&bytes, |item| {
        let written = match item {
            Item::Library(code) => {
                libraries += 1;
                let payload = node::rdb::functions::encode([&code[..]]);
                command(&mut out, &[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"])
            }
            Item::Key { key, value, expire_at_ms } => {
                keys += 1;
                let payload = node::rdb::encode(&value);
                let at = expire_at_ms.unwrap_or(0).to_string();
                command(&mut out, &[b"RESTORE", &key, at.as_bytes(), &payload, b"REPLACE", b"ABSTTL"])
            }
        };
        written.map_err(|e| format!("writing: {e}"))
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    out.flush()?;
    Ok((keys, libraries))
}
