//! Message tokens: a short ASCII tag appended to every sent message text so
//! that each receiver can tell who sent it, in which order, and when —
//! the basis of end-to-end latency, loss and duplicate counts.
//!
//! Format: ` [rl:<run>:<sender>:<seq>:<sent_unix_us>]`, decimal numbers.

use std::fmt::Write as _;

const OPEN: &str = "[rl:";
/// Longest possible token body after `[rl:`: u32:u32:u64:u64] in decimal.
const MAX_BODY: usize = 10 + 1 + 10 + 1 + 20 + 1 + 20 + 1;

/// Identity and send time of one sent message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageToken {
    pub run: u32,
    pub sender: u32,
    pub seq: u64,
    pub sent_unix_us: u64,
}

impl MessageToken {
    /// Appends ` [rl:run:sender:seq:us]` to `text`.
    pub fn append_to(&self, text: &mut String) {
        // Writing into a String cannot fail.
        let _ = write!(
            text,
            " {OPEN}{}:{}:{}:{}]",
            self.run, self.sender, self.seq, self.sent_unix_us
        );
    }

    /// The last well-formed token in `text`, if any. Any input is safe:
    /// malformed candidates are skipped and the work is linear in the text.
    pub fn find(text: &str) -> Option<MessageToken> {
        text.rmatch_indices(OPEN)
            .find_map(|(at, _)| parse_body(&text.as_bytes()[at + OPEN.len()..]))
    }
}

/// Parses `run:sender:seq:us]` at the start of `b` (bounded look-ahead).
fn parse_body(b: &[u8]) -> Option<MessageToken> {
    let b = &b[..b.len().min(MAX_BODY)];
    let mut fields = [0u64; 4];
    let mut pos = 0;
    for (i, slot) in fields.iter_mut().enumerate() {
        let start = pos;
        let mut value: u64 = 0;
        while let Some(&c) = b.get(pos) {
            if !c.is_ascii_digit() {
                break;
            }
            value = value.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            pos += 1;
        }
        if pos == start {
            return None;
        }
        let want = if i == 3 { b']' } else { b':' };
        if b.get(pos) != Some(&want) {
            return None;
        }
        pos += 1;
        *slot = value;
    }
    Some(MessageToken {
        run: u32::try_from(fields[0]).ok()?,
        sender: u32::try_from(fields[1]).ok()?,
        seq: fields[2],
        sent_unix_us: fields[3],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    fn token(run: u32, sender: u32, seq: u64, us: u64) -> MessageToken {
        MessageToken {
            run,
            sender,
            seq,
            sent_unix_us: us,
        }
    }

    #[test]
    fn round_trip_with_text_around() {
        let t = token(7, 42, 1001, 1_795_802_885_610_123);
        let mut s = "hello world".to_owned();
        t.append_to(&mut s);
        assert_eq!(s, "hello world [rl:7:42:1001:1795802885610123]");
        assert_eq!(MessageToken::find(&s), Some(t));
        // The server or a client may add text after it (edits, quotes).
        s.push_str(" (edited) ");
        assert_eq!(MessageToken::find(&s), Some(t));
        let extremes = token(u32::MAX, u32::MAX, u64::MAX, u64::MAX);
        let mut s = String::new();
        extremes.append_to(&mut s);
        assert_eq!(MessageToken::find(&s), Some(extremes));
    }

    #[test]
    fn malformed_candidates_are_skipped() {
        assert_eq!(MessageToken::find(""), None);
        assert_eq!(MessageToken::find("[rl:"), None);
        assert_eq!(MessageToken::find("[rl:1:2:3]"), None);
        assert_eq!(MessageToken::find("[rl:1:2:3:x]"), None);
        assert_eq!(MessageToken::find("[rl:4294967296:1:1:1]"), None); // run overflows u32
        assert_eq!(
            MessageToken::find("[rl:1:1:1:99999999999999999999999]"),
            None
        );
        // A valid token followed by a broken one: the valid one is found.
        let s = "a [rl:1:2:3:4] b [rl:9:9:";
        assert_eq!(MessageToken::find(s), Some(token(1, 2, 3, 4)));
        // Multi-byte text around the token.
        let s = "héllo ✓ [rl:1:2:3:4] 日本";
        assert_eq!(MessageToken::find(s), Some(token(1, 2, 3, 4)));
    }

    #[test]
    fn random_texts_round_trip_and_garbage_never_panics() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let alphabet: Vec<char> = "ab [rl:]0123456789:é✓\n".chars().collect();
        for _ in 0..2000 {
            let len = rng.random_range(0..60);
            let garbage: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            // Garbage alone: any answer is fine, but no panic.
            let _ = MessageToken::find(&garbage);
            let t = token(rng.random(), rng.random(), rng.random(), rng.random());
            // Garbage before the token must not hide it.
            let mut s = garbage.clone();
            t.append_to(&mut s);
            assert_eq!(MessageToken::find(&s), Some(t), "text {s:?}");
        }
    }
}
