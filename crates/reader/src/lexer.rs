//! The CLIF lexer: text to tokens with 1-based line and column numbers.
//! Comments are returned separately, each with its position and whether
//! it trails code on the same line.

/// A token kind; text-carrying kinds borrow from the source.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tok<'a> {
    LPar,
    RPar,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Colon,
    Equal,
    Arrow,
    Star,
    Bang,
    /// A word: keyword, opcode, type, entity (`v3`, `block1`), flag.
    Ident(&'a str),
    /// A number with its sign: `-12`, `0x7fff_ffff`, `0x1.8p3`, `+Inf`,
    /// `NaN:0x1`, `1e-5`.
    Number(&'a str),
    /// `%name`, without the `%`.
    Name(&'a str),
    /// `u0:3`, the whole text.
    UserRef(&'a str),
    /// `@00c7`: the hex digits.
    SrcLoc(&'a str),
    /// `"..."`: the contents.
    Str(&'a str),
    /// `#89ab`: the hex digits.
    HexSeq(&'a str),
}

impl Tok<'_> {
    /// How the token is named in "found ..." messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::LPar => "'('".into(),
            Tok::RPar => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::Comma => "','".into(),
            Tok::Dot => "'.'".into(),
            Tok::Colon => "':'".into(),
            Tok::Equal => "'='".into(),
            Tok::Arrow => "'->'".into(),
            Tok::Star => "'*'".into(),
            Tok::Bang => "'!'".into(),
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Number(s) => format!("number '{s}'"),
            Tok::Name(s) => format!("name '%{s}'"),
            Tok::UserRef(s) => format!("name '{s}'"),
            Tok::SrcLoc(s) => format!("source location '@{s}'"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::HexSeq(s) => format!("hex sequence '#{s}'"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Token<'a> {
    pub tok: Tok<'a>,
    pub line: usize,
    pub col: usize,
}

/// A `;` comment: `text` is everything after the `;` (not trimmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub line: usize,
    pub col: usize,
    pub text: String,
    /// Code precedes the comment on its line.
    pub trailing: bool,
}

/// A lexical error: position and what was found.
#[derive(Clone, Debug)]
pub struct LexError {
    pub line: usize,
    pub col: usize,
    pub expected: &'static str,
    pub found: String,
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Tokenizes `src`, whose first line is line number `first_line`.
pub fn tokenize<'a>(
    src: &'a str,
    first_line: usize,
) -> Result<(Vec<Token<'a>>, Vec<Comment>), LexError> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let mut comments = Vec::new();
    let mut i = 0;
    let mut line = first_line;
    let mut line_start = 0;
    let mut code_on_line = false;
    // Columns count characters, not bytes; counted incrementally.
    let (mut col_pos, mut col_at) = (0usize, 1usize);
    while i < b.len() {
        let c = b[i];
        if col_pos < line_start {
            (col_pos, col_at) = (line_start, 1);
        }
        let col = col_at + src[col_pos..i].chars().count();
        (col_pos, col_at) = (i, col);
        let start = i;
        let push = |tok: Tok<'a>| -> Token<'a> { Token { tok, line, col } };
        let single = match c {
            b'\n' => {
                i += 1;
                line += 1;
                line_start = i;
                code_on_line = false;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b';' => {
                let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
                comments.push(Comment {
                    line,
                    col,
                    text: src[i + 1..end].to_string(),
                    trailing: code_on_line,
                });
                i = end;
                continue;
            }
            b'(' => Some(Tok::LPar),
            b')' => Some(Tok::RPar),
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            b'{' => Some(Tok::LBrace),
            b'}' => Some(Tok::RBrace),
            b',' => Some(Tok::Comma),
            b'.' => Some(Tok::Dot),
            b':' => Some(Tok::Colon),
            b'=' => Some(Tok::Equal),
            b'*' => Some(Tok::Star),
            b'!' => Some(Tok::Bang),
            _ => None,
        };
        code_on_line = true;
        if let Some(t) = single {
            i += 1;
            toks.push(push(t));
            continue;
        }
        let tok = if c == b'-' && b.get(i + 1) == Some(&b'>') {
            i += 2;
            Tok::Arrow
        } else if c.is_ascii_digit()
            || ((c == b'-' || c == b'+') && b.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric()))
        {
            i = scan_number(b, i);
            Tok::Number(&src[start..i])
        } else if is_word_start(c) {
            while i < b.len() && is_word(b[i]) {
                i += 1;
            }
            let word = &src[start..i];
            if matches!(word, "Inf" | "NaN" | "sNaN") {
                i = scan_nan_payload(b, i);
                Tok::Number(&src[start..i])
            } else if is_user_prefix(word)
                && b.get(i) == Some(&b':')
                && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())
            {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                Tok::UserRef(&src[start..i])
            } else {
                Tok::Ident(word)
            }
        } else if c == b'%' {
            i += 1;
            while i < b.len() && is_word(b[i]) {
                i += 1;
            }
            if i == start + 1 {
                return Err(LexError {
                    line,
                    col,
                    expected: "a name after '%'",
                    found: describe_char(src, i),
                });
            }
            Tok::Name(&src[start + 1..i])
        } else if c == b'@' || c == b'#' {
            i += 1;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            if i == start + 1 {
                return Err(LexError {
                    line,
                    col,
                    expected: "hex digits",
                    found: describe_char(src, i),
                });
            }
            if c == b'@' {
                Tok::SrcLoc(&src[start + 1..i])
            } else {
                Tok::HexSeq(&src[start + 1..i])
            }
        } else if c == b'"' {
            let rest = &src[i + 1..];
            match rest.find(['"', '\n']) {
                Some(n) if rest.as_bytes()[n] == b'"' => {
                    i += n + 2;
                    Tok::Str(&src[start + 1..i - 1])
                }
                _ => {
                    return Err(LexError {
                        line,
                        col,
                        expected: "a closing '\"' on the same line",
                        found: "end of line".into(),
                    })
                }
            }
        } else {
            return Err(LexError {
                line,
                col,
                expected: "a token",
                found: describe_char(src, i),
            });
        };
        toks.push(push(tok));
    }
    Ok((toks, comments))
}

fn describe_char(src: &str, i: usize) -> String {
    match src.get(i..).and_then(|s| s.chars().next()) {
        Some('\n') => "end of line".into(),
        Some(ch) => format!("{ch:?}"),
        None => "end of file".into(),
    }
}

fn is_user_prefix(word: &str) -> bool {
    word.len() > 1 && word.starts_with('u') && word[1..].bytes().all(|c| c.is_ascii_digit())
}

/// Scans a number starting at `i` (a digit or a sign).
fn scan_number(b: &[u8], mut i: usize) -> usize {
    let start = i;
    if b[i] == b'-' || b[i] == b'+' {
        i += 1;
    }
    let hex = b[i..].starts_with(b"0x") || b[i..].starts_with(b"0X");
    let word_start = i;
    while i < b.len() {
        let c = b[i];
        let plain = c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
        let exponent_sign = (c == b'-' || c == b'+')
            && i > word_start
            && (matches!(b[i - 1], b'p' | b'P') || (!hex && matches!(b[i - 1], b'e' | b'E')));
        if plain || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    // `-NaN:0x1`, `+sNaN:0x1`.
    let word = &b[start..i];
    if word.ends_with(b"NaN") {
        i = scan_nan_payload(b, i);
    }
    i
}

fn scan_nan_payload(b: &[u8], i: usize) -> usize {
    if b.get(i) == Some(&b':') && b[i + 1..].starts_with(b"0x") {
        let mut j = i + 3;
        while j < b.len() && b[j].is_ascii_hexdigit() {
            j += 1;
        }
        j
    } else {
        i
    }
}
