//! InfluxQL tokens, each with the byte offset where it starts, so parse errors
//! can say where they are.

use std::fmt;

use super::ParseError;
use super::ast::BinaryOp;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// A bare identifier or keyword, as written.
    Ident(String),
    /// `"quoted identifier"`, unescaped.
    QuotedIdent(String),
    /// `'string'`, unescaped.
    Str(String),
    Integer(i64),
    /// An integer too large for i64 (only meaningful as a literal; 1.x keeps it unsigned).
    Unsigned(u64),
    Float(f64),
    /// `10s`, `1h30m`: nanoseconds.
    Duration(i64),
    /// `/regex/`, unescaped `\/`.
    Regex(String),
    /// `$name`.
    Param(String),
    /// An operator; the lexer never makes `And`/`Or`, which are words.
    Op(BinaryOp),
    LParen,
    RParen,
    Comma,
    Semicolon,
    Dot,
    DoubleColon,
    Eof,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ident(s) => write!(f, "{s}"),
            Self::QuotedIdent(s) => write!(f, "\"{s}\""),
            Self::Str(s) => write!(f, "'{s}'"),
            Self::Integer(n) => write!(f, "{n}"),
            Self::Unsigned(n) => write!(f, "{n}"),
            Self::Float(n) => write!(f, "{n}"),
            Self::Duration(n) => write!(f, "{}", super::ast::format_duration(*n)),
            Self::Regex(r) => write!(f, "/{r}/"),
            Self::Param(p) => write!(f, "${p}"),
            Self::Op(op) => write!(f, "{}", op.as_str()),
            Self::LParen => f.write_str("("),
            Self::RParen => f.write_str(")"),
            Self::Comma => f.write_str(","),
            Self::Semicolon => f.write_str(";"),
            Self::Dot => f.write_str("."),
            Self::DoubleColon => f.write_str("::"),
            Self::Eof => f.write_str("EOF"),
        }
    }
}

/// A token and the byte offset of its first character.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned {
    pub(crate) token: Token,
    pub(crate) offset: usize,
}

