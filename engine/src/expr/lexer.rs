//! The expression lexer: one pass over the bytes, no regex, tokens carry byte spans so syntax
//! errors can quote DynamoDB's `token` and `near` text from the source.
//!
//! Whitespace is space, tab, CR and LF. Words are `[A-Za-z_][A-Za-z0-9_]*`; `#` and `:` must be
//! followed by at least one `[A-Za-z0-9_]` to form a placeholder; digits form a number token (only
//! valid inside `[...]`). Anything else is a one-character `Unknown` token, which no grammar rule
//! accepts, so the parser reports it as the offending token.

/// What a token is; the text is always `&src[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// `[A-Za-z_][A-Za-z0-9_]*` (keywords are words; the parser compares case-insensitively).
    Word,
    /// `#name`
    Name,
    /// `:value`
    Value,
    /// `[0-9]+`
    Number,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    /// Any character no rule accepts.
    Unknown,
    /// End of input (zero-width at `src.len()`).
    Eof,
}

/// One token with its byte span in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_word_part(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits `src` into tokens; the last token is always `Eof`. Never fails: unknown characters
/// become `Unknown` tokens.
pub fn lex(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut out = Vec::with_capacity(src.len() / 3 + 2);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let tok = match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' | b':' => {
                let mut j = i + 1;
                while j < bytes.len() && is_word_part(bytes[j]) {
                    j += 1;
                }
                if j == i + 1 {
                    i += 1;
                    Tok::Unknown
                } else {
                    i = j;
                    if b == b'#' {
                        Tok::Name
                    } else {
                        Tok::Value
                    }
                }
            }
            b'0'..=b'9' => {
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                Tok::Number
            }
            _ if is_word_start(b) => {
                while i < bytes.len() && is_word_part(bytes[i]) {
                    i += 1;
                }
                Tok::Word
            }
            b'(' | b')' | b'[' | b']' | b'.' | b',' | b'=' | b'+' | b'-' => {
                i += 1;
                match b {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b'[' => Tok::LBracket,
                    b']' => Tok::RBracket,
                    b'.' => Tok::Dot,
                    b',' => Tok::Comma,
                    b'=' => Tok::Eq,
                    b'+' => Tok::Plus,
                    _ => Tok::Minus,
                }
            }
            b'<' => {
                i += 1;
                match bytes.get(i) {
                    Some(b'>') => {
                        i += 1;
                        Tok::Ne
                    }
                    Some(b'=') => {
                        i += 1;
                        Tok::Le
                    }
                    _ => Tok::Lt,
                }
            }
            b'>' => {
                i += 1;
                if bytes.get(i) == Some(&b'=') {
                    i += 1;
                    Tok::Ge
                } else {
                    Tok::Gt
                }
            }
            _ => {
                // One whole UTF-8 character.
                i += 1;
                while i < bytes.len() && (bytes[i] & 0xC0) == 0x80 {
                    i += 1;
                }
                Tok::Unknown
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    out
}

/// DynamoDB's syntax-error text for the token at `index`: `Syntax error; token: "<t>", near:
/// "<from the previous token's start to the next token's end>"`.
pub fn syntax_error_text(src: &str, tokens: &[Token], index: usize) -> String {
    let index = index.min(tokens.len().saturating_sub(1));
    let Some(tok) = tokens.get(index) else {
        return "Syntax error; token: \"<EOF>\", near: \"\"".to_string();
    };
    let text = if tok.tok == Tok::Eof {
        "<EOF>"
    } else {
        src.get(tok.start..tok.end).unwrap_or("")
    };
    let from = if index > 0 {
        tokens[index - 1].start
    } else {
        tok.start
    };
    let to = match tokens.get(index + 1) {
        Some(next) if tok.tok != Tok::Eof => next.end,
        _ => tok.end,
    };
    let near = src.get(from..to).unwrap_or("");
    format!("Syntax error; token: \"{text}\", near: \"{near}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        lex(src).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_operators_placeholders_and_words() {
        assert_eq!(
            kinds("#a <> :v AND b[12].c >= x"),
            vec![
                Tok::Name,
                Tok::Ne,
                Tok::Value,
                Tok::Word,
                Tok::Word,
                Tok::LBracket,
                Tok::Number,
                Tok::RBracket,
                Tok::Dot,
                Tok::Word,
                Tok::Ge,
                Tok::Word,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn bare_colon_and_unicode_are_unknown_tokens() {
        assert_eq!(kinds(": ü"), vec![Tok::Unknown, Tok::Unknown, Tok::Eof]);
        let toks = lex("ü");
        assert_eq!((toks[0].start, toks[0].end), (0, 2));
    }

    #[test]
    fn near_spans_previous_through_next_token() {
        let src = "ADD hits : incr";
        let toks = lex(src);
        assert_eq!(
            syntax_error_text(src, &toks, 2),
            "Syntax error; token: \":\", near: \"hits : incr\""
        );
        let src = "INVALID SYNTAX HERE";
        let toks = lex(src);
        assert_eq!(
            syntax_error_text(src, &toks, 0),
            "Syntax error; token: \"INVALID\", near: \"INVALID SYNTAX\""
        );
        let src = "a = ";
        let toks = lex(src);
        assert_eq!(
            syntax_error_text(src, &toks, 2),
            "Syntax error; token: \"<EOF>\", near: \"= \""
        );
    }
}
