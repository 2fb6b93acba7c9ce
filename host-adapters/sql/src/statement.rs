//! Parameters are written `$1`, `$2`, ... on every backend. SQLite reads
//! `$1` as a *named* parameter, numbered by first appearance, so a statement
//! that uses `$2` before `$1` would bind the wrong values; `?1` is SQLite's
//! explicitly numbered form. Literals, quoted names and comments are left alone.

pub fn to_sqlite_placeholders(statement: &str) -> String {
    let bytes = statement.as_bytes();
    let mut out = String::with_capacity(statement.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' | b'`' => {
                let end = find_closing(bytes, i + 1, c);
                out.push_str(&statement[i..end]);
                i = end;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = statement[i..].find('\n').map_or(bytes.len(), |n| i + n);
                out.push_str(&statement[i..end]);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = statement[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                out.push_str(&statement[i..end]);
                i = end;
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push('?');
                i += 1;
            }
            _ => {
                let ch = statement[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// Index just past the quote closing a literal opened before `from`;
/// a doubled quote is an escaped one.
fn find_closing(bytes: &[u8], mut from: usize, quote: u8) -> usize {
    while from < bytes.len() {
        if bytes[from] == quote {
            if bytes.get(from + 1) == Some(&quote) {
                from += 2;
                continue;
            }
            return from + 1;
        }
        from += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::to_sqlite_placeholders as t;

    #[test]
    fn numbers_placeholders() {
        assert_eq!(t("SELECT $2, $1, $10"), "SELECT ?2, ?1, ?10");
    }

    #[test]
    fn leaves_literals_names_and_comments_alone() {
        assert_eq!(
            t("SELECT '$1', \"a$1\", 'it''s $2' -- $3\n, $4 /* $5 */"),
            "SELECT '$1', \"a$1\", 'it''s $2' -- $3\n, ?4 /* $5 */"
        );
    }

    #[test]
    fn keeps_non_ascii_text() {
        assert_eq!(t("SELECT 'é' || $1 || ñ"), "SELECT 'é' || ?1 || ñ");
    }
}
