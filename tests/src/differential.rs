//! Differential testing against Redis: the same commands go to redis-server
//! and to our node, and the replies must agree (after normalizing what is
//! legitimately different: key order of KEYS, TTLs counted a few
//! milliseconds apart).

use rand::seq::SliceRandom;
use rand::Rng;
use redis::Value;

pub struct Pair {
    pub redis: redis::Connection,
    pub ours: redis::Connection,
    /// Every command sent so far (for failure reports).
    pub history: Vec<String>,
}

#[derive(Debug, PartialEq)]
enum Norm {
    Value(Value),
    Error(String),
    /// A TTL-like integer, compared with a tolerance.
    Approx(i64, i64),
}

fn render(args: &[Vec<u8>]) -> String {
    args.iter().map(|a| format!("{:?}", String::from_utf8_lossy(a))).collect::<Vec<_>>().join(" ")
}

fn normalize(name: &str, r: redis::RedisResult<Value>) -> Norm {
    let v = match r {
        Ok(v) => v,
        Err(e) => return Norm::Error(e.to_string()),
    };
    match (name, v) {
        ("keys", Value::Array(mut items)) => {
            items.sort_by_key(|v| format!("{v:?}"));
            Norm::Value(Value::Array(items))
        }
        ("ttl" | "expiretime", Value::Int(n)) if n > 0 => Norm::Approx(n, 1),
        ("pttl" | "pexpiretime", Value::Int(n)) if n > 0 => Norm::Approx(n, 2000),
        (_, v) => Norm::Value(v),
    }
}

fn agree(a: &Norm, b: &Norm) -> bool {
    match (a, b) {
        (Norm::Approx(x, t), Norm::Approx(y, _)) => (x - y).abs() <= *t,
        _ => a == b,
    }
}

impl Pair {
    pub fn new(redis: redis::Connection, ours: redis::Connection) -> Pair {
        Pair { redis, ours, history: Vec::new() }
    }

    fn send(con: &mut redis::Connection, args: &[Vec<u8>]) -> redis::RedisResult<Value> {
        let mut c = redis::cmd(std::str::from_utf8(&args[0]).unwrap_or("?"));
        for a in &args[1..] {
            c.arg(a.as_slice());
        }
        c.query(con)
    }

    /// Sends `args` to both servers; an error describes the disagreement.
    pub fn check(&mut self, args: &[Vec<u8>]) -> Result<(), String> {
        let name = String::from_utf8_lossy(&args[0]).to_lowercase();
        self.history.push(render(args));
        let theirs = normalize(&name, Self::send(&mut self.redis, args));
        let ours = normalize(&name, Self::send(&mut self.ours, args));
        if agree(&theirs, &ours) {
            Ok(())
        } else {
            let recent: Vec<_> = self.history.iter().rev().take(15).rev().cloned().collect();
            Err(format!(
                "replies differ for {}\n  redis: {theirs:?}\n  ours:  {ours:?}\n  recent commands:\n    {}",
                render(args),
                recent.join("\n    ")
            ))
        }
    }

    /// Checks a command given as words.
    pub fn check_words(&mut self, words: &[&str]) -> Result<(), String> {
        let args: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        self.check(&args)
    }
}

fn pick<'a, R: Rng>(rng: &mut R, v: &[&'a str]) -> &'a str {
    v.choose(rng).unwrap()
}

