//! Raw header fields and the ordered header list of a message (RFC 3261 §7.3).
//!
//! Every field is kept as received: its name, its raw bytes (written back unchanged by the
//! serializer) and its value with folding removed. Typed views are decoded on demand through
//! [`TypedHeader`]; setting a typed header replaces the raw field.

use bytes::Bytes;

use crate::header_name::HeaderName;
use crate::lex::split_list;
use crate::typed::{HeaderError, TypedHeader};

/// One header field line (with its continuation lines).
#[derive(Debug, Clone)]
pub struct Header {
    name: HeaderName,
    /// The field exactly as received, without the final line break; `None` when built or
    /// changed locally.
    raw: Option<Bytes>,
    /// The value, unfolded (§7.3.1) and trimmed.
    value: Bytes,
}

impl Header {
    /// A locally built field. CR and LF in `value` are replaced by spaces so the field stays
    /// one line.
    pub fn new(name: HeaderName, value: &str) -> Header {
        let clean: String = value
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        Header {
            name,
            raw: None,
            value: Bytes::from(clean.trim_matches([' ', '\t']).to_owned()),
        }
    }

    pub(crate) fn from_wire(name: HeaderName, raw: Option<Bytes>, value: Bytes) -> Header {
        Header { name, raw, value }
    }

    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The unfolded value as bytes.
    pub fn value_bytes(&self) -> &[u8] {
        &self.value
    }

    /// The unfolded value as text (RFC 3261 header text is UTF-8).
    pub fn value_str(&self) -> Result<&str, HeaderError> {
        std::str::from_utf8(&self.value).map_err(|_| HeaderError::NotUtf8)
    }

    /// The field as received, if it has not been changed.
    pub fn raw(&self) -> Option<&[u8]> {
        self.raw.as_deref()
    }

    /// Decodes the elements of this one field as `T`.
    pub fn decode<T: TypedHeader>(&self) -> Result<Vec<T>, HeaderError> {
        let value = self.value_str()?;
        if !T::LIST {
            return Ok(vec![T::decode(value)?]);
        }
        if value.trim().is_empty() {
            return if T::EMPTY_OK {
                Ok(Vec::new())
            } else {
                Err(HeaderError::Empty)
            };
        }
        split_list(value)
            .ok_or(HeaderError::EmptyListElement)?
            .into_iter()
            .map(T::decode)
            .collect()
    }
}

/// The header fields of a message, in received order.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<Header>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// The first field called `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&Header> {
        self.0.iter().find(|h| &h.name == name)
    }

    /// Every field called `name`, in order.
    pub fn get_all(&self, name: &HeaderName) -> impl Iterator<Item = &Header> + '_ {
        let name = name.clone();
        self.0.iter().filter(move |h| h.name == name)
    }

    pub fn contains(&self, name: &HeaderName) -> bool {
        self.get(name).is_some()
    }

    pub fn push(&mut self, header: Header) {
        self.0.push(header);
    }

    /// Inserts at `index` (clamped to the end).
    pub fn insert(&mut self, index: usize, header: Header) {
        let index = index.min(self.0.len());
        self.0.insert(index, header);
    }

    /// Removes every field called `name`; returns where the first one was.
    pub fn remove_all(&mut self, name: &HeaderName) -> Option<usize> {
        let first = self.0.iter().position(|h| &h.name == name);
        self.0.retain(|h| &h.name != name);
        first
    }

    /// The first element of the first `T` field, decoded.
    pub fn typed<T: TypedHeader>(&self) -> Result<Option<T>, HeaderError> {
        match self.get(&T::NAME) {
            None => Ok(None),
            Some(h) => Ok(h.decode::<T>()?.into_iter().next()),
        }
    }

    /// All elements of all `T` fields, in order (for list headers, the fields form one list:
    /// §7.3.1).
    pub fn typed_all<T: TypedHeader>(&self) -> Result<Vec<T>, HeaderError> {
        let mut out = Vec::new();
        for h in self.get_all(&T::NAME) {
            out.extend(h.decode::<T>()?);
        }
        Ok(out)
    }

    /// Replaces every `T` field by one field holding `value`, where the first one was.
    pub fn set_typed<T: TypedHeader>(&mut self, value: &T) {
        self.set_typed_list(std::slice::from_ref(value));
    }

    /// Replaces every `T` field by one field listing `values` (nothing when empty).
    pub fn set_typed_list<T: TypedHeader>(&mut self, values: &[T]) {
        let at = self.remove_all(&T::NAME).unwrap_or(self.0.len());
        if values.is_empty() {
            return;
        }
        self.insert(at, encode_list(values));
    }

    /// Appends a new `T` field.
    pub fn push_typed<T: TypedHeader>(&mut self, value: &T) {
        self.push(encode_list(std::slice::from_ref(value)));
    }

    /// Inserts a new `T` field before the first existing one (a proxy's Via, §16.6 step 8),
    /// or at the top when there is none.
    pub fn prepend_typed<T: TypedHeader>(&mut self, value: &T) {
        let at = self.0.iter().position(|h| h.name == T::NAME).unwrap_or(0);
        self.insert(at, encode_list(std::slice::from_ref(value)));
    }
}

fn encode_list<T: TypedHeader>(values: &[T]) -> Header {
    let mut s = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        v.encode(&mut s);
    }
    Header::new(T::NAME, &s)
}
