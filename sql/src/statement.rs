//! What a statement asks for, once parsed: a query to plan, a `COPY ... TO
//! STDOUT`, or a session command that the frontend answers itself.
//!
//! Session commands never reach DataFusion: its `SET` would change shared
//! `datafusion.*` options, and Postgres clients send many `SET`s, `SHOW`s and
//! transaction statements that must simply be answered as Postgres does.

use datafusion::sql::sqlparser::ast::{
    CloseCursor, CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, DeclareType, Expr,
    FetchDirection, ObjectName, Reset, Set, Statement, Value,
};

use crate::error::{Result, SqlError};

/// The output format of `COPY (query) TO STDOUT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFormat {
    pub csv: bool,
    pub header: bool,
    pub delimiter: char,
    pub null: String,
}

impl CopyFormat {
    fn text() -> Self {
        Self { csv: false, header: false, delimiter: '\t', null: "\\N".into() }
    }

    fn set_csv(&mut self) {
        self.csv = true;
        if self.delimiter == '\t' {
            self.delimiter = ',';
        }
        if self.null == "\\N" {
            self.null = String::new();
        }
    }
}

/// A statement the session answers without DataFusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// `SET name = value` (and `SET TIME ZONE`, `SET NAMES`). `name` is lowercase.
    Set { name: String, value: String },
    /// `SHOW name` or `SHOW ALL`. `name` is lowercase.
    Show { name: String },
    /// `RESET name`, or `RESET ALL` when `None`.
    Reset { name: Option<String> },
    /// `FETCH [count | ALL | NEXT] FROM cursor`; `count` is `None` for ALL.
    Fetch { cursor: String, count: Option<u64> },
    /// `CLOSE cursor`, or `CLOSE ALL` when `None`.
    Close { cursor: Option<String> },
    /// Accepted and answered with its command tag, changing nothing: transaction
    /// control (sessions are read-only, so there is nothing to commit or undo),
    /// `DISCARD`, `DEALLOCATE`, `UNLISTEN`.
    NoOp { tag: &'static str },
}

/// How a parsed statement is to be handled.
#[derive(Debug)]
pub(crate) enum Kind {
    Query(Box<Statement>),
    Copy { query: Box<Statement>, format: CopyFormat },
    Declare { cursor: String, query: Box<Statement> },
    Session(SessionCommand),
}

