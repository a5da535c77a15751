//! A secret in memory: the [`Secret`] type that cannot be printed or serialised by accident,
//! and the redacted preview reports, logs and the store show instead. On the ground floor:
//! findings, verdicts and every printer use it.

/// A secret in `{:?}` output: its redacted preview, never its bytes. Structs that hold a raw
/// secret implement `Debug` through this, so a stray `dbg!` or `{:?}` in a log cannot leak one.
pub struct Hidden<'a>(pub &'a [u8]);

impl std::fmt::Debug for Hidden<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact(self.0))
    }
}

/// A secret's bytes. It has no `Display` and no `Serialize`, and its `Debug` prints the
/// redacted preview, so a secret cannot reach a log line, a report or the store by accident:
/// code that needs the bytes (verification, revocation, `--show-secrets`) asks for them by name.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// The bytes themselves: only for sending to the secret's own issuer, sealing, or showing
    /// when the operator asked.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Hidden(&self.0).fmt(f)
    }
}

/// A preview that lets a human recognise a secret without being able to use it: the first few
/// and last two characters, never more than a quarter of the value.
pub fn redact(secret: &[u8]) -> String {
    let s = String::from_utf8_lossy(secret);
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n < 8 {
        return "*".repeat(n.max(3));
    }
    let head = (n / 4).clamp(2, 8);
    let tail = if n >= 16 { 2 } else { 0 };
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[n - tail..]);
    out
}
