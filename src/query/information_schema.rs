//! `information_schema` for Postgres sessions: DataFusion's own, except that
//! `columns` answers Postgres type names (`data_type` in the SQL standard's
//! spelling, plus `udt_name`), because Grafana's query builder, Metabase and
//! SQLAlchemy read them to decide what a column is; `Utf8` or `Timestamp(ns)`
//! means nothing to them.

use std::str::FromStr as _;
use std::sync::Arc;

use arrow::array::{Array, AsArray, StringBuilder};
use arrow::datatypes::DataType;
use async_trait::async_trait;
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::col;
use pgwire::api::Type;

#[derive(Debug)]
pub(crate) struct PgInformationSchema {
    inner: InformationSchemaProvider,
}

impl PgInformationSchema {
    pub(crate) fn new(catalogs: Arc<dyn CatalogProviderList>) -> Self {
        Self { inner: InformationSchemaProvider::new(catalogs) }
    }
}

#[async_trait]
impl SchemaProvider for PgInformationSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match self.inner.table(name).await? {
            Some(columns) if name == "columns" => Ok(Some(columns_view(columns)?)),
            other => Ok(other),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// DataFusion's `columns` with `data_type` translated and `udt_name` added.
fn columns_view(columns: Arc<dyn TableProvider>) -> Result<Arc<dyn TableProvider>> {
    let scan = LogicalPlanBuilder::scan("columns", provider_as_source(Arc::clone(&columns)), None)?;
    let standard = Arc::new(ScalarUDF::new_from_impl(PgTypeName::new(true)));
    let udt = Arc::new(ScalarUDF::new_from_impl(PgTypeName::new(false)));
    let mut exprs = Vec::new();
    for field in columns.schema().fields() {
        if field.name() == "data_type" {
            exprs.push(standard.call(vec![col("data_type")]).alias("data_type"));
            exprs.push(udt.call(vec![col("data_type")]).alias("udt_name"));
        } else {
            exprs.push(col(field.name().as_str()));
        }
    }
    let plan = scan.project(exprs)?.build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// The Postgres type a column of this Arrow type has on the wire (the
/// mapping of arrow-pg, which encodes our results).
fn pg_type(arrow_type: &str) -> Option<Type> {
    let data_type = DataType::from_str(arrow_type).ok()?;
    let data_type = match data_type {
        DataType::Dictionary(_, value) => *value,
        other => other,
    };
    arrow_pg::datatypes::into_pg_type(&data_type).ok()
}

/// `information_schema.columns.data_type` spells types as the SQL standard
/// does, and so does `regtype`'s text.
pub(crate) fn standard_name(ty: &Type) -> String {
    match *ty {
        Type::BOOL => "boolean".to_owned(),
        Type::INT2 => "smallint".to_owned(),
        Type::INT4 => "integer".to_owned(),
        Type::INT8 => "bigint".to_owned(),
        Type::FLOAT4 => "real".to_owned(),
        Type::FLOAT8 => "double precision".to_owned(),
        Type::VARCHAR => "character varying".to_owned(),
        Type::TIMESTAMP => "timestamp without time zone".to_owned(),
        Type::TIMESTAMPTZ => "timestamp with time zone".to_owned(),
        Type::TIME => "time without time zone".to_owned(),
        // Array types are the ones whose names start with an underscore (`_int8`).
        _ if ty.name().starts_with('_') => "ARRAY".to_owned(),
        _ => ty.name().to_owned(),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeName {
    standard: bool,
    signature: Signature,
}

impl PgTypeName {
    fn new(standard: bool) -> Self {
        Self { standard, signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for PgTypeName {
    fn name(&self) -> &str {
        if self.standard { "pg_standard_type_name" } else { "pg_udt_name" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = |arrow_type: &str| match pg_type(arrow_type) {
            Some(ty) if self.standard => standard_name(&ty),
            Some(ty) => ty.name().to_owned(),
            None => arrow_type.to_owned(),
        };
        match &args.args[..] {
            [ColumnarValue::Scalar(ScalarValue::Utf8(value))] => {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(value.as_deref().map(name))))
            }
            [ColumnarValue::Array(array)] => {
                let strings = array.as_string::<i32>();
                let mut out = StringBuilder::with_capacity(strings.len(), strings.len() * 8);
                for i in 0..strings.len() {
                    if strings.is_null(i) {
                        out.append_null();
                    } else {
                        out.append_value(name(strings.value(i)));
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish())))
            }
            _ => exec_err!("{} takes one text argument", self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_types_get_postgres_names() {
        let cases = [
            ("Utf8", "text", "text"),
            ("Dictionary(Int32, Utf8)", "text", "text"),
            ("Float64", "double precision", "float8"),
            ("Int64", "bigint", "int8"),
            ("UInt64", "numeric", "numeric"),
            ("Boolean", "boolean", "bool"),
            ("Timestamp(ns)", "timestamp without time zone", "timestamp"),
            ("Timestamp(ns, \"UTC\")", "timestamp with time zone", "timestamptz"),
        ];
        for (arrow, standard, udt) in cases {
            let ty = pg_type(arrow).unwrap_or_else(|| panic!("{arrow} should parse"));
            assert_eq!(standard_name(&ty), standard, "{arrow}");
            assert_eq!(ty.name(), udt, "{arrow}");
        }
    }
}