/// Duration units and their nanoseconds, longest spelling first so `ms` is not `m`.
const UNITS: [(&str, i64); 9] = [
    ("ns", 1),
    ("ms", 1_000_000),
    ("µ", 1_000),
    ("u", 1_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

/// The byte length and nanoseconds of the duration unit `text` starts with.
fn unit_at(text: &str) -> Option<(usize, i64)> {
    UNITS.iter().find(|(u, _)| text.starts_with(u)).map(|(u, n)| (u.len(), *n))
}

/// Splits `text` into tokens. Whether a `/` starts a regex or divides depends
/// on what came before it: after a value (an identifier, a number, a closing
/// parenthesis) it divides.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Spanned>, ParseError> {
    let mut tokens: Vec<Spanned> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        // Comments: `-- to end of line` and `/* ... */`.
        if text[i..].starts_with("--") {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            continue;
        }
        if text[i..].starts_with("/*") {
            match text[i + 2..].find("*/") {
                Some(n) => i += n + 4,
                None => return Err(ParseError::new("unterminated comment", i)),
            }
            continue;
        }
        let start = i;
        let token = match c {
            '(' => {
                i += 1;
                Token::LParen
            }
            ')' => {
                i += 1;
                Token::RParen
            }
            ',' => {
                i += 1;
                Token::Comma
            }
            ';' => {
                i += 1;
                Token::Semicolon
            }
            ':' if text[i..].starts_with("::") => {
                i += 2;
                Token::DoubleColon
            }
            '+' => {
                i += 1;
                Token::Op(BinaryOp::Add)
            }
            '-' => {
                i += 1;
                Token::Op(BinaryOp::Sub)
            }
            '*' => {
                i += 1;
                Token::Op(BinaryOp::Mul)
            }
            '%' => {
                i += 1;
                Token::Op(BinaryOp::Mod)
            }
            '&' => {
                i += 1;
                Token::Op(BinaryOp::BitAnd)
            }
            '|' => {
                i += 1;
                Token::Op(BinaryOp::BitOr)
            }
            '^' => {
                i += 1;
                Token::Op(BinaryOp::BitXor)
            }
            '=' if text[i..].starts_with("=~") => {
                i += 2;
                Token::Op(BinaryOp::EqRegex)
            }
            '=' => {
                i += 1;
                Token::Op(BinaryOp::Eq)
            }
            '!' if text[i..].starts_with("!=") => {
                i += 2;
                Token::Op(BinaryOp::NotEq)
            }
            '!' if text[i..].starts_with("!~") => {
                i += 2;
                Token::Op(BinaryOp::NotEqRegex)
            }
            '<' if text[i..].starts_with("<>") => {
                i += 2;
                Token::Op(BinaryOp::NotEq)
            }
            '<' if text[i..].starts_with("<=") => {
                i += 2;
                Token::Op(BinaryOp::LtEq)
            }
            '<' => {
                i += 1;
                Token::Op(BinaryOp::Lt)
            }
            '>' if text[i..].starts_with(">=") => {
                i += 2;
                Token::Op(BinaryOp::GtEq)
            }
            '>' => {
                i += 1;
                Token::Op(BinaryOp::Gt)
            }
            '/' if slash_divides(&tokens) => {
                i += 1;
                Token::Op(BinaryOp::Div)
            }
            '/' => {
                let (regex, end) = delimited(text, i, '/')?;
                if let Err(e) = regex::Regex::new(&regex) {
                    // The crate's message spans lines; its last says what is wrong.
                    let message = e.to_string();
                    let reason = message.lines().last().unwrap_or_default().trim_start_matches("error: ");
                    return Err(ParseError::new(format!("error parsing regexp: {reason}"), i));
                }
                i = end;
                Token::Regex(regex)
            }
            '"' => {
                let (ident, end) = delimited(text, i, '"')?;
                i = end;
                Token::QuotedIdent(ident)
            }
            '\'' => {
                let (string, end) = delimited(text, i, '\'')?;
                i = end;
                Token::Str(string)
            }
            '$' => {
                let name_len =
                    text[i + 1..].find(|ch: char| !(ch.is_alphanumeric() || ch == '_')).unwrap_or(text.len() - i - 1);
                if name_len == 0 {
                    return Err(ParseError::new("expected a parameter name after $", i));
                }
                i += 1 + name_len;
                Token::Param(text[start + 1..i].to_owned())
            }
            '.' if !text[i + 1..].starts_with(|ch: char| ch.is_ascii_digit()) => {
                i += 1;
                Token::Dot
            }
            c if c.is_ascii_digit() || c == '.' => {
                let (token, end) = number(text, i)?;
                i = end;
                token
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = text[i..].find(|ch: char| !(ch.is_alphanumeric() || ch == '_')).unwrap_or(text.len() - i);
                i += len;
                Token::Ident(text[start..i].to_owned())
            }
            other => return Err(ParseError::new(format!("unexpected character {other:?}"), i)),
        };
        tokens.push(Spanned { token, offset: start });
    }
    // 1.x reports the end one character past the last (`char 15` for 13 characters).
    tokens.push(Spanned { token: Token::Eof, offset: text.len() + 1 });
    Ok(tokens)
}

/// Whether a `/` after `tokens` divides (it follows a value) or opens a regex.
fn slash_divides(tokens: &[Spanned]) -> bool {
    match tokens {
        // `x::tag / y`: the type after `::` ends a value even when it is a keyword.
        [.., before, last] if before.token == Token::DoubleColon => matches!(last.token, Token::Ident(_)),
        [.., last] => ends_value(&last.token),
        [] => false,
    }
}

fn ends_value(token: &Token) -> bool {
    if let Token::Ident(word) = token {
        // After SELECT, WHERE, AND... a slash opens a regex; `true` and `false` are values.
        return word.eq_ignore_ascii_case("true")
            || word.eq_ignore_ascii_case("false")
            || !super::ast::KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word));
    }
    matches!(
        token,
        Token::QuotedIdent(_)
            | Token::Str(_)
            | Token::Integer(_)
            | Token::Unsigned(_)
            | Token::Float(_)
            | Token::Duration(_)
            | Token::Param(_)
            | Token::Regex(_)
            | Token::RParen
    )
}

/// The text between `quote` characters starting at `start`, with `\quote` and
/// `\\` unescaped (other escapes stay, as regexes need them), and the offset after it.
fn delimited(text: &str, start: usize, quote: char) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((n, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, next)) if next == quote => out.push(next),
                Some((_, '\\')) if quote != '/' => out.push('\\'),
                Some((_, next)) => {
                    out.push('\\');
                    out.push(next);
                }
                None => break,
            },
            c if c == quote => return Ok((out, start + 1 + n + c.len_utf8())),
            '\n' if quote == '/' => break,
            c => out.push(c),
        }
    }
    let what = match quote {
        '/' => "regex",
        '"' => "quoted identifier",
        _ => "string",
    };
    Err(ParseError::new(format!("unterminated {what}"), start))
}

