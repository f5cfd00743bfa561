//! HL7 v2 ER7 ("pipe-hat") reading for SS-MIX2 files.
//!
//! A file is decoded to text *before* it is split into segments and fields: inside an
//! ISO-2022-JP kanji run the bytes of `| ^ ~ \ &` stand for parts of characters (山本 is
//! `ESC $ B ;3K\ ESC ( B`), so splitting the raw bytes would cut names in half.
//!
//! Segments end with CR (the standard), LF or CRLF; blank lines are skipped. Fields,
//! repetitions, components and sub-components are split lazily on access and unescaped
//! (`\F\ \S\ \T\ \R\ \E\`, `\.br\`, `\Xhh\`; highlighting and character-set escapes are
//! dropped); a field that is exactly `""` is an explicit null and reads as empty.
//!
//! Problems are reported with the segment and field they concern and never with the
//! content of the file.

use std::borrow::Cow;
use std::fmt;

/// Where in a file a problem was found: `OBX[3]` / `OBX-5`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    /// Segment ID and its 1-based occurrence in the message, e.g. `OBX[3]`.
    pub segment: Option<String>,
    /// Field, e.g. `OBX-5`.
    pub field: Option<String>,
}

impl Place {
    pub fn none() -> Place {
        Place::default()
    }
    pub fn segment(seg: &Segment<'_>) -> Place {
        Place {
            segment: Some(seg.label()),
            field: None,
        }
    }
    pub fn field(seg: &Segment<'_>, n: usize) -> Place {
        Place {
            segment: Some(seg.label()),
            field: Some(format!("{}-{n}", seg.id)),
        }
    }
    /// Field `n` of the message header, read before the message is split.
    pub fn msh(n: usize) -> Place {
        Place {
            segment: Some("MSH[1]".into()),
            field: Some(format!("MSH-{n}")),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.segment, &self.field) {
            (Some(s), Some(fl)) => write!(f, "{s} {fl}"),
            (Some(s), None) => write!(f, "{s}"),
            (None, Some(fl)) => write!(f, "{fl}"),
            (None, None) => Ok(()),
        }
    }
}

/// A data-free note about a file: where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub place: Place,
    pub what: String,
}

impl Note {
    pub fn new(place: Place, what: impl Into<String>) -> Note {
        Note {
            place,
            what: what.into(),
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.place == Place::none() {
            write!(f, "{}", self.what)
        } else {
            write!(f, "{}: {}", self.place, self.what)
        }
    }
}

/// The character set a file's bytes were read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// ISO-2022-JP (MSH-18 `~ISO IR87`, the SS-MIX2 standard) or plain ASCII.
    Iso2022Jp,
    Utf8,
    ShiftJis,
}

/// Decode a file's bytes. MSH-18 is read from the ISO-2022-JP decoding (a superset of
/// ASCII); if the declared character set does not decode cleanly, UTF-8 and Shift_JIS
/// are tried, and failing those the ISO-2022-JP text with replacement characters is
/// used. Anything but a clean decoding of the declared set is a warning.
pub fn decode(bytes: &[u8], warnings: &mut Vec<Note>) -> (String, Charset) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let (jis, jis_errors) = match iso_2022_jp(bytes) {
        Some(text) => (Cow::Owned(text), false),
        None => {
            let (jis, _, jis_errors) = encoding_rs::ISO_2022_JP.decode(bytes);
            (jis, jis_errors)
        }
    };
    let declared = declared_charset(&jis);
    let utf8 = || std::str::from_utf8(bytes).ok();
    match declared {
        Some(Charset::Utf8) => {
            if let Some(s) = utf8() {
                return (s.to_string(), Charset::Utf8);
            }
        }
        Some(Charset::ShiftJis) => {
            let (s, _, err) = encoding_rs::SHIFT_JIS.decode(bytes);
            if !err {
                return (s.into_owned(), Charset::ShiftJis);
            }
        }
        _ => {
            if !jis_errors {
                return (jis.into_owned(), Charset::Iso2022Jp);
            }
        }
    }
    let said = match declared {
        Some(Charset::Utf8) => "UTF-8",
        Some(Charset::ShiftJis) => "Shift_JIS",
        _ => "ISO-2022-JP",
    };
    let msh = Place::msh(18);
    if declared != Some(Charset::Utf8) && bytes.iter().any(|b| *b >= 0x80) {
        if let Some(s) = utf8() {
            warnings.push(Note::new(
                msh,
                format!("the file declares {said} but is UTF-8; read as UTF-8"),
            ));
            return (s.to_string(), Charset::Utf8);
        }
        let (s, _, err) = encoding_rs::SHIFT_JIS.decode(bytes);
        if !err && declared != Some(Charset::ShiftJis) {
            warnings.push(Note::new(
                msh,
                format!("the file declares {said} but is Shift_JIS; read as Shift_JIS"),
            ));
            return (s.into_owned(), Charset::ShiftJis);
        }
    }
    warnings.push(Note::new(
        Place::none(),
        format!(
            "broken {said} text (bad or unterminated escape sequence, or bytes outside the character set); unreadable characters are shown as \u{FFFD}"
        ),
    ));
    (jis.into_owned(), Charset::Iso2022Jp)
}

