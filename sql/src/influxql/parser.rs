//! Recursive descent over the tokens, with precedence climbing for
//! expressions. Errors name what was found and what was expected, in InfluxDB
//! 1.x's words (`found FROM, expected identifier`), at a byte offset.

use super::ParseError;
use super::ast::{
    BinaryOp, Cardinality, DataType, Dimension, Expr, Field, Fill, Literal, Measurement, MeasurementName,
    RetentionPolicySpec, SelectStatement, Source, Statement, TagKeyMatch,
};
use super::lexer::{Spanned, Token};

pub(crate) struct Parser {
    tokens: Vec<Spanned>,
    pos: usize,
}

type Result<T> = std::result::Result<T, ParseError>;

impl Parser {
    pub(crate) fn new(tokens: Vec<Spanned>) -> Self {
        Self { tokens, pos: 0 }
    }

    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].token
    }

    fn peek_at(&self, n: usize) -> &Token {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].token
    }

    fn offset(&self) -> usize {
        self.tokens[self.pos.min(self.tokens.len() - 1)].offset
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        token
    }

    fn unexpected<T>(&self, expected: &str) -> Result<T> {
        Err(ParseError::new(format!("found {}, expected {expected}", self.peek()), self.offset()))
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Token::Ident(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn keyword_at(&self, n: usize, keyword: &str) -> bool {
        matches!(self.peek_at(n), Token::Ident(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.is_keyword(keyword);
        if found {
            self.next();
        }
        found
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<()> {
        if self.eat_keyword(keyword) { Ok(()) } else { self.unexpected(keyword) }
    }

    fn eat(&mut self, token: &Token) -> bool {
        let found = self.peek() == token;
        if found {
            self.next();
        }
        found
    }

    fn expect(&mut self, token: &Token) -> Result<()> {
        if self.eat(token) { Ok(()) } else { self.unexpected(&token.to_string()) }
    }

    /// Statements separated by `;`; empty ones are skipped.
    pub(crate) fn statements(&mut self) -> Result<Vec<Statement>> {
        let mut statements = Vec::new();
        loop {
            while self.eat(&Token::Semicolon) {}
            if self.peek() == &Token::Eof {
                return Ok(statements);
            }
            statements.push(self.statement()?);
            if !matches!(self.peek(), Token::Semicolon | Token::Eof) {
                return self.unexpected(";");
            }
        }
    }

    fn statement(&mut self) -> Result<Statement> {
        if self.eat_keyword("SELECT") {
            return Ok(Statement::Select(Box::new(self.select_body()?)));
        }
        if self.eat_keyword("EXPLAIN") {
            let analyze = self.eat_keyword("ANALYZE");
            self.expect_keyword("SELECT")?;
            return Ok(Statement::Explain { analyze, select: Box::new(self.select_body()?) });
        }
        if self.eat_keyword("SHOW") {
            return self.show();
        }
        if self.eat_keyword("CREATE") {
            return self.create();
        }
        if self.eat_keyword("DROP") {
            return self.drop();
        }
        if self.eat_keyword("DELETE") {
            let from = if self.eat_keyword("FROM") { self.sources()? } else { Vec::new() };
            let condition = self.where_clause()?;
            if from.is_empty() && condition.is_none() {
                return self.unexpected("FROM or WHERE");
            }
            return Ok(Statement::Delete { from, condition });
        }
        if self.eat_keyword("ALTER") {
            self.expect_keyword("RETENTION")?;
            self.expect_keyword("POLICY")?;
            let name = self.ident()?;
            self.expect_keyword("ON")?;
            let database = self.ident()?;
            let (spec, default) = self.policy_spec(false)?;
            if spec == RetentionPolicySpec::default() && !default {
                return self.unexpected("DURATION, REPLICATION, SHARD or DEFAULT");
            }
            return Ok(Statement::AlterRetentionPolicy { name, database, spec, default });
        }
        self.unexpected("SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL")
    }

    fn ident(&mut self) -> Result<String> {
        match self.peek().clone() {
            Token::Ident(name) | Token::QuotedIdent(name) => {
                self.next();
                Ok(name)
            }
            _ => self.unexpected("identifier"),
        }
    }

    fn unsigned(&mut self) -> Result<u64> {
        match self.peek() {
            Token::Integer(n) if *n >= 0 => {
                let n = n.unsigned_abs();
                self.next();
                Ok(n)
            }
            _ => self.unexpected("integer"),
        }
    }

    fn duration(&mut self) -> Result<i64> {
        match self.peek() {
            Token::Duration(d) => {
                let d = *d;
                self.next();
                Ok(d)
            }
            _ => self.unexpected("duration"),
        }
    }

    fn where_clause(&mut self) -> Result<Option<Expr>> {
        if self.eat_keyword("WHERE") { Ok(Some(self.expr(0)?)) } else { Ok(None) }
    }

    fn on_clause(&mut self) -> Result<Option<String>> {
        if self.eat_keyword("ON") { Ok(Some(self.ident()?)) } else { Ok(None) }
    }

    fn sources_clause(&mut self) -> Result<Vec<Source>> {
        if self.eat_keyword("FROM") { self.sources() } else { Ok(Vec::new()) }
    }

    fn limit_offset(&mut self) -> Result<(Option<u64>, Option<u64>)> {
        let limit = if self.eat_keyword("LIMIT") { Some(self.unsigned()?) } else { None };
        let offset = if self.eat_keyword("OFFSET") { Some(self.unsigned()?) } else { None };
        Ok((limit, offset))
    }

    fn show(&mut self) -> Result<Statement> {
        if self.eat_keyword("DATABASES") {
            return Ok(Statement::ShowDatabases);
        }
        if self.eat_keyword("USERS") {
            return Ok(Statement::ShowUsers);
        }
        if self.eat_keyword("RETENTION") {
            self.expect_keyword("POLICIES")?;
            return Ok(Statement::ShowRetentionPolicies { on: self.on_clause()? });
        }
        // `SHOW <what> [EXACT] CARDINALITY` is told apart by looking ahead.
        let cardinality = [
            (&["MEASUREMENT"][..], Cardinality::Measurement),
            (&["SERIES"][..], Cardinality::Series),
            (&["TAG", "KEY"][..], Cardinality::TagKey),
            (&["TAG", "VALUES"][..], Cardinality::TagValues),
            (&["FIELD", "KEY"][..], Cardinality::FieldKey),
        ];
        for (words, what) in cardinality {
            let n = words.len();
            let matches_words = words.iter().enumerate().all(|(i, w)| self.keyword_at(i, w));
            let exact = self.keyword_at(n, "EXACT");
            if matches_words && self.keyword_at(n + usize::from(exact), "CARDINALITY") {
                self.pos += n + usize::from(exact) + 1;
                let on = self.on_clause()?;
                let from = self.sources_clause()?;
                let key = if what == Cardinality::TagValues {
                    self.expect_keyword("WITH")?;
                    self.expect_keyword("KEY")?;
                    Some(self.tag_key_match()?)
                } else {
                    None
                };
                let condition = self.where_clause()?;
                return Ok(Statement::ShowCardinality { what, exact, on, from, key, condition });
            }
        }
        if self.eat_keyword("MEASUREMENTS") {
            let on = self.on_clause()?;
            let with_measurement = if self.eat_keyword("WITH") {
                self.expect_keyword("MEASUREMENT")?;
                match self.next() {
                    Token::Op(BinaryOp::Eq) => match self.peek().clone() {
                        Token::Regex(r) => {
                            self.next();
                            Some(MeasurementName::Regex(r))
                        }
                        _ => Some(MeasurementName::Name(self.ident()?)),
                    },
                    Token::Op(BinaryOp::EqRegex) => match self.next() {
                        Token::Regex(r) => Some(MeasurementName::Regex(r)),
                        _ => {
                            self.pos -= 1;
                            return self.unexpected("regex");
                        }
                    },
                    _ => {
                        self.pos -= 1;
                        return self.unexpected("= or =~");
                    }
                }
            } else {
                None
            };
            let condition = self.where_clause()?;
            let (limit, offset) = self.limit_offset()?;
            return Ok(Statement::ShowMeasurements { on, with_measurement, condition, limit, offset });
        }
        if self.eat_keyword("TAG") {
            if self.eat_keyword("KEYS") {
                let on = self.on_clause()?;
                let from = self.sources_clause()?;
                let condition = self.where_clause()?;
                let (limit, offset) = self.limit_offset()?;
                return Ok(Statement::ShowTagKeys { on, from, condition, limit, offset });
            }
            self.expect_keyword("VALUES")?;
            let on = self.on_clause()?;
            let from = self.sources_clause()?;
            self.expect_keyword("WITH")?;
            self.expect_keyword("KEY")?;
            let key = self.tag_key_match()?;
            let condition = self.where_clause()?;
            let (limit, offset) = self.limit_offset()?;
            return Ok(Statement::ShowTagValues { on, from, key, condition, limit, offset });
        }
        if self.eat_keyword("FIELD") {
            self.expect_keyword("KEYS")?;
            let on = self.on_clause()?;
            let from = self.sources_clause()?;
            let (limit, offset) = self.limit_offset()?;
            return Ok(Statement::ShowFieldKeys { on, from, limit, offset });
        }
        if self.eat_keyword("SERIES") {
            let on = self.on_clause()?;
            let from = self.sources_clause()?;
            let condition = self.where_clause()?;
            let (limit, offset) = self.limit_offset()?;
            return Ok(Statement::ShowSeries { on, from, condition, limit, offset });
        }
        self.unexpected("DATABASES, MEASUREMENTS, TAG, FIELD, SERIES, RETENTION, USERS, or a CARDINALITY")
    }

    fn tag_key_match(&mut self) -> Result<TagKeyMatch> {
        match self.next() {
            Token::Op(BinaryOp::Eq) => Ok(TagKeyMatch::Eq(self.ident()?)),
            Token::Op(BinaryOp::NotEq) => Ok(TagKeyMatch::NotEq(self.ident()?)),
            Token::Op(op @ (BinaryOp::EqRegex | BinaryOp::NotEqRegex)) => match self.next() {
                Token::Regex(r) if op == BinaryOp::EqRegex => Ok(TagKeyMatch::Regex(r)),
                Token::Regex(r) => Ok(TagKeyMatch::NotRegex(r)),
                _ => {
                    self.pos -= 1;
                    self.unexpected("regex")
                }
            },
            Token::Ident(w) if w.eq_ignore_ascii_case("IN") => {
                self.expect(&Token::LParen)?;
                let mut keys = vec![self.ident()?];
                while self.eat(&Token::Comma) {
                    keys.push(self.ident()?);
                }
                self.expect(&Token::RParen)?;
                Ok(TagKeyMatch::In(keys))
            }
            _ => {
                self.pos -= 1;
                self.unexpected("=, !=, =~, !~ or IN")
            }
        }
    }

    fn create(&mut self) -> Result<Statement> {
        if self.eat_keyword("DATABASE") {
            let name = self.ident()?;
            let policy = if self.eat_keyword("WITH") {
                let (spec, _) = self.policy_spec(true)?;
                if spec == RetentionPolicySpec::default() {
                    return self.unexpected("DURATION, REPLICATION, SHARD or NAME");
                }
                Some(spec)
            } else {
                None
            };
            return Ok(Statement::CreateDatabase { name, policy });
        }
        self.expect_keyword("RETENTION")?;
        self.expect_keyword("POLICY")?;
        let name = self.ident()?;
        self.expect_keyword("ON")?;
        let database = self.ident()?;
        let (spec, default) = self.policy_spec(false)?;
        if spec.duration.is_none() {
            return self.unexpected("DURATION");
        }
        if spec.replication.is_none() {
            return self.unexpected("REPLICATION");
        }
        Ok(Statement::CreateRetentionPolicy { name, database, spec, default })
    }

    /// The clauses of a retention policy, in any order.
    fn policy_spec(&mut self, in_create_database: bool) -> Result<(RetentionPolicySpec, bool)> {
        let mut spec = RetentionPolicySpec::default();
        let mut default = false;
        loop {
            if self.eat_keyword("DURATION") {
                spec.duration = Some(if self.eat_keyword("INF") { 0 } else { self.duration()? });
            } else if self.eat_keyword("REPLICATION") {
                spec.replication = Some(self.unsigned()?);
            } else if self.eat_keyword("SHARD") {
                self.expect_keyword("DURATION")?;
                spec.shard_duration = Some(self.duration()?);
            } else if in_create_database && self.eat_keyword("NAME") {
                spec.name = Some(self.ident()?);
            } else if !in_create_database && self.eat_keyword("DEFAULT") {
                default = true;
            } else {
                return Ok((spec, default));
            }
        }
    }

    fn drop(&mut self) -> Result<Statement> {
        if self.eat_keyword("DATABASE") {
            return Ok(Statement::DropDatabase { name: self.ident()? });
        }
        if self.eat_keyword("MEASUREMENT") {
            return Ok(Statement::DropMeasurement { name: self.ident()? });
        }
        if self.eat_keyword("SERIES") {
            let from = self.sources_clause()?;
            let condition = self.where_clause()?;
            if from.is_empty() && condition.is_none() {
                return self.unexpected("FROM or WHERE");
            }
            return Ok(Statement::DropSeries { from, condition });
        }
        if self.eat_keyword("RETENTION") {
            self.expect_keyword("POLICY")?;
            let name = self.ident()?;
            self.expect_keyword("ON")?;
            let database = self.ident()?;
            return Ok(Statement::DropRetentionPolicy { name, database });
        }
        self.unexpected("DATABASE, MEASUREMENT, SERIES, RETENTION")
    }

    fn select_body(&mut self) -> Result<SelectStatement> {
        let mut select = SelectStatement { fields: self.fields()?, ..SelectStatement::default() };
        if self.eat_keyword("INTO") {
            select.into = Some(self.measurement()?);
        }
        self.expect_keyword("FROM")?;
        select.from = self.sources()?;
        select.condition = self.where_clause()?;
        if self.eat_keyword("GROUP") {
            self.expect_keyword("BY")?;
            select.dimensions.push(self.dimension()?);
            while self.eat(&Token::Comma) {
                select.dimensions.push(self.dimension()?);
            }
        }
        if self.is_keyword("fill") && self.peek_at(1) == &Token::LParen {
            select.fill = Some(self.fill()?);
        }
        if self.eat_keyword("ORDER") {
            self.expect_keyword("BY")?;
            let field = self.ident()?;
            if !field.eq_ignore_ascii_case("time") {
                return Err(ParseError::new(
                    "only ORDER BY time supported at this time",
                    self.tokens[self.pos - 1].offset,
                ));
            }
            select.order_desc = if self.eat_keyword("DESC") {
                true
            } else {
                self.eat_keyword("ASC");
                false
            };
        }
        if self.eat_keyword("LIMIT") {
            select.limit = Some(self.unsigned()?);
        }
        if self.eat_keyword("OFFSET") {
            select.offset = Some(self.unsigned()?);
        }
        if self.eat_keyword("SLIMIT") {
            select.slimit = Some(self.unsigned()?);
        }
        if self.eat_keyword("SOFFSET") {
            select.soffset = Some(self.unsigned()?);
        }
        if self.is_keyword("tz") && self.peek_at(1) == &Token::LParen {
            self.next();
            self.next();
            match self.next() {
                Token::Str(zone) => select.tz = Some(zone),
                _ => {
                    self.pos -= 1;
                    return self.unexpected("string");
                }
            }
            self.expect(&Token::RParen)?;
        }
        Ok(select)
    }

    fn fields(&mut self) -> Result<Vec<Field>> {
        let mut fields = Vec::new();
        loop {
            let expr = self.expr(0)?;
            let alias = if self.eat_keyword("AS") { Some(self.ident()?) } else { None };
            fields.push(Field { expr, alias });
            if !self.eat(&Token::Comma) {
                return Ok(fields);
            }
        }
    }

    fn sources(&mut self) -> Result<Vec<Source>> {
        let mut sources = vec![self.source()?];
        while self.eat(&Token::Comma) {
            sources.push(self.source()?);
        }
        Ok(sources)
    }

    fn source(&mut self) -> Result<Source> {
        if self.eat(&Token::LParen) {
            self.expect_keyword("SELECT")?;
            let inner = self.select_body()?;
            self.expect(&Token::RParen)?;
            return Ok(Source::Subquery(Box::new(inner)));
        }
        Ok(Source::Measurement(self.measurement()?))
    }

    /// `name`, `/regex/`, `rp.name`, `db.rp.name`, `db..name`.
    fn measurement(&mut self) -> Result<Measurement> {
        let mut parts: Vec<Option<String>> = Vec::new();
        loop {
            match self.peek().clone() {
                Token::Regex(r) => {
                    self.next();
                    return finish_measurement(parts, MeasurementName::Regex(r), self);
                }
                Token::Ident(_) | Token::QuotedIdent(_) => {
                    let name = self.ident()?;
                    if self.eat(&Token::Dot) {
                        parts.push(Some(name));
                        if self.peek() == &Token::Dot {
                            self.next();
                            parts.push(None);
                        }
                        continue;
                    }
                    return finish_measurement(parts, MeasurementName::Name(name), self);
                }
                _ => return self.unexpected("identifier"),
            }
        }
    }

    fn dimension(&mut self) -> Result<Dimension> {
        if self.is_keyword("time") && self.peek_at(1) == &Token::LParen {
            self.next();
            self.next();
            let interval = self.duration()?;
            let offset = if self.eat(&Token::Comma) {
                let negative = self.eat(&Token::Op(BinaryOp::Sub));
                let d = self.duration()?;
                Some(if negative { -d } else { d })
            } else {
                None
            };
            self.expect(&Token::RParen)?;
            return Ok(Dimension::Time { interval, offset });
        }
        match self.peek().clone() {
            Token::Op(BinaryOp::Mul) => {
                self.next();
                Ok(Dimension::Wildcard)
            }
            Token::Regex(r) => {
                self.next();
                Ok(Dimension::Regex(r))
            }
            _ => Ok(Dimension::Tag(self.ident()?)),
        }
    }

    fn fill(&mut self) -> Result<Fill> {
        self.next();
        self.next();
        let fill = match self.next() {
            Token::Ident(w) if w.eq_ignore_ascii_case("null") => Fill::Null,
            Token::Ident(w) if w.eq_ignore_ascii_case("none") => Fill::None,
            Token::Ident(w) if w.eq_ignore_ascii_case("previous") => Fill::Previous,
            Token::Ident(w) if w.eq_ignore_ascii_case("linear") => Fill::Linear,
            Token::Integer(n) => Fill::Value(Literal::Integer(n)),
            Token::Float(n) => Fill::Value(Literal::Float(n)),
            Token::Op(BinaryOp::Sub) => match self.next() {
                Token::Integer(n) => Fill::Value(Literal::Integer(-n)),
                Token::Float(n) => Fill::Value(Literal::Float(-n)),
                _ => {
                    self.pos -= 1;
                    return self.unexpected("number");
                }
            },
            _ => {
                self.pos -= 1;
                return self.unexpected("null, none, previous, linear or a number");
            }
        };
        self.expect(&Token::RParen)?;
        Ok(fill)
    }

    fn binary_op(&self) -> Option<BinaryOp> {
        Some(match self.peek() {
            Token::Op(op) => *op,
            Token::Ident(w) if w.eq_ignore_ascii_case("AND") => BinaryOp::And,
            Token::Ident(w) if w.eq_ignore_ascii_case("OR") => BinaryOp::Or,
            _ => return None,
        })
    }

    /// Left-associative binary operators binding tighter than `min`.
    pub(crate) fn expr(&mut self, min: u8) -> Result<Expr> {
        let mut left = self.unary()?;
        while let Some(op) = self.binary_op() {
            if op.precedence() <= min {
                break;
            }
            self.next();
            let right = self.expr(op.precedence())?;
            left = Expr::Binary { left: Box::new(left), op, right: Box::new(right) };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.eat(&Token::Op(BinaryOp::Sub)) {
            return Ok(match self.peek().clone() {
                Token::Integer(n) => {
                    self.next();
                    Expr::Literal(Literal::Integer(-n))
                }
                Token::Float(n) => {
                    self.next();
                    Expr::Literal(Literal::Float(-n))
                }
                Token::Duration(d) => {
                    self.next();
                    Expr::Literal(Literal::Duration(-d))
                }
                _ => Expr::Negate(Box::new(self.unary()?)),
            });
        }
        self.eat(&Token::Op(BinaryOp::Add));
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr> {
        let token = self.peek().clone();
        // Values that are one token.
        let value = match &token {
            Token::Str(s) => Some(Expr::Literal(Literal::String(s.clone()))),
            Token::Integer(n) => Some(Expr::Literal(Literal::Integer(*n))),
            Token::Unsigned(n) => Some(Expr::Literal(Literal::Unsigned(*n))),
            Token::Float(n) => Some(Expr::Literal(Literal::Float(*n))),
            Token::Duration(d) => Some(Expr::Literal(Literal::Duration(*d))),
            Token::Regex(r) => Some(Expr::Regex(r.clone())),
            Token::Param(p) => Some(Expr::Param(p.clone())),
            Token::Ident(w) if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") => {
                Some(Expr::Literal(Literal::Boolean(w.eq_ignore_ascii_case("true"))))
            }
            _ => None,
        };
        if let Some(value) = value {
            self.next();
            return Ok(value);
        }
        let bare = matches!(token, Token::Ident(_));
        let expr = match token {
            Token::LParen => {
                self.next();
                let inner = self.expr(0)?;
                self.expect(&Token::RParen)?;
                return Ok(Expr::Paren(Box::new(inner)));
            }
            Token::Op(BinaryOp::Mul) => {
                self.next();
                Expr::Wildcard(self.cast()?)
            }
            Token::Ident(name) if self.peek_at(1) == &Token::LParen => {
                self.next();
                self.next();
                let mut args = Vec::new();
                if !self.eat(&Token::RParen) {
                    loop {
                        args.push(self.expr(0)?);
                        if self.eat(&Token::RParen) {
                            break;
                        }
                        self.expect(&Token::Comma)?;
                    }
                }
                Expr::Call { name: name.to_ascii_lowercase(), args }
            }
            Token::Ident(name) | Token::QuotedIdent(name) => {
                if bare && super::ast::KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&name)) {
                    return self.unexpected("identifier, string, number, bool");
                }
                self.next();
                Expr::VarRef { name, data_type: self.cast()? }
            }
            _ => return self.unexpected("identifier, string, number, bool"),
        };
        Ok(expr)
    }

    /// An optional `::type`.
    fn cast(&mut self) -> Result<Option<DataType>> {
        if !self.eat(&Token::DoubleColon) {
            return Ok(None);
        }
        let t = match self.peek() {
            Token::Ident(w) => match w.to_ascii_lowercase().as_str() {
                "float" => DataType::Float,
                "integer" => DataType::Integer,
                "unsigned" => DataType::Unsigned,
                "string" => DataType::String,
                "boolean" => DataType::Boolean,
                "field" => DataType::Field,
                "tag" => DataType::Tag,
                _ => return self.unexpected("float, integer, unsigned, string, boolean, field or tag"),
            },
            _ => return self.unexpected("float, integer, unsigned, string, boolean, field or tag"),
        };
        self.next();
        Ok(Some(t))
    }
}

/// `parts` are what came before the name: `[db, rp]`, `[db, None]` (for
/// `db..m`) or `[rp]`.
fn finish_measurement(parts: Vec<Option<String>>, name: MeasurementName, parser: &Parser) -> Result<Measurement> {
    let (database, retention_policy) = match parts.as_slice() {
        [] => (None, None),
        [rp] => (None, rp.clone()),
        [db, rp] => (db.clone(), rp.clone()),
        _ => return parser.unexpected("at most database.retention_policy.measurement"),
    };
    Ok(Measurement { database, retention_policy, name })
}
