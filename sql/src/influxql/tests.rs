use proptest::prelude::*;

use super::ast::{
    BinaryOp, DataType, Dimension, Expr, Field, Fill, Literal, Measurement, MeasurementName, SelectStatement, Source,
    Statement,
};
use super::parse;

/// Statements users send: the shared conformance cases, Grafana's editor and
/// panels, and the examples.
const VALID: &[&str] = &[
    "SELECT usage_user FROM cpu WHERE host = 'server01' LIMIT 1",
    "SELECT usage_user FROM cpu WHERE host = $h AND usage_user > $v AND time >= '2018-06-01T00:00:00Z'",
    "SELECT usage_user, *::tag FROM cpu WHERE host = 'server04' LIMIT 2",
    "SELECT usage_user::float, host::tag, region::tag FROM cpu WHERE host = 'server03' LIMIT 2",
    "SELECT \"field one\" FROM \"weird measurement,with=chars\" WHERE \"tag key\" = 'a b'",
    "SELECT * FROM \"température\"",
    "SELECT usage_user, used FROM cpu, mem WHERE time = '2018-06-01T00:00:00Z'",
    "SELECT usage_user, usage_system FROM cpu WHERE host = 'server02' ORDER BY time DESC LIMIT 4",
    "SELECT usage_user FROM cpu GROUP BY host LIMIT 1 SLIMIT 2",
    "SELECT * FROM events GROUP BY *",
    "SELECT usage_user FROM cpu WHERE host = 'server02' AND time >= 1527811800s AND time < 1527812400s",
    "SELECT usage_user FROM cpu WHERE time >= '2018-06-01T00:00:00Z' + 1h AND time <= '2018-06-01T00:00:00Z' + 1h + 10m",
    "SELECT count(usage_user) FROM cpu WHERE host =~ /^server0[12]$/ GROUP BY host",
    "SELECT count(usage_user) FROM cpu WHERE region =~ /(?i)^US-/",
    "SELECT count(code) FROM events WHERE zone !~ /./",
    "SELECT count(distinct(label)) FROM mem",
    "SELECT integral(usage_user, 1m) FROM cpu GROUP BY host",
    "SELECT percentile(usage_system, 33.3) FROM cpu WHERE host = 'server02'",
    "SELECT mean(usage_user) FROM cpu WHERE time >= now() - 1h GROUP BY time(10m, 5m), host fill(-1.5)",
    "SELECT count(temp) FROM daily GROUP BY time(1d) tz('America/New_York')",
    "SELECT (usage_user - usage_system) / 2 AS half_diff, usage_user * 2 AS dbl FROM cpu LIMIT 4",
    "SELECT code * 2, \"duration\" + 1 FROM events",
    "SELECT mean(m) FROM (SELECT max(usage_user) AS m FROM cpu GROUP BY host)",
    "SELECT exponential_moving_average(mean(usage_user), 2) FROM cpu GROUP BY time(10m)",
    "SELECT mean(value) INTO cpu_5m FROM cpu GROUP BY time(5m), *",
    "SELECT mean(value) INTO db.rp.cpu_5m FROM db..cpu, rp.mem, /^disk/ GROUP BY time(5m) fill(previous)",
    "SELECT count(usage_user) FROM cpu; SELECT count(used) FROM mem",
    "SELECT mean(\"usage\") FROM \"cpu\" WHERE (\"host\" =~ /^a$/) AND time >= 1704067200000ms and time <= 1704070800000ms GROUP BY time(10s), \"host\" fill(null)",
    "SHOW DATABASES",
    "SHOW USERS",
    "EXPLAIN SELECT mean(usage) FROM cpu WHERE time > now() - 1h GROUP BY time(1m), host",
    "EXPLAIN ANALYZE SELECT usage FROM cpu",
    "SHOW MEASUREMENTS ON other WITH MEASUREMENT =~ /cp.*/ WHERE host = 'a' LIMIT 10 OFFSET 2",
    "SHOW MEASUREMENTS WITH MEASUREMENT = cpu",
    "SHOW TAG KEYS FROM /^e/",
    "SHOW TAG VALUES WITH KEY = host",
    "SHOW TAG VALUES ON other FROM cpu WITH KEY IN (host, region) WHERE region = 'eu'",
    "SHOW TAG VALUES FROM \"weird measurement,with=chars\" WITH KEY =~ /^c/",
    "SHOW FIELD KEYS FROM \"weird measurement,with=chars\"",
    "SHOW SERIES FROM cpu WHERE region = 'us-west' LIMIT 5",
    "SHOW RETENTION POLICIES ON sed",
    "SHOW SERIES EXACT CARDINALITY ON db FROM cpu",
    "SHOW TAG VALUES CARDINALITY WITH KEY = host",
    "SHOW MEASUREMENT CARDINALITY",
    "CREATE DATABASE d WITH DURATION 7d REPLICATION 1 SHARD DURATION 1d NAME weekly",
    "CREATE DATABASE \"my db\"",
    "DROP DATABASE d",
    "DROP MEASUREMENT cpu",
    "DROP SERIES FROM cpu WHERE host = 'a'",
    "DELETE FROM cpu WHERE time < '2018-01-01T00:00:00Z' AND host = 'a'",
    "DELETE WHERE time < 100",
    "CREATE RETENTION POLICY one_day ON d DURATION 1d REPLICATION 1 DEFAULT",
    "CREATE RETENTION POLICY forever ON d DURATION INF REPLICATION 1",
    "ALTER RETENTION POLICY one_day ON d DURATION 2d SHARD DURATION 1h",
    "DROP RETENTION POLICY one_day ON d",
];

