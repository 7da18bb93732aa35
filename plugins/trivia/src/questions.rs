//! Questions and the files they come in: Regis's own TOML list, OpenTDB's JSON and the BSD
//! `quiz` data files. A file is read whole before anything is kept: one bad entry refuses the
//! file, naming the line (or entry) and the reason.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// One question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// What is asked.
    pub question: String,
    /// The accepted answers; the first is the one shown.
    pub answers: Vec<String>,
    /// Its category, as a key: lowercase words joined by `-` (`science-nature`).
    pub category: String,
    /// For a multiple-choice question, the options (the first answer among them); empty for
    /// an open question.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

impl Question {
    /// The answer shown when time runs out.
    pub fn shown_answer(&self) -> &str {
        self.answers.first().map(String::as_str).unwrap_or_default()
    }
}

/// Why a question file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {reason}", .place.as_ref().map(|p| format!(" {p}")).unwrap_or_default())]
pub struct FileError {
    /// The file.
    pub file: String,
    /// Where in it (`line 3`, `entry 5`), when known.
    pub place: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl FileError {
    fn new(file: &str, place: Option<String>, reason: impl Into<String>) -> Self {
        FileError { file: file.to_string(), place, reason: reason.into() }
    }
}

/// The category key of a name: `Entertainment: Video Games` → `entertainment-video-games`.
pub fn category_key(name: &str) -> String {
    let words = crate::matching::normalize(name);
    let key = words.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-");
    if key.is_empty() {
        "general".to_string()
    } else {
        key
    }
}

/// The questions shipped with the plugin, so that a game starts on embedded defaults.
pub fn builtin() -> Vec<Question> {
    match parse_toml("regis.toml", include_str!("../questions/regis.toml")) {
        Ok(questions) => questions,
        // The file is checked by a test; an error here is a build of a broken file.
        Err(e) => panic!("the built-in question file is broken: {e}"),
    }
}

/// Reads a question file, its format chosen by its name: `.toml`, `.json` (OpenTDB), anything
/// else a BSD `quiz` data file (its category titles from an `index` beside it, if there is one).
pub fn read_file(path: &Path) -> Result<Vec<Question>, FileError> {
    // Named without its directory: the error is shown in the chat.
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let text =
        std::fs::read_to_string(path).map_err(|e| FileError::new(&name, None, format!("cannot read it: {e}")))?;
    // Only a BSD quiz file takes its titles from an `index` beside it.
    let titles = is_bsd_quiz(&name).then(|| path.parent().and_then(|dir| bsd_titles(&dir.join("index"), &name)));
    parse_named(&name, &text, titles.flatten().as_ref())
}

/// Whether a file of this name is read as a BSD `quiz` file (neither `.toml` nor `.json`).
fn is_bsd_quiz(name: &str) -> bool {
    !matches!(Path::new(name).extension().and_then(|e| e.to_str()), Some("toml" | "json"))
}

/// Reads the text of a question file named `name` (its format chosen by the name, as
/// [`read_file`] does); a BSD `quiz` file's category titles are `titles` when known.
pub fn parse_named(name: &str, text: &str, titles: Option<&Vec<String>>) -> Result<Vec<Question>, FileError> {
    let questions = match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("toml") => parse_toml(name, text)?,
        Some("json") => parse_opentdb(name, text)?,
        _ => parse_bsd_quiz(name, text, name, titles)?,
    };
    if questions.is_empty() {
        return Err(FileError::new(name, None, "it holds no questions"));
    }
    Ok(questions)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn checked(file: &str, place: String, q: Question) -> Result<Question, FileError> {
    let err = |reason: &str| Err(FileError::new(file, Some(place.clone()), reason));
    if q.question.trim().is_empty() {
        return err("the question is empty");
    }
    if q.answers.is_empty() || q.answers.iter().any(|a| crate::matching::normalize(a).is_empty()) {
        return err("every question needs at least one answer, and no answer may be blank");
    }
    if !q.choices.is_empty() && !q.choices.iter().any(|c| c == &q.answers[0]) {
        return err("the choices must include the first answer");
    }
    Ok(Question { category: category_key(&q.category), ..q })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    question: Vec<toml::Spanned<TomlQuestion>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlQuestion {
    question: String,
    answers: Vec<String>,
    #[serde(default)]
    category: String,
    #[serde(default)]
    choices: Vec<String>,
}

/// Regis's own format: a list of `[[question]]` tables with `question`, `answers`, and
/// optionally `category` and `choices`.
pub fn parse_toml(file: &str, text: &str) -> Result<Vec<Question>, FileError> {
    let parsed: TomlFile = toml::from_str(text).map_err(|e| {
        let place = e.span().map(|s| format!("line {}", line_of(text, s.start)));
        FileError::new(file, place, e.message().to_string())
    })?;
    parsed
        .question
        .into_iter()
        .map(|spanned| {
            let place = format!("line {}", line_of(text, spanned.span().start));
            let q = spanned.into_inner();
            let question =
                Question { question: q.question, answers: q.answers, category: q.category, choices: q.choices };
            checked(file, place, question)
        })
        .collect()
}

#[derive(Deserialize)]
struct OpenTdbFile {
    #[serde(default)]
    response_code: u32,
    results: Vec<OpenTdbQuestion>,
}

#[derive(Deserialize)]
struct OpenTdbQuestion {
    #[serde(rename = "type")]
    kind: String,
    category: String,
    question: String,
    correct_answer: String,
    incorrect_answers: Vec<String>,
}

/// OpenTDB's JSON (`https://opentdb.com/api.php`): its `results`, with HTML entities decoded.
pub fn parse_opentdb(file: &str, text: &str) -> Result<Vec<Question>, FileError> {
    let parsed: OpenTdbFile = serde_json::from_str(text)
        .map_err(|e| FileError::new(file, Some(format!("line {}", e.line())), format!("not OpenTDB JSON: {e}")))?;
    if parsed.response_code != 0 {
        return Err(FileError::new(file, None, format!("OpenTDB answered response_code {}", parsed.response_code)));
    }
    let decode = |s: &str| html_escape::decode_html_entities(s).trim().to_string();
    parsed
        .results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let place = format!("entry {}", i + 1);
            if r.kind != "multiple" && r.kind != "boolean" {
                return Err(FileError::new(file, Some(place), format!("unknown type `{}`", r.kind)));
            }
            let correct = decode(&r.correct_answer);
            let mut choices = vec![correct.clone()];
            choices.extend(r.incorrect_answers.iter().map(|a| decode(a)));
            let question = Question {
                question: decode(&r.question),
                answers: vec![correct],
                category: decode(&r.category),
                choices,
            };
            checked(file, place, question)
        })
        .collect()
}