/// ISO-2022-JP text decoded without errors, or `None` if it has any (the caller then
/// decodes it with replacement characters). Most of a message is ASCII between kanji
/// runs: ASCII runs are checked and copied whole, and only each kanji run, from its
/// escape sequence to the `ESC ( B` back to ASCII, goes through the decoder. Each run
/// starts and ends in the ASCII state after output (an escape sequence directly after
/// another stays in the same run), so decoding it alone gives what decoding the whole
/// text would.
fn iso_2022_jp(bytes: &[u8]) -> Option<String> {
    const TO_ASCII: &[u8] = b"\x1b(B";
    // Bytes the decoder refuses in the ASCII state besides ESC: SO, SI and 8-bit bytes.
    let ascii = |run: &[u8]| {
        run.iter()
            .fold(true, |ok, &b| ok & (b < 0x80) & (b != 0x0E) & (b != 0x0F))
    };
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 2);
    let mut rest = bytes;
    while !rest.is_empty() {
        let esc = memchr::memchr(0x1B, rest).unwrap_or(rest.len());
        let (run, tail) = rest.split_at(esc);
        if !ascii(run) {
            return None;
        }
        out.push_str(std::str::from_utf8(run).ok()?);
        if tail.is_empty() {
            break;
        }
        // The kanji run ends after an `ESC ( B` not followed by another escape sequence.
        let mut end = tail.len();
        let mut from = 1;
        while let Some(at) = memchr::memchr(0x1B, &tail[from..]) {
            let at = from + at;
            from = at + 1;
            if !tail[at..].starts_with(TO_ASCII) {
                continue;
            }
            let after = at + TO_ASCII.len();
            if tail.get(after) != Some(&0x1B) {
                end = after;
                break;
            }
        }
        // Decoded straight into `out`, which has room for it.
        let mut decoder = encoding_rs::ISO_2022_JP.new_decoder_without_bom_handling();
        out.reserve(decoder.max_utf8_buffer_length_without_replacement(end)?);
        let (result, _) =
            decoder.decode_to_string_without_replacement(&tail[..end], &mut out, true);
        if result != encoding_rs::DecoderResult::InputEmpty {
            return None;
        }
        rest = &tail[end..];
    }
    Some(out)
}

/// The character set MSH-18 names, read from text before any field split.
fn declared_charset(text: &str) -> Option<Charset> {
    let first = text.split(['\r', '\n']).next()?;
    let first = first.strip_prefix("MSH")?;
    let sep = first.chars().next()?;
    let field = first.split(sep).nth(17)?;
    let f = field.to_ascii_uppercase().replace([' ', '_', '-'], "");
    if f.contains("UTF8") || f.contains("UNICODE") {
        Some(Charset::Utf8)
    } else if f.contains("SJIS") || f.contains("SHIFTJIS") || f.contains("CP932") {
        Some(Charset::ShiftJis)
    } else if f.is_empty() || f.contains("ISOIR87") || f.contains("ISO2022") || f.contains("ASCII")
    {
        Some(Charset::Iso2022Jp)
    } else {
        None
    }
}

/// The delimiters of a message (MSH-1 and MSH-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delims {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: Option<char>,
    pub subcomponent: char,
}

impl Default for Delims {
    fn default() -> Self {
        Delims {
            field: '|',
            component: '^',
            repetition: '~',
            escape: Some('\\'),
            subcomponent: '&',
        }
    }
}

