//! Per-connection Postgres settings: what `SET` changes, `SHOW` reads and
//! `RESET` restores. They live in the frontend because they are the protocol's
//! business; nothing here reaches DataFusion's own configuration, which is
//! shared and must not be changed by a client.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

use ::pgwire::error::PgWireError;

use crate::error::ErrorKind;
use crate::pgwire::error::kind_error;

/// Every setting a client can read, with its value at connection start.
const DEFAULTS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("bytea_output", "hex"),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("default_transaction_isolation", "read committed"),
    ("default_transaction_read_only", "on"),
    ("extra_float_digits", "1"),
    ("idle_in_transaction_session_timeout", "0"),
    ("integer_datetimes", "on"),
    ("intervalstyle", "postgres"),
    ("is_superuser", "off"),
    ("lc_collate", "C.UTF-8"),
    ("lc_ctype", "C.UTF-8"),
    ("lock_timeout", "0"),
    ("max_identifier_length", "63"),
    ("search_path", "\"$user\", public"),
    ("sediment.query_language", "sql"),
    ("server_encoding", "UTF8"),
    ("server_version", "15.0"),
    ("server_version_num", "150000"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "on"),
];

/// Facts about the server that no session can change.
const FIXED: &[&str] = &[
    "integer_datetimes",
    "is_superuser",
    "lc_collate",
    "lc_ctype",
    "max_identifier_length",
    "server_encoding",
    "server_version",
    "server_version_num",
    "transaction_read_only",
];

/// Settings Postgres reports with ParameterStatus when they change, and the
/// spelling it reports them under.
const REPORTED: &[(&str, &str)] = &[
    ("application_name", "application_name"),
    ("client_encoding", "client_encoding"),
    ("datestyle", "DateStyle"),
    ("intervalstyle", "IntervalStyle"),
    ("standard_conforming_strings", "standard_conforming_strings"),
    ("timezone", "TimeZone"),
];

/// Which language a session's statements are parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    Sql,
    InfluxQl,
}

#[derive(Debug)]
pub(crate) struct Settings {
    changed: Mutex<BTreeMap<String, String>>,
}

