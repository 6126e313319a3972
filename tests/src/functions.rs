//! Random FCALL and FCALL_RO for the differential tests, over libraries
//! both servers load (`LIBRARY`): writes, reads, flags, errors raised and
//! caught, bad key counts, missing functions, and the libraries replaced or
//! deleted and loaded again in between.

use rand::seq::SliceRandom;
use rand::Rng;

/// The library the random calls use. Its functions take their keys and
/// arguments as parameters (Redis' functions see no KEYS or ARGV).
pub const LIBRARY: &str = "#!lua name=kv
redis.register_function('kv_set', function(keys, args) return redis.call('SET', keys[1], args[1]) end)
redis.register_function{function_name = 'kv_get', flags = {'no-writes'},
  callback = function(keys) return redis.call('GET', keys[1]) end}
redis.register_function('kv_incr', function(keys, args) return redis.call('INCRBY', keys[1], args[1] or 1) end)
redis.register_function('kv_append_all', function(keys, args)
  local n = 0
  for i, k in ipairs(keys) do n = n + redis.call('APPEND', k, args[i] or 'x') end
  return n
end)
redis.register_function('kv_swap', function(keys)
  local a, b = redis.call('GET', keys[1]), redis.call('GET', keys[2])
  if b then redis.call('SET', keys[1], b) else redis.call('DEL', keys[1]) end
  if a then redis.call('SET', keys[2], a) else redis.call('DEL', keys[2]) end
  return {a, b}
end)
redis.register_function('kv_fail', function(keys)
  redis.call('SET', keys[1], 'before')
  return redis.call('LPUSH', keys[1], 'x')
end)
redis.register_function('kv_pfail', function(keys) return redis.pcall('LPUSH', keys[1], 'x') end)
redis.register_function('kv_err', function(keys, args) return redis.error_reply(args[1] or 'E') end)
redis.register_function{function_name = 'kv_ro_write', flags = {'no-writes'},
  callback = function(keys) return redis.call('DEL', keys[1]) end}
redis.register_function('kv_hash', function(keys, args)
  redis.call('HSET', keys[1], args[1] or 'f', args[2] or 'v')
  return {redis.call('HLEN', keys[1]), redis.call('TYPE', keys[1])}
end)
redis.register_function('kv_count', function(keys, args) return {#keys, #args, tostring(keys[1])} end)
redis.register_function('kv_error', function(keys) error('failed on ' .. tostring(keys[1])) end)
redis.register_function('kv_global', function() return KEYS end)
";

/// A second library: its functions come and go with FUNCTION LOAD REPLACE
/// and DELETE.
const OTHER: [&str; 2] = [
    "#!lua name=other
redis.register_function('o_len', function(keys) return redis.call('STRLEN', keys[1]) end)",
    "#!lua name=other
redis.register_function{function_name = 'o_len', flags = {'no-writes'},
  callback = function(keys) return redis.call('STRLEN', keys[1]) + 1000 end}
redis.register_function('o_new', function(keys, args) return redis.call('SET', keys[1], #args) end)",
];

const FUNCTIONS: &[&str] = &[
    "kv_set",
    "kv_get",
    "kv_incr",
    "kv_append_all",
    "kv_swap",
    "kv_fail",
    "kv_pfail",
    "kv_err",
    "kv_ro_write",
    "kv_hash",
    "kv_count",
    "kv_error",
    "kv_global",
    "o_len",
    "o_new",
    "nosuch",
];

fn pick<T: Copy, R: Rng>(rng: &mut R, v: &[T]) -> T {
    *v.choose(rng).unwrap()
}

fn words(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// A random command: mostly a call of a function of [`LIBRARY`] or of the
/// second library, on keys tagged `tag` (so that they share a partition),
/// else a plain command on the same keys or, with `library_changes`, a
/// change of the second library or a look at it.
pub fn random_function_command<R: Rng>(rng: &mut R, tag: &str, library_changes: bool) -> Vec<Vec<u8>> {
    let key = |rng: &mut R| format!("{tag}k{}", rng.gen_range(0..4));
    let arg = |rng: &mut R| -> String {
        match rng.gen_range(0..6) {
            0 => rng.gen_range(-5..100).to_string(),
            1 => String::new(),
            2 => "x y".into(),
            _ => format!("v{}", rng.gen_range(0..10)),
        }
    };
    match rng.gen_range(if library_changes { 0 } else { 5 }..40) {
        0 => words(&["FUNCTION", "LOAD", "REPLACE", pick(rng, &OTHER)]),
        1 => words(&["FUNCTION", "LOAD", pick(rng, &OTHER)]),
        2 => words(&["FUNCTION", "DELETE", "other"]),
        3 => words(&["FUNCTION", "LIST", "LIBRARYNAME", "o*"]),
        4 => words(&["FUNCTION", "STATS"]),
        5..=9 => {
            let k = key(rng);
            match rng.gen_range(0..4) {
                0 => words(&["GET", &k]),
                1 => words(&["SET", &k, &arg(rng)]),
                2 => words(&["TYPE", &k]),
                _ => words(&["DEL", &k]),
            }
        }
        _ => {
            let name = pick(rng, &["FCALL", "FCALL", "FCALL", "FCALL_RO"]);
            let nkeys = rng.gen_range(0..=3usize);
            let nargs = rng.gen_range(0..=3usize);
            let mut v = vec![name.to_string(), pick(rng, FUNCTIONS).to_string()];
            v.push(match rng.gen_range(0..30) {
                0 => "x".into(),
                1 => "-1".into(),
                2 => (nkeys + nargs + 1).to_string(),
                _ => nkeys.to_string(),
            });
            for _ in 0..nkeys {
                v.push(key(rng));
            }
            for _ in 0..nargs {
                v.push(arg(rng));
            }
            v.into_iter().map(String::into_bytes).collect()
        }
    }
}

/// The second library as the random commands may load it first.
pub fn other_library() -> &'static str {
    OTHER[0]
}
