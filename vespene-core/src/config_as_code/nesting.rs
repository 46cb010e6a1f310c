//! A YAML document's nesting, measured before it is parsed: the parser's
//! time grows with the square of the depth (a 100 000-deep `[[[[` ran
//! for minutes), while nothing a Vespene file holds nests more than a few
//! levels. The scan is one pass over the text and errs on the side of
//! counting: block nesting by indentation, flow nesting by brackets
//! outside quoted strings and comments; block scalars (`|`, `>`) are text.

/// The deepest nesting a configuration file may have.
pub const MAX_DEPTH: usize = 64;

/// `Err` naming the line where the nesting first goes past [`MAX_DEPTH`].
pub fn check(text: &str) -> Result<(), String> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    // Lines more indented than this belong to a block scalar.
    let mut block_scalar: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if let Some(at) = block_scalar {
            if indent > at {
                continue;
            }
            block_scalar = None;
        }
        if flow == 0 {
            while indents.last().is_some_and(|&i| i >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        let (opened, ends_block_scalar) = scan_line(body, &mut flow);
        if indents.len() + opened.max(flow) > MAX_DEPTH {
            return Err(format!(
                "line {}: nested more than {MAX_DEPTH} levels deep",
                n + 1
            ));
        }
        if ends_block_scalar && flow == 0 {
            block_scalar = Some(indent);
        }
    }
    Ok(())
}

/// Follows the flow depth through one line; returns the deepest flow
/// depth reached (counting compact `- - x` sequences) and whether the
/// line ends by opening a block scalar.
fn scan_line(body: &str, flow: &mut usize) -> (usize, bool) {
    let bytes = body.as_bytes();
    let mut deepest = *flow;
    let mut quote: Option<u8> = None;
    // The last byte that was not a space: decides whether a bracket or a
    // quote starts a token, or sits inside a plain scalar.
    let mut prev: Option<u8> = None;
    let mut compact = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(b'"') if c == b'\\' => i += 1,
            Some(q) if c == q => {
                if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 1;
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None => {
                let at_token = matches!(prev, None | Some(b':' | b'-' | b',' | b'[' | b'{' | b'?'));
                match c {
                    b'#' if i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t' => break,
                    b'"' | b'\'' if at_token => quote = Some(c),
                    b'[' | b'{' if at_token || *flow > 0 => {
                        *flow += 1;
                        deepest = deepest.max(*flow);
                    }
                    b']' | b'}' if *flow > 0 => *flow -= 1,
                    b'-' if prev.is_none_or(|p| p == b'-')
                        && *flow == 0
                        && bytes.get(i + 1).is_none_or(|&n| n == b' ') =>
                    {
                        compact += 1;
                    }
                    _ => {}
                }
            }
        }
        if c != b' ' && c != b'\t' {
            prev = Some(c);
        }
        i += 1;
    }
    let trimmed = body.split(" #").next().unwrap_or(body).trim_end();
    let block = quote.is_none()
        && *flow == 0
        && trimmed.rsplit(' ').next().is_some_and(|t| {
            t.starts_with(['|', '>'])
                && t[1..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'+' || b == b'-')
        });
    (deepest + compact.saturating_sub(1), block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        let doc = "projects:\n  - name: api\n    script: |\n      echo [ \"{\n          deep\n    tags: [a, [b, {c: d}]]\n    description: don't [stop\n";
        assert_eq!(check(doc), Ok(()));
    }

    #[test]
    fn deep_flow_and_block_nesting_is_refused_with_its_line() {
        let flow = format!("groups: {}", "[".repeat(100_000));
        assert_eq!(
            check(&flow).unwrap_err(),
            "line 1: nested more than 64 levels deep"
        );
        let block: String = (0..100).map(|d| format!("{}a:\n", " ".repeat(d))).collect();
        assert!(check(&block).unwrap_err().starts_with("line 6"));
        let compact = format!("x:\n  {}y\n", "- ".repeat(100));
        assert!(check(&compact).is_err());
        // Quoted and commented brackets are text.
        let quoted = format!("a: \"{}\"\nb: 1 # {}\n", "[".repeat(100), "{".repeat(100));
        assert_eq!(check(&quoted), Ok(()));
    }
}
