//! The InfluxQL syntax tree. `Display` prints text that parses back to the
//! same tree (the round-trip property the tests check).

use std::fmt::{self, Display, Formatter};

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Select(Box<SelectStatement>),
    /// `EXPLAIN [ANALYZE] SELECT ...`: the plan, and with ANALYZE what running it took.
    Explain {
        analyze: bool,
        select: Box<SelectStatement>,
    },
    ShowDatabases,
    ShowUsers,
    ShowMeasurements {
        on: Option<String>,
        with_measurement: Option<MeasurementName>,
        condition: Option<Expr>,
        limit: Option<u64>,
        offset: Option<u64>,
    },
    ShowTagKeys {
        on: Option<String>,
        from: Vec<Source>,
        condition: Option<Expr>,
        limit: Option<u64>,
        offset: Option<u64>,
    },
    ShowTagValues {
        on: Option<String>,
        from: Vec<Source>,
        key: TagKeyMatch,
        condition: Option<Expr>,
        limit: Option<u64>,
        offset: Option<u64>,
    },
    ShowFieldKeys {
        on: Option<String>,
        from: Vec<Source>,
        limit: Option<u64>,
        offset: Option<u64>,
    },
    ShowSeries {
        on: Option<String>,
        from: Vec<Source>,
        condition: Option<Expr>,
        limit: Option<u64>,
        offset: Option<u64>,
    },
    ShowRetentionPolicies {
        on: Option<String>,
    },
    ShowCardinality {
        what: Cardinality,
        exact: bool,
        on: Option<String>,
        from: Vec<Source>,
        key: Option<TagKeyMatch>,
        condition: Option<Expr>,
    },
    CreateDatabase {
        name: String,
        policy: Option<RetentionPolicySpec>,
    },
    DropDatabase {
        name: String,
    },
    DropMeasurement {
        name: String,
    },
    DropSeries {
        from: Vec<Source>,
        condition: Option<Expr>,
    },
    Delete {
        from: Vec<Source>,
        condition: Option<Expr>,
    },
    CreateRetentionPolicy {
        name: String,
        database: String,
        spec: RetentionPolicySpec,
        default: bool,
    },
    AlterRetentionPolicy {
        name: String,
        database: String,
        spec: RetentionPolicySpec,
        default: bool,
    },
    DropRetentionPolicy {
        name: String,
        database: String,
    },
}

/// `DURATION`, `REPLICATION`, `SHARD DURATION` and (in CREATE DATABASE) `NAME`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RetentionPolicySpec {
    /// Nanoseconds; 0 is INF.
    pub duration: Option<i64>,
    pub replication: Option<u64>,
    pub shard_duration: Option<i64>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    Measurement,
    Series,
    TagKey,
    TagValues,
    FieldKey,
}

/// `WITH KEY = k`, `!= k`, `=~ /re/`, `!~ /re/`, `IN (a, b)`.
#[derive(Debug, Clone, PartialEq)]
pub enum TagKeyMatch {
    Eq(String),
    NotEq(String),
    Regex(String),
    NotRegex(String),
    In(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelectStatement {
    pub fields: Vec<Field>,
    pub into: Option<Measurement>,
    pub from: Vec<Source>,
    pub condition: Option<Expr>,
    pub dimensions: Vec<Dimension>,
    pub fill: Option<Fill>,
    pub order_desc: bool,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub slimit: Option<u64>,
    pub soffset: Option<u64>,
    pub tz: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub expr: Expr,
    pub alias: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Measurement(Measurement),
    Subquery(Box<SelectStatement>),
}

/// `[db.[rp].]name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    pub name: MeasurementName,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MeasurementName {
    Name(String),
    Regex(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Dimension {
    /// `time(interval[, offset])`, nanoseconds.
    Time {
        interval: i64,
        offset: Option<i64>,
    },
    Tag(String),
    Wildcard,
    Regex(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fill {
    Null,
    None,
    Previous,
    Linear,
    Value(Literal),
}

/// A `::type` after a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
    Field,
    Tag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    EqRegex,
    NotEqRegex,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Integer(i64),
    Unsigned(u64),
    Float(f64),
    String(String),
    Boolean(bool),
    /// Nanoseconds.
    Duration(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    VarRef {
        name: String,
        data_type: Option<DataType>,
    },
    /// `*`, `*::field`, `*::tag`.
    Wildcard(Option<DataType>),
    Literal(Literal),
    Regex(String),
    /// `$name`, bound from the request's `params`.
    Param(String),
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Binary {
        left: Box<Expr>,
        op: BinaryOp,
        right: Box<Expr>,
    },
    /// `-x` on something other than a number literal.
    Negate(Box<Expr>),
    Paren(Box<Expr>),
}

impl BinaryOp {
    /// Binding strength: higher binds tighter.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            Self::Or => 1,
            Self::And => 2,
            Self::Eq
            | Self::NotEq
            | Self::Lt
            | Self::LtEq
            | Self::Gt
            | Self::GtEq
            | Self::EqRegex
            | Self::NotEqRegex => 3,
            Self::Add | Self::Sub | Self::BitOr | Self::BitXor => 4,
            Self::Mul | Self::Div | Self::Mod | Self::BitAnd => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Mod => "%",
            Self::BitAnd => "&",
            Self::BitOr => "|",
            Self::BitXor => "^",
            Self::Eq => "=",
            Self::NotEq => "!=",
            Self::Lt => "<",
            Self::LtEq => "<=",
            Self::Gt => ">",
            Self::GtEq => ">=",
            Self::EqRegex => "=~",
            Self::NotEqRegex => "!~",
            Self::And => "AND",
            Self::Or => "OR",
        }
    }
}

impl DataType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Float => "float",
            Self::Integer => "integer",
            Self::Unsigned => "unsigned",
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Field => "field",
            Self::Tag => "tag",
        }
    }
}

