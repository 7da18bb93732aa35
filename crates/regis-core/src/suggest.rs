//! "Did you mean …?": the closest of some names to a misspelt one.

/// The candidate closest to `word` by edit distance (case-insensitive), if one is close
/// enough to be what was meant: at most a third of its length away (and at least 2 edits
/// allowed).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|candidate| (strsim::levenshtein(&word, &candidate.to_lowercase()), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn near_misses_find_their_name_and_strangers_find_none() {
        let names = ["rank set", "ban", "roll", "workers"];
        assert_eq!(closest("rank-set", names), Some("rank set"));
        assert_eq!(closest("bann", names), Some("ban"));
        assert_eq!(closest("WORKRES", names), Some("workers"));
        assert_eq!(closest("mandala", names), None);
    }
}
