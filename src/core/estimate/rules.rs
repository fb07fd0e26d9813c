//! The estimate's rules (see the [module docs](super)), applied to the events of the JSON
//! reader as they come: one frame per open array or object whose content counts.
//!
//! An object's `type` may come after its content (`{"data": "...", "type": "base64"}`), so an
//! object's counts are kept apart until it closes, and only then added to its parent's, or
//! replaced by the fixed cost of an image or a document. The values inside such an object
//! still count towards [`MAX_NODES`] (the reader cannot know yet that they
//! will not matter), so a body of many images reaches that bound a little sooner, which only
//! errs high.

use super::json::{Scalar, Sink, Token};
use super::prefix::{self, Event, Field, Prefix, Prefixes, TTL_LONG_MS, TTL_MS};
use super::{is_data_url, Counts, TextCount, CONTENT_FIELDS, MAX_DEPTH, MAX_NODES};
use super::{price, MAX_CHOICES, MAX_OUTPUT_TOKENS, OUTPUT_FIELDS};

/// JSON punctuation around a key and its value (quotes, colon, comma), counted as ASCII.
const PUNCT: u64 = 4;

/// What a counted container holds so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sum {
    text: TextCount,
    images: u32,
    documents: u32,
}

impl Sum {
    fn add(&mut self, other: Sum) {
        self.text.add(other.text);
        self.images = self.images.saturating_add(other.images);
        self.documents = self.documents.saturating_add(other.documents);
    }

    /// Its tokens as the estimate prices them, as part of `field` (the tool-use prompt the
    /// server adds goes with the tools).
    fn tokens(&self, field: Field) -> f64 {
        let tools = field == Field::Tools && *self != Sum::default();
        price(self.text, self.images, self.documents, tools)
    }
}

/// What a `type` field says about its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `image`, `image_url`, `input_image`: one image.
    Image,
    /// `document`: a document, unless its `source` is plain text.
    Document,
    /// `file`, `input_file`, `input_audio`, `base64`: a file of unknown size.
    File,
    /// `text` or `content`: a `source` of plain text.
    Plain,
    /// Anything else.
    Other,
}

/// The `type` values the rules know.
const KINDS: [(&[u8], Kind); 10] = [
    (b"image", Kind::Image),
    (b"image_url", Kind::Image),
    (b"input_image", Kind::Image),
    (b"document", Kind::Document),
    (b"file", Kind::File),
    (b"input_file", Kind::File),
    (b"input_audio", Kind::File),
    (b"base64", Kind::File),
    (b"text", Kind::Plain),
    (b"content", Kind::Plain),
];

fn kind_of(value: &Token) -> Kind {
    let v = value.whole();
    KINDS
        .iter()
        .find(|(name, _)| v == Some(*name))
        .map_or(Kind::Other, |(_, k)| *k)
}

/// What the current key of an object is to the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// A top-level field whose content counts (`tools` is one).
    Content { tools: bool },
    /// A top-level output limit: its index in [`OUTPUT_FIELDS`].
    Output(usize),
    /// The top-level `model`.
    Model,
    /// `type` in a counted object.
    Type,
    /// `source` in a counted object.
    Source,
    /// `cache_control` in a counted object: a prompt cache breakpoint ([`prefix`]).
    CacheControl,
    /// `ttl` inside a `cache_control`.
    Ttl,
    /// A top-level setting whose change invalidates the cached messages (`thinking`,
    /// `tool_choice`): read for the prefixes' hash, not counted.
    Setting,
    /// Gemini's top-level `generationConfig`: read for its `maxOutputTokens`, not counted.
    Generation,
    /// Gemini's `inlineData` or `fileData` in a counted object: a file, priced by its
    /// `mimeType` ([`Kind::File`], or [`Kind::Image`]).
    Inline,
    /// `mimeType` in an [`Key::Inline`] object.
    Mime,
    /// The top-level `n` (OpenAI's choices), Gemini's `generationConfig.candidateCount`.
    Choices,
    /// Anything else.
    Other,
}

