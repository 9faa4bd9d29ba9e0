//! Checks parsed points against a catalog snapshot: which lines fit, which are
//! rejected (a field written with another type than its first), and which new
//! databases, tables and columns the rest need. Writes nothing.
//!
//! Types are settled in line order: a column's first type in the catalog, or
//! else its first type in this request, is the one every later line must use.

use std::collections::HashMap;

use sediment_catalog::{CatalogOp, CatalogState, ColumnKind, FieldType, MAX_COLUMNS_PER_TABLE, validate_name};

use crate::ingest::lp::{FieldValue, NumberedPoint, RejectedLine};

/// Points that fit the catalog once `ops` are applied.
#[derive(Debug, Default)]
pub struct ValidatedWrite<'a> {
    pub ops: Vec<CatalogOp>,
    pub points: Vec<NumberedPoint<'a>>,
    pub rejected: Vec<RejectedLine>,
    /// (table, tag key) of lines rejected for a type conflict: 1.x still
    /// knows those tag keys, so they become (empty) tag columns.
    pub rejected_tags: Vec<(String, String)>,
}

pub fn field_type(value: &FieldValue) -> FieldType {
    match value {
        FieldValue::Float(_) => FieldType::Float,
        FieldValue::Integer(_) => FieldType::Integer,
        FieldValue::UInteger(_) => FieldType::UInteger,
        FieldValue::String(_) => FieldType::String,
        FieldValue::Boolean(_) => FieldType::Boolean,
    }
}

/// Validates `points` for database `db` against `catalog`; `rejected_tags`
/// carries those of an earlier pass over the same request.
pub fn validate<'a>(
    catalog: &CatalogState,
    db: &str,
    points: Vec<NumberedPoint<'a>>,
    mut rejected_tags: Vec<(String, String)>,
) -> ValidatedWrite<'a> {
    let mut out = ValidatedWrite::default();
    let database = catalog.database(db);
    if database.is_none() {
        out.ops.push(CatalogOp::CreateDatabase { name: db.to_owned() });
    }
    // Columns this request adds, per table, in first-seen order.
    let mut new_columns: HashMap<String, Vec<(String, ColumnKind)>> = HashMap::new();
    let mut new_tables: Vec<String> = Vec::new();

    for numbered in points {
        let point = &numbered.point;
        let measurement = point.measurement();
        let table = database.and_then(|d| d.tables.get(measurement));
        let is_new_table = |new_tables: &[String]| new_tables.iter().any(|t| t == measurement);
        if table.is_none()
            && !is_new_table(&new_tables)
            && let Err(e) = validate_name(measurement)
        {
            out.rejected.push(RejectedLine::new(numbered.line_number, numbered.line, e.to_string()));
            continue;
        }
        let added = new_columns.get(measurement).map(Vec::as_slice).unwrap_or_default();
        // Lines of one shape name their columns in the catalog's order (the
        // first such line created them): try the column after the last match.
        let mut next = 0;
        let mut kind_of = |name: &str| -> Option<ColumnKind> {
            let columns = table.map(|t| t.columns.as_slice()).unwrap_or_default();
            let at = match columns.get(next) {
                Some(c) if c.name == name => Some(next),
                _ => columns.iter().position(|c| c.name == name),
            };
            if let Some(at) = at {
                next = at + 1;
            }
            at.map(|i| columns[i].kind).or_else(|| added.iter().find(|(n, _)| n == name).map(|(_, k)| *k))
        };
        let mut wanted: Vec<(String, ColumnKind)> = Vec::new();
        let mut reason = None;
        let mut type_conflict = false;
        let expected = point
            .tags()
            .map(|(k, _)| (k, ColumnKind::Tag))
            .chain(point.fields().map(|(k, v)| (k, ColumnKind::Field(field_type(v)))));
        for (name, kind) in expected {
            match kind_of(name) {
                Some(existing) if existing == kind => {}
                Some(existing) => {
                    type_conflict = true;
                    let (existing, kind) = (existing.to_string(), kind.to_string());
                    reason = Some(format!(
                        "column {name:?} of table {:?} is {} {existing}, but this line writes {} {kind}",
                        measurement,
                        article(&existing),
                        article(&kind),
                    ));
                    break;
                }
                None => wanted.push((name.to_string(), kind)),
            }
        }
        // Checked here, not when parsing: only a new column's name can break the rules.
        if let Some(bad) = wanted.iter().find_map(|(name, _)| validate_name(name).err()) {
            out.rejected.push(RejectedLine {
                syntax: true,
                ..RejectedLine::new(numbered.line_number, numbered.line, bad.to_string())
            });
            continue;
        }
        let existing_count = table.map_or(1, |t| t.columns.len()) + added.len();
        if reason.is_none() && existing_count + wanted.len() > MAX_COLUMNS_PER_TABLE {
            reason = Some(format!("table {measurement:?} would have more than {MAX_COLUMNS_PER_TABLE} columns"));
        }
        if let Some(reason) = reason {
            // 1.x indexes a rejected line's series before it checks field
            // types, so its new tag keys show up (with no values); so here.
            if type_conflict {
                let tags = wanted.into_iter().filter(|(_, kind)| *kind == ColumnKind::Tag);
                rejected_tags.extend(tags.map(|(name, _)| (measurement.to_owned(), name)));
            }
            out.rejected.push(RejectedLine::new(numbered.line_number, numbered.line, reason));
            continue;
        }
        if table.is_none() && !is_new_table(&new_tables) {
            new_tables.push(measurement.to_owned());
        }
        if !wanted.is_empty() {
            new_columns.entry(measurement.to_owned()).or_default().extend(wanted);
        }
        out.points.push(numbered);
    }

    for (table, tag) in &rejected_tags {
        let known = database.and_then(|d| d.tables.get(table)).is_some_and(|t| t.column(tag).is_some());
        let columns = new_columns.entry(table.clone()).or_default();
        let exists = database.is_some_and(|d| d.tables.contains_key(table)) || new_tables.contains(table);
        if exists && !known && !columns.iter().any(|(name, _)| name == tag) {
            columns.push((tag.clone(), ColumnKind::Tag));
        }
    }
    new_columns.retain(|_, columns| !columns.is_empty());
    for table in new_tables {
        out.ops.push(CatalogOp::CreateTable { db: db.to_owned(), table });
    }
    let mut tables: Vec<_> = new_columns.into_iter().collect();
    tables.sort_by(|a, b| a.0.cmp(&b.0));
    for (table, columns) in tables {
        out.ops.push(CatalogOp::AddColumns { db: db.to_owned(), table, columns });
    }
    if out.points.is_empty() {
        out.ops.clear();
    }
    out.rejected_tags = rejected_tags;
    out
}

