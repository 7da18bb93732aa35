//! Capability negotiation and SASL PLAIN, before registration completes (IRCv3 `CAP` and
//! `AUTHENTICATE`): `CAP LS 302` goes first; with a login configured the bot asks for `sasl`,
//! authenticates, and sends `CAP END` only after the server said `903`. Without one it ends the
//! negotiation at once. A refused login ends the connection attempt (it is retried with the
//! reconnect backoff) rather than going on unauthenticated.

use crate::config::Sasl;
use base64::Engine;
use irc_proto::{CapSubCommand as Cap, Command, Message, Response};

/// The longest `AUTHENTICATE` argument; longer payloads go in pieces of this size.
const CHUNK: usize = 400;

/// Where the negotiation is.
#[derive(Debug, PartialEq, Eq)]
enum State {
    /// `CAP LS` sent; capabilities coming (possibly over several lines).
    Listing,
    /// `CAP REQ :sasl` sent.
    Requested,
    /// `AUTHENTICATE PLAIN` sent, or the payload.
    Authenticating,
    /// `CAP END` sent (or the server knows no `CAP`).
    Finished,
}

/// The negotiation of one connection.
pub(crate) struct Login {
    sasl: Option<Sasl>,
    caps: Vec<String>,
    state: State,
}

impl Login {
    /// A negotiation logging in with `sasl`, if given.
    pub(crate) fn new(sasl: Option<Sasl>) -> Self {
        Login { sasl, caps: Vec::new(), state: State::Listing }
    }

