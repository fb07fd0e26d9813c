//! A request's limit key ([`super::keys::LimitKey`]) from what the request carries: the URL's
//! origin, a one-way fingerprint of its credential, and its model class
//! ([`super::models::class_of`]); or a caller's own string in place of the origin and the
//! credential (the `limitKey` option).
//!
//! The credential is the first of [`CREDENTIAL_HEADERS`] a request carries. Only a SHA-256 of
//! it, under a domain tag, is ever computed on, and only inside another SHA-256: the key id is
//! the first 8 bytes of the hash of (origin, 16 bytes of the fingerprint), and what
//! `pacer.limits()` shows of a key ([`opaque`]) is 12 hex digits of yet another hash, of (a
//! salt of the pacer's, id, class). Neither the credential nor its fingerprint, nor anything they can be recovered
//! from, is stored, logged, or put in an event, error, stat or limit.
//!
//! ```
//! use llm_pacer::core::fingerprint::{derive, origin};
//!
//! let a = derive(&origin("https://api.anthropic.com/v1/messages"), Some("sk-ant-1"), "claude-sonnet-4-5");
//! let b = derive("https://api.anthropic.com", Some("sk-ant-1"), "claude-sonnet-4-20250514");
//! assert_eq!(a, b, "one organisation, one class");
//! assert_eq!(a.class, "sonnet");
//! ```

use super::find;
use super::keys::LimitKey;
use super::models::class_of;
use super::sha256::{hex, Sha256};

/// The headers that carry an API credential, in the order they are looked for.
pub const CREDENTIAL_HEADERS: [&str; 4] =
    ["x-api-key", "authorization", "api-key", "x-goog-api-key"];

/// Headers that choose, for one credential, whose limits a request draws on: OpenAI meters an
/// organisation's (and a project's) limits, and a user's key sent with another
/// `OpenAI-Organization` or `OpenAI-Project` draws on that one's. Their values are part of the
/// credential ([`credential`]): hashed with it, never shown.
pub const SCOPE_HEADERS: [&str; 2] = ["openai-organization", "openai-project"];

/// The request's credential: the value of the first of [`CREDENTIAL_HEADERS`] it carries
/// non-empty, among its header `lines` (`name:value`, one per line, names in any case), as
/// `Headers.get` reads it (the values of a repeated name joined by `", "`, each without
/// surrounding whitespace). An `authorization` value's `Bearer` scheme is not part of it:
/// one key sent as `x-api-key: K` (`fetch`, the Vercel AI SDK) and as `authorization: Bearer
/// K` (Anthropic's SDK) is one credential, so one organisation's limits. The values of the
/// [`SCOPE_HEADERS`] it carries follow, each on a line of its own.
///
/// ```
/// use llm_pacer::core::fingerprint::credential;
///
/// assert_eq!(credential("x-api-key: sk-1").as_deref(), Some("sk-1"));
/// let org = |o: &str| credential(&format!("authorization: Bearer sk-1\nOpenAI-Organization: {o}"));
/// assert_ne!(org("org-a"), org("org-b"), "one key, two organisations' limits");
/// assert_ne!(org("org-a"), credential("authorization: Bearer sk-1"));
/// assert_eq!(credential("Authorization: bearer  sk-1").as_deref(), Some("sk-1"));
/// assert_eq!(credential("authorization: Basic dTpw").as_deref(), Some("Basic dTpw"));
/// assert_eq!(credential("authorization: Bearer"), Some("Bearer".into()), "no token: as sent");
/// ```
pub fn credential(lines: &str) -> Option<String> {
    let mut found = CREDENTIAL_HEADERS.into_iter().find_map(|name| {
        let j = joined(lines, name)?;
        Some(
            sigv4_access_key(&j)
                .or_else(|| without_bearer(&j))
                .unwrap_or(j),
        )
    })?;
    for name in SCOPE_HEADERS {
        if let Some(v) = joined(lines, name) {
            found.push('\n');
            found.push_str(name);
            found.push(':');
            found.push_str(&v);
        }
    }
    Some(found)
}

