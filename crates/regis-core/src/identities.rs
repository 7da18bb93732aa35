//! Linked identities: one person on several services (`!link`, `!unlink`).
//!
//! An identity is `connector:id` (`irc:ann`, `discord:80351110224678912`). Linking ties one
//! identity to another, the *person*: from then on the dispatcher gives the linked identity's
//! author the person's key ([`UserRef::key`]), so ranks, bans, cooldowns and plugin data are
//! the person's wherever they write from. The links live in the core's database (shared by
//! every worker when it is PostgreSQL); each process holds all of them in memory (read at
//! start), and a change is announced on the change feed so that every process reads it again
//! at once.
//!
//! A link is made with a one-time code: `!link` on one service gives the person a code in
//! private, `!link <code>` on the other service links the identity that runs it. Codes expire
//! after [`CODE_TTL`] and are taken by a conditional delete, so only one redemption wins.

use crate::core_tables::to_db;
use crate::envelope::{now_ms, UserRef};
use crate::shared::{Change, ChangeFeed};
use crate::storage::{Db, StorageError};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a link code may be used.
pub const CODE_TTL: Duration = Duration::from_secs(600);
/// The characters of a code: no 0/O or 1/I/L to confuse.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// How many characters a code has (31^10: about 2^49 codes).
const CODE_LENGTH: usize = 10;

