//! Trivia for the channel: questions asked, answered with plain messages (matched leniently),
//! hints over time, points by speed and streaks, leaderboards per channel, server and all.
//!
//! Every decision goes through the plugin's tables ([`game`]) and every wait through the bot's
//! timers, so a game is correct with several workers and resumes after a restart.

pub mod game;
pub mod hints;
pub mod matching;
pub mod questions;

use game::{Answered, Game, Games, NewGame, ASKING, BETWEEN};
use questions::Question;
use regis::prelude::*;
use regis::Choice;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What happens to a correct answer that comes after the question was won.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LateAnswers {
    /// Its author is told the question is taken.
    #[default]
    Tell,
    /// Nothing is said.
    Ignore,
}

/// The game's settings.
#[derive(Clone, Debug)]
pub struct TriviaConfig {
    /// Questions in a game when `start` names no number.
    pub rounds: u32,
    /// Hints per question before the answer is shown.
    pub hints: u32,
    /// Time between a question and its first hint, between hints, and from the last hint to
    /// the answer.
    pub hint_interval: Duration,
    /// Time between the end of one question and the next.
    pub pause: Duration,
    /// How long after the first correct answer other answers are still compared by message
    /// time (an earlier message handled a moment later by another worker still wins).
    pub settle: Duration,
    /// What a late correct answer gets.
    pub late_answers: LateAnswers,
    /// A timer this much overdue (the bot was down) ends the game, scores kept, rather than
    /// resuming a game everyone left.
    pub resume_limit: Duration,
    /// Where `trivia import` reads question files.
    pub dir: Option<PathBuf>,
}

impl Default for TriviaConfig {
    fn default() -> Self {
        TriviaConfig {
            rounds: 10,
            hints: 3,
            hint_interval: Duration::from_secs(10),
            pause: Duration::from_secs(3),
            settle: Duration::from_millis(300),
            late_answers: LateAnswers::Tell,
            resume_limit: Duration::from_secs(120),
            dir: None,
        }
    }
}

/// The trivia plugin.
pub struct Trivia {
    config: TriviaConfig,
    builtin: Arc<Vec<Question>>,
}

impl Default for Trivia {
    fn default() -> Self {
        Trivia::new(TriviaConfig::default())
    }
}

impl Trivia {
    /// The plugin with these settings and the built-in questions.
    pub fn new(config: TriviaConfig) -> Self {
        Trivia { config, builtin: Arc::new(questions::builtin()) }
    }
}

/// Which leaderboard.
#[derive(Choice, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// This channel's.
    Channel,
    /// This server's.
    Server,
    /// Everyone's.
    All,
}

/// A hint or time-out is due: hint `step + 1` (or the answer, after the last hint).
#[derive(Serialize, Deserialize)]
struct Tick {
    game: String,
    round: i64,
    step: i64,
    due_ms: u64,
}

/// A question's first correct answer came `settle` ago: decide it.
#[derive(Serialize, Deserialize)]
struct Settle {
    game: String,
    round: i64,
}

/// The pause after question `round` is over: ask the next one, or end the game.
#[derive(Serialize, Deserialize)]
struct Next {
    game: String,
    round: i64,
    due_ms: u64,
}

fn channel_of(ctx: &Ctx) -> Result<String> {
    match ctx.envelope().channel.as_ref() {
        Some(c) if !c.direct => Ok(c.id.clone()),
        _ => Err("trivia is played in a channel, not in direct messages".into()),
    }
}

fn now_ms() -> u64 {
    regis::envelope::now_ms()
}

