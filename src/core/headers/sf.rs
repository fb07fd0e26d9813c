//! The subset of RFC 9651 (Structured Field Values) the IETF fields need: Lists and
//! Dictionaries of Items and Inner Lists with Parameters, every bare-item type recognised (so
//! that a valid field never fails), values kept as borrowed slices.

/// A bare item. Strings and Tokens keep their raw text (Strings with their escapes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Bare<'a> {
    Int(i64),
    Decimal,
    Str(&'a [u8]),
    Token(&'a [u8]),
    Other,
}

/// A List member: an Item (`item` is `Some`) or an Inner List, with its parameters.
#[derive(Debug, Clone, Copy)]
pub(super) struct Member<'a> {
    item: Option<Bare<'a>>,
    /// The raw parameters, already validated: `;a=1;b`.
    params: &'a [u8],
}

impl<'a> Member<'a> {
    /// The name of an Item whose bare item is a String or a Token.
    pub(super) fn name(&self) -> Option<&'a [u8]> {
        match self.item? {
            Bare::Str(s) | Bare::Token(s) => Some(s),
            _ => None,
        }
    }
    /// The value of an Item that is an Integer.
    pub(super) fn int(&self) -> Option<i64> {
        match self.item? {
            Bare::Int(i) => Some(i),
            _ => None,
        }
    }
    /// A parameter's value (the last one when a key repeats, as RFC 9651 says); a key
    /// without a value is the Boolean true.
    pub(super) fn param(&self, key: &[u8]) -> Option<Bare<'a>> {
        let mut p = Parser {
            s: self.params,
            i: 0,
        };
        let mut found = None;
        while p.peek() == Some(b';') {
            p.i += 1;
            p.skip_sp();
            let k = p.key().ok()?;
            let v = if p.peek() == Some(b'=') {
                p.i += 1;
                p.bare().ok()?
            } else {
                Bare::Other
            };
            if k == key {
                found = Some(v);
            }
        }
        found
    }
}

/// Compare the texts of two Strings (escapes resolved) or Tokens.
pub(super) fn text_eq(a: &[u8], b: &[u8]) -> bool {
    fn unescaped(raw: &[u8]) -> impl Iterator<Item = u8> + '_ {
        let mut it = raw.iter();
        std::iter::from_fn(move || match it.next()? {
            b'\\' => it.next().copied(),
            &c => Some(c),
        })
    }
    unescaped(a).eq(unescaped(b))
}

/// True when every line parses as a List (`dict`: as a Dictionary).
pub(super) fn fields_ok(lines: &[&str], dict: bool) -> bool {
    let mut it = Members::new(lines, dict);
    while it.next().is_some() {}
    !it.err
}

/// Members past this many in one field are ignored (servers send a handful; the cap
/// bounds the work of matching limits to policies on hostile input).
pub(super) const MAX_MEMBERS: usize = 32;

/// The first [`MAX_MEMBERS`] members of a field (whose lines must be valid, see
/// [`fields_ok`]), in order, each with its key: a List's (the key empty), or (`dict`) a
/// Dictionary's, of which, when a key repeats, the last one is the one that counts
/// (RFC 9651 §4.2.2). An iterator rather than a callback: one copy of the parser in the Wasm.
pub(super) fn members<'a, 'l>(
    lines: &'l [&'a str],
    dict: bool,
) -> impl Iterator<Item = (&'a [u8], Member<'a>)> + 'l {
    Members::new(lines, dict).take(MAX_MEMBERS)
}

/// The members of a field's lines, up to the first syntax error (then `err`).
struct Members<'a, 'l> {
    lines: &'l [&'a str],
    p: Parser<'a>,
    dict: bool,
    err: bool,
}

impl<'a, 'l> Members<'a, 'l> {
    fn new(lines: &'l [&'a str], dict: bool) -> Self {
        Members {
            lines,
            p: Parser { s: &[], i: 0 },
            dict,
            err: false,
        }
    }

    /// The member at the parser, and the separator after it.
    fn member(&mut self) -> Res<(&'a [u8], Member<'a>)> {
        let p = &mut self.p;
        let dict = self.dict;
        let key = if dict { p.key()? } else { &[] };
        let member = if !dict || p.peek() == Some(b'=') {
            p.i += usize::from(dict); // =
            p.member()?
        } else {
            // A key alone: the Boolean true, with its parameters.
            let start = p.i;
            p.params()?;
            Member {
                item: Some(Bare::Other),
                params: &p.s[start..p.i],
            }
        };
        p.skip_ows();
        match p.peek() {
            None => {}
            Some(b',') => {
                p.i += 1;
                p.skip_ows();
                if p.peek().is_none() {
                    return Err(()); // a trailing comma
                }
            }
            Some(_) => return Err(()),
        }
        Ok((key, member))
    }
}

impl<'a> Iterator for Members<'a, '_> {
    type Item = (&'a [u8], Member<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        while !self.err {
            if self.p.peek().is_none() {
                // The next line; an empty one adds no member.
                let (l, rest) = self.lines.split_first()?;
                self.lines = rest;
                self.p = Parser {
                    s: l.as_bytes(),
                    i: 0,
                };
                self.p.skip_ows();
                continue;
            }
            let m = self.member();
            self.err = m.is_err();
            return m.ok();
        }
        None
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