impl Settings {
    /// Settings as a connection's startup parameters leave them.
    pub(crate) fn new(startup: &std::collections::HashMap<String, String>) -> Self {
        let settings = Self { changed: Mutex::new(BTreeMap::new()) };
        if let Some(name) = startup.get("application_name") {
            let _ = settings.set("application_name", name);
        }
        // `options=-c name=value` in the startup message, as libpq sends it.
        if let Some(options) = startup.get("options") {
            for pair in options.split_whitespace().filter(|o| *o != "-c").map(|o| o.trim_start_matches("-c")) {
                if let Some((name, value)) = pair.split_once('=') {
                    let _ = settings.set(&name.replace('-', "_"), value);
                }
            }
        }
        settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.changed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes a setting. Returns the ParameterStatus to send, if Postgres would send one.
    ///
    /// # Errors
    /// DataFusion options, fixed server facts, and values sediment cannot honour.
    pub(crate) fn set(&self, name: &str, value: &str) -> Result<Option<(&'static str, String)>, PgWireError> {
        let name = name.to_lowercase();
        if name.starts_with("datafusion.") {
            return Err(kind_error(ErrorKind::Forbidden, format!("permission denied to set parameter \"{name}\"")));
        }
        if FIXED.contains(&name.as_str()) {
            return Err(kind_error(ErrorKind::Forbidden, format!("parameter \"{name}\" cannot be changed")));
        }
        if value.eq_ignore_ascii_case("default") {
            self.lock().remove(&name);
            return Ok(self.report(&name));
        }
        match name.as_str() {
            "client_encoding" if !matches!(value.to_uppercase().as_str(), "UTF8" | "UTF-8" | "UNICODE") => {
                return Err(kind_error(
                    ErrorKind::Unsupported,
                    format!("client encoding \"{value}\" is not supported: sediment speaks UTF8 only"),
                ));
            }
            "statement_timeout" if value.trim() != "0" && parse_duration(value).is_none() => {
                return Err(kind_error(
                    ErrorKind::InvalidRequest,
                    format!("invalid value for parameter \"statement_timeout\": \"{value}\""),
                ));
            }
            "sediment.query_language" if !matches!(value.to_lowercase().as_str(), "sql" | "influxql") => {
                return Err(kind_error(
                    ErrorKind::InvalidRequest,
                    format!(
                        "invalid value for parameter \"sediment.query_language\": \"{value}\" (use sql or influxql)"
                    ),
                ));
            }
            _ => {}
        }
        let value = if name == "client_encoding" { "UTF8".to_owned() } else { value.to_owned() };
        self.lock().insert(name.clone(), value);
        Ok(self.report(&name))
    }

    fn report(&self, name: &str) -> Option<(&'static str, String)> {
        let (_, reported) = REPORTED.iter().find(|(n, _)| *n == name)?;
        Some((reported, self.get(name).unwrap_or_default()))
    }

    /// A setting's current value; `None` for a name no one set and that has no default.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let name = name.to_lowercase();
        self.lock()
            .get(&name)
            .cloned()
            .or_else(|| DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
    }

    /// Every setting with its current value, sorted by name (`SHOW ALL`).
    pub(crate) fn all(&self) -> Vec<(String, String)> {
        let mut all: BTreeMap<String, String> =
            DEFAULTS.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        all.extend(self.lock().clone());
        all.into_iter().collect()
    }

    /// `RESET name`, or every setting when `None`. Returns the ParameterStatus messages to send.
    pub(crate) fn reset(&self, name: Option<&str>) -> Vec<(&'static str, String)> {
        match name {
            Some(name) => {
                self.lock().remove(&name.to_lowercase());
                self.report(&name.to_lowercase()).into_iter().collect()
            }
            None => {
                let names: Vec<String> = self.lock().keys().cloned().collect();
                self.lock().clear();
                names.iter().filter_map(|n| self.report(n)).collect()
            }
        }
    }

    pub(crate) fn language(&self) -> Language {
        match self.get("sediment.query_language").map(|v| v.to_lowercase()).as_deref() {
            Some("influxql") => Language::InfluxQl,
            _ => Language::Sql,
        }
    }
}

/// `current_setting(name)` for one connection: reads its live settings, so a
/// `SET search_path` shows in the next query (Grafana builds its table list
/// from `current_setting('search_path')`).
pub(crate) fn current_setting_udf(settings: Arc<Settings>) -> ScalarUDF {
    create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = names[0].as_string::<i32>();
            let mut values = StringBuilder::new();
            for name in names {
                match name {
                    None => values.append_null(),
                    Some(name) => match settings.get(name) {
                        Some(value) => values.append_value(value),
                        None => {
                            return plan_err!("unrecognized configuration parameter \"{name}\"");
                        }
                    },
                }
            }
            let values: ArrayRef = Arc::new(values.finish());
            Ok(if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&values, 0)?)
            } else {
                ColumnarValue::Array(values)
            })
        }),
    )
}

/// A Postgres duration setting: milliseconds by default, or with a unit
/// (`us`, `ms`, `s`, `min`, `h`, `d`). Zero means no limit.
pub(crate) fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let millis = number
        * match unit.trim() {
            "" | "ms" => 1.0,
            "us" => 0.001,
            "s" => 1_000.0,
            "min" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            _ => return None,
        };
    (millis > 0.0).then(|| std::time::Duration::from_secs_f64(millis / 1_000.0))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn set_show_and_reset_behave_like_postgres() {
        let settings = Settings::new(&HashMap::from([("application_name".to_owned(), "psql".to_owned())]));
        assert_eq!(settings.get("application_name").as_deref(), Some("psql"));
        assert_eq!(settings.set("DateStyle", "ISO, DMY").expect("set"), Some(("DateStyle", "ISO, DMY".to_owned())));
        assert_eq!(settings.get("datestyle").as_deref(), Some("ISO, DMY"));
        assert!(settings.set("datafusion.execution.batch_size", "1").is_err());
        assert!(settings.set("server_version", "99").is_err());
        assert!(settings.set("client_encoding", "LATIN1").is_err());
        settings.set("extra_float_digits", "3").expect("set");
        let reported = settings.reset(None);
        assert!(reported.contains(&("DateStyle", "ISO, MDY".to_owned())), "{reported:?}");
        assert_eq!(settings.get("extra_float_digits").as_deref(), Some("1"));
        assert_eq!(settings.get("no_such_thing"), None);
    }

    #[test]
    fn durations_read_like_postgres() {
        use std::time::Duration;
        assert_eq!(parse_duration("1500"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1min"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn the_query_language_comes_from_set_or_startup_options() {
        let settings =
            Settings::new(&HashMap::from([("options".to_owned(), "-c sediment.query_language=influxql".to_owned())]));
        assert_eq!(settings.language(), Language::InfluxQl);
        settings.set("sediment.query_language", "sql").expect("set");
        assert_eq!(settings.language(), Language::Sql);
        assert!(settings.set("sediment.query_language", "cobol").is_err());
    }
}