/// A random command of the string and key families over `keys`. Expiry
/// times are long (or already past), so that the two servers cannot see a
/// key expire at different moments.
pub fn random_command<R: Rng>(rng: &mut R, keys: &[String]) -> Vec<Vec<u8>> {
    let k = |rng: &mut R| keys.choose(rng).unwrap().clone();
    let values = ["0", "1", "-1", "10", "123456789", "3.5", "-0.25", "abc", "", "9223372036854775807", "1e3", " 1", "007"];
    let v = |rng: &mut R| pick(rng, &values).to_string();
    let num = |rng: &mut R| rng.gen_range(-5i64..20).to_string();
    let long_ttl = |rng: &mut R| rng.gen_range(1000i64..100_000).to_string();
    let words: Vec<String> = match rng.gen_range(0..40) {
        0 => vec!["SET".into(), k(rng), v(rng)],
        1 => {
            let mut c = vec!["SET".into(), k(rng), v(rng)];
            for opt in ["NX", "XX", "GET", "KEEPTTL"] {
                if rng.gen_bool(0.2) {
                    c.push(opt.into());
                }
            }
            if rng.gen_bool(0.3) {
                c.push(pick(rng, &["EX", "PX", "EXAT", "PXAT"]).into());
                c.push(pick(rng, &["100000", "0", "-5", "abc", "99999999999999"]).into());
            }
            c
        }
        2 | 3 => vec!["GET".into(), k(rng)],
        4 => vec!["DEL".into(), k(rng), k(rng)],
        5 => vec!["INCR".into(), k(rng)],
        6 => vec!["INCRBY".into(), k(rng), pick(rng, &["5", "-3", "abc", "9223372036854775807", "1.5"]).into()],
        7 => vec!["DECR".into(), k(rng)],
        8 => vec!["DECRBY".into(), k(rng), num(rng)],
        9 => vec!["INCRBYFLOAT".into(), k(rng), pick(rng, &["1.1", "2.2", "-0.5", "1e2", "abc", "inf", "0.1"]).into()],
        10 => vec!["APPEND".into(), k(rng), v(rng)],
        11 => vec!["STRLEN".into(), k(rng)],
        12 => vec!["GETRANGE".into(), k(rng), num(rng), num(rng)],
        13 => vec!["SETRANGE".into(), k(rng), rng.gen_range(-1i64..12).to_string(), v(rng)],
        14 => vec!["MSET".into(), k(rng), v(rng), k(rng), v(rng)],
        15 => vec!["MGET".into(), k(rng), k(rng), k(rng)],
        16 => vec!["MSETNX".into(), k(rng), v(rng), k(rng), v(rng)],
        17 => vec!["SETNX".into(), k(rng), v(rng)],
        18 => vec!["GETSET".into(), k(rng), v(rng)],
        19 => vec!["GETDEL".into(), k(rng)],
        20 => {
            let mut c = vec!["GETEX".into(), k(rng)];
            match rng.gen_range(0..4) {
                0 => c.extend(["EX".into(), long_ttl(rng)]),
                1 => c.push("PERSIST".into()),
                2 => c.extend(["PX".into(), "0".into()]),
                _ => {}
            }
            c
        }
        21 => vec!["EXISTS".into(), k(rng), k(rng)],
        22 => vec!["TYPE".into(), k(rng)],
        23 => {
            let mut c = vec![pick(rng, &["EXPIRE", "PEXPIRE"]).into(), k(rng), pick(rng, &["100000", "-1", "0", "abc"]).into()];
            if rng.gen_bool(0.3) {
                c.push(pick(rng, &["NX", "XX", "GT", "LT", "FOO"]).into());
            }
            c
        }
        24 => vec![pick(rng, &["EXPIREAT", "PEXPIREAT"]).into(), k(rng), pick(rng, &["1", "99999999999", "-3"]).into()],
        25 => vec!["PERSIST".into(), k(rng)],
        26 => vec![pick(rng, &["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]).into(), k(rng)],
        27 => vec!["RENAME".into(), k(rng), k(rng)],
        28 => vec!["RENAMENX".into(), k(rng), k(rng)],
        29 => {
            let mut c = vec!["COPY".into(), k(rng), k(rng)];
            if rng.gen_bool(0.5) {
                c.push("REPLACE".into());
            }
            c
        }
        30 => vec!["DBSIZE".into()],
        31 => vec!["KEYS".into(), pick(rng, &["*", "*1*", "k?", "{t}*", "[a-z]*", "nomatch"]).into()],
        32 => vec!["OBJECT".into(), "ENCODING".into(), k(rng)],
        33 => vec!["UNLINK".into(), k(rng)],
        34 => vec!["TOUCH".into(), k(rng), k(rng)],
        35 => vec!["SUBSTR".into(), k(rng), num(rng), num(rng)],
        36 => vec![pick(rng, &["GET", "SET", "INCR", "MSET", "EXPIRE"]).into()], // wrong arity
        37 => vec!["SETEX".into(), k(rng), pick(rng, &["100", "0", "-1", "x"]).into(), v(rng)],
        38 => vec!["PSETEX".into(), k(rng), pick(rng, &["100000", "0"]).into(), v(rng)],
        _ => vec!["ECHO".into(), v(rng)],
    };
    words.into_iter().map(|w| w.into_bytes()).collect()
}
