//! Reading a command's arguments (after Redis' arity check), with Redis'
//! error words for malformed numbers.

use bytes::Bytes;
use node::num::parse_i64_arg;
use node::reply::err;
use node::Reply;

pub struct Args<'a> {
    pub argv: &'a [Bytes],
    pub pos: usize,
}

impl<'a> Args<'a> {
    /// Arguments after the command name.
    pub fn new(argv: &'a [Bytes]) -> Args<'a> {
        Args { argv, pos: 1 }
    }

    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.argv[0]).to_lowercase()
    }

    pub fn remaining(&self) -> usize {
        self.argv.len() - self.pos
    }

    pub fn is_done(&self) -> bool {
        self.pos >= self.argv.len()
    }

    #[allow(clippy::should_implement_trait)] // a missing argument is a syntax error, not an end
    pub fn next(&mut self) -> Result<Bytes, Reply> {
        let a = self.argv.get(self.pos).cloned().ok_or_else(|| Reply::error(err::SYNTAX))?;
        self.pos += 1;
        Ok(a)
    }

    pub fn peek(&self) -> Option<&Bytes> {
        self.argv.get(self.pos)
    }

    /// The next argument, upper-cased (for option names).
    pub fn next_upper(&mut self) -> Result<String, Reply> {
        Ok(String::from_utf8_lossy(&self.next()?).to_ascii_uppercase())
    }

    pub fn next_i64(&mut self) -> Result<i64, Reply> {
        parse_i64_arg(&self.next()?)
    }

    pub fn rest(&mut self) -> Vec<Bytes> {
        let r = self.argv[self.pos..].to_vec();
        self.pos = self.argv.len();
        r
    }

    /// Fails with a syntax error unless every argument was used.
    pub fn done(&self) -> Result<(), Reply> {
        if self.is_done() {
            Ok(())
        } else {
            Err(Reply::error(err::SYNTAX))
        }
    }
}
