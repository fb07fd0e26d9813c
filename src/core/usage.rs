//! A response's usage: where the APIs put it in a document and what its fields are called,
//! once, for every way the driver sees a body: a document the caller parsed (`json()`: the
//! package walks it at these places and hands over the numbers, [`Report::take_numbers`]), a
//! usage object of the caller's ([`Object::read`]), and JSON text (a `text()` or byte read, a
//! stream event's data), read here in pieces by the estimate's JSON reader, so that no body is
//! parsed twice.
//!
//! ```
//! use llm_pacer::core::usage::Report;
//!
//! let mut report = Report::default();
//! assert!(report.read_json(br#"{"type":"message","usage":{"input_tokens":12,"output_tokens":30}}"#));
//! let usage = report.finish().unwrap();
//! assert_eq!((usage.input_tokens, usage.output_tokens), (12.0, 30.0));
//! ```

use super::estimate::json::{Reader, Scalar, Sink, Token};
use super::limiter::Usage;

/// Where a usage object sits in a document: `usage` (Anthropic's message and `message_delta`,
/// OpenAI's), `message.usage` (Anthropic's `message_start`), `response.usage` (OpenAI
/// Responses events), `usageMetadata` (Gemini's `generateContent` and each chunk of its
/// stream). Where a document has more than one, a later one's fields win. A document that is
/// an array (Gemini's `streamGenerateContent` without `alt=sse`: its chunks as one JSON array)
/// is read as its elements, each a document, in order: a later element's fields win, as a
/// later event's do in a stream.
pub const PATHS: [&[&str]; 4] = [
    &["usage"],
    &["message", "usage"],
    &["response", "usage"],
    &["usageMetadata"],
];

/// The fields of a usage object: Anthropic's (`input_tokens`, `cache_creation_input_tokens`,
/// `cache_read_input_tokens`, `output_tokens`), OpenAI Chat's (`prompt_tokens`,
/// `completion_tokens`, each read only where the names before it gave no number), OpenAI
/// Responses' (Anthropic's names) and Gemini's (`promptTokenCount`, all of the prompt, cached
/// part included, as its TPM counts it; `candidatesTokenCount` plus `thoughtsTokenCount`,
/// thinking billed as output). Indices of [`Object`].
pub const FIELDS: [&str; 9] = [
    "input_tokens",
    "prompt_tokens",
    "promptTokenCount",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "completion_tokens",
    "candidatesTokenCount",
    "thoughtsTokenCount",
];

/// The numeric fields of one usage object, by their index in [`FIELDS`] (`None`: absent, or
/// not a number).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Object([Option<f64>; 9]);

impl Object {
    /// The fields of a usage object that `get` reads by name (a number, or `None`); another
    /// provider's names only where the names before them gave no number.
    pub fn read(mut get: impl FnMut(&'static str) -> Option<f64>) -> Object {
        let mut o = Object::default();
        for (i, name) in FIELDS.iter().enumerate() {
            let taken = match i {
                1 | 2 => o.0[..i].iter().any(Option::is_some),
                6 | 7 => o.0[5..i].iter().any(Option::is_some),
                8 => o.0[5..7].iter().any(Option::is_some),
                _ => false,
            };
            if !taken {
                o.0[i] = get(name);
            }
        }
        o
    }

    /// Its fields as a [`Usage`], with NaN where a field is absent (to be sanitized).
    pub fn usage(&self) -> Usage {
        with_nan(self.fields())
    }

    /// Its four [`Usage`] fields, each the first name's number, else the next one's.
    fn fields(&self) -> [Option<f64>; 4] {
        let [input, prompt, gemini_in, creation, read, output, completion, candidates, thoughts] =
            self.0;
        // Thinking that used all of `maxOutputTokens` comes with no candidates count.
        let thinking = thoughts.filter(|t| *t >= 0.0);
        let gemini_out = match (candidates, thinking) {
            (None, None) => None,
            (c, t) => Some(c.unwrap_or(0.0) + t.unwrap_or(0.0)),
        };
        [
            input.or(prompt).or(gemini_in),
            creation,
            read,
            output.or(completion).or(gemini_out),
        ]
    }
}

/// The four fields of a [`Usage`], in its order, NaN where absent.
fn with_nan(fields: [Option<f64>; 4]) -> Usage {
    let [input, creation, read, output] = fields.map(|v| v.unwrap_or(f64::NAN));
    Usage {
        input_tokens: input,
        cache_creation_input_tokens: creation,
        cache_read_input_tokens: read,
        output_tokens: output,
    }
}

/// Usage as reported so far: a later usage object overwrites the fields it has (streams
/// report cumulative counts).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Report {
    fields: [Option<f64>; 4],
}

impl Report {
    /// Take the fields a usage object has.
    pub fn take(&mut self, o: &Object) {
        for (have, new) in self.fields.iter_mut().zip(o.fields()) {
            if new.is_some() {
                *have = new;
            }
        }
    }

    /// Take the usage objects of a parsed document as its numbers: for each of [`PATHS`] in
    /// order, a row of one number per [`FIELDS`] name, NaN where the field is absent or not a
    /// number (a row of NaN where the path holds no object); for a document that is an array,
    /// such rows for each element in turn (an element with no usage object may be left out).
    /// The package's walk of a document the caller parsed gives them, one crossing for the
    /// whole usage rather than a property read each; which places and names there are, and
    /// what they mean, stays here.
    pub fn take_numbers(&mut self, numbers: &[f64]) {
        for row in numbers.chunks_exact(FIELDS.len()) {
            let mut o = Object::default();
            for (field, &v) in o.0.iter_mut().zip(row) {
                *field = (!v.is_nan()).then_some(v);
            }
            self.take(&o);
        }
    }

