//! A JSON text read in pieces, byte by byte, as events: the grammar of RFC 8259 (what
//! `JSON.parse` accepts), and nothing kept but what the estimate's rules look at.
//!
//! The text arrives in pieces of any size, split anywhere (inside a string, an escape, a
//! number or a UTF-8 sequence). A string is never held whole: its characters are counted as
//! they pass ([`TextCount`]) and only its first [`HEAD`] bytes are kept, decoded (enough for
//! a key, a `type`, a model name or the start of a `data:` URL). So the memory is bounded
//! whatever the body: the token being read, and one bit per open bracket up to
//! [`MAX_NESTING`].
//!
//! Serde-style parsers (and the small streaming ones such as `json-event-parser`) hand a
//! string over whole, which would copy a request's base64 image into the Wasm memory, and
//! that memory never shrinks; so this reader is written here, over the estimate's needs.

use super::prefix::Hasher;
use super::TextCount;

/// The bytes of a string (decoded) or a number kept for the rules to look at.
pub const HEAD: usize = 256;
/// Deeper nesting than this is not read as JSON (the body is then priced by its length).
pub const MAX_NESTING: usize = 1 << 16;

/// A string, number or literal, as read: its characters and the start of its text.
#[derive(Debug, Clone)]
pub struct Token {
    /// Its characters: a string's decoded content; a number's or literal's own text.
    pub text: TextCount,
    head: [u8; HEAD],
    len: usize,
    /// More bytes than [`HEAD`] were read.
    pub cut: bool,
    /// A string's decoded content, hashed whole ([`super::prefix`]).
    hash: Hasher,
}

impl Token {
    fn new() -> Token {
        Token {
            text: TextCount::default(),
            head: [0; HEAD],
            len: 0,
            cut: false,
            hash: Hasher::default(),
        }
    }

    fn reset(&mut self) {
        self.text = TextCount::default();
        self.len = 0;
        self.cut = false;
        self.hash.reset();
    }

    /// More of a string's decoded content, for its hash.
    fn hash(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
    }

    /// The hash of a string's decoded content.
    pub(crate) fn digest(&self) -> u64 {
        self.hash.digest()
    }

    /// The first [`HEAD`] bytes (a string's decoded UTF-8, possibly cut inside a character).
    pub fn head(&self) -> &[u8] {
        &self.head[..self.len]
    }

    /// The whole of it, when it is no longer than [`HEAD`] bytes.
    pub fn whole(&self) -> Option<&[u8]> {
        (!self.cut).then(|| self.head())
    }

