//! A small RFC 4180 field splitter: enough for MovieLens CSV files, no allocation per line.
//!
//! Fields are separated by `,`. A field that starts with `"` is quoted: it may contain commas,
//! line breaks and doubled quotes (`""` → `"`), and must end with a `"` followed by `,` or the end
//! of the record. A `"` inside an unquoted field is kept as is, like most CSV readers do.

use std::fmt;
use std::ops::Range;

/// Why a record cannot be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvProblem {
    /// The record ends inside a quoted field; with more lines it may become complete.
    UnterminatedQuote {
        /// 0-based index of the quoted field.
        field: usize,
    },
    /// Text between a closing quote and the next separator.
    TextAfterClosingQuote {
        /// 0-based index of the quoted field.
        field: usize,
    },
}

impl fmt::Display for CsvProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvProblem::UnterminatedQuote { field } => {
                write!(f, "quoted field {} is not closed", field + 1)
            }
            CsvProblem::TextAfterClosingQuote { field } => {
                write!(f, "text after the closing quote of field {}", field + 1)
            }
        }
    }
}

/// The fields of one CSV record, unescaped into one reusable buffer.
#[derive(Clone, Debug, Default)]
pub struct CsvRecord {
    buf: String,
    fields: Vec<Range<usize>>,
}

impl CsvRecord {
    /// An empty record; reuse it across lines to avoid allocating.
    pub fn new() -> Self {
        Self::default()
    }

    /// Splits `record` (without its final line break) into fields, replacing the previous ones.
    pub fn parse(&mut self, record: &str) -> Result<(), CsvProblem> {
        self.buf.clear();
        self.fields.clear();
        let bytes = record.as_bytes();
        let mut pos = 0;
        loop {
            let field = self.fields.len();
            let start = self.buf.len();
            if bytes.get(pos) == Some(&b'"') {
                pos += 1;
                loop {
                    // Copy up to the next quote; `"` is ASCII so slicing at it stays on char bounds.
                    let Some(offset) = record[pos..].find('"') else {
                        return Err(CsvProblem::UnterminatedQuote { field });
                    };
                    self.buf.push_str(&record[pos..pos + offset]);
                    pos += offset + 1;
                    if bytes.get(pos) == Some(&b'"') {
                        self.buf.push('"');
                        pos += 1;
                    } else {
                        break;
                    }
                }
                self.fields.push(start..self.buf.len());
                match bytes.get(pos) {
                    None => return Ok(()),
                    Some(b',') => pos += 1,
                    Some(_) => return Err(CsvProblem::TextAfterClosingQuote { field }),
                }
            } else {
                let end = record[pos..].find(',').map_or(record.len(), |offset| pos + offset);
                self.buf.push_str(&record[pos..end]);
                self.fields.push(start..self.buf.len());
                if end == record.len() {
                    return Ok(());
                }
                pos = end + 1;
            }
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the record has no fields (only before the first [`CsvRecord::parse`]).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Field `idx`, unescaped; `None` past the end.
    pub fn get(&self, idx: usize) -> Option<&str> {
        self.fields.get(idx).map(|range| &self.buf[range.clone()])
    }

    /// All fields, unescaped.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|range| &self.buf[range.clone()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: Result<&[&str], CsvProblem>) {
        let mut record = CsvRecord::new();
        let res = record.parse(line).map(|()| record.iter().map(str::to_owned).collect::<Vec<_>>());
        let expected = expected.map(|fields| fields.iter().map(|f| f.to_string()).collect::<Vec<_>>());
        assert_eq!(res, expected, "line {line:?}");
    }

    #[test]
    fn splits_like_rfc_4180() {
        check(
            "1,Toy Story (1995),Adventure|Animation",
            Ok(&["1", "Toy Story (1995)", "Adventure|Animation"]),
        );
        check(
            r#"11,"American President, The (1995)",Comedy"#,
            Ok(&["11", "American President, The (1995)", "Comedy"]),
        );
        check(
            r#"1,"""Great Performances"" Cats (1998)",Musical"#,
            Ok(&["1", r#""Great Performances" Cats (1998)"#, "Musical"]),
        );
        check("a,,c,", Ok(&["a", "", "c", ""]));
        check("", Ok(&[""]));
        check(r#""""#, Ok(&[""]));
        check(r#""a""b",x"#, Ok(&[r#"a"b"#, "x"]));
        check("é,\"ü, ö\"", Ok(&["é", "ü, ö"]));
        check(r#"5'2" tall,x"#, Ok(&[r#"5'2" tall"#, "x"]));
        check("1,\"two\nlines\",3", Ok(&["1", "two\nlines", "3"]));
    }

    #[test]
    fn refuses_broken_quoting() {
        check(r#"1,"open,2"#, Err(CsvProblem::UnterminatedQuote { field: 1 }));
        check(r#"1,"a"b,2"#, Err(CsvProblem::TextAfterClosingQuote { field: 1 }));
        assert_eq!(CsvProblem::UnterminatedQuote { field: 1 }.to_string(), "quoted field 2 is not closed");
    }

    #[test]
    fn reuse_replaces_fields() {
        let mut record = CsvRecord::new();
        assert!(record.is_empty());
        record.parse("a,b,c").unwrap();
        record.parse("d").unwrap();
        assert_eq!((record.len(), record.get(0), record.get(1)), (1, Some("d"), None));
    }
}
