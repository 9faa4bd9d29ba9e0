//! The extended query protocol: Parse plans (so Describe can answer), Bind
//! values are decoded with the types announced at Parse, Execute plans again
//! and runs.

use std::fmt::Debug;
use std::sync::Arc;

use ::pgwire::api::portal::{Format, Portal};
use ::pgwire::api::query::ExtendedQueryHandler;
use ::pgwire::api::results::{FieldInfo, Response};
use ::pgwire::api::stmt::QueryParser;
use ::pgwire::api::store::PortalStore;
use ::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use ::pgwire::error::{PgWireError, PgWireResult};
use ::pgwire::messages::PgWireBackendMessage;
use arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, into_pg_type};
use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};
use futures::Sink;

use crate::error::ErrorKind;
use crate::pgwire::origins::Origins;
use crate::pgwire::{
    MAX_PARAMETERS, Queries, busy, cancel_handle, command_schema, copy_needs_simple_protocol, declare_response, error,
    origins, origins_of, plan_text, query_response, session_of, session_response,
};
use crate::query::QuerySession;
use crate::query::engine::Planned;

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = PreparedPlan;
    type QueryParser = PlanParser;

    fn query_parser(&self) -> Arc<PlanParser> {
        Arc::clone(&self.parser)
    }

    // Describe statement and Describe portal use pgwire's defaults, which ask
    // `PlanParser` for parameter types and the result schema in the portal's formats.

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<PreparedPlan>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // max_rows is pgwire's business: it keeps the response in the portal and suspends.
        let _busy = busy(client);
        let session = session_of(client)?;
        let stmt = &portal.statement.statement;
        // Planned again because a plan pins the buffer and file list of its planning
        // time: reusing the Parse-time plan would miss writes acknowledged since.
        let plan = match plan_one(client, &session, &stmt.sql).await? {
            None => return Ok(Response::EmptyQuery),
            Some(Planned::Query(plan)) => plan,
            Some(Planned::Session(command)) => {
                return session_response(client, command, &portal.result_column_format).await;
            }
            Some(Planned::Copy { .. }) => return Err(copy_needs_simple_protocol()),
            Some(Planned::Declare { cursor, plan }) => return declare_response(client, &session, cursor, plan).await,
        };
        if !same_row_type(plan.schema().as_arrow(), &stmt.schema) {
            // Postgres' answer when a table change alters a prepared statement's rows.
            return Err(error::kind_error(ErrorKind::Unsupported, "cached plan must not change result type"));
        }
        let plan = bind(portal, plan)?;
        let response =
            query_response(client, &session, plan, &portal.result_column_format, cancel_handle(client)).await?;
        Ok(Response::Query(response))
    }
}

/// A statement planned at Parse time.
///
/// Why plan at Parse: `QueryParser::parse_sql` receives the client, so it can
/// reach the connection's session, and Describe (which clients send before
/// Bind) needs parameter types and the result schema, which only a plan has.
/// `get_parameter_types`/`get_result_schema` receive no client, so that plan
/// must travel inside the statement. Execute plans the text again (see
/// `do_query`) and substitutes the Bind values into the fresh plan.
#[derive(Debug, Clone)]
pub(crate) struct PreparedPlan {
    sql: String,
    /// The Parse-time result columns: what Describe reports.
    schema: SchemaRef,
    /// DataFusion's type for `$n` at index n-1; `None` where it could not tell.
    inferred: Vec<Option<DataType>>,
    /// The types announced in ParameterDescription and used to decode Bind values.
    wire_types: Vec<Type>,
    /// The table column behind each result column, for RowDescription.
    origins: Origins,
}

#[derive(Debug, Default)]
pub(crate) struct PlanParser;

#[async_trait]
impl QueryParser for PlanParser {
    type Statement = PreparedPlan;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<PreparedPlan>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        tracing::debug!(sql = %sql, ?types, "pg parse");
        let session = session_of(client)?;
        let casts: Vec<Option<String>> = types.iter().map(|t| t.as_ref().and_then(array_sql_type)).collect();
        let rewritten = sediment_sql::cast_placeholders(sql, &casts);
        let (sql, text_arrays) = match &rewritten {
            Some(r) => (r.text.as_str(), r.text_arrays.as_slice()),
            None => (sql, &[][..]),
        };
        // None: only comments. pgwire stores an empty statement that answers EmptyQuery.
        let (schema, mut inferred, origins) = match plan_one(client, &session, sql).await? {
            None => return Ok(None),
            Some(Planned::Query(plan)) => (
                Arc::new(plan.schema().as_arrow().clone()),
                placeholder_types(&plan)?,
                origins_of(client).of(&session, &plan).await,
            ),
            Some(Planned::Session(command)) => (command_schema(&command), Vec::new(), Vec::new()),
            Some(Planned::Copy { .. }) => return Err(copy_needs_simple_protocol()),
            Some(Planned::Declare { .. }) => (Arc::new(Schema::empty()), Vec::new(), Vec::new()),
        };
        // A client may declare more parameters than the text uses; Postgres accepts that.
        let count = inferred.len().max(types.len());
        inferred.resize(count, None);
        let wire_types = inferred
            .iter()
            .enumerate()
            .map(|(i, data_type)| -> PgWireResult<Type> {
                let server = match data_type {
                    Some(data_type) => Some(into_pg_type(data_type)?).filter(|t| *t != Type::UNKNOWN),
                    None => None,
                };
                // TEXT rather than UNKNOWN: drivers then send strings, which decode to
                // Utf8 values that DataFusion coerces where the context needs it.
                let default = if text_arrays.contains(&i) { Type::TEXT_ARRAY } else { Type::TEXT };
                Ok(server.or_else(|| types.get(i).cloned().flatten()).unwrap_or(default))
            })
            .collect::<PgWireResult<Vec<_>>>()?;
        Ok(Some(PreparedPlan { sql: sql.to_owned(), schema, inferred, wire_types, origins }))
    }

    fn get_parameter_types(&self, stmt: &PreparedPlan) -> PgWireResult<Vec<Type>> {
        Ok(stmt.wire_types.clone())
    }

    fn get_result_schema(&self, stmt: &PreparedPlan, column_format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        let fields = arrow_schema_to_pg_fields(&stmt.schema, column_format.unwrap_or(&Format::UnifiedText), None)?;
        Ok(origins::apply(fields, &stmt.origins))
    }
}

