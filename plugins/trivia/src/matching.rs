//! Whether a guess is the answer: compared leniently, as people type in a hurry.
//!
//! Both sides are normalised first: lowercase, accents dropped (`café` = `cafe`),
//! punctuation dropped (`Porto-Novo` = `porto novo`), a leading article dropped (`the`, `a`,
//! `an`), number words made digits (`seven` = `7`), spaces squeezed. What is left may then
//! differ by a typo or two, scaled to the answer's length: none up to 3 characters (a one-letter
//! or two-digit answer must be exact), one up to 7, then one per 5 more characters, and
//! numbers must always be exact.

use unicode_normalization::UnicodeNormalization;

const ARTICLES: [&str; 3] = ["the", "a", "an"];

const NUMBER_WORDS: [(&str, &str); 21] = [
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("thirteen", "13"),
    ("fourteen", "14"),
    ("fifteen", "15"),
    ("sixteen", "16"),
    ("seventeen", "17"),
    ("eighteen", "18"),
    ("nineteen", "19"),
    ("twenty", "20"),
];

/// The form guesses and answers are compared in.
pub fn normalize(text: &str) -> String {
    let folded: String = spell_minus(text)
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() || c == '.' { c } else { ' ' })
        .collect();
    let mut words: Vec<String> = folded
        .split_whitespace()
        // A dot is kept only inside a number (3.14); elsewhere it is punctuation (`St. Louis`).
        .flat_map(|w| {
            if w.chars().all(|c| c.is_ascii_digit() || c == '.') && w.chars().any(|c| c.is_ascii_digit()) {
                vec![w.trim_matches('.').to_string()]
            } else {
                w.split('.').filter(|p| !p.is_empty()).map(str::to_string).collect()
            }
        })
        .map(|w| NUMBER_WORDS.iter().find(|(word, _)| *word == w).map_or(w, |(_, digits)| digits.to_string()))
        .collect();
    if words.len() > 1 && ARTICLES.contains(&words[0].as_str()) {
        words.remove(0);
    }
    words.join(" ")
}

/// `-1` → `minus 1`: a sign is the one punctuation mark that changes a number.
fn spell_minus(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let starts_word = previous.is_none_or(char::is_whitespace);
        if c == '-' && starts_word && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push_str("minus ");
        } else {
            out.push(c);
        }
        previous = Some(c);
    }
    out
}

/// How many edits a guess may be from an answer of `len` characters (normalised).
pub fn allowed_typos(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        n => 1 + (n - 7) / 5,
    }
}

/// Whether `guess` is `answer`, leniently.
pub fn matches(guess: &str, answer: &str) -> bool {
    let (guess, answer) = (normalize(guess), normalize(answer));
    if guess.is_empty() || answer.is_empty() {
        return false;
    }
    if guess == answer {
        return true;
    }
    if answer.chars().any(|c| c.is_ascii_digit()) {
        return false; // 1984 is not 1985
    }
    let without_spaces = |s: &str| s.chars().filter(|c| *c != ' ').collect::<String>();
    if without_spaces(&guess) == without_spaces(&answer) {
        return true; // `forget me not` = `forgetmenot`
    }
    strsim::damerau_levenshtein(&guess, &answer) <= allowed_typos(answer.chars().count())
}

/// Whether `guess` is any of `answers`.
pub fn matches_any(guess: &str, answers: &[String]) -> bool {
    answers.iter().any(|answer| matches(guess, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_against_answers() {
        // (guess, answer, accepted)
        let table = [
            ("Paris", "Paris", true),
            ("paris", "PARIS", true),
            ("  paris!!", "Paris", true),
            ("Pariss", "Paris", true),
            ("Prais", "Paris", true),
            ("Pxrxs", "Paris", false),
            ("London", "Paris", false),
            ("cafe", "Café", true),
            ("Sao Paulo", "São Paulo", true),
            ("zurich", "Zürich", true),
            ("the beatles", "Beatles", true),
            ("Beatles", "The Beatles", true),
            ("a", "A", true),
            ("b", "A", false),
            ("the", "The", true),
            ("seven", "7", true),
            ("7", "Seven", true),
            ("twelve", "12", true),
            ("8", "7", false),
            ("1985", "1984", false),
            ("3.14", "3.14", true),
            ("3.15", "3.14", false),
            ("porto novo", "Porto-Novo", true),
            ("portonovo", "Porto-Novo", true),
            ("forget me not", "forget-me-not", true),
            ("st louis", "St. Louis", true),
            ("Ouagadougo", "Ouagadougou", true),
            ("Ouagadugou", "Ouagadougou", true),
            ("Ouagadugo", "Ouagadougou", false),
            ("Ougdugo", "Ouagadougou", false),
            ("Mississipi", "Mississippi", true),
            ("Missisippi", "Mississippi", true),
            ("Missisipi", "Mississippi", false),
            ("Msisipi", "Mississippi", false),
            ("cat", "car", false),
            ("dog", "dig", false),
            ("", "Paris", false),
            ("!!!", "Paris", false),
            ("Ai", "AI", true),
            ("Au", "Ag", false),
            ("hydrogen", "Hydrogen", true),
            ("hydrogne", "Hydrogen", true),
            ("-1", "-1", true),
            ("minus one", "-1", true),
            ("1", "-1", false),
            ("twenty six", "twenty-six", true),
        ];
        let wrong: Vec<_> = table.iter().filter(|(guess, answer, want)| matches(guess, answer) != *want).collect();
        assert!(wrong.is_empty(), "judged wrongly: {wrong:?}");
    }

    #[test]
    fn normal_forms() {
        assert_eq!(normalize("The Merchant of Venice!"), "merchant of venice");
        assert_eq!(normalize("Crème Brûlée"), "creme brulee");
        assert_eq!(normalize("Three  Blind   Mice"), "3 blind mice");
        assert_eq!(normalize("e.g."), "e g");
        assert_eq!(normalize("ﬁsh"), "fish");
    }

    #[test]
    fn typos_allowed_grow_with_the_answer() {
        assert_eq!(allowed_typos(1), 0);
        assert_eq!(allowed_typos(3), 0);
        assert_eq!(allowed_typos(5), 1);
        assert_eq!(allowed_typos(11), 1);
        assert_eq!(allowed_typos(12), 2);
        assert_eq!(allowed_typos(20), 3);
    }

    #[test]
    fn any_of_several_answers() {
        let answers = vec!["JFK".to_string(), "John F. Kennedy".to_string()];
        assert!(matches_any("jfk", &answers));
        assert!(matches_any("john f kennedy", &answers));
        assert!(!matches_any("nixon", &answers));
    }
}
