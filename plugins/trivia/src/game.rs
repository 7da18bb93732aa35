//! A game's state in the plugin's own tables, and every change to it as one conditional update:
//! each worker may handle any answer or timer, and the database decides (who won a question,
//! which hint is next, whether the game is still on), never a worker's memory.

use crate::questions::Question;
use regis::sqlx::{self, Row};
use regis::Db;

/// The plugin's tables (its migration 1); portable SQL, for SQLite and PostgreSQL alike.
pub const SCHEMA_V1: &str = "CREATE TABLE trivia_games (
            channel TEXT PRIMARY KEY NOT NULL,
            game TEXT NOT NULL,
            source TEXT NOT NULL,
            guild TEXT NOT NULL,
            starter TEXT NOT NULL,
            category TEXT NOT NULL,
            rounds BIGINT NOT NULL,
            round BIGINT NOT NULL,
            phase TEXT NOT NULL,
            question TEXT NOT NULL,
            asked TEXT NOT NULL,
            hints BIGINT NOT NULL,
            asked_ms BIGINT NOT NULL,
            winner_key TEXT,
            winner_name TEXT,
            winner_ms BIGINT,
            right_count BIGINT NOT NULL,
            streak_key TEXT,
            streak BIGINT NOT NULL
        );
        CREATE TABLE trivia_game_scores (
            game TEXT NOT NULL,
            user_key TEXT NOT NULL,
            name TEXT NOT NULL,
            points BIGINT NOT NULL,
            PRIMARY KEY (game, user_key)
        );
        CREATE TABLE trivia_scores (
            scope TEXT NOT NULL,
            scope_id TEXT NOT NULL,
            user_key TEXT NOT NULL,
            name TEXT NOT NULL,
            points BIGINT NOT NULL,
            wins BIGINT NOT NULL,
            PRIMARY KEY (scope, scope_id, user_key)
        );
        CREATE TABLE trivia_players (
            user_key TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            wins BIGINT NOT NULL,
            points BIGINT NOT NULL,
            best_streak BIGINT NOT NULL,
            fastest_ms BIGINT NOT NULL
        );
        CREATE TABLE trivia_questions (
            id TEXT PRIMARY KEY NOT NULL,
            set_name TEXT NOT NULL,
            category TEXT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX trivia_questions_category ON trivia_questions (category);
        CREATE TABLE trivia_picks (
            game TEXT NOT NULL,
            round BIGINT NOT NULL,
            user_key TEXT NOT NULL,
            PRIMARY KEY (game, round, user_key)
        )";

/// A question is being asked.
pub const ASKING: &str = "asking";
/// A question was answered, skipped or timed out; the next one (or the end) is due.
pub const BETWEEN: &str = "between";

/// One channel's game, as stored.
#[derive(Clone, Debug)]
pub struct Game {
    /// The channel.
    pub channel: String,
    /// This game's id (timers of an earlier game in the channel carry another).
    pub game: String,
    /// The starter's identity key.
    pub starter: String,
    /// The guild, or empty.
    pub guild: String,
    /// The category asked from, or empty for all.
    pub category: String,
    /// How many questions in all.
    pub rounds: i64,
    /// The question number (1-based).
    pub round: i64,
    /// [`ASKING`] or [`BETWEEN`].
    pub phase: String,
    /// The question now (or last) asked.
    pub question: Question,
    /// The ids of the questions asked so far.
    pub asked: Vec<String>,
    /// Hints given for this question.
    pub hints: i64,
    /// The leading answer so far: identity key, name, message time.
    pub winner: Option<(String, String, i64)>,
    /// How many correct answers came for this question.
    pub right_count: i64,
    /// The current streak holder's key and length.
    pub streak: (Option<String>, i64),
}

fn game_from(row: &sqlx::any::AnyRow) -> Result<Game, regis::Error> {
    let question: String = row.try_get("question")?;
    let asked: String = row.try_get("asked")?;
    let winner_key: Option<String> = row.try_get("winner_key")?;
    let winner_name: Option<String> = row.try_get("winner_name")?;
    let winner_ms: Option<i64> = row.try_get("winner_ms")?;
    Ok(Game {
        channel: row.try_get("channel")?,
        game: row.try_get("game")?,
        starter: row.try_get("starter")?,
        guild: row.try_get("guild")?,
        category: row.try_get("category")?,
        rounds: row.try_get("rounds")?,
        round: row.try_get("round")?,
        phase: row.try_get("phase")?,
        question: serde_json::from_str(&question)?,
        asked: serde_json::from_str(&asked)?,
        hints: row.try_get("hints")?,
        winner: match (winner_key, winner_name, winner_ms) {
            (Some(k), Some(n), Some(t)) => Some((k, n, t)),
            _ => None,
        },
        right_count: row.try_get("right_count")?,
        streak: (row.try_get("streak_key")?, row.try_get("streak")?),
    })
}

/// A game to start.
pub struct NewGame<'a> {
    /// Its id.
    pub game: &'a str,
    /// The channel.
    pub channel: &'a str,
    /// The connector.
    pub source: &'a str,
    /// The guild, or empty.
    pub guild: &'a str,
    /// The starter's identity key.
    pub starter: &'a str,
    /// The category, or empty.
    pub category: &'a str,
    /// How many questions.
    pub rounds: i64,
    /// The first question and its id.
    pub first: (&'a str, &'a Question),
}

