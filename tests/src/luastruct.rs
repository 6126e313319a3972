//! Random uses of scripts' `struct` for the differential tests: formats of
//! every option (endianness, alignment, integer sizes up to and past 8
//! bytes, floats, strings, padding, bad options and numbers), packed from
//! random values and unpacked from random bytes; results as text (the
//! dumper of `crate::msgpack`).

use rand::seq::SliceRandom;
use rand::Rng;

fn format<R: Rng>(rng: &mut R) -> String {
    let mut f = String::new();
    for _ in 0..rng.gen_range(0..6) {
        let part = match rng.gen_range(0..20) {
            0 => "<".to_string(),
            1 => ">".to_string(),
            2 => format!("!{}", ["", "1", "2", "4", "8", "16", "3"].choose(rng).unwrap()),
            3 => " ".to_string(),
            4 => "x".to_string(),
            5 => format!("i{}", ["", "1", "2", "3", "8", "9", "16", "33"].choose(rng).unwrap()),
            6 => format!("I{}", ["", "1", "2", "5", "8", "12"].choose(rng).unwrap()),
            7 => format!("c{}", ["", "0", "3", "10"].choose(rng).unwrap()),
            8 => "s".to_string(),
            9 => "f".to_string(),
            10 => "d".to_string(),
            11 => ["z", "?", "y"].choose(rng).unwrap().to_string(),
            _ => ["b", "B", "h", "H", "l", "L", "T"].choose(rng).unwrap().to_string(),
        };
        f.push_str(&part);
    }
    f
}

fn value<R: Rng>(rng: &mut R) -> String {
    match rng.gen_range(0..12) {
        0 => rng.gen_range(-200..300).to_string(),
        1 => (*["65535", "-32768", "2^31", "-2^31", "2^63", "2^64", "-2^63", "2^53 + 1", "1e300", "0/0"]
            .choose(rng)
            .unwrap())
        .to_string(),
        2 => format!("{}", rng.gen_range(-100.0..100.0f64)),
        3 => (*["0.1", "1e-45", "-0.0", "1/0", "3.4e39"].choose(rng).unwrap()).to_string(),
        4 => "'abc'".into(),
        5 => "''".into(),
        6 => "'12'".into(),
        7 => "'a\\0b'".into(),
        8 => "nil".into(),
        9 => "{}".into(),
        _ => format!("string.rep('q', {})", rng.gen_range(0..12)),
    }
}

/// EVAL of a random `struct.pack`, `struct.unpack` or `struct.size`.
pub fn random_struct_command<R: Rng>(rng: &mut R) -> Vec<Vec<u8>> {
    let fmt = format(rng);
    let call = match rng.gen_range(0..4) {
        0 => {
            let args: Vec<String> = (0..rng.gen_range(0..5)).map(|_| value(rng)).collect();
            let mut all = vec![format!("'{fmt}'")];
            all.extend(args);
            format!("struct.pack({})", all.join(", "))
        }
        1 => {
            // Unpack what a random pack made with the same format.
            let args: Vec<String> = (0..4).map(|_| value(rng)).collect();
            format!("struct.unpack('{fmt}', struct.pack('{fmt}', {}))", args.join(", "))
        }
        2 => {
            let pos = ["", ", 1", ", 2", ", 0", ", -1", ", 100", ", 'x'"].choose(rng).unwrap();
            format!("struct.unpack('{fmt}', ARGV[1]{pos})")
        }
        _ => format!("struct.size('{fmt}')"),
    };
    let bytes: Vec<u8> =
        (0..rng.gen_range(0..40)).map(|_| *[0u8, 1, 0x7f, 0x80, 0xff, b'a', rng.gen()].choose(rng).unwrap()).collect();
    // (The call is no tail call: see README on struct.pack's errors.)
    let script = format!("{}return d({{pcall(function() return {{{call}}} end)}})", crate::msgpack::DUMP);
    vec![b"EVAL".to_vec(), script.into_bytes(), b"0".to_vec(), bytes]
}