/// One open array or object whose content counts, or the body itself.
#[derive(Debug, Clone)]
struct Frame {
    /// The body (the top-level object): its own keys and brackets do not count.
    root: bool,
    array: bool,
    /// Its depth in the walk (the top-level fields' values are at 0).
    depth: usize,
    sum: Sum,
    key: Key,
    /// Its `type`, the last one given.
    kind: Kind,
    /// Its `source` is an object of plain text.
    plain_source: bool,
    /// It is the value of its parent's `source`.
    is_source: bool,
    /// It is the top-level `tools` list.
    tools: bool,
    /// It holds a `cache_control`: a breakpoint that lives this long, ms.
    ttl_ms: Option<f64>,
    /// It is (inside) a `cache_control` value: no part of a cached prefix.
    cache_control: bool,
    /// It is a top-level value that is read, not counted ([`read_not_counted`]).
    setting: bool,
    /// It is Gemini's `generationConfig` ([`Key::Generation`]).
    generation: bool,
    /// It is a Gemini `inlineData` or `fileData` part ([`Key::Inline`]).
    inline: bool,
}

impl Frame {
    fn new(root: bool, array: bool, depth: usize) -> Frame {
        Frame {
            root,
            array,
            depth,
            sum: Sum::default(),
            key: Key::Other,
            kind: Kind::Other,
            plain_source: false,
            is_source: false,
            tools: false,
            ttl_ms: None,
            cache_control: false,
            setting: false,
            generation: false,
            inline: false,
        }
    }
}

/// The rules, fed by the reader.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The open frames, the body's first.
    frames: Vec<Frame>,
    /// Open arrays and objects inside one whose content does not count.
    skipped: usize,
    /// The body is an object (anything else counts nothing).
    object: bool,
    nodes: u64,
    truncated: bool,
    tools: bool,
    /// The last value of each output field, if valid.
    outputs: [Option<f64>; 4],
    /// The last value of `n`, if valid.
    choices: Option<f64>,
    model: Option<String>,
    /// The body's counts, once it is closed.
    sum: Sum,
    /// Its prompt's prefixes, as far as read.
    prefixes: Prefixes<Sum>,
}

impl Rules {
    /// The counts, the model and the prompt's prefixes ([`prefix`]), once the text has been
    /// read whole.
    pub fn finish(self) -> (Counts, Option<String>, Vec<Prefix>) {
        let counts = Counts {
            text: self.sum.text,
            images: self.sum.images,
            documents: self.sum.documents,
            tools: self.tools,
            max_tokens: self.outputs.into_iter().flatten().next(),
            choices: self.choices,
            nodes: self.nodes,
            truncated: self.truncated,
        };
        let prefixes = if self.truncated {
            Vec::new()
        } else {
            self.prefixes.finish(Sum::tokens, self.sum.images > 0)
        };
        (counts, self.model, prefixes)
    }

    /// Do events here count in the prompt's prefix (not part of a `cache_control`)?
    fn hashed(&self) -> bool {
        self.skipped == 0
            && self
                .frames
                .last()
                .is_some_and(|f| !f.cache_control && f.key != Key::CacheControl)
    }

    /// What the current content field holds so far: its open containers' counts.
    fn field_sum(&self) -> Sum {
        let mut sum = Sum::default();
        for f in self.frames.iter().skip(1) {
            sum.add(f.sum);
        }
        sum
    }

    /// A value begins in the innermost frame: its walk depth if it counts.
    fn place(&mut self) -> Option<usize> {
        if self.skipped > 0 || self.truncated {
            return None;
        }
        let f = self.frames.last_mut()?;
        let depth = if f.root {
            match f.key {
                Key::Content { .. } | Key::Setting | Key::CacheControl | Key::Generation => 0,
                _ => return None,
            }
        } else {
            if f.array {
                f.sum.text.add(TextCount::ascii(1));
            }
            f.depth + 1
        };
        if f.tools {
            self.tools = true;
        }
        if depth > MAX_DEPTH {
            return None;
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.truncated = true;
            return None;
        }
        Some(depth)
    }

