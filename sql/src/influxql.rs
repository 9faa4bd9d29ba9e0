//! InfluxQL, InfluxDB 1.x's query language: tokens, syntax tree and parser.
//! No maintained crate parses it, so it is ours. Planning it onto DataFusion
//! is the InfluxQL issue's next part.
//!
//! ```text
//! text ──lexer──▶ tokens (with byte offsets) ──parser──▶ Vec<Statement> ──Display──▶ text again
//! ```

pub mod ast;
pub mod condition;
mod lexer;
mod parser;

use std::fmt;

pub use ast::Statement;

/// A statement that does not parse: what was found, what was expected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    /// Byte offset into the query text.
    pub offset: usize,
    /// 1-based line and character of `offset`, as 1.x reports them.
    pub line: usize,
    pub column: usize,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>, offset: usize) -> Self {
        Self { message: message.into(), offset, line: 0, column: 0 }
    }

    fn located(mut self, text: &str) -> Self {
        let end = self.offset.min(text.len());
        let before = &text[..end];
        self.line = before.matches('\n').count() + 1;
        self.column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1 + (self.offset - end);
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {}, char {}", self.message, self.line, self.column)
    }
}

impl std::error::Error for ParseError {}

/// Parses the `;`-separated statements of `text`.
///
/// # Errors
/// The first place where the text stops being InfluxQL.
pub fn parse(text: &str) -> Result<Vec<Statement>, ParseError> {
    let tokens = lexer::tokenize(text).map_err(|e| e.located(text))?;
    parser::Parser::new(tokens).statements().map_err(|e| e.located(text))
}

/// The `$name` parameters `text` refers to, each once, in order of appearance.
/// 1.x refuses a query whose parameters are not all bound, before running it.
#[must_use]
pub fn parameters(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for spanned in lexer::tokenize(text).unwrap_or_default() {
        if let lexer::Token::Param(name) = spanned.token
            && !out.contains(&name)
        {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests;
