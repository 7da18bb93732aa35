//! Access ranks: -1 (banned) through 0 (everyone) to 999 (owner).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A user's access rank. Every command requires a rank; a user may run it when their rank is at
/// least that. Rank -1 means banned: everything the user sends is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i32", into = "i32")]
pub struct Rank(i32);

/// A rank outside -1..=999.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rank must be between -1 and 999, got {0}")]
pub struct RankError(pub i64);

impl Rank {
    /// Banned: all input from the user is ignored, silently.
    pub const BANNED: Rank = Rank(-1);
    /// The default rank of everybody.
    pub const EVERYONE: Rank = Rank(0);
    /// A conventional rank for moderators (may set ranks below their own).
    pub const MODERATOR: Rank = Rank(100);
    /// A conventional rank for administrators (may enable and disable plugins).
    pub const ADMIN: Rank = Rank(500);
    /// The bot's owners, from the configuration.
    pub const OWNER: Rank = Rank(999);

    /// Makes a rank, checking that it lies in -1..=999.
    pub fn new(value: i64) -> Result<Rank, RankError> {
        if (-1..=999).contains(&value) {
            Ok(Rank(value as i32))
        } else {
            Err(RankError(value))
        }
    }

    /// A value outside the range, kept only so that validation can report it.
    pub(crate) const INVALID: Rank = Rank(i32::MIN);

    /// The numeric value.
    pub fn value(self) -> i32 {
        self.0
    }

    /// Whether this is the banned rank.
    pub fn is_banned(self) -> bool {
        self == Rank::BANNED
    }
}

impl Default for Rank {
    fn default() -> Self {
        Rank::EVERYONE
    }
}

impl TryFrom<i32> for Rank {
    type Error = RankError;
    fn try_from(value: i32) -> Result<Self, RankError> {
        Rank::new(value.into())
    }
}

impl From<Rank> for i32 {
    fn from(rank: Rank) -> i32 {
        rank.0
    }
}

impl fmt::Display for Rank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_enforced() {
        assert_eq!(Rank::new(-1), Ok(Rank::BANNED));
        assert_eq!(Rank::new(999), Ok(Rank::OWNER));
        assert_eq!(Rank::new(1000), Err(RankError(1000)));
        assert_eq!(Rank::new(-2), Err(RankError(-2)));
        assert!(Rank::BANNED < Rank::EVERYONE && Rank::EVERYONE < Rank::OWNER);
    }

    #[test]
    fn serde_rejects_out_of_range() {
        assert!(serde_json::from_str::<Rank>("5").is_ok());
        assert!(serde_json::from_str::<Rank>("1001").is_err());
    }
}