    /// The innermost frame's current key, if a value there is its own (not in a skipped one).
    fn current_key(&self) -> Key {
        match (self.skipped, self.frames.last()) {
            (0, Some(f)) => f.key,
            _ => Key::Other,
        }
    }

    fn top(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a frame is open")
    }
}

impl Sink for Rules {
    fn open(&mut self, array: bool) {
        if self.frames.is_empty() && self.skipped == 0 && !self.object {
            if array {
                self.skipped = 1;
            } else {
                self.object = true;
                self.frames.push(Frame::new(true, false, 0));
            }
            return;
        }
        let key = self.current_key();
        if let Key::Output(i) = key {
            self.outputs[i] = None;
        }
        if key == Key::Choices {
            self.choices = None;
        }
        match key {
            Key::Model => self.model = None,
            Key::Type => self.top().kind = Kind::Other,
            Key::Source => self.top().plain_source = false,
            _ => {}
        }
        let hashed = self.hashed();
        let Some(depth) = self.place() else {
            self.skipped += 1;
            return;
        };
        if hashed {
            self.prefixes.event(Event::Open(array));
        }
        let mut f = Frame::new(false, array, depth);
        f.is_source = key == Key::Source && !array;
        f.tools = array && key == (Key::Content { tools: true });
        f.cache_control = !hashed;
        f.setting = read_not_counted(key, depth);
        f.generation = key == Key::Generation && !array;
        f.inline = key == Key::Inline && !array;
        if f.inline {
            f.kind = Kind::File;
        }
        self.frames.push(f);
    }

    fn close(&mut self) {
        if self.skipped > 0 {
            self.skipped -= 1;
            return;
        }
        let Some(f) = self.frames.pop() else {
            return;
        };
        let Some(parent) = self.frames.last_mut() else {
            self.sum = f.sum;
            return;
        };
        let fixed = |images, documents| Sum {
            text: TextCount::default(),
            images,
            documents,
        };
        let sum = match f.kind {
            Kind::Image => fixed(1, 0),
            Kind::File => fixed(0, 1),
            Kind::Document if !f.plain_source => fixed(0, 1),
            _ => {
                let mut s = f.sum;
                s.text.add(TextCount::ascii(2));
                s
            }
        };
        if !f.setting {
            parent.sum.add(sum);
        }
        if f.is_source {
            parent.plain_source = f.kind == Kind::Plain;
        }
        let block = parent.array && (f.depth == 1 || f.depth == 3);
        if f.cache_control {
            return;
        }
        self.prefixes.event(Event::Close);
        if f.depth == 0 {
            self.prefixes.field_end(sum);
        } else if block {
            let sum = self.field_sum();
            self.prefixes.point(sum, f.ttl_ms);
        }
    }

    fn key(&mut self, key: &Token) {
        if self.skipped > 0 {
            return;
        }
        let truncated = self.truncated;
        let Some(f) = self.frames.last_mut() else {
            return;
        };
        f.key = if f.root {
            let name = key.whole().unwrap_or_default();
            self.prefixes.field(Field::of(name));
            if let Some(i) = OUTPUT_FIELDS.iter().position(|k| k.as_bytes() == name) {
                Key::Output(i)
            } else if name == b"model" {
                Key::Model
            } else if name == b"n" {
                Key::Choices
            } else if name == b"cache_control" {
                // Automatic caching: a breakpoint at the last block (its `ttl` read inside,
                // the object itself not counted).
                self.prefixes.auto(TTL_MS);
                Key::CacheControl
            } else if name == b"thinking" || name == b"tool_choice" {
                Key::Setting
            } else if name == b"generationConfig" || name == b"generation_config" {
                Key::Generation
            } else if CONTENT_FIELDS.iter().any(|k| k.as_bytes() == name) {
                Key::Content {
                    tools: name == b"tools",
                }
            } else {
                Key::Other
            }
        } else {
            if !truncated {
                f.sum.text.add(key.text);
                f.sum.text.add(TextCount::ascii(PUNCT));
            }
            let name = key.whole();
            if f.generation {
                let output = OUTPUT_FIELDS
                    .iter()
                    .position(|k| name == Some(k.as_bytes()));
                match name {
                    // Gemini's candidates, each of up to `maxOutputTokens`, as OpenAI's `n`.
                    Some(b"candidateCount" | b"candidate_count") => Key::Choices,
                    _ => output.map_or(Key::Other, Key::Output),
                }
            } else if f.inline && matches!(name, Some(b"mimeType" | b"mime_type")) {
                Key::Mime
            } else if f.cache_control {
                if name == Some(b"ttl") {
                    Key::Ttl
                } else {
                    Key::Other
                }
            } else if name == Some(b"cache_control") {
                f.ttl_ms = f.ttl_ms.or(Some(TTL_MS));
                Key::CacheControl
            } else {
                self.prefixes.event(Event::Key(key.digest()));
                match name {
                    Some(b"type") => Key::Type,
                    Some(b"source") => Key::Source,
                    Some(b"inlineData" | b"inline_data" | b"fileData" | b"file_data") => {
                        Key::Inline
                    }
                    _ => Key::Other,
                }
            }
        };
    }

