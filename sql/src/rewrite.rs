//! Postgres forms that DataFusion does not plan, rewritten on the AST. Some run
//! before datafusion-pg-catalog's rewriting parser, on the client's own text;
//! the rest run on its output.

use std::iter;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArguments, GroupByExpr, JoinOperator, OrderBy, OrderByKind, Query, SelectItem,
    SetExpr, Statement, TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Postgres forms that the rewriting parser does not handle, rewritten on the
/// AST before it runs. `None` when there is nothing to change, so other texts
/// keep their exact error positions.
///
/// - `'pg_catalog.array_in'::regproc`: pgjdbc compares `pg_type.typinput` (a
///   function name in our `pg_type`) with it. The rewriting parser would turn
///   the cast into an oid lookup, and the comparison into casting every name to
///   an integer; comparing names is what the client asks.
/// - `oid::regtype::text`: the type's name, `format_type(oid, NULL)`; the
///   rewriting parser would give the number.
/// - `user`, unquoted: Postgres' `current_user`.
/// - A function in FROM with an alias and no column list (`generate_series(1, 3)
///   AS i`, `string_to_array(x, ',') s`): in Postgres its one column takes the
///   alias' name, which Grafana's table listing relies on. It becomes a derived
///   table with that column.
///
/// - `x IN (SELECT ... string_to_array(current_setting('search_path'), ',') ...)`:
///   Grafana's table listing asks whether a schema is on the search path with a
///   subquery over `generate_series` that the rewriting parser blanks out
///   (every table then looks off the path, so Grafana qualifies them all). It
///   becomes `array_has` over the session's search_path, which needs no subquery.
/// - A scalar subquery over catalog tables with no aggregate (SQLAlchemy's column
///   reflection looks up defaults, collations and sequences this way):
///   DataFusion runs correlated scalar subqueries only when they are aggregated,
///   so the one column becomes `max(column)`. The lookups are by key, so at most
///   one row matches, and `max` of one row is the row.
///
/// The first two must run before the rewriting parser (which would turn the cast
/// into a subquery and blank the search-path test); the rest run on its output,
/// so the token patterns it matches against known client queries still see the
/// client's own text.
pub(crate) fn postgres_rewrites(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("regproc") && !lower.contains("search_path") && !lower.contains("regtype") {
        return None;
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, text).ok()?;
    let mut rewriter = Rewriter { changed: false, casts: true, from_functions: false };
    let _ = statements.visit(&mut rewriter);
    rewriter.changed.then(|| statements.iter().map(ToString::to_string).collect::<Vec<_>>().join(";\n"))
}

pub(crate) fn rewrite_from_functions(statements: &mut [Statement]) {
    let mut rewriter = Rewriter { changed: false, casts: false, from_functions: true };
    for statement in statements {
        let _ = statement.visit(&mut rewriter);
    }
}

/// Functions callable in FROM, and the column DataFusion gives their rows
/// (`None`: a scalar function, evaluated once).
const FROM_FUNCTIONS: &[(&str, Option<&str>)] =
    &[("generate_series", Some("value")), ("string_to_array", None), ("current_schemas", None)];