type Res<T> = Result<T, ()>;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn member(&mut self) -> Res<Member<'a>> {
        let item = if self.peek() == Some(b'(') {
            self.inner_list()?;
            None
        } else {
            Some(self.bare()?)
        };
        let start = self.i;
        self.params()?;
        Ok(Member {
            item,
            params: &self.s[start..self.i],
        })
    }

    fn inner_list(&mut self) -> Res<()> {
        self.i += 1; // (
        loop {
            self.skip_sp();
            match self.peek() {
                Some(b')') => {
                    self.i += 1;
                    return Ok(());
                }
                None => return Err(()),
                Some(_) => {
                    self.bare()?;
                    self.params()?;
                    if !matches!(self.peek(), Some(b' ' | b')')) {
                        return Err(());
                    }
                }
            }
        }
    }

    fn params(&mut self) -> Res<()> {
        while self.peek() == Some(b';') {
            self.i += 1;
            self.skip_sp();
            self.key()?;
            if self.peek() == Some(b'=') {
                self.i += 1;
                self.bare()?;
            }
        }
        Ok(())
    }

    fn key(&mut self) -> Res<&'a [u8]> {
        let start = self.i;
        match self.peek() {
            Some(c) if c.is_ascii_lowercase() || c == b'*' => self.i += 1,
            _ => return Err(()),
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'_' | b'-' | b'.' | b'*')
            {
                self.i += 1;
            } else {
                break;
            }
        }
        Ok(&self.s[start..self.i])
    }

    fn bare(&mut self) -> Res<Bare<'a>> {
        match self.peek().ok_or(())? {
            b'-' | b'0'..=b'9' => self.number(),
            b'"' => self.string().map(Bare::Str),
            b'*' | b'A'..=b'Z' | b'a'..=b'z' => Ok(Bare::Token(self.token())),
            b':' => self.byte_sequence(),
            b'?' => {
                self.i += 1;
                match self.peek() {
                    Some(b'0' | b'1') => {
                        self.i += 1;
                        Ok(Bare::Other)
                    }
                    _ => Err(()),
                }
            }
            b'@' => {
                // A Date (RFC 9651): an Integer of seconds.
                self.i += 1;
                match self.number()? {
                    Bare::Int(_) => Ok(Bare::Other),
                    _ => Err(()),
                }
            }
            b'%' => self.display_string(),
            _ => Err(()),
        }
    }

    fn number(&mut self) -> Res<Bare<'a>> {
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let (mut int_digits, mut frac_digits, mut dot) = (0usize, 0usize, false);
        let mut value: i64 = 0;
        loop {
            match self.peek() {
                Some(c @ b'0'..=b'9') => {
                    if dot {
                        frac_digits += 1;
                    } else {
                        int_digits += 1;
                        value = value * 10 + i64::from(c - b'0');
                    }
                }
                Some(b'.') if !dot && int_digits > 0 => {
                    if int_digits > 12 {
                        return Err(());
                    }
                    dot = true;
                }
                _ => break,
            }
            self.i += 1;
            if int_digits > 15 || frac_digits > 3 {
                return Err(());
            }
        }
        if int_digits == 0 || (dot && frac_digits == 0) {
            return Err(());
        }
        Ok(if dot {
            Bare::Decimal
        } else if neg {
            Bare::Int(-value)
        } else {
            Bare::Int(value)
        })
    }

    fn string(&mut self) -> Res<&'a [u8]> {
        self.i += 1; // "
        let start = self.i;
        loop {
            match self.peek().ok_or(())? {
                b'\\' => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\') => self.i += 1,
                        _ => return Err(()),
                    }
                }
                b'"' => {
                    let s = &self.s[start..self.i];
                    self.i += 1;
                    return Ok(s);
                }
                0x20..=0x7e => self.i += 1,
                _ => return Err(()),
            }
        }
    }

    fn token(&mut self) -> &'a [u8] {
        let start = self.i;
        self.i += 1;
        while let Some(c) = self.peek() {
            let tchar = c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c);
            if !tchar {
                break;
            }
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn byte_sequence(&mut self) -> Res<Bare<'a>> {
        self.i += 1; // :
        loop {
            match self.peek().ok_or(())? {
                b':' => {
                    self.i += 1;
                    return Ok(Bare::Other);
                }
                c if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=') => {
                    self.i += 1;
                }
                _ => return Err(()),
            }
        }
    }

    fn display_string(&mut self) -> Res<Bare<'a>> {
        self.i += 1; // %
        if self.peek() != Some(b'"') {
            return Err(());
        }
        self.i += 1;
        let lower_hex = |c: Option<u8>| matches!(c, Some(b'0'..=b'9' | b'a'..=b'f'));
        loop {
            match self.peek().ok_or(())? {
                b'"' => {
                    self.i += 1;
                    return Ok(Bare::Other);
                }
                b'%' => {
                    if !(lower_hex(self.s.get(self.i + 1).copied())
                        && lower_hex(self.s.get(self.i + 2).copied()))
                    {
                        return Err(());
                    }
                    self.i += 3;
                }
                0x20..=0x7e => self.i += 1,
                _ => return Err(()),
            }
        }
    }
}