fn seed(game: &str, round: i64) -> u64 {
    game.bytes().fold(round as u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

fn letter(i: usize) -> char {
    (b'A' + i as u8) as char
}

/// The question as posted: text, the choices as letters and (where shown) buttons.
fn question_reply(game: &str, round: i64, rounds: i64, question: &Question) -> Reply {
    let mut text = format!("Question {round}/{rounds}: {}", question.question);
    if !question.choices.is_empty() {
        let options: Vec<String> =
            question.choices.iter().enumerate().map(|(i, c)| format!("{}) {c}", letter(i))).collect();
        text.push_str(&format!("\n{}", options.join("   ")));
    }
    let mut reply = Reply::text(text);
    for (i, choice) in question.choices.iter().enumerate() {
        reply = reply.button(format!("{}) {choice}", letter(i)), format!("pick:{game}:{round}:{i}"));
    }
    reply
}

fn scoreboard(board: &[(String, i64)]) -> String {
    if board.is_empty() {
        return "Nobody scored.".to_string();
    }
    let lines: Vec<String> =
        board.iter().enumerate().map(|(i, (name, points))| format!("{}. {name} {points}", i + 1)).collect();
    lines.join("\n")
}

/// The largest question file accepted from the chat.
pub const MAX_UPLOAD: u64 = 4 * 1024 * 1024;

fn refused(e: &questions::FileError) -> String {
    tracing::warn!(file = %e.file, reason = %e.reason, "trivia file refused");
    format!("Nothing imported: {e}")
}

impl Trivia {
    /// The questions of file `file` in `trivia_dir` (as set `file`), or the refusal to show.
    fn read_from_dir(&self, file: &str) -> Result<Vec<(String, Vec<Question>)>, String> {
        let Some(dir) = &self.config.dir else {
            return Err("No trivia directory is set (`trivia_dir` in the configuration).".into());
        };
        if file.contains(['/', '\\']) || file.starts_with('.') {
            return Err(format!("`{file}` must be a file name in the trivia directory, without a path."));
        }
        let questions = questions::read_file(&dir.join(file)).map_err(|e| refused(&e))?;
        Ok(vec![(file.to_string(), questions)])
    }

    /// The questions of the files attached to the message (each a set named as the file), or
    /// the refusal to show.
    async fn read_attached(&self, ctx: &Ctx) -> Result<Vec<(String, Vec<Question>)>, String> {
        let mut sets = Vec::new();
        for file in ctx.files() {
            let name = file.name.rsplit(['/', '\\']).next().unwrap_or_default().to_string();
            if name.is_empty() || name.starts_with('.') {
                return Err(format!("Nothing imported: `{}` is not a usable file name.", file.name));
            }
            let bytes = match ctx.download(file, MAX_UPLOAD).await {
                Ok(bytes) => bytes,
                Err(e) => return Err(format!("Nothing imported: could not fetch {name}: {e}")),
            };
            let Ok(text) = String::from_utf8(bytes) else {
                return Err(format!("Nothing imported: {name}: not UTF-8 text"));
            };
            let questions = questions::parse_named(&name, &text, None).map_err(|e| refused(&e))?;
            sets.push((name, questions));
        }
        Ok(sets)
    }

    /// A question of `category` (all when empty) not asked yet in this game, with its id and
    /// its choices shuffled.
    async fn pick_question(
        &self,
        games: &Games,
        category: &str,
        asked: &[String],
    ) -> Result<Option<(String, Question)>> {
        let builtin: Vec<(String, &Question)> = self
            .builtin
            .iter()
            .enumerate()
            .filter(|(_, q)| category.is_empty() || q.category == category)
            .map(|(i, q)| (format!("regis:{}", i + 1), q))
            .collect();
        let imported = games.imported_ids(category).await?;
        let fresh_builtin: Vec<&(String, &Question)> = builtin.iter().filter(|(id, _)| !asked.contains(id)).collect();
        let fresh_imported: Vec<&String> = imported.iter().filter(|id| !asked.contains(id)).collect();
        // Everything asked once: questions may come again rather than the game stopping.
        let (fresh_builtin, fresh_imported) = if fresh_builtin.is_empty() && fresh_imported.is_empty() {
            (builtin.iter().collect(), imported.iter().collect())
        } else {
            (fresh_builtin, fresh_imported)
        };
        let total = fresh_builtin.len() + fresh_imported.len();
        if total == 0 {
            return Ok(None);
        }
        let k = fastrand::usize(..total);
        let (id, mut question) = if k < fresh_builtin.len() {
            let (id, q) = fresh_builtin[k];
            (id.clone(), (*q).clone())
        } else {
            let id = fresh_imported[k - fresh_builtin.len()].clone();
            match games.imported(&id).await? {
                Some(q) => (id, q),
                None => return Ok(None),
            }
        };
        fastrand::shuffle(&mut question.choices);
        Ok(Some((id, question)))
    }

    async fn after<T: Serialize>(&self, ctx: &Ctx, delay: Duration, topic: &str, data: &T) -> Result<()> {
        ctx.after(delay, topic, data).await?;
        Ok(())
    }

    fn tick(&self, game: &str, round: i64, step: i64) -> Tick {
        let due_ms = now_ms() + self.config.hint_interval.as_millis() as u64;
        Tick { game: game.to_string(), round, step, due_ms }
    }

    fn next(&self, game: &str, round: i64) -> Next {
        Next { game: game.to_string(), round, due_ms: now_ms() + self.config.pause.as_millis() as u64 }
    }

    /// Whether a timer is too late to go on with: the game is ended instead, scores kept.
    async fn interrupted(&self, ctx: &Ctx, games: &Games, game: &str, due_ms: u64) -> Result<bool> {
        if now_ms().saturating_sub(due_ms) <= self.config.resume_limit.as_millis() as u64 {
            return Ok(false);
        }
        if let Some(board) = games.end(game).await? {
            let channel = channel_of(ctx)?;
            ctx.say(
                &channel,
                format!("The trivia game was interrupted (the bot was away). Final scores:\n{}", scoreboard(&board)),
            )
            .await?;
        }
        Ok(true)
    }

    /// Handles a guess by the author of `ctx`, sent at `at_ms`; what to tell them, if anything.
    async fn guess(&self, ctx: &Ctx, games: &Games, game: &Game, guess: &str, at_ms: u64) -> Result<Option<String>> {
        let question = &game.question;
        let guess = match guess.trim().chars().collect::<Vec<_>>().as_slice() {
            // A letter answers a multiple-choice question.
            [c] if !question.choices.is_empty() => {
                let i = (c.to_ascii_uppercase() as usize).wrapping_sub('A' as usize);
                question.choices.get(i).cloned().unwrap_or_else(|| guess.to_string())
            }
            _ => guess.to_string(),
        };
        if !matching::matches_any(&guess, &question.answers) {
            return Ok(None);
        }
        let author = ctx.author();
        let at = i64::try_from(at_ms).unwrap_or(i64::MAX);
        let outcome = if game.phase == ASKING {
            games.answer(&game.game, game.round, (&author.key(), &author.name), at).await?
        } else {
            Answered::Taken
        };
        match outcome {
            Answered::First => {
                let settle = Settle { game: game.game.clone(), round: game.round };
                self.after(ctx, self.config.settle, "trivia.settle", &settle).await?;
                Ok(None)
            }
            Answered::Overtook | Answered::Later => Ok(None),
            Answered::Taken if game.phase == BETWEEN && self.config.late_answers == LateAnswers::Tell => {
                Ok(Some(format!("{}, that question is taken.", author.name)))
            }
            Answered::Taken => Ok(None),
        }
    }
}

/// Trivia for the channel: `trivia start`, then answer with plain messages.
#[plugin(migrations = [game::SCHEMA_V1])]
impl Trivia {
    /// Start a trivia game in this channel, e.g. `!trivia start science 5`.
    ///
    /// Answer with plain messages; hints come over time, and faster answers score more.
    ///
    /// # Arguments
    /// * `category` - only questions of this category (see `trivia categories`)
    /// * `rounds` - how many questions (default 10)
    #[command(name = "trivia start")]
    async fn start(
        &self,
        ctx: &Ctx,
        category: Option<String>,
        #[min = 1]
        #[max = 100]
        rounds: Option<u32>,
    ) -> Result<Reply> {
        let channel = channel_of(ctx)?;
        let games = Games::new(ctx.db().clone());
        let category = category.map(|c| questions::category_key(&c)).unwrap_or_default();
        let Some((id, question)) = self.pick_question(&games, &category, &[]).await? else {
            return Ok(Reply::text(format!(
                "There are no questions in category `{category}`. Try `{}trivia categories`.",
                ctx.prefix()
            )));
        };
        let game = regis::envelope::new_id();
        let rounds = i64::from(rounds.unwrap_or(self.config.rounds));
        // The first tick is set before the game is stored: a game never lacks its timer.
        self.after(ctx, self.config.hint_interval, "trivia.tick", &self.tick(&game, 1, 0)).await?;
        let envelope = ctx.envelope();
        let new = NewGame {
            game: &game,
            channel: &channel,
            source: &envelope.source,
            guild: envelope.guild.as_deref().unwrap_or_default(),
            starter: &ctx.author().key(),
            category: &category,
            rounds,
            first: (&id, &question),
        };
        if !games.start(&new).await? {
            return Ok(Reply::text(format!(
                "A trivia game is already running here; `{}trivia stop` ends it.",
                ctx.prefix()
            )));
        }
        let what = if category.is_empty() { String::new() } else { format!(" of {category}") };
        let mut reply = question_reply(&game, 1, rounds, &question);
        reply.text = format!(
            "Trivia! {rounds} question(s){what}; answer in the channel, the first right answer wins.\n{}",
            reply.text
        );
        Ok(reply)
    }

    /// Stop this channel's trivia game (the one who started it, or rank 100).
    #[command(name = "trivia stop")]
    async fn stop(&self, ctx: &Ctx) -> Result<String> {
        let channel = channel_of(ctx)?;
        let games = Games::new(ctx.db().clone());
        let Some(game) = games.get(&channel).await? else { return Ok("No trivia game is running here.".into()) };
        if game.starter != ctx.author().key() && ctx.rank() < Rank::new(100)? {
            return Ok("Only who started the game, or rank 100, can stop it.".into());
        }
        match games.end(&game.game).await? {
            Some(board) => Ok(format!(
                "Trivia stopped. The answer was {}. Final scores:\n{}",
                game.question.shown_answer(),
                scoreboard(&board)
            )),
            None => Ok("The game had just ended.".into()),
        }
    }

    /// Skip the current trivia question.
    #[command(name = "trivia skip", rank = 100)]
    async fn skip(&self, ctx: &Ctx) -> Result<String> {
        let channel = channel_of(ctx)?;
        let games = Games::new(ctx.db().clone());
        let Some(game) = games.get(&channel).await? else { return Ok("No trivia game is running here.".into()) };
        if game.phase != ASKING {
            return Ok("No question is open right now.".into());
        }
        self.after(ctx, self.config.pause, "trivia.next", &self.next(&game.game, game.round)).await?;
        if !games.close_unanswered(&game.game, game.round, None).await? {
            return Ok("That question was just decided.".into());
        }
        Ok(format!("Skipped. The answer was {}.", game.question.shown_answer()))
    }

    /// List the trivia categories and how many questions each has.
    #[command(name = "trivia categories")]
    async fn categories(&self, ctx: &Ctx) -> Result<String> {
        let mut counts: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        for q in self.builtin.iter() {
            *counts.entry(q.category.clone()).or_default() += 1;
        }
        for (category, n) in Games::new(ctx.db().clone()).imported_categories().await? {
            *counts.entry(category).or_default() += n;
        }
        let list: Vec<String> = counts.iter().map(|(c, n)| format!("{c} ({n})")).collect();
        Ok(format!("Categories: {}", list.join(", ")))
    }

    /// Show a trivia leaderboard.
    ///
    /// # Arguments
    /// * `board` - this channel's (default), this server's, or everyone's
    #[command(name = "trivia top")]
    async fn top(&self, ctx: &Ctx, board: Option<Board>) -> Result<String> {
        let envelope = ctx.envelope();
        let (scope, id, title) = match board.unwrap_or(Board::Channel) {
            Board::Channel => ("channel", channel_of(ctx)?, "this channel"),
            Board::Server => match envelope.guild.clone() {
                Some(guild) => ("server", guild, "this server"),
                None => return Ok("This is not on a server; try `trivia top channel`.".into()),
            },
            Board::All => ("all", String::new(), "everyone"),
        };
        let rows = Games::new(ctx.db().clone()).top(scope, &id).await?;
        if rows.is_empty() {
            return Ok(format!("No trivia scores yet for {title}."));
        }
        let lines: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, (name, points, wins))| format!("{}. {name} {points} points ({wins} right)", i + 1))
            .collect();
        Ok(format!("Trivia top, {title}:\n{}", lines.join("\n")))
    }

    /// Show a player's trivia record.
    ///
    /// # Arguments
    /// * `user` - whose (default: yours)
    #[command(name = "trivia stats")]
    async fn stats(&self, ctx: &Ctx, user: Option<UserRef>) -> Result<String> {
        let user = user.unwrap_or_else(|| ctx.author().clone());
        match Games::new(ctx.db().clone()).player(&user.key()).await? {
            Some((wins, points, streak, fastest)) => Ok(format!(
                "{}: {points} points, {wins} right, best streak {streak}, fastest answer {:.1} s.",
                user.name,
                fastest as f64 / 1000.0
            )),
            None => Ok(format!("{} has not answered a trivia question yet.", user.name)),
        }
    }

    /// Import trivia questions from files attached to the message, or from the trivia directory.
    ///
    /// A file is Regis TOML (`.toml`), OpenTDB JSON (`.json`) or a BSD `quiz` data file.
    /// Importing a file again replaces its questions; if any file has an error, nothing is
    /// imported.
    ///
    /// # Arguments
    /// * `file` - a file's name in `trivia_dir` (none: the attached files)
    #[command(name = "trivia import", rank = 999)]
    async fn import(&self, ctx: &Ctx, file: Option<String>) -> Result<String> {
        let read = match file {
            Some(file) => self.read_from_dir(&file),
            None if ctx.files().is_empty() => {
                return Ok(format!(
                    "Attach question files to the message, or name a file in the trivia directory: `{}trivia import <file>`.",
                    ctx.prefix()
                ))
            }
            None => self.read_attached(ctx).await,
        };
        let sets = match read {
            Ok(sets) => sets,
            Err(refusal) => return Ok(refusal),
        };
        Games::new(ctx.db().clone()).import(&sets).await?;
        let lines: Vec<String> = sets
            .iter()
            .map(|(set, questions)| {
                let mut categories: Vec<&str> = questions.iter().map(|q| q.category.as_str()).collect();
                categories.sort_unstable();
                categories.dedup();
                format!("Imported {} question(s) from {set} ({}).", questions.len(), categories.join(", "))
            })
            .collect();
        Ok(lines.join("\n"))
    }

    #[event("message")]
    async fn heard(&self, ctx: &Ctx, event: &Event) -> Result<()> {
        let Some(text) = event.text() else { return Ok(()) };
        if text.starts_with(ctx.prefix()) {
            return Ok(()); // a command, not an answer
        }
        let Ok(channel) = channel_of(ctx) else { return Ok(()) };
        let games = Games::new(ctx.db().clone());
        let Some(game) = games.get(&channel).await? else { return Ok(()) };
        if let Some(notice) = self.guess(ctx, &games, &game, text, ctx.envelope().time_ms).await? {
            ctx.reply(notice).await?;
        }
        Ok(())
    }

    #[component("pick")]
    async fn picked(&self, ctx: &Ctx, id: &str) -> Result<Reply> {
        // pick:<game>:<round>:<choice>
        let parts: Vec<&str> = id.split(':').collect();
        let (Some(game_id), Some(round), Some(choice)) = (
            parts.get(1),
            parts.get(2).and_then(|r| r.parse::<i64>().ok()),
            parts.get(3).and_then(|c| c.parse::<usize>().ok()),
        ) else {
            return Ok(Reply::text("This button is no longer handled.").ephemeral());
        };
        let channel = channel_of(ctx)?;
        let games = Games::new(ctx.db().clone());
        let game = games.get(&channel).await?.filter(|g| g.game == *game_id && g.round == round);
        let Some(game) = game else { return Ok(Reply::text("That question is over.").ephemeral()) };
        let Some(text) = game.question.choices.get(choice).cloned() else {
            return Ok(Reply::text("That is not one of the choices.").ephemeral());
        };
        if !games.pick(game_id, round, &ctx.author().key()).await? {
            return Ok(Reply::text("You already picked for this question.").ephemeral());
        }
        let notice = self.guess(ctx, &games, &game, &text, ctx.envelope().time_ms).await?;
        Ok(Reply::text(notice.unwrap_or_else(|| format!("You picked {text}."))).ephemeral())
    }

    #[event("trivia.tick")]
    async fn ticked(&self, ctx: &Ctx, event: &Event) -> Result<()> {
        let tick: Tick = event.data()?;
        let games = Games::new(ctx.db().clone());
        if self.interrupted(ctx, &games, &tick.game, tick.due_ms).await? {
            return Ok(());
        }
        let Some(game) = games.get(&channel_of(ctx)?).await?.filter(|g| g.game == tick.game && g.round == tick.round)
        else {
            return Ok(()); // a timer of a question already over
        };
        let hints = i64::from(self.config.hints);
        if tick.step < hints {
            self.after(
                ctx,
                self.config.hint_interval,
                "trivia.tick",
                &self.tick(&game.game, game.round, tick.step + 1),
            )
            .await?;
            if games.give_hint(&game.game, game.round, tick.step).await? {
                let mask = hints::mask(
                    game.question.shown_answer(),
                    tick.step as u32 + 1,
                    self.config.hints,
                    seed(&game.game, game.round),
                );
                ctx.say(&game.channel, format!("Hint {}/{hints}: {mask}", tick.step + 1)).await?;
            }
        } else {
            self.after(ctx, self.config.pause, "trivia.next", &self.next(&game.game, game.round)).await?;
            if games.close_unanswered(&game.game, game.round, Some(tick.step)).await? {
                ctx.say(&game.channel, format!("Time's up! The answer was {}.", game.question.shown_answer())).await?;
            }
        }
        Ok(())
    }

    #[event("trivia.settle")]
    async fn settled(&self, ctx: &Ctx, event: &Event) -> Result<()> {
        let settle: Settle = event.data()?;
        let games = Games::new(ctx.db().clone());
        let channel = channel_of(ctx)?;
        let Some(game) = games.get(&channel).await?.filter(|g| g.game == settle.game && g.round == settle.round) else {
            return Ok(());
        };
        // The next question is due whatever happens below (set first, so it is never lost).
        self.after(ctx, self.config.pause, "trivia.next", &self.next(&game.game, game.round)).await?;
        let hints = self.config.hints;
        let points = move |given: i64, streak: i64| hints::points(given as u32, hints, streak as u32);
        if let Some(won) = games.settle(&game.game, game.round, points).await? {
            let streak = if won.streak > 1 { format!(", {} in a row", won.streak) } else { String::new() };
            let others = match won.others {
                0 => String::new(),
                1 => " (1 other was right, a moment later)".to_string(),
                n => format!(" ({n} others were right, a moment later)"),
            };
            ctx.say(&channel, format!("{} got it: {} (+{} points{streak}){others}", won.name, won.answer, won.points))
                .await?;
        }
        Ok(())
    }

    #[event("trivia.next")]
    async fn next_question(&self, ctx: &Ctx, event: &Event) -> Result<()> {
        let next: Next = event.data()?;
        let games = Games::new(ctx.db().clone());
        if self.interrupted(ctx, &games, &next.game, next.due_ms).await? {
            return Ok(());
        }
        let channel = channel_of(ctx)?;
        let Some(game) =
            games.get(&channel).await?.filter(|g| g.game == next.game && g.round == next.round && g.phase == BETWEEN)
        else {
            return Ok(());
        };
        let question = if game.round < game.rounds {
            self.pick_question(&games, &game.category, &game.asked).await?
        } else {
            None
        };
        let Some((id, question)) = question else {
            if let Some(board) = games.end(&game.game).await? {
                ctx.say(&channel, format!("Trivia over! Final scores:\n{}", scoreboard(&board))).await?;
            }
            return Ok(());
        };
        self.after(ctx, self.config.hint_interval, "trivia.tick", &self.tick(&game.game, game.round + 1, 0)).await?;
        if games.advance(&game.game, game.round, (&id, &question), &game.asked).await? {
            ctx.say(&channel, question_reply(&game.game, game.round + 1, game.rounds, &question)).await?;
        }
        Ok(())
    }
}
