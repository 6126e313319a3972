//! The ACL file (`aclfile`): one `user <name> <rules...>` line per user, as
//! Redis writes and reads it (ACLSaveToFile, ACLLoadFromFile).

use super::{merge_selectors, RuleError, User};
use bytes::Bytes;
use std::path::Path;

/// Reads every user of `path`. Any error refuses the whole file, with
/// Redis' messages (the caller keeps the users it had).
pub fn load(path: &Path) -> Result<Vec<User>, String> {
    let shown = path.display();
    let text = std::fs::read(path).map_err(|e| format!("Error loading ACLs, opening file '{shown}': {e}"))?;
    let mut users: Vec<User> = Vec::new();
    let mut errors = String::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line = String::from_utf8_lossy(line);
        let line = line.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&str> = line.split(' ').collect();
        if argv[0] != "user" || argv.len() < 2 {
            errors.push_str(&format!("{shown}:{n} should start with user keyword followed by the username. "));
            continue;
        }
        let name = argv[1];
        if super::has_spaces(name.as_bytes()) || name.is_empty() {
            errors.push_str(&format!("'{shown}:{n}: username '{name}' contains invalid characters. "));
            continue;
        }
        if users.iter().any(|u| u.name == name) {
            errors.push_str(&format!("WARNING: Duplicate user '{name}' found on line {n}. "));
            continue;
        }
        let rules: Vec<Bytes> = argv[2..].iter().map(|r| Bytes::copy_from_slice(r.as_bytes())).collect();
        let Ok(merged) = merge_selectors(&rules) else {
            errors.push_str(&format!("{shown}:{n}: Unmatched parenthesis in selector definition."));
            continue;
        };
        let mut user = User::new(name);
        let mut syntax_reported = false;
        for op in &merged {
            let op = String::from_utf8_lossy(op);
            let op = op.trim_matches(|c| matches!(c, '\t' | '\r' | '\n'));
            match user.apply(op.as_bytes()) {
                Ok(()) => {}
                Err(RuleError::Unknown) => errors.push_str(&format!(
                    "{shown}:{n}: Error in applying operation '{op}': {}. ",
                    RuleError::Unknown.message()
                )),
                Err(e) if !syntax_reported => {
                    errors.push_str(&format!("{shown}:{n}: {}. ", e.message()));
                    syntax_reported = true;
                }
                Err(_) => {}
            }
        }
        users.push(user);
    }
    if !errors.is_empty() {
        errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        return Err(errors);
    }
    Ok(users)
}

/// Writes every user to `path` durably (synced, then renamed into place).
pub fn save(path: &Path, users: &[std::sync::Arc<User>]) -> std::io::Result<()> {
    let mut text = String::new();
    for u in users {
        text.push_str(&format!("user {} {}\n", u.name, u.describe()));
    }
    node::durable::replace_with(path, text.as_bytes())
}