/// Words that must be quoted to be names.
pub(crate) const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "ANALYZE",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BY",
    "CARDINALITY",
    "CREATE",
    "CONTINUOUS",
    "DATABASE",
    "DATABASES",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESTINATIONS",
    "DIAGNOSTICS",
    "DISTINCT",
    "DROP",
    "DURATION",
    "END",
    "EVERY",
    "EXACT",
    "EXPLAIN",
    "FIELD",
    "FOR",
    "FROM",
    "GRANT",
    "GRANTS",
    "GROUP",
    "GROUPS",
    "IN",
    "INF",
    "INSERT",
    "INTO",
    "KEY",
    "KEYS",
    "KILL",
    "LIMIT",
    "MEASUREMENT",
    "MEASUREMENTS",
    "NAME",
    "OFFSET",
    "ON",
    "ORDER",
    "PASSWORD",
    "POLICIES",
    "POLICY",
    "PRIVILEGES",
    "QUERIES",
    "QUERY",
    "READ",
    "REPLICATION",
    "RESAMPLE",
    "RETENTION",
    "REVOKE",
    "SELECT",
    "SERIES",
    "SET",
    "SHARD",
    "SHARDS",
    "SHOW",
    "SLIMIT",
    "SOFFSET",
    "STATS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "TAG",
    "TO",
    "USER",
    "USERS",
    "VALUES",
    "WHERE",
    "WITH",
    "WRITE",
    "AND",
    "OR",
    "TRUE",
    "FALSE",
];

/// An identifier as InfluxQL needs it written: bare when it can be.
#[derive(Debug)]
pub struct Ident<'a>(pub &'a str);

impl Display for Ident<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let bare = s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s));
        if bare { f.write_str(s) } else { write!(f, "\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")) }
    }
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn regex(r: &str) -> String {
    format!("/{}/", r.replace('/', "\\/"))
}

/// The shortest spelling of `nanos` in InfluxQL duration units.
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [
        ("w", 604_800_000_000_000),
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("u", 1_000),
    ] {
        if nanos % size == 0 {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(n) => write!(f, "{n}"),
            Self::Unsigned(n) => write!(f, "{n}"),
            // Debug keeps a decimal point or exponent, so it reads back as a float.
            Self::Float(n) => write!(f, "{n:?}"),
            Self::String(s) => f.write_str(&quoted(s)),
            Self::Boolean(b) => write!(f, "{b}"),
            Self::Duration(d) => f.write_str(&format_duration(*d)),
        }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::VarRef { name, data_type } => {
                write!(f, "{}", Ident(name))?;
                if let Some(t) = data_type {
                    write!(f, "::{}", t.as_str())?;
                }
                Ok(())
            }
            Self::Wildcard(t) => match t {
                Some(t) => write!(f, "*::{}", t.as_str()),
                None => f.write_str("*"),
            },
            Self::Literal(l) => write!(f, "{l}"),
            Self::Regex(r) => f.write_str(&regex(r)),
            Self::Param(p) => write!(f, "${p}"),
            Self::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Self::Binary { left, op, right } => write!(f, "{left} {} {right}", op.as_str()),
            Self::Negate(e) => write!(f, "-{e}"),
            Self::Paren(e) => write!(f, "({e})"),
        }
    }
}