    /// A number's value, as `JSON.parse` gives it (within 1e-14 past 15 significant digits);
    /// `None` for a number longer than [`HEAD`] bytes (no server writes one).
    pub fn number(&self) -> Option<f64> {
        let text = std::str::from_utf8(self.whole()?).ok()?;
        match text.strip_prefix('-') {
            Some(rest) => Some(-crate::core::decimal::parse(rest)?),
            None => crate::core::decimal::parse(text),
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(HEAD - self.len);
        self.head[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self.cut |= n < bytes.len();
    }

    fn keep_char(&mut self, c: char) {
        let mut buf = [0; 4];
        self.keep(c.encode_utf8(&mut buf).as_bytes());
    }
}

/// What a scalar value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// A string.
    Str,
    /// A number.
    Number,
    /// `true`, `false` or `null`.
    Literal,
}

/// Where the events go: the estimate's rules.
pub trait Sink {
    /// An array (`true`) or object begins, as a value.
    fn open(&mut self, array: bool);
    /// The innermost array or object ends.
    fn close(&mut self);
    /// An object's key.
    fn key(&mut self, key: &Token);
    /// A scalar value, whole.
    fn scalar(&mut self, kind: Scalar, value: &Token);
}

/// The states of a number's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

impl Num {
    /// The state after `b`, or `None` where `b` does not continue the number.
    fn next(self, b: u8) -> Option<Num> {
        let digit = b.is_ascii_digit();
        Some(match (self, b) {
            (Num::Minus, b'0') => Num::Zero,
            (Num::Minus, _) if digit => Num::Int,
            (Num::Int, _) if digit => Num::Int,
            (Num::Zero | Num::Int, b'.') => Num::Dot,
            (Num::Dot | Num::Frac, _) if digit => Num::Frac,
            (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Num::E,
            (Num::E, b'+' | b'-') => Num::ESign,
            (Num::E | Num::ESign | Num::Exp, _) if digit => Num::Exp,
            _ => return None,
        })
    }

    /// Can the number end here?
    fn complete(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::Exp)
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// A value (at the start, after `:`, after `,` in an array).
    Value,
    /// A value or `]` (after `[`).
    ValueOrClose,
    /// A key or `}` (after `{`).
    KeyOrClose,
    /// A key (after `,` in an object).
    Key,
    /// `:` after a key.
    Colon,
    /// `,` or the end of the innermost array or object.
    Next,
    /// Only whitespace may follow.
    Done,
    /// Inside a string (a key's or a value's).
    Str { key: bool },
    /// After a backslash in a string.
    Escape { key: bool },
    /// Inside `\uXXXX`: the hex digits read so far and their value.
    Unicode { key: bool, digits: u8, code: u32 },
    /// Inside a number.
    Number(Num),
    /// Inside `true`, `false` or `null`: the word and how much of it was read.
    Literal { word: &'static [u8], read: u8 },
    /// Not JSON.
    Failed,
}

/// The reader.
#[derive(Debug, Clone)]
pub struct Reader {
    state: State,
    /// One entry per open bracket: is it an array?
    open: Vec<bool>,
    token: Token,
    /// The string's last escape was a high surrogate (`\uD800`-`\uDBFF`): its code.
    high: Option<u32>,
}

impl Default for Reader {
    fn default() -> Reader {
        Reader {
            state: State::Value,
            open: Vec::new(),
            token: Token::new(),
            high: None,
        }
    }
}

/// Where the run of a string's plain content that starts at `bytes[i]` ends (at a quote, a
/// backslash, a control byte or the end of the piece), and its characters, counted as
/// [`TextCount::of_bytes`] counts them. Eight bytes at a time while no byte of the word ends the
/// run (tested with bit arithmetic on the word as a `u64`), then byte by byte: a long prompt is
/// mostly such runs, and reading them was most of the time a request's estimate took.
fn plain_run(bytes: &[u8], mut i: usize) -> (usize, TextCount) {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    /// Not 0 exactly when a byte of `x` is below `n` (`n` <= 0x80): the high bit of each such
    /// byte, and maybe of a byte above one (the subtraction's borrow).
    const fn below(x: u64, n: u8) -> u64 {
        x.wrapping_sub(LO * n as u64) & !x & HI
    }
    let mut count = TextCount::default();
    for word in bytes.get(i..).unwrap_or_default().chunks_exact(8) {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        if below(x ^ (LO * b'"' as u64), 1) | below(x ^ (LO * b'\\' as u64), 1) | below(x, 0x20)
            != 0
        {
            break;
        }
        // Bytes >= 0x80 are not ASCII; of those, the ones >= 0xC0 begin a character.
        let high = (x & HI).count_ones();
        count.ascii += u64::from(8 - high);
        count.other += u64::from((x & (x << 1) & HI).count_ones());
        i += 8;
    }
    let start = i;
    while i < bytes.len() && !matches!(bytes[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    count.add(TextCount::of_bytes(&bytes[start..i]));
    (i, count)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl Reader {
    /// Has the text so far stopped being JSON?
    pub fn failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }

    /// Read the next piece of the text.
    pub fn feed(&mut self, bytes: &[u8], sink: &mut dyn Sink) {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Failed => return,
                State::Str { key } => i = self.string(bytes, i, key, sink),
                _ => {
                    // A byte that ends a number is read again, as what follows it.
                    if self.byte(bytes[i], sink) {
                        i += 1;
                    }
                }
            }
        }
    }

    /// The end of the text: was it one JSON value?
    pub fn finish(&mut self, sink: &mut dyn Sink) -> bool {
        if let State::Number(n) = self.state {
            if n.complete() && self.open.is_empty() {
                sink.scalar(Scalar::Number, &self.token);
                self.state = State::Done;
            }
        }
        matches!(self.state, State::Done)
    }

    fn fail(&mut self) {
        self.state = State::Failed;
    }

    /// The state after a whole value.
    fn after_value(&mut self) {
        self.state = if self.open.is_empty() {
            State::Done
        } else {
            State::Next
        };
    }

    /// Read a run of a string's content from `bytes[i..]`; the index after it.
    fn string(&mut self, bytes: &[u8], mut i: usize, key: bool, sink: &mut dyn Sink) -> usize {
        let start = i;
        let count;
        (i, count) = plain_run(bytes, i);
        if i > start {
            self.high = None;
            let run = &bytes[start..i];
            self.token.text.add(count);
            self.token.keep(run);
            self.token.hash(run);
        }
        let Some(&b) = bytes.get(i) else {
            return i;
        };
        match b {
            b'"' => {
                if key {
                    sink.key(&self.token);
                    self.state = State::Colon;
                } else {
                    sink.scalar(Scalar::Str, &self.token);
                    self.after_value();
                }
            }
            b'\\' => self.state = State::Escape { key },
            _ => self.fail(),
        }
        i + 1
    }

    /// Read one byte outside a string's plain content; `false` when it is to be read again.
    fn byte(&mut self, b: u8, sink: &mut dyn Sink) -> bool {
        match self.state {
            State::Value
            | State::ValueOrClose
            | State::KeyOrClose
            | State::Key
            | State::Colon
            | State::Next
            | State::Done
                if is_space(b) => {}
            State::Value | State::ValueOrClose => {
                if b == b']' && matches!(self.state, State::ValueOrClose) {
                    self.close(sink);
                } else {
                    self.value(b, sink);
                }
            }
            State::KeyOrClose | State::Key => match b {
                b'"' => {
                    self.token.reset();
                    self.state = State::Str { key: true };
                }
                b'}' if matches!(self.state, State::KeyOrClose) => self.close(sink),
                _ => self.fail(),
            },
            State::Colon => match b {
                b':' => self.state = State::Value,
                _ => self.fail(),
            },
            State::Next => match (b, self.open.last()) {
                (b',', Some(true)) => self.state = State::Value,
                (b',', Some(false)) => self.state = State::Key,
                (b']', Some(true)) | (b'}', Some(false)) => self.close(sink),
                _ => self.fail(),
            },
            State::Escape { key } => {
                self.state = State::Str { key };
                let c = match b {
                    b'"' | b'\\' | b'/' => b,
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        self.state = State::Unicode {
                            key,
                            digits: 0,
                            code: 0,
                        };
                        return true;
                    }
                    _ => {
                        self.fail();
                        return true;
                    }
                };
                self.high = None;
                self.token.text.add(TextCount::ascii(1));
                self.token.keep(&[c]);
                self.token.hash(&[c]);
            }
            State::Unicode { key, digits, code } => {
                let Some(d) = char::from(b).to_digit(16) else {
                    self.fail();
                    return true;
                };
                let code = code << 4 | d;
                if digits < 3 {
                    self.state = State::Unicode {
                        key,
                        digits: digits + 1,
                        code,
                    };
                } else {
                    self.state = State::Str { key };
                    self.escaped(code);
                }
            }
            State::Number(n) => match n.next(b) {
                Some(n) => {
                    self.state = State::Number(n);
                    self.token.text.add(TextCount::ascii(1));
                    self.token.keep(&[b]);
                }
                None if n.complete() => {
                    sink.scalar(Scalar::Number, &self.token);
                    self.after_value();
                    return false;
                }
                None => self.fail(),
            },
            State::Literal { word, read } => {
                if word.get(usize::from(read)) != Some(&b) {
                    self.fail();
                } else if usize::from(read) + 1 == word.len() {
                    self.token.reset();
                    self.token.text = TextCount::ascii(word.len() as u64);
                    sink.scalar(Scalar::Literal, &self.token);
                    self.after_value();
                } else {
                    self.state = State::Literal {
                        word,
                        read: read + 1,
                    };
                }
            }
            State::Done | State::Str { .. } | State::Failed => self.fail(),
        }
        true
    }

    /// The first byte of a value.
    fn value(&mut self, b: u8, sink: &mut dyn Sink) {
        match b {
            b'{' | b'[' => {
                if self.open.len() >= MAX_NESTING {
                    return self.fail();
                }
                let array = b == b'[';
                self.open.push(array);
                sink.open(array);
                self.state = if array {
                    State::ValueOrClose
                } else {
                    State::KeyOrClose
                };
            }
            b'"' => {
                self.token.reset();
                self.state = State::Str { key: false };
            }
            b'-' | b'0'..=b'9' => {
                self.token.reset();
                self.token.text = TextCount::ascii(1);
                self.token.keep(&[b]);
                self.state = State::Number(match b {
                    b'-' => Num::Minus,
                    b'0' => Num::Zero,
                    _ => Num::Int,
                });
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.fail(),
        }
    }

    fn literal(&mut self, word: &'static [u8]) {
        self.state = State::Literal { word, read: 1 };
    }

    fn close(&mut self, sink: &mut dyn Sink) {
        self.open.pop();
        sink.close();
        self.after_value();
    }

    /// A `\uXXXX` escape's code unit: one character, a surrogate pair's two halves counting
    /// as one (a lone half as one too, as `JSON.parse` keeps it).
    fn escaped(&mut self, code: u32) {
        // Hashed as the code unit it is (the same text always hashes the same).
        self.token.hash(&[0, (code >> 8) as u8, code as u8]);
        let high = self.high.take();
        if let (Some(h), 0xDC00..=0xDFFF) = (high, code) {
            // The high half was counted; the pair is one character.
            let c = 0x10000 + ((h - 0xD800) << 10) + (code - 0xDC00);
            self.token
                .keep_char(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
            return;
        }
        if (0xD800..0xDC00).contains(&code) {
            self.high = Some(code);
        }
        self.token.text.add(if code < 0x80 {
            TextCount::ascii(1)
        } else {
            TextCount { ascii: 0, other: 1 }
        });
        if !(0xD800..0xE000).contains(&code) {
            self.token
                .keep_char(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
    }
}
