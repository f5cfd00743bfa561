//! The Japanese font printouts are set in: loaded once, reused for every document.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skrifa::instance::{LocationRef, Size};
use skrifa::raw::FileRef;
use skrifa::string::StringId;
use skrifa::{FontRef, GlyphId, MetadataProvider};

/// The node setting that names the font file (akari.toml), as error messages and the
/// operations manual spell it.
pub const FONT_SETTING: &str = "[print] font";

/// The Debian package that provides the preferred font.
pub const FONT_PACKAGE: &str = "fonts-noto-cjk";

/// Where Debian's Japanese font packages put their gothic (sans-serif) faces, in order of
/// preference, each with the package that installs it.
pub const STANDARD_LOCATIONS: &[(&str, &str)] = &[
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "fonts-noto-cjk",
    ),
    (
        "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
        "fonts-ipaexfont-gothic",
    ),
    (
        "/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf",
        "fonts-ipaexfont-gothic",
    ),
    (
        "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
        "fonts-ipafont-gothic",
    ),
    (
        "/usr/share/fonts/truetype/ipafont-gothic/ipag.ttf",
        "fonts-ipafont-gothic",
    ),
    (
        "/usr/share/fonts/truetype/takao-gothic/TakaoGothic.ttf",
        "fonts-takao-gothic",
    ),
    (
        "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
        "fonts-noto-cjk",
    ),
];

/// Why no font could be used. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error(
        "no Japanese font for printing was found (looked for {searched}); install the Debian \
         package {FONT_PACKAGE} (apt-get install {FONT_PACKAGE}) or set {FONT_SETTING} in \
         akari.toml to a .ttf, .otf or .ttc file with Japanese glyphs"
    )]
    NotFound { searched: String },
    #[error(
        "the print font {path} cannot be read ({source}); check {FONT_SETTING} in akari.toml, \
         or remove the setting to use the font of the Debian package {FONT_PACKAGE}"
    )]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the print font {path} is not a font file krilla and skrifa can read, or it has no \
         Japanese glyphs (kana and kanji); set {FONT_SETTING} in akari.toml to a Japanese \
         .ttf, .otf or .ttc file, e.g. {} from the package {FONT_PACKAGE}",
        STANDARD_LOCATIONS[0].0
    )]
    NotJapanese { path: PathBuf },
}

/// A Japanese font, read and checked once. Cloning is cheap (the bytes are shared), so a
/// node keeps one and hands it to every document it prints.
#[derive(Clone)]
pub struct PdfFont {
    pub(crate) pdf: krilla::text::Font,
    data: Arc<Vec<u8>>,
    index: u32,
    path: PathBuf,
    family: String,
}

impl std::fmt::Debug for PdfFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfFont")
            .field("path", &self.path)
            .field("index", &self.index)
            .field("family", &self.family)
            .finish()
    }
}

impl PdfFont {
    /// The configured font when a path is given, else the first Japanese font found in
    /// Debian's standard locations.
    pub fn load(configured: Option<&Path>) -> Result<Self, FontError> {
        match configured {
            Some(path) => Self::from_path(path),
            None => {
                let candidates: Vec<&Path> = STANDARD_LOCATIONS
                    .iter()
                    .map(|(p, _)| Path::new(*p))
                    .collect();
                Self::discover_in(&candidates)
            }
        }
    }

    /// The first of `candidates` that exists, read as a Japanese font.
    pub fn discover_in(candidates: &[&Path]) -> Result<Self, FontError> {
        match candidates.iter().find(|p| p.is_file()) {
            Some(path) => Self::from_path(path),
            None => Err(FontError::NotFound {
                searched: candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Reads one font file. In a collection (.ttc) the Japanese face is chosen: the one
    /// whose family name says JP, else the first one with kana and kanji.
    pub fn from_path(path: &Path) -> Result<Self, FontError> {
        let bytes = std::fs::read(path).map_err(|source| FontError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let not_japanese = || FontError::NotJapanese {
            path: path.to_path_buf(),
        };
        let (index, family) = japanese_face(&bytes).ok_or_else(not_japanese)?;
        let data = Arc::new(bytes);
        let pdf = krilla::text::Font::new(krilla::Data::from(data.clone()), index)
            .ok_or_else(not_japanese)?;
        Ok(PdfFont {
            pdf,
            data,
            index,
            path: path.to_path_buf(),
            family,
        })
    }

    /// The file the font was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The family name of the chosen face (e.g. "Noto Sans CJK JP").
    pub fn family(&self) -> &str {
        &self.family
    }

    pub(crate) fn measurer(&self) -> Measurer<'_> {
        // The face was read successfully when the font was loaded.
        let face = FontRef::from_index(&self.data, self.index).expect("font checked at load");
        let upem = face
            .metrics(Size::unscaled(), LocationRef::default())
            .units_per_em;
        Measurer {
            charmap: face.charmap(),
            metrics: face.glyph_metrics(Size::unscaled(), LocationRef::default()),
            per_em: 1.0 / f32::from(upem.max(1)),
            cache: HashMap::new(),
        }
    }
}

fn japanese_face(bytes: &[u8]) -> Option<(u32, String)> {
    let file = FileRef::new(bytes).ok()?;
    let mut fallback = None;
    for (index, face) in file.fonts().enumerate() {
        let Ok(face) = face else { continue };
        let charmap = face.charmap();
        if !['あ', 'ア', '漢', '薬']
            .iter()
            .all(|c| charmap.map(*c).is_some())
        {
            continue;
        }
        let family = face
            .localized_strings(StringId::FAMILY_NAME)
            .english_or_first()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let index = u32::try_from(index).ok()?;
        if family.split_whitespace().any(|w| w == "JP") {
            return Some((index, family));
        }
        fallback.get_or_insert((index, family));
    }
    fallback
}

/// Text widths from the font's advance widths, cached per character for one layout.
pub(crate) struct Measurer<'a> {
    charmap: skrifa::charmap::Charmap<'a>,
    metrics: skrifa::metrics::GlyphMetrics<'a>,
    per_em: f32,
    cache: HashMap<char, f32>,
}

impl Measurer<'_> {
    /// Width of `c` in ems.
    pub(crate) fn advance(&mut self, c: char) -> f32 {
        if let Some(w) = self.cache.get(&c) {
            return *w;
        }
        let glyph = self.charmap.map(c).unwrap_or(GlyphId::NOTDEF);
        let w = self.metrics.advance_width(glyph).unwrap_or(0.0) * self.per_em;
        self.cache.insert(c, w);
        w
    }

    /// Width of `text` in points at `size`.
    pub(crate) fn width(&mut self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance(c)).sum::<f32>() * size
    }
}