/// The values of header `name` among `lines`, as `Headers.get` joins them; `None` if absent
/// or empty.
fn joined(lines: &str, name: &str) -> Option<String> {
    let mut joined: Option<String> = None;
    for (_, v) in super::headers::lines(lines).filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
        match &mut joined {
            Some(j) => {
                j.push_str(", ");
                j.push_str(v.trim());
            }
            None => joined = Some(v.trim().to_owned()),
        }
    }
    joined.filter(|j| !j.is_empty())
}

/// The access key id of an AWS Signature Version 4 `authorization` (Amazon Bedrock's:
/// `AWS4-HMAC-SHA256 Credential=AKIA.../20261206/us-east-1/bedrock/aws4_request, ...,
/// Signature=...`; SigV4a's `AWS4-ECDSA-P256-SHA256` too), tagged: it names the caller, where
/// the date and the signature change with every request (taken whole, each request was a
/// limit key of its own, and neither a limit nor a 429's pause held the next).
///
/// ```
/// use llm_pacer::core::fingerprint::credential;
///
/// let signed = |key: &str, sig: &str| format!(
///     "authorization: AWS4-HMAC-SHA256 Credential={key}/20261206/us-east-1/bedrock/aws4_request, \
///      SignedHeaders=content-type;host;x-amz-date, Signature={sig}"
/// );
/// let a = credential(&signed("AKIAEXAMPLE1", "0a1b"));
/// assert_eq!(a, credential(&signed("AKIAEXAMPLE1", "9f8e")), "one caller, any signature");
/// assert_ne!(a, credential(&signed("AKIAEXAMPLE2", "0a1b")));
/// ```
fn sigv4_access_key(value: &str) -> Option<String> {
    let rest = value.strip_prefix("AWS4-")?;
    let at = find(rest.as_bytes(), b"Credential=")? + "Credential=".len();
    let key = rest.get(at..)?;
    let key = key.get(..key.find(['/', ',', ' ']).unwrap_or(key.len()))?;
    (!key.is_empty()).then(|| {
        let mut tagged = String::from("AWS4 ");
        tagged.push_str(key);
        tagged
    })
}