/// The titles of the categories of data file `stem` in a BSD `quiz` index, if it names it.
fn bsd_titles(index: &Path, stem: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(index).ok()?;
    logical_lines(&text).into_iter().find_map(|(_, line)| {
        let fields = split_fields(&line);
        let path = fields.first()?;
        if Path::new(path).file_name()?.to_str()? != stem {
            return None;
        }
        fields[1..].iter().map(|f| Pattern::parse(f).ok().map(|p| p.fullest())).collect()
    })
}

/// Lines with their first line number, backslash-newline continuations joined.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        if current.is_empty() {
            start = i + 1;
        }
        let continued = line.ends_with('\\') && !line.ends_with("\\\\");
        current.push_str(if continued { &line[..line.len() - 1] } else { line });
        if !continued {
            lines.push((start, std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        lines.push((start, current));
    }
    lines
}

/// Splits a quiz line at its unescaped colons (escapes kept for the pattern parser).
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let last = fields.last_mut().expect("never empty");
                last.push('\\');
                if let Some(next) = chars.next() {
                    last.push(next);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
}

/// A BSD `quiz` data file: lines of `question:answer[:more]` patterns, where `a|b` are
/// alternatives, `{x}` is optional and `[x]` groups; the question is asked from the first
/// field and answered by any expansion of the second.
pub fn parse_bsd_quiz(
    file: &str,
    text: &str,
    stem: &str,
    titles: Option<&Vec<String>>,
) -> Result<Vec<Question>, FileError> {
    let mut questions = Vec::new();
    for (line_no, line) in logical_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let place = || Some(format!("line {line_no}"));
        let fields = split_fields(&line);
        if fields.len() < 2 {
            return Err(FileError::new(file, place(), "expected `question:answer`"));
        }
        let parse = |f: &str| Pattern::parse(f).map_err(|reason| FileError::new(file, place(), reason));
        let (asked, answer) = (parse(&fields[0])?, parse(&fields[1])?);
        let (asked, answers) = (asked.fullest(), answer.expansions());
        if asked.trim().is_empty() || answers.iter().all(|a| a.trim().is_empty()) {
            continue; // quiz(6): an empty question or answer is not asked
        }
        let question = match titles.and_then(|t| t.get(1)) {
            Some(title) => format!("What is the {title} of {}?", asked.trim()),
            None => format!("{}?", asked.trim()),
        };
        let answers: Vec<String> =
            answers.into_iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect();
        let mut shown = answer.fullest().trim().to_string();
        if shown.is_empty() {
            shown = answers[0].clone();
        }
        let mut all = vec![shown.clone()];
        all.extend(answers.into_iter().filter(|a| *a != shown));
        questions.push(checked(
            file,
            format!("line {line_no}"),
            Question { question, answers: all, category: stem.to_string(), choices: Vec::new() },
        )?);
    }
    Ok(questions)
}

