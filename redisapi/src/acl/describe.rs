//! Users and selectors written back as rules (ACL LIST, ACL GETUSER, the
//! ACL file), the way Redis writes them: the commands as `+@all` or
//! `-@all`, then the categories that best fit, then single commands.

use super::{data, Selector, User, CATEGORIES, READ, WRITE};

impl Selector {
    /// ACLDescribeSelectorCommandRules.
    pub fn describe_commands(&self) -> String {
        let mut rules = String::new();
        // Rules are replayed on `fake` as they are written, to know what is
        // still to be said.
        let mut fake = Selector::default();
        let additive = !self.future;
        let start = if additive { "-@all" } else { "+@all" };
        rules.push_str(start);
        rules.push(' ');
        fake.apply(start.as_bytes()).expect("rule");

        let mut temp = Selector { allowed: self.allowed, ..Selector::default() };
        let mut applied = [false; 32];
        loop {
            let mut best = None;
            let (mut min_diff, mut max_same) = (usize::MAX, 0);
            for (j, _) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                    best = Some(j);
                    min_diff = diff;
                    max_same = same;
                }
            }
            let Some(j) = best else { break };
            fake.set_category(1 << j, additive);
            temp.set_category(1 << j, !additive);
            rules.push_str(&format!("{}@{} ", if additive { '+' } else { '-' }, CATEGORIES[j]));
            applied[j] = true;
        }

        for (id, cmd) in data::COMMANDS.iter().enumerate() {
            let mine = self.bit(id);
            if mine != fake.bit(id) {
                rules.push_str(&format!("{}{} ", if mine { '+' } else { '-' }, cmd.name));
                fake.change(id, mine);
            }
            if !mine {
                for arg in self.first_args.get(&id).into_iter().flatten() {
                    rules.push_str(&format!("+{}|{} ", cmd.name, arg));
                }
            }
        }
        rules.pop();
        rules
    }

    /// Key patterns as rules (`~k*`, `%R~k*`).
    pub fn describe_keys(&self) -> Vec<String> {
        if self.all_keys {
            return vec!["~*".to_string()];
        }
        self.patterns
            .iter()
            .map(|(p, f)| {
                let prefix = match *f {
                    f if f == READ | WRITE => "~",
                    READ => "%R~",
                    WRITE => "%W~",
                    _ => unreachable!("a pattern has a permission"),
                };
                format!("{prefix}{}", String::from_utf8_lossy(p))
            })
            .collect()
    }

    pub fn describe_channels(&self) -> Vec<String> {
        if self.all_channels {
            return vec!["&*".to_string()];
        }
        self.channels.iter().map(|c| format!("&{}", String::from_utf8_lossy(c))).collect()
    }

    /// ACLDescribeSelector: keys, channels, commands.
    fn describe(&self) -> String {
        let mut parts = self.describe_keys();
        if !self.all_channels {
            parts.push("resetchannels".to_string());
        }
        parts.extend(self.describe_channels());
        parts.push(self.describe_commands());
        parts.join(" ")
    }
}

impl User {
    /// Flags in Redis' order (on, off, nopass, skip-sanitize-payload,
    /// sanitize-payload).
    pub fn flags(&self) -> Vec<&'static str> {
        [
            (self.on, "on"),
            (self.off, "off"),
            (self.nopass, "nopass"),
            (self.skip_sanitize, "skip-sanitize-payload"),
            (self.sanitize, "sanitize-payload"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }

    pub fn password_hashes(&self) -> &[String] {
        &self.passwords
    }

    pub fn root(&self) -> &Selector {
        &self.root
    }

    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    /// ACLDescribeUser: the user's rules (after `user <name> ` in ACL LIST
    /// and the ACL file).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for f in self.flags() {
            out.push_str(f);
            out.push(' ');
        }
        for p in &self.passwords {
            out.push('#');
            out.push_str(p);
            out.push(' ');
        }
        out.push_str(&self.root.describe());
        for s in &self.selectors {
            out.push_str(&format!(" ({})", s.describe()));
        }
        out
    }
}