/// The SQL spelling of a declared array parameter type, for the cast that
/// lets DataFusion plan `x = ANY($n)`.
fn array_sql_type(ty: &Type) -> Option<String> {
    let sql = match *ty {
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::NAME_ARRAY | Type::BPCHAR_ARRAY | Type::CHAR_ARRAY => "TEXT[]",
        Type::INT2_ARRAY => "SMALLINT[]",
        // Our catalog's oid columns are 32-bit integers.
        Type::INT4_ARRAY | Type::OID_ARRAY => "INT[]",
        Type::INT8_ARRAY => "BIGINT[]",
        Type::FLOAT4_ARRAY => "REAL[]",
        Type::FLOAT8_ARRAY => "DOUBLE PRECISION[]",
        Type::BOOL_ARRAY => "BOOLEAN[]",
        Type::TIMESTAMP_ARRAY => "TIMESTAMP[]",
        _ => return None,
    };
    Some(sql.to_owned())
}

/// The plan of a text that must hold at most one statement.
async fn plan_one<C: ClientInfo>(client: &C, session: &QuerySession, sql: &str) -> PgWireResult<Option<Planned>> {
    let mut plans = plan_text(client, session, sql).await?;
    if plans.len() > 1 {
        return Err(error::kind_error(
            ErrorKind::QuerySyntax,
            "cannot insert multiple commands into a prepared statement",
        ));
    }
    Ok(plans.pop())
}

/// Whether two plans of one text still produce the same column types (a
/// `SELECT *` grows when a write adds a column).
fn same_row_type(fresh: &Schema, parsed: &Schema) -> bool {
    let (fresh, parsed) = (fresh.fields(), parsed.fields());
    fresh.len() == parsed.len() && fresh.iter().zip(parsed.iter()).all(|(f, p)| f.data_type() == p.data_type())
}

/// DataFusion's type for each positional parameter, by index. A placeholder
/// whose type the context does not fix but that is cast (`$1::int`) takes the
/// cast's type, as Postgres would infer it.
fn placeholder_types(plan: &LogicalPlan) -> PgWireResult<Vec<Option<DataType>>> {
    let mut types = plan.get_parameter_types().map_err(error::datafusion_error)?;
    if types.values().any(Option::is_none) {
        plan.apply_with_subqueries(|node| {
            node.apply_expressions(|expr| {
                expr.apply(|e| {
                    if let Expr::Cast(cast) = e
                        && let Expr::Placeholder(placeholder) = &*cast.expr
                        && let Some(slot) = types.get_mut(&placeholder.id)
                        && slot.is_none()
                    {
                        *slot = Some(cast.field.data_type().clone());
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        })
        .map_err(error::datafusion_error)?;
    }
    let mut ordered = Vec::new();
    for (id, data_type) in types {
        let index =
            id.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()).filter(|n| (1..=MAX_PARAMETERS).contains(n));
        let Some(index) = index else {
            return Err(error::kind_error(
                ErrorKind::QuerySyntax,
                format!("parameter {id} is not supported: use $1 to ${MAX_PARAMETERS}"),
            ));
        };
        if ordered.len() < index {
            ordered.resize(index, None);
        }
        ordered[index - 1] = data_type;
    }
    Ok(ordered)
}

/// `plan` with the portal's parameter values in place of its placeholders,
/// decoded with the types announced at Parse.
fn bind(portal: &Portal<PreparedPlan>, plan: LogicalPlan) -> PgWireResult<LogicalPlan> {
    let stmt = &portal.statement.statement;
    let supplied = portal.parameter_len();
    let expected = stmt.wire_types.len();
    if supplied != expected {
        return Err(error::kind_error(
            ErrorKind::Protocol,
            format!("bind message supplies {supplied} parameters, but prepared statement requires {expected}"),
        ));
    }
    if expected == 0 {
        return Ok(plan);
    }
    let inferred: Vec<Option<&DataType>> = stmt.inferred.iter().map(Option::as_ref).collect();
    let server: Vec<Option<&Type>> = stmt.wire_types.iter().map(Some).collect();
    let values = deserialize_parameters_with_server_types(portal, &inferred, &server)?;
    // arrow-pg skips NULLs it decodes as its string fallback; a short list would
    // otherwise surface as an internal "no value for placeholder" error.
    if let ParamValues::List(list) = &values
        && list.len() != supplied
    {
        return Err(error::kind_error(
            ErrorKind::InvalidRequest,
            "could not decode a NULL parameter of this type; declare its type, e.g. $1::text",
        ));
    }
    plan.replace_params_with_values(&values).map_err(error::datafusion_error)
}