/// Why a link or unlink was refused.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No unused, unexpired code like this.
    #[error("that code is unknown, used or expired; run `link` again on the other service for a new one")]
    UnknownCode,
    /// The code was issued by this same identity.
    #[error("that code is your own: run `link <code>` on the other service")]
    OwnCode,
    /// The identity redeeming is already linked elsewhere.
    #[error("{identity} is already linked to {person}; `unlink` first")]
    AlreadyLinked {
        /// The identity.
        identity: String,
        /// Its person.
        person: String,
    },
    /// Other identities are linked to the one redeeming.
    #[error("{count} other identit{} linked to you; `unlink` first", if *.count == 1 { "y is" } else { "ies are" })]
    HasLinks {
        /// How many.
        count: usize,
    },
    /// The link would give the identity a higher rank than its own, and no owner is in it.
    #[error("linking would raise {identity} from rank {from} to {to}: an owner must issue or redeem the code")]
    NeedsOwner {
        /// The identity.
        identity: String,
        /// Its rank now.
        from: crate::rank::Rank,
        /// The person's rank.
        to: crate::rank::Rank,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A code taken for redemption: whose it is, and whether an owner issued it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Redeemed {
    /// The person to link to.
    pub person: String,
    /// The identity that issued it.
    pub issuer: String,
    /// Whether the issuer had owner rank.
    pub by_owner: bool,
}

/// The links of one bot: every link held in memory (the table is one row per linked identity,
/// and it changes rarely), so that resolving an author costs no query; a change anywhere is
/// read again from the database when the change feed announces it.
pub(crate) struct Identities {
    db: Db,
    changes: Arc<dyn ChangeFeed>,
    /// identity → its person.
    links: Mutex<HashMap<String, String>>,
}

impl Identities {
    pub(crate) fn new(db: Db, changes: Arc<dyn ChangeFeed>) -> Self {
        Identities { db, changes, links: Mutex::default() }
    }

    /// Reads every link (at start, and after changes were missed).
    pub(crate) async fn load(&self) -> Result<(), StorageError> {
        let rows = sqlx::query("SELECT identity, person FROM regis_links").fetch_all(self.db.pool()).await?;
        let mut links = HashMap::with_capacity(rows.len());
        for row in rows {
            links.insert(row.try_get("identity")?, row.try_get("person")?);
        }
        *crate::ranks::lock(&self.links) = links;
        Ok(())
    }

    /// The person `identity` is linked to as the database says now (for the decisions of
    /// `link` and `unlink`, which must not rest on a copy another worker may have changed).
    pub(crate) async fn stored(&self, identity: &str) -> Result<Option<String>, StorageError> {
        Ok(sqlx::query("SELECT person FROM regis_links WHERE identity = $1")
            .bind(identity)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| row.try_get("person"))
            .transpose()?)
    }

    /// Reads the link of `identity` again, after another process changed it.
    pub(crate) async fn reload(&self, identity: &str) -> Result<(), StorageError> {
        let person = self.stored(identity).await?;
        let mut links = crate::ranks::lock(&self.links);
        match person {
            Some(person) => links.insert(identity.to_string(), person),
            None => links.remove(identity),
        };
        Ok(())
    }

    /// The person `identity` is linked to, if any.
    pub(crate) fn person_of(&self, identity: &str) -> Option<String> {
        crate::ranks::lock(&self.links).get(identity).cloned()
    }

    /// `user` with its person set (or cleared when it is not linked).
    pub(crate) fn resolve(&self, user: &UserRef) -> UserRef {
        UserRef { person: self.person_of(&user.identity()), ..user.clone() }
    }

    /// The identities linked to `person`, in name order.
    pub(crate) async fn members(&self, person: &str) -> Result<Vec<String>, StorageError> {
        let rows = sqlx::query("SELECT identity FROM regis_links WHERE person = $1 ORDER BY identity")
            .bind(person)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows.iter().map(|row| row.try_get("identity")).collect::<Result<_, _>>()?)
    }

    /// A new one-time code for `person`, issued by `issuer` (with owner rank or not).
    pub(crate) async fn issue(&self, person: &str, issuer: &str, by_owner: bool) -> Result<String, StorageError> {
        let now = now_ms();
        // Expired codes go as new ones are made.
        sqlx::query("DELETE FROM regis_link_codes WHERE expires_ms <= $1")
            .bind(to_db(now))
            .execute(self.db.pool())
            .await?;
        let code = new_code()?;
        sqlx::query(
            "INSERT INTO regis_link_codes (code, person, issuer, by_owner, expires_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&code)
        .bind(person)
        .bind(issuer)
        .bind(i64::from(by_owner))
        .bind(to_db(now.saturating_add(CODE_TTL.as_millis() as u64)))
        .execute(self.db.pool())
        .await?;
        Ok(code)
    }

    /// Takes `code` if it is unused and unexpired: one redemption wins, on any worker.
    pub(crate) async fn redeem(&self, code: &str) -> Result<Option<Redeemed>, StorageError> {
        let code = code.trim().to_ascii_uppercase();
        let row = sqlx::query(
            "DELETE FROM regis_link_codes WHERE code = $1 AND expires_ms > $2 RETURNING person, issuer, by_owner",
        )
        .bind(&code)
        .bind(to_db(now_ms()))
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Redeemed {
            person: row.try_get("person")?,
            issuer: row.try_get("issuer")?,
            by_owner: row.try_get::<i64, _>("by_owner")? != 0,
        }))
    }

    /// Links `identity` to `person` (checked by the caller).
    pub(crate) async fn link(&self, identity: &str, person: &str) -> Result<(), StorageError> {
        sqlx::query("INSERT INTO regis_links (identity, person, linked_ms) VALUES ($1, $2, $3)")
            .bind(identity)
            .bind(person)
            .bind(to_db(now_ms()))
            .execute(self.db.pool())
            .await?;
        crate::ranks::lock(&self.links).insert(identity.to_string(), person.to_string());
        self.announce(identity).await;
        Ok(())
    }

    /// Undoes the link of `identity`; when it is a person, releases every identity linked to
    /// it. The identities released, in name order.
    pub(crate) async fn unlink(&self, identity: &str) -> Result<Vec<String>, StorageError> {
        let released = match self.stored(identity).await? {
            Some(_) => {
                sqlx::query("DELETE FROM regis_links WHERE identity = $1")
                    .bind(identity)
                    .execute(self.db.pool())
                    .await?;
                vec![identity.to_string()]
            }
            None => {
                let members = self.members(identity).await?;
                sqlx::query("DELETE FROM regis_links WHERE person = $1").bind(identity).execute(self.db.pool()).await?;
                members
            }
        };
        for identity in &released {
            crate::ranks::lock(&self.links).remove(identity);
            self.announce(identity).await;
        }
        Ok(released)
    }

    /// Tells every other process that the link of `identity` changed.
    async fn announce(&self, identity: &str) {
        if let Err(e) = self.changes.announce(Change::Link { identity: identity.to_string() }).await {
            tracing::warn!(identity, error = %e, "the link was stored, but other processes were not told");
        }
    }
}

