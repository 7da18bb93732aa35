//! Outgoing flood control: a burst of lines at once, then a steady rate, so that the server
//! never disconnects the bot for flooding (a token bucket).

use std::time::Duration;
use tokio::time::Instant;

/// A token bucket of `burst` lines refilled at `per_second`.
#[derive(Debug)]
pub struct Flood {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Flood {
    /// `burst` lines at once, then `per_second`; `per_second` of 0 turns it off.
    pub fn new(burst: u32, per_second: f64) -> Self {
        let burst = f64::from(burst.max(1));
        Flood { burst, per_second, tokens: burst, last: Instant::now() }
    }

    /// How long to wait before the next line may go (taking its token).
    pub fn take(&mut self) -> Duration {
        if self.per_second <= 0.0 {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_lines_are_spaced() {
        let mut flood = Flood::new(3, 2.0);
        let waits: Vec<Duration> = (0..5).map(|_| flood.take()).collect();
        assert_eq!(&waits[..3], [Duration::ZERO; 3]);
        assert_eq!(waits[3], Duration::from_millis(500));
        assert_eq!(waits[4], Duration::from_millis(1000));
        // After a quiet while the burst is back.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(flood.take(), Duration::ZERO);
        assert_eq!(Flood::new(1, 0.0).take(), Duration::ZERO, "off");
    }
}