    /// The first line to send, before `NICK` and `USER`.
    pub(crate) fn start(&self) -> &'static str {
        "CAP LS 302"
    }

    /// Whether the negotiation is over.
    pub(crate) fn finished(&self) -> bool {
        self.state == State::Finished
    }

    /// What to send in answer to `message` from the server; an error ends the connection.
    pub(crate) fn on_message(&mut self, message: &Message) -> Result<Vec<String>, String> {
        if self.finished() {
            return Ok(Vec::new());
        }
        match &message.command {
            // `CAP * LS * :caps`: more lines of capabilities follow.
            Command::CAP(_, Cap::LS, Some(more), Some(caps)) if more == "*" => {
                self.caps.extend(caps.split_whitespace().map(str::to_string));
                Ok(Vec::new())
            }
            Command::CAP(_, Cap::LS, Some(caps), None) => {
                self.caps.extend(caps.split_whitespace().map(str::to_string));
                self.listed()
            }
            Command::CAP(_, Cap::ACK, Some(caps), _) if self.state == State::Requested => {
                if caps.split_whitespace().any(|c| c == "sasl") {
                    self.state = State::Authenticating;
                    Ok(vec!["AUTHENTICATE PLAIN".into()])
                } else {
                    Err(format!("the server acknowledged `{caps}`, not sasl"))
                }
            }
            Command::CAP(_, Cap::NAK, ..) => Err("the server refused the sasl capability".into()),
            Command::AUTHENTICATE(data) if data == "+" && self.state == State::Authenticating => Ok(self.payload()),
            Command::Response(Response::RPL_SASLSUCCESS, _) => {
                self.state = State::Finished;
                Ok(vec!["CAP END".into()])
            }
            Command::Response(
                code @ (Response::ERR_NICKLOCKED
                | Response::ERR_SASLFAIL
                | Response::ERR_SASLTOOLONG
                | Response::ERR_SASLABORT
                | Response::RPL_SASLMECHS),
                params,
            ) => {
                let account = self.sasl.as_ref().map_or("", |s| s.account.as_str());
                let why = params.last().map_or("refused", String::as_str);
                Err(format!("SASL login as {account} failed ({}: {why})", *code as u16))
            }
            // A server without CAP: registration goes on without it.
            Command::Response(Response::ERR_UNKNOWNCOMMAND, params)
                if params.get(1).is_some_and(|c| c.eq_ignore_ascii_case("CAP")) =>
            {
                match &self.sasl {
                    Some(_) => Err("the server knows no CAP, so no SASL login; not connecting without it".into()),
                    None => {
                        self.state = State::Finished;
                        Ok(Vec::new())
                    }
                }
            }
            Command::Response(Response::RPL_WELCOME, _) => {
                self.state = State::Finished;
                Ok(Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The capabilities are all listed: ask for sasl, or end.
    fn listed(&mut self) -> Result<Vec<String>, String> {
        if self.sasl.is_none() {
            self.state = State::Finished;
            return Ok(vec!["CAP END".into()]);
        }
        let sasl = self.caps.iter().find(|c| *c == "sasl" || c.starts_with("sasl="));
        match sasl.map(|c| c.split_once('=').map(|(_, mechs)| mechs)) {
            None => Err("the server offers no SASL (its services may be down); not connecting without it".into()),
            Some(Some(mechs)) if !mechs.split(',').any(|m| m.eq_ignore_ascii_case("PLAIN")) => {
                Err(format!("the server's SASL offers {mechs}, not PLAIN"))
            }
            Some(_) => {
                self.state = State::Requested;
                Ok(vec!["CAP REQ :sasl".into()])
            }
        }
    }

    /// `AUTHENTICATE` lines carrying `account\0account\0password` in base64, in pieces.
    fn payload(&self) -> Vec<String> {
        let Some(sasl) = &self.sasl else { return vec!["AUTHENTICATE *".into()] };
        let plain = format!("{0}\0{0}\0{1}", sasl.account, sasl.password);
        let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
        let mut lines: Vec<String> =
            encoded.as_bytes().chunks(CHUNK).map(|c| format!("AUTHENTICATE {}", String::from_utf8_lossy(c))).collect();
        if encoded.len() % CHUNK == 0 {
            lines.push("AUTHENTICATE +".into()); // an empty last piece
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `login`'s answer to one protocol line.
    fn on_line(login: &mut Login, line: &str) -> Result<Vec<String>, String> {
        login.on_message(&line.parse::<Message>().expect("a protocol line"))
    }

    fn sasl() -> Option<Sasl> {
        Some(Sasl { account: "regisbot".into(), password: "s3cret-pass".into() })
    }

    #[test]
    fn a_login_asks_for_sasl_and_ends_after_903() {
        let mut login = Login::new(sasl());
        assert!(on_line(&mut login, ":irc.test CAP * LS * :away-notify multi-prefix").unwrap().is_empty());
        assert_eq!(on_line(&mut login, ":irc.test CAP * LS :sasl=EXTERNAL,PLAIN").unwrap(), ["CAP REQ :sasl"]);
        assert_eq!(on_line(&mut login, ":irc.test CAP * ACK :sasl").unwrap(), ["AUTHENTICATE PLAIN"]);
        assert_eq!(
            on_line(&mut login, "AUTHENTICATE :+").unwrap(),
            ["AUTHENTICATE cmVnaXNib3QAcmVnaXNib3QAczNjcmV0LXBhc3M="]
        );
        assert!(!login.finished());
        assert_eq!(on_line(&mut login, ":irc.test 903 * :SASL authentication successful").unwrap(), ["CAP END"]);
        assert!(login.finished());
    }

    #[test]
    fn without_a_login_the_negotiation_ends_at_once() {
        let mut login = Login::new(None);
        assert_eq!(on_line(&mut login, ":irc.test CAP * LS :sasl multi-prefix").unwrap(), ["CAP END"]);
        let mut old = Login::new(None);
        assert!(on_line(&mut old, ":old.server 421 * CAP :Unknown command").unwrap().is_empty());
        assert!(old.finished());
    }

    #[test]
    fn a_refusal_or_a_server_without_sasl_ends_the_connection() {
        let mut login = Login::new(sasl());
        on_line(&mut login, ":irc.test CAP * LS :sasl").unwrap();
        on_line(&mut login, ":irc.test CAP * ACK :sasl").unwrap();
        on_line(&mut login, "AUTHENTICATE +").unwrap();
        let refused = on_line(&mut login, ":irc.test 904 * :SASL authentication failed").unwrap_err();
        assert_eq!(refused, "SASL login as regisbot failed (904: SASL authentication failed)");
        assert!(!refused.contains("s3cret"));
        let mut none = Login::new(sasl());
        assert!(on_line(&mut none, ":irc.test CAP * LS :multi-prefix").unwrap_err().contains("offers no SASL"));
        let mut external = Login::new(sasl());
        assert!(on_line(&mut external, ":irc.test CAP * LS :sasl=EXTERNAL").unwrap_err().contains("not PLAIN"));
        let mut old = Login::new(sasl());
        assert!(on_line(&mut old, ":old 421 * CAP :Unknown command").is_err());
    }

    #[test]
    fn a_long_payload_goes_in_pieces_of_400() {
        let login = Login::new(Some(Sasl { account: "a".repeat(150), password: "p".repeat(148) }));
        // 150 + 1 + 150 + 1 + 148 = 450 bytes: 600 base64 characters, a piece of 400 and one of 200.
        let lines = login.payload();
        assert_eq!(lines.iter().map(|l| l.len() - "AUTHENTICATE ".len()).collect::<Vec<_>>(), [400, 200]);
        let exact = Login::new(Some(Sasl { account: "a".repeat(99), password: "p".repeat(98) }));
        // 99 + 1 + 99 + 1 + 98 = 298 bytes... 400 characters exactly: then an empty piece.
        assert_eq!(exact.payload().last().map(String::as_str), Some("AUTHENTICATE +"));
    }
}
