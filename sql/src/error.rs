//! `SqlError`: why a statement could not become a plan. Protocol mappings live in the server.

use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text does not parse. `position` is the 1-based character offset, when known.
    #[error("syntax error: {message}")]
    Syntax { message: String, position: Option<usize> },

    /// Valid syntax that sediment refuses because it would touch server files or change the schema.
    #[error("{0} is not allowed: sediment databases are changed only through the write API")]
    Forbidden(String),

    /// Valid syntax for something sediment does not do.
    #[error("{0} is not supported")]
    Unsupported(String),

    /// The planner rejected the statement (unknown table or column, type errors...).
    /// Kept as the DataFusion error so the server can classify it structurally.
    #[error(transparent)]
    Plan(#[from] DataFusionError),
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;

/// Turns sqlparser's "... at Line: L, Column: C" into a 1-based character offset in `text`.
pub(crate) fn syntax_error(text: &str, message: String) -> SqlError {
    let position = line_column(&message).and_then(|(line, column)| {
        let mut offset = 0;
        for (i, l) in text.split('\n').enumerate() {
            if i + 1 == line {
                return Some(offset + column);
            }
            offset += l.chars().count() + 1;
        }
        None
    });
    SqlError::Syntax { message, position }
}

fn line_column(message: &str) -> Option<(usize, usize)> {
    let rest = &message[message.rfind("Line: ")? + 6..];
    let (line, rest) = rest.split_once(',')?;
    let column = rest.trim().strip_prefix("Column: ")?;
    let column: String = column.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_positions_count_characters_across_lines() {
        let err = syntax_error("SELECT\n  FRM x", "Expected: end of statement, found: x at Line: 2, Column: 7".into());
        match err {
            SqlError::Syntax { position, .. } => assert_eq!(position, Some(14)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