/// One segment: its ID and its fields as written (still escaped), borrowed from the
/// decoded text.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    pub id: &'a str,
    /// 1-based occurrence of this segment ID in the message.
    pub occurrence: usize,
    /// `fields[n]` is field n (`fields[0]` is the ID). For MSH, `fields[1]` is MSH-1
    /// (the field separator) and `fields[2]` MSH-2, as numbered by the standard.
    fields: Vec<&'a str>,
    delims: Delims,
}

/// A parsed message, borrowing the decoded text.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub segments: Vec<Segment<'a>>,
    pub delims: Delims,
}

/// Why a file is not a message at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAMessage(pub Note);

impl Delims {
    /// MSH-1 and MSH-2 from what follows `MSH` on the first line.
    fn of_msh(rest: &str) -> Result<Delims, NotAMessage> {
        let mut chars = rest.chars();
        let (Some(field), Some(component), Some(repetition)) =
            (chars.next(), chars.next(), chars.next())
        else {
            return Err(NotAMessage(Note::new(
                Place::msh(2),
                "the MSH segment is truncated before its encoding characters",
            )));
        };
        let e = chars.next();
        let s = chars.next();
        let (escape, subcomponent) = match (e, s) {
            (Some(e), Some(s)) if e != field && s != field => (Some(e), s),
            (Some(e), _) if e != field => (Some(e), '&'),
            _ => (None, '&'),
        };
        if [component, repetition].contains(&field) || !field.is_ascii_punctuation() {
            return Err(NotAMessage(Note::new(
                Place::msh(1),
                "the MSH segment has no valid field separator",
            )));
        }
        Ok(Delims {
            field,
            component,
            repetition,
            escape,
            subcomponent,
        })
    }
}

/// The segments of a message being split, each numbered by its occurrence.
struct Segments<'a> {
    segments: Vec<Segment<'a>>,
    /// Segments so far per segment ID.
    counts: Vec<(&'a str, usize)>,
    delims: Delims,
}

impl<'a> Segments<'a> {
    fn push(&mut self, id: &'a str, fields: Vec<&'a str>) {
        let occurrence = match self.counts.iter_mut().find(|(k, _)| *k == id) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.counts.push((id, 1));
                1
            }
        };
        self.segments.push(Segment {
            id,
            occurrence,
            fields,
            delims: self.delims,
        });
    }
}

/// A segment line: a three-character ID (upper-case letters and digits), then the field
/// separator or nothing.
fn is_segment(line: &str, field: char) -> bool {
    line.len() >= 3
        && line.as_bytes()[..3]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && line[3..].chars().next().is_none_or(|c| c == field)
}

impl<'a> Message<'a> {
    /// Split decoded text into segments. Lines that are not segments are skipped with a
    /// warning; a text that does not start with a usable MSH is refused.
    pub fn parse(text: &'a str, warnings: &mut Vec<Note>) -> Result<Message<'a>, NotAMessage> {
        let mut lines = split_lines(text)
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, first)) = lines.next() else {
            return Err(NotAMessage(Note::new(Place::none(), "the file is empty")));
        };
        let first = first.trim_start_matches('\u{FEFF}');
        let Some(rest) = first.strip_prefix("MSH") else {
            return Err(NotAMessage(Note::new(
                Place::none(),
                "the file does not start with an MSH segment",
            )));
        };
        let delims = Delims::of_msh(rest)?;
        let field = delims.field;
        let mut out = Segments {
            // At most one segment per line end (CRLF counted twice).
            segments: Vec::with_capacity(
                memchr::memchr2_iter(b'\r', b'\n', text.as_bytes()).count() + 1,
            ),
            counts: Vec::new(),
            delims,
        };
        // MSH: fields[1] is the separator itself, fields[2] the encoding characters.
        let sep = &rest[..field.len_utf8()];
        let mut msh: Vec<&'a str> = vec![&first[..3], sep];
        msh.extend(split(&rest[field.len_utf8()..], field));
        out.push(&first[..3], msh);
        for (i, line) in lines {
            if !is_segment(line, field) {
                warnings.push(Note::new(
                    Place::none(),
                    format!(
                        "line {} is not a segment (no segment ID followed by the field separator); skipped",
                        i + 1
                    ),
                ));
                continue;
            }
            out.push(&line[..3], split_all(line, field));
        }
        Ok(Message {
            segments: out.segments,
            delims,
        })
    }

    /// The first segment with this ID.
    pub fn first(&self, id: &str) -> Option<&Segment<'a>> {
        self.segments.iter().find(|s| s.id == id)
    }

    /// MSH-9 message type and trigger event, e.g. ("ADT", "A08").
    pub fn message_type(&self) -> (String, String) {
        let Some(msh) = self.first("MSH") else {
            return (String::new(), String::new());
        };
        (msh.comp(9, 1).into_owned(), msh.comp(9, 2).into_owned())
    }
}