/// DataFusion runs `x IN (subquery)` only as a filter; in a SELECT list or ORDER
/// BY (Grafana puts one in a CASE) it becomes the equivalent aggregated, correlated
/// scalar subquery. NULL handling differs only where Postgres would answer NULL
/// instead of false, which a CASE treats alike.
fn in_subqueries_to_counts(expr: &mut Expr) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(expr, |e| {
        if let Expr::InSubquery { expr: needle, subquery, negated } = e {
            let text = format!(
                "{}(SELECT count(*) > 0 FROM ({subquery}) AS __in_list(v) WHERE __in_list.v = {needle})",
                if *negated { "NOT " } else { "" }
            );
            if let Ok(replacement) = parse_expr(&text) {
                *e = replacement;
                changed = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// What [`cast_placeholders`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct CastPlaceholders {
    pub text: String,
    /// Parameters (0-based) the client left untyped that were taken as `TEXT[]`.
    pub text_arrays: Vec<usize>,
}

/// `text` with each `$n` whose type the client declared as `declared[n-1]` (an
/// SQL type such as `TEXT[]`) written `CAST($n AS type)`, and each untyped `$n`
/// that is the array of `x = ANY($n)` written `CAST($n AS TEXT[])`, the type
/// Postgres would infer for a text element. DataFusion cannot infer a
/// parameter's type there; psycopg 3 (and so pgcli) sends exactly that, with
/// the list as an untyped `{r,p}`. `None` when nothing changes.
pub fn cast_placeholders(text: &str, declared: &[Option<String>]) -> Option<CastPlaceholders> {
    if !text.contains('$') {
        return None;
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, text).ok()?;
    let index = |e: &Expr| match e {
        Expr::Value(ValueWithSpan { value: Value::Placeholder(name), .. }) => {
            name.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()).and_then(|n| n.checked_sub(1))
        }
        _ => None,
    };
    let mut text_arrays = Vec::new();
    let mut changed = false;
    for statement in &mut statements {
        let _ = visit_expressions_mut(statement, |e| {
            if let Expr::AnyOp { right, .. } = e
                && let Some(i) = index(right)
                && declared.get(i).is_none_or(Option::is_none)
                && let Ok(cast) = parse_expr(&format!("CAST({right} AS TEXT[])"))
            {
                **right = cast;
                text_arrays.push(i);
                changed = true;
            } else if let Some(i) = index(e)
                && let Some(Some(ty)) = declared.get(i)
                && let Ok(cast) = parse_expr(&format!("CAST({e} AS {ty})"))
            {
                *e = cast;
                changed = true;
            }
            ControlFlow::<()>::Continue(())
        });
    }
    let text = statements.iter().map(ToString::to_string).collect::<Vec<_>>().join(";\n");
    changed.then_some(CastPlaceholders { text, text_arrays })
}

fn is_regtype_cast(e: &Expr) -> bool {
    matches!(e, Expr::Cast { data_type, .. } if data_type.to_string().eq_ignore_ascii_case("regtype"))
}

/// Removes `::regtype[]` casts in `e` (directly or as COALESCE arguments);
/// true when there was at least one.
fn strip_regtype_array_casts(e: &mut Expr) -> bool {
    let mut found = false;
    let _ = visit_expressions_mut(e, |inner| {
        if let Expr::Cast { expr: value, data_type, .. } = inner
            && data_type.to_string().eq_ignore_ascii_case("regtype[]")
        {
            *inner = value.as_ref().clone();
            found = true;
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

fn parse_expr(text: &str) -> Result<Expr, datafusion::sql::sqlparser::parser::ParserError> {
    Parser::new(&PostgreSqlDialect {}).try_with_sql(text).and_then(|mut p| p.parse_expr())
}

/// Aggregates that already make a scalar subquery return one row.
const AGGREGATES: &[&str] =
    &["count", "sum", "min", "max", "avg", "bool_and", "bool_or", "array_agg", "string_agg", "every"];

/// Wraps the one column of `query` in `max()` when it is a plain lookup in
/// catalog tables. Returns the conditions taken out of its WHERE because they
/// test only a boolean column of the outer query (`WHERE outer.atthasdef AND
/// ...`), which DataFusion cannot decorrelate; the caller guards the subquery
/// with them instead. `None` when the subquery is left alone.
fn aggregate_catalog_lookup(query: &mut Query) -> Option<Vec<Expr>> {
    if query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if grouped || select.having.is_some() || select.distinct.is_some() || select.projection.len() != 1 {
        return None;
    }
    let mut names = Vec::new();
    for factor in select.from.iter().flat_map(|t| iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation))) {
        let TableFactor::Table { name, args: None, alias, .. } = factor else {
            return None;
        };
        let full = name.to_string().to_ascii_lowercase();
        if !full.starts_with("pg_") && !full.starts_with("information_schema.") {
            return None;
        }
        names.push(full.rsplit('.').next().unwrap_or(&full).to_owned());
        names.push(full);
        if let Some(alias) = alias {
            names.push(alias.name.value.to_ascii_lowercase());
        }
    }
    if names.is_empty() {
        return None;
    }
    let (SelectItem::UnnamedExpr(column) | SelectItem::ExprWithAlias { expr: column, .. }) = &mut select.projection[0]
    else {
        return None;
    };
    if let Expr::Function(f) = &*column
        && AGGREGATES.iter().any(|a| f.name.to_string().eq_ignore_ascii_case(a))
    {
        return None;
    }
    *column = parse_expr(&format!("max({column})")).ok()?;

    let is_outer_flag = |e: &Expr| match e {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let qualifier = parts[..parts.len() - 1].iter().map(|p| p.value.as_str()).collect::<Vec<_>>().join(".");
            let qualifier = qualifier.to_ascii_lowercase();
            let last = qualifier.rsplit('.').next().unwrap_or(&qualifier).to_owned();
            !names.contains(&qualifier) && !names.contains(&last)
        }
        _ => false,
    };
    let mut conjuncts = Vec::new();
    if let Some(selection) = select.selection.take() {
        split_conjunction(selection, &mut conjuncts);
    }
    let (outer, inner): (Vec<Expr>, Vec<Expr>) = conjuncts.into_iter().partition(is_outer_flag);
    select.selection = inner.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    });
    Some(outer)
}

/// Catalog tables that hold no rows in sediment: there are no sequences,
/// column defaults, table inheritance or triggers.
const ALWAYS_EMPTY: &[&str] = &["pg_sequence", "pg_attrdef", "pg_inherits", "pg_trigger"];

/// A scalar subquery that inner-joins an always-empty table answers NULL. The
/// lookups SQLAlchemy makes into them (identity options through
/// `pg_get_serial_sequence(...)::regclass`) are correlated in ways DataFusion
/// cannot plan, so knowing the answer is what makes them work.
fn reads_an_always_empty_table(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let empty = |factor: &TableFactor| match factor {
        TableFactor::Table { name, .. } => {
            let name = name.to_string().to_ascii_lowercase();
            ALWAYS_EMPTY.contains(&name.trim_start_matches("pg_catalog."))
        }
        _ => false,
    };
    select.from.iter().any(|t| {
        empty(&t.relation)
            || t.joins.iter().any(|j| {
                matches!(j.join_operator, JoinOperator::Join(_) | JoinOperator::Inner(_)) && empty(&j.relation)
            })
    })
}

fn split_conjunction(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            split_conjunction(*left, out);
            split_conjunction(*right, out);
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => {
            split_conjunction(*inner, out);
        }
        other => out.push(other),
    }
}

