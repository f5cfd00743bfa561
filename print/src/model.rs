//! The document model callers fill: sections (each with its own running header), blocks,
//! and one footer for the whole document.

/// Paper: A4 in either orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    A4Portrait,
    A4Landscape,
}

impl PageSize {
    /// Width and height in points.
    pub(crate) fn points(self) -> (f32, f32) {
        let (w, h) = (mm(210.0), mm(297.0));
        match self {
            PageSize::A4Portrait => (w, h),
            PageSize::A4Landscape => (h, w),
        }
    }
}

/// Millimetres to PDF points.
pub(crate) fn mm(v: f32) -> f32 {
    v * 72.0 / 25.4
}

/// Page margins in millimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Margins {
    pub top: f32,
    pub right: f32,
    pub bottom: f32,
    pub left: f32,
}

impl Default for Margins {
    fn default() -> Self {
        Margins {
            top: 12.0,
            right: 12.0,
            bottom: 12.0,
            left: 15.0,
        }
    }
}

/// How a line of the running header looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStyle {
    Plain,
    /// Larger and bold: the patient's name.
    Strong,
    /// Reversed out of a dark band: the mode (訓練 / 非常時), impossible to overlook.
    Banner,
}

/// One line of the running header drawn at the top of every page of its section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderLine {
    pub text: String,
    pub style: LineStyle,
}

impl HeaderLine {
    pub fn plain(text: impl Into<String>) -> Self {
        HeaderLine {
            text: text.into(),
            style: LineStyle::Plain,
        }
    }
    pub fn strong(text: impl Into<String>) -> Self {
        HeaderLine {
            text: text.into(),
            style: LineStyle::Strong,
        }
    }
    pub fn banner(text: impl Into<String>) -> Self {
        HeaderLine {
            text: text.into(),
            style: LineStyle::Banner,
        }
    }
}

/// Who printed and when, on the footer of every page beside "X / Y ページ".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footer {
    /// The account that printed.
    pub printed_by: String,
    /// The person the account's user declared themselves to be.
    pub declared_person: String,
    /// The print time as the reader should see it (the caller formats it, with its zone).
    pub printed_at: String,
}

/// A background behind a table cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shade {
    Light,
    Dark,
}

impl Shade {
    pub(crate) fn gray(self) -> u8 {
        match self {
            Shade::Light => 235,
            Shade::Dark => 205,
        }
    }
}

/// One table cell. An empty cell is a box to write in by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub strong: bool,
    pub shade: Option<Shade>,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            ..Cell::default()
        }
    }
    /// A box left blank to be filled in by hand.
    pub fn blank() -> Self {
        Cell::default()
    }
    pub fn strong(mut self) -> Self {
        self.strong = true;
        self
    }
    pub fn shaded(mut self, shade: Shade) -> Self {
        self.shade = Some(shade);
        self
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::new(text)
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::new(text)
    }
}

/// A column: its title (in the header row) and its width relative to the other columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub title: String,
    pub weight: f32,
}

impl Column {
    pub fn new(title: impl Into<String>, weight: f32) -> Self {
        Column {
            title: title.into(),
            weight,
        }
    }
}

/// A table row. `min_height` (mm) leaves room to write in its blank cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<Cell>,
    pub min_height: f32,
}

impl Row {
    pub fn new(cells: impl IntoIterator<Item = Cell>) -> Self {
        Row {
            cells: cells.into_iter().collect(),
            min_height: 0.0,
        }
    }
    pub fn min_height(mut self, mm: f32) -> Self {
        self.min_height = mm;
        self
    }
}

/// A table whose header row is repeated on every page it continues onto. Rows are never
/// split across pages unless one is taller than a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl Table {
    pub fn new(columns: impl IntoIterator<Item = Column>) -> Self {
        Table {
            columns: columns.into_iter().collect(),
            rows: Vec::new(),
        }
    }
    pub fn row(&mut self, row: Row) -> &mut Self {
        self.rows.push(row);
        self
    }
}

/// What a section's body is made of.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Kept on the same page as the start of the block after it.
    Heading(String),
    /// Wrapped text: breaks between Japanese characters, at spaces in Latin text, and at
    /// each newline.
    Paragraph(String),
    Table(Table),
    /// Vertical space in millimetres.
    Space(f32),
    PageBreak,
}

/// A run of pages with one running header: one patient, or a census.
/// Every section starts on a new page.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub header: Vec<HeaderLine>,
    pub blocks: Vec<Block>,
}

impl Section {
    pub fn new(header: impl IntoIterator<Item = HeaderLine>) -> Self {
        Section {
            header: header.into_iter().collect(),
            blocks: Vec::new(),
        }
    }
    pub fn heading(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Heading(text.into()));
        self
    }
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }
    pub fn table(&mut self, table: Table) -> &mut Self {
        self.blocks.push(Block::Table(table));
        self
    }
    pub fn space(&mut self, mm: f32) -> &mut Self {
        self.blocks.push(Block::Space(mm));
        self
    }
    pub fn page_break(&mut self) -> &mut Self {
        self.blocks.push(Block::PageBreak);
        self
    }
}

/// A printout: its sections, page size, margins and footer.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The PDF's title (document properties); keep patient data out of it.
    pub title: String,
    pub page_size: PageSize,
    pub margins: Margins,
    pub footer: Footer,
    pub sections: Vec<Section>,
}

impl Document {
    pub fn new(title: impl Into<String>, page_size: PageSize, footer: Footer) -> Self {
        Document {
            title: title.into(),
            page_size,
            margins: Margins::default(),
            footer,
            sections: Vec::new(),
        }
    }

    /// Starts a section with its running header and returns it to be filled.
    pub fn section(&mut self, header: impl IntoIterator<Item = HeaderLine>) -> &mut Section {
        self.sections.push(Section::new(header));
        let last = self.sections.len() - 1;
        &mut self.sections[last]
    }
}