/// A number or a duration literal starting at `start`.
fn number(text: &str, start: usize) -> Result<(Token, usize), ParseError> {
    let digits_end = |from: usize| text[from..].find(|c: char| !c.is_ascii_digit()).map_or(text.len(), |n| from + n);
    let mut i = digits_end(start);
    let mut is_float = false;
    if text[i..].starts_with('.') {
        is_float = true;
        i = digits_end(i + 1);
    }
    if text[i..].starts_with(['e', 'E']) {
        let exp_start = if text[i + 1..].starts_with(['+', '-']) { i + 2 } else { i + 1 };
        let exp_end = digits_end(exp_start);
        if exp_end > exp_start {
            is_float = true;
            i = exp_end;
        }
    }
    let literal = &text[start..i];
    if !is_float && let Some((unit_len, nanos)) = unit_at(&text[i..]) {
        // A duration may chain units: 1h30m.
        let after = i + unit_len;
        if !text[after..].starts_with(|c: char| c.is_alphabetic() && unit_at(&text[after..]).is_none()) {
            let mut total = parse_i64(literal, start)?.checked_mul(nanos).ok_or_else(|| overflow(start))?;
            let mut i = after;
            while text[i..].starts_with(|c: char| c.is_ascii_digit()) {
                let end = digits_end(i);
                let Some((unit_len, nanos)) = unit_at(&text[end..]) else {
                    return Err(ParseError::new("expected a duration unit", end));
                };
                let part = parse_i64(&text[i..end], i)?.checked_mul(nanos).ok_or_else(|| overflow(i))?;
                total = total.checked_add(part).ok_or_else(|| overflow(i))?;
                i = end + unit_len;
            }
            return Ok((Token::Duration(total), i));
        }
    }
    if is_float {
        let value = literal.parse::<f64>().map_err(|_| ParseError::new(format!("invalid number {literal}"), start))?;
        return Ok((Token::Float(value), i));
    }
    match literal.parse::<i64>() {
        Ok(n) => Ok((Token::Integer(n), i)),
        Err(_) => match literal.parse::<u64>() {
            Ok(n) => Ok((Token::Unsigned(n), i)),
            Err(_) => Err(ParseError::new(format!("integer {literal} is out of range"), start)),
        },
    }
}

fn parse_i64(digits: &str, at: usize) -> Result<i64, ParseError> {
    digits.parse::<i64>().map_err(|_| overflow(at))
}

fn overflow(at: usize) -> ParseError {
    ParseError::new("duration is out of range", at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token> {
        tokenize(text).expect("tokenizes").into_iter().map(|s| s.token).collect()
    }

    #[test]
    fn slashes_divide_after_values_and_start_regexes_elsewhere() {
        assert_eq!(
            tokens("a / 2 =~ /x\\/y/"),
            [
                Token::Ident("a".into()),
                Token::Op(BinaryOp::Div),
                Token::Integer(2),
                Token::Op(BinaryOp::EqRegex),
                Token::Regex("x/y".into()),
                Token::Eof
            ]
        );
    }

    #[test]
    fn durations_numbers_strings_and_params() {
        assert_eq!(
            tokens("1h30m 10s 5ms 1.5 2e3 'it\\'s' \"a \\\"b\\\"\" $host 18446744073709551615"),
            [
                Token::Duration(5_400_000_000_000),
                Token::Duration(10_000_000_000),
                Token::Duration(5_000_000),
                Token::Float(1.5),
                Token::Float(2000.0),
                Token::Str("it's".into()),
                Token::QuotedIdent("a \"b\"".into()),
                Token::Param("host".into()),
                Token::Unsigned(u64::MAX),
                Token::Eof
            ]
        );
    }

    #[test]
    fn errors_say_where() {
        let e = tokenize("SELECT 'open").expect_err("unterminated");
        assert_eq!((e.message.as_str(), e.offset), ("unterminated string", 7));
        let e = tokenize("SELECT # FROM x").expect_err("bad character");
        assert_eq!(e.offset, 7);
    }
}
