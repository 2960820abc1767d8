//! Diagnostics that point at the offending text: `file:line:column`, the source line with a
//! caret under the span, what was found and what was expected.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A source text with its path, kept so that byte spans can be turned into lines and columns.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Reads a file; the error is itself a diagnostic so that callers report every failure alike.
    pub fn read(path: &Path) -> Result<Self, Diagnostic> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(SourceFile::new(path, text)),
            Err(e) => Err(Diagnostic::whole_file(
                path,
                format!("cannot read file: {e}"),
            )),
        }
    }

    /// 1-based line and column (in characters) of a byte offset, clamped to the text.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// A diagnostic located at `span` of this file.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let start = floor_char_boundary(&self.text, span.start.min(self.text.len()));
        let end = floor_char_boundary(&self.text, span.end.clamp(start, self.text.len()));
        let (line, column) = self.line_col(start);
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let source_line = self.text[line_start..line_end].trim_end_matches('\r');
        // A span that runs over several lines is underlined up to the end of its first line.
        let underline_end = end.min(line_end).max(start);
        let width = self.text[start..underline_end].chars().count().max(1);
        Diagnostic {
            path: self.path.clone(),
            line,
            column,
            found: self.text[start..end].to_string(),
            message: message.into(),
            expected: None,
            source_line: Some(source_line.to_string()),
            underline: (column, width),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One error in a schema or topology file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based; 0 when the error concerns the whole file.
    pub line: usize,
    /// 1-based column in characters; 0 when the error concerns the whole file.
    pub column: usize,
    /// The offending text (empty for whole-file errors).
    pub found: String,
    pub message: String,
    pub expected: Option<String>,
    source_line: Option<String>,
    underline: (usize, usize),
}

impl Diagnostic {
    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            found: String::new(),
            message: message.into(),
            expected: None,
            source_line: None,
            underline: (0, 0),
        }
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// `path:line:column: message` — the one-line form that tests assert on.
    pub fn headline(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.path.display(), self.message)
        } else {
            format!(
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.headline())?;
        if let Some(src) = &self.source_line {
            let number = self.line.to_string();
            let gutter = " ".repeat(number.len());
            let (col, width) = self.underline;
            let indent: String = src
                .chars()
                .take(col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{gutter} |\n{number} | {src}\n{gutter} | {indent}{}",
                "^".repeat(width)
            )?;
        }
        if let Some(expected) = &self.expected {
            write!(f, "\n  = expected: {expected}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Every diagnostic of one compilation: validation goes on after the first error so that a user
/// fixes a file in one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
    /// `Ok(value)` when nothing was reported.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Collects the diagnostics of one file while validation goes on.
pub(crate) struct Collector<'a> {
    pub file: &'a SourceFile,
    pub diags: Diagnostics,
}

impl<'a> Collector<'a> {
    pub fn new(file: &'a SourceFile) -> Self {
        Collector {
            file,
            diags: Diagnostics::default(),
        }
    }

    pub fn err(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) {
        let d = self.file.error(span, message).expected(expected);
        self.diags.push(d);
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Reports `name` if `seen` already holds it, else records where it is defined.
    pub fn declare(
        &mut self,
        seen: &mut std::collections::HashMap<String, Range<usize>>,
        name: &serde_spanned::Spanned<String>,
        what: &str,
    ) {
        if let Some(first) = seen.get(name.get_ref()) {
            let (line, col) = self.file.line_col(first.start);
            self.err(
                name.span(),
                format!("duplicate {what} name `{}`", name.get_ref()),
                format!("a name not used before (first defined at line {line}, column {col})"),
            );
        } else {
            seen.insert(name.get_ref().clone(), name.span());
        }
    }
}
