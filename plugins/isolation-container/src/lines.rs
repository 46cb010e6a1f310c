//! The container's output arrives in chunks cut anywhere; the host takes
//! whole lines. This keeps the partial last line until its end arrives.

/// Lines longer than this are cut (the host's own limit for commands).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// How much of the end of the output the outcome keeps (as the host does).
pub const TAIL_BYTES: usize = 64 * 1024;

/// Bytes waiting to become lines.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Every complete line so far (each ending in `\n`), leaving a partial
    /// last line waiting unless it is already longer than
    /// [`MAX_LINE_BYTES`]. Invalid UTF-8 becomes U+FFFD.
    pub fn take_complete(&mut self) -> Option<String> {
        let end = match self.pending.iter().rposition(|&b| b == b'\n') {
            Some(at) => at + 1,
            None if self.pending.len() > MAX_LINE_BYTES => self.pending.len(),
            None => return None,
        };
        let rest = self.pending.split_off(end);
        let done = std::mem::replace(&mut self.pending, rest);
        let mut text = String::from_utf8_lossy(&done).into_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Some(text)
    }

    /// Everything waiting, the last line without its end included.
    pub fn take_all(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let mut text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Some(text)
    }
}

/// Keeps the last line and the last [`TAIL_BYTES`] of the output.
#[derive(Debug, Default)]
pub struct Tail {
    pub last_line: String,
    pub tail: String,
}

impl Tail {
    pub fn add(&mut self, text: &str) {
        if let Some(line) = text.lines().next_back() {
            self.last_line = line.to_string();
        }
        self.tail.push_str(text);
        if self.tail.len() > 2 * TAIL_BYTES {
            let mut cut = self.tail.len() - TAIL_BYTES;
            while !self.tail.is_char_boundary(cut) {
                cut += 1;
            }
            self.tail.drain(..cut);
        }
    }
}
