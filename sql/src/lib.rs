//! `sediment-sql`: turns query text into DataFusion logical plans, and refuses
//! what an untrusted client must not do.
//!
//! ```text
//! text ──parse (Postgres dialect)──▶ statements ──refuse COPY / EXTERNAL TABLE──▶
//!      ──SqlToRel against the session's catalog──▶ LogicalPlan ──verify: no DDL, DML or SET──▶ plan
//! ```
//!
//! It executes nothing and reads no data: tables are resolved through the
//! session's catalog providers, which the server backs with catalog snapshots.
//! The check after planning matters because a statement-kind allowlist alone
//! misses `EXPLAIN ANALYZE COPY ...`; `SQLOptions::verify_plan` walks into EXPLAIN.

mod error;
pub mod influxql;
mod rewrite;
mod statement;

use std::sync::LazyLock;

use datafusion::execution::context::SQLOptions;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

pub use crate::error::{Result, SqlError};
pub use crate::rewrite::{CastPlaceholders, cast_placeholders};
use crate::rewrite::{postgres_rewrites, rewrite_from_functions};
pub use crate::statement::{CopyFormat, SessionCommand};
use crate::statement::{Kind, classify};

/// Rewrites the catalog queries of known clients (psql, pgcli, DBeaver, Grafana...)
/// into forms DataFusion plans. Building it tokenizes its rule set, so once.
static PARSER: LazyLock<PostgresCompatibilityParser> = LazyLock::new(PostgresCompatibilityParser::new);

/// One statement of a query text, ready for its frontend.
#[derive(Debug)]
pub enum Planned {
    /// A read-only query.
    Query(LogicalPlan),
    /// `COPY (query) TO STDOUT`: the query's rows in a COPY format.
    Copy { plan: LogicalPlan, format: CopyFormat },
    /// `DECLARE cursor CURSOR FOR query`: rows the frontend hands out with FETCH.
    Declare { cursor: String, plan: LogicalPlan },
    /// A statement about the session itself, for the frontend to answer.
    Session(SessionCommand),
}

/// Parses `text` into statements with the Postgres dialect.
///
/// # Errors
/// [`SqlError::Syntax`] with the position of the first error; [`SqlError::Forbidden`]
/// for DataFusion's own file-touching statements (`CREATE EXTERNAL TABLE`).
pub(crate) fn parse_statements(text: &str) -> Result<Vec<Statement>> {
    let rewritten = postgres_rewrites(text);
    match PARSER.parse(rewritten.as_deref().unwrap_or(text)) {
        Ok(mut statements) => {
            rewrite_from_functions(&mut statements);
            Ok(statements)
        }
        // The rewriting parser loses error locations; DataFusion's parser reports
        // them, and knows statements Postgres does not, which are refused by name.
        Err(e) => match DFParser::parse_sql_with_dialect(text, &PostgreSqlDialect {}) {
            Err(located) => Err(error::syntax_error(text, strip_prefix(located.to_string()))),
            Ok(statements) => {
                for statement in statements {
                    match statement {
                        DFStatement::CreateExternalTable(_) => {
                            return Err(SqlError::Forbidden("CREATE EXTERNAL TABLE".into()));
                        }
                        DFStatement::CopyTo(_) => return Err(SqlError::Forbidden("COPY".into())),
                        _ => {}
                    }
                }
                Err(error::syntax_error(text, strip_prefix(e.to_string())))
            }
        },
    }
}

/// Parses and plans every statement of `text` against `state`'s catalog.
/// An empty text, or one holding only comments, gives no statements.
///
/// # Errors
/// [`SqlError::Syntax`]; [`SqlError::Forbidden`] for statements that would write
/// files or change the schema; [`SqlError::Plan`] for unknown tables, columns,
/// functions and type errors.
pub async fn plan_sql(state: &SessionState, text: &str) -> Result<Vec<Planned>> {
    let mut planned = Vec::new();
    for statement in parse_statements(text)? {
        planned.push(match classify(statement)? {
            Kind::Query(statement) => Planned::Query(plan_query(state, *statement).await?),
            Kind::Copy { query, format } => Planned::Copy { plan: plan_query(state, *query).await?, format },
            Kind::Declare { cursor, query } => Planned::Declare { cursor, plan: plan_query(state, *query).await? },
            Kind::Session(command) => Planned::Session(command),
        });
    }
    Ok(planned)
}

