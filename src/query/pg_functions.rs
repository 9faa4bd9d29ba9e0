//! Functions Postgres clients call that DataFusion lacks or spells differently.
//! Registered on Postgres sessions, after datafusion-pg-catalog's own.

use std::sync::Arc;

use datafusion::arrow::array::StringBuilder;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

pub(crate) fn register(ctx: &SessionContext) {
    if let Ok(inner) = ctx.udf("to_timestamp") {
        ctx.register_udf(ScalarUDF::new_from_impl(PgToTimestamp { inner }));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(OidVectorTypeNames {
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject {
        signature: Signature::variadic_any(Volatility::Immutable),
    }));
    ctx.register_udaf(datafusion::logical_expr::AggregateUDF::new_from_impl(
        crate::query::percentile::PercentileDisc::new(),
    ));
    // Answers that are the same for every argument: SQLAlchemy's reflection
    // asks about collations and sequences, psql and DBeaver about comments and
    // owners. Any argument types, because clients pass oids, int literals and text.
    for (name, arities, value) in [
        ("pg_collation_is_visible", &[1][..], ScalarValue::Boolean(Some(true))),
        ("pg_get_serial_sequence", &[2], ScalarValue::Utf8(None)),
        ("obj_description", &[1, 2], ScalarValue::Utf8(None)),
        ("col_description", &[2], ScalarValue::Utf8(None)),
        ("shobj_description", &[2], ScalarValue::Utf8(None)),
        ("pg_get_userbyid", &[1], ScalarValue::Utf8(Some(OWNER.to_owned()))),
        // Pools call it when handing a connection back; no session holds advisory locks.
        ("pg_advisory_unlock_all", &[0], ScalarValue::Null),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(Constant::new(name, arities, value)));
    }
}

/// The owner every catalog object reports (datafusion-pg-catalog's choice too).
const OWNER: &str = "postgres";

/// A function whose answer does not depend on its arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: &'static str,
    signature: Signature,
    value: ScalarValue,
}

impl Constant {
    fn new(name: &'static str, arities: &[usize], value: ScalarValue) -> Self {
        let signature = Signature::one_of(
            arities
                .iter()
                .map(|&n| match n {
                    0 => datafusion::logical_expr::TypeSignature::Nullary,
                    n => datafusion::logical_expr::TypeSignature::Any(n),
                })
                .collect(),
            Volatility::Stable,
        );
        Self { name, signature, value }
    }
}

impl ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.value.data_type())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value.clone()))
    }
}

/// `to_timestamp(text, template)` with Postgres templates (`YYYY-MM-DD HH24:MI:SS`),
/// which BI tools send, translated to DataFusion's chrono formats; every other
/// form is DataFusion's `to_timestamp` unchanged.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgToTimestamp {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for PgToTimestamp {
    fn name(&self) -> &str {
        "to_timestamp"
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        for arg in args.args.iter_mut().skip(1) {
            if let ColumnarValue::Scalar(ScalarValue::Utf8(Some(format))) = arg
                && !format.contains('%')
            {
                *format = chrono_format(format);
            }
        }
        self.inner.invoke_with_args(args)
    }
}

/// `pg_oidvector_type_names('23 25')` → `[integer, text]`: what
/// `proargtypes::regtype[]::text[]` means (pgcli's function completion; the
/// SQL front end rewrites the casts into this call). Our `pg_proc` keeps
/// oidvectors as text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct OidVectorTypeNames {
    signature: Signature,
}

impl ScalarUDFImpl for OidVectorTypeNames {
    fn name(&self) -> &str {
        "pg_oidvector_type_names"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(DataType::Utf8, true))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::{Array, AsArray, ListBuilder};
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let vectors = arrays[0].as_string::<i32>();
        let mut out = ListBuilder::new(StringBuilder::new());
        for i in 0..vectors.len() {
            if vectors.is_null(i) {
                out.append_null();
                continue;
            }
            let oids = vectors.value(i).split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
            for oid in oids {
                let name = oid
                    .parse::<u32>()
                    .ok()
                    .and_then(pgwire::api::Type::from_oid)
                    .map_or_else(|| oid.to_owned(), |ty| crate::query::information_schema::standard_name(&ty));
                out.values().append_value(name);
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `json_build_object(key, value, ...)` as JSON text (SQLAlchemy's column reflection).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return plan_err!("json_build_object needs an even number of arguments, key then value");
        }
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = StringBuilder::new();
        for row in 0..rows {
            let mut object = serde_json::Map::new();
            for pair in arrays.chunks(2) {
                let key = ScalarValue::try_from_array(&pair[0], row)?.to_string();
                object.insert(key, json_value(&ScalarValue::try_from_array(&pair[1], row)?));
            }
            out.append_value(serde_json::Value::Object(object).to_string());
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

fn json_value(value: &ScalarValue) -> serde_json::Value {
    use serde_json::Value as J;
    if value.is_null() {
        return J::Null;
    }
    match value {
        ScalarValue::Boolean(Some(b)) => J::Bool(*b),
        ScalarValue::Int8(Some(_))
        | ScalarValue::Int16(Some(_))
        | ScalarValue::Int32(Some(_))
        | ScalarValue::Int64(Some(_))
        | ScalarValue::UInt8(Some(_))
        | ScalarValue::UInt16(Some(_))
        | ScalarValue::UInt32(Some(_))
        | ScalarValue::UInt64(Some(_))
        | ScalarValue::Float32(Some(_))
        | ScalarValue::Float64(Some(_)) => {
            serde_json::from_str(&value.to_string()).unwrap_or_else(|_| J::String(value.to_string()))
        }
        other => J::String(other.to_string()),
    }
}

/// Postgres template patterns, longest first so `HH24` wins over `HH`.
const PATTERNS: &[(&str, &str)] = &[
    ("YYYY", "%Y"),
    ("HH24", "%H"),
    ("HH12", "%I"),
    ("Month", "%B"),
    ("Mon", "%b"),
    ("MM", "%m"),
    ("DD", "%d"),
    ("HH", "%I"),
    ("MI", "%M"),
    ("SS", "%S"),
    ("US", "%6f"),
    ("MS", "%3f"),
    ("AM", "%p"),
    ("PM", "%p"),
    ("YY", "%y"),
];

fn chrono_format(template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 8);
    let mut rest = template;
    'outer: while !rest.is_empty() {
        for (pattern, chrono) in PATTERNS {
            if let Some(after) = rest.strip_prefix(pattern) {
                out.push_str(chrono);
                rest = after;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_keep_their_json_types() {
        assert_eq!(json_value(&ScalarValue::Int64(Some(3))), serde_json::json!(3));
        assert_eq!(json_value(&ScalarValue::Boolean(Some(true))), serde_json::json!(true));
        assert_eq!(json_value(&ScalarValue::Utf8(Some("a".into()))), serde_json::json!("a"));
        assert_eq!(json_value(&ScalarValue::Int64(None)), serde_json::Value::Null);
    }

    #[test]
    fn postgres_templates_become_chrono_formats() {
        assert_eq!(chrono_format("YYYY-MM-DD HH24:MI:SS.US"), "%Y-%m-%d %H:%M:%S.%6f");
        assert_eq!(chrono_format("DD Mon YYYY HH12:MI AM"), "%d %b %Y %I:%M %p");
    }
}