impl Display for Measurement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match (&self.database, &self.retention_policy) {
            (Some(db), Some(rp)) => write!(f, "{}.{}.", Ident(db), Ident(rp))?,
            (Some(db), None) => write!(f, "{}..", Ident(db))?,
            (None, Some(rp)) => write!(f, "{}.", Ident(rp))?,
            (None, None) => {}
        }
        write!(f, "{}", self.name)
    }
}

impl Display for MeasurementName {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => write!(f, "{}", Ident(n)),
            Self::Regex(r) => f.write_str(&regex(r)),
        }
    }
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Measurement(m) => write!(f, "{m}"),
            Self::Subquery(s) => write!(f, "({s})"),
        }
    }
}

fn list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn opt_clause(f: &mut Formatter<'_>, keyword: &str, value: Option<impl Display>) -> fmt::Result {
    match value {
        Some(v) => write!(f, " {keyword} {v}"),
        None => Ok(()),
    }
}

fn on_clause(f: &mut Formatter<'_>, on: Option<&String>) -> fmt::Result {
    opt_clause(f, "ON", on.map(|db| Ident(db)))
}

fn from_clause(f: &mut Formatter<'_>, from: &[Source]) -> fmt::Result {
    if from.is_empty() {
        return Ok(());
    }
    f.write_str(" FROM ")?;
    list(f, from)
}

impl Display for Dimension {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Time { interval, offset: None } => write!(f, "time({})", format_duration(*interval)),
            Self::Time { interval, offset: Some(o) } => {
                write!(f, "time({}, {})", format_duration(*interval), format_duration(*o))
            }
            Self::Tag(t) => write!(f, "{}", Ident(t)),
            Self::Wildcard => f.write_str("*"),
            Self::Regex(r) => f.write_str(&regex(r)),
        }
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        opt_clause(f, "AS", self.alias.as_deref().map(Ident))
    }
}

impl Display for SelectStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        list(f, &self.fields)?;
        opt_clause(f, "INTO", self.into.as_ref())?;
        from_clause(f, &self.from)?;
        opt_clause(f, "WHERE", self.condition.as_ref())?;
        if !self.dimensions.is_empty() {
            f.write_str(" GROUP BY ")?;
            list(f, &self.dimensions)?;
        }
        match &self.fill {
            None => {}
            Some(Fill::Null) => f.write_str(" fill(null)")?,
            Some(Fill::None) => f.write_str(" fill(none)")?,
            Some(Fill::Previous) => f.write_str(" fill(previous)")?,
            Some(Fill::Linear) => f.write_str(" fill(linear)")?,
            Some(Fill::Value(v)) => write!(f, " fill({v})")?,
        }
        if self.order_desc {
            f.write_str(" ORDER BY time DESC")?;
        }
        opt_clause(f, "LIMIT", self.limit)?;
        opt_clause(f, "OFFSET", self.offset)?;
        opt_clause(f, "SLIMIT", self.slimit)?;
        opt_clause(f, "SOFFSET", self.soffset)?;
        if let Some(tz) = &self.tz {
            write!(f, " tz({})", quoted(tz))?;
        }
        Ok(())
    }
}

impl Display for TagKeyMatch {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Eq(k) => write!(f, "= {}", Ident(k)),
            Self::NotEq(k) => write!(f, "!= {}", Ident(k)),
            Self::Regex(r) => write!(f, "=~ {}", regex(r)),
            Self::NotRegex(r) => write!(f, "!~ {}", regex(r)),
            Self::In(keys) => {
                f.write_str("IN (")?;
                list(f, &keys.iter().map(|k| Ident(k).to_string()).collect::<Vec<_>>())?;
                f.write_str(")")
            }
        }
    }
}