    /// Take the usage objects of one JSON document, whole (`false`, and nothing taken, if it
    /// is not JSON).
    pub fn read_json(&mut self, text: &[u8]) -> bool {
        let mut scan = Scan::default();
        scan.feed(text);
        scan.finish(self)
    }

    /// Take what `later` reported, as if its usage objects came after this one's.
    fn then(&mut self, later: &Report) {
        for (have, new) in self.fields.iter_mut().zip(later.fields) {
            if new.is_some() {
                *have = new;
            }
        }
    }

    /// The usage, sanitized; `None` when nothing valid was reported.
    pub fn finish(self) -> Option<Usage> {
        with_nan(self.fields).sanitized()
    }
}

/// One JSON document's text, read in pieces (split anywhere) for its usage objects.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    reader: Reader,
    find: Find,
}

impl Scan {
    /// Read the next piece of the text.
    pub fn feed(&mut self, piece: &[u8]) {
        self.reader.feed(piece, &mut self.find);
    }

    /// Has the text stopped being JSON already? (Nothing more needs reading.)
    pub fn failed(&self) -> bool {
        self.reader.failed()
    }

    /// The end of the text: if it was one JSON value, `report` takes its usage objects in the
    /// order of [`PATHS`] (an array's element by element), as a walk of the parsed document
    /// would; `false` (and nothing taken) if it was not JSON.
    pub fn finish(mut self, report: &mut Report) -> bool {
        if !self.reader.finish(&mut self.find) {
            return false;
        }
        self.find.flush();
        report.then(&self.find.taken);
        true
    }
}

/// Where a container (or the value about to begin) sits, as far as the usage goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// The document's top-level object (or an element of its top-level array).
    Doc,
    /// The document's top-level array: each element is read as a document.
    Array,
    /// The object of path `p` that holds a usage object (`message`, `response`).
    Wrap(usize),
    /// The usage object of path `p`.
    Usage(usize),
    /// Field `i` of the usage object of path `p`.
    Field(usize, usize),
    /// Anywhere else.
    Elsewhere,
}

/// The reader's events, followed to the usage objects: one [`At`] per open container of the
/// first levels, and, per path, the fields of the last usage object seen there (JSON's last
/// duplicate key wins, as in `JSON.parse`), until the document (an array's element) ends.
#[derive(Debug, Clone, Default)]
struct Find {
    open: Vec<At>,
    /// Containers open below an [`At::Elsewhere`] one (not kept).
    deeper: usize,
    /// Where the value after the last key sits.
    next: Option<At>,
    objects: [Option<Object>; 4],
    /// The usage objects of the documents ended so far (an array's elements), in order.
    taken: Report,
}

impl Find {
    /// Where the value that begins now sits.
    fn here(&self) -> At {
        match (self.deeper, self.open.last()) {
            (0, None | Some(At::Array)) => At::Doc,
            (0, Some(_)) => self.next.unwrap_or(At::Elsewhere),
            _ => At::Elsewhere,
        }
    }

    /// A document ended: its usage objects are taken, in the order of [`PATHS`].
    fn flush(&mut self) {
        for o in std::mem::take(&mut self.objects).iter().flatten() {
            self.taken.take(o);
        }
    }

    /// A value begins at `at`: it replaces what an earlier value there reported. `object`:
    /// it is an object; `number`: it is this number.
    fn begin(&mut self, at: At, object: bool, number: Option<f64>) {
        match at {
            At::Usage(p) => self.objects[p] = object.then(Object::default),
            At::Wrap(p) => self.objects[p] = None,
            At::Field(p, i) => {
                if let Some(o) = &mut self.objects[p] {
                    o.0[i] = number;
                }
            }
            At::Doc | At::Array | At::Elsewhere => {}
        }
        self.next = None;
    }
}

impl Sink for Find {
    fn open(&mut self, array: bool) {
        let at = self.here();
        self.begin(at, !array, None);
        let keep = !array && matches!(at, At::Doc | At::Wrap(_) | At::Usage(_));
        if keep {
            self.open.push(at);
        } else if array && self.deeper == 0 && self.open.is_empty() {
            // A top-level array: its elements are documents.
            self.open.push(At::Array);
        } else {
            self.deeper += 1;
        }
    }

    fn close(&mut self) {
        if self.deeper > 0 {
            self.deeper -= 1;
        } else if self.open.pop() == Some(At::Doc) && self.open.last() == Some(&At::Array) {
            // An element of the top-level array ended: the next one's objects come after.
            self.flush();
        }
        self.next = None;
    }

    fn key(&mut self, key: &Token) {
        let name = key.whole().unwrap_or_default();
        let is = |n: &str| name == n.as_bytes();
        self.next = match (self.deeper, self.open.last()) {
            (0, Some(At::Doc)) if is("usage") => Some(At::Usage(0)),
            (0, Some(At::Doc)) if is("message") => Some(At::Wrap(1)),
            (0, Some(At::Doc)) if is("response") => Some(At::Wrap(2)),
            (0, Some(At::Doc)) if is("usageMetadata") => Some(At::Usage(3)),
            (0, Some(&At::Wrap(p))) if is("usage") => Some(At::Usage(p)),
            (0, Some(&At::Usage(p))) => FIELDS.iter().position(|f| is(f)).map(|i| At::Field(p, i)),
            _ => None,
        };
    }

    fn scalar(&mut self, kind: Scalar, value: &Token) {
        let number = (kind == Scalar::Number).then(|| value.number()).flatten();
        self.begin(self.here(), false, number);
    }
}