/// Plans one statement and checks it is read-only.
async fn plan_query(state: &SessionState, statement: Statement) -> Result<LogicalPlan> {
    let plan = state.statement_to_plan(DFStatement::Statement(Box::new(statement))).await?;
    read_only().verify_plan(&plan).map_err(|e| SqlError::Forbidden(forbidden_what(&e.to_string())))?;
    Ok(plan)
}

fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// DataFusion says "DDL not supported: CreateMemoryTable"; we say which kind of statement it was.
fn forbidden_what(message: &str) -> String {
    let message = strip_prefix(message.to_owned());
    match message.split_once(" not supported") {
        Some((what, _)) => format!("{what} statement"),
        None => message,
    }
}

fn strip_prefix(message: String) -> String {
    for prefix in ["SQL error: ParserError(\"", "Error during planning: ", "sql parser error: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.trim_end_matches("\")").to_owned();
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    async fn plan(text: &str) -> Result<Vec<Planned>> {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (a INT)").await.expect("setup table");
        plan_sql(&ctx.state(), text).await
    }

    #[tokio::test]
    async fn queries_plan() {
        assert_eq!(plan("SELECT a FROM t; SELECT 1").await.expect("plans").len(), 2);
        assert!(plan("-- just a comment").await.expect("plans").is_empty());
    }

    #[tokio::test]
    async fn statements_that_touch_files_or_schema_are_refused() {
        for text in [
            "COPY t TO '/tmp/x.csv'",
            "COPY t FROM STDIN",
            "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/etc/'",
            "CREATE TABLE x AS SELECT 1",
            "DROP TABLE t",
            "INSERT INTO t VALUES (1)",
            "EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/y.csv'",
        ] {
            match plan(text).await {
                Err(SqlError::Forbidden(_)) => {}
                other => panic!("{text}: expected Forbidden, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn session_statements_are_classified_not_planned() {
        let planned =
            plan("SET application_name = 'x'; SHOW DateStyle; SHOW TRANSACTION ISOLATION LEVEL; BEGIN READ ONLY; COMMIT; RESET ALL; SET TIME ZONE 'UTC'")
                .await
                .expect("plans");
        let commands: Vec<_> = planned
            .into_iter()
            .map(|p| match p {
                Planned::Session(c) => c,
                other => panic!("not a session command: {other:?}"),
            })
            .collect();
        assert_eq!(
            commands,
            [
                SessionCommand::Set { name: "application_name".into(), value: "x".into() },
                SessionCommand::Show { name: "datestyle".into() },
                SessionCommand::Show { name: "transaction_isolation".into() },
                SessionCommand::NoOp { tag: "BEGIN" },
                SessionCommand::NoOp { tag: "COMMIT" },
                SessionCommand::Reset { name: None },
                SessionCommand::Set { name: "timezone".into(), value: "UTC".into() },
            ]
        );
    }

    #[tokio::test]
    async fn copy_to_stdout_plans_its_query_with_its_format() {
        let planned = plan("COPY (SELECT a FROM t) TO STDOUT WITH (FORMAT csv, HEADER true); COPY t TO STDOUT")
            .await
            .expect("plans");
        match &planned[..] {
            [Planned::Copy { format: csv, .. }, Planned::Copy { format: text, .. }] => {
                assert!(csv.csv && csv.header && csv.delimiter == ',');
                assert!(!text.csv && text.delimiter == '\t' && text.null == "\\N");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn functions_in_from_name_their_column_after_the_alias() {
        let planned =
            plan("SELECT s[i] AS part FROM generate_series(1, 2) AS i, string_to_array('a,b', ',') s ORDER BY part")
                .await
                .expect("plans");
        assert!(matches!(&planned[..], [Planned::Query(_)]), "{planned:?}");
    }

    #[tokio::test]
    async fn syntax_errors_carry_a_position() {
        match plan("SELECT * FRM t").await {
            Err(SqlError::Syntax { position: Some(p), .. }) => assert!((10..=14).contains(&p), "position {p}"),
            other => panic!("expected a syntax error with position, got {other:?}"),
        }
    }
}
