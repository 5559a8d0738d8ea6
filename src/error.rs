//! The programs' errors as one line: the error and its causes joined (`one_line`), and the
//! usage error that shows only once the data is known (`UsageError`, status 2). Below `io` and
//! `cli`, which both use it: the layers point down only.

/// An error in how the program was called that only shows once the data is known (a batch
/// larger than the training set): reported like any usage error, with exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// An error and its causes on one line, without libtorch's C++ backtrace.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = if let Some(e) = cause.downcast_ref::<tch::TchError>() {
            crate::torch_message(e)
        } else {
            // An OS error as Python words it (serde_json's I/O errors carry one too); a line
            // break or another control character (in a path) shown as an escape, not cut at;
            // a libtorch backtrace that came as text is cut off.
            let text = cause.to_string();
            let text = text
                .split("\nException raised from")
                .next()
                .unwrap_or_default();
            io_text(&escape_controls(text.trim()))
        };
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// `text` with its control characters escaped as Python's `repr` escapes them (`\n`, `\t`,
/// `\r`, `\x1c`): an error line stays one line and names the path it means
/// (`scripts/twin/errors.py` `escape_controls`, the same).
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // C0, DEL and C1 (U+0085 ends a line for Python's splitlines, U+009B starts a
            // terminal escape), and the two Unicode line and paragraph separators.
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// An OS error as the C library words it (`No such file or directory`), which is also what
/// Python prints (`e.strerror`): without Rust's ` (os error 2)`, nor the ` at path "..."` that
/// tempfile adds (a random temp name, meaningless to the user).
fn io_text(text: &str) -> String {
    let text = text.split(" at path \"").next().unwrap_or_default();
    match text.find(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text.to_string(),
    }
}
