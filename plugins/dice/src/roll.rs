//! Dice notation: `2d6`, `d20`, `3d8+2`, or a bare count of six-sided dice (`3`).

use regis::TextParam;
use std::fmt;

/// Most dice in one roll.
pub const MAX_DICE: u8 = 20;
/// Most sides on one die.
pub const MAX_SIDES: u16 = 1000;
/// Largest modifier either way (`+1000`, `-1000`).
pub const MAX_MODIFIER: i32 = 1000;

/// What to roll: `count` dice of `sides` sides, plus `modifier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roll {
    /// How many dice, 1 to [`MAX_DICE`].
    pub count: u8,
    /// Sides per die, 2 to [`MAX_SIDES`].
    pub sides: u16,
    /// Added to the sum, within ±[`MAX_MODIFIER`].
    pub modifier: i32,
}

impl Default for Roll {
    /// One six-sided die.
    fn default() -> Self {
        Roll { count: 1, sides: 6, modifier: 0 }
    }
}

impl Roll {
    /// Throws the dice: `[4]`, or `[3, 5] = 8`, or `[1, 7, 4] + 2 = 14`.
    pub fn throw(&self) -> String {
        // A `Roll` built by hand may hold what the parser refuses: no zero-sided die, no overflow.
        let dice: Vec<u16> = (0..self.count).map(|_| fastrand::u16(1..=self.sides.max(1))).collect();
        let total = dice.iter().map(|&d| i64::from(d)).sum::<i64>() + i64::from(self.modifier);
        match (dice.len(), self.modifier) {
            (1, 0) => format!("{dice:?}"),
            (_, 0) => format!("{dice:?} = {total}"),
            (_, m) if m > 0 => format!("{dice:?} + {m} = {total}"),
            (_, m) => format!("{dice:?} - {} = {total}", -m),
        }
    }
}

impl TextParam for Roll {
    const FORMAT: &'static str = "dice such as 2d6, d20 or 3d8+2";

    fn parse_text(text: &str) -> Result<Self, String> {
        let unreadable = || format!("must be dice such as 2d6, d20 or 3d8+2, got `{text}`");
        let lower = text.to_ascii_lowercase();
        let (count, rest) = match lower.split_once('d') {
            Some((count, rest)) => (count, rest),
            None if !lower.is_empty() => (lower.as_str(), "6"),
            None => return Err(unreadable()),
        };
        let (sides, modifier) = match rest.find(['+', '-']) {
            Some(at) => rest.split_at(at),
            None => (rest, "+0"),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let modifier_digits = &modifier[1..];
        if !(count.is_empty() || digits(count)) || !digits(sides) || !digits(modifier_digits) {
            return Err(unreadable());
        }
        // Digits only from here: a value too large for u64 is still "too many", and an error
        // shows the digits as typed (without leading zeros).
        let number = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
        let typed = |s: &str| match s.trim_start_matches('0') {
            "" => "0".to_string(),
            digits => digits.to_string(),
        };
        let (count_text, count) = if count.is_empty() { ("1", 1) } else { (count, number(count)) };
        if !(1..=u64::from(MAX_DICE)).contains(&count) {
            return Err(format!("must be 1 to {MAX_DICE} dice, got {}", typed(count_text)));
        }
        let sides_text = sides;
        let sides = number(sides);
        if !(2..=u64::from(MAX_SIDES)).contains(&sides) {
            return Err(format!("must have 2 to {MAX_SIDES} sides, got {}", typed(sides_text)));
        }
        let size = number(modifier_digits);
        if size > MAX_MODIFIER as u64 {
            let sign = &modifier[..1];
            return Err(format!("must add at most {MAX_MODIFIER} either way, got {sign}{}", typed(modifier_digits)));
        }
        let modifier = if modifier.starts_with('-') { -(size as i32) } else { size as i32 };
        Ok(Roll { count: count as u8, sides: sides as u16, modifier })
    }
}

impl fmt::Display for Roll {
    /// The roll in dice notation: `2d6`, `3d8+2`, `1d20-1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}d{}", self.count, self.sides)?;
        match self.modifier {
            0 => Ok(()),
            m if m > 0 => write!(f, "+{m}"),
            m => write!(f, "{m}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roll(count: u8, sides: u16, modifier: i32) -> Result<Roll, String> {
        Ok(Roll { count, sides, modifier })
    }

    #[test]
    fn notation_is_read_as_players_write_it() {
        assert_eq!(Roll::parse_text("2d6"), roll(2, 6, 0));
        assert_eq!(Roll::parse_text("d20"), roll(1, 20, 0));
        assert_eq!(Roll::parse_text("3d8+2"), roll(3, 8, 2));
        assert_eq!(Roll::parse_text("1D20-1"), roll(1, 20, -1));
        assert_eq!(Roll::parse_text("4"), roll(4, 6, 0));
        assert_eq!(Roll::parse_text("20d1000+1000"), roll(20, 1000, 1000));
    }

    #[test]
    fn what_cannot_be_rolled_says_why() {
        let refused = |text: &str| Roll::parse_text(text).expect_err(text);
        assert_eq!(refused("0"), "must be 1 to 20 dice, got 0");
        assert_eq!(refused("0d6"), "must be 1 to 20 dice, got 0");
        assert_eq!(refused("21d6"), "must be 1 to 20 dice, got 21");
        assert_eq!(refused("99999999999999999999999d6"), "must be 1 to 20 dice, got 99999999999999999999999");
        assert_eq!(refused("021d6"), "must be 1 to 20 dice, got 21");
        assert_eq!(refused("d6-01001"), "must add at most 1000 either way, got -1001");
        assert_eq!(refused("2d1"), "must have 2 to 1000 sides, got 1");
        assert_eq!(refused("d1001"), "must have 2 to 1000 sides, got 1001");
        assert_eq!(refused("d6+1001"), "must add at most 1000 either way, got +1001");
        for unreadable in ["", "d", "2d", "x", "2x6", "2d6+", "2d6+-1", "2d6 +1", "-2d6", "2d6d6", "２d6", "2d6+1+1"] {
            assert_eq!(refused(unreadable), format!("must be dice such as 2d6, d20 or 3d8+2, got `{unreadable}`"));
        }
    }

    #[test]
    fn a_throw_stays_within_the_dice_and_adds_the_modifier() {
        for _ in 0..200 {
            let text = Roll { count: 3, sides: 4, modifier: -2 }.throw();
            let (dice, total) = text.split_once(" - 2 = ").expect(&text);
            let dice: Vec<i32> = dice.trim_matches(['[', ']']).split(", ").map(|d| d.parse().expect(&text)).collect();
            assert_eq!(dice.len(), 3, "{text}");
            assert!(dice.iter().all(|d| (1..=4).contains(d)), "{text}");
            assert_eq!(total.parse::<i32>().expect(&text), dice.iter().sum::<i32>() - 2, "{text}");
        }
        let one = Roll::default().throw();
        assert!(one.starts_with('[') && one.ends_with(']') && !one.contains(','), "one die alone: {one}");
        assert_eq!(Roll { count: 2, sides: 6, modifier: 0 }.to_string(), "2d6");
        assert_eq!(Roll { count: 1, sides: 20, modifier: -1 }.to_string(), "1d20-1");
        // Built by hand outside the parser's limits: still no panic.
        let odd = Roll { count: 2, sides: 0, modifier: i32::MAX }.throw();
        assert_eq!(odd, format!("[1, 1] + {} = {}", i32::MAX, i64::from(i32::MAX) + 2));
    }
}