impl Display for RetentionPolicySpec {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let duration = |d: i64| if d == 0 { "INF".to_owned() } else { format_duration(d) };
        opt_clause(f, "DURATION", self.duration.map(duration))?;
        opt_clause(f, "REPLICATION", self.replication)?;
        opt_clause(f, "SHARD DURATION", self.shard_duration.map(format_duration))?;
        opt_clause(f, "NAME", self.name.as_deref().map(Ident))
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Select(s) => write!(f, "{s}"),
            Self::Explain { analyze, select } => {
                write!(f, "EXPLAIN {}{select}", if *analyze { "ANALYZE " } else { "" })
            }
            Self::ShowDatabases => f.write_str("SHOW DATABASES"),
            Self::ShowUsers => f.write_str("SHOW USERS"),
            Self::ShowMeasurements { on, with_measurement, condition, limit, offset } => {
                f.write_str("SHOW MEASUREMENTS")?;
                on_clause(f, on.as_ref())?;
                match with_measurement {
                    Some(MeasurementName::Name(n)) => write!(f, " WITH MEASUREMENT = {}", Ident(n))?,
                    Some(MeasurementName::Regex(r)) => write!(f, " WITH MEASUREMENT =~ {}", regex(r))?,
                    None => {}
                }
                opt_clause(f, "WHERE", condition.as_ref())?;
                opt_clause(f, "LIMIT", *limit)?;
                opt_clause(f, "OFFSET", *offset)
            }
            Self::ShowTagKeys { on, from, condition, limit, offset } => {
                f.write_str("SHOW TAG KEYS")?;
                on_clause(f, on.as_ref())?;
                from_clause(f, from)?;
                opt_clause(f, "WHERE", condition.as_ref())?;
                opt_clause(f, "LIMIT", *limit)?;
                opt_clause(f, "OFFSET", *offset)
            }
            Self::ShowTagValues { on, from, key, condition, limit, offset } => {
                f.write_str("SHOW TAG VALUES")?;
                on_clause(f, on.as_ref())?;
                from_clause(f, from)?;
                write!(f, " WITH KEY {key}")?;
                opt_clause(f, "WHERE", condition.as_ref())?;
                opt_clause(f, "LIMIT", *limit)?;
                opt_clause(f, "OFFSET", *offset)
            }
            Self::ShowFieldKeys { on, from, limit, offset } => {
                f.write_str("SHOW FIELD KEYS")?;
                on_clause(f, on.as_ref())?;
                from_clause(f, from)?;
                opt_clause(f, "LIMIT", *limit)?;
                opt_clause(f, "OFFSET", *offset)
            }
            Self::ShowSeries { on, from, condition, limit, offset } => {
                f.write_str("SHOW SERIES")?;
                on_clause(f, on.as_ref())?;
                from_clause(f, from)?;
                opt_clause(f, "WHERE", condition.as_ref())?;
                opt_clause(f, "LIMIT", *limit)?;
                opt_clause(f, "OFFSET", *offset)
            }
            Self::ShowRetentionPolicies { on } => {
                f.write_str("SHOW RETENTION POLICIES")?;
                on_clause(f, on.as_ref())
            }
            Self::ShowCardinality { what, exact, on, from, key, condition } => {
                let what = match what {
                    Cardinality::Measurement => "MEASUREMENT",
                    Cardinality::Series => "SERIES",
                    Cardinality::TagKey => "TAG KEY",
                    Cardinality::TagValues => "TAG VALUES",
                    Cardinality::FieldKey => "FIELD KEY",
                };
                write!(f, "SHOW {what}{} CARDINALITY", if *exact { " EXACT" } else { "" })?;
                on_clause(f, on.as_ref())?;
                from_clause(f, from)?;
                opt_clause(f, "WITH KEY", key.as_ref())?;
                opt_clause(f, "WHERE", condition.as_ref())
            }
            Self::CreateDatabase { name, policy } => {
                write!(f, "CREATE DATABASE {}", Ident(name))?;
                match policy {
                    Some(spec) => write!(f, " WITH{spec}"),
                    None => Ok(()),
                }
            }
            Self::DropDatabase { name } => write!(f, "DROP DATABASE {}", Ident(name)),
            Self::DropMeasurement { name } => write!(f, "DROP MEASUREMENT {}", Ident(name)),
            Self::DropSeries { from, condition } => {
                f.write_str("DROP SERIES")?;
                from_clause(f, from)?;
                opt_clause(f, "WHERE", condition.as_ref())
            }
            Self::Delete { from, condition } => {
                f.write_str("DELETE")?;
                from_clause(f, from)?;
                opt_clause(f, "WHERE", condition.as_ref())
            }
            Self::CreateRetentionPolicy { name, database, spec, default } => {
                write!(f, "CREATE RETENTION POLICY {} ON {}{spec}", Ident(name), Ident(database))?;
                if *default { f.write_str(" DEFAULT") } else { Ok(()) }
            }
            Self::AlterRetentionPolicy { name, database, spec, default } => {
                write!(f, "ALTER RETENTION POLICY {} ON {}{spec}", Ident(name), Ident(database))?;
                if *default { f.write_str(" DEFAULT") } else { Ok(()) }
            }
            Self::DropRetentionPolicy { name, database } => {
                write!(f, "DROP RETENTION POLICY {} ON {}", Ident(name), Ident(database))
            }
        }
    }
}
