//! Build output with ANSI colours as HTML: SGR sequences (`ESC [ … m`)
//! become `<span class="…">`, every other escape sequence is dropped, and
//! the text is HTML-escaped (a log can never inject markup).

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Style {
    fg: Option<u8>,
    bg: Option<u8>,
    bold: bool,
    underline: bool,
}

impl Style {
    fn apply(&mut self, params: &str) {
        let codes: Vec<u16> = if params.is_empty() {
            vec![0]
        } else {
            params.split(';').map(|p| p.parse().unwrap_or(0)).collect()
        };
        let mut i = 0;
        while i < codes.len() {
            match codes[i] {
                0 => *self = Style::default(),
                1 => self.bold = true,
                4 => self.underline = true,
                22 => self.bold = false,
                24 => self.underline = false,
                c @ 30..=37 => self.fg = Some((c - 30) as u8),
                39 => self.fg = None,
                c @ 40..=47 => self.bg = Some((c - 40) as u8),
                49 => self.bg = None,
                c @ 90..=97 => self.fg = Some((c - 90 + 8) as u8),
                c @ 100..=107 => self.bg = Some((c - 100 + 8) as u8),
                // 256-colour and true-colour forms: their arguments skipped.
                38 | 48 => {
                    i += match codes.get(i + 1) {
                        Some(5) => 2,
                        Some(2) => 4,
                        _ => 0,
                    };
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn classes(&self) -> String {
        let mut c = Vec::new();
        if let Some(f) = self.fg {
            c.push(format!("af{f}"));
        }
        if let Some(b) = self.bg {
            c.push(format!("ab{b}"));
        }
        if self.bold {
            c.push("bo".into());
        }
        if self.underline {
            c.push("au".into());
        }
        c.join(" ")
    }
}

fn escape_into(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `text` as escaped HTML with its colours as spans.
pub fn to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut style = Style::default();
    let mut open = false;
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        escape_into(&mut out, &rest[..at]);
        let seq = &rest[at + 1..];
        if let Some(csi) = seq.strip_prefix('[') {
            let end = csi
                .find(|c: char| ('\x40'..='\x7e').contains(&c))
                .unwrap_or(csi.len());
            let (params, final_byte) = (&csi[..end], csi[end..].chars().next());
            if final_byte == Some('m') {
                let before = style;
                style.apply(params);
                if style != before {
                    if open {
                        out.push_str("</span>");
                        open = false;
                    }
                    let classes = style.classes();
                    if !classes.is_empty() {
                        out.push_str("<span class=\"");
                        out.push_str(&classes);
                        out.push_str("\">");
                        open = true;
                    }
                }
            }
            rest = &csi[(end + final_byte.map_or(0, char::len_utf8)).min(csi.len())..];
        } else {
            // A lone ESC or another kind of sequence: drop the ESC and
            // the byte after it.
            let mut chars = seq.chars();
            chars.next();
            rest = chars.as_str();
        }
    }
    escape_into(&mut out, rest);
    if open {
        out.push_str("</span>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn colours_become_spans_and_markup_is_escaped() {
        assert_eq!(
            to_html("\x1b[31mred\x1b[0m <b>&"),
            "<span class=\"af1\">red</span> &lt;b&gt;&amp;"
        );
        assert_eq!(
            to_html("\x1b[1;92mok\x1b[m."),
            "<span class=\"af10 bo\">ok</span>."
        );
        assert_eq!(to_html("a\x1b[2Kb\x1b]x"), "abx");
        assert_eq!(to_html("\x1b[38;5;200mx"), "x");
        assert_eq!(to_html("end\x1b["), "end");
    }
}