    fn scalar(&mut self, kind: Scalar, value: &Token) {
        let key = self.current_key();
        match key {
            Key::Output(i) => self.outputs[i] = output_limit(kind, value),
            Key::Choices => {
                self.choices = output_limit(kind, value)
                    .filter(|n| n.fract() == 0.0 && (1.0..=MAX_CHOICES).contains(n))
            }
            Key::Model => {
                self.model = (kind == Scalar::Str)
                    .then(|| String::from_utf8_lossy(value.head()).into_owned());
                self.prefixes.model(value.digest());
            }
            Key::Type => {
                self.top().kind = match kind {
                    Scalar::Str => kind_of(value),
                    _ => Kind::Other,
                }
            }
            Key::Source => self.top().plain_source = false,
            Key::Mime if value.head().starts_with(b"image/") => self.top().kind = Kind::Image,
            Key::Ttl if value.whole() == Some(b"1h") => {
                if let Some(owner) = self.frames.iter_mut().rev().find(|f| !f.cache_control) {
                    if owner.root {
                        self.prefixes.auto(TTL_LONG_MS);
                    } else {
                        owner.ttl_ms = Some(TTL_LONG_MS);
                    }
                }
            }
            _ => {}
        }
        let hashed = self.hashed();
        let Some(depth) = self.place() else {
            return;
        };
        let f = self.top();
        let mut sum = Sum::default();
        if kind != Scalar::Str {
            sum.text = value.text;
        } else if is_data_url(value.head()) {
            sum.images = 1;
        } else {
            sum.text = value.text;
            sum.text.add(TextCount::ascii(2));
        }
        if !read_not_counted(key, depth) {
            f.sum.add(sum);
        }
        if hashed {
            let (tag, hash) = match kind {
                Scalar::Str => (b's', value.digest()),
                Scalar::Number => (b'n', prefix::of_bytes(value.head())),
                Scalar::Literal => (b'l', prefix::of_bytes(value.head())),
            };
            self.prefixes.event(Event::Scalar(tag, hash));
            if depth == 0 {
                self.prefixes.point(sum, None);
                self.prefixes.field_end(sum);
            }
        }
    }
}

/// Is a value under `key` at walk depth `depth` read but not counted? A setting's
/// (`"tool_choice": "auto"`, hashed into the prefixes) and automatic caching's top-level
/// `cache_control` (only its `ttl` matters) are no input.
fn read_not_counted(key: Key, depth: usize) -> bool {
    depth == 0 && matches!(key, Key::Setting | Key::CacheControl | Key::Generation)
}

/// An output field's value, if it is a number in `[0, MAX_OUTPUT_TOKENS]`.
fn output_limit(kind: Scalar, value: &Token) -> Option<f64> {
    let n = (kind == Scalar::Number).then(|| value.number())??;
    (n.is_finite() && (0.0..=MAX_OUTPUT_TOKENS).contains(&n)).then_some(n)
}