#[test]
fn what_users_send_parses_and_prints_back_to_the_same_tree() {
    for text in VALID {
        let parsed = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let printed = parsed.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        let again = parse(&printed).unwrap_or_else(|e| panic!("{printed} (printed from {text}): {e}"));
        assert_eq!(again, parsed, "{text} printed as {printed}");
    }
}

#[test]
fn errors_say_what_was_found_and_expected_and_where() {
    let cases = [
        ("SELECT FROM cpu", "found FROM, expected identifier, string, number, bool at line 1, char 8"),
        // The texts and positions InfluxDB 1.6.7 answers (the shared conformance goldens).
        ("SELECT * FROM", "found EOF, expected identifier at line 1, char 15"),
        (
            "SELEC * FROM cpu",
            "found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1",
        ),
        ("SELECT * FROM cpu WHERE", "found EOF, expected identifier, string, number, bool at line 1, char 25"),
        ("SHOW TAG VALUES FROM cpu", "found EOF, expected WITH at line 1, char 26"),
        ("SELECT * FROM cpu\nWHERE host = 'x", "unterminated string at line 2, char 14"),
        ("SELECT * FROM cpu ORDER BY host", "only ORDER BY time supported at this time at line 1, char 28"),
        ("SELECT v FROM cpu WHERE host =~ /[/", "error parsing regexp: unclosed character class at line 1, char 33"),
    ];
    for (text, expected) in cases {
        let e = parse(text).expect_err(text);
        assert_eq!(e.to_string(), expected, "{text}");
    }
}

#[test]
fn precedence_and_literals() {
    let Statement::Select(select) =
        &parse("SELECT a + b * 2 FROM m WHERE x = 1 OR y = 2 AND z = -3").expect("parses")[0]
    else {
        panic!("a SELECT");
    };
    assert_eq!(select.fields[0].expr.to_string(), "a + b * 2");
    let Some(Expr::Binary { op: BinaryOp::Or, right, .. }) = &select.condition else {
        panic!("OR binds loosest: {:?}", select.condition);
    };
    assert!(matches!(right.as_ref(), Expr::Binary { op: BinaryOp::And, .. }));
    assert_eq!(right.to_string(), "y = 2 AND z = -3");
}

