//! What the user reads: tables, ages, yaml/json, `-o name|jsonpath|custom-columns`.

pub mod deployment;
pub mod format;
pub mod hpa;
pub mod jsonpath;
pub mod node_certificates;
pub mod print;
pub mod secrets;
pub mod tables;

pub use format::Format;

use chrono::{DateTime, Utc};

/// A kubectl-style table: upper-case headers, columns padded to their widest cell.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.len() <= 1
    }

    /// Adds a first column (`NAMESPACE` with `-A`); `values` has one cell per row.
    pub fn prepend_column(&mut self, header: &str, values: Vec<String>) {
        let cells = std::iter::once(header.to_string()).chain(values);
        for (row, cell) in self.rows.iter_mut().zip(cells) {
            row.insert(0, cell);
        }
    }

    /// Adds a last column (`LABELS` with `--show-labels`).
    pub fn append_column(&mut self, header: &str, values: Vec<String>) {
        let cells = std::iter::once(header.to_string()).chain(values);
        for (row, cell) in self.rows.iter_mut().zip(cells) {
            row.push(cell);
        }
    }

    /// Rewrites every cell of the first column but the header (`get all` prefixes the kind).
    pub fn map_first_column(&mut self, f: impl Fn(&str) -> String) {
        for row in self.rows.iter_mut().skip(1) {
            if let Some(cell) = row.first_mut() {
                *cell = f(cell);
            }
        }
    }

    /// The table without its header line (`--no-headers`).
    pub fn render_rows(&self) -> String {
        self.render()
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect()
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}   ", width = widths[c]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `5s`, `3m`, `2h`, `4d` since `time`.
pub fn age(time: Option<DateTime<Utc>>) -> String {
    let Some(time) = time else {
        return "<unknown>".into();
    };
    let secs = (Utc::now() - time).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns() {
        let mut t = Table::new(&["NAME", "STATUS"]);
        t.row(vec!["a-long-name".into(), "Running".into()]);
        assert_eq!(t.render(), "NAME          STATUS\na-long-name   Running\n");
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(age(Some(Utc::now() - chrono::Duration::seconds(5))), "5s");
        assert_eq!(age(Some(Utc::now() - chrono::Duration::hours(3))), "3h");
    }
}