pub(crate) fn classify(statement: Statement) -> Result<Kind> {
    Ok(match statement {
        Statement::Set(set) => Kind::Session(set_command(set)),
        Statement::ShowVariable { variable } => {
            let name = variable.iter().map(|i| i.value.to_lowercase()).collect::<Vec<_>>().join(" ");
            // SQL-standard spellings of two settings.
            let name = match name.as_str() {
                "transaction isolation level" => "transaction_isolation".to_owned(),
                "time zone" => "timezone".to_owned(),
                _ => name,
            };
            Kind::Session(SessionCommand::Show { name })
        }
        Statement::Reset(reset) => Kind::Session(SessionCommand::Reset {
            name: match reset.reset {
                Reset::ALL => None,
                Reset::ConfigurationParameter(name) => Some(object_name(&name)),
            },
        }),
        Statement::StartTransaction { .. } => no_op("BEGIN"),
        Statement::Commit { .. } => no_op("COMMIT"),
        Statement::Rollback { savepoint: Some(_), .. } => no_op("ROLLBACK"),
        Statement::Rollback { .. } => no_op("ROLLBACK"),
        Statement::Savepoint { .. } => no_op("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => no_op("RELEASE"),
        Statement::Discard { .. } => no_op("DISCARD ALL"),
        Statement::Deallocate { .. } => no_op("DEALLOCATE"),
        Statement::Close { cursor } => Kind::Session(SessionCommand::Close {
            cursor: match cursor {
                CloseCursor::All => None,
                CloseCursor::Specific { name } => Some(name.value),
            },
        }),
        Statement::Declare { mut stmts } if stmts.len() == 1 => {
            let declare = stmts.remove(0);
            match (declare.names.first(), declare.for_query) {
                (Some(name), Some(query)) if declare.declare_type == Some(DeclareType::Cursor) => {
                    if declare.scroll == Some(true) {
                        return Err(SqlError::Unsupported("SCROLL cursors (cursors read forward only)".into()));
                    }
                    Kind::Declare { cursor: name.value.clone(), query: Box::new(Statement::Query(query)) }
                }
                _ => return Err(SqlError::Unsupported("DECLARE of anything but a cursor".into())),
            }
        }
        Statement::Fetch { name, direction, .. } => {
            let count = match direction {
                FetchDirection::Next | FetchDirection::Forward { limit: None } => Some(1),
                FetchDirection::All | FetchDirection::ForwardAll => None,
                FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => {
                    let text = limit.value.to_string();
                    Some(text.parse().map_err(|_| SqlError::Unsupported(format!("FETCH {text}")))?)
                }
                other => {
                    return Err(SqlError::Unsupported(format!("FETCH {other} (cursors read forward only)")));
                }
            };
            Kind::Session(SessionCommand::Fetch { cursor: name.value, count })
        }
        Statement::UNLISTEN { .. } => no_op("UNLISTEN"),
        Statement::Copy { source, to: true, target: CopyTarget::Stdout, options, legacy_options, .. } => {
            let query = match source {
                CopySource::Query(query) => Statement::Query(query),
                CopySource::Table { table_name, columns } => {
                    let columns = if columns.is_empty() {
                        "*".to_owned()
                    } else {
                        columns.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    };
                    let text = format!("SELECT {columns} FROM {table_name}");
                    let mut parsed = crate::parse_statements(&text)?;
                    parsed.pop().ok_or_else(|| SqlError::Unsupported(format!("COPY {table_name}")))?
                }
            };
            Kind::Copy { query: Box::new(query), format: copy_format(&options, &legacy_options)? }
        }
        Statement::Copy { .. } => {
            return Err(SqlError::Forbidden("COPY to or from a file or program".into()));
        }
        Statement::Explain { statement, .. } if matches!(*statement, Statement::Copy { .. }) => {
            return Err(SqlError::Forbidden("COPY".into()));
        }
        Statement::CreateTable(table) if table.external => {
            return Err(SqlError::Forbidden("CREATE EXTERNAL TABLE".into()));
        }
        other => Kind::Query(Box::new(other)),
    })
}

fn no_op(tag: &'static str) -> Kind {
    Kind::Session(SessionCommand::NoOp { tag })
}

fn object_name(name: &ObjectName) -> String {
    name.to_string().to_lowercase()
}

/// The text of a SET value as Postgres would store it: strings unquoted, lists joined.
fn value_text(values: &[Expr]) -> String {
    values
        .iter()
        .map(|v| match v {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            Expr::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn set_command(set: Set) -> SessionCommand {
    match set {
        Set::SingleAssignment { variable, values, .. } => {
            SessionCommand::Set { name: object_name(&variable), value: value_text(&values) }
        }
        Set::SetTimeZone { value, .. } => SessionCommand::Set { name: "timezone".into(), value: value_text(&[value]) },
        Set::SetNames { charset_name, .. } => {
            SessionCommand::Set { name: "client_encoding".into(), value: charset_name.value }
        }
        // SET SESSION CHARACTERISTICS, SET TRANSACTION, SET ROLE, ...: sessions are
        // read-only and single-user, so these change nothing.
        _ => SessionCommand::NoOp { tag: "SET" },
    }
}

fn copy_format(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<CopyFormat> {
    let mut format = CopyFormat::text();
    for option in options {
        match option {
            CopyOption::Format(name) => match name.value.to_lowercase().as_str() {
                "csv" => format.set_csv(),
                "text" => {}
                other => return Err(SqlError::Unsupported(format!("COPY format {other}"))),
            },
            CopyOption::Header(header) => format.header = *header,
            CopyOption::Delimiter(d) => format.delimiter = *d,
            CopyOption::Null(null) => format.null = null.clone(),
            other => return Err(SqlError::Unsupported(format!("COPY option {other}"))),
        }
    }
    for option in legacy {
        match option {
            CopyLegacyOption::Csv(csv_options) => {
                format.set_csv();
                for o in csv_options {
                    if matches!(o, CopyLegacyCsvOption::Header) {
                        format.header = true;
                    }
                }
            }
            CopyLegacyOption::Header => format.header = true,
            CopyLegacyOption::Delimiter(d) => format.delimiter = *d,
            CopyLegacyOption::Null(null) => format.null = null.clone(),
            CopyLegacyOption::Binary => {
                return Err(SqlError::Unsupported("COPY in binary format".into()));
            }
            other => return Err(SqlError::Unsupported(format!("COPY option {other}"))),
        }
    }
    Ok(format)
}
