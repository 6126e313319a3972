//! Named crash points for fault tests: with `KVNODE_FAILPOINTS=a,b` in its
//! environment the process aborts (as a SIGKILL would stop it) when it
//! reaches point `a` or `b`. Unset, a point costs one check of a cached set.

use std::collections::HashSet;
use std::sync::OnceLock;

fn enabled() -> &'static HashSet<String> {
    static POINTS: OnceLock<HashSet<String>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var("KVNODE_FAILPOINTS")
            .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    })
}

/// Aborts the process if crash point `name` is enabled.
pub fn crash_point(name: &str) {
    if enabled().contains(name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
