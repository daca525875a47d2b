//! How a followed log reaches stdout: as it comes (one pod, no prefix), or in whole lines each
//! prefixed with its pod (`[pod/NAME] ...`), so that the lines of several pods followed at once
//! never interleave inside a line.

use std::io::Write;

/// The writer of one pod's followed log.
pub struct LogPrinter {
    /// `[pod/NAME] ` before each line; `None`: the bytes as they come.
    prefix: Option<String>,
    /// The start of a line whose end has not come yet (prefixed output only).
    partial: Vec<u8>,
}

impl LogPrinter {
    pub fn new(pod: &str, prefixed: bool) -> LogPrinter {
        LogPrinter {
            prefix: prefixed.then(|| format!("[pod/{pod}] ")),
            partial: Vec::new(),
        }
    }

    /// Writes what `chunk` completes to `out` (whole lines when prefixed) and flushes it.
    pub fn write(&mut self, out: &mut impl Write, chunk: &[u8]) -> std::io::Result<()> {
        let Some(prefix) = &self.prefix else {
            out.write_all(chunk)?;
            return out.flush();
        };
        self.partial.extend_from_slice(chunk);
        let mut text = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            text.extend_from_slice(prefix.as_bytes());
            text.extend_from_slice(&line);
        }
        // One write per chunk: a line of another pod's never lands inside these.
        out.write_all(&text)?;
        out.flush()
    }

    /// Writes the last line when the log ended without a newline.
    pub fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if self.partial.is_empty() {
            return Ok(());
        }
        let prefix = self.prefix.as_deref().unwrap_or_default();
        let mut text = prefix.as_bytes().to_vec();
        text.append(&mut self.partial);
        text.push(b'\n');
        out.write_all(&text)?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_output_is_whole_lines_across_chunks() {
        let mut printer = LogPrinter::new("web-1", true);
        let mut out = Vec::new();
        printer.write(&mut out, b"one\ntw").expect("write");
        assert_eq!(out, b"[pod/web-1] one\n");
        printer.write(&mut out, b"o\nthree").expect("write");
        assert_eq!(out, b"[pod/web-1] one\n[pod/web-1] two\n");
        printer.finish(&mut out).expect("finish");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "[pod/web-1] one\n[pod/web-1] two\n[pod/web-1] three\n"
        );
    }

    #[test]
    fn unprefixed_output_is_passed_through_as_it_comes() {
        let mut printer = LogPrinter::new("web-1", false);
        let mut out = Vec::new();
        printer.write(&mut out, b"par").expect("write");
        assert_eq!(out, b"par");
        printer.finish(&mut out).expect("finish");
        assert_eq!(out, b"par");
    }
}