struct Rewriter {
    changed: bool,
    casts: bool,
    from_functions: bool,
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // `user` unquoted is Postgres' `current_user` (it is a reserved word, so
        // a column of that name is always quoted); Grafana's table listing uses it.
        if self.from_functions
            && let Expr::Function(function) = expr
            && matches!(function.args, FunctionArguments::None)
            && function.name.to_string().eq_ignore_ascii_case("user")
            && let Ok(function) =
                Parser::new(&PostgreSqlDialect {}).try_with_sql("session_user()").and_then(|mut p| p.parse_expr())
        {
            *expr = function;
            self.changed = true;
        }
        if self.casts
            && let Expr::InSubquery { expr: needle, subquery, negated } = expr
            && subquery.to_string().to_ascii_lowercase().contains("current_setting('search_path')")
        {
            let text = format!(
                "{}array_has(string_to_array(regexp_replace(current_setting('search_path'), '[\\s\"]', '', 'g'), ','), {needle})",
                if *negated { "NOT " } else { "" }
            );
            if let Ok(replacement) = parse_expr(&text) {
                *expr = replacement;
                self.changed = true;
            }
        }
        if self.from_functions
            && let Expr::Subquery(query) = expr
            && reads_an_always_empty_table(query)
        {
            *expr = Expr::Value(Value::Null.with_empty_span());
            self.changed = true;
        }
        if self.from_functions
            && let Expr::Subquery(query) = expr
            && let Some(outer_conditions) = aggregate_catalog_lookup(query)
        {
            self.changed = true;
            if !outer_conditions.is_empty() {
                let conditions = outer_conditions.iter().map(ToString::to_string).collect::<Vec<_>>().join(" AND ");
                if let Ok(guarded) = parse_expr(&format!("CASE WHEN {conditions} THEN ({query}) END")) {
                    *expr = guarded;
                }
            }
        }
        // `oids::regtype[]::text[]` (also inside COALESCE) is the types' names.
        if self.casts
            && let Expr::Cast { expr: inner, data_type, .. } = expr
            && data_type.to_string().to_lowercase() == "text[]"
            && strip_regtype_array_casts(inner)
            && let Ok(names) = parse_expr(&format!("pg_oidvector_type_names({inner})"))
        {
            *expr = names;
            self.changed = true;
        }
        // `a::regtype != 'trigger'::regtype` compares type names.
        if self.casts
            && let Expr::BinaryOp { left, right, .. } = expr
            && is_regtype_cast(left)
            && is_regtype_cast(right)
        {
            for side in [left, right] {
                if let Expr::Cast { expr: value, .. } = side.as_mut() {
                    let replacement = match value.as_ref() {
                        Expr::Value(_) => Ok(value.as_ref().clone()),
                        other => parse_expr(&format!("format_type({other}, NULL)")),
                    };
                    if let Ok(replacement) = replacement {
                        **side = replacement;
                        self.changed = true;
                    }
                }
            }
        }
        // `oid::regtype::text` is the type's name (pgcli's column completion).
        if self.casts
            && let Expr::Cast { expr: inner, data_type, .. } = expr
            && matches!(data_type.to_string().to_lowercase().as_str(), "text" | "varchar" | "name")
            && let Expr::Cast { expr: oid, data_type: inner_type, .. } = inner.as_ref()
            && inner_type.to_string().to_lowercase().trim_start_matches("pg_catalog.") == "regtype"
            && let Ok(name) = parse_expr(&format!("format_type({oid}, NULL)"))
        {
            *expr = name;
            self.changed = true;
        }
        if self.casts
            && let Expr::Cast { expr: inner, data_type, .. } = expr
            && data_type.to_string().to_lowercase().trim_start_matches("pg_catalog.") == "regproc"
            && let Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(name), .. }) = inner.as_ref()
        {
            let bare = name.rsplit('.').next().unwrap_or(name).to_owned();
            *expr = Expr::Value(Value::SingleQuotedString(bare).with_empty_span());
            self.changed = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if !self.from_functions {
            return ControlFlow::Continue(());
        }
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                    self.changed |= in_subqueries_to_counts(expr);
                }
            }
        }
        if let Some(OrderBy { kind: OrderByKind::Expressions(exprs), .. }) = &mut query.order_by {
            for order in exprs {
                self.changed |= in_subqueries_to_counts(&mut order.expr);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if !self.from_functions {
            return ControlFlow::Continue(());
        }
        let TableFactor::Table { name, args: Some(_), alias: Some(alias), .. } = factor else {
            return ControlFlow::Continue(());
        };
        if !alias.columns.is_empty() {
            return ControlFlow::Continue(());
        }
        let function = name.to_string().to_lowercase();
        let Some((_, column)) = FROM_FUNCTIONS.iter().find(|(f, _)| function.trim_start_matches("pg_catalog.") == *f)
        else {
            return ControlFlow::Continue(());
        };
        let alias_name = alias.name.clone();
        let mut call = factor.clone();
        if let TableFactor::Table { alias, .. } = &mut call {
            *alias = None;
        }
        let derived = match column {
            Some(column) => format!("SELECT * FROM (SELECT {column} AS {alias_name} FROM {call}) AS {alias_name}"),
            None => format!("SELECT * FROM (SELECT {call} AS {alias_name}) AS {alias_name}"),
        };
        if let Ok(mut parsed) = Parser::parse_sql(&PostgreSqlDialect {}, &derived)
            && let Some(Statement::Query(query)) = parsed.pop()
            && let SetExpr::Select(select) = *query.body
            && let Some(from) = select.from.into_iter().next()
        {
            *factor = from.relation;
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regproc_casts_of_literals_become_function_names() {
        let text = "SELECT typinput='pg_catalog.array_in'::regproc AS is_array FROM t";
        let rewritten = postgres_rewrites(text).expect("rewritten");
        assert!(rewritten.contains("typinput = 'array_in'"), "{rewritten}");
        assert_eq!(postgres_rewrites("SELECT 1"), None);
    }

    #[test]
    fn search_path_membership_needs_no_subquery() {
        let text = "SELECT quote_ident(table_schema) IN (SELECT trim(s[i]) FROM generate_series(1, 2) AS i, \
                    string_to_array(current_setting('search_path'), ',') s) FROM information_schema.tables";
        let rewritten = postgres_rewrites(text).expect("rewritten");
        assert!(
            rewritten.contains("array_has(string_to_array(regexp_replace(current_setting('search_path')"),
            "{rewritten}"
        );
        assert!(!rewritten.contains("generate_series"), "{rewritten}");
    }

    #[test]
    fn catalog_lookups_are_aggregated_and_guarded_by_outer_flags() {
        let mut statements = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT (SELECT t.typname FROM pg_catalog.pg_type t WHERE a.atthasdef AND t.oid = a.atttypid) \
             FROM pg_catalog.pg_attribute a",
        )
        .expect("parses");
        rewrite_from_functions(&mut statements);
        let rewritten = statements[0].to_string();
        assert!(
            rewritten.contains("CASE WHEN a.atthasdef THEN (SELECT max(t.typname) FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) END"),
            "{rewritten}"
        );
        let mut user_table =
            Parser::parse_sql(&PostgreSqlDialect {}, "SELECT (SELECT v FROM cpu) FROM mem").expect("parses");
        rewrite_from_functions(&mut user_table);
        assert_eq!(user_table[0].to_string(), "SELECT (SELECT v FROM cpu) FROM mem", "only catalog tables");
    }

    #[test]
    fn lookups_in_always_empty_catalog_tables_are_null() {
        let mut statements = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT (SELECT s.seqstart FROM pg_catalog.pg_sequence s WHERE s.seqrelid = a.attrelid) FROM pg_attribute a",
        )
        .expect("parses");
        rewrite_from_functions(&mut statements);
        assert_eq!(statements[0].to_string(), "SELECT NULL FROM pg_attribute a");
    }

    #[test]
    fn declared_array_parameters_are_cast() {
        let casts = [None, Some("BIGINT[]".to_owned())];
        let rewritten = cast_placeholders("SELECT 1 FROM t WHERE a = $1 AND b = ANY($2)", &casts).expect("rewritten");
        assert_eq!(rewritten.text, "SELECT 1 FROM t WHERE a = $1 AND b = ANY(CAST($2 AS BIGINT[]))");
        assert!(rewritten.text_arrays.is_empty());
        let untyped = cast_placeholders("SELECT 1 FROM t WHERE k = ANY($1)", &[None]).expect("rewritten");
        assert_eq!(untyped.text, "SELECT 1 FROM t WHERE k = ANY(CAST($1 AS TEXT[]))");
        assert_eq!(untyped.text_arrays, [0]);
        assert_eq!(cast_placeholders("SELECT $1", &[None]), None);
    }

    #[test]
    fn regtype_names_are_format_type() {
        let rewritten =
            postgres_rewrites("SELECT att.atttypid::regtype::text FROM pg_attribute att").expect("rewritten");
        assert_eq!(rewritten, "SELECT format_type(att.atttypid, NULL) FROM pg_attribute att");
    }

    #[test]
    fn regtype_arrays_and_comparisons_become_names() {
        let text = "SELECT COALESCE(proallargtypes::regtype[], proargtypes::regtype[])::text[] FROM pg_proc p \
                    WHERE p.prorettype::regtype != 'trigger'::regtype";
        let rewritten = postgres_rewrites(text).expect("rewritten");
        assert_eq!(
            rewritten,
            "SELECT pg_oidvector_type_names(COALESCE(proallargtypes, proargtypes)) FROM pg_proc p \
             WHERE format_type(p.prorettype, NULL) <> 'trigger'"
        );
    }
}
