//! The `Link` response header (RFC 8288) as GitHub sends it for
//! pagination: `<url>; rel="next", <url>; rel="last"`, in any order.

/// The URL of the link whose `rel` includes `rel`, if any.
pub fn find(header: &str, rel: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let url = &rest[start + 1..end];
        let after = &rest[end + 1..];
        // The parameters run to the next link (a `<` after a comma).
        let params_end = after
            .find(",")
            .and_then(|c| after[c..].find('<').map(|l| c + l))
            .unwrap_or(after.len());
        let params = after[..params_end].trim().trim_end_matches(',');
        for param in params.split(';') {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case(rel))
            {
                return Some(url.trim().to_string());
            }
        }
        rest = &after[params_end..];
    }
}

#[cfg(test)]
mod tests {
    use super::find;

    /// The page 1 `Link` of GitHub's recording (SOURCES.md, github-rest).
    const RECORDED: &str = r#"<https://api.github.com/organizations/337792/repos?page=2>; rel="next", <https://api.github.com/organizations/337792/repos?page=12>; rel="last""#;

    #[test]
    fn next_and_last_of_a_recorded_header() {
        assert_eq!(
            find(RECORDED, "next").as_deref(),
            Some("https://api.github.com/organizations/337792/repos?page=2")
        );
        assert_eq!(
            find(RECORDED, "last").as_deref(),
            Some("https://api.github.com/organizations/337792/repos?page=12")
        );
        assert_eq!(find(RECORDED, "prev"), None);
    }

    #[test]
    fn every_recorded_pagination_header() {
        let text = include_str!(
            "../../../tests/testdata/forges/github-rest/link-headers.paginate-issues.pages1-4.txt"
        );
        let mut nexts = 0;
        for line in text.lines().filter(|l| l.contains("rel=")) {
            let header = line.split_once(':').map_or(line, |(k, v)| {
                if k.trim().eq_ignore_ascii_case("link") {
                    v
                } else {
                    line
                }
            });
            if header.contains("rel=\"next\"") {
                let next = find(header, "next").expect(line);
                assert!(next.starts_with("http"), "{next}");
                nexts += 1;
            } else {
                assert_eq!(find(header, "next"), None, "{line}");
            }
        }
        assert!(nexts >= 3, "{text}");
    }

    #[test]
    fn rel_lists_and_spacing() {
        assert_eq!(
            find(r#"<https://x/a?page=3>;rel="prev next""#, "next").as_deref(),
            Some("https://x/a?page=3")
        );
        assert_eq!(find("", "next"), None);
        assert_eq!(find("garbage", "next"), None);
    }
}
