//! A small writer of FHIR JSON: the converted resources are written directly as text, so
//! numbers keep the precision the laboratory sent (`0.50` stays `0.50`), which a
//! `serde_json::Value` round trip would lose.

/// One JSON value being written.
pub struct Json {
    buf: String,
    /// Per open container: has it had a member yet?
    first: Vec<bool>,
}

impl Json {
    pub fn object() -> Json {
        Json {
            buf: {
                let mut b = String::with_capacity(1024);
                b.push('{');
                b
            },
            first: vec![true],
        }
    }

    fn sep(&mut self) {
        if let Some(f) = self.first.last_mut() {
            if *f {
                *f = false;
            } else {
                self.buf.push(',');
            }
        }
    }

    fn key(&mut self, k: &str) {
        self.sep();
        push_str(&mut self.buf, k);
        self.buf.push(':');
    }

    /// `"k": "v"`.
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        push_str(&mut self.buf, v);
        self
    }

    /// `"k": "v"` when `v` is given and not empty.
    pub fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            self.str(k, v);
        }
        self
    }

    /// `"k": <number as written>`; `v` must be a valid JSON number ([`json_number`]).
    pub fn num(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        self.buf.push_str(v);
        self
    }

    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.buf.push_str(if v { "true" } else { "false" });
        self
    }

    /// An object or array, `f` writing its members.
    fn container(&mut self, open: char, close: char, f: impl FnOnce(&mut Json)) -> &mut Self {
        self.buf.push(open);
        self.first.push(true);
        f(self);
        self.first.pop();
        self.buf.push(close);
        self
    }

    /// `"k": {` … `}`.
    pub fn obj(&mut self, k: &str, f: impl FnOnce(&mut Json)) -> &mut Self {
        self.key(k);
        self.container('{', '}', f)
    }

    /// `"k": [` … `]`, `f` adding elements with [`Json::item`] / [`Json::item_str`].
    pub fn arr(&mut self, k: &str, f: impl FnOnce(&mut Json)) -> &mut Self {
        self.key(k);
        self.container('[', ']', f)
    }

    /// An object element of the array being written.
    pub fn item(&mut self, f: impl FnOnce(&mut Json)) -> &mut Self {
        self.sep();
        self.container('{', '}', f)
    }

    /// A string element of the array being written.
    pub fn item_str(&mut self, v: &str) -> &mut Self {
        self.sep();
        push_str(&mut self.buf, v);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push('}');
        self.buf.into_bytes()
    }
}

fn push_str(buf: &mut String, s: &str) {
    buf.push('"');
    let bytes = s.as_bytes();
    // Most text needs no escaping: check in blocks the compiler can vectorise.
    let needs_escape = |c: &[u8]| {
        c.iter().fold(false, |any, &b| {
            any | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    };
    if !bytes.chunks(32).any(needs_escape) {
        buf.push_str(s);
        buf.push('"');
        return;
    }
    // Copy runs that need no escaping in one go.
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        buf.push_str(&s[start..i]);
        match esc {
            Some(e) => buf.push_str(e),
            None => buf.push_str(&format!("\\u{:04x}", b)),
        }
        start = i + 1;
    }
    buf.push_str(&s[start..]);
    buf.push('"');
}

/// `s` as a JSON number if it is one after the forms laboratories write are tidied
/// (`+5` → `5`, `.5` → `0.5`, `5.` → `5`, full-width digits); `None` otherwise.
pub fn json_number(s: &str) -> Option<String> {
    let s: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            '．' => '.',
            '－' | '−' => '-',
            '＋' => '+',
            c => c,
        })
        .collect();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int.is_empty() && frac.is_none_or(str::is_empty) {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.unwrap_or("").bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if let Some(f) = frac.filter(|f| !f.is_empty()) {
        out.push('.');
        out.push_str(f);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json_keeping_number_text() {
        let mut j = Json::object();
        j.str("resourceType", "Observation")
            .obj("valueQuantity", |q| {
                q.num("value", "0.50").str("unit", "mg/dL");
            })
            .arr("category", |a| {
                a.item(|c| {
                    c.str("text", "a\"b\\c\nd");
                });
                a.item_str("x");
            })
            .opt_str("absent", None)
            .bool("b", true);
        let bytes = j.finish();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"value\":0.50"), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["category"][0]["text"], "a\"b\\c\nd");
        assert_eq!(v["category"][1], "x");
        assert!(v.get("absent").is_none());
    }

    #[test]
    fn numbers_are_tidied_or_refused() {
        assert_eq!(json_number("0.50").as_deref(), Some("0.50"));
        assert_eq!(json_number("+5").as_deref(), Some("5"));
        assert_eq!(json_number(".5").as_deref(), Some("0.5"));
        assert_eq!(json_number("5.").as_deref(), Some("5"));
        assert_eq!(json_number("007").as_deref(), Some("7"));
        assert_eq!(json_number("－１．２").as_deref(), Some("-1.2"));
        for bad in ["", "-", ".", "<0.02", "(2+)", "1e5", "1.2.3", "abc"] {
            assert_eq!(json_number(bad), None, "{bad}");
        }
    }
}