/// The most expansions one pattern may have (more are left out).
const MAX_EXPANSIONS: usize = 64;

/// A parsed quiz pattern: alternatives of sequences.
#[derive(Debug, Clone, PartialEq)]
struct Pattern(Vec<Vec<Item>>);

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Char(char),
    Optional(Pattern),
    Group(Pattern),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let mut chars = text.chars().peekable();
        let pattern = Pattern::parse_alt(&mut chars, None)?;
        match chars.next() {
            None => Ok(pattern),
            Some(c) => Err(format!("unexpected `{c}` in `{text}`")),
        }
    }

    fn parse_alt(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, close: Option<char>) -> Result<Pattern, String> {
        let mut alternatives = vec![Vec::new()];
        loop {
            let Some(c) = chars.next() else {
                return match close {
                    Some(close) => Err(format!("a `{close}` is missing")),
                    None => Ok(Pattern(alternatives)),
                };
            };
            let current = alternatives.last_mut().expect("never empty");
            match c {
                '\\' => current.push(Item::Char(chars.next().unwrap_or('\\'))),
                '|' => alternatives.push(Vec::new()),
                '{' => current.push(Item::Optional(Pattern::parse_alt(chars, Some('}'))?)),
                '[' => current.push(Item::Group(Pattern::parse_alt(chars, Some(']'))?)),
                c if Some(c) == close => return Ok(Pattern(alternatives)),
                '}' | ']' => return Err(format!("a `{c}` closes nothing")),
                c => current.push(Item::Char(c)),
            }
        }
    }

    /// Every string it matches (at most [`MAX_EXPANSIONS`]).
    fn expansions(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sequence in &self.0 {
            let mut partial = vec![String::new()];
            for item in sequence {
                let options = match item {
                    Item::Char(c) => vec![c.to_string()],
                    Item::Optional(p) => {
                        let mut o = p.expansions();
                        o.push(String::new());
                        o
                    }
                    Item::Group(p) => p.expansions(),
                };
                partial = partial
                    .iter()
                    .flat_map(|head| options.iter().map(move |tail| format!("{head}{tail}")))
                    .take(MAX_EXPANSIONS)
                    .collect();
            }
            out.extend(partial);
        }
        out.dedup();
        out.truncate(MAX_EXPANSIONS);
        out
    }

    /// Its first alternative with every optional part in: the form to show.
    fn fullest(&self) -> String {
        let sequence = self.0.first().map(Vec::as_slice).unwrap_or_default();
        sequence
            .iter()
            .map(|item| match item {
                Item::Char(c) => c.to_string(),
                Item::Optional(p) | Item::Group(p) => p.fullest(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_set_reads() {
        let questions = builtin();
        assert!(questions.len() >= 30, "{}", questions.len());
        assert!(questions.iter().any(|q| !q.choices.is_empty()), "some multiple choice");
    }

    #[test]
    fn quiz_patterns_expand() {
        let p = Pattern::parse("{John {F{.} }}Kennedy|JFK").unwrap();
        assert_eq!(p.fullest(), "John F. Kennedy");
        let all = p.expansions();
        for want in ["John F. Kennedy", "John F Kennedy", "Kennedy", "JFK"] {
            assert!(all.iter().any(|a| a == want), "{want} in {all:?}");
        }
        let p = Pattern::parse("M[iddle{-}Earth|E]").unwrap();
        assert_eq!(p.expansions(), vec!["Middle-Earth", "MiddleEarth", "ME"]);
        assert_eq!(Pattern::parse("strain['|e]d").unwrap().expansions(), vec!["strain'd", "strained"]);
        assert_eq!(Pattern::parse("a\\:b").unwrap().expansions(), vec!["a:b"]);
        assert!(Pattern::parse("{open").is_err());
        assert!(Pattern::parse("close}").is_err());
    }

    #[test]
    fn bsd_lines_continue_and_split() {
        let text = "Cock Robin:{the }sparrow\nThe quality:\\\nIt droppeth:\\\nPortia\n\nempty::\n";
        let titles = vec!["victim".to_string(), "killer".to_string()];
        let qs = parse_bsd_quiz("murders", text, "murders", Some(&titles)).unwrap();
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[0].question, "What is the killer of Cock Robin?");
        assert_eq!(qs[0].answers, vec!["the sparrow", "sparrow"]);
        assert_eq!(qs[1].answers, vec!["It droppeth"]);
        let err = parse_bsd_quiz("murders", "ok:fine\nno colon here\n", "murders", None).unwrap_err();
        assert_eq!(err.to_string(), "murders line 2: expected `question:answer`");
        let err = parse_bsd_quiz("m", "a:b\nc:{d\n", "m", None).unwrap_err();
        assert_eq!(err.to_string(), "m line 2: a `}` is missing");
    }

    #[test]
    fn toml_errors_name_the_line() {
        let text =
            "[[question]]\nquestion = \"Q1\"\nanswers = [\"A\"]\n\n[[question]]\nquestion = \"Q2\"\nanswers = []\n";
        let err = parse_toml("set.toml", text).unwrap_err();
        assert_eq!(err.place.as_deref(), Some("line 5"), "{err}");
        let err = parse_toml("set.toml", "[[question]]\nquestion = \"Q\"\nanswer = [\"typo\"]\n").unwrap_err();
        assert_eq!(err.place.as_deref(), Some("line 3"), "{err}");
        assert!(err.reason.contains("answer"), "{err}");
        let err = parse_toml("set.toml", "[[question]]\nquestion = \"Q\nanswers = [\"A\"]\n").unwrap_err();
        assert_eq!(err.place.as_deref(), Some("line 2"), "{err}");
    }

    #[test]
    fn opentdb_entities_are_decoded() {
        let text = r#"{"response_code":0,"results":[{"type":"multiple","difficulty":"easy","category":"Science &amp; Nature","question":"What is &quot;H2O&quot;?","correct_answer":"Water","incorrect_answers":["Salt","Air","Fire"]},{"type":"boolean","difficulty":"easy","category":"General Knowledge","question":"The sky is blue&#039;ish.","correct_answer":"True","incorrect_answers":["False"]}]}"#;
        let qs = parse_opentdb("o.json", text).unwrap();
        assert_eq!(qs[0].question, "What is \"H2O\"?");
        assert_eq!(qs[0].category, "science-nature");
        assert_eq!(qs[0].choices, vec!["Water", "Salt", "Air", "Fire"]);
        assert_eq!(qs[1].question, "The sky is blue'ish.");
        let err = parse_opentdb("o.json", r#"{"results":[{"type":"multiple","category":"c","question":"","correct_answer":"x","incorrect_answers":[]}]}"#).unwrap_err();
        assert_eq!(err.to_string(), "o.json entry 1: the question is empty");
        let err = parse_opentdb("o.json", "{\n\"results\": [\n{\"type\": 3}\n]}").unwrap_err();
        assert_eq!(err.place.as_deref(), Some("line 3"), "{err}");
    }
}
