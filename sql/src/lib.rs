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

use datafusion::execution::context::SQLOptions;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

pub use crate::error::{Result, SqlError};

/// Splits `text` into statements. An empty string or one holding only comments gives none.
///
/// # Errors
/// [`SqlError::Syntax`] with the position of the first error.
pub fn parse_sql(text: &str) -> Result<Vec<Statement>> {
    let statements = DFParser::parse_sql_with_dialect(text, &PostgreSqlDialect {})
        .map_err(|e| error::syntax_error(text, strip_prefix(e.to_string())))?;
    Ok(statements.into_iter().collect())
}

/// Plans one parsed statement against `state`'s catalog and checks it is read-only.
///
/// # Errors
/// [`SqlError::Forbidden`] for statements that would write files or change the schema,
/// [`SqlError::Plan`] for unknown tables, columns, functions and type errors.
pub async fn plan_statement(state: &SessionState, statement: Statement) -> Result<LogicalPlan> {
    match &statement {
        Statement::CreateExternalTable(_) => {
            return Err(SqlError::Forbidden("CREATE EXTERNAL TABLE".into()));
        }
        Statement::CopyTo(_) => return Err(SqlError::Forbidden("COPY".into())),
        Statement::Statement(_) | Statement::Explain(_) | Statement::Reset(_) => {}
    }
    let plan = state.statement_to_plan(statement).await?;
    read_only()
        .verify_plan(&plan)
        .map_err(|e| SqlError::Forbidden(forbidden_what(&e.to_string())))?;
    Ok(plan)
}

/// Parses and plans every statement of `text`.
///
/// # Errors
/// As [`parse_sql`] and [`plan_statement`].
pub async fn plan_sql(state: &SessionState, text: &str) -> Result<Vec<LogicalPlan>> {
    let mut plans = Vec::new();
    for statement in parse_sql(text)? {
        plans.push(plan_statement(state, statement).await?);
    }
    Ok(plans)
}

fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
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
    for prefix in [
        "SQL error: ParserError(\"",
        "Error during planning: ",
        "sql parser error: ",
    ] {
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

    async fn plan(text: &str) -> Result<Vec<LogicalPlan>> {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (a INT)")
            .await
            .expect("setup table");
        plan_sql(&ctx.state(), text).await
    }

    #[tokio::test]
    async fn queries_plan() {
        assert_eq!(
            plan("SELECT a FROM t; SELECT 1")
                .await
                .expect("plans")
                .len(),
            2
        );
        assert!(plan("-- just a comment").await.expect("plans").is_empty());
    }

    #[tokio::test]
    async fn statements_that_touch_files_or_schema_are_refused() {
        for text in [
            "COPY t TO '/tmp/x.csv'",
            "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/etc/'",
            "CREATE TABLE x AS SELECT 1",
            "DROP TABLE t",
            "INSERT INTO t VALUES (1)",
            "SET datafusion.execution.batch_size = 1",
            "EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/y.csv'",
        ] {
            match plan(text).await {
                Err(SqlError::Forbidden(_)) => {}
                other => panic!("{text}: expected Forbidden, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn syntax_errors_carry_a_position() {
        match plan("SELECT * FRM t").await {
            Err(SqlError::Syntax {
                position: Some(p), ..
            }) => assert!((10..=14).contains(&p), "position {p}"),
            other => panic!("expected a syntax error with position, got {other:?}"),
        }
    }
}
