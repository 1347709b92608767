//! Tokens of the rule language.

use super::error::{Error, Pos};

/// A token kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    LParen,
    RParen,
    /// `@` in `x @ pat`.
    At,
    Sym(String),
    Int(i128),
}

/// A token with its position.
#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

fn is_sym_char(c: char) -> bool {
    !(c.is_whitespace() || c == '(' || c == ')' || c == ';' || c == '@')
}

/// Splits `src` (file number `file`) into tokens. Comments are `;` to the end
/// of the line and nested `(; ... ;)` blocks.
pub fn lex(file: usize, src: &str) -> Result<Vec<Token>, Error> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let (mut line, mut col) = (1u32, 1u32);
    let advance = |i: &mut usize, line: &mut u32, col: &mut u32, c: char| {
        *i += 1;
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { file, line, col };
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, c);
        } else if c == ';' {
            while i < chars.len() && chars[i] != '\n' {
                {
                    let ch = chars[i];
                    advance(&mut i, &mut line, &mut col, ch);
                }
            }
        } else if c == '(' && chars.get(i + 1) == Some(&';') {
            let mut depth = 0usize;
            loop {
                if i >= chars.len() {
                    return Err(Error::new(pos, "unterminated block comment `(;`"));
                }
                if chars[i] == '(' && chars.get(i + 1) == Some(&';') {
                    depth += 1;
                    advance(&mut i, &mut line, &mut col, '(');
                    advance(&mut i, &mut line, &mut col, ';');
                } else if chars[i] == ';' && chars.get(i + 1) == Some(&')') {
                    depth -= 1;
                    advance(&mut i, &mut line, &mut col, ';');
                    advance(&mut i, &mut line, &mut col, ')');
                    if depth == 0 {
                        break;
                    }
                } else {
                    {
                        let ch = chars[i];
                        advance(&mut i, &mut line, &mut col, ch);
                    }
                }
            }
        } else if c == '(' || c == ')' || c == '@' {
            let tok = match c {
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                _ => Tok::At,
            };
            out.push(Token { tok, pos });
            advance(&mut i, &mut line, &mut col, c);
        } else {
            let start = i;
            while i < chars.len() && is_sym_char(chars[i]) {
                {
                    let ch = chars[i];
                    advance(&mut i, &mut line, &mut col, ch);
                }
            }
            let text: String = chars[start..i].iter().collect();
            let first = text.chars().next().unwrap_or(' ');
            let second = text.chars().nth(1);
            let numeric = first.is_ascii_digit()
                || (first == '-' && second.is_some_and(|c| c.is_ascii_digit()));
            let tok = if numeric {
                Tok::Int(parse_int(&text).ok_or_else(|| {
                    Error::new(
                        pos,
                        format!("invalid or out-of-range integer literal `{}`", text),
                    )
                })?)
            } else {
                Tok::Sym(text)
            };
            out.push(Token { tok, pos });
        }
    }
    Ok(out)
}

/// Parses decimal, `0x`, `0o` and `0b` literals with optional `-` and `_`
/// separators into an `i128`. Returns `None` on malformed or too-large input.
fn parse_int(text: &str) -> Option<i128> {
    let (neg, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (radix, digits) =
        if let Some(d) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = rest.strip_prefix("0o") {
            (8, d)
        } else if let Some(d) = rest.strip_prefix("0b") {
            (2, d)
        } else {
            (10, rest)
        };
    let mut value: i128 = 0;
    let mut any = false;
    for ch in digits.chars() {
        if ch == '_' {
            continue;
        }
        let d = ch.to_digit(radix)? as i128;
        value = value.checked_mul(radix as i128)?.checked_add(d)?;
        any = true;
    }
    if !any {
        return None;
    }
    Some(if neg { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("-1_000"), Some(-1000));
        assert_eq!(parse_int("0b101"), Some(5));
        assert_eq!(parse_int("12a"), None);
        assert_eq!(parse_int("0x"), None);
        assert_eq!(
            parse_int("999999999999999999999999999999999999999999"),
            None
        );
    }

    #[test]
    fn positions_and_comments() {
        let toks = lex(0, "; c\n (a (; x (; y ;) ;) @ -3)").unwrap();
        assert_eq!(toks.len(), 5);
        assert_eq!(
            toks[0].pos,
            Pos {
                file: 0,
                line: 2,
                col: 2
            }
        );
        assert_eq!(toks[2].tok, Tok::At);
        assert_eq!(toks[3].tok, Tok::Int(-3));
        assert_eq!(toks[3].pos.col, 23);
        let err = lex(0, "(a\n  (; open").unwrap_err();
        assert_eq!((err.pos.line, err.pos.col), (2, 3));
    }
}