impl<'a> Segment<'a> {
    /// `OBX[3]`.
    pub fn label(&self) -> String {
        format!("{}[{}]", self.id, self.occurrence)
    }

    /// Field `n` as written (escaped), "" when absent; `""` (explicit null) reads as "".
    pub fn raw(&self, n: usize) -> &'a str {
        match self.fields.get(n).copied() {
            Some("\"\"") | None => "",
            Some(s) => s,
        }
    }

    /// Does the segment have field `n` with any content?
    pub fn has(&self, n: usize) -> bool {
        !self.raw(n).is_empty()
    }

    /// Number of fields present (the highest field number written).
    pub fn len(&self) -> usize {
        self.fields.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The repetitions of field `n`.
    pub fn reps(&self, n: usize) -> Vec<Rep<'a>> {
        let raw = self.raw(n);
        if raw.is_empty() || (self.id == "MSH" && n <= 2) {
            return if raw.is_empty() {
                vec![]
            } else {
                vec![Rep {
                    raw,
                    delims: Delims {
                        component: '\u{0}',
                        subcomponent: '\u{0}',
                        escape: None,
                        ..self.delims
                    },
                }]
            };
        }
        split(raw, self.delims.repetition)
            .map(|r| Rep {
                raw: r,
                delims: self.delims,
            })
            .collect()
    }

    /// The first repetition of field `n` (without splitting the others).
    pub fn rep(&self, n: usize) -> Rep<'a> {
        let raw = self.raw(n);
        if self.id == "MSH" && n <= 2 {
            return self.reps(n).into_iter().next().unwrap_or(Rep {
                raw: "",
                delims: self.delims,
            });
        }
        Rep {
            raw: nth(raw, self.delims.repetition, 0),
            delims: self.delims,
        }
    }

    /// Component `c` (1-based) of the first repetition of field `n`, unescaped.
    pub fn comp(&self, n: usize, c: usize) -> Cow<'a, str> {
        self.rep(n).comp(c)
    }

    /// The whole first repetition of field `n` unescaped, components joined as written
    /// (for fields that are plain text).
    pub fn text(&self, n: usize) -> Cow<'a, str> {
        self.comp(n, 1)
    }
}

/// One repetition of a field.
#[derive(Debug, Clone, Copy)]
pub struct Rep<'a> {
    raw: &'a str,
    delims: Delims,
}

impl<'a> Rep<'a> {
    pub fn raw(&self) -> &'a str {
        self.raw
    }
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty() || self.raw == "\"\""
    }
    fn comp_raw(&self, c: usize) -> &'a str {
        if c == 0 {
            return "";
        }
        let v = nth(self.raw, self.delims.component, c - 1);
        if v == "\"\"" {
            ""
        } else {
            v
        }
    }
    /// Component `c` (1-based), unescaped; its sub-components keep their `&`.
    pub fn comp(&self, c: usize) -> Cow<'a, str> {
        unescape(self.comp_raw(c), &self.delims)
    }
    /// Sub-component `s` of component `c` (both 1-based), unescaped.
    pub fn sub(&self, c: usize, s: usize) -> Cow<'a, str> {
        let v = nth(
            self.comp_raw(c),
            self.delims.subcomponent,
            s.saturating_sub(1),
        );
        unescape(v, &self.delims)
    }
    /// Does component `c` hold an escape sequence that is not closed?
    pub fn bad_escape(&self, c: usize) -> bool {
        has_bad_escape(self.comp_raw(c), &self.delims)
    }
}