/// How an answer fared.
#[derive(Debug, PartialEq, Eq)]
pub enum Answered {
    /// The first correct answer so far (its message is the earliest seen): the settle timer is
    /// to be set.
    First,
    /// Earlier than the one leading so far: it now leads.
    Overtook,
    /// Correct, but another answer was earlier.
    Later,
    /// The question was already settled.
    Taken,
}

/// The games of one bot.
#[derive(Clone)]
pub struct Games {
    db: Db,
}

impl Games {
    /// Over the plugin's database.
    pub fn new(db: Db) -> Self {
        Games { db }
    }

    /// The channel's game, if one runs.
    pub async fn get(&self, channel: &str) -> Result<Option<Game>, regis::Error> {
        let row = sqlx::query("SELECT * FROM trivia_games WHERE channel = $1")
            .bind(channel)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(game_from).transpose()
    }

    /// Starts a game; false when the channel already has one.
    pub async fn start(&self, new: &NewGame<'_>) -> Result<bool, regis::Error> {
        let (id, question) = new.first;
        let done = sqlx::query(
            "INSERT INTO trivia_games (channel, game, source, guild, starter, category, rounds, round, phase, question, asked, hints, asked_ms, right_count, streak)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, 0, $11, 0, 0)
             ON CONFLICT (channel) DO NOTHING",
        )
        .bind(new.channel)
        .bind(new.game)
        .bind(new.source)
        .bind(new.guild)
        .bind(new.starter)
        .bind(new.category)
        .bind(new.rounds)
        .bind(ASKING)
        .bind(serde_json::to_string(question)?)
        .bind(serde_json::to_string(&[id])?)
        .bind(now_ms())
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a correct answer by `user` at message time `at_ms` to question `round` of
    /// `game`: the earliest by message time leads until the question is settled.
    pub async fn answer(
        &self,
        game: &str,
        round: i64,
        user: (&str, &str),
        at_ms: i64,
    ) -> Result<Answered, regis::Error> {
        let (key, name) = user;
        let first = sqlx::query(
            "UPDATE trivia_games SET winner_key = $1, winner_name = $2, winner_ms = $3, right_count = right_count + 1
             WHERE game = $4 AND round = $5 AND phase = $6 AND winner_key IS NULL",
        )
        .bind(key)
        .bind(name)
        .bind(at_ms)
        .bind(game)
        .bind(round)
        .bind(ASKING)
        .execute(self.db.pool())
        .await?;
        if first.rows_affected() == 1 {
            return Ok(Answered::First);
        }
        let overtook = sqlx::query(
            "UPDATE trivia_games SET winner_key = $1, winner_name = $2, winner_ms = $3, right_count = right_count + 1
             WHERE game = $4 AND round = $5 AND phase = $6 AND winner_key <> $1
               AND (winner_ms > $3 OR (winner_ms = $3 AND winner_key > $1))",
        )
        .bind(key)
        .bind(name)
        .bind(at_ms)
        .bind(game)
        .bind(round)
        .bind(ASKING)
        .execute(self.db.pool())
        .await?;
        if overtook.rows_affected() == 1 {
            return Ok(Answered::Overtook);
        }
        let counted = sqlx::query(
            "UPDATE trivia_games SET right_count = right_count + 1 WHERE game = $1 AND round = $2 AND phase = $3",
        )
        .bind(game)
        .bind(round)
        .bind(ASKING)
        .execute(self.db.pool())
        .await?;
        Ok(if counted.rows_affected() == 1 { Answered::Later } else { Answered::Taken })
    }

    /// Settles question `round`: the leading answer wins, its points are added to the game's
    /// scoreboard, the channel's, the server's and the global one, and to the player's record.
    /// Returns the winner and the points, or `None` if it was settled already (or nobody was
    /// right).
    pub async fn settle(
        &self,
        game: &str,
        round: i64,
        points_for: impl Fn(i64, i64) -> i64,
    ) -> Result<Option<Won>, regis::Error> {
        let mut tx = self.db.pool().begin().await?;
        let moved = sqlx::query(
            "UPDATE trivia_games SET phase = $1,
                streak = CASE WHEN streak_key = winner_key THEN streak + 1 ELSE 1 END,
                streak_key = winner_key
             WHERE game = $2 AND round = $3 AND phase = $4 AND winner_key IS NOT NULL",
        )
        .bind(BETWEEN)
        .bind(game)
        .bind(round)
        .bind(ASKING)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT * FROM trivia_games WHERE game = $1").bind(game).fetch_one(&mut *tx).await?;
        let state = game_from(&row)?;
        let Some((key, name, at_ms)) = state.winner.clone() else { return Ok(None) };
        let points = points_for(state.hints, state.streak.1);
        sqlx::query(
            "INSERT INTO trivia_game_scores (game, user_key, name, points) VALUES ($1, $2, $3, $4)
             ON CONFLICT (game, user_key) DO UPDATE SET points = trivia_game_scores.points + excluded.points, name = excluded.name",
        )
        .bind(game)
        .bind(&key)
        .bind(&name)
        .bind(points)
        .execute(&mut *tx)
        .await?;
        let mut scopes = vec![("channel", state.channel.clone()), ("all", String::new())];
        if !state.guild.is_empty() {
            scopes.push(("server", state.guild.clone()));
        }
        for (scope, scope_id) in scopes {
            sqlx::query(
                "INSERT INTO trivia_scores (scope, scope_id, user_key, name, points, wins) VALUES ($1, $2, $3, $4, $5, 1)
                 ON CONFLICT (scope, scope_id, user_key) DO UPDATE SET points = trivia_scores.points + excluded.points,
                    wins = trivia_scores.wins + 1, name = excluded.name",
            )
            .bind(scope)
            .bind(scope_id)
            .bind(&key)
            .bind(&name)
            .bind(points)
            .execute(&mut *tx)
            .await?;
        }
        let took_ms = (at_ms - row.try_get::<i64, _>("asked_ms")?).max(0);
        sqlx::query(
            "INSERT INTO trivia_players (user_key, name, wins, points, best_streak, fastest_ms) VALUES ($1, $2, 1, $3, $4, $5)
             ON CONFLICT (user_key) DO UPDATE SET wins = trivia_players.wins + 1, points = trivia_players.points + excluded.points,
                name = excluded.name,
                best_streak = CASE WHEN excluded.best_streak > trivia_players.best_streak THEN excluded.best_streak ELSE trivia_players.best_streak END,
                fastest_ms = CASE WHEN excluded.fastest_ms < trivia_players.fastest_ms THEN excluded.fastest_ms ELSE trivia_players.fastest_ms END",
        )
        .bind(&key)
        .bind(&name)
        .bind(points)
        .bind(state.streak.1)
        .bind(took_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Won {
            name,
            points,
            streak: state.streak.1,
            others: state.right_count - 1,
            answer: state.question.shown_answer().to_string(),
        }))
    }

