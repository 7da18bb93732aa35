//! Hints: the answer masked, letters revealed in steps, and the points a win is worth.

/// `answer` with all but some letters and digits hidden as `_`: hint `step` of `steps`
/// reveals a share `step / (steps + 1)` of them — the first letter of each word first, then
/// others in an order fixed by `seed`, so that every worker shows the same hint — and never the
/// last hidden one.
pub fn mask(answer: &str, step: u32, steps: u32, seed: u64) -> String {
    let chars: Vec<char> = answer.chars().collect();
    let hidden: Vec<usize> = (0..chars.len()).filter(|&i| chars[i].is_alphanumeric()).collect();
    let word_starts: Vec<usize> =
        hidden.iter().copied().filter(|&i| i == 0 || !chars[i - 1].is_alphanumeric()).collect();
    let mut rest: Vec<usize> = hidden.iter().copied().filter(|i| !word_starts.contains(i)).collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    rng.shuffle(&mut rest);
    let order: Vec<usize> = word_starts.into_iter().chain(rest).collect();
    let share = hidden.len() * step as usize / (steps as usize + 1);
    let shown = share.min(hidden.len().saturating_sub(1));
    let revealed = &order[..shown];
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if c.is_alphanumeric() && !revealed.contains(&i) { '_' } else { *c })
        .flat_map(|c| [c, ' '])
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// The points a win is worth: 10 for each hint not yet given (plus 10), and a streak bonus of
/// 5 per win in a row after the first, at most 25.
pub fn points(hints_given: u32, hints: u32, streak: u32) -> i64 {
    let base = 10 * i64::from(hints.saturating_sub(hints_given) + 1);
    let bonus = (5 * i64::from(streak.saturating_sub(1))).min(25);
    base + bonus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_reveal_more_each_step_and_never_all() {
        assert_eq!(mask("Canberra", 0, 3, 7), "_ _ _ _ _ _ _ _");
        let one = mask("Canberra", 1, 3, 7);
        assert!(one.starts_with("C _"), "the first letter first: {one}");
        let shown = |m: &str| m.chars().filter(|c| c.is_alphanumeric()).count();
        assert_eq!(shown(&one), 2);
        assert_eq!(shown(&mask("Canberra", 2, 3, 7)), 4);
        assert_eq!(shown(&mask("Canberra", 3, 3, 7)), 6);
        assert_eq!(mask("Canberra", 2, 3, 7), mask("Canberra", 2, 3, 7), "the same on every worker");
        assert_eq!(mask("Au", 3, 3, 1).chars().filter(|c| *c == '_').count(), 1, "one always hidden");
        assert_eq!(mask("Neil Armstrong", 1, 3, 2).split("   ").count(), 2, "spaces kept");
        assert_eq!(mask("a-b", 0, 3, 2), "_ - _");
    }

    #[test]
    fn points_favour_speed_and_streaks() {
        assert_eq!(points(0, 3, 1), 40);
        assert_eq!(points(3, 3, 1), 10);
        assert_eq!(points(1, 3, 3), 40);
        assert_eq!(points(0, 3, 20), 65);
    }
}
