//! Pseudonyms for callers and agents: keyed hashes, so that Leitstand can tell a repeat
//! caller or an agent's calls apart without ever holding a phone number or a channel name.
//!
//! This module owns the key and the hash; it does not decide which fields are personal.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ImportError;

type HmacSha256 = Hmac<Sha256>;

/// The secret from which `caller_ref` and `agent_ref` are computed (HMAC-SHA256).
///
/// The same key gives the same pseudonym for the same number on every import and for
/// both ACDs, so a tenant keeps one key for as long as its references must match. Without
/// the key, a pseudonym cannot be turned back into a number by trying all numbers, which a
/// plain hash of a phone number would allow.
#[derive(Clone)]
pub struct PseudonymKey {
    mac: HmacSha256,
    len: usize,
}

impl PseudonymKey {
    /// The shortest key accepted, in bytes: phone numbers are few enough to be tried one by
    /// one, so the key must be too long to guess.
    pub const MIN_LEN: usize = 16;

    /// A key from its bytes (for example the contents of a key file, 32 random bytes).
    pub fn new(bytes: &[u8]) -> Result<Self, ImportError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(ImportError::WeakPseudonymKey(bytes.len()));
        }
        // HMAC takes keys of any length; the error exists only for fixed-size MACs.
        let mac = HmacSha256::new_from_slice(bytes)
            .map_err(|_| ImportError::WeakPseudonymKey(bytes.len()))?;
        Ok(Self {
            mac,
            len: bytes.len(),
        })
    }

    /// The `caller_ref` of a caller's number: `p-` and 16 hex digits.
    ///
    /// `None` when the caller withheld the number: text without a single digit (empty,
    /// `anonymous`, `unknown`) would give every withheld caller the same reference, and a
    /// plugin would take them for one person calling again and again.
    pub fn caller_ref(&self, number: &str) -> Option<String> {
        let number = number.trim();
        number
            .bytes()
            .any(|b| b.is_ascii_digit())
            .then(|| self.pseudonym("p-", b"caller_ref", number))
    }

    /// The `agent_ref` of an agent (an Asterisk member name or interface, an Amazon Connect
    /// agent ARN or user name): `a-` and 16 hex digits. `None` for an empty name or
    /// Asterisk's `NONE`.
    pub fn agent_ref(&self, agent: &str) -> Option<String> {
        let agent = agent.trim();
        (!agent.is_empty() && agent != "NONE").then(|| self.pseudonym("a-", b"agent_ref", agent))
    }

    fn pseudonym(&self, prefix: &str, domain: &[u8], value: &str) -> String {
        let mut mac = self.mac.clone();
        // The domain keeps a caller and an agent with the same text from sharing a pseudonym.
        mac.update(domain);
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(prefix.len() + 16);
        out.push_str(prefix);
        for byte in digest.iter().take(8) {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PseudonymKey({} bytes, redacted)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PseudonymKey {
        PseudonymKey::new(b"0123456789abcdef0123456789abcdef").expect("long enough")
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_never_the_raw_value() {
        let k = key();
        let a = k.caller_ref("+4930231250123").expect("a number");
        assert_eq!(a, k.caller_ref(" +4930231250123 ").expect("a number"));
        assert!(a.starts_with("p-") && a.len() == 18, "{a}");
        assert!(!a.contains("4930231250123"));
        let other = PseudonymKey::new(b"another key of sixteen+ bytes").expect("long enough");
        assert_ne!(a, other.caller_ref("+4930231250123").expect("a number"));
        assert_ne!(
            k.caller_ref("2101"),
            k.agent_ref("2101").map(|s| s.replace("a-", "p-"))
        );
    }

    #[test]
    fn withheld_numbers_and_no_agent_give_no_reference() {
        let k = key();
        assert_eq!(k.caller_ref(""), None);
        assert_eq!(k.caller_ref("anonymous"), None);
        assert_eq!(k.agent_ref("NONE"), None);
        assert!(k.agent_ref("PJSIP/2101").is_some());
    }

    #[test]
    fn short_keys_are_refused_and_keys_are_not_printed() {
        assert!(matches!(
            PseudonymKey::new(b"short"),
            Err(ImportError::WeakPseudonymKey(5))
        ));
        let printed = format!("{:?}", key());
        assert!(!printed.contains("0123"), "{printed}");
    }
}
