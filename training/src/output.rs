//! Printing results: aligned text tables, JSON documents, and progress bars that only appear on
//! a terminal.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::Format;
use crate::error::Result;

/// A text table: a header row and data rows, printed with aligned columns (numbers right-aligned).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// Cells, one `Vec` per row, as long as `header`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|s| (*s).to_owned()).collect(), rows: Vec::new() }
    }

    /// Appends a row.
    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    /// The table as text, one line per row, columns separated by two spaces.
    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut widths = vec![0; n];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let numeric = |col: usize| {
            self.rows.iter().all(|r| r[col].parse::<f64>().is_ok() || r[col] == "-" || r[col].ends_with('x'))
                && !self.rows.is_empty()
        };
        let right: Vec<bool> = (0..n).map(numeric).collect();
        let mut res = String::new();
        let mut line = |row: &[String]| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, cell)| {
                    if right[c] {
                        format!("{cell:>w$}", w = widths[c])
                    } else {
                        format!("{cell:<w$}", w = widths[c])
                    }
                })
                .collect();
            res.push_str(cells.join("  ").trim_end());
            res.push('\n');
        };
        line(&self.header);
        line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
        for row in &self.rows {
            line(row);
        }
        res
    }
}

/// Writes `value` as pretty JSON (for `--format json`) or `table` as text.
pub fn emit<T: Serialize>(
    out: &mut dyn Write,
    format: Format,
    value: &T,
    table: impl FnOnce() -> Table,
) -> Result<()> {
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
            writeln!(out, "{text}")?;
        }
        Format::Table => write!(out, "{}", table().render())?,
    }
    Ok(())
}

/// A float with `digits` decimals, `-` for NaN / missing.
pub fn num(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "-".to_owned(),
    }
}

/// Writes `label  value` lines with the labels padded to one width (a record, not a table).
pub fn pairs(out: &mut dyn Write, pairs: &[(&str, String)]) -> Result<()> {
    let width = pairs.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    for (label, value) in pairs {
        writeln!(out, "{label:<width$}  {value}")?;
    }
    Ok(())
}

/// A byte count for people: `812 B`, `3.1 MB`, `247.0 MB`, `1.20 GB` (powers of 1000).
pub fn bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}

/// A count with thousands separators: `100,836`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut res = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            res.push(',');
        }
        res.push(c);
    }
    res
}

/// Hyperparameters as a JSON object, with the `f32` values written as `f32`s (`0.01`, not
/// `0.009999999776482582`).
pub fn params_json(params: &artifacts::ModelParams) -> serde_json::Value {
    serde_json::to_string(params)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Two columns side by side: `left` padded to `width` characters, then `right`.
pub fn columns(out: &mut dyn Write, width: usize, left: &[String], right: &[String]) -> Result<()> {
    for row in 0..left.len().max(right.len()) {
        let l = left.get(row).map_or("", String::as_str);
        let r = right.get(row).map_or("", String::as_str);
        let line = format!("{l:<width$}  {r}");
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A stored metric for display: counts as integers, the rest with 4 decimals.
pub fn metric(name: &str, value: f64) -> String {
    if name.ends_with("users") { format!("{value:.0}") } else { format!("{value:.4}") }
}

/// Hyperparameters (the JSON object an artifact stores) as `name=value` pairs, `kind` left out.
pub fn params_text(params: &serde_json::Value) -> String {
    match params.as_object() {
        Some(fields) => fields
            .iter()
            .filter(|(name, _)| name.as_str() != "kind")
            .map(|(name, value)| match value {
                serde_json::Value::String(s) => format!("{name}={s}"),
                other => format!("{name}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => params.to_string(),
    }
}

/// `text` cut to at most `width` characters, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut res: String = text.chars().take(width.saturating_sub(1)).collect();
    res.push('…');
    res
}

/// Whether progress bars may be drawn: stderr is a terminal and the output is not JSON.
pub fn progress_enabled(format: Format) -> bool {
    format == Format::Table && std::io::stderr().is_terminal()
}

/// A progress bar over `len` steps with `message`, hidden when `enabled` is false.
pub fn bar(enabled: bool, len: u64, message: impl Into<String>) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:<40} [{bar:30}] {pos}/{len} {elapsed_precise}")
        .expect("static template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message.into());
    bar
}

/// Peak resident set size of this process so far, in bytes (Linux `VmHWM`; `None` elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read("/proc/self/status").ok()?;
    let status = String::from_utf8_lossy(&status);
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_text_left_and_numbers_right() {
        let mut t = Table::new(&["name", "value"]);
        t.push(vec!["a".into(), "1.5".into()]);
        t.push(vec!["long name".into(), "12.25".into()]);
        assert_eq!(t.render(), "name       value\n---------  -----\na            1.5\nlong name  12.25\n");
        assert_eq!(num(Some(f64::NAN), 2), "-");
        assert_eq!(num(Some(0.12345), 3), "0.123");
    }

    #[test]
    fn people_friendly_values() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(3_149_000), "3.1 MB");
        assert_eq!(bytes(1_204_000_000), "1.20 GB");
        assert_eq!(truncate("Star Wars: Episode IV", 10), "Star Wars…");
        assert_eq!(truncate("Heat", 10), "Heat");
        let params = serde_json::json!({"kind": "ease", "regularization": 500.0});
        assert_eq!(params_text(&params), "regularization=500.0");
        assert_eq!(metric("eval_users", 596.0), "596");
        assert_eq!(count(100_836), "100,836");
        assert_eq!(count(610), "610");
        assert_eq!(count(20_000_263), "20,000,263");
    }
}