/// A random code from the operating system's generator.
fn new_code() -> Result<String, StorageError> {
    let mut bytes = [0u8; CODE_LENGTH];
    getrandom::fill(&mut bytes).map_err(|e| StorageError::Io {
        path: "link code".into(),
        source: std::io::Error::other(format!("no randomness for a link code: {e}")),
    })?;
    Ok(bytes.iter().map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::InProcessChanges;

    async fn identities() -> Identities {
        Identities::new(crate::core_tables::test_db().await, Arc::new(InProcessChanges::default()))
    }

    #[tokio::test]
    async fn a_code_links_once_and_unlinking_undoes_it() {
        let ids = identities().await;
        let code = ids.issue("discord:1", "discord:1", false).await.unwrap();
        assert_eq!(code.len(), CODE_LENGTH);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        let taken = ids.redeem(&code.to_lowercase()).await.unwrap().expect("the code is good once");
        assert_eq!(taken, Redeemed { person: "discord:1".into(), issuer: "discord:1".into(), by_owner: false });
        assert_eq!(ids.redeem(&code).await.unwrap(), None, "single use");
        assert_eq!(ids.person_of("irc:ann"), None);
        ids.link("irc:ann", "discord:1").await.unwrap();
        assert_eq!(ids.person_of("irc:ann").as_deref(), Some("discord:1"));
        let ann = ids.resolve(&UserRef::new("irc", "ann"));
        assert_eq!((ann.key(), ann.identity()), ("discord:1".to_string(), "irc:ann".to_string()));
        ids.link("console:ann", "discord:1").await.unwrap();
        assert_eq!(ids.members("discord:1").await.unwrap(), ["console:ann", "irc:ann"]);
        assert_eq!(ids.unlink("irc:ann").await.unwrap(), ["irc:ann"]);
        assert_eq!(ids.person_of("irc:ann"), None);
        assert_eq!(ids.unlink("discord:1").await.unwrap(), ["console:ann"], "a person releases everyone");
        assert!(ids.members("discord:1").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn unlinking_decides_from_the_database_not_from_a_stale_copy() {
        let ids = identities().await;
        let other = Identities::new(ids.db.clone(), Arc::new(InProcessChanges::default()));
        other.link("irc:ann", "discord:1").await.unwrap();
        assert_eq!(ids.person_of("irc:ann"), None, "this process was not told yet");
        assert_eq!(ids.unlink("irc:ann").await.unwrap(), ["irc:ann"]);
        assert_eq!(other.stored("irc:ann").await.unwrap(), None);
    }

    #[tokio::test]
    async fn another_process_s_link_is_seen_after_a_reload() {
        let ids = identities().await;
        let other = Identities::new(ids.db.clone(), Arc::new(InProcessChanges::default()));
        other.link("irc:ann", "discord:1").await.unwrap();
        assert_eq!(ids.person_of("irc:ann"), None, "not told yet");
        ids.reload("irc:ann").await.unwrap();
        assert_eq!(ids.person_of("irc:ann").as_deref(), Some("discord:1"));
        other.unlink("irc:ann").await.unwrap();
        ids.load().await.unwrap();
        assert_eq!(ids.person_of("irc:ann"), None);
    }

    #[tokio::test]
    async fn an_expired_code_is_refused() {
        let ids = identities().await;
        let code = ids.issue("discord:1", "discord:1", true).await.unwrap();
        sqlx::query("UPDATE regis_link_codes SET expires_ms = $1")
            .bind(to_db(now_ms()))
            .execute(ids.db.pool())
            .await
            .unwrap();
        assert_eq!(ids.redeem(&code).await.unwrap(), None);
        assert_eq!(ids.redeem("NOT-A-CODE").await.unwrap(), None);
    }

    #[tokio::test]
    async fn codes_differ() {
        let ids = identities().await;
        let a = ids.issue("p", "p", false).await.unwrap();
        let b = ids.issue("p", "p", false).await.unwrap();
        assert_ne!(a, b);
    }
}