/// The token of a `Bearer` credential (RFC 6750: the scheme in any case, then whitespace).
fn without_bearer(value: &str) -> Option<String> {
    let (scheme, token) = value.split_at_checked(6)?;
    let token = token.strip_prefix([' ', '\t'])?.trim_start();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The credential a URL carries in its query, as Gemini's API takes it (`?key=...`): the
/// first `key` parameter's value, percent-decoded, if not empty. For a request whose headers
/// carry none of [`CREDENTIAL_HEADERS`].
///
/// ```
/// use llm_pacer::core::fingerprint::url_credential;
///
/// let url = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=AIza%2Bk#x";
/// assert_eq!(url_credential(url).as_deref(), Some("AIza+k"));
/// assert_eq!(url_credential("https://a.example/v1?apikey=k&key="), None);
/// assert_eq!(url_credential("https://a.example/v1#?key=k"), None, "a fragment is no query");
/// ```
pub fn url_credential(url: &str) -> Option<String> {
    let b = url.as_bytes();
    let end = b.iter().position(|&c| c == b'#').unwrap_or(b.len());
    let query = b.get(b.iter().position(|&c| c == b'?')? + 1..end)?;
    let value = query
        .split(|&c| c == b'&')
        .find_map(|p| p.strip_prefix(b"key="))?;
    Some(percent_decoded(value)).filter(|v| !v.is_empty())
}

/// The model a URL's path names, for a request whose body names none: Gemini's and Vertex
/// AI's `.../models/{model}:{method}`, Bedrock's `/model/{model}/{operation}`, and an Azure
/// OpenAI deployment's `/deployments/{name}/...` (limits apply per deployment there),
/// percent-decoded. `""` when the path names none.
///
/// ```
/// use llm_pacer::core::fingerprint::model_in_url;
///
/// for (url, model) in [
///     ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent?key=k", "gemini-2.0-flash"),
///     ("https://x-aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/anthropic/models/claude-haiku-4-5@20251001:rawPredict", "claude-haiku-4-5@20251001"),
///     ("https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse", "anthropic.claude-sonnet-4-5-20250929-v1:0"),
///     ("https://r.openai.azure.com/openai/deployments/prod-gpt/chat/completions?api-version=1", "prod-gpt"),
///     ("https://api.openai.com/v1/models/gpt-4o", ""), // no method: a model's page, not a call
///     ("https://api.anthropic.com/v1/messages", ""),
///     ("/v1beta/models/gemini-2.0-flash:countTokens", "gemini-2.0-flash"),
/// ] {
///     assert_eq!(model_in_url(url), model, "{url}");
/// }
/// ```
pub fn model_in_url(url: &str) -> String {
    let b = super::before_query(url);
    // The path: after the origin, if any.
    let b = b
        .get(find(b, b"://").map_or(0, |i| i + 3)..)
        .unwrap_or_default();
    let path = b
        .get(b.iter().position(|&c| c == b'/').unwrap_or(b.len())..)
        .unwrap_or_default();
    let mut segments = path.split(|&c| c == b'/');
    while let Some(segment) = segments.next() {
        let named = match segment {
            b"models" => segments
                .next()
                .and_then(|m| m.get(..m.iter().rposition(|&c| c == b':')?)),
            b"model" | b"deployments" => segments.next(),
            _ => None,
        };
        if let Some(m) = named.filter(|m| !m.is_empty()) {
            return percent_decoded(m);
        }
    }
    String::new()
}

/// `text` with its `%XX` escapes decoded (a `%` that starts none kept as it is; bytes that
/// are not UTF-8 replaced).
fn percent_decoded(text: &[u8]) -> String {
    let digit = |c: Option<&u8>| c.and_then(|&c| (c as char).to_digit(16));
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        match (c, digit(text.get(i + 1)), digit(text.get(i + 2))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed: ("ab", "c") and ("a", "bc") hash apart.
        h.update(&(p.len() as u32).to_le_bytes());
        h.update(p);
    }
    h.finish()
}

fn id_of(hash: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(b)
}

/// The origin of `url` (`scheme://host[:port]`, lower case), or `""` for a relative URL.
pub fn origin(url: &str) -> String {
    let b = url.as_bytes();
    let Some(i) = find(b, b"://") else {
        return String::new();
    };
    let start = i + 3;
    let end = b[start..]
        .iter()
        .position(|c| matches!(c, b'/' | b'?' | b'#'))
        .map_or(b.len(), |n| start + n);
    // Userinfo (`user:pass@host`) is not part of an origin, and is a secret.
    let host = b[start..end]
        .iter()
        .rposition(|&c| c == b'@')
        .map_or(start, |n| start + n + 1);
    let mut o = Vec::with_capacity(end - host + start);
    o.extend_from_slice(&b[..start]);
    o.extend_from_slice(&b[host..end]);
    o.make_ascii_lowercase();
    // The scheme's own port is no part of the origin (`https://host:443` is `https://host`,
    // as `URL.origin` has it): the same server, one key.
    for (scheme, port) in [(&b"https://"[..], &b":443"[..]), (b"http://", b":80")] {
        if o.starts_with(scheme) && o.ends_with(port) {
            o.truncate(o.len() - port.len());
        }
    }
    String::from_utf8(o).unwrap_or_default()
}

/// The key of a request to `origin` with `credential` (if any) for `model`.
pub fn derive(origin: &str, credential: Option<&str>, model: &str) -> LimitKey {
    let fingerprint = credential.map(|c| sha256(&[b"llm-pacer credential", c.as_bytes()]));
    let fp: &[u8] = fingerprint.as_ref().map_or(&[], |f| &f[..16]);
    let id = id_of(&sha256(&[b"llm-pacer key", origin.as_bytes(), fp]));
    LimitKey {
        id,
        class: class_of(model),
    }
}

/// [`derive()`] with a memory of its last answer: a pacer's calls mostly repeat one origin,
/// credential and model, and each `derive` costs two SHA-256s. What it keeps of them is a
/// 64-bit xxHash of the three (length-framed) beside the key: not the credential, nor its
/// fingerprint, and it is never shown anywhere.
///
/// ```
/// use llm_pacer::core::fingerprint::{derive, Memo};
///
/// let mut memo = Memo::default();
/// let k = memo.derive("https://api.anthropic.com", Some("sk-ant-1"), "claude-sonnet-4-5");
/// assert_eq!(k, derive("https://api.anthropic.com", Some("sk-ant-1"), "claude-sonnet-4-5"));
/// let other = memo.derive("https://api.anthropic.com", Some("sk-ant-2"), "claude-sonnet-4-5");
/// assert_ne!(other.id, k.id, "another credential, another key");
/// ```
#[derive(Debug, Default)]
pub struct Memo {
    last: Option<(u64, LimitKey)>,
}

impl Memo {
    /// The key [`derive()`] gives for these parts, computed again only when they changed.
    pub fn derive(&mut self, origin: &str, credential: Option<&str>, model: &str) -> LimitKey {
        let mut h = xxhash_rust::xxh64::Xxh64::new(0);
        for part in [Some(origin), credential, Some(model)] {
            // Framed: each part's presence and length before it.
            match part {
                Some(p) => {
                    h.update(&(p.len() as u64 + 1).to_le_bytes());
                    h.update(p.as_bytes());
                }
                None => h.update(&0u64.to_le_bytes()),
            }
        }
        let tag = h.digest();
        match &self.last {
            Some((t, key)) if *t == tag => key.clone(),
            _ => {
                let key = derive(origin, credential, model);
                self.last = Some((tag, key.clone()));
                key
            }
        }
    }
}

/// The key of a request for `model` whose `limitKey` option returned `text`.
pub fn custom(text: &str, model: &str) -> LimitKey {
    LimitKey {
        id: id_of(&sha256(&[b"llm-pacer limitKey", text.as_bytes()])),
        class: class_of(model),
    }
}

/// What `pacer.limits()` and events show of a key: 12 hex digits of a hash of it under a
/// `salt` of the pacer's own (random). One pacer shows a key the same way everywhere; the
/// digits mean nothing outside it, so a log cannot be searched by hashing guesses: a weak
/// token (`sk-1234`) would otherwise be found from them in a few thousand tries.
pub fn opaque(key: &LimitKey, salt: u64) -> String {
    let h = sha256(&[
        b"llm-pacer shown",
        &salt.to_le_bytes(),
        &key.id.to_le_bytes(),
        key.class.as_bytes(),
    ]);
    hex(&h[..6])
}

/// A shared store's name for a key: its id (already a one-way hash of the origin and the
/// credential's fingerprint, or of a `limitKey` value) in 16 hex digits, `:`, the model
/// class. Never a secret; the same in every process of a fleet.
pub fn store_key(key: &LimitKey) -> String {
    let mut s = hex(&key.id.to_be_bytes());
    s.push(':');
    s.push_str(&key.class);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_is_read_as_headers_get_reads_it() {
        let c = |lines: &[(&str, &str)]| {
            let text: String = lines.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
            credential(&text)
        };
        assert_eq!(c(&[]), None);
        assert_eq!(c(&[("content-type", "application/json")]), None);
        assert_eq!(c(&[("X-Api-Key", " sk-1\t")]).as_deref(), Some("sk-1"));
        // The first name of the list that is there, whatever the order of the lines.
        let both = [("authorization", "Bearer b"), ("x-api-key", "sk-2")];
        assert_eq!(c(&both).as_deref(), Some("sk-2"));
        // An empty value is no credential: the next name is looked for.
        let empty = [("x-api-key", " "), ("Authorization", "Bearer b")];
        assert_eq!(
            c(&empty).as_deref(),
            Some("b"),
            "the token of a Bearer credential"
        );
        // A repeated name: its values joined, as `Headers.get` gives them.
        let twice = [("api-key", "a"), ("other", "x"), ("API-KEY", "b")];
        assert_eq!(c(&twice).as_deref(), Some("a, b"));
    }

    #[test]
    fn the_memo_gives_what_derive_gives_whatever_changes() {
        let mut memo = Memo::default();
        let cases = [
            ("https://a.example", Some("k1"), "claude-sonnet-4-5"),
            ("https://a.example", Some("k1"), "claude-sonnet-4-5"),
            ("https://a.example", Some("k2"), "claude-sonnet-4-5"),
            ("https://a.example", None, "claude-sonnet-4-5"),
            ("https://a.example", Some(""), "claude-sonnet-4-5"),
            ("https://a.example", Some("k2"), "claude-opus-4-1"),
            ("https://b.example", Some("k2"), "claude-opus-4-1"),
            // The parts' borders move, their concatenation stays.
            ("https://b.examplek", Some("2"), "claude-opus-4-1"),
            ("https://a.example", Some("k1"), "claude-sonnet-4-5"),
        ];
        for (origin, credential, model) in cases {
            assert_eq!(
                memo.derive(origin, credential, model),
                derive(origin, credential, model),
                "{origin} {credential:?} {model}"
            );
        }
    }

    #[test]
    fn the_fingerprint_is_the_framed_sha256_the_secrets_test_looks_for() {
        // tests/js/contract-secrets.test.mjs computes the same (node:crypto) and checks that
        // it appears nowhere.
        let h = sha256(&[b"llm-pacer credential", b"sk-ant-test"]);
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "07509b7d1f496625d24d9a8ad16914d0518aab899a7c3c2f445ca3f80eccaf2f"
        );
    }

    #[test]
    fn a_store_key_is_the_ids_sixteen_hex_digits_and_the_class() {
        for id in [0, 1, 0xdead_beef, u64::MAX] {
            let k = LimitKey {
                id,
                class: "sonnet".into(),
            };
            assert_eq!(store_key(&k), format!("{id:016x}:sonnet"));
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://API.anthropic.com/v1/messages?x=1"),
            "https://api.anthropic.com"
        );
        assert_eq!(origin("http://localhost:8080"), "http://localhost:8080");
        // The scheme's own port is the origin without it; another port is kept.
        assert_eq!(
            origin("https://api.anthropic.com:443/v1/messages"),
            "https://api.anthropic.com"
        );
        assert_eq!(origin("http://localhost:80/x"), "http://localhost");
        assert_eq!(origin("https://host:80/x"), "https://host:80");
        assert_eq!(origin("http://host:443"), "http://host:443");
        assert_eq!(origin("https://host:4430"), "https://host:4430");
        assert_eq!(
            origin("https://user:secret@host.example/x"),
            "https://host.example"
        );
        assert_eq!(origin("/v1/messages"), "");
    }

    #[test]
    fn keys_separate_origins_credentials_and_classes_only() {
        let a = derive("https://a", Some("sk-1"), "claude-sonnet-4-5");
        assert_eq!(
            a,
            derive("https://a", Some("sk-1"), "claude-sonnet-4-20250514")
        );
        assert_ne!(a, derive("https://a", Some("sk-2"), "claude-sonnet-4-5"));
        assert_ne!(a, derive("https://b", Some("sk-1"), "claude-sonnet-4-5"));
        assert_ne!(a, derive("https://a", Some("sk-1"), "claude-haiku-4-5"));
        assert_ne!(a.id, derive("https://a", None, "").id);
        assert_eq!(opaque(&a, 7).len(), 12);
        assert_eq!(opaque(&a, 7), opaque(&a, 7));
        assert_ne!(
            opaque(&a, 7),
            opaque(&derive("https://a", Some("sk-1"), "claude-haiku-4-5"), 7)
        );
        assert_ne!(opaque(&a, 7), opaque(&a, 8), "salted");
    }
}
