//! Outgoing text made fit for IRC: control characters removed, one message per line, each
//! line split to fit the 512-byte limit of a whole protocol line (never inside a UTF-8
//! character, at a space where there is one).

/// The longest protocol line, `\r\n` included (RFC 1459/2812).
pub const MAX_LINE: usize = 512;
/// The longest user name and host a server may put in front of our messages when it relays
/// them (`:nick!user@host `): the user we register (`regis`) padded to the usual ident
/// limit, and the longest host name.
const MAX_USER: usize = 10;
const MAX_HOST: usize = 63;

/// How many bytes of text fit in one `PRIVMSG target :text` from `nick`, counting what the
/// server adds in front when it relays it.
pub fn payload_limit(nick: &str, target: &str) -> usize {
    let relayed_prefix = 1 + nick.len() + 1 + MAX_USER + 1 + MAX_HOST + 1;
    let command = "PRIVMSG ".len() + target.len() + " :".len() + "\r\n".len();
    MAX_LINE.saturating_sub(relayed_prefix + command).max(16)
}

/// `text` without control characters (tabs become spaces; line breaks stay, as separators).
pub fn clean(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\n' => Some('\n'),
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// The lines to send for `text`, each at most `limit` bytes: one per line of the text (empty
/// ones dropped), long ones split at the last space that fits, else at the last character
/// boundary that fits.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in clean(text).split('\n') {
        let mut rest = line.trim_end();
        while rest.len() > limit {
            let mut cut = limit;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            // A space in the second half of the piece: split there, dropping it.
            let (piece, next) = match rest[..cut].rfind(' ').filter(|&at| at >= cut / 2) {
                Some(space) => (&rest[..space], &rest[space + 1..]),
                None => rest.split_at(cut),
            };
            if !piece.is_empty() {
                out.push(piece.to_string());
            }
            rest = next;
        }
        if !rest.trim().is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_splits_within_the_limit_at_spaces_and_reassembles() {
        let words: Vec<String> = (0..600).map(|i| format!("w{i}")).collect();
        let text = words.join(" ");
        let lines = split(&text, 100);
        assert!(lines.iter().all(|l| l.len() <= 100), "{lines:?}");
        assert!(lines.iter().all(|l| !l.starts_with(' ') && !l.ends_with(' ')));
        assert_eq!(lines.join(" "), text, "split at spaces only");
    }

    #[test]
    fn multibyte_characters_are_never_cut() {
        let text = "🦀日本語".repeat(200); // 4 + 3 + 3 + 3 bytes, no spaces
        let lines = split(&text, 101);
        assert!(lines.iter().all(|l| l.len() <= 101));
        assert_eq!(lines.concat(), text, "every character intact");
    }

    #[test]
    fn lines_become_messages_and_control_characters_go() {
        assert_eq!(split("one\n\ntwo\r\x07 three\tfour", 50), ["one", "two three four"]);
        assert_eq!(split("   \n", 50), Vec::<String>::new());
    }

    #[test]
    fn the_payload_leaves_room_for_what_the_server_adds() {
        let limit = payload_limit("Regis", "#regis");
        let relayed = format!(":Regis!{}@{} PRIVMSG #regis :{}\r\n", "u".repeat(10), "h".repeat(63), "x".repeat(limit));
        assert_eq!(relayed.len(), MAX_LINE);
    }
}
