//! What can become of a proposal or a read.

/// Why a proposal or read did not produce a result.
///
/// [`ProposeError::certainly_not_applied`] separates the outcomes a client may
/// retry (`-TRYAGAIN`) from the ones it must not (`-UNCERTAIN`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// Nothing was proposed: this replica does not lead the group.
    /// `leader` is the leader's node id when known.
    #[error("not leader")]
    NotLeader { leader: Option<u64> },
    /// Nothing was proposed (raft refused to take it: a leader transfer is in
    /// progress, too many uncommitted bytes, ...).
    #[error("proposal dropped: {0}")]
    Dropped(String),
    /// Proposed, but a new leader put another entry at its index.
    #[error("proposal overwritten by a new leader")]
    Overwritten,
    /// Proposed, but raft replaced it by an empty entry (a refused
    /// configuration change).
    #[error("proposal refused")]
    Refused,
    /// The entry is larger than the entry cap; nothing was proposed.
    #[error("entry of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge { size: usize, max: usize },
    /// The group is not hosted here; nothing was proposed.
    #[error("no such group {0}")]
    NoGroup(u64),
    /// No answer by the deadline, or the driver went away after taking the
    /// request: it may or may not have been applied.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

impl ProposeError {
    /// True when the command certainly did not take effect, so that a client
    /// may safely send it again.
    pub fn certainly_not_applied(&self) -> bool {
        !matches!(self, ProposeError::Unknown(_))
    }
}