    /// Gives hint `step + 1` of question `round`, if no hint, answer or skip came first.
    pub async fn give_hint(&self, game: &str, round: i64, step: i64) -> Result<bool, regis::Error> {
        let done = sqlx::query(
            "UPDATE trivia_games SET hints = $1 WHERE game = $2 AND round = $3 AND phase = $4 AND hints = $5 AND winner_key IS NULL",
        )
        .bind(step + 1)
        .bind(game)
        .bind(round)
        .bind(ASKING)
        .bind(step)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends question `round` unanswered (time ran out after `hints` hints, or it was skipped
    /// with `hints` = `None`); the streak is broken. False when something else ended it first.
    pub async fn close_unanswered(&self, game: &str, round: i64, hints: Option<i64>) -> Result<bool, regis::Error> {
        let done = sqlx::query(
            "UPDATE trivia_games SET phase = $1, streak = 0, streak_key = NULL
             WHERE game = $2 AND round = $3 AND phase = $4 AND ($5 < 0 OR (hints = $5 AND winner_key IS NULL))",
        )
        .bind(BETWEEN)
        .bind(game)
        .bind(round)
        .bind(ASKING)
        .bind(hints.unwrap_or(-1))
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Asks the next question after `round`; false when it was asked already or the game ended.
    pub async fn advance(
        &self,
        game: &str,
        round: i64,
        next: (&str, &Question),
        asked: &[String],
    ) -> Result<bool, regis::Error> {
        let (id, question) = next;
        let mut asked = asked.to_vec();
        asked.push(id.to_string());
        let done = sqlx::query(
            "UPDATE trivia_games SET round = round + 1, phase = $1, question = $2, asked = $3, hints = 0, asked_ms = $4,
                winner_key = NULL, winner_name = NULL, winner_ms = NULL, right_count = 0
             WHERE game = $5 AND round = $6 AND phase = $7",
        )
        .bind(ASKING)
        .bind(serde_json::to_string(question)?)
        .bind(serde_json::to_string(&asked)?)
        .bind(now_ms())
        .bind(game)
        .bind(round)
        .bind(BETWEEN)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends the game: returns its final scoreboard (best first), or `None` if it had ended.
    pub async fn end(&self, game: &str) -> Result<Option<Vec<(String, i64)>>, regis::Error> {
        let mut tx = self.db.pool().begin().await?;
        let gone = sqlx::query("DELETE FROM trivia_games WHERE game = $1").bind(game).execute(&mut *tx).await?;
        if gone.rows_affected() == 0 {
            return Ok(None);
        }
        let rows =
            sqlx::query("SELECT name, points FROM trivia_game_scores WHERE game = $1 ORDER BY points DESC, name")
                .bind(game)
                .fetch_all(&mut *tx)
                .await?;
        let board =
            rows.iter().map(|r| Ok((r.try_get("name")?, r.try_get("points")?))).collect::<Result<_, sqlx::Error>>()?;
        sqlx::query("DELETE FROM trivia_game_scores WHERE game = $1").bind(game).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM trivia_picks WHERE game = $1").bind(game).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(board))
    }

    /// Records `user`'s pick for a multiple-choice question; false if they picked already.
    pub async fn pick(&self, game: &str, round: i64, user: &str) -> Result<bool, regis::Error> {
        let done = sqlx::query(
            "INSERT INTO trivia_picks (game, round, user_key) VALUES ($1, $2, $3) ON CONFLICT (game, round, user_key) DO NOTHING",
        )
        .bind(game)
        .bind(round)
        .bind(user)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The ten best of a leaderboard: `scope` `channel`, `server` or `all`.
    pub async fn top(&self, scope: &str, scope_id: &str) -> Result<Vec<(String, i64, i64)>, regis::Error> {
        let rows = sqlx::query(
            "SELECT name, points, wins FROM trivia_scores WHERE scope = $1 AND scope_id = $2 ORDER BY points DESC, name LIMIT 10",
        )
        .bind(scope)
        .bind(scope_id)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("points")?, r.try_get("wins")?)))
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// A player's record: wins, points, best streak, fastest answer (ms).
    pub async fn player(&self, key: &str) -> Result<Option<(i64, i64, i64, i64)>, regis::Error> {
        let row = sqlx::query("SELECT wins, points, best_streak, fastest_ms FROM trivia_players WHERE user_key = $1")
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(match row {
            Some(r) => {
                Some((r.try_get("wins")?, r.try_get("points")?, r.try_get("best_streak")?, r.try_get("fastest_ms")?))
            }
            None => None,
        })
    }

    /// Replaces each question set (name, questions) with its new questions, all in one
    /// transaction: all or nothing.
    pub async fn import(&self, sets: &[(String, Vec<Question>)]) -> Result<(), regis::Error> {
        let mut tx = self.db.pool().begin().await?;
        for (set, questions) in sets {
            sqlx::query("DELETE FROM trivia_questions WHERE set_name = $1").bind(set).execute(&mut *tx).await?;
            for (i, q) in questions.iter().enumerate() {
                sqlx::query("INSERT INTO trivia_questions (id, set_name, category, body) VALUES ($1, $2, $3, $4)")
                    .bind(format!("{set}:{}", i + 1))
                    .bind(set)
                    .bind(&q.category)
                    .bind(serde_json::to_string(q)?)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Imported questions by category, with counts.
    pub async fn imported_categories(&self) -> Result<Vec<(String, i64)>, regis::Error> {
        let rows =
            sqlx::query("SELECT category, COUNT(*) AS n FROM trivia_questions GROUP BY category ORDER BY category")
                .fetch_all(self.db.pool())
                .await?;
        Ok(rows.iter().map(|r| Ok((r.try_get("category")?, r.try_get("n")?))).collect::<Result<_, sqlx::Error>>()?)
    }

    /// The ids of the imported questions (of `category`, if not empty).
    pub async fn imported_ids(&self, category: &str) -> Result<Vec<String>, regis::Error> {
        let rows = sqlx::query("SELECT id FROM trivia_questions WHERE $1 = '' OR category = $1 ORDER BY id")
            .bind(category)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows.iter().map(|r| r.try_get("id")).collect::<Result<_, sqlx::Error>>()?)
    }

    /// An imported question.
    pub async fn imported(&self, id: &str) -> Result<Option<Question>, regis::Error> {
        let row = sqlx::query("SELECT body FROM trivia_questions WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        match row {
            Some(r) => Ok(Some(serde_json::from_str(&r.try_get::<String, _>("body")?)?)),
            None => Ok(None),
        }
    }
}

/// A settled question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Won {
    /// The winner's name.
    pub name: String,
    /// The points won.
    pub points: i64,
    /// The winner's streak now.
    pub streak: i64,
    /// How many others were right too, later.
    pub others: i64,
    /// The answer.
    pub answer: String,
}

fn now_ms() -> i64 {
    i64::try_from(regis::envelope::now_ms()).unwrap_or(i64::MAX)
}
