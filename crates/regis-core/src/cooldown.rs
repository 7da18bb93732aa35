//! Per-command rate limits: `N per DURATION per user|channel|guild|global`.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whose uses a cooldown counts together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CooldownScope {
    /// Each user separately (the default).
    User,
    /// Each channel separately.
    Channel,
    /// Each guild separately.
    Guild,
    /// Everybody together.
    Global,
}

/// A parsed cooldown: at most `uses` invocations per `per` and scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CooldownSpec {
    /// How many uses are allowed in the window.
    pub uses: u32,
    /// The window.
    pub per: Duration,
    /// Whose uses count together.
    pub scope: CooldownScope,
}

/// A cooldown text that does not parse; says what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a cooldown; write e.g. `3 per 10s per user` (scope: user, channel, guild or global)")]
pub struct CooldownParseError(pub String);

impl FromStr for CooldownSpec {
    type Err = CooldownParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || CooldownParseError(text.to_string());
        let words: Vec<&str> = text.split_whitespace().collect();
        let (uses, per, scope) = match words.as_slice() {
            [n, "per", d] => (n, d, "user"),
            [n, "per", d, "per", s] => (n, d, *s),
            _ => return Err(err()),
        };
        let uses: u32 = uses.parse().ok().filter(|n| *n > 0).ok_or_else(err)?;
        let per = humantime::parse_duration(per).map_err(|_| err())?;
        if per.is_zero() {
            return Err(err());
        }
        let scope = match scope {
            "user" => CooldownScope::User,
            "channel" => CooldownScope::Channel,
            "guild" => CooldownScope::Guild,
            "global" => CooldownScope::Global,
            _ => return Err(err()),
        };
        Ok(CooldownSpec { uses, per, scope })
    }
}

/// The uses recorded so far, per command and scope key (sliding window).
#[derive(Default)]
pub struct Cooldowns {
    uses: Mutex<HashMap<(String, String), VecDeque<Instant>>>,
}

impl Cooldowns {
    /// Records a use of `command` by `key` if allowed now; otherwise returns how long to wait.
    pub fn try_use(&self, command: &str, key: &str, spec: &CooldownSpec, now: Instant) -> Result<(), Duration> {
        let mut uses = self.uses.lock().unwrap_or_else(|e| e.into_inner());
        let window = uses.entry((command.to_string(), key.to_string())).or_default();
        while window.front().is_some_and(|t| now.duration_since(*t) >= spec.per) {
            window.pop_front();
        }
        if window.len() < spec.uses as usize {
            window.push_back(now);
            Ok(())
        } else {
            let oldest = window.front().copied().unwrap_or(now);
            Err(spec.per.saturating_sub(now.duration_since(oldest)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let spec: CooldownSpec = "3 per 10s per channel".parse().unwrap();
        assert_eq!(spec, CooldownSpec { uses: 3, per: Duration::from_secs(10), scope: CooldownScope::Channel });
        assert_eq!("1 per 1m".parse::<CooldownSpec>().unwrap().scope, CooldownScope::User);
        for bad in ["", "3 per", "0 per 10s", "3 per 0s", "3 per 10s per planet", "x per 1s"] {
            assert!(bad.parse::<CooldownSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sliding_window_limits_and_reports_wait() {
        let spec: CooldownSpec = "2 per 10s".parse().unwrap();
        let c = Cooldowns::default();
        let t0 = Instant::now();
        assert!(c.try_use("roll", "u1", &spec, t0).is_ok());
        assert!(c.try_use("roll", "u1", &spec, t0 + Duration::from_secs(1)).is_ok());
        let wait = c.try_use("roll", "u1", &spec, t0 + Duration::from_secs(3)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(7));
        assert!(c.try_use("roll", "u2", &spec, t0 + Duration::from_secs(3)).is_ok());
        assert!(c.try_use("roll", "u1", &spec, t0 + Duration::from_secs(10)).is_ok());
    }
}