/// Split on a delimiter (memchr for the usual ASCII delimiters).
fn split(s: &str, d: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        let at = if d.is_ascii() {
            memchr::memchr(d as u8, r.as_bytes())
        } else {
            r.find(d)
        };
        match at {
            Some(i) => {
                rest = Some(&r[i + d.len_utf8()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// All parts of `s` split on `d`, in a vector allocated once at its final size.
fn split_all(s: &str, d: char) -> Vec<&str> {
    let n = if d.is_ascii() {
        memchr::memchr_iter(d as u8, s.as_bytes()).count()
    } else {
        s.matches(d).count()
    };
    let mut out = Vec::with_capacity(n + 1);
    out.extend(split(s, d));
    out
}

/// Part `n` (0-based) of `s` split on `d`, "" if there is none.
fn nth(s: &str, d: char, n: usize) -> &str {
    split(s, d).nth(n).unwrap_or("")
}

/// Lines ended by CR, LF or CRLF.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr2(b'\r', b'\n', r.as_bytes()) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn has_bad_escape(s: &str, d: &Delims) -> bool {
    match d.escape {
        Some(e) => s.matches(e).count() % 2 == 1,
        None => false,
    }
}

/// Resolve HL7 escape sequences. An unclosed escape is kept as written.
pub fn unescape<'a>(s: &'a str, d: &Delims) -> Cow<'a, str> {
    let Some(esc) = d.escape else {
        return Cow::Borrowed(s);
    };
    if !s.contains(esc) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(esc) {
        out.push_str(&rest[..i]);
        let after = &rest[i + esc.len_utf8()..];
        let Some(j) = after.find(esc) else {
            // Unclosed: keep literally.
            out.push_str(&rest[i..]);
            return Cow::Owned(out);
        };
        let seq = &after[..j];
        match seq {
            "F" => out.push(d.field),
            "S" => out.push(d.component),
            "T" => out.push(d.subcomponent),
            "R" => out.push(d.repetition),
            "E" => out.push(esc),
            ".br" => out.push('\n'),
            "H" | "N" => {}
            _ if seq.starts_with('X') => {
                let hex = &seq[1..];
                let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
                    .map(|k| u8::from_str_radix(hex.get(2 * k..2 * k + 2)?, 16).ok())
                    .collect();
                if let Some(b) = bytes {
                    out.push_str(&String::from_utf8_lossy(&b));
                }
            }
            // Character-set switches (\C..\, \M..\) and formatting (\.sp\, \.in\ ...).
            _ => {}
        }
        rest = &after[j + esc.len_utf8()..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Escape text for writing into a field (the writer side of [`unescape`]).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\E\\"),
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            '\r' | '\n' => out.push_str("\\.br\\"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Message<'_> {
        let mut w = vec![];
        let m = Message::parse(text, &mut w).expect("parses");
        assert!(w.is_empty(), "{w:?}");
        m
    }

    #[test]
    fn kanji_bytes_equal_to_delimiters_do_not_split_fields() {
        // 山本 in ISO-2022-JP is ESC $ B ;3K\ ESC ( B: a backslash inside the kanji run.
        let mut bytes = b"MSH|^~\\&|A|B|C|D|20240101120000||ADT^A08^ADT_A01|1|P|2.5||||||~ISO IR87||ISO 2022-1994\rPID|0001||123||".to_vec();
        bytes.extend_from_slice(b"\x1b$B;3K\\\x1b(B^\x1b$BB@O:\x1b(B^^^^^L^I\r");
        let mut w = vec![];
        let (text, cs) = decode(&bytes, &mut w);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(cs, Charset::Iso2022Jp);
        let m = parse(&text);
        let pid = m.first("PID").unwrap();
        assert_eq!(pid.comp(5, 1), "山本");
        assert_eq!(pid.comp(5, 2), "太郎");
        assert_eq!(pid.comp(5, 8), "I");
    }

    /// The run-by-run decoding gives what the decoder gives on the whole text, and
    /// refuses what it finds errors in.
    #[test]
    fn ascii_runs_decode_as_the_whole_text_does() {
        let cases: &[&[u8]] = &[
            b"",
            b"MSH|^~\\&|A\rPID|1",
            b"\x1b$B;3K\\\x1b(B^\x1b$BB@O:\x1b(B^^I\r",
            b"a\x1b$B;3K\\\x1b(B",
            b"a\x1b$B;3K\\\x1b(B\x1b$BB@O:\x1b(Bb",
            b"a\x1b(J\\~\x1b(Bb",
            b"\x1b(Ba",
            b"a\x1b(B\x1b(Bb",
            b"a\x1b$B;3",
            b"a\x1b$B;3K",
            b"a\x1b$B;3K\\\x1b(B\x0eb",
            b"a\x1bz",
            b"a\xff",
            b"a\x1b$B;3K\\\x1b(B\x80",
        ];
        for &bytes in cases {
            let (whole, _, errors) = encoding_rs::ISO_2022_JP.decode(bytes);
            match iso_2022_jp(bytes) {
                Some(text) => {
                    assert!(!errors, "{bytes:?}");
                    assert_eq!(text, whole, "{bytes:?}");
                }
                None => assert!(errors, "{bytes:?}"),
            }
        }
        assert_eq!(
            iso_2022_jp(b"a\x1b$B;3K\\\x1b(Bb").as_deref(),
            Some("a山本b")
        );
    }

    #[test]
    fn cr_lf_and_crlf_all_end_segments() {
        for sep in ["\r", "\n", "\r\n"] {
            let text = format!("MSH|^~\\&|A{sep}PID|1||42{sep}{sep}OBX|1|NM|x||5{sep}");
            let m = parse(&text);
            let ids: Vec<&str> = m.segments.iter().map(|s| s.id).collect();
            assert_eq!(ids, ["MSH", "PID", "OBX"], "{sep:?}");
            assert_eq!(m.first("OBX").unwrap().text(5), "5");
        }
    }

    #[test]
    fn escapes_nulls_repetitions_and_subcomponents() {
        let m = parse("MSH|^~\\&|A\rOBX|1|NM|x||\"\"|10\\S\\3/uL\\T\\x\\F\\y\\E\\z|a~b^c&d\r");
        let obx = m.first("OBX").unwrap();
        assert_eq!(obx.raw(5), "", "explicit null reads empty");
        assert_eq!(obx.text(6), "10^3/uL&x|y\\z");
        let reps = obx.reps(7);
        assert_eq!(reps.len(), 2);
        assert_eq!(reps[1].comp(2), "c&d");
        assert_eq!(reps[1].sub(2, 2), "d");
        assert_eq!(
            escape("10^3/uL&x|y\\z~"),
            "10\\S\\3/uL\\T\\x\\F\\y\\E\\z\\R\\"
        );
        assert_eq!(unescape(&escape("a^b\nc"), &Delims::default()), "a^b\nc");
    }

    #[test]
    fn msh_fields_are_numbered_as_the_standard_does() {
        let m = parse("MSH|^~\\&|HIS|SEND|GW|RCV|20111220224447.3399||ADT^A08^ADT_A01|20111220000001|P|2.5||||||~ISO IR87||ISO 2022-1994\r");
        let msh = m.first("MSH").unwrap();
        assert_eq!(msh.raw(1), "|");
        assert_eq!(msh.raw(2), "^~\\&");
        assert_eq!(msh.text(3), "HIS");
        assert_eq!(m.message_type(), ("ADT".into(), "A08".into()));
        assert_eq!(msh.rep(18).raw(), "");
        assert_eq!(msh.reps(18)[1].comp(1), "ISO IR87");
        assert_eq!(msh.text(20), "ISO 2022-1994");
    }

    #[test]
    fn broken_input_is_refused_or_warned_never_panics() {
        let mut w = vec![];
        assert!(Message::parse("", &mut w).is_err());
        assert!(Message::parse("PID|1\r", &mut w).is_err());
        assert!(Message::parse("MSH", &mut w).is_err());
        let m = Message::parse("MSH|^~\\&|A\rgarbage here\rPID|1\rOB", &mut w).unwrap();
        assert_eq!(m.segments.len(), 2);
        assert_eq!(w.len(), 2, "{w:?}");
        // Unterminated kanji run: replacement characters and a warning, not a failure.
        let mut w = vec![];
        let (text, _) = decode(b"MSH|^~\\&|A\rPID|1||1||\x1b$B;3K", &mut w);
        assert!(text.starts_with("MSH"));
        assert_eq!(w.len(), 1);
        // UTF-8 declared as ISO-2022-JP is read as UTF-8, with a warning.
        let mut w = vec![];
        let (text, cs) = decode(
            "MSH|^~\\&|A|||||||||||||||~ISO IR87\rPID|1||1||山本".as_bytes(),
            &mut w,
        );
        assert_eq!(cs, Charset::Utf8);
        assert!(text.contains("山本"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].to_string().contains("MSH-18"), "{}", w[0]);
    }
}