// Property: any tree the generator builds prints as text that parses back to it.

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z_][a-z0-9_]{0,6}", "[a-zA-Z0-9 ,=\"'.é-]{1,8}", Just("select".to_owned()), Just("time".to_owned())]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        (0i64..1_000_000).prop_map(Literal::Integer),
        (0.0f64..1e6).prop_map(Literal::Float),
        "[a-z '\\\\]{0,6}".prop_map(Literal::String),
        any::<bool>().prop_map(Literal::Boolean),
        (1i64..100_000).prop_map(|n| Literal::Duration(n * 1_000_000)),
    ]
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (name(), prop::option::of(prop_oneof![Just(DataType::Float), Just(DataType::Tag), Just(DataType::Field)]))
            .prop_map(|(name, data_type)| Expr::VarRef { name, data_type }),
        literal().prop_map(Expr::Literal),
        // A regex may not start with `*` (it would open a comment, and is no regex).
        "[a-z^$./][a-z^$.*/]{0,4}".prop_map(Expr::Regex),
        "[a-z]{1,4}".prop_map(Expr::Param),
    ]
}

const OPS: [BinaryOp; 10] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Eq,
    BinaryOp::NotEq,
    BinaryOp::Lt,
    BinaryOp::EqRegex,
    BinaryOp::And,
    BinaryOp::Or,
];

/// Wraps operands in parentheses where the parser would otherwise group them
/// differently, as a person writing the query would have to.
fn operand(e: Expr, parent: BinaryOp, right_side: bool) -> Box<Expr> {
    let needs = match &e {
        Expr::Binary { op, .. } => {
            op.precedence() < parent.precedence() || (right_side && op.precedence() == parent.precedence())
        }
        _ => false,
    };
    Box::new(if needs { Expr::Paren(Box::new(e)) } else { e })
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), 0..OPS.len(), inner.clone()).prop_map(|(l, op, r)| {
                let op = OPS[op];
                Expr::Binary { left: operand(l, op, false), op, right: operand(r, op, true) }
            }),
            ("[a-z]{1,8}", prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(name, args)| Expr::Call { name, args }),
            inner.prop_map(|e| Expr::Paren(Box::new(e))),
        ]
    })
}

fn measurement() -> impl Strategy<Value = Measurement> {
    (
        prop::option::of(name()),
        prop::option::of(name()),
        prop_oneof![name().prop_map(MeasurementName::Name), "[a-z^$]{1,4}".prop_map(MeasurementName::Regex)],
    )
        .prop_map(|(database, retention_policy, name)| Measurement { database, retention_policy, name })
}

fn select() -> impl Strategy<Value = SelectStatement> {
    (
        prop::collection::vec((expr(), prop::option::of(name())), 1..3),
        prop::collection::vec(measurement(), 1..3),
        prop::option::of(expr()),
        prop::collection::vec(
            prop_oneof![
                (1i64..1000, prop::option::of(0i64..1000)).prop_map(|(i, o)| Dimension::Time {
                    interval: i * 1_000_000_000,
                    offset: o.map(|o| o * 1_000_000_000)
                }),
                name().prop_map(Dimension::Tag),
                Just(Dimension::Wildcard),
            ],
            0..3,
        ),
        prop::option::of(prop_oneof![
            Just(Fill::Null),
            Just(Fill::Linear),
            (0i64..9).prop_map(|n| Fill::Value(Literal::Integer(n)))
        ]),
        any::<bool>(),
        prop::option::of(0u64..100),
        prop::option::of(0u64..100),
    )
        .prop_map(|(fields, from, condition, dimensions, fill, order_desc, limit, slimit)| SelectStatement {
            fields: fields.into_iter().map(|(expr, alias)| Field { expr, alias }).collect(),
            from: from.into_iter().map(Source::Measurement).collect(),
            condition,
            dimensions,
            fill,
            order_desc,
            limit,
            slimit,
            ..SelectStatement::default()
        })
}

proptest! {
    #[test]
    fn printed_trees_parse_back_to_themselves(select in select()) {
        let statement = Statement::Select(Box::new(select));
        let printed = statement.to_string();
        let parsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(parsed, vec![statement], "printed as {}", printed);
    }
}

#[test]
fn parameters_are_listed_once_in_order() {
    let text = "SELECT v FROM cpu WHERE host = $h AND v > $min OR host = $h; SELECT '$notone' FROM m";
    assert_eq!(super::parameters(text), ["h", "min"]);
}