/// "a float field", "an integer field".
fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::lp::{Precision, parse_body};

    fn check<'a>(catalog: &CatalogState, body: &'a str) -> ValidatedWrite<'a> {
        let (points, rejected) = parse_body(body, Precision::Nanosecond, 0);
        assert!(rejected.is_empty(), "{rejected:?}");
        validate(catalog, "db", points, Vec::new())
    }

    #[test]
    fn first_write_creates_database_table_and_columns() {
        let v = check(&CatalogState::default(), "cpu,host=a usage=1.5,n=3i 1");
        assert_eq!(v.points.len(), 1);
        assert_eq!(v.ops.len(), 3, "{:?}", v.ops);
        assert!(matches!(&v.ops[0], CatalogOp::CreateDatabase { name } if name == "db"));
    }

    #[test]
    fn a_conflicting_type_rejects_that_line_only() {
        let v =
            check(&CatalogState::default(), "cpu usage=1.5 1\ncpu usage=\"x\" 2\ncpu usage=2.5 3\ncpu,usage=t v=1 4");
        assert_eq!(v.points.len(), 2);
        let numbers: Vec<_> = v.rejected.iter().map(|r| r.line_number).collect();
        assert_eq!(numbers, [2, 4]);
        assert!(v.rejected[0].reason.contains("float field"), "{}", v.rejected[0].reason);
    }

    #[tokio::test]
    async fn a_type_conflicted_line_still_adds_its_tag_keys() {
        let catalog =
            sediment_catalog::Catalog::load(std::sync::Arc::new(object_store::memory::InMemory::new())).await.unwrap();
        let first = check(&catalog.snapshot(), "m v=1i 1\n");
        let state = catalog.apply(first.ops).await.unwrap();
        let v = check(&state, "m v=2i 2\nm,t=x v=true 4\n");
        assert_eq!(v.rejected.len(), 1);
        assert!(
            v.ops.iter().any(|op| matches!(op, CatalogOp::AddColumns { columns, .. } if columns == &[("t".to_owned(), ColumnKind::Tag)])),
            "{:?}",
            v.ops
        );
    }

    #[test]
    fn new_columns_with_names_the_catalog_refuses_reject_their_line_only() {
        let long = "f".repeat(300);
        let body = format!("cpu,t\u{1}x=1 v=1 1\ncpu v=2 2\ncpu {long}=3 3\ncpu,t=a v=4 4");
        let v = check(&CatalogState::default(), &body);
        let numbers: Vec<_> = v.rejected.iter().map(|r| (r.line_number, r.syntax)).collect();
        assert_eq!(numbers, [(1, true), (3, true)], "{:?}", v.rejected);
        assert!(v.rejected[0].reason.contains("control"), "{}", v.rejected[0].reason);
        assert!(v.rejected[1].reason.contains("255"), "{}", v.rejected[1].reason);
        assert_eq!(v.points.len(), 2);
        let added = format!("{:?}", v.ops);
        assert!(!added.contains("\\u{1}") && !added.contains(&long), "{added}");
    }

    #[test]
    fn nothing_to_create_when_every_line_is_rejected() {
        let v = check(&CatalogState::default(), "");
        assert!(v.ops.is_empty());
    }
}
